//! A whole LSTM layer as one operation over the sequence, forward and backward: the input
//! projection of every step and the recurrence.
//!
//! Keras semantics and layout: gate order i, f, c (written g here), o;
//! `z_t = x_t W_in + b + (h_{t-1} ⊙ m) W_rec` with `m` the recurrent-dropout mask (ones without
//! dropout); `c_t = σ(f) c_{t-1} + σ(i) tanh(g)`, `h_t = σ(o) tanh(c_t)`. Shapes: `x [B, T, F]`,
//! `W_in [F, 4H]`, `b [4H]`, `W_rec [H, 4H]`, `mask [B, H]`, output `h [B, T, H]`.
//!
//! The batch is split into chunks run on Rayon's threads; each chunk runs its whole sequence
//! alone (rows of a batch never interact), so there is no per-step synchronisation. Within a
//! chunk the input projection of all steps is one matrix product written straight into the gate
//! buffer, which the recurrence then finishes in place.

use super::matmul::{MatMut, MatRef, matmul};
use super::simd::{multiversion, sigmoid, tanh};

/// Dimensions of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LstmDims {
    pub batch: usize,
    pub steps: usize,
    pub inputs: usize,
    pub units: usize,
}

/// The layer's parameters, row-major.
#[derive(Debug, Clone, Copy)]
pub struct LstmWeights<'a> {
    /// `[F, 4H]`.
    pub input: &'a [f32],
    /// `[4H]`.
    pub bias: &'a [f32],
    /// `[H, 4H]`.
    pub recurrent: &'a [f32],
}

/// What the forward pass keeps for the backward pass.
#[derive(Debug, Clone)]
pub struct LstmSaved {
    /// Activated gates σ(i), σ(f), tanh(g), σ(o) per step: `[B, T, 4H]`.
    pub gates: Vec<f32>,
    /// Cell states per step: `[B, T, H]`.
    pub cells: Vec<f32>,
}

/// Gradients of the layer's inputs and parameters.
#[derive(Debug, Clone)]
pub struct LstmGrads {
    pub x: Vec<f32>,
    pub input: Vec<f32>,
    pub bias: Vec<f32>,
    pub recurrent: Vec<f32>,
}

impl LstmDims {
    fn gates(&self) -> usize {
        4 * self.units
    }

    fn check(&self, x: &[f32], w: &LstmWeights<'_>, mask: &[f32]) {
        let g = self.gates();
        assert_eq!(
            x.len(),
            self.batch * self.steps * self.inputs,
            "x must be [B, T, F]"
        );
        assert_eq!(w.input.len(), self.inputs * g, "W_in must be [F, 4H]");
        assert_eq!(w.bias.len(), g, "the bias must be [4H]");
        assert_eq!(w.recurrent.len(), self.units * g, "W_rec must be [H, 4H]");
        assert_eq!(
            mask.len(),
            self.batch * self.units,
            "the mask must be [B, H]"
        );
    }
}

/// Rows per chunk so that each Rayon thread gets one chunk of at least four rows.
fn rows_per_chunk(batch: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let chunks = (batch / 4).clamp(1, threads);
    batch.div_ceil(chunks)
}

/// Splits a save buffer into chunks, or yields empty slices when nothing is saved.
fn chunks_or_empty(buf: &mut [f32], size: usize) -> Box<dyn Iterator<Item = &mut [f32]> + '_> {
    if buf.is_empty() {
        Box::new(std::iter::repeat_with(|| &mut [][..]))
    } else {
        Box::new(buf.chunks_mut(size))
    }
}

