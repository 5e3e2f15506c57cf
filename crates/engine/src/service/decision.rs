//! "Is it worth deploying?": a version's forecasts traded after costs with the deflated Sharpe
//! ratio counted over the registry's trials on its series, several versions judged at once
//! (the model confidence set and Holm-adjusted verdicts) on their common test windows, and
//! forward tests on candles that closed after a version's data ended, with champion against
//! challenger.

use atb_models::burn::prelude::Device;
use atb_protocol::backtest::{Backtest, BacktestReport, BacktestSpec};
use atb_protocol::selection::{JudgedComparison, JudgedVersion, MCS_ALPHA, McsStatistic, holm};
use atb_protocol::verdict::verdict_with;

use atb_protocol::forward::{
    FORWARD_MIN_WINDOWS, ForwardEvaluation, ForwardPair, ForwardReport, ForwardResult,
};
use atb_protocol::verdict::verdict_of;
use chrono::Utc;

use crate::backtest::{Signals, backtest as run_backtest, deflated_sharpe};
use crate::error::{Error, Result};
use crate::evaluation::{EvaluationWindow, Forecast, compare_nested, metrics};
use crate::inference::{TestForecasts, forward_forecasts, test_forecasts};
use crate::registry::Registry;
use crate::settings::Settings;
use crate::stats::{Loss, diebold_mariano, skill_interval};

/// A version's test-split forecasts traded with `spec`, with the deflated Sharpe of each model
/// rule: the trials are the registry's versions of the same symbol and timeframe, and the
/// variance of their Sharpe ratios comes from their stored backtests when two or more have one.
pub async fn backtest(
    settings: &Settings,
    reference: &str,
    spec: &BacktestSpec,
) -> Result<BacktestReport> {
    let device = Device::flex();
    let registry = Registry::open(settings)?;
    let loaded = registry.load(reference, &device)?;
    let f = test_forecasts(settings, &loaded, &device).await?;
    let backtest = run_backtest(&signals(&f), f.horizon, f.bar_ms, spec).ok_or_else(|| {
        Error::TooLittleData(format!(
            "{} has {} test windows at horizon {}: a backtest needs at least two \
             non-overlapping periods",
            f.version_id,
            f.actual.len(),
            f.horizon
        ))
    })?;
    // The registry's versions of this series, each read once: how many models were tried, and
    // the stored backtests whose Sharpe ratios vary across them.
    let trials: Vec<Option<Backtest>> = registry
        .list(Some(loaded.row.symbol.as_str()))?
        .into_iter()
        .filter(|r| r.timeframe == loaded.row.timeframe)
        .map(|row| {
            let metadata = registry.metadata(&row).ok()?;
            registry.evaluation(&row, &metadata).ok()?.backtest
        })
        .collect();
    let deflated = spec
        .positions()
        .into_iter()
        .map(|positions| {
            // Per-period Sharpe of every trial with a stored backtest of this rule.
            let sharpes: Vec<f64> = trials
                .iter()
                .flatten()
                .filter_map(|b| {
                    let m = b.model(positions)?.moments;
                    (m.std > 0.0).then(|| m.mean / m.std)
                })
                .collect();
            let model = backtest.model(positions);
            let dsr = model.and_then(|s| deflated_sharpe(&s.moments, trials.len(), &sharpes));
            (positions, dsr)
        })
        .collect();
    Ok(BacktestReport {
        version_id: loaded.row.version_id.clone(),
        backtest,
        deflated,
    })
}

