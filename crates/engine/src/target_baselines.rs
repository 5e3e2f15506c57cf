//! The fitted baselines of the volatility and direction targets, on the same windows as the
//! model: ridge on log RV (the return target's ridge fitted on the log-RV labels, its penalty
//! chosen on validation; its forecasts carry the same smearing correction as the model's) and a
//! logistic regression for direction (an L2 penalty chosen by the validation split's log loss,
//! Newton's method on the last `LOGISTIC_BARS` bars of each window: logistic regression is what
//! a linear model of a probability is, and the last bars are where a window's information about
//! the next move would be; a thousand columns would need a Hessian per Newton step that the
//! whole evaluation does not).

use crate::dataset::PreparedData;
use crate::error::{Error, Result};
use crate::evaluation::RidgeBaseline;
use crate::stats::solve_spd;
use crate::targets::volatility::smearing_correction;

/// Bars of each window the logistic baseline reads.
pub const LOGISTIC_BARS: usize = 4;
/// Penalties tried, per training window (λ = k · n), from strong to weak.
const LOGISTIC_PENALTIES: [f64; 7] = [10.0, 1.0, 0.1, 1e-2, 1e-3, 1e-4, 1e-5];
const NEWTON_STEPS: usize = 25;

/// Ridge on log RV: its forecast realised volatility for every test sample, in order.
pub fn ridge_volatility(data: &PreparedData) -> Result<Vec<f64>> {
    let ridge = RidgeBaseline::fit(data)?;
    let errors: Vec<f64> = data
        .samples
        .validation
        .iter()
        .map(|&t| data.labels[t] - ridge.predict(data, t))
        .filter(|e| e.is_finite())
        .collect();
    let c = smearing_correction(&errors);
    Ok(data
        .samples
        .test
        .iter()
        .map(|&t| (ridge.predict(data, t) + c).exp())
        .collect())
}

