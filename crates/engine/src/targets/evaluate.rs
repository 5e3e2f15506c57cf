//! A volatility or direction model's test split scored beside its baselines: the baselines are
//! fitted on the training split (and EWMA's decay chosen on validation), every forecast is
//! scored on the same test windows, and the model is compared with each baseline by the
//! Diebold-Mariano test on the target's own loss (QLIKE, log loss) at the run's horizon.

use atb_protocol::targets::{
    DirectionEvaluation, DirectionScores, LossComparison, MincerZarnowitzFit, ReliabilityRow,
    VolatilityEvaluation, VolatilityScores,
};

use super::direction::{LastMove, accuracy, brier_decomposition, climatology, log_loss};
use super::labels::{direction_label, realised_volatility};
use super::volatility::{
    HarRv, HarSpans, RISKMETRICS_DECAY, SquaredSums, choose_decay, ewma_forecast, ewma_variances,
    mincer_zarnowitz, persistence, qlike, squared_error,
};
use crate::stats::{diebold_mariano_on, skill_interval};

/// The windows of one run, by the bar each ends at, and its horizon.
pub struct TargetWindows<'a> {
    pub closes: &'a [f64],
    /// `r[i] = ln(closes[i] / closes[i - 1])` (see [`super::labels::log_returns`]).
    pub returns: &'a [f64],
    pub train: &'a [usize],
    pub validation: &'a [usize],
    pub test: &'a [usize],
    pub horizon: usize,
}

/// The model against a baseline from their per-window losses (same windows, in order).
pub fn loss_comparison(model: &[f64], baseline: &[f64], horizon: usize) -> LossComparison {
    let d: Vec<f64> = model.iter().zip(baseline).map(|(a, b)| a - b).collect();
    LossComparison {
        test: diebold_mariano_on(&d, horizon),
        skill: skill_interval(model, baseline, horizon),
    }
}

fn volatility_scores(realised: &[f64], forecast: &[f64]) -> (VolatilityScores, Vec<f64>) {
    let rv2: Vec<f64> = realised.iter().map(|v| v * v).collect();
    let f2: Vec<f64> = forecast.iter().map(|v| v * v).collect();
    let losses: Vec<f64> = rv2.iter().zip(&f2).map(|(r, f)| qlike(*r, *f)).collect();
    let n = losses.len().max(1) as f64;
    let scores = VolatilityScores {
        qlike: losses.iter().sum::<f64>() / n,
        mse_variance: rv2
            .iter()
            .zip(&f2)
            .map(|(r, f)| squared_error(*r, *f))
            .sum::<f64>()
            / n,
        mincer_zarnowitz: mincer_zarnowitz(&rv2, &f2).map(|m| MincerZarnowitzFit {
            intercept: m.intercept,
            slope: m.slope,
            r_squared: m.r_squared,
        }),
    };
    (scores, losses)
}

