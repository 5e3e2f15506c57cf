//! A 1-D convolution on channels-last sequences as one matrix product (im2col), forward and
//! backward: `y[b, t] = bias + Σ_j W_j · x[b, t - pad_left + j·dilation]`, zero outside `0..T`.
//!
//! With `pad_left = (k - 1)·dilation` this is the TCN's causal convolution (output length T);
//! with `pad_left = 0` it is a "valid" convolution (length T - (k - 1)·dilation), as in
//! cnn_lstm. Weights keep Burn's `Conv1d` layout `[C_out, C_in, k]`, so records are unchanged.
//! Shapes: `x [B, T, C_in]`, output `[B, T_out, C_out]`.

use super::matmul::{MatMut, MatRef, matmul};

/// Dimensions of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvDims {
    pub batch: usize,
    pub steps: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub kernel: usize,
    pub dilation: usize,
    pub pad_left: usize,
}

impl ConvDims {
    /// Output length; `None` when the input is too short for one output.
    pub fn out_steps(&self) -> Option<usize> {
        (self.steps + self.pad_left).checked_sub((self.kernel - 1) * self.dilation)
    }

    fn cols(&self) -> usize {
        self.kernel * self.c_in
    }

    fn check(&self, x: &[f32], weight: &[f32]) -> usize {
        assert!(
            self.kernel >= 1 && self.dilation >= 1,
            "kernel and dilation must be >= 1"
        );
        assert_eq!(
            x.len(),
            self.batch * self.steps * self.c_in,
            "x must be [B, T, C_in]"
        );
        assert_eq!(
            weight.len(),
            self.c_out * self.c_in * self.kernel,
            "the weight must be [C_out, C_in, k]"
        );
        self.out_steps()
            .filter(|&n| n > 0)
            .expect("the sequence is shorter than the convolution's reach")
    }

    /// The 1x1 case needs no im2col: x is already the column matrix.
    fn pointwise(&self) -> bool {
        self.kernel == 1 && self.pad_left == 0
    }
}

/// `[C_out, C_in, k]` to the column layout `[k·C_in, C_out]`.
fn weight_columns(d: &ConvDims, weight: &[f32]) -> Vec<f32> {
    let mut w = vec![0.0f32; d.cols() * d.c_out];
    for (o, wo) in weight.chunks_exact(d.c_in * d.kernel).enumerate() {
        for (c, wc) in wo.chunks_exact(d.kernel).enumerate() {
            for (j, &value) in wc.iter().enumerate() {
                w[(j * d.c_in + c) * d.c_out + o] = value;
            }
        }
    }
    w
}

/// The column matrix `[B·T_out, k·C_in]`: row (b, t) holds the k input rows the output reads.
fn im2col(d: &ConvDims, out_steps: usize, x: &[f32]) -> Vec<f32> {
    let cols = d.cols();
    let mut col = vec![0.0f32; d.batch * out_steps * cols];
    let work: Vec<_> = col.chunks_mut(out_steps * cols).enumerate().collect();
    super::for_each(work, |(b, block)| {
        for t in 0..out_steps {
            for j in 0..d.kernel {
                let src = (t + j * d.dilation).checked_sub(d.pad_left);
                if let Some(s) = src.filter(|&s| s < d.steps) {
                    let from = (b * d.steps + s) * d.c_in;
                    block[t * cols + j * d.c_in..t * cols + (j + 1) * d.c_in]
                        .copy_from_slice(&x[from..from + d.c_in]);
                }
            }
        }
    });
    col
}

/// Forward pass: `[B, T_out, C_out]`.
pub fn forward(d: ConvDims, x: &[f32], weight: &[f32], bias: &[f32]) -> Vec<f32> {
    let out_steps = d.check(x, weight);
    assert_eq!(bias.len(), d.c_out, "the bias must be [C_out]");
    let rows = d.batch * out_steps;
    let mut y = vec![0.0f32; rows * d.c_out];
    for row in y.chunks_mut(d.c_out) {
        row.copy_from_slice(bias);
    }
    let w = weight_columns(&d, weight);
    let col_owned;
    let col: &[f32] = if d.pointwise() {
        x
    } else {
        col_owned = im2col(&d, out_steps, x);
        &col_owned
    };
    matmul(
        MatMut::dense(&mut y, rows, d.c_out),
        MatRef::dense(col, rows, d.cols()),
        MatRef::dense(&w, d.cols(), d.c_out),
        true,
        true,
    );
    y
}

