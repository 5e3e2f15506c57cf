//! `atb dev gpu-check`: which adapters wgpu sees, which device training would use and why, how
//! fast a 1024x1024 matmul and `tcn default` training steps run on each device, and how many GPU
//! kernel dispatches one training step and one single-window forecast of every default model
//! issue (the dispatch budget, `probe::TRAINING_STEP_DISPATCH_BUDGET`).

use std::time::Instant;

use atb_models::DeviceChoice;
use atb_models::burn::prelude::*;
use atb_models::burn::tensor::Distribution;
use atb_models::device::{
    DispatchCount, GPU_BACKEND_COMPILED, SelectedDevice, set_gpu_kernel_cache,
};
use atb_models::probe::{Probe, ProbeSpec, TRAINING_STEP_DISPATCH_BUDGET};
use atb_models::{AdapterSummary, Architecture, list_adapters, select_device};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::settings::Settings;

/// Timings on one device.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceTiming {
    pub device: String,
    /// One 1024x1024 f32 matmul after a warm-up run, milliseconds.
    pub matmul_ms: f64,
    /// First training step of `tcn default` (batch 32 x 120 x 5): includes kernel compilation.
    pub first_step_ms: f64,
    /// Median of the next three steps.
    pub step_ms: f64,
    /// Median single-window forward pass of the same model.
    pub single_window_ms: f64,
}

/// One default model's GPU dispatches.
#[derive(Debug, Clone, Serialize)]
pub struct ModelDispatches {
    pub architecture: Architecture,
    pub training_step: DispatchCount,
    pub single_window_forward: DispatchCount,
}

/// Everything `atb dev gpu-check` reports.
#[derive(Debug, Clone, Serialize)]
pub struct GpuCheckReport {
    pub gpu_backend_compiled: bool,
    pub adapters: Vec<AdapterSummary>,
    /// What `--device auto` takes for `tcn default` (by measurement where a hardware GPU exists).
    pub auto_device: String,
    pub auto_reason: String,
    /// What `--device gpu` would use, or why it cannot.
    pub gpu_device: std::result::Result<String, String>,
    pub timings: Vec<DeviceTiming>,
    /// Dispatches per default model on the GPU (empty without one).
    pub dispatches: Vec<ModelDispatches>,
    pub dispatch_budget: usize,
}

/// Points CubeCL's kernel/autotune cache, and `auto`'s device measurements, at
/// `ATB_HOME/gpu-cache` (call before any GPU use).
pub fn use_home_kernel_cache(settings: &Settings) {
    let dir = settings.home.join("gpu-cache");
    set_gpu_kernel_cache(&dir);
    crate::device_probe::set_probe_cache_dir(&dir);
}

/// Runs the check; timing and counting run only on devices that exist.
pub fn gpu_check(settings: &Settings) -> Result<GpuCheckReport> {
    use_home_kernel_cache(settings);
    let adapters = list_adapters();
    let tcn = ProbeSpec::default_model(Architecture::Tcn);
    let auto = crate::device_probe::training_device(DeviceChoice::Auto, &tcn)?;
    let gpu = select_device(DeviceChoice::Gpu);
    let mut timings = Vec::new();
    let mut dispatches = Vec::new();
    if let Ok(g) = &gpu {
        timings.push(time_device(g, &tcn)?);
        for architecture in Architecture::NETWORKS {
            let mut probe = Probe::new(&ProbeSpec::default_model(architecture), &g.device)?;
            let d = probe.dispatches()?;
            dispatches.push(ModelDispatches {
                architecture,
                training_step: d.training_step,
                single_window_forward: d.single_window_forward,
            });
        }
    }
    timings.push(time_device(
        &select_device(DeviceChoice::Cpu).map_err(Error::from)?,
        &tcn,
    )?);
    Ok(GpuCheckReport {
        gpu_backend_compiled: GPU_BACKEND_COMPILED,
        adapters,
        auto_device: auto.name,
        auto_reason: auto.reason,
        gpu_device: gpu.map(|g| g.name).map_err(|e| e.to_string()),
        timings,
        dispatches,
        dispatch_budget: TRAINING_STEP_DISPATCH_BUDGET,
    })
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

fn time_device(selected: &SelectedDevice, spec: &ProbeSpec) -> Result<DeviceTiming> {
    let device = selected.device.clone();
    let a: Tensor<2> = Tensor::random([1024, 1024], Distribution::Normal(0.0, 1.0), &device);
    let b: Tensor<2> = Tensor::random([1024, 1024], Distribution::Normal(0.0, 1.0), &device);
    // Reading a value back waits for the device, so the timing covers the work.
    let _ = a.clone().matmul(b.clone()).sum().into_scalar::<f32>();
    let started = Instant::now();
    let _ = a.matmul(b).sum().into_scalar::<f32>();
    let matmul_ms = ms(started);
    let steps = Probe::new(spec, &device)?.time(3)?;
    Ok(DeviceTiming {
        device: selected.name.clone(),
        matmul_ms,
        first_step_ms: steps.first_ms,
        step_ms: steps.step_ms,
        single_window_ms: steps.forward_ms,
    })
}
