//! Honest evaluation: every metric of the model beside the persistence (next close = this
//! close), drift (training mean return) and ridge baselines on the same windows, in price and
//! return space, with directional accuracy and its Pesaran-Timmermann significance.

use atb_protocol::training::{Metrics, SplitEvaluation};

use crate::dataset::PreparedData;

/// One predictor's forecasts for a run of samples: predicted log returns.
pub struct Forecast<'a> {
    pub returns: &'a [f64],
}

/// What every predictor is measured against on a split.
pub struct EvaluationWindow<'a> {
    /// Close of each sample's last input candle (close_t).
    pub closes: &'a [f64],
    /// Actual log return to the target candle.
    pub actual: &'a [f64],
    /// In-sample MAE (USD) of the naive forecast on the training split: the MASE scale.
    pub naive_train_mae: f64,
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

/// Price-space MAE of persistence on a window (the skill denominator).
pub fn persistence_mae(w: &EvaluationWindow<'_>) -> f64 {
    mean(
        w.closes
            .iter()
            .zip(w.actual)
            .map(|(c, r)| (c * r.exp() - c).abs()),
    )
}

/// All metrics of `forecast` on `window`.
pub fn metrics(forecast: &Forecast<'_>, w: &EvaluationWindow<'_>) -> Metrics {
    let n = w.actual.len();
    let pairs = || {
        forecast
            .returns
            .iter()
            .zip(w.actual)
            .zip(w.closes)
            .map(|((p, a), c)| (*p, *a, *c))
    };
    let price_err = || pairs().map(|(p, a, c)| c * p.exp() - c * a.exp());
    let mae = mean(price_err().map(f64::abs));
    let rmse = mean(price_err().map(|e| e * e)).sqrt();
    let mape =
        mean(pairs().map(|(p, a, c)| ((c * p.exp() - c * a.exp()) / (c * a.exp())).abs())) * 100.0;
    let return_mae = mean(pairs().map(|(p, a, _)| (p - a).abs()));
    let sse: f64 = pairs().map(|(p, a, _)| (p - a).powi(2)).sum();
    let actual_mean = mean(w.actual.iter().copied());
    let sst: f64 = w.actual.iter().map(|a| (a - actual_mean).powi(2)).sum();
    let direction = directional(forecast.returns, w.actual);
    let pers = persistence_mae(w);
    Metrics {
        rmse_usd: rmse,
        mae_usd: mae,
        mape_pct: mape,
        return_rmse: (sse / n as f64).sqrt(),
        return_mae,
        return_r2: if sst > 0.0 { 1.0 - sse / sst } else { f64::NAN },
        directional_accuracy: direction.map(|d| d.0),
        pt_statistic: direction.and_then(|d| d.1).map(|pt| pt.0),
        pt_p_value: direction.and_then(|d| d.1).map(|pt| pt.1),
        skill_vs_persistence: if pers > 0.0 {
            1.0 - mae / pers
        } else {
            f64::NAN
        },
        mase: if w.naive_train_mae > 0.0 {
            mae / w.naive_train_mae
        } else {
            f64::NAN
        },
    }
}

/// Hit rate and, when defined, the Pesaran-Timmermann (statistic, one-sided p-value). `None`
/// when the predictor never calls a direction (all zero).
fn directional(predicted: &[f64], actual: &[f64]) -> Option<(f64, Option<(f64, f64)>)> {
    if predicted.iter().all(|p| *p == 0.0) {
        return None;
    }
    let pred_up: Vec<bool> = predicted.iter().map(|p| *p > 0.0).collect();
    let act_up: Vec<bool> = actual.iter().map(|a| *a > 0.0).collect();
    let hits = pred_up.iter().zip(&act_up).filter(|(p, a)| p == a).count();
    let hit_rate = hits as f64 / actual.len() as f64;
    Some((hit_rate, pesaran_timmermann(&pred_up, &act_up)))
}

/// Pesaran & Timmermann (1992) test of independence between predicted and actual directions:
/// (statistic, one-sided p-value). `None` for constant forecasts or outcomes (undefined).
pub fn pesaran_timmermann(pred_up: &[bool], act_up: &[bool]) -> Option<(f64, f64)> {
    let n = pred_up.len() as f64;
    if n < 2.0 {
        return None;
    }
    let share = |v: &[bool]| v.iter().filter(|b| **b).count() as f64 / n;
    let (px, py) = (share(pred_up), share(act_up));
    let p = pred_up.iter().zip(act_up).filter(|(a, b)| a == b).count() as f64 / n;
    let p_star = py * px + (1.0 - py) * (1.0 - px);
    let var_p = p_star * (1.0 - p_star) / n;
    let var_p_star = (2.0 * py - 1.0).powi(2) * px * (1.0 - px) / n
        + (2.0 * px - 1.0).powi(2) * py * (1.0 - py) / n
        + 4.0 * py * px * (1.0 - py) * (1.0 - px) / (n * n);
    let var = var_p - var_p_star;
    if !(var > 0.0) {
        return None;
    }
    let stat = (p - p_star) / var.sqrt();
    Some((stat, normal_sf(stat)))
}

