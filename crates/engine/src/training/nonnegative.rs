//! Non-negative weights for an ensemble's members: least squares (Lawson and Hanson's active-set
//! NNLS, 1974, ch. 23) and the logistic log loss (a projected Newton method), both over the k
//! columns of member outputs. k is small (at most 16), so both work on k × k matrices.

/// Solves `A_PP z = b_P` for the passive columns `p` of a symmetric `a` (k × k, row-major) by
/// Gaussian elimination with partial pivoting; `None` when the system is singular (two members
/// with identical outputs).
fn solve_on(a: &[f64], b: &[f64], k: usize, p: &[usize]) -> Option<Vec<f64>> {
    let n = p.len();
    let mut m: Vec<Vec<f64>> = p
        .iter()
        .map(|&i| {
            let mut row: Vec<f64> = p.iter().map(|&j| a[i * k + j]).collect();
            row.push(b[i]);
            row
        })
        .collect();
    let scale = m
        .iter()
        .flat_map(|r| r[..n].iter())
        .fold(0.0f64, |s, v| s.max(v.abs()));
    for col in 0..n {
        let pivot = (col..n).max_by(|&x, &y| m[x][col].abs().total_cmp(&m[y][col].abs()))?;
        if m[pivot][col].abs() <= 1e-12 * scale.max(f64::MIN_POSITIVE) {
            return None;
        }
        m.swap(col, pivot);
        let (upper, lower) = m.split_at_mut(col + 1);
        let pivot_row = &upper[col];
        for row in lower.iter_mut() {
            let f = row[col] / pivot_row[col];
            for (value, above) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *value -= f * above;
            }
        }
    }
    let mut z = vec![0.0; n];
    for r in (0..n).rev() {
        let tail: f64 = (r + 1..n).map(|c| m[r][c] * z[c]).sum();
        z[r] = (m[r][n] - tail) / m[r][r];
    }
    Some(z)
}

/// `argmin ‖X w − y‖²` over `w ≥ 0`, where `columns[j]` is column j of X (one member's outputs)
/// and every column is as long as `y`. Lawson–Hanson on the normal equations `G = XᵀX`,
/// `c = Xᵀy`: the gradient of the objective is `2(G w − c)`, so `c − G w` is the dual.
pub fn nnls(columns: &[Vec<f64>], y: &[f64]) -> Vec<f64> {
    let k = columns.len();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let mut g = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..k {
            g[i * k + j] = dot(&columns[i], &columns[j]);
        }
    }
    let c: Vec<f64> = columns.iter().map(|col| dot(col, y)).collect();
    let tolerance = 1e-10 * c.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    let dual = |x: &[f64]| -> Vec<f64> {
        (0..k)
            .map(|i| c[i] - (0..k).map(|j| g[i * k + j] * x[j]).sum::<f64>())
            .collect()
    };
    let mut x = vec![0.0; k];
    let mut passive: Vec<usize> = Vec::new();
    // Columns that are combinations of passive ones (an identical member): they cannot lower
    // the loss, so they never enter again.
    let mut dependent: Vec<usize> = Vec::new();
    // Each outer step adds one column; 3k steps bound it with room for columns that leave.
    for _ in 0..3 * k.max(1) {
        let w = dual(&x);
        let Some(enter) = (0..k)
            .filter(|j| !passive.contains(j) && !dependent.contains(j) && w[*j] > tolerance)
            .max_by(|&a, &b| w[a].total_cmp(&w[b]))
        else {
            break;
        };
        passive.push(enter);
        loop {
            let Some(z_p) = solve_on(&g, &c, k, &passive) else {
                passive.retain(|&j| j != enter);
                dependent.push(enter);
                break;
            };
            let mut z = vec![0.0; k];
            for (&j, v) in passive.iter().zip(&z_p) {
                z[j] = *v;
            }
            if passive.iter().all(|&j| z[j] > 0.0) {
                x = z;
                break;
            }
            // Step from x towards z as far as feasibility allows; the columns that reach zero
            // leave the passive set.
            let alpha = passive
                .iter()
                .filter(|&&j| z[j] <= 0.0)
                .map(|&j| x[j] / (x[j] - z[j]))
                .fold(f64::INFINITY, f64::min);
            for (xj, zj) in x.iter_mut().zip(&z) {
                *xj += alpha * (zj - *xj);
            }
            passive.retain(|&j| x[j] > 1e-15);
            for (j, xj) in x.iter_mut().enumerate() {
                if !passive.contains(&j) {
                    *xj = 0.0;
                }
            }
            if passive.is_empty() {
                break;
            }
        }
    }
    x
}

