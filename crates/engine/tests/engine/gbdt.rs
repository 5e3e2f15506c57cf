//! The tree model through the same flow as the networks: every `gbdt` variant trains on a
//! sample slice, registers (LightGBM's own model file, importance in the metadata), reloads to
//! the same predictions, predicts the next close natively and from ONNX, and exports with its
//! parity checked in ONNX Runtime.

use crate::common::{params, sample_tail};

use atb_engine::Settings;
use atb_engine::service::block_on;
use atb_engine::service::models;
use atb_engine::service::predict::{self, PredictWith};
use atb_engine::service::train::{TrainOptions, TrainResult, train_and_register};
use atb_engine::testing::gbdt::GbdtModel;
use atb_engine::testing::registry::{Registry, TREES_FILE, WEIGHTS_FILE};
use atb_engine::testing::training::{CancelToken, TrainSpec, TrainedModel};
use atb_models::burn::prelude::Device;
use atb_models::{Architecture, DeviceChoice, Variant};
use atb_protocol::spec::{TreeBudget, TreeOverrides};
use atb_protocol::targets::Prediction;
use atb_protocol::training::{StopReason, TrainingEvent};
use atb_protocol::vocab::CandleSource;

#[test]
fn every_gbdt_variant_trains_registers_reloads_predicts_and_exports_with_parity() {
    let home = tempfile::tempdir().unwrap();
    let settings = Settings::resolve(home.path().to_path_buf(), None).unwrap();
    let series = sample_tail(2_000);
    for variant in Variant::ALL {
        let spec = TrainSpec {
            sequence_length: 48,
            // Asked for a GPU: accepted, and reported as the CPU LightGBM runs on.
            device: DeviceChoice::Gpu,
            ..params(Architecture::Gbdt, variant, 1)
        };
        let mut events = Vec::new();
        let result = train_and_register(
            &settings,
            &series,
            &spec.clone().check().unwrap(),
            &TrainOptions::default(),
            &mut |e| events.push(e),
            &CancelToken::new(),
        )
        .unwrap_or_else(|e| panic!("{variant}: {e}"));
        let TrainResult::Registered { row, outcome } = result else {
            panic!("{variant}: not registered");
        };
        // Rounds are the epochs: one EpochEnd per round, then the evaluation.
        let rounds = events
            .iter()
            .filter(|e| matches!(e, TrainingEvent::EpochEnd { .. }))
            .count();
        assert_eq!(rounds, outcome.epochs_run, "{variant}");
        assert!(rounds >= 2, "{variant}: {rounds} rounds");
        assert!(matches!(
            events.last(),
            Some(TrainingEvent::Finished { .. })
        ));
        assert!(outcome.device.starts_with("cpu"), "{}", outcome.device);
        assert!(matches!(
            outcome.stop,
            StopReason::EarlyStopped | StopReason::Completed
        ));
        let ev = outcome.evaluation.as_ref().unwrap();
        assert!(
            ev.test.as_ref().unwrap().model.mae_usd.is_finite()
                && ev.test.as_ref().unwrap().vs_persistence.is_some()
        );
        assert!(row.verdict_vs_persistence.is_some());

        // The version folder holds LightGBM's own file, loadable by LightGBM itself.
        let registry = Registry::open(&settings).unwrap();
        let folder = home.path().join(&row.folder);
        assert!(folder.join(TREES_FILE).is_file());
        assert!(!folder.join(WEIGHTS_FILE).exists());
        let text = std::fs::read_to_string(folder.join(TREES_FILE)).unwrap();
        let schema = registry.schema(&row).unwrap();
        let reloaded = GbdtModel::from_text(&text, 48, schema.n_features).unwrap();
        let loaded = registry.load(&row.version_id, &Device::flex()).unwrap();
        let TrainedModel::Trees(trees) = &loaded.model else {
            panic!("loaded as a network");
        };
        let TrainedModel::Trees(trained) = &outcome.model else {
            panic!("trained as a network");
        };
        let (windows, _) = outcome.data.batch(&outcome.data.samples.test);
        let n = outcome.data.samples.test.len();
        let expected = trained.predict_windows(&windows, n).unwrap();
        assert_eq!(trees.predict_windows(&windows, n).unwrap(), expected);
        assert_eq!(reloaded.predict_windows(&windows, n).unwrap(), expected);

        // Importance per real input column, in the metadata and the detail the desktop reads.
        let detail = models::detail(&settings, &row.version_id).unwrap();
        assert_eq!(detail.importance.len(), schema.n_features * 7);
        assert!(detail.importance.iter().map(|c| c.gain).sum::<f64>() > 0.0);
        assert_eq!(
            detail.training_params["tree_budget"]["leaves"],
            serde_json::json!(TreeBudget::for_variant(variant).leaves)
        );

        // Export: the parity check ran in ONNX Runtime (tract has no tree ensemble operator).
        let report = block_on(models::export(&settings, &row.version_id, None)).unwrap();
        assert!(
            report.export.runtime.starts_with("ONNX Runtime"),
            "{}",
            report.export.runtime
        );
        assert!(report.export.max_abs_diff <= 1e-4, "{variant}: {report:?}");

        // The next close, natively and from the exported file, agree.
        let native = predict::open(&settings, &row.version_id, PredictWith::Native).unwrap();
        let onnx = predict::open(&settings, &row.version_id, PredictWith::OnnxRuntime).unwrap();
        let a = block_on(native.next_close(&settings, &CandleSource::Sample)).unwrap();
        let b = block_on(onnx.next_close(&settings, &CandleSource::Sample)).unwrap();
        assert!(a.prediction.is_finite());
        assert!(
            matches!((a.prediction, b.prediction), (Prediction::Return { predicted_log_return: x, .. }, Prediction::Return { predicted_log_return: y, .. }) if (x - y).abs() < 1e-4)
        );
    }
    let report = models::verify(&settings).unwrap();
    assert_eq!(report.ok.len(), 3, "{report:?}");
    assert!(report.stray_files.is_empty() && report.damaged.is_empty());

    // Two variants on the same windows pair up; a version on other windows is refused.
    let rows = models::list(&settings, None).unwrap();
    let paired = block_on(models::paired(
        &settings,
        &rows[0].version_id,
        &rows[1].version_id,
    ))
    .unwrap();
    assert!(paired.windows > 100);
    assert!(
        paired
            .test
            .is_some_and(|t| (0.0..=1.0).contains(&t.p_value))
    );
    let other = TrainSpec {
        sequence_length: 24,
        ..params(Architecture::Gbdt, Variant::Lightweight, 1)
    };
    let arrived = train_and_register(
        &settings,
        &series,
        &other.clone().check().unwrap(),
        &TrainOptions::default(),
        &mut |_| {},
        &CancelToken::new(),
    )
    .unwrap();
    let TrainResult::Registered { row: short, .. } = arrived else {
        panic!("got {arrived:?}")
    };
    let err = block_on(models::paired(
        &settings,
        &short.version_id,
        &rows[0].version_id,
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("different windows"), "{err}");
}

#[test]
fn bad_tree_options_are_refused_before_training_and_a_cancelled_run_registers_nothing() {
    let home = tempfile::tempdir().unwrap();
    let settings = Settings::resolve(home.path().to_path_buf(), None).unwrap();
    let series = sample_tail(1_500);
    let spec = TrainSpec {
        trees: TreeOverrides {
            leaves: Some(0),
            ..TreeOverrides::default()
        },
        ..params(Architecture::Gbdt, Variant::Default, 1)
    };
    // Refused by the check that makes the spec the engine trains on: there is no spec to
    // train with.
    let err = atb_engine::service::train::check(&spec)
        .unwrap_err()
        .to_string();
    assert!(err.contains("leaves"), "{err}");

    let cancel = CancelToken::new();
    cancel.cancel();
    let result = train_and_register(
        &settings,
        &series,
        &params(Architecture::Gbdt, Variant::Lightweight, 1)
            .check()
            .unwrap(),
        &TrainOptions::default(),
        &mut |_| {},
        &cancel,
    )
    .unwrap();
    assert!(matches!(result, TrainResult::Cancelled { .. }));
    assert!(models::list(&settings, None).unwrap().is_empty());
}
