//! Forward and forward+backward time per batch of 32 x 120 x 5 for each default model, on the CPU
//! and, when one exists, on the GPU. Prints figures; asserts nothing about speed.
//!
//! Run: `cargo bench -p atb-models --bench models` (add `--features gpu` for the GPU column).

use std::time::Instant;

use atb_models::burn::nn::loss::{MseLoss, Reduction};
use atb_models::burn::prelude::*;
use atb_models::burn::tensor::Distribution;
use atb_models::{DeviceChoice, ModelOverrides, ModelType, Variant, build_model, select_device};

const REPEATS: usize = 5;

fn time_ms(mut f: impl FnMut()) -> f64 {
    f(); // warm-up (and kernel compilation on a GPU)
    let started = Instant::now();
    for _ in 0..REPEATS {
        f();
    }
    started.elapsed().as_secs_f64() * 1e3 / REPEATS as f64
}

fn main() {
    let mut devices = vec![select_device(DeviceChoice::Cpu).expect("cpu")];
    // A hardware GPU only: a software adapter (lavapipe) would take minutes and say nothing.
    match select_device(DeviceChoice::Auto) {
        Ok(gpu) if gpu.is_gpu => devices.push(gpu),
        Ok(cpu) => println!("no GPU column: {}", cpu.reason),
        Err(e) => println!("no GPU column: {e}"),
    }
    println!("per batch of 32 x 120 x 5, mean of {REPEATS} after one warm-up");
    println!(
        "{:<16} {:<40} {:>12} {:>18}",
        "model", "device", "forward", "forward+backward"
    );
    for model_type in ModelType::ALL {
        for selected in &devices {
            let device = selected.device.clone();
            let (model, _) = build_model(
                model_type,
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
            let train_device = device.clone().autodiff();
            let (train_model, _) = build_model(
                model_type,
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
            println!(
                "{:<16} {:<40} {:>9.1} ms {:>15.1} ms",
                model_type.as_str(),
                selected.name,
                forward,
                backward
            );
        }
    }
}