/// Several versions judged together: every version's test forecasts rebuilt, refused with the
/// reason unless all were tested on the same windows; then the model confidence set over the
/// versions, persistence and drift, and each version's DM tests against persistence and drift
/// with Holm's adjustment across them all. (Ridge is not refitted here; its stored, unadjusted
/// verdict stays in each version's evaluation.)
pub async fn judge(settings: &Settings, references: &[String]) -> Result<JudgedComparison> {
    let device = Device::flex();
    let registry = Registry::open(settings)?;
    let loaded = references
        .iter()
        .map(|reference| registry.load(reference, &device))
        .collect::<Result<Vec<_>>>()?;
    let Some(head) = loaded.first() else {
        return Err(Error::InvalidRequest("name at least one version".into()));
    };
    if let Some(why) = loaded
        .iter()
        .find_map(|other| super::models::different_windows(head, other))
    {
        return Err(Error::InvalidRequest(format!(
            "{why}: nothing comparable has been measured, so they cannot be judged together; \
             compare versions trained on the same series, range, split and horizon"
        )));
    }
    let mut all: Vec<TestForecasts> = Vec::with_capacity(loaded.len());
    for version in &loaded {
        all.push(test_forecasts(settings, version, &device).await?);
    }
    let first = &all[0];
    let h = first.horizon;
    let persistence = first.price_errors(|_| 0.0);
    let mut names = Vec::new();
    let mut losses = Vec::new();
    let mut tests = Vec::new();
    let mut skills = Vec::new();
    for f in &all {
        let model = f.price_errors(|i| f.forecast[i]);
        // Each version's own drift: its training split's mean return.
        let drift = f.price_errors(|_| f.drift);
        for baseline in [&persistence, &drift] {
            tests.push(diebold_mariano(&model, baseline, h, Loss::Absolute));
            skills.push(skill_interval(&model, baseline, h));
        }
        names.push(f.version_id.clone());
        losses.push(model.iter().map(|e| e.abs()).collect::<Vec<f64>>());
    }
    names.push("persistence".into());
    losses.push(persistence.iter().map(|e| e.abs()).collect());
    // In the set, the first version's drift stands for the baseline.
    names.push("drift".into());
    losses.push(
        first
            .price_errors(|_| first.drift)
            .iter()
            .map(|e| e.abs())
            .collect(),
    );
    let model_confidence_set = crate::selection::model_confidence_set(
        &names,
        &losses,
        h,
        McsStatistic::Max,
        MCS_ALPHA,
        "absolute price error",
    );
    let p: Vec<f64> = tests
        .iter()
        .map(|t| t.map_or(f64::NAN, |t| t.p_value))
        .collect();
    let adjusted = holm(&p);
    let verdicts = all
        .iter()
        .enumerate()
        .map(|(k, f)| {
            let at = |j: usize| {
                let i = 2 * k + j;
                (tests[i], skills[i], adjusted[i])
            };
            let (tp, sp, ap) = at(0);
            let (td, sd, ad) = at(1);
            JudgedVersion {
                version_id: f.version_id.clone(),
                vs_persistence: verdict_with("persistence", tp.as_ref(), sp.as_ref(), Some(ap)),
                vs_drift: verdict_with("drift", td.as_ref(), sd.as_ref(), Some(ad)),
            }
        })
        .collect();
    Ok(JudgedComparison {
        windows: first.actual.len(),
        model_confidence_set,
        verdicts,
        tests_adjusted: p.iter().filter(|p| p.is_finite()).count(),
    })
}

/// The signals of a run of windows, for the backtest.
fn signals(f: &TestForecasts) -> Signals<'_> {
    Signals {
        forecast: &f.forecast,
        actual: &f.actual,
        last_move: &f.last_move,
        entry_ms: &f.entry_ms,
        exit_ms: &f.exit_ms,
    }
}