/// Gradients of the input `[B, T, C_in]`, the weight `[C_out, C_in, k]` and the bias `[C_out]`
/// from the output gradient `[B, T_out, C_out]`.
pub fn backward(
    d: ConvDims,
    grad_out: &[f32],
    x: &[f32],
    weight: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let out_steps = d.check(x, weight);
    let rows = d.batch * out_steps;
    let cols = d.cols();
    assert_eq!(
        grad_out.len(),
        rows * d.c_out,
        "the output gradient has the wrong shape"
    );
    let mut grad_bias = vec![0.0f32; d.c_out];
    for row in grad_out.chunks(d.c_out) {
        for (g, v) in grad_bias.iter_mut().zip(row) {
            *g += v;
        }
    }
    let dy = MatRef::dense(grad_out, rows, d.c_out);

    // dW (column layout) = colᵀ · dy.
    let col_owned;
    let col: &[f32] = if d.pointwise() {
        x
    } else {
        col_owned = im2col(&d, out_steps, x);
        &col_owned
    };
    let mut grad_w_cols = vec![0.0f32; cols * d.c_out];
    matmul(
        MatMut::dense(&mut grad_w_cols, cols, d.c_out),
        MatRef::dense(col, rows, cols).t(),
        dy,
        false,
        true,
    );
    let mut grad_weight = vec![0.0f32; weight.len()];
    for o in 0..d.c_out {
        for c in 0..d.c_in {
            for j in 0..d.kernel {
                grad_weight[(o * d.c_in + c) * d.kernel + j] =
                    grad_w_cols[(j * d.c_in + c) * d.c_out + o];
            }
        }
    }

    // dcol = dy · Wᵀ, then scattered back onto the input rows it was read from (col2im).
    let w = weight_columns(&d, weight);
    let mut grad_col = vec![0.0f32; rows * cols];
    matmul(
        MatMut::dense(&mut grad_col, rows, cols),
        dy,
        MatRef::dense(&w, cols, d.c_out).t(),
        false,
        true,
    );
    if d.pointwise() {
        return (grad_col, grad_weight, grad_bias);
    }
    let mut grad_x = vec![0.0f32; x.len()];
    let work: Vec<_> = grad_x.chunks_mut(d.steps * d.c_in).enumerate().collect();
    super::for_each(work, |(b, gx)| {
        for t in 0..out_steps {
            let row = &grad_col[(b * out_steps + t) * cols..(b * out_steps + t + 1) * cols];
            for j in 0..d.kernel {
                let src = (t + j * d.dilation).checked_sub(d.pad_left);
                if let Some(s) = src.filter(|&s| s < d.steps) {
                    let dst = &mut gx[s * d.c_in..(s + 1) * d.c_in];
                    for (a, v) in dst.iter_mut().zip(&row[j * d.c_in..(j + 1) * d.c_in]) {
                        *a += v;
                    }
                }
            }
        }
    });
    (grad_x, grad_weight, grad_bias)
}

/// What follows the convolution inside the same operation, saving Burn a pass (and an autodiff
/// node) each: the TCN's ReLU, and cnn_lstm's ReLU then max-pooling over pairs of steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epilogue {
    None,
    Relu,
    /// ReLU, then the larger of steps 2t and 2t + 1 (a trailing odd step is dropped).
    ReluMaxPool2,
}

impl Epilogue {
    pub fn code(self) -> usize {
        match self {
            Self::None => 0,
            Self::Relu => 1,
            Self::ReluMaxPool2 => 2,
        }
    }

    pub fn from_code(code: usize) -> Self {
        match code {
            1 => Self::Relu,
            2 => Self::ReluMaxPool2,
            _ => Self::None,
        }
    }