/// Logistic regression of the direction label on the last bars of each scaled window.
#[derive(Debug, Clone)]
pub struct LogisticBaseline {
    /// Intercept first, then one weight per input column.
    weights: Vec<f64>,
    bars: usize,
    /// The penalty chosen on validation.
    pub lambda: f64,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl LogisticBaseline {
    /// `[1, x…]` of sample `t`: its window's last `bars` scaled rows.
    fn row(data: &PreparedData, bars: usize, t: usize, out: &mut Vec<f64>) {
        out.clear();
        out.push(1.0);
        let w = data.width();
        let start = (t + 1 - bars) * w;
        out.extend(
            data.scaled[start..(t + 1) * w]
                .iter()
                .map(|v| f64::from(*v)),
        );
    }

    fn design(data: &PreparedData, bars: usize, samples: &[usize]) -> (Vec<f64>, Vec<f64>) {
        let d = 1 + bars * data.width();
        let mut x = Vec::with_capacity(samples.len() * d);
        let mut row = Vec::with_capacity(d);
        let mut y = Vec::with_capacity(samples.len());
        for &t in samples {
            Self::row(data, bars, t, &mut row);
            x.extend_from_slice(&row);
            y.push(data.labels[t]);
        }
        (x, y)
    }

    /// Newton's method on the penalised log likelihood (the intercept unpenalised), from `start`.
    fn newton(x: &[f64], y: &[f64], d: usize, lambda: f64, start: &[f64]) -> Option<Vec<f64>> {
        let mut w = start.to_vec();
        for _ in 0..NEWTON_STEPS {
            let mut grad = vec![0.0f64; d];
            let mut hess = vec![0.0f64; d * d];
            for (row, &label) in x.chunks(d).zip(y) {
                let p = sigmoid(row.iter().zip(&w).map(|(a, b)| a * b).sum());
                let s = (p * (1.0 - p)).max(1e-12);
                for i in 0..d {
                    grad[i] += (p - label) * row[i];
                    let si = s * row[i];
                    for j in i..d {
                        hess[i * d + j] += si * row[j];
                    }
                }
            }
            for i in 0..d {
                for j in 0..i {
                    hess[i * d + j] = hess[j * d + i];
                }
                if i > 0 {
                    grad[i] += lambda * w[i];
                    hess[i * d + i] += lambda;
                }
            }
            let step = solve_spd(hess, grad, d)?;
            let size = step.iter().map(|s| s.abs()).fold(0.0, f64::max);
            w.iter_mut().zip(&step).for_each(|(w, s)| *w -= s);
            if !size.is_finite() {
                return None;
            }
            if size < 1e-9 {
                break;
            }
        }
        Some(w)
    }

    /// Fits on the training samples, choosing the penalty with the lowest validation log loss.
    pub fn fit(data: &PreparedData) -> Result<Self> {
        let bars = LOGISTIC_BARS.min(data.sequence_length);
        let d = 1 + bars * data.width();
        let (x, y) = Self::design(data, bars, &data.samples.train);
        let (vx, vy) = Self::design(data, bars, &data.samples.validation);
        let n = y.len() as f64;
        let mut start = vec![0.0f64; d];
        let mut best: Option<(f64, f64, Vec<f64>)> = None;
        for k in LOGISTIC_PENALTIES {
            let lambda = k * n;
            let Some(w) = Self::newton(&x, &y, d, lambda, &start) else {
                continue;
            };
            let loss = vx
                .chunks(d)
                .zip(&vy)
                .map(|(row, &label)| {
                    let p = sigmoid(row.iter().zip(&w).map(|(a, b)| a * b).sum())
                        .clamp(1e-15, 1.0 - 1e-15);
                    -(label * p.ln() + (1.0 - label) * (1.0 - p).ln())
                })
                .sum::<f64>()
                / vy.len().max(1) as f64;
            if best.as_ref().is_none_or(|b| loss < b.0) {
                best = Some((loss, lambda, w.clone()));
            }
            // Warm start: the next, weaker penalty begins where this one ended.
            start = w;
        }
        let (_, lambda, weights) = best.ok_or_else(|| {
            Error::InvalidData(
                "the logistic baseline could not be fitted at any penalty (degenerate training windows)"
                    .into(),
            )
        })?;
        Ok(Self {
            weights,
            bars,
            lambda,
        })
    }

    /// The probability of an up move for sample `t`.
    pub fn probability(&self, data: &PreparedData, t: usize) -> f64 {
        let mut row = Vec::with_capacity(self.weights.len());
        Self::row(data, self.bars, t, &mut row);
        sigmoid(row.iter().zip(&self.weights).map(|(a, b)| a * b).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{SplitFractions, Target};
    use crate::features::{FeatureSet, compute_features};
    use crate::market::sample::sample_candles;

    #[test]
    fn the_logistic_fit_solves_its_score_equations_and_recovers_a_known_model() {
        // Labels drawn from a known logistic model of the last bar's first feature: the fit
        // must find its sign and size, and at its optimum the penalised score is zero.
        let m = compute_features(&sample_candles().unwrap()[..6_000], FeatureSet::Price).unwrap();
        let mut data =
            PreparedData::new(m, 8, 1, Target::Direction, SplitFractions::default()).unwrap();
        let w = data.width();
        let mut state = 12345u64;
        for t in 0..data.labels.len() {
            let x = f64::from(data.scaled[t * w]);
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            data.labels[t] = f64::from(u8::from(u < sigmoid(0.2 + 1.5 * x)));
        }
        let fit = LogisticBaseline::fit(&data).unwrap();
        let first_of_last_bar = 1 + (fit.bars - 1) * w;
        let slope = fit.weights[first_of_last_bar];
        assert!(
            (slope - 1.5).abs() < 0.25,
            "slope {slope}: {:?}",
            fit.weights
        );
        assert!(
            (fit.weights[0] - 0.2).abs() < 0.15,
            "intercept {}",
            fit.weights[0]
        );
        // The score equations at the optimum: Σ (p - y) x + λ w = 0 (intercept unpenalised).
        let d = fit.weights.len();
        let (x, y) = LogisticBaseline::design(&data, fit.bars, &data.samples.train);
        let mut score = vec![0.0f64; d];
        for (row, label) in x.chunks(d).zip(&y) {
            let p = sigmoid(row.iter().zip(&fit.weights).map(|(a, b)| a * b).sum());
            for i in 0..d {
                score[i] += (p - label) * row[i];
            }
        }
        for (s, w) in score.iter_mut().zip(&fit.weights).skip(1) {
            *s += fit.lambda * w;
        }
        assert!(score.iter().all(|s| s.abs() < 1e-6), "{score:?}");
        let p = fit.probability(&data, data.samples.test[0]);
        assert!(p > 0.0 && p < 1.0);
    }
}
