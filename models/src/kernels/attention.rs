//! Scaled dot-product self-attention over all heads as one operation, forward and backward:
//! `O_bh = dropout(softmax(Q_bh K_bhᵀ / √d)) V_bh` for every batch row b and head h.
//!
//! Q, K and V arrive as the projections produce them, `[B·T, H·d]` row-major, and the context
//! leaves in the same layout, so no head is ever transposed or copied out: each head is a strided
//! view. Work is split by batch row across Rayon's threads. The backward pass uses the saved
//! probabilities: `dS = P ⊙ (dP - rowsum(dP ⊙ P))`.

use super::matmul::{MatMut, MatRef, matmul};
use super::simd::{exp, multiversion};

/// Dimensions of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionDims {
    pub batch: usize,
    pub steps: usize,
    pub heads: usize,
    pub key_dim: usize,
}

impl AttentionDims {
    fn width(&self) -> usize {
        self.heads * self.key_dim
    }
    fn scale(&self) -> f32 {
        1.0 / (self.key_dim as f32).sqrt()
    }
    fn check(&self, q: &[f32], k: &[f32], v: &[f32], mask: Option<&[f32]>) {
        let n = self.batch * self.steps * self.width();
        assert!(
            q.len() == n && k.len() == n && v.len() == n,
            "q, k and v must be [B*T, H*d]"
        );
        if let Some(m) = mask {
            assert_eq!(
                m.len(),
                self.batch * self.heads * self.steps * self.steps,
                "the dropout mask must be [B, H, T, T]"
            );
        }
    }
}

/// Lanes of the partial maxima and sums: reductions in 16 independent accumulators vectorise
/// (a single running sum is a dependency chain the compiler may not reorder).
const LANES: usize = 16;

#[inline(always)]
fn row_max(row: &[f32]) -> f32 {
    let mut m = [f32::NEG_INFINITY; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            m[i] = m[i].max(c[i]);
        }
    }
    tail.iter().fold(
        m.iter().fold(f32::NEG_INFINITY, |a, b| a.max(*b)),
        |a, b| a.max(*b),
    )
}

#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut s = [0.0f32; LANES];
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            s[i] += x[i] * y[i];
        }
    }
    s.iter().sum::<f32>() + tail
}

multiversion! {
    /// Row-wise softmax of a `rows x cols` block, in place.
    fn softmax_rows(s: &mut [f32], cols: usize) {
        for row in s.chunks_exact_mut(cols) {
            let max = row_max(row);
            for v in row.iter_mut() {
                *v = exp(*v - max);
            }
            let mut sums = [0.0f32; LANES];
            let chunks = row.chunks_exact(LANES);
            let tail: f32 = chunks.remainder().iter().sum();
            for c in chunks {
                for i in 0..LANES {
                    sums[i] += c[i];
                }
            }
            let inv = 1.0 / (sums.iter().sum::<f32>() + tail);
            for v in row.iter_mut() {
                *v *= inv;
            }
        }
    }
}

multiversion! {
    /// `out = a ⊙ b`.
    fn mul_into(out: &mut [f32], a: &[f32], b: &[f32]) {
        for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
            *o = x * y;
        }
    }
}

multiversion! {
    /// The softmax backward, in place on `dp`: `dS = P ⊙ (dP - rowsum(dP ⊙ P)) · scale`.
    fn softmax_backward(dp: &mut [f32], p: &[f32], cols: usize, scale: f32) {
        for (drow, prow) in dp.chunks_exact_mut(cols).zip(p.chunks_exact(cols)) {
            let dot = dot(drow, prow);
            for (d, p) in drow.iter_mut().zip(prow) {
                *d = p * (*d - dot) * scale;
            }
        }
    }
}