    /// Output steps for `steps` convolution outputs.
    pub fn out_steps(self, steps: usize) -> usize {
        match self {
            Self::ReluMaxPool2 => steps / 2,
            _ => steps,
        }
    }
}

/// Applies `epi` to the convolution's output `y` (`[B, T, C]`): the operation's output and, when
/// pooling, the activated values before pooling (the backward pass needs to know which step of
/// each pair won).
pub fn apply_epilogue(
    epi: Epilogue,
    batch: usize,
    steps: usize,
    channels: usize,
    mut y: Vec<f32>,
) -> (Vec<f32>, Option<Vec<f32>>) {
    if epi == Epilogue::None {
        return (y, None);
    }
    for v in y.iter_mut() {
        *v = v.max(0.0);
    }
    if epi == Epilogue::Relu {
        return (y, None);
    }
    let half = steps / 2;
    let mut out = vec![0.0f32; batch * half * channels];
    for b in 0..batch {
        for t in 0..half {
            let even = &y[(b * steps + 2 * t) * channels..(b * steps + 2 * t + 1) * channels];
            let odd = &y[(b * steps + 2 * t + 1) * channels..(b * steps + 2 * t + 2) * channels];
            let o = &mut out[(b * half + t) * channels..(b * half + t + 1) * channels];
            for ((o, e), d) in o.iter_mut().zip(even).zip(odd) {
                *o = e.max(*d);
            }
        }
    }
    (out, Some(y))
}

