//! Runs an exported file in tract, a pure-Rust ONNX runtime: the parity check of every export
//! and `atb predict --onnx`. The batch axis stays symbolic, so one optimised plan serves any
//! batch size.

use std::sync::Arc;

use tract_onnx::prelude::{
    Framework, InferenceModelExt, IntoRunnable, IntoTValue, Tensor, TypedRunnableModel, tvec,
};

use super::document::{OnnxDocument, read_metadata};
use crate::error::{Error, Result};

/// The runtime named in export records.
pub const RUNTIME_NAME: &str = "tract-onnx 0.23";

/// An ONNX forecast model loaded and optimised in tract.
pub struct OnnxModel {
    plan: Arc<TypedRunnableModel>,
    pub document: OnnxDocument,
}

fn runtime_err(e: impl std::fmt::Display) -> Error {
    Error::OnnxRuntime(format!("{e:#}"))
}

impl OnnxModel {
    /// Parses, checks the atb metadata of, and optimises an ONNX file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let document = OnnxDocument::from_props(&read_metadata(bytes)?)?;
        // tract panics on some graphs it cannot handle instead of returning an error; a file
        // must never take the process down, so a panic becomes an error here.
        let plan = std::panic::catch_unwind(|| {
            tract_onnx::onnx()
                .model_for_read(&mut &bytes[..])
                .and_then(|m| m.into_optimized())
                .and_then(|m| m.into_runnable())
        })
        .map_err(|_| {
            Error::OnnxRuntime("tract failed (panicked) while optimising the file".into())
        })?
        .map_err(runtime_err)?;
        Ok(Self { plan, document })
    }

    /// Outputs `[n]` for `n` windows `values` (`[n, L, F]` row-major, already scaled).
    pub fn predict(&self, values: &[f32], n: usize) -> Result<Vec<f32>> {
        let (l, f) = (
            self.document.schema.sequence_length,
            self.document.schema.n_features,
        );
        if values.len() != n * l * f {
            return Err(Error::InvalidRequest(format!(
                "{} values are not {n} windows of [{l}, {f}]",
                values.len()
            )));
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        let input = Tensor::from_shape(&[n, l, f], values).map_err(runtime_err)?;
        let outputs = self
            .plan
            .run(tvec!(input.into_tvalue()))
            .map_err(runtime_err)?;
        let output = outputs
            .first()
            .ok_or_else(|| Error::OnnxRuntime("the model returned no output".into()))?;
        let view = output.to_plain_array_view::<f32>().map_err(runtime_err)?;
        if view.shape() != [n, 1] {
            return Err(Error::OnnxRuntime(format!(
                "output shape {:?}, expected [{n}, 1]",
                view.shape()
            )));
        }
        Ok(view.iter().copied().collect())
    }
}
