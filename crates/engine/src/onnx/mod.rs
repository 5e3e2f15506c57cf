//! ONNX export with proven parity: `export_version` writes a registered version's `model.onnx`,
//! re-loads it in a runtime independent of the emitter (tract, a pure-Rust ONNX runtime, for the
//! networks; ONNX Runtime for the tree model) and compares it with the native model on real
//! windows of the model's own test split before it is kept.
//!
//! Route: every architecture is written by our own emitter (`emit`), as opset 17 with prost
//! types compiled from the vendored `onnx.proto`. Burn's trace exporter (`burn-onnx` 0.22.0,
//! opset 18) was tried first and cannot lower what these models use (LSTM, `swap_dims`,
//! `mean_dim`, `max_dim`, softmax), and an unrolled LSTM would be a slow loop graph anyway.
//!
//! | architecture     | ONNX operators                                                              |
//! |------------------|-----------------------------------------------------------------------------|
//! | `lstm`           | Transpose, LSTM (layout 0) ×2, Squeeze, Gemm, Relu                          |
//! | `cnn_lstm`       | Transpose, Conv + Relu + MaxPool ×2, LSTM ×2, Squeeze, Gemm, Relu           |
//! | `attention_lstm` | Transpose, LSTM ×n, MatMul/Add/Reshape/Softmax/Div attention, ReduceMean/Max, Concat, Gemm |
//! | `tcn`            | Transpose, Conv (dilations, causal `pads = [p, 0]`) + Relu + Add blocks, ReduceMean/Max, Concat, Gemm |
//! | `tcn_attention`  | the TCN trunk, then the attention block, ReduceMean/Max, Concat, Gemm       |
//! | `gbdt`           | Slice, Cast/ReduceMean/Sub/Mul/Sqrt, ReduceMin/Max, Concat, Transpose, Reshape (the tabular rule), `ai.onnx.ml` TreeEnsembleRegressor |
//! | `ensemble`       | each member's graph under a prefix (`m0.`, `m1.`, …) on the shared input, Mul by its weight, Sum |
//!
//! tract has no `TreeEnsembleRegressor`, so a `gbdt` file (or an ensemble with a `gbdt` member)
//! is checked in ONNX Runtime (loaded at run time from the library `scripts/setup.sh`
//! installs); the export records which runtime checked it.
//!
//! The file is self-describing: `metadata_props` carry what `feature_schema.json` says (see
//! `document`).

pub mod document;
pub mod emit;
pub mod ensemble;
pub mod export;
pub mod graph;
pub mod onnxruntime;
pub mod proto;
pub mod runtime;
pub mod trees;

// The engine's own tests and benchmarks reach these through `testing::onnx`.
#[cfg(feature = "testing")]
pub use document::{OPSET, OnnxDocument, model_document, read_metadata};
#[cfg(feature = "testing")]
pub use export::CheckedOnnx;
#[cfg(feature = "testing")]
pub use export::export_version;
pub use export::{ExportReport, PARITY_TOLERANCE, PARITY_WINDOWS, export_loaded};
pub use onnxruntime::OrtModel;
pub use runtime::OnnxModel;

use atb_protocol::registry::ModelRow;
use atb_protocol::rpc::Remedy;

use crate::error::{Error, Result};
use crate::inference::WindowPredictor;
use crate::registry::Registry;

impl WindowPredictor for OnnxModel {
    fn predict_windows(&self, values: Vec<f32>, shape: [usize; 3]) -> Result<Vec<f32>> {
        self.predict(&values, shape[0])
    }
}

impl WindowPredictor for OrtModel {
    fn predict_windows(&self, values: Vec<f32>, shape: [usize; 3]) -> Result<Vec<f32>> {
        self.predict(&values, shape[0])
    }
}

/// An exported version ready to run in tract.
pub struct LoadedOnnx {
    pub row: ModelRow,
    pub model: OnnxModel,
}

/// Loads a version's exported `model.onnx` into tract (hash checked by the registry).
pub fn load_registered(registry: &Registry, reference: &str) -> Result<LoadedOnnx> {
    let (row, _, bytes) = registry.onnx_bytes(reference)?;
    if document::uses_ml_domain(&bytes) {
        return Err(Error::InvalidRequest(format!(
            "tract cannot run {}: its {} file holds an ai.onnx.ml TreeEnsembleRegressor, which \
             tract lacks",
            row.version_id, row.architecture
        ))
        .with_remedy(Remedy::UseOnnxRuntime));
    }
    let model = OnnxModel::from_bytes(&bytes)?;
    Ok(LoadedOnnx { row, model })
}

/// Opens a version's exported `model.onnx` in ONNX Runtime (hash checked by the registry; the
/// library is loaded from `ATB_ONNXRUNTIME` or the setup script's `.venv`, else an error says
/// how).
pub fn load_registered_ort(registry: &Registry, reference: &str) -> Result<(ModelRow, OrtModel)> {
    let (row, _, bytes) = registry.onnx_bytes(reference)?;
    Ok((row, OrtModel::from_bytes(&bytes)?))
}