/// Forward pass. Returns the hidden states `[B, T, H]` and, when `save`, what the backward pass
/// needs.
pub fn forward(
    dims: LstmDims,
    x: &[f32],
    weights: LstmWeights<'_>,
    mask: &[f32],
    save: bool,
) -> (Vec<f32>, Option<LstmSaved>) {
    dims.check(x, &weights, mask);
    let LstmDims {
        batch,
        steps,
        inputs,
        units,
    } = dims;
    let g = dims.gates();
    let mut hidden = vec![0.0f32; batch * steps * units];
    let (mut gates, mut cells) = if save {
        (
            vec![0.0f32; batch * steps * g],
            vec![0.0f32; batch * steps * units],
        )
    } else {
        (Vec::new(), Vec::new())
    };
    if batch == 0 || steps == 0 || units == 0 {
        return (hidden, save.then_some(LstmSaved { gates, cells }));
    }
    let rows = rows_per_chunk(batch);
    let work: Vec<_> = hidden
        .chunks_mut(rows * steps * units)
        .enumerate()
        .zip(chunks_or_empty(&mut gates, rows * steps * g))
        .zip(chunks_or_empty(&mut cells, rows * steps * units))
        .map(|(((i, h), gt), c)| (i, h, gt, c))
        .collect();
    super::for_each(work, |(i, h, gt, c)| {
        let b0 = i * rows;
        let nb = h.len() / (steps * units);
        forward_chunk(
            ChunkDims { nb, steps, units },
            &x[b0 * steps * inputs..(b0 + nb) * steps * inputs],
            &weights,
            &mask[b0 * units..(b0 + nb) * units],
            h,
            gt,
            c,
        );
    });
    (hidden, save.then_some(LstmSaved { gates, cells }))
}

#[derive(Clone, Copy)]
struct ChunkDims {
    nb: usize,
    steps: usize,
    units: usize,
}

fn forward_chunk(
    d: ChunkDims,
    x: &[f32],
    w: &LstmWeights<'_>,
    mask: &[f32],
    hidden: &mut [f32],
    saved_gates: &mut [f32],
    saved_cells: &mut [f32],
) {
    let ChunkDims { nb, steps, units } = d;
    let g = 4 * units;
    let inputs = x.len() / (nb * steps);
    let save = !saved_gates.is_empty();
    // The gate pre-activations of every (row, step): bias + x W_in, one product for the chunk,
    // written where the activated gates are kept (training) or into scratch (inference).
    let mut scratch = Vec::new();
    let gates: &mut [f32] = if save {
        saved_gates
    } else {
        scratch.resize(nb * steps * g, 0.0);
        &mut scratch
    };
    for row in gates.chunks_exact_mut(g) {
        row.copy_from_slice(w.bias);
    }
    matmul(
        MatMut::dense(gates, nb * steps, g),
        MatRef::dense(x, nb * steps, inputs),
        MatRef::dense(w.input, inputs, g),
        true,
        false,
    );
    let wm = MatRef::dense(w.recurrent, units, g);
    // The masked hidden state feeding the next step's product, and (inference) the running cell.
    let mut hm = vec![0.0f32; nb * units];
    let mut running = if save {
        Vec::new()
    } else {
        vec![0.0f32; nb * units]
    };
    for t in 0..steps {
        if t > 0 {
            matmul(
                MatMut::strided(&mut gates[t * g..], nb, g, steps * g),
                MatRef::dense(&hm, nb, units),
                wm,
                true,
                false,
            );
        }
        for b in 0..nb {
            let at = (b * steps + t) * units;
            let c: &mut [f32] = if save {
                let (before, now) = saved_cells.split_at_mut(at);
                if t > 0 {
                    now[..units].copy_from_slice(&before[at - units..at]);
                }
                &mut now[..units]
            } else {
                &mut running[b * units..(b + 1) * units]
            };
            cell_forward(
                &mut gates[(b * steps + t) * g..(b * steps + t + 1) * g],
                c,
                &mut hidden[at..at + units],
                &mut hm[b * units..(b + 1) * units],
                &mask[b * units..(b + 1) * units],
            );
        }
    }
}

multiversion! {
    /// One row of one step: activates `z` in place and advances `c`, writing `h` and `h ⊙ mask`.
    fn cell_forward(z: &mut [f32], c: &mut [f32], h: &mut [f32], hm: &mut [f32], mask: &[f32]) {
        let n = c.len();
        let (zi, rest) = z.split_at_mut(n);
        let (zf, rest) = rest.split_at_mut(n);
        let (zg, zo) = rest.split_at_mut(n);
        let (zo, h, hm, mask) = (&mut zo[..n], &mut h[..n], &mut hm[..n], &mask[..n]);
        for j in 0..n {
            let i = sigmoid(zi[j]);
            let f = sigmoid(zf[j]);
            let gg = tanh(zg[j]);
            let o = sigmoid(zo[j]);
            let cn = f * c[j] + i * gg;
            let hv = o * tanh(cn);
            zi[j] = i;
            zf[j] = f;
            zg[j] = gg;
            zo[j] = o;
            c[j] = cn;
            h[j] = hv;
            hm[j] = hv * mask[j];
        }
    }
}