/// The gradient of the convolution's raw output from the gradient of the operation's output:
/// zero where the ReLU cut, and, when pooling, routed to the step of each pair that won (the
/// even one on ties).
pub fn epilogue_backward(
    epi: Epilogue,
    batch: usize,
    steps: usize,
    channels: usize,
    grad: &[f32],
    out: &[f32],
    activated: Option<&[f32]>,
) -> Vec<f32> {
    match epi {
        Epilogue::None => grad.to_vec(),
        Epilogue::Relu => grad
            .iter()
            .zip(out)
            .map(|(g, y)| if *y > 0.0 { *g } else { 0.0 })
            .collect(),
        Epilogue::ReluMaxPool2 => {
            let y = activated.expect("pooling keeps its activated input");
            let half = steps / 2;
            let mut gy = vec![0.0f32; batch * steps * channels];
            for b in 0..batch {
                for t in 0..half {
                    let row = |tt: usize| (b * steps + tt) * channels;
                    let g = &grad[(b * half + t) * channels..(b * half + t + 1) * channels];
                    for c in 0..channels {
                        let (e, d) = (y[row(2 * t) + c], y[row(2 * t + 1) + c]);
                        let (win, value) = if e >= d { (2 * t, e) } else { (2 * t + 1, d) };
                        if value > 0.0 {
                            gy[row(win) + c] = g[c];
                        }
                    }
                }
            }
            gy
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.0 - 1.0)
            .collect()
    }

    /// The definition, one output at a time, in f64.
    fn reference(d: &ConvDims, x: &[f32], w: &[f32], bias: &[f32]) -> Vec<f64> {
        let n = d.out_steps().unwrap();
        let mut y = vec![0.0; d.batch * n * d.c_out];
        for b in 0..d.batch {
            for t in 0..n {
                for o in 0..d.c_out {
                    let mut acc = f64::from(bias[o]);
                    for j in 0..d.kernel {
                        let s = (t + j * d.dilation) as i64 - d.pad_left as i64;
                        if s < 0 || s >= d.steps as i64 {
                            continue;
                        }
                        for c in 0..d.c_in {
                            acc += f64::from(w[(o * d.c_in + c) * d.kernel + j])
                                * f64::from(x[(b * d.steps + s as usize) * d.c_in + c]);
                        }
                    }
                    y[(b * n + t) * d.c_out + o] = acc;
                }
            }
        }
        y
    }

    fn cases() -> Vec<ConvDims> {
        let c = |batch, steps, c_in, c_out, kernel, dilation, pad_left| ConvDims {
            batch,
            steps,
            c_in,
            c_out,
            kernel,
            dilation,
            pad_left,
        };
        vec![
            c(2, 9, 3, 4, 3, 2, 4),  // causal, dilated
            c(3, 11, 5, 6, 3, 1, 0), // valid (cnn_lstm)
            c(2, 6, 5, 7, 1, 1, 0),  // pointwise
            c(1, 5, 2, 3, 5, 4, 16), // reach beyond the whole sequence
        ]
    }

    #[test]
    fn forward_matches_the_definition() {
        for d in cases() {
            let x = values(d.batch * d.steps * d.c_in, 1);
            let w = values(d.c_out * d.c_in * d.kernel, 2);
            let bias = values(d.c_out, 3);
            let y = forward(d, &x, &w, &bias);
            for (a, b) in y.iter().zip(reference(&d, &x, &w, &bias)) {
                assert!((f64::from(*a) - b).abs() < 1e-4, "{d:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn epilogues_match_relu_and_pairwise_max_and_route_gradients_to_the_winner() {
        // One row, 5 steps, 2 channels.
        let y = vec![1.0, -2.0, 3.0, 0.5, -1.0, -3.0, 2.0, 4.0, 7.0, 7.0];
        let (out, act) = apply_epilogue(Epilogue::ReluMaxPool2, 1, 5, 2, y.clone());
        assert_eq!(out, vec![3.0, 0.5, 2.0, 4.0]);
        let act = act.unwrap();
        assert_eq!(act, vec![1.0, 0.0, 3.0, 0.5, 0.0, 0.0, 2.0, 4.0, 7.0, 7.0]);
        let g = epilogue_backward(
            Epilogue::ReluMaxPool2,
            1,
            5,
            2,
            &[10.0, 20.0, 30.0, 40.0],
            &out,
            Some(&act),
        );
        assert_eq!(
            g,
            vec![0.0, 0.0, 10.0, 20.0, 0.0, 0.0, 30.0, 40.0, 0.0, 0.0]
        );
        let (relu, none) = apply_epilogue(Epilogue::Relu, 1, 5, 2, y.clone());
        assert!(none.is_none());
        let g = epilogue_backward(Epilogue::Relu, 1, 5, 2, &[1.0; 10], &relu, None);
        assert_eq!(g, vec![1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
        assert_eq!(
            Epilogue::from_code(Epilogue::ReluMaxPool2.code()),
            Epilogue::ReluMaxPool2
        );
    }

    #[test]
    fn backward_matches_finite_differences() {
        for d in cases() {
            let x = values(d.batch * d.steps * d.c_in, 4);
            let w = values(d.c_out * d.c_in * d.kernel, 5);
            let bias = values(d.c_out, 6);
            let n = d.out_steps().unwrap();
            let coef = values(d.batch * n * d.c_out, 7);
            let loss = |x: &[f32], w: &[f32], bias: &[f32]| -> f64 {
                reference(&d, x, w, bias)
                    .iter()
                    .zip(&coef)
                    .map(|(y, c)| y * f64::from(*c))
                    .sum()
            };
            let (gx, gw, gb) = backward(d, &coef, &x, &w);
            let eps = 1e-2f32;
            let check = |analytic: &[f32], base: &[f32], which: usize| {
                for i in 0..base.len() {
                    let mut p = base.to_vec();
                    let mut m = base.to_vec();
                    p[i] += eps;
                    m[i] -= eps;
                    let (lp, lm) = match which {
                        0 => (loss(&p, &w, &bias), loss(&m, &w, &bias)),
                        1 => (loss(&x, &p, &bias), loss(&x, &m, &bias)),
                        _ => (loss(&x, &w, &p), loss(&x, &w, &m)),
                    };
                    let numeric = (lp - lm) / (2.0 * f64::from(eps));
                    assert!(
                        (f64::from(analytic[i]) - numeric).abs() < 1e-3 * (1.0 + numeric.abs()),
                        "{d:?} input {which} [{i}]: {} vs {numeric}",
                        analytic[i]
                    );
                }
            };
            check(&gx, &x, 0);
            check(&gw, &w, 1);
            check(&gb, &bias, 2);
        }
    }
}
