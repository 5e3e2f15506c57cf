//! The export flow behind `atb models export-onnx` and the desktop's Export button: emit the
//! file, stage it in the version folder, re-load the staged file in an independent runtime and
//! compare it with the native model on real test windows, and only then install it (file and
//! registry row together).

use std::path::{Path, PathBuf};

use atb_models::burn::prelude::Device;
use atb_protocol::registry::OnnxExport;
use chrono::Utc;

use super::document::{OPSET, OnnxDocument, model_document};
use super::onnxruntime::{OrtModel, ensure_loaded};
use super::runtime::{OnnxModel, RUNTIME_NAME};
use crate::error::{Error, Result};
use crate::fsutil::{sha256_hex, write_atomic};
use crate::inference::{NativePredictor, TestWindows, WindowPredictor, load_test_windows};
use crate::registry::{LoadedModel, Registry};
use crate::settings::Settings;
use crate::training::TrainedModel;
pub use atb_protocol::registry::PARITY_TOLERANCE;

/// An exported file loaded in the runtime that checked it: tract for the networks, ONNX Runtime
/// for trees (tract has no `TreeEnsembleRegressor`).
pub enum CheckedOnnx {
    Tract(OnnxModel),
    OnnxRuntime(OrtModel),
}

impl CheckedOnnx {
    /// Opens `bytes` in the runtime that checks files of `model`'s kind.
    fn open(bytes: &[u8], model: &TrainedModel) -> Result<Self> {
        Ok(if model.has_trees() {
            Self::OnnxRuntime(OrtModel::from_bytes(bytes)?)
        } else {
            Self::Tract(OnnxModel::from_bytes(bytes)?)
        })
    }

    /// The runtime's name as the export records it.
    pub fn runtime_name(&self) -> String {
        match self {
            Self::Tract(_) => RUNTIME_NAME.into(),
            Self::OnnxRuntime(_) => {
                let library = ensure_loaded()
                    .ok()
                    .and_then(|p| p.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "libonnxruntime.so".into());
                format!("ONNX Runtime ({library})")
            }
        }
    }
}

impl CheckedOnnx {
    /// The file's second output (the forecast after the target's head) for `shape[0]` windows.
    pub fn forecast_windows(&self, values: &[f32], shape: [usize; 3]) -> Result<Vec<f32>> {
        match self {
            Self::Tract(m) => m.forecasts(values, shape[0]),
            Self::OnnxRuntime(m) => m.forecasts(values, shape[0]),
        }
    }
}

impl WindowPredictor for CheckedOnnx {
    fn predict_windows(&self, values: Vec<f32>, shape: [usize; 3]) -> Result<Vec<f32>> {
        match self {
            Self::Tract(m) => m.predict(&values, shape[0]),
            Self::OnnxRuntime(m) => m.predict(&values, shape[0]),
        }
    }
}

/// Test windows compared at export.
pub const PARITY_WINDOWS: usize = 64;

/// What an export wrote and measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportReport {
    pub export: OnnxExport,
    /// Absolute path of `model.onnx` in the version folder.
    pub path: PathBuf,
    /// Where the copy asked for with `--output` went.
    pub copy: Option<PathBuf>,
    /// Why the copy could not be written (the export itself succeeded and is recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy_error: Option<String>,
}

/// The self-description written into a version's ONNX file.
pub fn document_for(loaded: &LoadedModel) -> OnnxDocument {
    OnnxDocument {
        symbol: loaded.row.symbol.to_string(),
        timeframe: loaded.row.timeframe.to_string(),
        version_id: loaded.row.version_id.clone(),
        architecture: loaded.row.architecture.to_string(),
        variant: loaded.row.variant.to_string(),
        app_version: env!("CARGO_PKG_VERSION").into(),
        schema: loaded.schema.clone(),
        ensemble: match &loaded.model {
            TrainedModel::Ensemble(e) => Some(e.recipe.clone()),
            _ => None,
        },
    }
}

/// Largest absolute difference; a NaN or infinity anywhere counts as infinitely different.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).abs())
        .fold(0.0, |m, d| {
            if d.is_finite() {
                m.max(d)
            } else {
                f64::INFINITY
            }
        })
}

/// Exports `reference` (a version id or alias) to `model.onnx` in its folder, and copies it to
/// `output` when given (a file path, or a folder that gets `VERSION_ID.onnx`). The parity check
/// runs on windows of the version's own test split, rebuilt from its recorded source.
pub async fn export_version(
    settings: &Settings,
    reference: &str,
    output: Option<&Path>,
) -> Result<ExportReport> {
    let device = Device::flex();
    let mut registry = Registry::open(settings)?;
    let loaded = registry.load(reference, &device)?;
    let windows = load_test_windows(settings, &loaded, PARITY_WINDOWS).await?;
    Ok(export_loaded(&mut registry, &loaded, &device, &windows, output)?.0)
}

