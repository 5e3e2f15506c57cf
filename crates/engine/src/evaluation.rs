//! Honest evaluation: every metric of the model beside the persistence (next close = this
//! close), drift (training mean return) and ridge baselines on the same windows, in price and
//! return space; paired Diebold-Mariano tests and bootstrap skill intervals against persistence
//! ridge and drift (`stats`), with Clark-West beside them for the nested persistence and drift;
//! direction metrics on non-overlapping targets with the Pesaran-Timmermann test, withheld (with
//! the reason) when there are too few windows or the forecast (almost) never changes sign; and
//! the forecasts traded after costs (`backtest`).
//!
//! The ridge baseline is given a fair chance: its penalty is searched on the validation split
//! over a grid that keeps extending while the validation error still falls, and the choice is
//! recorded. Its memory is bounded for every setting: at most `RIDGE_MAX_COLUMNS` input columns
//! (the last bars of each window when a window is longer), a Gram matrix of that size built from
//! blocks of rows, and validation rows rebuilt one at a time for each penalty tried.

use atb_protocol::backtest::{Backtest, BacktestSpec};
use atb_protocol::training::{
    Comparison, DIRECTION_MIN_SIGN_SHARE, DIRECTION_MIN_WINDOWS, DirectionWithheld, Metrics,
    RidgeChoice, SplitEvaluation,
};

use crate::backtest::{Signals, backtest};
use crate::dataset::PreparedData;
pub use crate::stats::normal_sf;
use crate::stats::{Loss, clark_west, diebold_mariano, skill_interval, solve_spd};

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
    /// The training split's mean absolute h-step log return: the MASE scale.
    pub naive_train_mae_return: f64,
    /// Forecast horizon in bars: direction metrics use every h-th window.
    pub horizon: usize,
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

/// Price errors (predicted close - actual close) of return forecasts on a window.
pub fn usd_errors(returns: &[f64], w: &EvaluationWindow<'_>) -> Vec<f64> {
    returns
        .iter()
        .zip(w.actual)
        .zip(w.closes)
        .map(|((p, a), c)| c * p.exp() - c * a.exp())
        .collect()
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

/// Positions of the windows the direction metrics use: every h-th (so targets do not overlap)
/// whose actual move is not exactly zero.
pub fn direction_positions(actual: &[f64], horizon: usize) -> Vec<usize> {
    (0..actual.len())
        .step_by(horizon.max(1))
        .filter(|&i| actual[i] != 0.0)
        .collect()
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
    let positions = direction_positions(w.actual, w.horizon);
    let withheld = direction_withheld(forecast.returns, &positions);
    let direction = match withheld {
        None => directional(forecast.returns, w.actual, &positions),
        Some(_) => None,
    };
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
        mase: if w.naive_train_mae_return > 0.0 {
            return_mae / w.naive_train_mae_return
        } else {
            f64::NAN
        },
        direction_withheld: withheld,
    }
}

/// Why the direction figures of `predicted` on `positions` (non-overlapping windows) would mean
/// nothing, if they would: no call at all, fewer than `DIRECTION_MIN_WINDOWS` windows, or a
/// forecast whose rarer sign falls on under `DIRECTION_MIN_SIGN_SHARE` of them (its hit rate
/// is then the share of moves in its usual direction, not a skill).
pub fn direction_withheld(predicted: &[f64], positions: &[usize]) -> Option<DirectionWithheld> {
    if positions.iter().all(|&i| predicted[i] == 0.0) {
        return Some(DirectionWithheld::NoCalls);
    }
    if positions.len() < DIRECTION_MIN_WINDOWS {
        return Some(DirectionWithheld::TooFewWindows {
            windows: positions.len(),
            needed: DIRECTION_MIN_WINDOWS,
        });
    }
    let count = |up: bool| {
        positions
            .iter()
            .filter(|&&i| {
                if up {
                    predicted[i] > 0.0
                } else {
                    predicted[i] < 0.0
                }
            })
            .count()
    };
    let minority_share = count(true).min(count(false)) as f64 / positions.len() as f64;
    (minority_share < DIRECTION_MIN_SIGN_SHARE).then_some(DirectionWithheld::OneSided {
        minority_share,
        needed: DIRECTION_MIN_SIGN_SHARE,
    })
}

