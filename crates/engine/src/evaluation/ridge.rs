//! The ridge baseline: regression on the last bars of each scaled window, its penalty searched
//! on the validation split over a grid that extends while the validation error still falls,
//! with memory bounded for every setting.

use super::*;

/// Most input columns the ridge baseline takes: a window longer than this (in bars times
/// features) contributes its last bars only. Bounds the Gram matrix at 8 MiB and a fit at
/// about a second per 10,000 training windows.
pub const RIDGE_MAX_COLUMNS: usize = 1_024;
/// Training windows per block when accumulating the Gram matrix.
const RIDGE_BLOCK: usize = 512;
/// Penalties tried first: scale × 10^(k/2) for k in -8..=8 (scale: the mean variance of an input
/// column); the grid then extends a step at a time, up to k = ±24, while the best stays at an edge.
const RIDGE_FIRST_K: i32 = 8;
const RIDGE_LAST_K: i32 = 24;

/// Ridge regression on flattened scaled windows (the last `bars` of each), with its penalty
/// chosen on validation.
pub struct RidgeBaseline {
    weights: Vec<f64>,
    intercept: f64,
    bars: usize,
    pub choice: RidgeChoice,
}

impl RidgeBaseline {
    /// Bars of each window the ridge reads for windows of `sequence_length` x `features`.
    pub fn bars(sequence_length: usize, features: usize) -> usize {
        sequence_length.min((RIDGE_MAX_COLUMNS / features.max(1)).max(1))
    }

    /// The ridge input of sample `t`: its window's last `bars` rows, as f64.
    fn row(data: &PreparedData, bars: usize, t: usize, out: &mut [f64]) {
        let w = data.width();
        let start = (t + 1 - bars) * w;
        for (o, v) in out.iter_mut().zip(&data.scaled[start..(t + 1) * w]) {
            *o = f64::from(*v);
        }
    }

