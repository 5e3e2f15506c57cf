//! `atb validate`: every (architecture, variant) pair trained for one epoch on a slice of the
//! sample through the same flow as a real run, reloaded from a temporary registry, run, and
//! exported to ONNX with the export's parity check. Nothing is kept.

use std::path::Path;
use std::time::Instant;

use atb_models::burn::prelude::Device;
use atb_protocol::desktop::SeriesRequest;
use atb_protocol::vocab::{Architecture, DeviceChoice, Variant};

use super::block_on;
use super::data::load_series;
use super::train::{TrainOptions, TrainResult, train_and_register};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::inference::{NativePredictor, predict_next_close};
use crate::market::source::CandleSeries;
use crate::onnx::export::export_version;
use crate::registry::Registry;
use crate::settings::Settings;
use crate::training::TrainSpec;

pub use atb_protocol::training::PairResult;

/// Where a validation trains unless told otherwise, for every door: `auto`, the device a real
/// run on this machine would take (the CPU at once without a hardware GPU; with one, the faster
/// by measurement), so the validation checks what training will actually do.
pub const DEFAULT_DEVICE: DeviceChoice = DeviceChoice::Auto;

/// How many (architecture, variant) pairs a validation goes through.
pub fn pair_count() -> usize {
    Architecture::TRAINABLE.len() * Variant::ALL.len()
}

/// Validates every pair on `device`; `on_pair` hears each result as it comes. Blocking: call
/// it from a worker thread. The versions go to a private registry, removed afterwards unless
/// `keep` names a new or empty folder to hold it (to inspect the versions and their ONNX files).
pub fn validate_all(
    device: DeviceChoice,
    keep: Option<&Path>,
    on_pair: &mut dyn FnMut(&PairResult),
    cancel: &CancelToken,
) -> Result<Vec<PairResult>> {
    let temporary;
    let home = match keep {
        Some(dir) => {
            let empty = match std::fs::read_dir(dir) {
                Ok(mut entries) => entries.next().is_none(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
                Err(e) => return Err(Error::io(dir, e)),
            };
            if !empty {
                return Err(Error::InvalidRequest(format!(
                    "{} is not empty: keep a validation in a new or empty folder",
                    dir.display()
                )));
            }
            dir.to_path_buf()
        }
        None => {
            temporary = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
            temporary.path().to_path_buf()
        }
    };
    // A private registry: validation registers nothing in the user's.
    let settings = Settings::resolve(home, None)?;
    // 40 days of 1h candles: a few hundred training windows of 48 steps.
    let sample = SeriesRequest {
        days: Some(40),
        ..SeriesRequest::default()
    };
    let series = block_on(load_series(&settings, &sample, &mut |_| {}))?;
    let mut results = Vec::new();
    for architecture in Architecture::TRAINABLE {
        for variant in Variant::ALL {
            if cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            let started = Instant::now();
            let spec = TrainSpec {
                architecture,
                variant,
                epochs: 1,
                sequence_length: 48,
                device,
                ..TrainSpec::default()
            };
            let (parameters, onnx_max_abs_diff, status) =
                match validate_pair(&settings, &series, &spec, cancel) {
                    Ok((p, d)) => (p, Some(d), "ok".to_string()),
                    Err(e) => (0, None, e.to_string()),
                };
            let result = PairResult {
                architecture,
                variant,
                parameters,
                seconds: started.elapsed().as_secs_f64(),
                onnx_max_abs_diff,
                status,
            };
            on_pair(&result);
            results.push(result);
        }
    }
    Ok(results)
}

/// Trains, reloads, predicts and exports one pair: its parameter count and export parity.
fn validate_pair(
    settings: &Settings,
    series: &CandleSeries,
    spec: &TrainSpec,
    cancel: &CancelToken,
) -> Result<(usize, f64)> {
    let trained = train_and_register(
        settings,
        series,
        &crate::training::check_spec(spec.clone())?,
        &TrainOptions::default(),
        &mut |_| {},
        cancel,
    )?;
    let TrainResult::Registered { row, outcome } = trained else {
        return Err(Error::Cancelled);
    };
    let device = Device::flex();
    let loaded = Registry::open(settings)?.load(&row.version_id, &device)?;
    let native = NativePredictor {
        model: &loaded.model,
        device: &device,
    };
    let next = predict_next_close(&row.version_id, &loaded.schema, &native, series)?;
    if !next.prediction.is_finite() {
        return Err(Error::InvalidData(format!(
            "the reloaded {} {} predicted a non-finite value",
            spec.architecture, spec.variant
        )));
    }
    // The export runs its own parity check against Burn.
    let report = block_on(export_version(settings, &row.version_id, None))?;
    Ok((outcome.parameters, report.export.max_abs_diff))
}
