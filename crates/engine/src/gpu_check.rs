//! `atb dev gpu-check`: which adapters wgpu sees, which device training would use and why, and
//! how fast a 1024x1024 matmul and one `tcn default` training step run there and on the CPU.

use std::time::Instant;

use atb_models::DeviceChoice;
use atb_models::burn::nn::loss::{MseLoss, Reduction};
use atb_models::burn::optim::GradientsParams;
use atb_models::burn::prelude::*;
use atb_models::burn::tensor::Distribution;
use atb_models::device::{GPU_BACKEND_COMPILED, SelectedDevice, set_gpu_kernel_cache};
use atb_models::{
    AdapterSummary, Architecture, ModelOverrides, Variant, build_model, list_adapters,
    select_device,
};
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
    /// Mean of the next three steps.
    pub step_ms: f64,
}

/// Everything `atb dev gpu-check` reports.
#[derive(Debug, Clone, Serialize)]
pub struct GpuCheckReport {
    pub gpu_backend_compiled: bool,
    pub adapters: Vec<AdapterSummary>,
    pub auto_device: String,
    pub auto_reason: String,
    /// What `--device gpu` would use, or why it cannot.
    pub gpu_device: std::result::Result<String, String>,
    pub timings: Vec<DeviceTiming>,
}

/// Points CubeCL's kernel/autotune cache, and `auto`'s device measurements, at
/// `ATB_HOME/gpu-cache` (call before any GPU use).
pub fn use_home_kernel_cache(settings: &Settings) {
    let dir = settings.home.join("gpu-cache");
    set_gpu_kernel_cache(&dir);
    crate::device_probe::set_probe_cache_dir(&dir);
}

/// Runs the check; timing runs only on devices that exist.
pub fn gpu_check(settings: &Settings) -> Result<GpuCheckReport> {
    use_home_kernel_cache(settings);
    let adapters = list_adapters();
    let auto = select_device(DeviceChoice::Auto).map_err(Error::from)?;
    let gpu = select_device(DeviceChoice::Gpu);
    let mut timings = Vec::new();
    if let Ok(g) = &gpu {
        timings.push(time_device(g)?);
    }
    timings.push(time_device(
        &select_device(DeviceChoice::Cpu).map_err(Error::from)?,
    )?);
    Ok(GpuCheckReport {
        gpu_backend_compiled: GPU_BACKEND_COMPILED,
        adapters,
        auto_device: auto.name,
        auto_reason: auto.reason,
        gpu_device: gpu.map(|g| g.name).map_err(|e| e.to_string()),
        timings,
    })
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

fn time_device(selected: &SelectedDevice) -> Result<DeviceTiming> {
    let device = selected.device.clone();
    let a: Tensor<2> = Tensor::random([1024, 1024], Distribution::Normal(0.0, 1.0), &device);
    let b: Tensor<2> = Tensor::random([1024, 1024], Distribution::Normal(0.0, 1.0), &device);
    // Reading a value back waits for the device, so the timing covers the work.
    let _ = a.clone().matmul(b.clone()).sum().into_scalar::<f32>();
    let started = Instant::now();
    let _ = a.matmul(b).sum().into_scalar::<f32>();
    let matmul_ms = ms(started);

    let train_device = device.clone().autodiff();
    let (mut model, _) = build_model(
        Architecture::Tcn,
        Variant::Default,
        [120, 5],
        &ModelOverrides::default(),
        &train_device,
    )
    .map_err(Error::from)?;
    let mut optim = atb_models::optim::adam();
    let x: Tensor<3> = Tensor::random([32, 120, 5], Distribution::Normal(0.0, 1.0), &train_device);
    let y: Tensor<2> = Tensor::random([32, 1], Distribution::Normal(0.0, 1.0), &train_device);
    let mut step_times = Vec::new();
    for _ in 0..4 {
        let started = Instant::now();
        let loss = MseLoss::new().forward(model.forward(x.clone()), y.clone(), Reduction::Mean);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-3, model, grads);
        // GPU work is queued; wait for it so the timing covers the step.
        train_device
            .sync()
            .map_err(|e| Error::Model(atb_models::ModelError::Device(format!("{e:?}"))))?;
        step_times.push(ms(started));
    }
    Ok(DeviceTiming {
        device: selected.name.clone(),
        matmul_ms,
        first_step_ms: step_times[0],
        step_ms: step_times[1..].iter().sum::<f64>() / 3.0,
    })
}