/// Backward pass: from the gradient of the hidden states `[B, T, H]` to the gradients of `x`
/// and of every parameter.
pub fn backward(
    dims: LstmDims,
    grad_hidden: &[f32],
    x: &[f32],
    hidden: &[f32],
    saved: &LstmSaved,
    weights: LstmWeights<'_>,
    mask: &[f32],
) -> LstmGrads {
    dims.check(x, &weights, mask);
    let LstmDims {
        batch,
        steps,
        inputs,
        units,
    } = dims;
    let g = dims.gates();
    assert_eq!(grad_hidden.len(), batch * steps * units);
    assert_eq!(hidden.len(), batch * steps * units);
    assert_eq!(saved.gates.len(), batch * steps * g);
    assert_eq!(saved.cells.len(), batch * steps * units);
    let mut grads = LstmGrads {
        x: vec![0.0f32; batch * steps * inputs],
        input: vec![0.0f32; inputs * g],
        bias: vec![0.0f32; g],
        recurrent: vec![0.0f32; units * g],
    };
    if batch == 0 || steps == 0 || units == 0 {
        return grads;
    }
    // The transposed recurrent kernel, dense, so each step's product reads it row by row.
    let mut w_t = vec![0.0f32; g * units];
    for (k, row) in weights.recurrent.chunks_exact(g).enumerate() {
        for (j, v) in row.iter().enumerate() {
            w_t[j * units + k] = *v;
        }
    }
    let rows = rows_per_chunk(batch);
    let work: Vec<_> = grads
        .x
        .chunks_mut(rows * steps * inputs)
        .enumerate()
        .collect();
    let partials: Vec<[Vec<f32>; 3]> = super::map(work, |(i, dx)| {
        let b0 = i * rows;
        let nb = dx.len() / (steps * inputs);
        let span = |n: usize| b0 * steps * n..(b0 + nb) * steps * n;
        backward_chunk(
            ChunkDims { nb, steps, units },
            &grad_hidden[span(units)],
            &x[span(inputs)],
            &hidden[span(units)],
            &saved.gates[span(g)],
            &saved.cells[span(units)],
            &weights,
            &w_t,
            &mask[b0 * units..(b0 + nb) * units],
            dx,
        )
    });
    for [w_in, bias, rec] in partials {
        for (a, b) in grads.input.iter_mut().zip(w_in) {
            *a += b;
        }
        for (a, b) in grads.bias.iter_mut().zip(bias) {
            *a += b;
        }
        for (a, b) in grads.recurrent.iter_mut().zip(rec) {
            *a += b;
        }
    }
    grads
}