/// Forward pass: the context `[B·T, H·d]` and, when `save`, the probabilities `[B, H, T, T]`
/// (before dropout) for the backward pass.
pub fn forward(
    d: AttentionDims,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    mask: Option<&[f32]>,
    save: bool,
) -> (Vec<f32>, Option<Vec<f32>>) {
    d.check(q, k, v, mask);
    let (t, w, hd) = (d.steps, d.width(), d.key_dim);
    let block = t * w;
    let tt = t * t;
    let mut context = vec![0.0f32; d.batch * block];
    let mut probs = if save {
        vec![0.0f32; d.batch * d.heads * tt]
    } else {
        Vec::new()
    };
    let prob_chunks: Vec<&mut [f32]> = if save {
        probs.chunks_mut(d.heads * tt).collect()
    } else {
        (0..d.batch).map(|_| &mut [][..]).collect()
    };
    let scale = d.scale();
    let work: Vec<_> = context
        .chunks_mut(block)
        .zip(prob_chunks)
        .enumerate()
        .collect();
    super::for_each(work, |(b, (ctx, saved))| {
        let rows = b * block..(b + 1) * block;
        let (qb, kb, vb) = (&q[rows.clone()], &k[rows.clone()], &v[rows]);
        let mut s = vec![0.0f32; tt];
        let mut dropped = vec![0.0f32; if mask.is_some() { tt } else { 0 }];
        for h in 0..d.heads {
            let col = h * hd;
            matmul(
                MatMut::dense(&mut s, t, t),
                MatRef::strided(&qb[col..], t, hd, w),
                MatRef::strided(&kb[col..], t, hd, w).t(),
                false,
                false,
            );
            for x in s.iter_mut() {
                *x *= scale;
            }
            softmax_rows(&mut s, t);
            if save {
                saved[h * tt..(h + 1) * tt].copy_from_slice(&s);
            }
            let weights: &[f32] = match mask {
                Some(m) => {
                    let off = (b * d.heads + h) * tt;
                    mul_into(&mut dropped, &s, &m[off..off + tt]);
                    &dropped
                }
                None => &s,
            };
            matmul(
                MatMut::strided(&mut ctx[col..], t, hd, w),
                MatRef::dense(weights, t, t),
                MatRef::strided(&vb[col..], t, hd, w),
                false,
                false,
            );
        }
    });
    (context, save.then_some(probs))
}