/// P(Z > z) for a standard normal Z (erfc by Numerical Recipes' Chebyshev fit, |error| < 1.2e-7).
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Ridge regression on flattened scaled windows, with its penalty chosen on validation.
pub struct RidgeBaseline {
    weights: Vec<f64>,
    pub lambda: f64,
}

impl RidgeBaseline {
    /// Fits on the training samples and picks the penalty with the lowest validation MSE.
    pub fn fit(data: &PreparedData) -> crate::error::Result<Self> {
        let d = data.sequence_length * data.width() + 1;
        let row = |t: usize, buf: &mut Vec<f32>| {
            buf.clear();
            data.window_into(t, buf);
        };
        let mut xtx = vec![0.0f64; d * d];
        let mut xty = vec![0.0f64; d];
        let mut buf = Vec::with_capacity(d);
        let mut x = vec![0.0f64; d];
        for t in data.split.train.clone() {
            row(t, &mut buf);
            x[0] = 1.0;
            for (xi, v) in x[1..].iter_mut().zip(&buf) {
                *xi = f64::from(*v);
            }
            let y = data.target.scale(data.returns[t]);
            for i in 0..d {
                let xi = x[i];
                xty[i] += xi * y;
                // Upper triangle only; mirrored below.
                for j in i..d {
                    xtx[i * d + j] += xi * x[j];
                }
            }
        }
        for i in 0..d {
            for j in 0..i {
                xtx[i * d + j] = xtx[j * d + i];
            }
        }
        let n = data.split.train.len() as f64;
        let mut best: Option<(f64, Vec<f64>, f64)> = None;
        for scale in [0.01, 0.1, 1.0, 10.0, 100.0] {
            let lambda = scale * n / d as f64;
            let mut a = xtx.clone();
            // The intercept is not penalised.
            for i in 1..d {
                a[i * d + i] += lambda;
            }
            let Some(w) = solve_spd(a, xty.clone(), d) else {
                continue;
            };
            let candidate = Self { weights: w, lambda };
            let val_mse = mean(data.split.validation.clone().map(|t| {
                (candidate.predict_scaled(data, t) - data.target.scale(data.returns[t])).powi(2)
            }));
            if best.as_ref().is_none_or(|(m, _, _)| val_mse < *m) {
                best = Some((val_mse, candidate.weights, lambda));
            }
        }
        match best {
            Some((_, weights, lambda)) => Ok(Self { weights, lambda }),
            None => Err(crate::error::Error::InvalidData(
                "the ridge baseline could not be fitted (non-finite training windows)".into(),
            )),
        }
    }

    fn predict_scaled(&self, data: &PreparedData, t: usize) -> f64 {
        let mut buf = Vec::with_capacity(self.weights.len());
        data.window_into(t, &mut buf);
        self.weights[0]
            + self.weights[1..]
                .iter()
                .zip(&buf)
                .map(|(w, v)| w * f64::from(*v))
                .sum::<f64>()
    }

    /// Predicted log return for sample `t`.
    pub fn predict(&self, data: &PreparedData, t: usize) -> f64 {
        data.target.unscale(self.predict_scaled(data, t))
    }
}

/// Solves A w = b for symmetric positive definite A (row-major d x d) by Cholesky.
fn solve_spd(mut a: Vec<f64>, mut b: Vec<f64>, d: usize) -> Option<Vec<f64>> {
    for j in 0..d {
        let mut s = a[j * d + j];
        for k in 0..j {
            s -= a[j * d + k] * a[j * d + k];
        }
        if !(s > 0.0) {
            return None;
        }
        let l = s.sqrt();
        a[j * d + j] = l;
        for i in j + 1..d {
            let mut s = a[i * d + j];
            for k in 0..j {
                s -= a[i * d + k] * a[j * d + k];
            }
            a[i * d + j] = s / l;
        }
    }
    for i in 0..d {
        let mut s = b[i];
        for k in 0..i {
            s -= a[i * d + k] * b[k];
        }
        b[i] = s / a[i * d + i];
    }
    for i in (0..d).rev() {
        let mut s = b[i];
        for k in i + 1..d {
            s -= a[k * d + i] * b[k];
        }
        b[i] = s / a[i * d + i];
    }
    Some(b)
}