/// Hit rate on `positions` and, when defined, the Pesaran-Timmermann (statistic, one-sided
/// p-value). `None` when the predictor never calls a direction (all zero) or no window is left.
fn directional(
    predicted: &[f64],
    actual: &[f64],
    positions: &[usize],
) -> Option<(f64, Option<(f64, f64)>)> {
    if positions.is_empty() || positions.iter().all(|&i| predicted[i] == 0.0) {
        return None;
    }
    let pred_up: Vec<bool> = positions.iter().map(|&i| predicted[i] > 0.0).collect();
    let act_up: Vec<bool> = positions.iter().map(|&i| actual[i] > 0.0).collect();
    let hits = pred_up.iter().zip(&act_up).filter(|(p, a)| p == a).count();
    let hit_rate = hits as f64 / positions.len() as f64;
    Some((hit_rate, pesaran_timmermann(&pred_up, &act_up)))
}

/// Pesaran & Timmermann (1992) test of independence between predicted and actual directions:
/// (statistic, one-sided p-value). `None` when undefined: fewer than two calls, or the forecasts
/// or the outcomes all one way (decided by counting, not by a variance that cancels to 1e-19).
pub fn pesaran_timmermann(pred_up: &[bool], act_up: &[bool]) -> Option<(f64, f64)> {
    let count = pred_up.len();
    if count < 2 {
        return None;
    }
    let ups = |v: &[bool]| v.iter().filter(|b| **b).count();
    let (pred_ups, act_ups) = (ups(pred_up), ups(act_up));
    if pred_ups == 0 || pred_ups == count || act_ups == 0 || act_ups == count {
        return None;
    }
    let n = count as f64;
    let (px, py) = (pred_ups as f64 / n, act_ups as f64 / n);
    let p = pred_up.iter().zip(act_up).filter(|(a, b)| a == b).count() as f64 / n;
    let p_star = py * px + (1.0 - py) * (1.0 - px);
    let var_p = p_star * (1.0 - p_star) / n;
    let var_p_star = (2.0 * py - 1.0).powi(2) * px * (1.0 - px) / n
        + (2.0 * px - 1.0).powi(2) * py * (1.0 - py) / n
        + 4.0 * py * px * (1.0 - py) * (1.0 - px) / (n * n);
    let var = var_p - var_p_star;
    if !(var > 1e-12) {
        return None;
    }
    let stat = (p - p_star) / var.sqrt();
    Some((stat, normal_sf(stat)))
}

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

/// The model against one baseline: Diebold-Mariano tests on absolute and squared price errors,
/// and the skill interval (no Clark-West: see [`compare_nested`]).
pub fn compare(model_errors: &[f64], baseline_errors: &[f64], horizon: usize) -> Comparison {
    Comparison {
        absolute: diebold_mariano(model_errors, baseline_errors, horizon, Loss::Absolute),
        squared: diebold_mariano(model_errors, baseline_errors, horizon, Loss::Squared),
        skill: skill_interval(model_errors, baseline_errors, horizon),
        clark_west: None,
    }
}

/// [`compare`] against a baseline nested in the model (persistence's zero return, drift's
/// constant), with the Clark-West test on the log-return forecasts beside the DM tests.
pub fn compare_nested(
    model_errors: &[f64],
    baseline_errors: &[f64],
    w: &EvaluationWindow<'_>,
    model_returns: &[f64],
    baseline_returns: &[f64],
) -> Comparison {
    Comparison {
        clark_west: clark_west(w.actual, baseline_returns, model_returns, w.horizon),
        ..compare(model_errors, baseline_errors, w.horizon)
    }
}

/// The training split's mean absolute h-step log return (the MASE scale).
pub fn naive_train_mae_return(data: &PreparedData) -> f64 {
    mean(data.samples.train.iter().map(|&t| data.returns[t].abs()))
}