/// Mean logistic log loss of logits `s` against labels `y` ∈ {0, 1}, in the stable form
/// `log(1 + e^s) − y s`.
pub fn log_loss_of_logits(s: &[f64], y: &[f64]) -> f64 {
    let n = s.len().max(1) as f64;
    s.iter()
        .zip(y)
        .map(|(&s, &y)| s.max(0.0) + (-s.abs()).exp().ln_1p() - y * s)
        .sum::<f64>()
        / n
}

/// `argmin` of the mean log loss of `σ(X w)` over `w ≥ 0` (`columns` are logits). Projected
/// Newton (Bertsekas, 1982): Newton's step on the weights that are positive or whose gradient
/// pulls them up, the others held at zero, with a backtracking line search on the projection.
/// Starts from equal weights; stops when the projected gradient vanishes.
pub fn nonnegative_logistic(columns: &[Vec<f64>], y: &[f64]) -> Vec<f64> {
    let k = columns.len();
    let n = y.len();
    let logits = |w: &[f64]| -> Vec<f64> {
        (0..n)
            .map(|t| (0..k).map(|j| w[j] * columns[j][t]).sum())
            .collect()
    };
    let mut w = vec![1.0 / k.max(1) as f64; k];
    let mut loss = log_loss_of_logits(&logits(&w), y);
    for _ in 0..200 {
        let s = logits(&w);
        let p: Vec<f64> = s.iter().map(|&v| 1.0 / (1.0 + (-v).exp())).collect();
        let mut grad = vec![0.0; k];
        let mut hess = vec![0.0; k * k];
        for t in 0..n {
            let r = p[t] - y[t];
            let curvature = p[t] * (1.0 - p[t]);
            for i in 0..k {
                grad[i] += r * columns[i][t] / n as f64;
                for j in 0..k {
                    hess[i * k + j] += curvature * columns[i][t] * columns[j][t] / n as f64;
                }
            }
        }
        let free: Vec<usize> = (0..k).filter(|&j| w[j] > 1e-12 || grad[j] < 0.0).collect();
        let projected = free.iter().map(|&j| grad[j].abs()).fold(0.0, f64::max);
        if free.is_empty() || projected < 1e-12 {
            break;
        }
        // Newton's step on the free weights; plain gradient descent where the Hessian is
        // singular (identical members).
        let step: Vec<f64> = match solve_on(&hess, &grad, k, &free) {
            Some(d) => d,
            None => free.iter().map(|&j| grad[j]).collect(),
        };
        let mut t = 1.0;
        let mut improved = false;
        while t > 1e-12 {
            let mut trial = w.clone();
            for (&j, d) in free.iter().zip(&step) {
                trial[j] = (w[j] - t * d).max(0.0);
            }
            let trial_loss = log_loss_of_logits(&logits(&trial), y);
            if trial_loss < loss {
                w = trial;
                improved = loss - trial_loss > 1e-15;
                loss = trial_loss;
                break;
            }
            t *= 0.5;
        }
        if !improved {
            break;
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn squared(columns: &[Vec<f64>], y: &[f64], w: &[f64]) -> f64 {
        (0..y.len())
            .map(|t| {
                let fit: f64 = columns.iter().zip(w).map(|(c, w)| c[t] * w).sum();
                (fit - y[t]).powi(2)
            })
            .sum()
    }

    /// Every subset of columns solved by unconstrained least squares, kept when its solution is
    /// non-negative: the best of those is the NNLS solution (the KKT conditions of a convex
    /// problem), found by a route that shares nothing with the active-set method.
    fn brute_force(columns: &[Vec<f64>], y: &[f64]) -> Vec<f64> {
        let k = columns.len();
        let mut best = (squared(columns, y, &vec![0.0; k]), vec![0.0; k]);
        for mask in 1u32..(1 << k) {
            let subset: Vec<usize> = (0..k).filter(|j| mask & (1 << j) != 0).collect();
            let g: Vec<f64> = (0..k)
                .flat_map(|i| {
                    (0..k)
                        .map(move |j| (i, j))
                        .map(|(i, j)| columns[i].iter().zip(&columns[j]).map(|(a, b)| a * b).sum())
                })
                .collect();
            let c: Vec<f64> = columns
                .iter()
                .map(|col| col.iter().zip(y).map(|(a, b)| a * b).sum())
                .collect();
            let Some(z) = solve_on(&g, &c, k, &subset) else {
                continue;
            };
            if z.iter().any(|v| *v < 0.0) {
                continue;
            }
            let mut w = vec![0.0; k];
            for (&j, v) in subset.iter().zip(&z) {
                w[j] = *v;
            }
            let loss = squared(columns, y, &w);
            if loss < best.0 {
                best = (loss, w);
            }
        }
        best.1
    }

    #[test]
    fn nnls_matches_a_hand_solution() {
        // X = [[1, 0], [0, 1], [1, 1]], y = [1, -1, 0]: unconstrained w = (1, -1); with w ≥ 0
        // the second weight is 0 and the first minimises (w-1)² + 1 + w², so w1 = 1/2.
        let columns = vec![vec![1.0, 0.0, 1.0], vec![0.0, 1.0, 1.0]];
        let w = nnls(&columns, &[1.0, -1.0, 0.0]);
        assert!((w[0] - 0.5).abs() < 1e-12 && w[1] == 0.0, "{w:?}");
        // A y inside the cone is fitted exactly: y = 2·x0 + 3·x1.
        let y: Vec<f64> = (0..3)
            .map(|t| 2.0 * columns[0][t] + 3.0 * columns[1][t])
            .collect();
        let w = nnls(&columns, &y);
        assert!(
            (w[0] - 2.0).abs() < 1e-12 && (w[1] - 3.0).abs() < 1e-12,
            "{w:?}"
        );
    }

    #[test]
    fn nnls_agrees_with_an_exhaustive_search_over_active_sets() {
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        };
        for _ in 0..50 {
            let k = 4;
            let n = 40;
            let columns: Vec<Vec<f64>> = (0..k).map(|_| (0..n).map(|_| next()).collect()).collect();
            let y: Vec<f64> = (0..n).map(|_| next()).collect();
            let ours = nnls(&columns, &y);
            let reference = brute_force(&columns, &y);
            assert!(ours.iter().all(|w| *w >= 0.0));
            for (a, b) in ours.iter().zip(&reference) {
                assert!((a - b).abs() < 1e-9, "{ours:?} vs {reference:?}");
            }
        }
    }

    #[test]
    fn identical_columns_share_the_single_column_fit() {
        let x = vec![1.0, 2.0, -1.0, 0.5];
        let y = vec![0.8, 2.1, -0.7, 0.2];
        let single = nnls(std::slice::from_ref(&x), &y);
        let pair = nnls(&[x.clone(), x], &y);
        assert!(
            ((pair[0] + pair[1]) - single[0]).abs() < 1e-12,
            "{pair:?} {single:?}"
        );
    }

    #[test]
    fn nonnegative_logistic_meets_the_optimality_conditions() {
        // Labels from a known positive mix of two logit columns, a third column of noise that
        // predicts against the labels.
        let mut state = 99u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let n = 2_000;
        let a: Vec<f64> = (0..n).map(|_| 4.0 * next() - 2.0).collect();
        let b: Vec<f64> = (0..n).map(|_| 4.0 * next() - 2.0).collect();
        let y: Vec<f64> = (0..n)
            .map(|t| {
                let p = 1.0 / (1.0 + (-(1.5 * a[t] + 0.5 * b[t])).exp());
                f64::from(u8::from(next() < p))
            })
            .collect();
        let against: Vec<f64> = (0..n)
            .map(|t| if y[t] > 0.5 { -1.0 } else { 1.0 })
            .collect();
        let columns = vec![a, b, against];
        let w = nonnegative_logistic(&columns, &y);
        // KKT: the gradient is zero on positive weights and non-negative on zero ones.
        let s: Vec<f64> = (0..n)
            .map(|t| (0..3).map(|j| w[j] * columns[j][t]).sum())
            .collect();
        for j in 0..3 {
            let g: f64 = (0..n)
                .map(|t| (1.0 / (1.0 + (-s[t]).exp()) - y[t]) * columns[j][t])
                .sum::<f64>()
                / n as f64;
            if w[j] > 0.0 {
                assert!(g.abs() < 1e-8, "weight {j} = {} with gradient {g}", w[j]);
            } else {
                assert!(g >= -1e-8, "weight {j} held at 0 with gradient {g}");
            }
        }
        assert_eq!(w[2], 0.0, "the contrary column must get no weight: {w:?}");
        assert!(
            (w[0] - 1.5).abs() < 0.3 && (w[1] - 0.5).abs() < 0.3,
            "{w:?}"
        );
    }
}