/// Scores `model` (the forecast RV of each test window, in order) beside persistence, EWMA
/// (RiskMetrics' decay and the decay validation chooses) and HAR-RV. Test windows without a
/// label or without h bars of history are left out of every row alike.
pub fn evaluate_volatility(
    w: &TargetWindows<'_>,
    spans: HarSpans,
    model: &[f64],
    ridge: Option<&[f64]>,
) -> VolatilityEvaluation {
    let h = w.horizon;
    let last_training_bar = w.train.iter().copied().max().unwrap_or(0);
    let training_bars = &w.returns[1..=last_training_bar.max(1).min(w.returns.len() - 1)];
    let initial =
        training_bars.iter().map(|r| r * r).sum::<f64>() / training_bars.len().max(1) as f64;
    let decay = choose_decay(w.returns, initial, w.validation, h).unwrap_or(RISKMETRICS_DECAY);
    let fixed = ewma_variances(w.returns, RISKMETRICS_DECAY, initial);
    let validated = ewma_variances(w.returns, decay, initial);
    let har = HarRv::fit(w.returns, w.train, h, spans);
    let sums = SquaredSums::new(w.returns);

    let mut realised = Vec::new();
    let mut rows: [Vec<f64>; 4] = Default::default();
    let mut har_row = Vec::new();
    let mut model_row = Vec::new();
    let mut ridge_row = Vec::new();
    for (i, (&t, &m)) in w.test.iter().zip(model).enumerate() {
        let (Some(rv), Some(p)) = (
            realised_volatility(w.returns, t, h),
            persistence(w.returns, t, h),
        ) else {
            continue;
        };
        realised.push(rv);
        model_row.push(m);
        rows[0].push(p);
        rows[1].push(ewma_forecast(&fixed, t, h));
        rows[2].push(ewma_forecast(&validated, t, h));
        if let Some(r) = ridge.and_then(|r| r.get(i)) {
            ridge_row.push(*r);
        }
        if let Some(f) = har.as_ref().and_then(|har| har.forecast(&sums, t, h)) {
            har_row.push(f);
        }
    }
    // HAR needs a month of history before each window; compare it only when it has them all.
    let har_complete = har.is_some() && har_row.len() == realised.len();
    let (model_scores, model_losses) = volatility_scores(&realised, &model_row);
    let (persistence_scores, persistence_losses) = volatility_scores(&realised, &rows[0]);
    let (ewma_scores, ewma_losses) = volatility_scores(&realised, &rows[1]);
    let (validated_scores, _) = volatility_scores(&realised, &rows[2]);
    let har_scored = har_complete.then(|| volatility_scores(&realised, &har_row));
    let ridge_scored =
        (ridge_row.len() == realised.len()).then(|| volatility_scores(&realised, &ridge_row));
    VolatilityEvaluation {
        windows: realised.len(),
        model: model_scores,
        persistence: persistence_scores,
        ewma: ewma_scores,
        ewma_validated: validated_scores,
        ewma_decay: decay,
        har: har_scored.as_ref().map(|s| s.0),
        har_coefficients: har
            .as_ref()
            .filter(|_| har_complete)
            .map(|h| h.coefficients),
        har_spans: [spans.day, spans.week, spans.month],
        vs_persistence: Some(loss_comparison(&model_losses, &persistence_losses, h)),
        vs_ewma: Some(loss_comparison(&model_losses, &ewma_losses, h)),
        vs_har: har_scored.map(|(_, losses)| loss_comparison(&model_losses, &losses, h)),
        ridge: ridge_scored.as_ref().map(|s| s.0),
        vs_ridge: ridge_scored.map(|(_, losses)| loss_comparison(&model_losses, &losses, h)),
    }
}

fn direction_scores(p: &[f64], labels: &[f64]) -> (DirectionScores, Vec<f64>) {
    let d = brier_decomposition(p, labels);
    let losses: Vec<f64> = p
        .iter()
        .zip(labels)
        .map(|(p, y)| log_loss(&[*p], &[*y]))
        .collect();
    let scores = DirectionScores {
        log_loss: log_loss(p, labels),
        brier: d.brier,
        reliability: d.reliability,
        resolution: d.resolution,
        uncertainty: d.uncertainty,
        accuracy: accuracy(p, labels),
    };
    (scores, losses)
}

