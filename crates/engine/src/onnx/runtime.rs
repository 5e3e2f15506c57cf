//! Runs an exported file in tract, a pure-Rust ONNX runtime: the parity check of every export,
//! `atb predict --onnx` and the benchmarks. Two optimised plans: one with the batch axis
//! symbolic (any batch size), and one specialised to a single window (`[1, L, F]`, the shape the
//! app predicts with). Each run gets a fresh state: tract's `Scan` (the LSTM) keeps its hidden
//! state in the run state between calls, so reusing one would carry a window into the next.

use std::sync::Arc;

use tract_onnx::prelude::{
    Datum, Framework, InferenceFact, InferenceModelExt, IntoRunnable, IntoTValue, TVec, Tensor,
    TypedRunnableModel, tvec,
};

use super::document::{OnnxDocument, read_metadata};
use crate::error::{Error, Result};

/// The runtime named in export records.
pub const RUNTIME_NAME: &str = "tract-onnx 0.23";

/// An ONNX forecast model loaded and optimised in tract.
pub struct OnnxModel {
    plan: Arc<TypedRunnableModel>,
    /// The plan specialised to one window.
    single: Arc<TypedRunnableModel>,
    pub document: OnnxDocument,
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxModel")
            .field("document", &self.document)
            .finish_non_exhaustive()
    }
}

fn runtime_err(e: impl std::fmt::Display) -> Error {
    Error::OnnxRuntime(format!("{e:#}"))
}

impl OnnxModel {
    /// Parses, checks the atb metadata of, and optimises an ONNX file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let document = OnnxDocument::from_props(&read_metadata(bytes)?)?;
        let single_shape = [
            1,
            document.schema.sequence_length,
            document.schema.n_features,
        ];
        // tract panics on some graphs it cannot handle instead of returning an error; a file
        // must never take the process down, so a panic becomes an error here.
        let (plan, single) = std::panic::catch_unwind(|| {
            let model = tract_onnx::onnx().model_for_read(&mut &bytes[..])?;
            let single = model
                .clone()
                .with_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), single_shape))?
                .into_optimized()?
                .into_runnable()?;
            let plan = model.into_optimized()?.into_runnable()?;
            Ok::<_, tract_onnx::prelude::TractError>((plan, single))
        })
        .map_err(|_| {
            Error::OnnxRuntime("tract failed (panicked) while optimising the file".into())
        })?
        .map_err(runtime_err)?;
        Ok(Self {
            plan,
            single,
            document,
        })
    }

    /// Raw outputs `[n]` for `n` windows `values` (`[n, L, F]` row-major, already scaled).
    pub fn predict(&self, values: &[f32], n: usize) -> Result<Vec<f32>> {
        self.run(values, n, 0)
    }

    /// The forecasts (the second output, after the target's head) for `n` windows.
    pub fn forecasts(&self, values: &[f32], n: usize) -> Result<Vec<f32>> {
        self.run(values, n, 1)
    }

    fn run(&self, values: &[f32], n: usize, index: usize) -> Result<Vec<f32>> {
        let (l, f) = self.document.window_dims(values.len(), n)?;
        if n == 0 {
            return Ok(Vec::new());
        }
        let input = Tensor::from_shape(&[n, l, f], values).map_err(runtime_err)?;
        // Running can panic inside tract as optimising can; an error, never a crash.
        let plan = if n == 1 { &self.single } else { &self.plan };
        let outputs: TVec<_> = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            plan.run(tvec!(input.into_tvalue()))
        }))
        .map_err(|_| Error::OnnxRuntime("tract failed (panicked) while running the file".into()))?
        .map_err(runtime_err)?;
        let output = outputs.get(index).ok_or_else(|| {
            Error::OnnxRuntime(format!("the model returned no output {}", index + 1))
        })?;
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
