//! The LSTM recurrence as one operation over the whole sequence, forward and backward.
//!
//! Keras semantics and layout: gate order i, f, c (written g here), o; `z_t = xw_t + (h_{t-1} ⊙ m) W`
//! with `xw = x W_in + b` computed beforehand (one large matrix product for all steps) and `m`
//! the recurrent-dropout mask (ones without dropout); `c_t = σ(f) c_{t-1} + σ(i) tanh(g)`,
//! `h_t = σ(o) tanh(c_t)`. Shapes: `xw [B, T, 4H]`, `w [H, 4H]`, `mask [B, H]`, output
//! `h [B, T, H]`.
//!
//! The batch is split into chunks run on Rayon's threads; each chunk runs its whole sequence
//! alone (rows of a batch never interact), so there is no per-step synchronisation.

use rayon::prelude::*;

use super::matmul::{MatMut, MatRef, matmul};
use super::simd::{multiversion, sigmoid, tanh};

/// What the forward pass keeps for the backward pass.
#[derive(Debug, Clone)]
pub struct LstmSaved {
    /// Activated gates σ(i), σ(f), tanh(g), σ(o) per step: `[B, T, 4H]`.
    pub gates: Vec<f32>,
    /// Cell states per step: `[B, T, H]`.
    pub cells: Vec<f32>,
}

/// Dimensions of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LstmDims {
    pub batch: usize,
    pub steps: usize,
    pub units: usize,
}

impl LstmDims {
    fn gates(&self) -> usize {
        4 * self.units
    }
    fn check(&self, xw: &[f32], w: &[f32], mask: &[f32]) {
        let g = self.gates();
        assert_eq!(xw.len(), self.batch * self.steps * g, "xw must be [B, T, 4H]");
        assert_eq!(w.len(), self.units * g, "the recurrent kernel must be [H, 4H]");
        assert_eq!(mask.len(), self.batch * self.units, "the mask must be [B, H]");
    }
}

/// Rows per chunk so that each Rayon thread gets one chunk of at least four rows.
fn rows_per_chunk(batch: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let chunks = (batch / 4).clamp(1, threads);
    batch.div_ceil(chunks)
}

/// Forward pass. Returns the hidden states `[B, T, H]` and, when `save`, what the backward pass
/// needs.
pub fn forward(
    dims: LstmDims,
    xw: &[f32],
    w: &[f32],
    mask: &[f32],
    save: bool,
) -> (Vec<f32>, Option<LstmSaved>) {
    dims.check(xw, w, mask);
    let LstmDims {
        batch,
        steps,
        units,
    } = dims;
    let g = dims.gates();
    let mut hidden = vec![0.0f32; batch * steps * units];
    let mut gates = if save {
        vec![0.0f32; batch * steps * g]
    } else {
        Vec::new()
    };
    let mut cells = if save {
        vec![0.0f32; batch * steps * units]
    } else {
        Vec::new()
    };
    if batch == 0 || steps == 0 || units == 0 {
        return (hidden, save.then_some(LstmSaved { gates, cells }));
    }
    let rows = rows_per_chunk(batch);
    let work: Vec<_> = hidden
        .chunks_mut(rows * steps * units)
        .enumerate()
        .zip(gate_chunks(&mut gates, rows * steps * g))
        .zip(gate_chunks(&mut cells, rows * steps * units))
        .map(|(((i, h), gt), c)| (i, h, gt, c))
        .collect();
    work.into_par_iter().for_each(|(i, h, gt, c)| {
        let b0 = i * rows;
        let nb = h.len() / (steps * units);
        forward_chunk(
            nb,
            steps,
            units,
            &xw[b0 * steps * g..(b0 + nb) * steps * g],
            w,
            &mask[b0 * units..(b0 + nb) * units],
            h,
            gt,
            c,
        );
    });
    (hidden, save.then_some(LstmSaved { gates, cells }))
}

/// Splits a save buffer into chunks, or yields empty slices when nothing is saved.
fn gate_chunks(buf: &mut [f32], size: usize) -> Box<dyn Iterator<Item = &mut [f32]> + '_> {
    if buf.is_empty() {
        Box::new(std::iter::repeat_with(|| &mut [][..]))
    } else {
        Box::new(buf.chunks_mut(size))
    }
}