/// Backward pass: the gradients of q, k and v (`[B·T, H·d]` each) from the context's gradient.
pub fn backward(
    d: AttentionDims,
    grad_context: &[f32],
    q: &[f32],
    k: &[f32],
    v: &[f32],
    probs: &[f32],
    mask: Option<&[f32]>,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    d.check(q, k, v, mask);
    let (t, w, hd) = (d.steps, d.width(), d.key_dim);
    let block = t * w;
    let tt = t * t;
    assert_eq!(
        grad_context.len(),
        q.len(),
        "the context gradient must be [B*T, H*d]"
    );
    assert_eq!(
        probs.len(),
        d.batch * d.heads * tt,
        "probabilities must be [B, H, T, T]"
    );
    let mut dq = vec![0.0f32; q.len()];
    let mut dk = vec![0.0f32; k.len()];
    let mut dv = vec![0.0f32; v.len()];
    let work: Vec<_> = dq
        .chunks_mut(block)
        .zip(dk.chunks_mut(block))
        .zip(dv.chunks_mut(block))
        .enumerate()
        .collect();
    super::for_each(work, |(b, ((dqb, dkb), dvb))| {
        let rows = b * block..(b + 1) * block;
        let (qb, kb, vb, gb) = (
            &q[rows.clone()],
            &k[rows.clone()],
            &v[rows.clone()],
            &grad_context[rows],
        );
        let mut dp = vec![0.0f32; tt];
        let mut dropped = vec![0.0f32; if mask.is_some() { tt } else { 0 }];
        for h in 0..d.heads {
            let col = h * hd;
            let off = (b * d.heads + h) * tt;
            let p = &probs[off..off + tt];
            let weights: &[f32] = match mask {
                Some(m) => {
                    mul_into(&mut dropped, p, &m[off..off + tt]);
                    &dropped
                }
                None => p,
            };
            let go = MatRef::strided(&gb[col..], t, hd, w);
            // dV = P'ᵀ dO.
            matmul(
                MatMut::strided(&mut dvb[col..], t, hd, w),
                MatRef::dense(weights, t, t).t(),
                go,
                false,
                false,
            );
            // dP' = dO Vᵀ, then through the dropout mask and the softmax.
            matmul(
                MatMut::dense(&mut dp, t, t),
                go,
                MatRef::strided(&vb[col..], t, hd, w).t(),
                false,
                false,
            );
            if let Some(m) = mask {
                for (x, mm) in dp.iter_mut().zip(&m[off..off + tt]) {
                    *x *= mm;
                }
            }
            softmax_backward(&mut dp, p, t, d.scale());
            // dQ = dS K, dK = dSᵀ Q.
            matmul(
                MatMut::strided(&mut dqb[col..], t, hd, w),
                MatRef::dense(&dp, t, t),
                MatRef::strided(&kb[col..], t, hd, w),
                false,
                false,
            );
            matmul(
                MatMut::strided(&mut dkb[col..], t, hd, w),
                MatRef::dense(&dp, t, t).t(),
                MatRef::strided(&qb[col..], t, hd, w),
                false,
                false,
            );
        }
    });
    (dq, dk, dv)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.0 - 1.0)
            .collect()
    }

    /// The definition in f64: loss = Σ coef ⊙ context.
    fn reference(
        d: &AttentionDims,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        mask: Option<&[f32]>,
    ) -> Vec<f64> {
        let (t, w, hd) = (d.steps, d.width(), d.key_dim);
        let mut out = vec![0.0; d.batch * t * w];
        for b in 0..d.batch {
            for h in 0..d.heads {
                for i in 0..t {
                    let s: Vec<f64> = (0..t)
                        .map(|j| {
                            (0..hd)
                                .map(|c| {
                                    f64::from(q[(b * t + i) * w + h * hd + c])
                                        * f64::from(k[(b * t + j) * w + h * hd + c])
                                })
                                .sum::<f64>()
                                / (hd as f64).sqrt()
                        })
                        .collect();
                    let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
                    let z: f64 = e.iter().sum();
                    for c in 0..hd {
                        out[(b * t + i) * w + h * hd + c] = (0..t)
                            .map(|j| {
                                let keep = mask.map_or(1.0, |mm| {
                                    f64::from(mm[((b * d.heads + h) * t + i) * t + j])
                                });
                                e[j] / z * keep * f64::from(v[(b * t + j) * w + h * hd + c])
                            })
                            .sum();
                    }
                }
            }
        }
        out
    }

    #[test]
    fn forward_and_backward_match_the_definition() {
        let d = AttentionDims {
            batch: 2,
            steps: 5,
            heads: 2,
            key_dim: 3,
        };
        let n = 2 * 5 * 6;
        let (q, k, v) = (values(n, 1), values(n, 2), values(n, 3));
        let mask: Vec<f32> = (0..2 * 2 * 25)
            .map(|i| if i % 5 == 2 { 0.0 } else { 1.25 })
            .collect();
        let coef = values(n, 4);
        for m in [None, Some(&mask[..])] {
            let (ctx, probs) = forward(d, &q, &k, &v, m, true);
            for (a, b) in ctx.iter().zip(reference(&d, &q, &k, &v, m)) {
                assert!((f64::from(*a) - b).abs() < 1e-5, "{a} vs {b}");
            }
            let (dq, dk, dv) = backward(d, &coef, &q, &k, &v, &probs.unwrap(), m);
            let loss = |q: &[f32], k: &[f32], v: &[f32]| -> f64 {
                reference(&d, q, k, v, m)
                    .iter()
                    .zip(&coef)
                    .map(|(x, c)| x * f64::from(*c))
                    .sum()
            };
            let eps = 1e-3f32;
            for (which, grad) in [(0, &dq), (1, &dk), (2, &dv)] {
                for i in 0..n {
                    let mut plus = [q.clone(), k.clone(), v.clone()];
                    let mut minus = [q.clone(), k.clone(), v.clone()];
                    plus[which][i] += eps;
                    minus[which][i] -= eps;
                    let numeric = (loss(&plus[0], &plus[1], &plus[2])
                        - loss(&minus[0], &minus[1], &minus[2]))
                        / (2.0 * f64::from(eps));
                    assert!(
                        (f64::from(grad[i]) - numeric).abs() < 1e-3 * (1.0 + numeric.abs()),
                        "input {which} [{i}]: {} vs {numeric}",
                        grad[i]
                    );
                }
            }
        }
    }
}
