//! `--device auto` by measurement, not by kind: the first time an architecture and variant train
//! on a machine with a hardware GPU, a few training steps of that very model are timed on the GPU
//! and on the CPU and the faster is taken. The timings are kept beside the GPU kernel cache
//! (`ATB_HOME/gpu-cache/device-probes.json`), keyed by adapter, driver, atb version, model and
//! shape, so later runs reuse them; a new driver or atb version measures again. Without a
//! hardware GPU `auto` is the CPU at once, as before (a software adapter such as lavapipe is never
//! a candidate unless a caller names it, as the tests do).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use atb_models::device::{
    AdapterSummary, SelectedDevice, adapter_device, cpu_device, hardware_adapter,
};
use atb_models::probe::{Probe, ProbeSpec, StepTiming};
use atb_models::{DeviceChoice, list_adapters, select_device};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Steps timed on each device after the first (which compiles kernels and is not compared).
const TIMED_STEPS: usize = 3;

/// What a measurement is valid for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeKey {
    pub atb_version: String,
    pub adapter: String,
    pub backend: String,
    pub driver: String,
    pub architecture: String,
    pub variant: String,
    pub overrides: String,
    pub input: [usize; 2],
    pub batch: usize,
}

impl ProbeKey {
    fn new(adapter: &AdapterSummary, spec: &ProbeSpec, atb_version: &str) -> Self {
        Self {
            atb_version: atb_version.to_string(),
            adapter: adapter.name.clone(),
            backend: adapter.backend.clone(),
            driver: adapter.driver.clone(),
            architecture: spec.architecture.to_string(),
            variant: spec.variant.to_string(),
            overrides: serde_json::to_string(&spec.overrides).unwrap_or_default(),
            input: spec.input,
            batch: spec.batch,
        }
    }
}

/// One model's timings on both devices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRecord {
    pub key: ProbeKey,
    pub gpu: StepTiming,
    pub cpu: StepTiming,
}

/// Where the measurement came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeSource {
    Measured,
    Cached,
}

/// The measured choice: the device, and what it rests on.
#[derive(Debug, Clone)]
pub struct MeasuredChoice {
    pub selected: SelectedDevice,
    pub record: ProbeRecord,
    pub source: ProbeSource,
}

static CACHE_FILE: OnceLock<PathBuf> = OnceLock::new();
/// One probe at a time: two runs measuring at once would time each other.
static PROBING: Mutex<()> = Mutex::new(());

/// Keeps the measurements in `dir` (the GPU kernel cache's folder); set once per process.
pub fn set_probe_cache_dir(dir: &Path) {
    let _ = CACHE_FILE.set(dir.join("device-probes.json"));
}

/// The device a training run of `spec` uses for `choice`: `cpu` and `gpu` as asked; `auto` the
/// faster of the hardware GPU and the CPU for this very model, measured (or remembered).
pub fn training_device(choice: DeviceChoice, spec: &ProbeSpec) -> Result<SelectedDevice> {
    if choice != DeviceChoice::Auto {
        return select_device(choice).map_err(Error::from);
    }
    let adapters = list_adapters();
    let Some(adapter) = hardware_adapter(&adapters) else {
        // No hardware GPU: `select_device` says why the CPU, without measuring anything.
        return select_device(choice).map_err(Error::from);
    };
    let measured = measured_choice(
        adapter,
        spec,
        CACHE_FILE.get().map(PathBuf::as_path),
        env!("CARGO_PKG_VERSION"),
        Objective::TrainingStep,
    )?;
    Ok(measured.selected)
}

/// Whether `auto` has a hardware GPU to measure against the CPU (adapters are listed once per
/// process).
pub fn hardware_gpu_present() -> bool {
    hardware_adapter(&list_adapters()).is_some()
}

/// The device a single-window forecast of `spec` runs on: the CPU unless a hardware GPU's own
/// measured single-window latency for this model is lower (measured, or remembered, as for
/// training).
pub fn forecast_device(spec: &ProbeSpec) -> Result<SelectedDevice> {
    let adapters = list_adapters();
    let Some(adapter) = hardware_adapter(&adapters) else {
        return Ok(cpu_device(
            "a single window runs on the CPU: no hardware GPU".to_string(),
        ));
    };
    Ok(measured_choice(
        adapter,
        spec,
        CACHE_FILE.get().map(PathBuf::as_path),
        env!("CARGO_PKG_VERSION"),
        Objective::SingleWindow,
    )?
    .selected)
}

/// What is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objective {
    /// The median training step.
    TrainingStep,
    /// The median single-window forward pass (a forecast's latency).
    SingleWindow,
}

