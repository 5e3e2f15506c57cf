//! ONNX export: every (type, variant) emitted, re-loaded in tract and in ONNX Runtime and compared
//! with Burn at 1e-4 for batches of 1 and 33 (single windows repeatedly, since tract's
//! single-window state is reused); metadata round trip; the registry flow (record, copy, verify,
//! tamper refusal, delete).

use crate::common::{params, quick_outcome, sample_tail};

use atb_engine::Settings;
use atb_engine::TrainedModel;
use atb_engine::testing::inference::{NativePredictor, WindowPredictor};
use atb_engine::testing::onnx::load_registered;
use atb_engine::testing::onnx::{
    OnnxDocument, OnnxModel, OrtModel, PARITY_TOLERANCE, export_version, model_document,
};
use atb_engine::testing::registry::Registry;
use atb_engine::testing::registry::metadata::{FeatureSchema, TargetDefinition};
use atb_engine::testing::training::{CancelToken, train};
use atb_models::burn::prelude::Device;
use atb_models::{Architecture, ModelOverrides, Variant, build_model};
use atb_protocol::rpc::Remedy;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const L: usize = 60;
const F: usize = 12;

fn document(architecture: Architecture, variant: Variant) -> OnnxDocument {
    OnnxDocument {
        symbol: "BTCUSDT".into(),
        timeframe: "1h".into(),
        version_id: "2026-01-01_00h00m00s_v1".into(),
        architecture: architecture.to_string(),
        variant: variant.to_string(),
        app_version: "test".into(),
        schema: FeatureSchema {
            feature_set: "technical".into(),
            feature_names: (0..F).map(|i| format!("f{i}")).collect(),
            means: (0..F).map(|i| i as f64 * 0.1 - 0.3).collect(),
            stds: (0..F).map(|i| 1.0 + i as f64 / 7.0).collect(),
            sequence_length: L,
            n_features: F,
            target: TargetDefinition {
                kind: "log_return".into(),
                horizon: 1,
                mean: 1.5e-5,
                std: 0.0071,
                lognormal_correction: 0.0,
            },
            context: None,
        },
        ensemble: None,
    }
}

fn max_diff(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).abs())
        .fold(0.0, f64::max)
}

#[test]
fn every_pair_exports_and_matches_burn_in_tract_for_batches_of_1_and_33() {
    let device = Device::flex();
    let mut rng = StdRng::seed_from_u64(7);
    let n = 33;
    // Standardised-looking inputs: roughly N(0, 1), some larger.
    let windows: Vec<f32> = (0..n * L * F)
        .map(|_| (rng.random::<f32>() - 0.5) * 3.5)
        .collect();
    for architecture in Architecture::NETWORKS {
        for variant in Variant::ALL {
            let (model, config) = build_model(
                architecture,
                variant,
                [L, F],
                &ModelOverrides::default(),
                &device,
            )
            .unwrap();
            let doc = document(architecture, variant);
            let model = TrainedModel::Network { model, config };
            let bytes = model_document(&model, &doc).unwrap();
            let onnx = OnnxModel::from_bytes(&bytes)
                .unwrap_or_else(|e| panic!("{architecture} {variant}: {e}"));
            assert_eq!(onnx.document, doc, "metadata round trip");

            let burn = NativePredictor {
                model: &model,
                device: &device,
            }
            .predict_windows(windows.clone(), [n, L, F])
            .unwrap();
            let batch = onnx.predict(&windows, n).unwrap();
            let mut diff = max_diff(&burn, &batch);
            for i in 0..3 {
                let single = onnx
                    .predict(&windows[i * L * F..(i + 1) * L * F], 1)
                    .unwrap();
                diff = diff.max(max_diff(&burn[i..i + 1], &single));
            }
            // ONNX Runtime (the setup script installs it; the test needs it) on the same file.
            let ort = OrtModel::from_bytes(&bytes)
                .unwrap_or_else(|e| panic!("{architecture} {variant}: {e}"));
            let ort_batch = ort.predict(&windows, n).unwrap();
            let ort_single = ort.predict(&windows[..L * F], 1).unwrap();
            let ort_diff = max_diff(&burn, &ort_batch).max(max_diff(&burn[..1], &ort_single));
            println!(
                "{architecture:<15} {variant:<12} max |tract - burn| = {diff:.2e}, |onnx runtime - burn| = {ort_diff:.2e}"
            );
            assert!(
                diff <= PARITY_TOLERANCE && ort_diff <= PARITY_TOLERANCE,
                "{architecture} {variant}: {diff:e} / {ort_diff:e} > {PARITY_TOLERANCE:e}"
            );
            // The comparison means something only if the outputs vary with the input.
            let spread = burn.iter().copied().fold(f32::MIN, f32::max)
                - burn.iter().copied().fold(f32::MAX, f32::min);
            assert!(spread > 1e-4, "{architecture} {variant}: constant outputs");
        }
    }
}