    /// Fits on the training samples and picks the penalty with the lowest validation MSE of the
    /// standardised target.
    pub fn fit(data: &PreparedData) -> crate::error::Result<Self> {
        let bars = Self::bars(data.sequence_length, data.width());
        let d = bars * data.width();
        let train = &data.samples.train;
        let n = train.len();
        // Sums for the centred Gram matrix: Σx, Σy, Σxy, Σxxᵀ (upper triangle by blocks).
        let mut sx = vec![0.0f64; d];
        let mut sy = 0.0f64;
        let mut sxy = vec![0.0f64; d];
        let mut gram = vec![0.0f64; d * d];
        let mut block = vec![0.0f64; RIDGE_BLOCK * d];
        for chunk in train.chunks(RIDGE_BLOCK) {
            let rows = chunk.len();
            for (i, &t) in chunk.iter().enumerate() {
                let x = &mut block[i * d..(i + 1) * d];
                Self::row(data, bars, t, x);
                let y = data.target.scale(data.labels[t]);
                sy += y;
                for ((s, sxy), v) in sx.iter_mut().zip(sxy.iter_mut()).zip(x.iter()) {
                    *s += v;
                    *sxy += v * y;
                }
            }
            // gram += blockᵀ block.
            // SAFETY: `block` holds `rows` x d values (row stride d), `gram` d x d; both are
            // dense, in bounds, and distinct allocations.
            unsafe {
                gemm::gemm(
                    d,
                    d,
                    rows,
                    gram.as_mut_ptr(),
                    1,
                    d as isize,
                    true,
                    block.as_ptr(),
                    d as isize,
                    1,
                    block.as_ptr(),
                    1,
                    d as isize,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::Rayon(0),
                );
            }
        }
        let nf = n as f64;
        let x_mean: Vec<f64> = sx.iter().map(|s| s / nf).collect();
        let y_mean = sy / nf;
        // Centre: C = G - n x̄x̄ᵀ, c = Σxy - n x̄ ȳ.
        for i in 0..d {
            for j in 0..d {
                gram[i * d + j] -= nf * x_mean[i] * x_mean[j];
            }
        }
        let cxy: Vec<f64> = sxy
            .iter()
            .zip(&x_mean)
            .map(|(s, m)| s - nf * m * y_mean)
            .collect();
        if gram.iter().any(|v| !v.is_finite()) || cxy.iter().any(|v| !v.is_finite()) {
            return Err(crate::error::Error::InvalidData(
                "the ridge baseline could not be fitted (non-finite training windows)".into(),
            ));
        }
        let scale = ((0..d).map(|i| gram[i * d + i]).sum::<f64>() / d as f64 / nf).max(1e-12);
        // Validation rows are rebuilt for every penalty rather than kept: building a row costs
        // what its dot product costs, and keeping them all grew with the data (5 GB for eight
        // years of 1-minute candles, allocated after training).
        let val = &data.samples.validation;
        let solve = |k: i32| -> Option<(f64, Vec<f64>, f64)> {
            let lambda = scale * nf * 10f64.powf(f64::from(k) / 2.0);
            let mut a = gram.clone();
            for i in 0..d {
                a[i * d + i] += lambda;
            }
            let w = solve_spd(a, cxy.clone(), d)?;
            let intercept = y_mean - w.iter().zip(&x_mean).map(|(w, m)| w * m).sum::<f64>();
            let mut x = vec![0.0f64; d];
            let mse = mean(val.iter().map(|&t| {
                Self::row(data, bars, t, &mut x);
                let p = intercept + x.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>();
                (p - data.target.scale(data.labels[t])).powi(2)
            }));
            mse.is_finite().then_some((lambda, w, mse))
        };
        // (k, lambda, weights, validation mse) of every penalty tried.
        let mut tried: Vec<(i32, f64, Vec<f64>, f64)> = (-RIDGE_FIRST_K..=RIDGE_FIRST_K)
            .filter_map(|k| solve(k).map(|(l, w, m)| (k, l, w, m)))
            .collect();
        if tried.is_empty() {
            return Err(crate::error::Error::InvalidData(
                "the ridge baseline could not be fitted at any penalty (degenerate training windows)".into(),
            ));
        }
        let best_of = |tried: &[(i32, f64, Vec<f64>, f64)]| {
            tried
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.3.total_cmp(&b.1.3))
                .map(|(i, _)| i)
                .unwrap_or(0)
        };
        // Extend upwards, then downwards, while the best is the outermost penalty tried.
        loop {
            let best = best_of(&tried);
            let top = tried.len() - 1;
            let k = tried[top].0 + 1;
            if best != top || k > RIDGE_LAST_K {
                break;
            }
            match solve(k) {
                Some((l, w, m)) => tried.push((k, l, w, m)),
                None => break,
            }
        }
        loop {
            let best = best_of(&tried);
            let k = tried[0].0 - 1;
            if best != 0 || k < -RIDGE_LAST_K {
                break;
            }
            match solve(k) {
                Some((l, w, m)) => tried.insert(0, (k, l, w, m)),
                None => break,
            }
        }
        let best = best_of(&tried);
        let at_edge = best == 0 || best == tried.len() - 1;
        let grid_points = tried.len();
        let (_, lambda, weights, validation_mse) = tried.swap_remove(best);
        let intercept = y_mean - weights.iter().zip(&x_mean).map(|(w, m)| w * m).sum::<f64>();
        Ok(Self {
            weights,
            intercept,
            bars,
            choice: RidgeChoice {
                lambda,
                grid_index: best,
                grid_points,
                at_edge,
                validation_mse,
                columns: d,
                bars,
            },
        })
    }

    fn predict_scaled(&self, data: &PreparedData, t: usize) -> f64 {
        let mut x = vec![0.0f64; self.weights.len()];
        Self::row(data, self.bars, t, &mut x);
        self.intercept + self.weights.iter().zip(&x).map(|(w, v)| w * v).sum::<f64>()
    }

    /// Predicted label for sample `t`: the log return (the log realised volatility when fitted
    /// on the volatility target).
    pub fn predict(&self, data: &PreparedData, t: usize) -> f64 {
        data.target.unscale(self.predict_scaled(data, t))
    }
}
