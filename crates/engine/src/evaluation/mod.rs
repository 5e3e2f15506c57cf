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

//!
//! Files: [`metrics`] (every metric of one forecast on a window), [`direction`] (the direction
//! figures and the Pesaran-Timmermann test, withheld when meaningless), [`ridge`] (the ridge
//! baseline); this file holds the windows, the paired comparisons and a split's evaluation.

mod direction;
mod metrics;
mod ridge;

pub use self::direction::{direction_withheld, pesaran_timmermann};
pub use self::metrics::{direction_positions, metrics};
pub use self::ridge::{RIDGE_MAX_COLUMNS, RidgeBaseline};
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
    use super::direction::directional;
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