/// The model's predicted returns on `samples` (a split's usable windows) beside the three
/// baselines, with paired tests against persistence and ridge.
pub fn evaluate_split(
    data: &PreparedData,
    samples: &[usize],
    model_returns: &[f64],
    ridge: &RidgeBaseline,
) -> SplitEvaluation {
    let closes: Vec<f64> = samples.iter().map(|&t| data.matrix.closes[t]).collect();
    let actual: Vec<f64> = samples.iter().map(|&t| data.returns[t]).collect();
    let horizon = data.target.horizon;
    let window = EvaluationWindow {
        closes: &closes,
        actual: &actual,
        naive_train_mae_return: naive_train_mae_return(data),
        horizon,
    };
    let zeros = vec![0.0; actual.len()];
    let drift = vec![data.target.mean; actual.len()];
    let ridge_returns: Vec<f64> = samples.iter().map(|&t| ridge.predict(data, t)).collect();
    let model_errors = usd_errors(model_returns, &window);
    let persistence_errors = usd_errors(&zeros, &window);
    let drift_errors = usd_errors(&drift, &window);
    let ridge_errors = usd_errors(&ridge_returns, &window);
    let n = actual.len();
    SplitEvaluation {
        samples: n,
        up_share: actual.iter().filter(|a| **a > 0.0).count() as f64 / n as f64,
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
        direction_samples: Some(direction_positions(&actual, horizon).len()),
        zero_move_share: Some(actual.iter().filter(|a| **a == 0.0).count() as f64 / n as f64),
        vs_persistence: Some(compare_nested(
            &model_errors,
            &persistence_errors,
            &window,
            model_returns,
            &zeros,
        )),
        vs_ridge: Some(compare(&model_errors, &ridge_errors, horizon)),
        vs_drift: Some(compare_nested(
            &model_errors,
            &drift_errors,
            &window,
            model_returns,
            &drift,
        )),
    }
}

