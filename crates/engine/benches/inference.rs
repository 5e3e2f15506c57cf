//! Inference benchmark: single-window latency p50/p99 and batch-256 throughput of each default
//! architecture, native Burn (CPU, and the GPU when a hardware one is present) against its ONNX
//! export in tract, beside the original's promise of 30-100 ms per prediction. Prints figures;
//! asserts nothing about speed.
//!
//! Run: `cargo bench -p atb-engine --bench inference` (`-- --quick`: 50 single calls instead of 300).

use atb_engine::TrainedModel;
use atb_engine::testing::benchmark::inference::{TimingPlan, synthetic_windows, time_inference};
use atb_engine::testing::inference::{BurnPredictor, WindowPredictor};
use atb_engine::testing::onnx::{OnnxDocument, OnnxModel, model_document};
use atb_models::{Architecture, DeviceChoice, ModelOverrides, Variant, build_model, select_device};

const L: usize = 120;
const F: usize = 5;

/// What the original's selection guide promised per prediction (reference, section 12).
fn promise(architecture: Architecture) -> &'static str {
    match architecture {
        Architecture::CnnLstm => "~50 ms",
        Architecture::AttentionLstm => "~70 ms",
        Architecture::Tcn => "~30 ms (<50)",
        _ => "50-100 ms",
    }
}

fn document(architecture: Architecture) -> OnnxDocument {
    OnnxDocument::standalone(architecture.as_str(), "default", L, F)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let plan = TimingPlan {
        single_calls: if quick { 50 } else { 300 },
        ..TimingPlan::default()
    };
    let windows = synthetic_windows(256, L, F);
    let gpu = select_device(DeviceChoice::Auto).ok().filter(|d| d.is_gpu);
    println!(
        "single window [1, {L}, {F}] and batches of 256; {} single calls after {} warm-up",
        plan.single_calls, plan.warmup
    );
    println!(
        "{:<16} {:<24} {:>10} {:>10} {:>16}   original promise",
        "model (default)", "runtime", "p50 ms", "p99 ms", "batch-256 win/s"
    );
    for architecture in Architecture::NETWORKS {
        let cpu = atb_models::burn::prelude::Device::flex();
        let (model, config) = build_model(
            architecture,
            Variant::Default,
            [L, F],
            &ModelOverrides::default(),
            &cpu,
        )
        .expect("model");
        let bytes = model_document(
            &TrainedModel::Network {
                model: model.clone(),
                config,
            },
            &document(architecture),
        )
        .expect("export");
        let onnx = OnnxModel::from_bytes(&bytes).expect("tract loads the export");
        let gpu_model = gpu.as_ref().map(|g| {
            (
                g,
                build_model(
                    architecture,
                    Variant::Default,
                    [L, F],
                    &ModelOverrides::default(),
                    &g.device,
                )
                .expect("gpu model")
                .0,
            )
        });
        let mut rows: Vec<(String, Box<dyn WindowPredictor + '_>)> = vec![
            (
                "burn cpu (flex)".into(),
                Box::new(BurnPredictor {
                    model: &model,
                    device: &cpu,
                }),
            ),
            ("onnx in tract".into(), Box::new(onnx)),
        ];
        if let Some((g, m)) = &gpu_model {
            rows.push((
                format!("burn {}", g.name),
                Box::new(BurnPredictor {
                    model: m,
                    device: &g.device,
                }),
            ));
        }
        for (runtime, predictor) in &rows {
            let t = time_inference(predictor.as_ref(), &windows, [L, F], plan).expect("timing");
            println!(
                "{:<16} {:<24} {:>10.2} {:>10.2} {:>16.0}   {}",
                architecture.as_str(),
                runtime,
                t.latency_p50_ms,
                t.latency_p99_ms,
                t.batch256_windows_per_s,
                promise(architecture)
            );
        }
    }
}
