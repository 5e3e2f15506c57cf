//! `atb bench --feature-sets`: what a feature set adds to a model. Every requested (type,
//! variant) and seed is trained on the plain set (`price`) and on each set asked for, each
//! version registered under the `bench` tag; each set's run is judged against its plain twin by
//! Diebold-Mariano on the absolute price errors of the test windows both forecast, with Holm's
//! adjustment across every test of the table.
//!
//! A context market (`--context SYMBOL`) is one more arm: `price` with that market's columns
//! beside it, judged against the same plain twin.
//!
//! "The windows both forecast": a set with a longer warm-up (Daubechies-4 wavelets need 46
//! candles, price 24) starts its rows later, so its chronological split starts each part a few
//! windows later; the test splits end on the same last window. Pairing by target time keeps
//! exactly the common windows, and the report says how many.

use atb_models::burn::prelude::Device;
use atb_protocol::bench::{
    BenchSpec, FeatureBenchReport, FeatureBenchRun, adjust_feature_runs, inputs_label,
};
use atb_protocol::registry::ModelRow;
use atb_protocol::training::PairedTest;
use atb_protocol::vocab::{Architecture, FeatureSet, Symbol, Variant};
use chrono::Utc;

use super::measure::{BENCH_TAG, check_bench};
use super::targets::series_label;
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::features::flow::require_order_flow;
use crate::inference::{self, TestForecasts};
use crate::market::source::CandleSeries;
use crate::registry::Registry;
use crate::service::train::{TrainOptions, TrainResult, train_and_register};
use crate::settings::Settings;
use crate::stats::{Loss, diebold_mariano};
use crate::training::TrainSpec;

/// What the feature benchmark reports while it runs.
#[derive(Debug, Clone)]
pub enum FeatureBenchProgress {
    RunStarted {
        architecture: Architecture,
        variant: Variant,
        /// The feature set, with its context market when there is one (`price + BTCUSDT
        /// context`).
        inputs: String,
        seed: u64,
        index: usize,
        total: usize,
    },
}

/// Trains every pair and seed of `spec` on the plain set and on each of `spec.feature_sets`
/// (and on `price` with `spec.context`), pairs each run with its plain twin, and keeps the
/// report as `ATB_HOME/bench/features-latest.json`. Every set is checked against the series
/// before anything trains (order flow the candles lack is refused naming the fix). Blocking;
/// Cancel stops after the current batch, and the finished runs stay registered.
pub fn bench_features(
    settings: &Settings,
    series: &CandleSeries,
    spec: &BenchSpec,
    on_progress: &mut dyn FnMut(FeatureBenchProgress),
    cancel: &CancelToken,
) -> Result<FeatureBenchReport> {
    check_bench(spec)?;
    if !spec.is_feature_bench() {
        return Err(Error::InvalidRequest(
            "the feature benchmark needs a feature set or a context market to compare with price"
                .into(),
        ));
    }
    for &set in &spec.feature_sets {
        require_order_flow(series, set)?;
    }
    let pairs = spec.pairs();
    // Each arm: a feature set alone, or price with the context market.
    let arms: Vec<(FeatureSet, Option<Symbol>)> = spec
        .feature_sets
        .iter()
        .map(|&set| (set, None))
        .chain(spec.context.clone().map(|c| (FeatureSet::Price, Some(c))))
        .collect();
    let total = pairs.len() * spec.seeds * (1 + arms.len());
    let options = TrainOptions {
        tag: Some(BENCH_TAG.into()),
        set_latest: false,
        id_suffix: None,
    };
    let mut started = 0;
    let mut train = |params: &TrainSpec| -> Result<(ModelRow, f64)> {
        started += 1;
        on_progress(FeatureBenchProgress::RunStarted {
            architecture: params.architecture,
            variant: params.variant,
            inputs: inputs_label(params.feature_set, params.context.as_ref()),
            seed: params.seed,
            index: started,
            total,
        });
        let checked = crate::training::check_spec(params.clone())?;
        match train_and_register(settings, series, &checked, &options, &mut |_| {}, cancel)? {
            TrainResult::Registered { row, outcome } => Ok((*row, outcome.train_seconds)),
            TrainResult::Cancelled { .. } => Err(Error::Cancelled),
        }
    };
    let mut runs = Vec::new();
    for &(architecture, variant) in &pairs {
        for k in 0..spec.seeds {
            let plain_spec = TrainSpec {
                feature_set: FeatureSet::Price,
                ..spec.train_spec(architecture, variant, k)
            };
            let (plain_row, plain_seconds) = train(&plain_spec)?;
            let plain = test_forecasts(settings, &plain_row)?;
            for (feature_set, context) in arms.iter().cloned() {
                let (row, seconds) = train(&TrainSpec {
                    feature_set,
                    context: context.clone(),
                    ..plain_spec.clone()
                })?;
                let with_set = test_forecasts(settings, &row)?;
                let (errors, plain_errors) = common_errors(&with_set, &plain);
                let mae =
                    |e: &[f64]| e.iter().map(|x| x.abs()).sum::<f64>() / e.len().max(1) as f64;
                let test: Option<PairedTest> =
                    diebold_mariano(&errors, &plain_errors, spec.horizon, Loss::Absolute);
                runs.push(FeatureBenchRun {
                    architecture,
                    variant,
                    seed: plain_spec.seed,
                    feature_set,
                    context,
                    version_id: row.version_id,
                    plain_version_id: plain_row.version_id.clone(),
                    train_seconds: seconds,
                    plain_train_seconds: plain_seconds,
                    windows: errors.len(),
                    mae_usd: mae(&errors),
                    plain_mae_usd: mae(&plain_errors),
                    test,
                    adjusted_p: None,
                });
            }
        }
    }
    adjust_feature_runs(&mut runs);
    let report = FeatureBenchReport {
        created_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        atb_version: env!("CARGO_PKG_VERSION").into(),
        series: series_label(series),
        horizon: spec.horizon,
        epochs: spec.epochs,
        runs,
    };
    // Kept for the desktop's guide (its Phase 2 claims), as the return table is.
    super::keep(&report, &super::last_feature_report_path(settings))?;
    Ok(report)
}

