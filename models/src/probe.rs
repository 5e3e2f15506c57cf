//! One training step of a model on a device, measured: its wall time (what `auto` compares
//! between the CPU and the GPU) and the GPU kernel dispatches it issues (what the dispatch
//! budget holds). The step is the trainer's: forward, MSE loss, backward, one Adam update
//! (`optim::adam`).

use std::time::Instant;

use burn::nn::loss::{MseLoss, Reduction};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::Distribution;
use serde::{Deserialize, Serialize};

use crate::device::{DispatchCount, count_dispatches};
use crate::{Architecture, ForecastModel, ModelError, ModelOverrides, Variant, build_model};

/// Most GPU kernel dispatches one warm training step of a default model may issue (window 120,
/// batch 32). A small model's GPU step time is bound by dispatches, not arithmetic; Burn's generic
/// LSTM took 23,000 per step.
pub const TRAINING_STEP_DISPATCH_BUDGET: usize = 300;

/// What to probe: one model at one input size and batch.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSpec {
    pub architecture: Architecture,
    pub variant: Variant,
    pub overrides: ModelOverrides,
    /// Window length and feature count.
    pub input: [usize; 2],
    pub batch: usize,
}

impl ProbeSpec {
    /// The default model at the bench's shape: window 120, five features, batch 32.
    pub fn default_model(architecture: Architecture) -> Self {
        Self {
            architecture,
            variant: Variant::Default,
            overrides: ModelOverrides::default(),
            input: [120, 5],
            batch: 32,
        }
    }
}

/// Wall times of training steps on one device, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepTiming {
    /// The first step: kernel compilation and autotuning on a GPU, allocation everywhere.
    pub first_ms: f64,
    /// The median of the steps after it.
    pub step_ms: f64,
    /// A single-window forward pass (the latency a forecast sees), median.
    pub forward_ms: f64,
}

/// The dispatches of one warm training step and of one single-window forward pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepDispatches {
    pub training_step: DispatchCount,
    pub single_window_forward: DispatchCount,
}

/// A model, its optimiser and one fixed random batch on a training (autodiff) device.
pub struct Probe {
    model: Option<ForecastModel>,
    optim: ModuleOptimizer,
    x: Tensor<3>,
    y: Tensor<2>,
    single: Tensor<3>,
    device: Device,
}

impl Probe {
    /// Builds the model on `device` (an inference device; autodiff is added here).
    pub fn new(spec: &ProbeSpec, device: &Device) -> Result<Self, ModelError> {
        let train = device.clone().autodiff();
        let (model, _) = build_model(
            spec.architecture,
            spec.variant,
            spec.input,
            &spec.overrides,
            &train,
        )?;
        let [t, f] = spec.input;
        Ok(Self {
            model: Some(model),
            optim: crate::optim::adam(),
            x: Tensor::random([spec.batch, t, f], Distribution::Normal(0.0, 1.0), &train),
            y: Tensor::random([spec.batch, 1], Distribution::Normal(0.0, 1.0), &train),
            single: Tensor::random([1, t, f], Distribution::Normal(0.0, 1.0), device),
            device: device.clone(),
        })
    }

    /// One training step, queued (the device may still be working when this returns).
    pub fn step(&mut self) {
        let model = self
            .model
            .take()
            .expect("the model is put back after every step");
        let loss = MseLoss::new().forward(
            model.forward(self.x.clone()),
            self.y.clone(),
            Reduction::Mean,
        );
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        self.model = Some(self.optim.step(1e-4, model, grads));
    }

    /// One single-window forward pass without autodiff, queued.
    pub fn forward_one(&self) -> Tensor<2> {
        let model = self.model.as_ref().expect("present between steps").valid();
        model.forward(self.single.clone())
    }

    /// Waits until the device has finished what was queued.
    pub fn sync(&self) -> Result<(), ModelError> {
        self.device
            .sync()
            .map_err(|e| ModelError::Device(format!("waiting for the device failed: {e:?}")))
    }

    /// Times `steps` training steps after the first, and `steps` single-window forwards.
    pub fn time(&mut self, steps: usize) -> Result<StepTiming, ModelError> {
        let started = Instant::now();
        self.step();
        self.sync()?;
        let first_ms = ms(started);
        let mut times = Vec::with_capacity(steps);
        for _ in 0..steps.max(1) {
            let started = Instant::now();
            self.step();
            self.sync()?;
            times.push(ms(started));
        }
        // The first forward compiles the inference kernels: not counted.
        let _ = self.forward_one().into_data();
        let mut forwards = Vec::with_capacity(steps);
        for _ in 0..steps.max(1) {
            let started = Instant::now();
            // Reading the value back is what a forecast waits for.
            let _ = self.forward_one().into_data();
            forwards.push(ms(started));
        }
        Ok(StepTiming {
            first_ms,
            step_ms: median(&mut times),
            forward_ms: median(&mut forwards),
        })
    }

    /// Counts the dispatches of one warm training step and one single-window forward (a step is
    /// run first so that compilation and autotuning do not count).
    pub fn dispatches(&mut self) -> Result<StepDispatches, ModelError> {
        self.step();
        self.sync()?;
        let _ = self.forward_one().into_data();
        let ((), training_step) = count_dispatches(|| self.step());
        self.sync()?;
        let (out, single_window_forward) = count_dispatches(|| self.forward_one());
        let _ = out.into_data();
        Ok(StepDispatches {
            training_step,
            single_window_forward,
        })
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
