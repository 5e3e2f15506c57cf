//! Profiling helper: times the forward, backward, gradient and optimiser parts of one training
//! step of a default model (batch 32 x 120 x 5, CPU), or runs 200 forwards (`fwd`) for `perf`.
//! `cargo run --release -p atb-models --example step_timing -- lstm [fwd]`

use atb_models::burn::nn::loss::{MseLoss, Reduction};
use atb_models::burn::optim::GradientsParams;
use atb_models::burn::prelude::*;
use atb_models::burn::tensor::Distribution;
use atb_models::{Architecture, ModelOverrides, Variant, build_model};
use std::time::Instant;
fn main() {
    atb_models::kernels::memory::hold_freed_memory();
    let which: Architecture = std::env::args()
        .nth(1)
        .unwrap_or("lstm".into())
        .parse()
        .unwrap();
    let device = Device::flex().autodiff();
    let (mut model, _) = build_model(
        which,
        Variant::Default,
        [120, 5],
        &ModelOverrides::default(),
        &device,
    )
    .unwrap();
    let x: Tensor<3> = Tensor::random([32, 120, 5], Distribution::Normal(0.0, 1.0), &device);
    let y: Tensor<2> = Tensor::zeros([32, 1], &device);
    let mut optim = atb_models::optim::adam();
    if std::env::args().nth(2).as_deref() == Some("fwd") {
        for _ in 0..200 {
            let _ = model.forward(x.clone()).sum().into_scalar::<f32>();
        }
        return;
    }
    let (mut tf, mut tb, mut tg, mut to) = (0.0, 0.0, 0.0, 0.0);
    let n = 30;
    for i in 0..n + 3 {
        let s = Instant::now();
        let loss = MseLoss::new().forward(model.forward(x.clone()), y.clone(), Reduction::Mean);
        let _ = loss.clone().into_scalar::<f32>();
        let a = s.elapsed().as_secs_f64();
        let g = loss.backward();
        let b = s.elapsed().as_secs_f64();
        let grads = GradientsParams::from_grads(g, &model);
        let c = s.elapsed().as_secs_f64();
        model = optim.step(1e-3, model, grads);
        let d = s.elapsed().as_secs_f64();
        if i >= 3 {
            tf += a;
            tb += b - a;
            tg += c - b;
            to += d - c;
        }
    }
    let k = 1e3 / n as f64;
    println!(
        "{which}: forward {:.2} ms, backward {:.2} ms, grads {:.2} ms, adam {:.2} ms, total {:.2} ms",
        tf * k,
        tb * k,
        tg * k,
        to * k,
        (tf + tb + tg + to) * k
    );
}
