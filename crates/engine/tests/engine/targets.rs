//! The volatility and direction targets through the whole flow, for a network and for trees:
//! train, evaluate beside the target's own baselines, register under the target, reload,
//! predict in the target's units natively and from ONNX, and export with the head inside the
//! graph under the same parity check. The return-only paths refuse these versions by name.

use crate::common::{params, sample_tail};

use atb_engine::Settings;
use atb_engine::service::block_on;
use atb_engine::service::predict::{self, PredictWith};
use atb_engine::service::train::{TrainOptions, TrainResult, train_and_register};
use atb_engine::service::{decision, models};
use atb_engine::testing::training::{CancelToken, TrainSpec};
use atb_models::{Architecture, Variant};
use atb_protocol::backtest::BacktestSpec;
use atb_protocol::registry::ModelRow;
use atb_protocol::targets::{Prediction, TargetEvaluation};
use atb_protocol::vocab::{CandleSource, Target};

fn spec(architecture: Architecture, target: Target) -> TrainSpec {
    TrainSpec {
        sequence_length: 48,
        target,
        ..params(architecture, Variant::Lightweight, 2)
    }
}

#[test]
fn volatility_and_direction_models_train_register_predict_and_export() {
    let home = tempfile::tempdir().unwrap();
    let settings = Settings::resolve(home.path().to_path_buf(), None).unwrap();
    // Two months of hourly bars before the test split: HAR-RV's month of history is there.
    let series = sample_tail(3_000);
    for (architecture, target) in [
        (Architecture::Lstm, Target::Volatility),
        (Architecture::Gbdt, Target::Volatility),
        (Architecture::Lstm, Target::Direction),
        (Architecture::Gbdt, Target::Direction),
    ] {
        let case = format!("{architecture} {target}");
        let result = train_and_register(
            &settings,
            &series,
            &spec(architecture, target).check().unwrap(),
            &TrainOptions::default(),
            &mut |_| {},
            &CancelToken::new(),
        )
        .unwrap_or_else(|e| panic!("{case}: {e}"));
        let TrainResult::Registered { row, outcome } = result else {
            panic!("{case}: not registered");
        };
        let evaluation = outcome.evaluation.as_ref().unwrap();
        assert!(
            evaluation.test.is_none() && evaluation.backtest.is_none(),
            "{case}"
        );
        assert_eq!(evaluation.target_kind(), target, "{case}");
        let scored = evaluation.target.as_ref().unwrap();
        assert!(
            scored.windows() > 300,
            "{case}: {} windows",
            scored.windows()
        );
        match scored {
            TargetEvaluation::Volatility(v) => {
                assert!(v.model.qlike.is_finite() && v.persistence.qlike.is_finite());
                assert!(v.har.is_some(), "{case}: HAR-RV was not scored");
                assert_eq!(v.har_spans, [24, 168, 720]);
                assert!(v.vs_har.and_then(|c| c.test).is_some(), "{case}");
            }
            TargetEvaluation::Direction(d) => {
                assert!((0.0..=1.0).contains(&d.up_share));
                assert!(d.model.log_loss.is_finite() && d.climatology.log_loss > 0.0);
                let binned: usize = d.reliability_table.iter().map(|r| r.windows).sum();
                assert_eq!(binned, d.windows, "{case}");
            }
        }
        // The registry names the target; the listing's price columns are empty for it.
        assert_eq!(row.target, target, "{case}");
        assert!(row.test_mae_usd.is_none() && row.verdict_vs_persistence.is_none());
        assert_eq!(
            row.target_verdicts.len(),
            scored.comparisons().len(),
            "{case}"
        );
        check_stored_record(&settings, &row, scored, &case);

        // Export: the head is inside the graph and its output is checked too.
        let report = block_on(models::export(&settings, &row.version_id, None))
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert!(report.export.max_abs_diff <= 1e-4, "{case}: {report:?}");

        // The forecast in the target's units, natively and from the exported file.
        check_forecasts(&settings, &row.version_id, target, &case);
    }
    // Versions of different targets are not compared side by side.
    let rows = models::list(&settings, None).unwrap();
    let e = models::compare(
        &settings,
        &[rows[0].version_id.clone(), rows[2].version_id.clone()],
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("compare versions of one target"), "{e}");
    let same = models::compare(
        &settings,
        &[rows[0].version_id.clone(), rows[1].version_id.clone()],
    )
    .unwrap();
    assert!(same.same_test_windows);
    // The test chart: forecasts beside realised volatility and HAR-RV, and probabilities
    // beside the outcomes and climatology.
    for (version, target) in [
        (&rows[0], Target::Volatility),
        (&rows[2], Target::Direction),
    ] {
        let p = block_on(models::test_predictions(
            &settings,
            &version.version_id,
            100,
        ))
        .unwrap();
        assert!(p.predicted_close.is_empty());
        let s = p.target_series.unwrap();
        assert_eq!(s.target, target);
        assert_eq!(s.forecast.len(), 100);
        assert_eq!((s.realised.len(), s.baseline.len()), (100, 100));
        assert!(s.target_open_ms.windows(2).all(|w| w[0] < w[1]));
        match target {
            Target::Volatility => {
                assert_eq!(s.baseline_name, "HAR-RV");
                assert!(s.baseline.iter().all(|b| b.is_some_and(|v| v > 0.0)));
                assert!(s.realised.iter().all(|v| *v > 0.0));
            }
            _ => {
                assert_eq!(s.baseline_name, "climatology");
                assert!(s.realised.iter().all(|v| *v == 0.0 || *v == 1.0));
                assert!(s.forecast.iter().all(|p| *p > 0.0 && *p < 1.0));
            }
        }
    }
    // The paths that need forecasts of the close refuse these versions by name.
    let volatility = rows[0].version_id.clone();
    for e in [
        block_on(models::paired(&settings, &volatility, &rows[1].version_id)).err(),
        block_on(decision::backtest(
            &settings,
            &volatility,
            &BacktestSpec::default(),
        ))
        .err(),
        block_on(decision::judge(
            &settings,
            std::slice::from_ref(&volatility),
        ))
        .err(),
    ] {
        let e = e.unwrap().to_string();
        assert!(
            e.contains(&volatility) && e.contains("forecasts volatility"),
            "{e}"
        );
    }
}