/// Scores `model` (the probability of an up move for each test window, in order) beside
/// climatology and the last move, both fitted on the training split.
pub fn evaluate_direction(
    w: &TargetWindows<'_>,
    model: &[f64],
    logistic: Option<&[f64]>,
) -> DirectionEvaluation {
    let h = w.horizon;
    let last_up = |t: usize| t >= h && w.closes[t] > w.closes[t - h];
    let training: Vec<(bool, f64)> = w
        .train
        .iter()
        .filter(|&&t| t >= h)
        .filter_map(|&t| Some((last_up(t), direction_label(w.closes, t, h)?)))
        .collect();
    let labels_train: Vec<f64> = training.iter().map(|p| p.1).collect();
    let share = climatology(&labels_train).unwrap_or(0.5);
    let rule = LastMove::fit(&training).unwrap_or(LastMove {
        after_up: share,
        after_down: share,
    });
    let (mut labels, mut model_row, mut climate_row, mut last_row) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut logistic_row = Vec::new();
    for (i, (&t, &p)) in w.test.iter().zip(model).enumerate() {
        let Some(y) = direction_label(w.closes, t, h).filter(|_| t >= h) else {
            continue;
        };
        labels.push(y);
        model_row.push(p);
        climate_row.push(share);
        last_row.push(rule.forecast(last_up(t)));
        if let Some(q) = logistic.and_then(|l| l.get(i)) {
            logistic_row.push(*q);
        }
    }
    let (model_scores, model_losses) = direction_scores(&model_row, &labels);
    let (climate_scores, climate_losses) = direction_scores(&climate_row, &labels);
    let (last_scores, last_losses) = direction_scores(&last_row, &labels);
    let logistic_scored =
        (logistic_row.len() == labels.len()).then(|| direction_scores(&logistic_row, &labels));
    let table = brier_decomposition(&model_row, &labels)
        .bins
        .iter()
        .map(|b| ReliabilityRow {
            low: b.low,
            high: b.high,
            windows: b.windows,
            mean_forecast: b.mean_forecast,
            observed: b.observed,
        })
        .collect();
    DirectionEvaluation {
        windows: labels.len(),
        up_share: climatology(&labels).unwrap_or(0.0),
        model: model_scores,
        climatology: climate_scores,
        last_move: last_scores,
        reliability_table: table,
        vs_climatology: Some(loss_comparison(&model_losses, &climate_losses, h)),
        vs_last_move: Some(loss_comparison(&model_losses, &last_losses, h)),
        logistic: logistic_scored.as_ref().map(|s| s.0),
        vs_logistic: logistic_scored.map(|(_, losses)| loss_comparison(&model_losses, &losses, h)),
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::targets::labels::log_returns;
    use crate::targets::simulated::garch;

    fn closes_from(returns: &[f64]) -> Vec<f64> {
        let mut c = 100.0;
        returns
            .iter()
            .map(|r| {
                c *= r.exp();
                c
            })
            .collect()
    }

    #[test]
    fn a_volatility_model_is_scored_beside_every_baseline_on_the_same_windows() {
        let closes = closes_from(&garch(10_000, 21));
        let returns = log_returns(&closes);
        let h = 4;
        let (train, validation, test): (Vec<usize>, Vec<usize>, Vec<usize>) = (
            (0..6_000).collect(),
            (6_004..8_000).collect(),
            (8_004..9_990).collect(),
        );
        let w = TargetWindows {
            closes: &closes,
            returns: &returns,
            train: &train,
            validation: &validation,
            test: &test,
            horizon: h,
        };
        let spans = HarSpans {
            day: 24,
            week: 168,
            month: 720,
        };
        // The "model" is HAR itself: its row equals HAR's, beats persistence, and its test
        // against HAR has nothing to test.
        let har = HarRv::fit(&returns, &train, h, spans).unwrap();
        let sums = SquaredSums::new(&returns);
        let model: Vec<f64> = test
            .iter()
            .map(|&t| har.forecast(&sums, t, h).unwrap())
            .collect();
        let e = evaluate_volatility(&w, spans, &model, None);
        assert_eq!(e.windows, test.len());
        assert_eq!(e.har, Some(e.model));
        assert!(e.vs_har.unwrap().test.is_none(), "{:?}", e.vs_har);
        let vs = e.vs_persistence.unwrap().test.unwrap();
        assert!(vs.statistic < 0.0 && vs.p_value < 0.01, "{vs:?}");
        assert!(e.model.qlike < e.persistence.qlike);
        assert!(e.ewma.qlike < e.persistence.qlike);
        let mz = e.model.mincer_zarnowitz.unwrap();
        assert!(mz.r_squared > 0.0 && mz.slope > 0.3, "{mz:?}");
        assert!(e.ewma_decay > 0.0 && e.ewma_decay < 1.0);
    }

    #[test]
    fn a_direction_model_with_the_true_probabilities_beats_climatology() {
        // Ups follow ups with probability 0.65, downs with 0.35 (h = 1).
        let mut rng = StdRng::seed_from_u64(8);
        let mut up = false;
        let mut returns = vec![0.0];
        let mut truth = vec![0.5];
        for _ in 1..8_000 {
            let p = if up { 0.65 } else { 0.35 };
            truth.push(p);
            up = rng.random::<f64>() < p;
            returns.push(if up { 0.001 } else { -0.001 });
        }
        let closes = closes_from(&returns);
        let (train, validation, test): (Vec<usize>, Vec<usize>, Vec<usize>) = (
            (1..5_000).collect(),
            (5_001..6_000).collect(),
            (6_001..7_998).collect(),
        );
        let w = TargetWindows {
            closes: &closes,
            returns: &returns,
            train: &train,
            validation: &validation,
            test: &test,
            horizon: 1,
        };
        // The probability of bar t + 1 rising, known at bar t.
        let model: Vec<f64> = test.iter().map(|&t| truth[t + 1]).collect();
        let e = evaluate_direction(&w, &model, None);
        assert_eq!(e.windows, test.len());
        let vs = e.vs_climatology.unwrap().test.unwrap();
        assert!(vs.statistic < 0.0 && vs.p_value < 0.001, "{vs:?}");
        // The last move is exactly this rule, fitted: no significant difference from it.
        let vs = e.vs_last_move.unwrap().test;
        assert!(vs.is_none_or(|t| t.p_value > 0.01), "{vs:?}");
        for row in &e.reliability_table {
            assert!((row.mean_forecast - row.observed).abs() < 0.05, "{row:?}");
        }
        assert!(e.model.accuracy > 0.6, "{:?}", e.model);
    }
}