/// One chunk's backward pass: writes its rows of dx and returns its parts of dW_in, db, dW_rec.
#[allow(clippy::too_many_arguments)]
fn backward_chunk(
    d: ChunkDims,
    grad_hidden: &[f32],
    x: &[f32],
    hidden: &[f32],
    gates: &[f32],
    cells: &[f32],
    w: &LstmWeights<'_>,
    w_t: &[f32],
    mask: &[f32],
    dx: &mut [f32],
) -> [Vec<f32>; 3] {
    let ChunkDims { nb, steps, units } = d;
    let g = 4 * units;
    let inputs = x.len() / (nb * steps);
    let mut dz = vec![0.0f32; nb * steps * g];
    let mut dh_next = vec![0.0f32; nb * units];
    let mut dc_next = vec![0.0f32; nb * units];
    let zeros = vec![0.0f32; units];
    let w_tm = MatRef::dense(w_t, g, units);
    for t in (0..steps).rev() {
        for b in 0..nb {
            let row = |n: usize, tt: usize| (b * steps + tt) * n..(b * steps + tt + 1) * n;
            let c_prev = if t > 0 {
                &cells[row(units, t - 1)]
            } else {
                &zeros[..]
            };
            cell_backward(
                &grad_hidden[row(units, t)],
                &mut dh_next[b * units..(b + 1) * units],
                &mut dc_next[b * units..(b + 1) * units],
                &gates[row(g, t)],
                &cells[row(units, t)],
                c_prev,
                &mut dz[row(g, t)],
            );
        }
        if t > 0 {
            // dh_{t-1} = (dz_t W_recᵀ) ⊙ mask.
            matmul(
                MatMut::dense(&mut dh_next, nb, units),
                MatRef::strided(&dz[t * g..], nb, g, steps * g),
                w_tm,
                false,
                false,
            );
            for (v, m) in dh_next.iter_mut().zip(mask) {
                *v *= m;
            }
        }
    }
    let all = nb * steps;
    let dzm = MatRef::dense(&dz, all, g);
    // dx = dz W_inᵀ; dW_in = xᵀ dz; db = Σ dz.
    matmul(
        MatMut::dense(dx, all, inputs),
        dzm,
        MatRef::dense(w.input, inputs, g).t(),
        false,
        false,
    );
    let mut grad_input = vec![0.0f32; inputs * g];
    matmul(
        MatMut::dense(&mut grad_input, inputs, g),
        MatRef::dense(x, all, inputs).t(),
        dzm,
        false,
        false,
    );
    let mut grad_bias = vec![0.0f32; g];
    for row in dz.chunks_exact(g) {
        for (a, v) in grad_bias.iter_mut().zip(row) {
            *a += v;
        }
    }
    // dW_rec = Σ_t (h_{t-1} ⊙ m)ᵀ dz_t, one product over every (row, step) of the chunk.
    let mut shifted = vec![0.0f32; all * units];
    for b in 0..nb {
        let m = &mask[b * units..(b + 1) * units];
        for t in 1..steps {
            let src = &hidden[(b * steps + t - 1) * units..(b * steps + t) * units];
            let dst = &mut shifted[(b * steps + t) * units..(b * steps + t + 1) * units];
            for ((o, s), m) in dst.iter_mut().zip(src).zip(m) {
                *o = s * m;
            }
        }
    }
    let mut grad_recurrent = vec![0.0f32; units * g];
    matmul(
        MatMut::dense(&mut grad_recurrent, units, g),
        MatRef::dense(&shifted, all, units).t(),
        dzm,
        false,
        false,
    );
    [grad_input, grad_bias, grad_recurrent]
}

