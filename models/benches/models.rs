//! Forward, forward+backward and a whole Adam step per batch of 32 x 120 x 5, and single-window
//! forward latency, for each default model: on the CPU with the fused kernels and with Burn's
//! generic operations, and, when one exists, on the GPU. Prints figures; asserts nothing about
//! speed.
//!
//! Run: `cargo bench -p atb-models --bench models` (add `--features gpu` for the GPU column;
//! `-- tcn lstm` for some models only, `-- fused` or `-- generic` for one CPU path).

use std::time::Instant;

use atb_models::burn::nn::loss::{MseLoss, Reduction};
use atb_models::burn::optim::GradientsParams;
use atb_models::burn::prelude::*;
use atb_models::burn::tensor::Distribution;
use atb_models::fused::{Kernels, set_kernels};
use atb_models::{Architecture, DeviceChoice, ModelOverrides, Variant, build_model, select_device};

const REPEATS: usize = 11;

/// Median single-window forward latency in milliseconds over 200 calls.
fn latency_ms(model: &atb_models::ForecastModel, device: &Device) -> f64 {
    let x: Tensor<3> = Tensor::random([1, 120, 5], Distribution::Normal(0.0, 1.0), device);
    for _ in 0..20 {
        let _ = model.forward(x.clone()).into_data();
    }
    let mut t: Vec<f64> = (0..200)
        .map(|_| {
            let started = Instant::now();
            let _ = model.forward(x.clone()).into_data();
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[100]
}

fn time_ms(mut f: impl FnMut()) -> f64 {
    f(); // warm-up (and kernel compilation on a GPU)
    let mut t: Vec<f64> = (0..REPEATS)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[REPEATS / 2]
}

fn main() {
    atb_models::kernels::memory::hold_freed_memory();
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut runs = vec![
        (
            select_device(DeviceChoice::Cpu).expect("cpu"),
            Kernels::Fused,
        ),
        (
            select_device(DeviceChoice::Cpu).expect("cpu"),
            Kernels::Generic,
        ),
    ];
    // `-- fused` or `-- generic` keeps one CPU path only (for profiling).
    if only.iter().any(|o| o == "fused") {
        runs.retain(|r| r.1 == Kernels::Fused);
    }
    if only.iter().any(|o| o == "generic") {
        runs.retain(|r| r.1 == Kernels::Generic);
    }
    // A hardware GPU only: a software adapter (lavapipe) would take minutes and say nothing.
    match select_device(DeviceChoice::Auto) {
        Ok(gpu) if gpu.is_gpu => runs.push((gpu, Kernels::Fused)),
        Ok(cpu) => println!("no GPU column: {}", cpu.reason),
        Err(e) => println!("no GPU column: {e}"),
    }
    println!(
        "per batch of 32 x 120 x 5, median of {REPEATS} after one warm-up; {} Rayon threads",
        rayon::current_num_threads()
    );
    println!(
        "{:<16} {:<26} {:>10} {:>12} {:>12} {:>14} {:>13}",
        "model", "device", "forward", "fwd+bwd", "Adam step", "windows/s", "1-window p50"
    );
    for architecture in Architecture::NETWORKS {
        let named = |o: &String| Architecture::ALL.iter().any(|t| t.as_str() == o);
        if only.iter().any(named) && !only.iter().any(|o| o == architecture.as_str()) {
            continue;
        }
        for (selected, kernels) in &runs {
            set_kernels(*kernels);
            let device = selected.device.clone();
            let (model, _) = build_model(
                architecture,
                Variant::Default,
                [120, 5],
                &ModelOverrides::default(),
                &device,
            )
            .expect("build");
            let x: Tensor<3> =
                Tensor::random([32, 120, 5], Distribution::Normal(0.0, 1.0), &device);
            let forward = time_ms(|| {
                let _ = model.forward(x.clone()).sum().into_scalar::<f32>();
            });
            let latency = latency_ms(&model, &device);
            let train_device = device.clone().autodiff();
            let (train_model, _) = build_model(
                architecture,
                Variant::Default,
                [120, 5],
                &ModelOverrides::default(),
                &train_device,
            )
            .expect("build");
            let xt: Tensor<3> =
                Tensor::random([32, 120, 5], Distribution::Normal(0.0, 1.0), &train_device);
            let yt: Tensor<2> = Tensor::zeros([32, 1], &train_device);
            let backward = time_ms(|| {
                let loss = MseLoss::new().forward(
                    train_model.forward(xt.clone()),
                    yt.clone(),
                    Reduction::Mean,
                );
                let _grads = loss.backward();
                let _ = train_device.sync();
            });
            let mut optim = atb_models::optim::adam();
            let mut stepped = Some(train_model);
            let step = time_ms(|| {
                let m = stepped.take().expect("model");
                let loss =
                    MseLoss::new().forward(m.forward(xt.clone()), yt.clone(), Reduction::Mean);
                let _ = loss.clone().into_scalar::<f32>();
                let grads = GradientsParams::from_grads(loss.backward(), &m);
                stepped = Some(optim.step(1e-3, m, grads));
            });
            let name = match kernels {
                Kernels::Fused if !selected.is_gpu => format!("{} fused", selected.name),
                Kernels::Generic => format!("{} generic", selected.name),
                Kernels::Fused => selected.name.clone(),
            };
            println!(
                "{:<16} {:<26} {:>7.2} ms {:>9.2} ms {:>9.2} ms {:>14.0} {:>10.3} ms",
                architecture.as_str(),
                name,
                forward,
                backward,
                step,
                32.0 / (step / 1e3),
                latency
            );
        }
    }
}