/// The export itself, for a version already loaded (on `device`) and its test windows; also
/// returns the checked file loaded in the runtime that checked it, ready to run.
pub fn export_loaded(
    registry: &mut Registry,
    loaded: &LoadedModel,
    device: &Device,
    windows: &TestWindows,
    output: Option<&Path>,
) -> Result<(ExportReport, CheckedOnnx)> {
    let bytes = model_document(&loaded.model, &document_for(loaded))?;
    let target = registry.onnx_path(&loaded.row);
    // Unique per call: two exports of one version in one process (a double click) never share
    // the staged file.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let staged = target.with_file_name(format!(
        "{}{}-{n}",
        crate::registry::exports::STAGED_ONNX_PREFIX,
        std::process::id()
    ));
    let checked = write_atomic(&staged, &bytes).and_then(|_| {
        // Check the file as it lies on disk, not the bytes in memory.
        let on_disk = std::fs::read(&staged).map_err(|e| Error::io(&staged, e))?;
        let onnx = CheckedOnnx::open(&on_disk, &loaded.model)?;
        let native = NativePredictor {
            model: &loaded.model,
            device,
        };
        let expected = native.predict_windows(windows.values.clone(), windows.shape)?;
        let actual = onnx.predict_windows(windows.values.clone(), windows.shape)?;
        // A batch of one through the same file: the batch axis really is dynamic.
        let one = windows.shape[1] * windows.shape[2];
        let single = onnx.predict_windows(
            windows.values[..one].to_vec(),
            [1, windows.shape[1], windows.shape[2]],
        )?;
        // The head inside the graph against the engine's own (`TargetScaler::forecast`).
        let scaler = loaded.schema.target.scaler();
        let expected_forecasts: Vec<f32> = expected
            .iter()
            .map(|r| scaler.forecast(f64::from(*r)) as f32)
            .collect();
        let forecasts = onnx.forecast_windows(&windows.values, windows.shape)?;
        let diff = max_abs_diff(&expected, &actual)
            .max(max_abs_diff(&expected[..1], &single))
            .max(max_abs_diff(&expected_forecasts, &forecasts));
        Ok((diff, onnx))
    });
    let (max_diff, onnx) = match checked {
        Ok((d, onnx)) if d <= PARITY_TOLERANCE => (d, onnx),
        Ok((d, _)) => {
            let _ = std::fs::remove_file(&staged);
            return Err(Error::ParityFailed {
                version: loaded.row.version_id.clone(),
                max_abs_diff: d,
                windows: windows.count,
                tolerance: PARITY_TOLERANCE,
            });
        }
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            return Err(e);
        }
    };
    let export = OnnxExport {
        version_id: loaded.row.version_id.clone(),
        exported_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        file: format!(
            "{}/{}",
            loaded.row.folder,
            crate::registry::exports::ONNX_FILE
        ),
        sha256: sha256_hex(&bytes),
        bytes: bytes.len() as u64,
        opset: OPSET,
        max_abs_diff: max_diff,
        tolerance: PARITY_TOLERANCE,
        windows: windows.count,
        runtime: onnx.runtime_name(),
        atb_version: env!("CARGO_PKG_VERSION").into(),
    };
    if let Err(e) = registry.install_onnx(&staged, &export) {
        let _ = std::fs::remove_file(&staged);
        return Err(e);
    }
    // The export is done and recorded; a copy that cannot be written is reported as such, not as
    // a failed export.
    let (copy, copy_error) = match output {
        Some(out) => {
            let path = if out.is_dir() {
                out.join(format!("{}.onnx", loaded.row.version_id))
            } else {
                out.to_path_buf()
            };
            match write_atomic(&path, &bytes) {
                Ok(()) => (Some(path), None),
                Err(e) => (None, Some(e.to_string())),
            }
        }
        None => (None, None),
    };
    Ok((
        ExportReport {
            export,
            path: target,
            copy,
            copy_error,
        },
        onnx,
    ))
}

#[cfg(test)]
mod tests {
    use super::max_abs_diff;

    #[test]
    fn any_non_finite_or_missing_value_is_infinitely_different() {
        assert_eq!(max_abs_diff(&[1.0, 2.0], &[1.0, 2.5]), 0.5);
        assert_eq!(max_abs_diff(&[1.0, f32::NAN], &[1.0, 2.0]), f64::INFINITY);
        assert_eq!(
            max_abs_diff(&[f32::INFINITY], &[f32::INFINITY]),
            f64::INFINITY
        );
        assert_eq!(max_abs_diff(&[1.0], &[1.0, 2.0]), f64::INFINITY);
    }
}