multiversion! {
    /// One row of one step, backwards: reads the upstream gradient of `h_t` (`grad_h` plus the
    /// recurrent part in `dh`), writes the pre-activation gradients `dz` and leaves the cell
    /// gradient for step t-1 in `dc`.
    fn cell_backward(
        grad_h: &[f32],
        dh: &mut [f32],
        dc: &mut [f32],
        gates: &[f32],
        c: &[f32],
        c_prev: &[f32],
        dz: &mut [f32],
    ) {
        let n = c.len();
        let (gi, rest) = gates.split_at(n);
        let (gf, rest) = rest.split_at(n);
        let (gg, go) = rest.split_at(n);
        let (dzi, rest) = dz.split_at_mut(n);
        let (dzf, rest) = rest.split_at_mut(n);
        let (dzg, dzo) = rest.split_at_mut(n);
        let (grad_h, dh, dc, c_prev, go, dzo) =
            (&grad_h[..n], &mut dh[..n], &mut dc[..n], &c_prev[..n], &go[..n], &mut dzo[..n]);
        for j in 0..n {
            let (i, f, gv, o) = (gi[j], gf[j], gg[j], go[j]);
            let dhj = grad_h[j] + dh[j];
            let tc = tanh(c[j]);
            let d_o = dhj * tc;
            let dcj = dc[j] + dhj * o * (1.0 - tc * tc);
            dzi[j] = dcj * gv * i * (1.0 - i);
            dzf[j] = dcj * c_prev[j] * f * (1.0 - f);
            dzg[j] = dcj * i * (1.0 - gv * gv);
            dzo[j] = d_o * o * (1.0 - o);
            dc[j] = dcj * f;
            dh[j] = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * scale
            })
            .collect()
    }

    struct Case {
        dims: LstmDims,
        x: Vec<f32>,
        w_in: Vec<f32>,
        bias: Vec<f32>,
        w_rec: Vec<f32>,
        mask: Vec<f32>,
    }

    impl Case {
        fn new(batch: usize, steps: usize, inputs: usize, units: usize, seed: u64) -> Self {
            let g = 4 * units;
            Self {
                dims: LstmDims {
                    batch,
                    steps,
                    inputs,
                    units,
                },
                x: values(batch * steps * inputs, seed, 1.5),
                w_in: values(inputs * g, seed + 1, 0.6),
                bias: values(g, seed + 2, 0.5),
                w_rec: values(units * g, seed + 3, 0.5),
                mask: values(batch * units, seed + 4, 1.0)
                    .iter()
                    .map(|v| if *v > -0.6 { 1.25 } else { 0.0 })
                    .collect(),
            }
        }

        fn weights(&self) -> LstmWeights<'_> {
            LstmWeights {
                input: &self.w_in,
                bias: &self.bias,
                recurrent: &self.w_rec,
            }
        }

        /// The textbook layer in f64, step by step.
        fn reference(&self, x: &[f32], w_in: &[f32], bias: &[f32], w_rec: &[f32]) -> Vec<f64> {
            let LstmDims {
                batch,
                steps,
                inputs,
                units,
            } = self.dims;
            let g = 4 * units;
            let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
            let mut out = vec![0.0; batch * steps * units];
            for b in 0..batch {
                let (mut h, mut c) = (vec![0.0f64; units], vec![0.0f64; units]);
                for t in 0..steps {
                    let mut z: Vec<f64> = (0..g).map(|j| f64::from(bias[j])).collect();
                    for k in 0..inputs {
                        let xk = f64::from(x[(b * steps + t) * inputs + k]);
                        for (j, zj) in z.iter_mut().enumerate() {
                            *zj += xk * f64::from(w_in[k * g + j]);
                        }
                    }
                    for k in 0..units {
                        let hk = h[k] * f64::from(self.mask[b * units + k]);
                        for (j, zj) in z.iter_mut().enumerate() {
                            *zj += hk * f64::from(w_rec[k * g + j]);
                        }
                    }
                    for j in 0..units {
                        let (i, f, gg, o) = (
                            sig(z[j]),
                            sig(z[units + j]),
                            z[2 * units + j].tanh(),
                            sig(z[3 * units + j]),
                        );
                        c[j] = f * c[j] + i * gg;
                        h[j] = o * c[j].tanh();
                        out[(b * steps + t) * units + j] = h[j];
                    }
                }
            }
            out
        }
    }

    #[test]
    fn forward_matches_the_textbook_layer() {
        for &(batch, steps, inputs, units) in
            &[(1, 1, 1, 1), (3, 7, 4, 5), (9, 12, 3, 16), (2, 30, 7, 33)]
        {
            let c = Case::new(batch, steps, inputs, units, 1);
            let (h, saved) = forward(c.dims, &c.x, c.weights(), &c.mask, true);
            let (h_fast, none) = forward(c.dims, &c.x, c.weights(), &c.mask, false);
            assert!(none.is_none() && saved.is_some());
            assert_eq!(h, h_fast, "saving must not change the result");
            for (a, b) in h.iter().zip(c.reference(&c.x, &c.w_in, &c.bias, &c.w_rec)) {
                assert!((f64::from(*a) - b).abs() < 2e-5, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        let c = Case::new(5, 6, 3, 4, 9);
        let coef: Vec<f64> = values(5 * 6 * 4, 6, 1.0)
            .iter()
            .map(|v| f64::from(*v))
            .collect();
        let grad_h: Vec<f32> = coef.iter().map(|v| *v as f32).collect();
        let (h, saved) = forward(c.dims, &c.x, c.weights(), &c.mask, true);
        let grads = backward(
            c.dims,
            &grad_h,
            &c.x,
            &h,
            &saved.unwrap(),
            c.weights(),
            &c.mask,
        );
        let loss = |x: &[f32], w_in: &[f32], bias: &[f32], w_rec: &[f32]| -> f64 {
            c.reference(x, w_in, bias, w_rec)
                .iter()
                .zip(&coef)
                .map(|(h, k)| h * k)
                .sum()
        };
        let eps = 1e-3f32;
        let inputs = [&c.x, &c.w_in, &c.bias, &c.w_rec];
        let analytic = [&grads.x, &grads.input, &grads.bias, &grads.recurrent];
        for which in 0..4 {
            for i in 0..inputs[which].len() {
                let shifted = |delta: f32| {
                    let mut args: Vec<Vec<f32>> = inputs.iter().map(|v| v.to_vec()).collect();
                    args[which][i] += delta;
                    loss(&args[0], &args[1], &args[2], &args[3])
                };
                let numeric = (shifted(eps) - shifted(-eps)) / (2.0 * f64::from(eps));
                let a = f64::from(analytic[which][i]);
                assert!(
                    (a - numeric).abs() < 1e-3 * (1.0 + numeric.abs()),
                    "input {which} [{i}]: analytic {a} vs numeric {numeric}"
                );
            }
        }
    }
}