#[test]
fn a_registered_version_exports_records_copies_and_refuses_tampering() {
    let home = tempfile::tempdir().unwrap();
    let settings = Settings::resolve(home.path().to_path_buf(), None).unwrap();
    let series = sample_tail(1_500);
    let outcome = train(
        &series,
        &params(Architecture::AttentionLstm, Variant::Lightweight, 1)
            .check()
            .unwrap(),
        &mut |_| {},
        &CancelToken::new(),
    )
    .unwrap();
    let row = Registry::open(&settings)
        .unwrap()
        .register(&outcome, None, true)
        .unwrap();
    assert_eq!(row.onnx_sha256, None);

    let out_dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let report = rt
        .block_on(export_version(&settings, "latest", Some(out_dir.path())))
        .unwrap();
    let e = &report.export;
    assert_eq!(e.version_id, row.version_id);
    assert_eq!(e.windows, 64);
    assert!(e.max_abs_diff <= PARITY_TOLERANCE);
    assert_eq!(e.opset, 17);
    let bytes = std::fs::read(&report.path).unwrap();
    assert_eq!(bytes.len() as u64, e.bytes);
    assert_eq!(atb_engine::testing::fsutil::sha256_hex(&bytes), e.sha256);
    let copy = report.copy.clone().unwrap();
    assert_eq!(
        copy,
        out_dir.path().join(format!("{}.onnx", row.version_id))
    );
    assert_eq!(std::fs::read(&copy).unwrap(), bytes);
    // Nothing staged is left beside it.
    let leftovers: Vec<_> = std::fs::read_dir(report.path.parent().unwrap())
        .unwrap()
        .flatten()
        .filter(|f| f.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let registry = Registry::open(&settings).unwrap();
    let listed = registry.list(None).unwrap().pop().unwrap();
    assert_eq!(listed.onnx_sha256.as_deref(), Some(e.sha256.as_str()));
    assert_eq!(registry.onnx_export(&listed).unwrap().as_ref(), Some(e));
    assert!(registry.verify().unwrap().damaged.is_empty());

    // The file carries the schema the folder's feature_schema.json holds.
    let loaded = load_registered(&registry, &row.version_id).unwrap();
    assert_eq!(loaded.model.document.schema, registry.schema(&row).unwrap());
    assert_eq!(loaded.model.document.version_id, row.version_id);

    // A copy that cannot be written does not fail the export, which stays recorded.
    let nowhere = out_dir.path().join("missing-folder").join("copy.onnx");
    let partly = rt
        .block_on(export_version(&settings, &row.version_id, Some(&nowhere)))
        .unwrap();
    assert!(partly.copy.is_none());
    assert!(partly.copy_error.is_some(), "{partly:?}");
    assert_eq!(partly.export.sha256, e.sha256);

    // Re-exporting replaces file and record.
    let again = rt
        .block_on(export_version(&settings, &row.version_id, None))
        .unwrap();
    assert_eq!(again.export.sha256, e.sha256, "export is deterministic");
    // The previous file was set aside during the swap and is gone once the new one is recorded.
    assert!(!report.path.with_extension("onnx.previous").exists());

    // A modified file is refused for inference and reported by verify.
    let mut tampered = bytes.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    std::fs::write(&report.path, &tampered).unwrap();
    let err = load_registered(&registry, &row.version_id)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("modified"), "{err}");
    let damaged = registry.verify().unwrap().damaged;
    assert_eq!(damaged.len(), 1, "{damaged:?}");
    assert!(damaged[0].1.contains("model.onnx"), "{damaged:?}");

    // Deleting the version removes its export record too.
    let mut registry = registry;
    registry.delete(&row.version_id, true).unwrap();
    assert!(registry.list(None).unwrap().is_empty());
}

#[test]
fn an_unexported_version_says_how_to_export() {
    let home = tempfile::tempdir().unwrap();
    let settings = Settings::resolve(home.path().to_path_buf(), None).unwrap();
    let outcome = quick_outcome();
    let row = Registry::open(&settings)
        .unwrap()
        .register(&outcome, None, true)
        .unwrap();
    let err = load_registered(&Registry::open(&settings).unwrap(), &row.version_id)
        .err()
        .unwrap();
    assert!(err.to_string().contains("has no ONNX export yet"), "{err}");
    // The remedy is data each door words: never a CLI command in the engine's message.
    assert_eq!(
        err.remedy(),
        Some(Remedy::ExportOnnx {
            version: row.version_id.clone()
        })
    );
    assert!(!err.to_string().contains("atb "), "{err}");
    let reply = err.to_reply();
    assert_eq!(reply.remedy, err.remedy());
    assert!(reply.remedy.unwrap().desktop().contains("Export ONNX"));
}

#[test]
fn damaged_or_foreign_files_are_refused_with_a_reason() {
    let device = Device::flex();
    let (model, config) = build_model(
        Architecture::Tcn,
        Variant::Lightweight,
        [L, F],
        &ModelOverrides::default(),
        &device,
    )
    .unwrap();
    let model = TrainedModel::Network { model, config };
    let bytes = model_document(&model, &document(Architecture::Tcn, Variant::Lightweight)).unwrap();
    let err = |b: &[u8]| OnnxModel::from_bytes(b).err().map(|e| e.to_string());
    // Cut in half: not a model any more.
    let truncated = err(&bytes[..bytes.len() / 2]).expect("truncated file refused");
    assert!(truncated.contains("ONNX"), "{truncated}");
    let garbage = err(b"definitely not protobuf").expect("garbage refused");
    assert!(garbage.contains("not an ONNX model"), "{garbage}");
    // A valid ONNX file that atb did not write lacks the metadata that says how to feed it.
    let foreign = OnnxDocument::standalone("tcn", "lightweight", L, F);
    let mut props = foreign.props().unwrap();
    props.retain(|(k, _)| k != "atb.feature_means");
    assert!(OnnxDocument::from_props(&props.into_iter().collect()).is_err());
    // Windows of the wrong size are refused, not silently reshaped.
    let onnx = OnnxModel::from_bytes(&bytes).unwrap();
    assert!(onnx.predict(&vec![0.0; L * F - 1], 1).is_err());
    assert_eq!(onnx.predict(&[], 0).unwrap(), Vec::<f32>::new());
}
