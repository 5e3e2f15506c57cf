//! GPU smoke test: a forward pass and one training step of a small model through Burn's wgpu
//! backend, on whatever adapter exists (in CI: Mesa's lavapipe, a software Vulkan device).
//! Skipped with a printed reason where the build has no GPU backend or no adapter exists, and
//! failed instead where `ATB_REQUIRE_GPU` is set (CI).

use atb_models::burn::nn::loss::{MseLoss, Reduction};
use atb_models::burn::optim::GradientsParams;
use atb_models::burn::prelude::*;
use atb_models::burn::tensor::Distribution;
use atb_models::device::set_gpu_kernel_cache;
use atb_models::{Architecture, DeviceChoice, ModelOverrides, Variant, build_model, select_device};

#[test]
fn a_small_model_runs_forward_and_trains_one_step_on_wgpu() {
    if atb_models::device::skip_without_gpu() {
        return;
    }
    // Keep compiled kernels between runs, next to the build.
    let cache = std::env::temp_dir().join("atb-test-gpu-cache");
    set_gpu_kernel_cache(&cache);
    let selected = select_device(DeviceChoice::Gpu).expect("an adapter exists");
    println!("running on {} ({})", selected.name, selected.reason);
    let device = selected.device.autodiff();
    let (mut model, _) = build_model(
        Architecture::Tcn,
        Variant::Lightweight,
        [16, 5],
        &ModelOverrides::default(),
        &device,
    )
    .unwrap();
    let x: Tensor<3> = Tensor::random([4, 16, 5], Distribution::Normal(0.0, 1.0), &device);
    let y: Tensor<2> = Tensor::random([4, 1], Distribution::Normal(0.0, 1.0), &device);
    // Losses compared without dropout, so only the step can change them.
    let eval_loss = |m: &atb_models::ForecastModel| {
        let pred = m.valid().forward(x.clone().inner());
        MseLoss::new()
            .forward(pred, y.clone().inner(), Reduction::Mean)
            .into_scalar::<f32>()
    };
    let out = model.forward(x.clone());
    assert_eq!(out.dims(), [4, 1]);
    let before = eval_loss(&model);
    let mut optim = atb_models::optim::adam();
    let loss = MseLoss::new().forward(out, y.clone(), Reduction::Mean);
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    model = optim.step(1e-4, model, grads);
    let after = eval_loss(&model);
    assert!(before.is_finite() && after.is_finite());
    assert!(
        after < before,
        "one small step did not lower the loss: {before} -> {after}"
    );
}

/// All 15 pairs on a real GPU: output shape, finiteness, one training step, and agreement with
/// the CPU on the same weights. Prepared for a lent GPU machine:
/// `cargo test --release -p atb-models --features gpu --test wgpu_smoke -- --ignored --nocapture`
#[test]
#[ignore = "needs a hardware GPU; run with --ignored on a GPU machine"]
fn all_pairs_on_a_hardware_gpu() {
    use atb_models::ForecastModel;
    let selected = select_device(DeviceChoice::Auto).expect("device");
    assert!(selected.is_gpu, "no hardware GPU: {}", selected.reason);
    println!("GPU: {} ({})", selected.name, selected.reason);
    let gpu = selected.device.clone();
    let cpu = Device::flex();
    for t in Architecture::NETWORKS {
        for v in Variant::ALL {
            let started = std::time::Instant::now();
            let (model, config) =
                build_model(t, v, [120, 5], &ModelOverrides::default(), &gpu).unwrap();
            let x: Tensor<3> = Tensor::random([7, 120, 5], Distribution::Normal(0.0, 1.0), &cpu);
            let out_gpu = model.forward(x.clone().to_device(&gpu));
            assert_eq!(out_gpu.dims(), [7, 1]);
            let gpu_values = out_gpu.into_data().try_to_vec::<f32>().unwrap();
            assert!(gpu_values.iter().all(|v| v.is_finite()), "{t} {v}");
            // The same weights on the CPU give the same outputs.
            let on_cpu =
                ForecastModel::from_safetensors(&config, model.to_safetensors().unwrap(), &cpu)
                    .unwrap();
            let cpu_values = on_cpu
                .forward(x.clone())
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let diff = gpu_values
                .iter()
                .zip(&cpu_values)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(diff < 1e-3, "{t} {v}: GPU and CPU differ by {diff}");
            // One training step on the GPU.
            let train = gpu.clone().autodiff();
            let (mut m, _) =
                build_model(t, v, [120, 5], &ModelOverrides::default(), &train).unwrap();
            let xt = x.to_device(&train);
            let y: Tensor<2> = Tensor::zeros([7, 1], &train);
            let loss = MseLoss::new().forward(m.forward(xt), y, Reduction::Mean);
            let value = loss.clone().into_scalar::<f32>();
            let grads = GradientsParams::from_grads(loss.backward(), &m);
            m = atb_models::optim::adam().step(1e-4, m, grads);
            let _ = m;
            assert!(value.is_finite(), "{t} {v}");
            println!(
                "{t:<15} {v:<12} ok: loss {value:.4}, |gpu - cpu| {diff:.2e}, {:.2} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
}
