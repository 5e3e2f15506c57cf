//! The GPU dispatch budget: one warm training step of every default model (window 120, batch
//! 32: forward, backward and the Adam update) issues at most `TRAINING_STEP_DISPATCH_BUDGET` kernel
//! dispatches on wgpu, counted on whatever adapter exists (in CI: Mesa's lavapipe). Dispatch
//! count, not arithmetic, is what bounds a small model's step time on a GPU.

use atb_models::device::{select_device, set_gpu_kernel_cache};
use atb_models::probe::{Probe, ProbeSpec, TRAINING_STEP_DISPATCH_BUDGET};
use atb_models::{Architecture, DeviceChoice};

#[test]
fn every_default_training_step_fits_the_dispatch_budget() {
    if atb_models::device::skip_without_gpu() {
        return;
    }
    set_gpu_kernel_cache(&std::env::temp_dir().join("atb-test-gpu-cache"));
    let device = select_device(DeviceChoice::Gpu).unwrap().device;
    let mut over = Vec::new();
    for a in Architecture::NETWORKS {
        let started = std::time::Instant::now();
        let mut probe = Probe::new(&ProbeSpec::default_model(a), &device).unwrap();
        let d = probe.dispatches().unwrap();
        println!(
            "{a}: training step {} dispatches, single-window forward {} ({:.1} s)",
            d.training_step.total,
            d.single_window_forward.total,
            started.elapsed().as_secs_f64()
        );
        for (k, n) in d.training_step.by_kernel.iter().take(8) {
            println!("    {n:5} {k}");
        }
        if d.training_step.total > TRAINING_STEP_DISPATCH_BUDGET {
            over.push(format!("{a}: {}", d.training_step.total));
        }
    }
    assert!(
        over.is_empty(),
        "training steps over the budget of {TRAINING_STEP_DISPATCH_BUDGET} dispatches: {}",
        over.join(", ")
    );
}