/// Measures (or reads) `spec` on `adapter` and on the CPU and picks the faster for `objective`.
/// `cache` is the JSON file of earlier measurements (none: always measure, keep nothing).
pub fn measured_choice(
    adapter: &AdapterSummary,
    spec: &ProbeSpec,
    cache: Option<&Path>,
    atb_version: &str,
    objective: Objective,
) -> Result<MeasuredChoice> {
    let _one_at_a_time = PROBING.lock().unwrap_or_else(|e| e.into_inner());
    let key = ProbeKey::new(adapter, spec, atb_version);
    let mut records = cache.map(read_records).unwrap_or_default();
    let (record, source) = match records.iter().find(|r| r.key == key) {
        Some(r) => (r.clone(), ProbeSource::Cached),
        None => {
            let gpu = adapter_device(adapter, String::new()).map_err(Error::from)?;
            let record = ProbeRecord {
                key: key.clone(),
                gpu: time_on(spec, &gpu.device)?,
                cpu: time_on(spec, &cpu_device(String::new()).device)?,
            };
            // A measurement for an older atb or driver of this model is replaced, not kept.
            records.retain(|r| !same_model_and_adapter(&r.key, &key));
            records.push(record.clone());
            if let Some(path) = cache {
                write_records(path, &records);
            }
            (record, ProbeSource::Measured)
        }
    };
    let pick = |t: &StepTiming| match objective {
        Objective::TrainingStep => t.step_ms,
        Objective::SingleWindow => t.forward_ms,
    };
    let (gpu_ms, cpu_ms) = (pick(&record.gpu), pick(&record.cpu));
    let what = match objective {
        Objective::TrainingStep => "per training step",
        Objective::SingleWindow => "per single-window forecast",
    };
    let how = match source {
        ProbeSource::Measured => "measured now",
        ProbeSource::Cached => "measured earlier on this machine",
    };
    let timings = format!(
        "{} {}: {} {gpu_ms:.2} ms vs CPU {cpu_ms:.2} ms {what} ({how})",
        spec.architecture, spec.variant, adapter.name
    );
    let selected = if gpu_ms < cpu_ms {
        adapter_device(adapter, format!("auto: the GPU is faster for {timings}"))
            .map_err(Error::from)?
    } else {
        cpu_device(format!(
            "auto: the CPU is faster for {timings}; use --device gpu to force the GPU"
        ))
    };
    Ok(MeasuredChoice {
        selected,
        record,
        source,
    })
}

fn same_model_and_adapter(a: &ProbeKey, b: &ProbeKey) -> bool {
    a.adapter == b.adapter
        && a.backend == b.backend
        && a.architecture == b.architecture
        && a.variant == b.variant
        && a.overrides == b.overrides
        && a.input == b.input
        && a.batch == b.batch
}

fn time_on(spec: &ProbeSpec, device: &atb_models::burn::prelude::Device) -> Result<StepTiming> {
    Probe::new(spec, device)
        .and_then(|mut p| p.time(TIMED_STEPS))
        .map_err(Error::from)
}

/// Earlier measurements; an unreadable file counts as none (it is only a cache).
fn read_records(path: &Path) -> Vec<ProbeRecord> {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Replaces the file whole (write, then rename), so a killed process leaves the old one.
fn write_records(path: &Path, records: &[ProbeRecord]) {
    let Ok(json) = serde_json::to_vec_pretty(records) else {
        return;
    };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let tmp = path.with_extension("json.tmp");
    if std::fs::write(&tmp, json).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(step_ms: f64, forward_ms: f64) -> StepTiming {
        StepTiming {
            first_ms: 100.0,
            step_ms,
            forward_ms,
        }
    }

    #[test]
    fn a_cached_slower_gpu_gives_the_cpu_with_both_timings() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("device-probes.json");
        let adapter = AdapterSummary {
            name: "Test GPU".into(),
            backend: "Vulkan".into(),
            device_type: "DiscreteGpu".into(),
            hardware: true,
            driver: "test 1".into(),
        };
        let spec = ProbeSpec::default_model(atb_models::Architecture::Lstm);
        let record = ProbeRecord {
            key: ProbeKey::new(&adapter, &spec, "9.9.9"),
            gpu: timing(40.0, 0.5),
            cpu: timing(10.0, 2.0),
        };
        write_records(&file, std::slice::from_ref(&record));
        let c = measured_choice(
            &adapter,
            &spec,
            Some(&file),
            "9.9.9",
            Objective::TrainingStep,
        )
        .unwrap();
        assert_eq!(c.source, ProbeSource::Cached);
        assert!(!c.selected.is_gpu);
        assert!(
            c.selected.reason.contains("40.00 ms") && c.selected.reason.contains("10.00 ms"),
            "{}",
            c.selected.reason
        );
    }
}