/// The model's predicted returns on a split beside the three baselines.
pub fn evaluate_split(
    data: &PreparedData,
    samples: std::ops::Range<usize>,
    model_returns: &[f64],
    ridge: &RidgeBaseline,
) -> SplitEvaluation {
    let closes: Vec<f64> = samples.clone().map(|t| data.matrix.closes[t]).collect();
    let actual: Vec<f64> = samples.clone().map(|t| data.returns[t]).collect();
    let naive_train_mae = mean(data.split.train.clone().map(|t| {
        let c = data.matrix.closes[t];
        (c * data.returns[t].exp() - c).abs()
    }));
    let window = EvaluationWindow {
        closes: &closes,
        actual: &actual,
        naive_train_mae,
    };
    let zeros = vec![0.0; actual.len()];
    let drift = vec![data.target.mean; actual.len()];
    let ridge_returns: Vec<f64> = samples.map(|t| ridge.predict(data, t)).collect();
    SplitEvaluation {
        samples: actual.len(),
        up_share: actual.iter().filter(|a| **a > 0.0).count() as f64 / actual.len() as f64,
        model: metrics(
            &Forecast {
                returns: model_returns,
            },
            &window,
        ),
        persistence: metrics(&Forecast { returns: &zeros }, &window),
        drift: metrics(&Forecast { returns: &drift }, &window),
        ridge: metrics(
            &Forecast {
                returns: &ridge_returns,
            },
            &window,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_and_return_metrics_by_hand() {
        let closes = [100.0, 200.0];
        let actual = [(110.0f64 / 100.0).ln(), (190.0f64 / 200.0).ln()];
        let predicted = [(105.0f64 / 100.0).ln(), (200.0f64 / 200.0).ln() + 1e-9];
        let w = EvaluationWindow {
            closes: &closes,
            actual: &actual,
            naive_train_mae: 5.0,
        };
        let m = metrics(
            &Forecast {
                returns: &predicted,
            },
            &w,
        );
        // Errors 5 and 10 USD.
        assert!((m.mae_usd - 7.5).abs() < 1e-6);
        assert!((m.rmse_usd - (62.5f64).sqrt()).abs() < 1e-6);
        assert!((m.mape_pct - (5.0 / 110.0 + 10.0 / 190.0) / 2.0 * 100.0).abs() < 1e-6);
        // Persistence errs 10 and 10: skill = 1 - 7.5 / 10.
        assert!((m.skill_vs_persistence - 0.25).abs() < 1e-6);
        assert!((m.mase - 1.5).abs() < 1e-6);
        assert_eq!(m.directional_accuracy, Some(0.5));
        let p = metrics(
            &Forecast {
                returns: &[0.0, 0.0],
            },
            &w,
        );
        assert!((p.mae_usd - 10.0).abs() < 1e-9 && p.skill_vs_persistence.abs() < 1e-12);
        assert_eq!(
            p.directional_accuracy, None,
            "persistence calls no direction"
        );
    }

    #[test]
    fn pesaran_timmermann_on_a_known_table() {
        // 100 calls: 40 up-up, 10 up-down, 15 down-up, 35 down-down.
        let mut pred = Vec::new();
        let mut act = Vec::new();
        for (p, a, k) in [
            (true, true, 40),
            (true, false, 10),
            (false, true, 15),
            (false, false, 35),
        ] {
            for _ in 0..k {
                pred.push(p);
                act.push(a);
            }
        }
        // px = 0.5, py = 0.55, p = 0.75, p* = .55*.5 + .45*.5 = 0.5, var_p = .5*.5/100 = 0.0025,
        // var_p* = (2*.55-1)^2*.5*.5/100 + 0 + 4*.55*.5*.45*.5/100^2 = 0.000025 + 0.00002475,
        // stat = 0.25 / sqrt(0.0025 - 0.00004975) = 5.0505.
        let (stat, p) = pesaran_timmermann(&pred, &act).unwrap();
        assert!(
            (stat - 0.25 / 0.002_450_25f64.sqrt()).abs() < 1e-9,
            "{stat}"
        );
        assert!((stat - 5.050_5).abs() < 1e-3);
        assert!(p < 1e-6);
        // Independent calls are not significant.
        let pred: Vec<bool> = (0..200).map(|i| i % 2 == 0).collect();
        let act: Vec<bool> = (0..200).map(|i| (i / 2) % 2 == 0).collect();
        let (stat, p) = pesaran_timmermann(&pred, &act).unwrap();
        assert!(stat.abs() < 0.2 && p > 0.4, "{stat} {p}");
        assert!(
            pesaran_timmermann(&[true; 10], &act[..10]).is_none(),
            "constant forecast"
        );
    }

    #[test]
    fn normal_tail_matches_tables() {
        assert!((normal_sf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_sf(1.959_964) - 0.025).abs() < 1e-6);
        assert!((normal_sf(-1.644_854) - 0.95).abs() < 1e-6);
    }

    #[test]
    fn cholesky_solves() {
        let a = vec![4.0, 2.0, 2.0, 3.0];
        let w = solve_spd(a, vec![2.0, 1.0], 2).unwrap();
        assert!((w[0] - 0.5).abs() < 1e-12 && w[1].abs() < 1e-12);
        assert!(solve_spd(vec![0.0, 0.0, 0.0, 0.0], vec![1.0, 1.0], 2).is_none());
    }
}