/// A registered version's test windows, rebuilt from its recorded candles and predicted.
fn test_forecasts(settings: &Settings, row: &ModelRow) -> Result<TestForecasts> {
    let device = Device::flex();
    let loaded = Registry::open(settings)?.load(&row.version_id, &device)?;
    crate::service::block_on(inference::test_forecasts(settings, &loaded, &device))
}

/// The price errors of `a` and `b` on the windows both forecast (the same target time), in
/// time order.
pub fn common_errors(a: &TestForecasts, b: &TestForecasts) -> (Vec<f64>, Vec<f64>) {
    let (ea, eb) = (
        a.price_errors(|i| a.forecast[i]),
        b.price_errors(|i| b.forecast[i]),
    );
    let mut j = 0;
    let mut out = (Vec::new(), Vec::new());
    for (i, &t) in a.exit_ms.iter().enumerate() {
        while j < b.exit_ms.len() && b.exit_ms[j] < t {
            j += 1;
        }
        if b.exit_ms.get(j) == Some(&t) {
            out.0.push(ea[i]);
            out.1.push(eb[j]);
        }
    }
    out
}

/// The report as markdown: one row per run, the set against its plain twin.
pub fn feature_report_markdown(report: &FeatureBenchReport) -> String {
    let mut out = format!(
        "### Feature sets against the plain model (price): {}, h = {}, {} epochs\n\n",
        report.series, report.horizon, report.epochs
    );
    out.push_str(
        "| model | seed | feature set | windows | MAE (USD) | plain MAE (USD) | skill | train s | plain train s | verdict |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &report.runs {
        out.push_str(&format!(
            "| {} {} | {} | {} | {} | {:.2} | {:.2} | {} | {:.2} | {:.2} | {} |\n",
            r.architecture,
            r.variant,
            r.seed,
            r.inputs(),
            r.windows,
            r.mae_usd,
            r.plain_mae_usd,
            atb_protocol::verdict::format_signed_pct(r.skill()),
            r.train_seconds,
            r.plain_train_seconds,
            r.verdict().text,
        ));
    }
    let tests = report.runs.iter().filter(|r| r.test.is_some()).count();
    out.push_str(&format!(
        "\nVerdicts: Diebold-Mariano on the absolute price errors of the common test windows at 5%, \
         Holm-adjusted across the {tests} tests of this table. Skill is 1 - MAE(set) / MAE(plain).\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forecasts(exit_ms: &[i64], forecast: f64) -> TestForecasts {
        TestForecasts {
            version_id: "v".into(),
            horizon: 1,
            bar_ms: 1,
            entry_ms: exit_ms.iter().map(|t| t - 1).collect(),
            exit_ms: exit_ms.to_vec(),
            entry_close: vec![100.0; exit_ms.len()],
            forecast: vec![forecast; exit_ms.len()],
            actual: vec![0.0; exit_ms.len()],
            last_move: vec![0.0; exit_ms.len()],
            drift: 0.0,
        }
    }

    #[test]
    fn errors_pair_on_the_windows_both_forecast() {
        // The set's split starts two windows later and skips a gap the other has.
        let set = forecasts(&[3, 4, 6, 7], 0.01);
        let plain = forecasts(&[1, 2, 3, 4, 5, 6, 7], 0.02);
        let (a, b) = common_errors(&set, &plain);
        assert_eq!(a.len(), 4);
        assert_eq!(b.len(), 4);
        assert!((a[0] - 100.0 * (0.01f64.exp() - 1.0)).abs() < 1e-12);
        assert!((b[0] - 100.0 * (0.02f64.exp() - 1.0)).abs() < 1e-12);
        assert_eq!(common_errors(&forecasts(&[9], 0.0), &plain).0.len(), 0);
    }
}