#[test]
fn walk_forward_is_refused_for_the_new_targets_before_any_work() {
    let spec = TrainSpec {
        walk_forward_folds: Some(3),
        ..spec(Architecture::Lstm, Target::Direction)
    };
    // Refused by the check that makes the spec the engine trains on.
    let e = atb_engine::service::train::check(&spec)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("walk-forward is measured for the return target only"),
        "{e}"
    );
}

/// What the registry keeps of `version`: listed under its target, shown with its spec, the
/// stored evaluation equal to `scored`, and a re-evaluation that rebuilds it.
fn check_stored_record(settings: &Settings, row: &ModelRow, scored: &TargetEvaluation, case: &str) {
    let (version, target) = (row.version_id.as_str(), row.target);
    let listed = models::list(settings, None).unwrap();
    let again = listed.iter().find(|r| r.version_id == version).unwrap();
    assert_eq!(again.target, target);
    assert_eq!(again.target_verdicts, row.target_verdicts);
    let shown = models::show(settings, version).unwrap();
    assert_eq!(shown.metadata.training_params.spec.target, target);
    // Stored as JSON: the same record, to the last digit or two of each float.
    let stored = shown.evaluation.target.as_ref().unwrap();
    assert_eq!(stored.windows(), scored.windows());
    assert_eq!(stored.verdicts(), scored.verdicts());
    let (a, b) = (
        &stored.table().rows[0].values,
        &scored.table().rows[0].values,
    );
    assert!(
        a.iter()
            .zip(b)
            .all(|(x, y)| (x.unwrap() / y.unwrap() - 1.0).abs() < 1e-12)
    );

    // Re-evaluation rebuilds the same record from the recorded candles and stored scalers.
    let (_, again) = block_on(models::reevaluate(settings, version)).unwrap();
    let again = again.target.unwrap();
    assert_eq!(again.windows(), scored.windows(), "{case}");
    let (a, b) = (
        &again.table().rows[0].values,
        &scored.table().rows[0].values,
    );
    assert!(
        a.iter()
            .zip(b)
            .all(|(x, y)| (x.unwrap() / y.unwrap() - 1.0).abs() < 1e-6),
        "{case}: {a:?} vs {b:?}"
    );
}

/// The next forecast of `version` in its target's units, natively and from its ONNX file: the
/// same within float error, and plausible for the target.
fn check_forecasts(settings: &Settings, version: &str, target: Target, case: &str) {
    let native = predict::open(settings, version, PredictWith::Native).unwrap();
    let next = block_on(native.next_close(settings, &CandleSource::Sample)).unwrap();
    let from_onnx = predict::open(settings, version, PredictWith::OnnxRuntime).unwrap();
    let onnx_next = block_on(from_onnx.next_close(settings, &CandleSource::Sample)).unwrap();
    match (next.prediction, onnx_next.prediction) {
        (
            Prediction::Volatility {
                predicted_volatility: a,
                predicted_volatility_price: price,
            },
            Prediction::Volatility {
                predicted_volatility: b,
                ..
            },
        ) => {
            assert_eq!(target, Target::Volatility);
            // An hourly BTC move is a fraction of a percent to a few percent.
            assert!(a > 1e-4 && a < 0.2, "{case}: {a}");
            assert!((price - a * next.last_close).abs() < 1e-6 * price);
            assert!((a / b - 1.0).abs() < 1e-3, "{case}: {a} vs {b}");
        }
        (
            Prediction::Direction { up_probability: a },
            Prediction::Direction { up_probability: b },
        ) => {
            assert_eq!(target, Target::Direction);
            assert!(a > 0.0 && a < 1.0, "{case}: {a}");
            assert!((a - b).abs() < 1e-4, "{case}: {a} vs {b}");
        }
        other => panic!("{case}: predicted {other:?}"),
    }
}