/// A version's forward windows scored like its test split: metrics beside persistence and
/// drift, the paired tests (DM, Clark-West, the skill interval) and the default backtest, once
/// there are `FORWARD_MIN_WINDOWS`. MASE is scaled by persistence's error on these same
/// windows (the training split is not reloaded here), so persistence scores exactly 1.
fn score_forward(data_end_ms: i64, f: &TestForecasts) -> ForwardResult {
    let windows = f.actual.len();
    let evaluation = (windows >= FORWARD_MIN_WINDOWS).then(|| {
        let scale = f.actual.iter().map(|a| a.abs()).sum::<f64>() / windows as f64;
        let w = EvaluationWindow {
            closes: &f.entry_close,
            actual: &f.actual,
            naive_train_mae_return: scale,
            horizon: f.horizon,
        };
        let zeros = vec![0.0; windows];
        let drift = vec![f.drift; windows];
        let model_errors = f.price_errors(|i| f.forecast[i]);
        let persistence_errors = f.price_errors(|_| 0.0);
        let drift_errors = f.price_errors(|_| f.drift);
        ForwardEvaluation {
            model: metrics(
                &Forecast {
                    returns: &f.forecast,
                },
                &w,
            ),
            persistence: metrics(&Forecast { returns: &zeros }, &w),
            drift: metrics(&Forecast { returns: &drift }, &w),
            vs_persistence: compare_nested(
                &model_errors,
                &persistence_errors,
                &w,
                &f.forecast,
                &zeros,
            ),
            vs_drift: compare_nested(&model_errors, &drift_errors, &w, &f.forecast, &drift),
            backtest: run_backtest(&signals(f), f.horizon, f.bar_ms, &BacktestSpec::default()),
        }
    });
    ForwardResult {
        version_id: f.version_id.clone(),
        data_end_ms,
        windows,
        needed: FORWARD_MIN_WINDOWS,
        first_target_ms: f.exit_ms.first().copied(),
        last_target_ms: f.exit_ms.last().copied(),
        tested_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        evaluation,
    }
}

/// Forward-tests `references`: each scored on the windows whose target closed after its own
/// data ended (new Binance candles are fetched first), the result stored beside the version;
/// with two or more versions of one series and horizon, the first (champion) against the
/// second (challenger) on the forward windows they share.
pub async fn forward_test(settings: &Settings, references: &[String]) -> Result<ForwardReport> {
    let device = Device::flex();
    let mut registry = Registry::open(settings)?;
    let mut tested = Vec::with_capacity(references.len());
    for reference in references {
        let loaded = registry.load(reference, &device)?;
        let f = forward_forecasts(settings, &loaded, &device).await?;
        let result = score_forward(loaded.metadata.dataset.last_candle_open_ms, &f);
        registry.store_forward(&result)?;
        tested.push((loaded.row, f, result));
    }
    let pair = match tested.as_slice() {
        [(a, fa, _), (b, fb, _), ..]
            if a.symbol == b.symbol && a.timeframe == b.timeframe && fa.horizon == fb.horizon =>
        {
            Some(champion_against_challenger(fa, fb))
        }
        _ => None,
    };
    Ok(ForwardReport {
        results: tested.into_iter().map(|(_, _, r)| r).collect(),
        pair,
    })
}

/// `a` against `b` on the forward windows both have (the same target candle and entry close).
fn champion_against_challenger(a: &TestForecasts, b: &TestForecasts) -> ForwardPair {
    let mut ea = Vec::new();
    let mut eb = Vec::new();
    for (i, exit) in a.exit_ms.iter().enumerate() {
        if let Ok(j) = b.exit_ms.binary_search(exit)
            && b.entry_close[j] == a.entry_close[i]
        {
            let price = |f: &TestForecasts, k: usize| {
                f.entry_close[k] * (f.forecast[k].exp() - f.actual[k].exp())
            };
            ea.push(price(a, i));
            eb.push(price(b, j));
        }
    }
    let test = (ea.len() >= FORWARD_MIN_WINDOWS)
        .then(|| diebold_mariano(&ea, &eb, a.horizon, Loss::Absolute))
        .flatten();
    ForwardPair {
        first: a.version_id.clone(),
        second: b.version_id.clone(),
        windows: ea.len(),
        verdict: verdict_of(
            &b.version_id,
            test.as_ref(),
            skill_interval(&ea, &eb, a.horizon).as_ref(),
        ),
        test,
    }
}