#[allow(clippy::too_many_arguments)]
fn forward_chunk(
    nb: usize,
    steps: usize,
    units: usize,
    xw: &[f32],
    w: &[f32],
    mask: &[f32],
    hidden: &mut [f32],
    saved_gates: &mut [f32],
    saved_cells: &mut [f32],
) {
    let g = 4 * units;
    let save = !saved_gates.is_empty();
    // Per-step scratch: the gate pre-activations, the running cell and the masked hidden state.
    let mut z = vec![0.0f32; nb * g];
    let mut c = vec![0.0f32; nb * units];
    let mut hm = vec![0.0f32; nb * units];
    let wm = MatRef::dense(w, units, g);
    for t in 0..steps {
        for b in 0..nb {
            z[b * g..(b + 1) * g].copy_from_slice(&xw[(b * steps + t) * g..(b * steps + t + 1) * g]);
        }
        if t > 0 {
            matmul(
                MatMut::dense(&mut z, nb, g),
                MatRef::dense(&hm, nb, units),
                wm,
                true,
                false,
            );
        }
        for b in 0..nb {
            let h_row = &mut hidden[(b * steps + t) * units..(b * steps + t + 1) * units];
            cell_forward(
                &mut z[b * g..(b + 1) * g],
                &mut c[b * units..(b + 1) * units],
                h_row,
                &mut hm[b * units..(b + 1) * units],
                &mask[b * units..(b + 1) * units],
            );
            if save {
                saved_gates[(b * steps + t) * g..(b * steps + t + 1) * g]
                    .copy_from_slice(&z[b * g..(b + 1) * g]);
                saved_cells[(b * steps + t) * units..(b * steps + t + 1) * units]
                    .copy_from_slice(&c[b * units..(b + 1) * units]);
            }
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

/// Backward pass: from the gradient of the hidden states `[B, T, H]` to the gradients of `xw`
/// `[B, T, 4H]` and of the recurrent kernel `[H, 4H]`.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    dims: LstmDims,
    grad_hidden: &[f32],
    hidden: &[f32],
    saved: &LstmSaved,
    w: &[f32],
    mask: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let LstmDims {
        batch,
        steps,
        units,
    } = dims;
    let g = dims.gates();
    assert_eq!(grad_hidden.len(), batch * steps * units);
    assert_eq!(hidden.len(), batch * steps * units);
    assert_eq!(saved.gates.len(), batch * steps * g);
    assert_eq!(saved.cells.len(), batch * steps * units);
    assert_eq!(w.len(), units * g);
    assert_eq!(mask.len(), batch * units);
    let mut grad_xw = vec![0.0f32; batch * steps * g];
    if batch == 0 || steps == 0 || units == 0 {
        return (grad_xw, vec![0.0f32; units * g]);
    }
    // The transposed kernel, dense, so each step's product reads it row by row.
    let mut w_t = vec![0.0f32; g * units];
    for k in 0..units {
        for j in 0..g {
            w_t[j * units + k] = w[k * g + j];
        }
    }
    let rows = rows_per_chunk(batch);
    let partials: Vec<Vec<f32>> = grad_xw
        .chunks_mut(rows * steps * g)
        .enumerate()
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|(i, dz)| {
            let b0 = i * rows;
            let nb = dz.len() / (steps * g);
            let hs = |n: usize| b0 * steps * n..(b0 + nb) * steps * n;
            backward_chunk(
                nb,
                steps,
                units,
                &grad_hidden[hs(units)],
                &hidden[hs(units)],
                &saved.gates[hs(g)],
                &saved.cells[hs(units)],
                &w_t,
                &mask[b0 * units..(b0 + nb) * units],
                dz,
            )
        })
        .collect();
    let mut grad_w = vec![0.0f32; units * g];
    for p in partials {
        for (a, b) in grad_w.iter_mut().zip(p) {
            *a += b;
        }
    }
    (grad_xw, grad_w)
}

#[allow(clippy::too_many_arguments)]
fn backward_chunk(
    nb: usize,
    steps: usize,
    units: usize,
    grad_hidden: &[f32],
    hidden: &[f32],
    gates: &[f32],
    cells: &[f32],
    w_t: &[f32],
    mask: &[f32],
    dz: &mut [f32],
) -> Vec<f32> {
    let g = 4 * units;
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
            // dh_{t-1} = (dz_t W^T) ⊙ mask.
            matmul(
                MatMut::dense(&mut dh_next, nb, units),
                MatRef::strided(&dz[t * g..], nb, g, steps * g),
                w_tm,
                false,
                false,
            );
            for (d, m) in dh_next.iter_mut().zip(mask) {
                *d *= m;
            }
        }
    }
    // dW = Σ_t (h_{t-1} ⊙ m)^T dz_t, one product over every (row, step) of the chunk.
    let mut shifted = vec![0.0f32; nb * steps * units];
    for b in 0..nb {
        let m = &mask[b * units..(b + 1) * units];
        for t in 1..steps {
            let src = &hidden[(b * steps + t - 1) * units..(b * steps + t) * units];
            let dst = &mut shifted[(b * steps + t) * units..(b * steps + t + 1) * units];
            for ((d, s), m) in dst.iter_mut().zip(src).zip(m) {
                *d = s * m;
            }
        }
    }
    let mut grad_w = vec![0.0f32; units * g];
    matmul(
        MatMut::dense(&mut grad_w, units, g),
        MatRef::dense(&shifted, nb * steps, units).t(),
        MatRef::dense(dz, nb * steps, g),
        false,
        false,
    );
    grad_w
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

    /// The textbook recurrence in f64, step by step.
    fn reference(dims: LstmDims, xw: &[f32], w: &[f32], mask: &[f32]) -> Vec<f64> {
        let LstmDims {
            batch,
            steps,
            units,
        } = dims;
        let g = 4 * units;
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        let mut out = vec![0.0; batch * steps * units];
        for b in 0..batch {
            let (mut h, mut c) = (vec![0.0f64; units], vec![0.0f64; units]);
            for t in 0..steps {
                let mut z: Vec<f64> = (0..g)
                    .map(|j| f64::from(xw[(b * steps + t) * g + j]))
                    .collect();
                for k in 0..units {
                    let hk = h[k] * f64::from(mask[b * units + k]);
                    for (j, zj) in z.iter_mut().enumerate() {
                        *zj += hk * f64::from(w[k * g + j]);
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

    fn loss(dims: LstmDims, xw: &[f32], w: &[f32], mask: &[f32], weights: &[f64]) -> f64 {
        reference(dims, xw, w, mask)
            .iter()
            .zip(weights)
            .map(|(h, c)| h * c)
            .sum()
    }

    #[test]
    fn forward_matches_the_textbook_recurrence() {
        for &(batch, steps, units) in &[(1, 1, 1), (3, 7, 5), (9, 12, 16), (2, 30, 33)] {
            let dims = LstmDims {
                batch,
                steps,
                units,
            };
            let xw = values(batch * steps * 4 * units, 1, 1.5);
            let w = values(units * 4 * units, 2, 0.5);
            let mask: Vec<f32> = values(batch * units, 3, 1.0)
                .iter()
                .map(|v| if *v > -0.6 { 1.25 } else { 0.0 })
                .collect();
            let (h, saved) = forward(dims, &xw, &w, &mask, true);
            let (h_fast, none) = forward(dims, &xw, &w, &mask, false);
            assert!(none.is_none() && saved.is_some());
            assert_eq!(h, h_fast, "saving must not change the result");
            for (a, b) in h.iter().zip(reference(dims, &xw, &w, &mask)) {
                assert!((f64::from(*a) - b).abs() < 2e-5, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        let dims = LstmDims {
            batch: 5,
            steps: 6,
            units: 4,
        };
        let g = 16;
        let xw = values(5 * 6 * g, 4, 1.0);
        let w = values(4 * g, 5, 0.6);
        let mask: Vec<f32> = (0..20).map(|i| if i % 7 == 3 { 0.0 } else { 1.1 }).collect();
        let weights: Vec<f64> = values(5 * 6 * 4, 6, 1.0).iter().map(|v| f64::from(*v)).collect();
        let grad_h: Vec<f32> = weights.iter().map(|v| *v as f32).collect();
        let (h, saved) = forward(dims, &xw, &w, &mask, true);
        let (gxw, gw) = backward(dims, &grad_h, &h, &saved.unwrap(), &w, &mask);
        let eps = 1e-3f32;
        let numeric = |xs: &[f32], i: usize, is_w: bool| {
            let mut plus = xs.to_vec();
            let mut minus = xs.to_vec();
            plus[i] += eps;
            minus[i] -= eps;
            let (lp, lm) = if is_w {
                (
                    loss(dims, &xw, &plus, &mask, &weights),
                    loss(dims, &xw, &minus, &mask, &weights),
                )
            } else {
                (
                    loss(dims, &plus, &w, &mask, &weights),
                    loss(dims, &minus, &w, &mask, &weights),
                )
            };
            (lp - lm) / (2.0 * f64::from(eps))
        };
        let close = |a: f32, n: f64, what: &str| {
            let tol = 1e-3 * (1.0 + n.abs());
            assert!((f64::from(a) - n).abs() < tol, "{what}: analytic {a} vs numeric {n}");
        };
        for i in (0..xw.len()).step_by(7) {
            close(gxw[i], numeric(&xw, i, false), &format!("d xw[{i}]"));
        }
        for i in 0..w.len() {
            close(gw[i], numeric(&w, i, true), &format!("d w[{i}]"));
        }
    }
}