/// The model's forecasts on `samples` traded with `spec` (see [`crate::backtest`]): entry at
/// each window's last close, exit at its target close; the reference rule's last move is the
/// log return of the h bars before the window's end (0 where the series starts later).
pub fn backtest_split(
    data: &PreparedData,
    samples: &[usize],
    model_returns: &[f64],
    spec: &BacktestSpec,
) -> Option<Backtest> {
    let h = data.target.horizon;
    let closes = &data.matrix.closes;
    let times = &data.matrix.open_times;
    let actual: Vec<f64> = samples.iter().map(|&t| data.returns[t]).collect();
    let last_move: Vec<f64> = samples
        .iter()
        .map(|&t| {
            if t >= h {
                (closes[t] / closes[t - h]).ln()
            } else {
                0.0
            }
        })
        .collect();
    let entry_ms: Vec<i64> = samples.iter().map(|&t| times[t]).collect();
    let exit_ms: Vec<i64> = samples.iter().map(|&t| times[t + h]).collect();
    // The bar length: the smallest step between rows (a gap only makes a step longer).
    let bar_ms = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 0)
        .min()?;
    backtest(
        &Signals {
            forecast: model_returns,
            actual: &actual,
            last_move: &last_move,
            entry_ms: &entry_ms,
            exit_ms: &exit_ms,
        },
        h,
        bar_ms,
        spec,
    )
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
            naive_train_mae_return: 0.05,
            horizon: 1,
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
        // MASE in return space: mean |p - a| / 0.05.
        let return_mae =
            ((predicted[0] - actual[0]).abs() + (predicted[1] - actual[1]).abs()) / 2.0;
        assert!((m.mase - return_mae / 0.05).abs() < 1e-9);
        // Two windows: a hit rate on two calls is not a figure.
        assert_eq!(m.directional_accuracy, None);
        assert_eq!(
            m.direction_withheld,
            Some(DirectionWithheld::TooFewWindows {
                windows: 2,
                needed: DIRECTION_MIN_WINDOWS
            })
        );
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
        assert_eq!(p.direction_withheld, Some(DirectionWithheld::NoCalls));
    }

    #[test]
    fn direction_is_withheld_for_one_sided_forecasts() {
        // 40 non-overlapping windows, alternating moves.
        let actual: Vec<f64> = (0..40)
            .map(|i| if i % 2 == 0 { 0.01 } else { -0.01 })
            .collect();
        let positions = direction_positions(&actual, 1);
        // "Up" on 39 windows and "down" on one (2.5% < 5%): withheld, whatever its hit rate.
        let mut up: Vec<f64> = vec![0.001; 40];
        up[5] = -0.001;
        match direction_withheld(&up, &positions) {
            Some(DirectionWithheld::OneSided { minority_share, .. }) => {
                assert!((minority_share - 0.025).abs() < 1e-12)
            }
            other => panic!("expected one-sided, got {other:?}"),
        }
        let w = EvaluationWindow {
            closes: &[100.0; 40],
            actual: &actual,
            naive_train_mae_return: 0.01,
            horizon: 1,
        };
        let m = metrics(&Forecast { returns: &up }, &w);
        assert_eq!(m.directional_accuracy, None);
        assert!(
            m.direction_withheld
                .unwrap()
                .sentence()
                .contains("one sign on 97.5%")
        );
        // Both signs on at least 5% of windows (2 of 40): the figures are given.
        up[7] = -0.001;
        let m = metrics(&Forecast { returns: &up }, &w);
        assert_eq!(m.direction_withheld, None);
        assert!(m.directional_accuracy.is_some());
    }

    #[test]
    fn direction_uses_every_hth_window_and_skips_zero_moves() {
        let actual = [0.1, 0.2, 0.0, -0.1, 0.0, 0.3, 0.1];
        assert_eq!(direction_positions(&actual, 1), vec![0, 1, 3, 5, 6]);
        assert_eq!(direction_positions(&actual, 2), vec![0, 6]);
        assert_eq!(direction_positions(&actual, 3), vec![0, 3, 6]);
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
        // Constant forecasts or outcomes are undefined, decided by counting.
        assert!(pesaran_timmermann(&[true; 10], &act[..10]).is_none());
        assert!(pesaran_timmermann(&[false; 10], &act[..10]).is_none());
        assert!(pesaran_timmermann(&pred[..10], &[true; 10]).is_none());
    }

    /// Random-walk prices, a past-h momentum call that knows nothing of the future, and the
    /// direction test on every h-th window: a 5% test rejects about 5% of the time.
    fn pt_rejection_rate(h: usize, replications: usize) -> f64 {
        use rand::SeedableRng;
        use rand::distr::{Distribution, StandardUniform};
        use rand::rngs::StdRng;
        let mut rng = StdRng::seed_from_u64(99 + h as u64);
        let mut normal = || -> f64 {
            let u1: f64 = StandardUniform.sample(&mut rng);
            let u2: f64 = StandardUniform.sample(&mut rng);
            (-2.0 * (1.0 - u1).ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        };
        let n = 1_200;
        let mut rejected = 0;
        for _ in 0..replications {
            let steps: Vec<f64> = (0..n + 2 * h).map(|_| normal()).collect();
            // Window t: past h steps predict the next h.
            let predicted: Vec<f64> = (0..n).map(|t| steps[t..t + h].iter().sum()).collect();
            let actual: Vec<f64> = (0..n)
                .map(|t| steps[t + h..t + 2 * h].iter().sum())
                .collect();
            let positions = direction_positions(&actual, h);
            if let Some((_, Some((_, p)))) = directional(&predicted, &actual, &positions)
                && p < 0.05
            {
                rejected += 1;
            }
        }
        rejected as f64 / replications as f64
    }

    #[test]
    fn the_direction_test_holds_its_size_for_overlapping_targets() {
        for h in [1, 4] {
            let rate = pt_rejection_rate(h, 1_000);
            assert!((0.03..=0.07).contains(&rate), "h = {h}: rejects {rate}");
        }
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
        // A 3 x 3 system against its known solution.
        let a = vec![25.0, 15.0, -5.0, 15.0, 18.0, 0.0, -5.0, 0.0, 11.0];
        let x = [1.0, -2.0, 3.0];
        let b: Vec<f64> = (0..3)
            .map(|i| (0..3).map(|j| a[i * 3 + j] * x[j]).sum())
            .collect();
        let w = solve_spd(a, b, 3).unwrap();
        for (w, x) in w.iter().zip(x) {
            assert!((w - x).abs() < 1e-10);
        }
    }

    #[test]
    fn ridge_columns_are_bounded_for_every_window_length() {
        assert_eq!(RidgeBaseline::bars(120, 5), 120);
        assert_eq!(RidgeBaseline::bars(10_000, 5), 204);
        assert_eq!(RidgeBaseline::bars(10_000, 12), 85);
        assert!(RidgeBaseline::bars(10_000, 12) * 12 <= RIDGE_MAX_COLUMNS);
        assert_eq!(RidgeBaseline::bars(3, 2_000), 1);
    }
}
