//! The GPU kernels (`gpu_kernels`) on whatever adapter wgpu finds (in CI: Mesa's lavapipe):
//! every model with an LSTM gives the same outputs and parameter gradients through the fused GPU
//! layer as through Burn's generic operations on the same GPU, and as the fused CPU kernels from
//! the same weights and batch. Skipped, saying why, without a GPU backend or adapter. Alone in
//! its binary because it switches the process-wide kernel choice.

use atb_models::device::{GPU_BACKEND_COMPILED, select_device, set_gpu_kernel_cache};
use atb_models::fused::{Kernels, lstm_available, set_kernels};
use atb_models::{
    Architecture, DeviceChoice, ForecastModel, ModelOverrides, Variant, build_model, list_adapters,
};
use burn::module::{Module, ModuleVisitor, Param};

use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Distribution;

const L: usize = 24;
const F: usize = 5;

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

struct Collect<'a> {
    grads: &'a GradientsParams,
    out: Vec<Vec<f32>>,
}

impl ModuleVisitor for Collect<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let g = self
            .grads
            .get::<D>(param.id)
            .expect("every parameter has a gradient");
        self.out.push(values(g));
    }
}

/// Output and parameter gradients of `loss = Σ output · coef`.
fn run(model: &ForecastModel, x: &Tensor<3>, kernels: Kernels) -> (Vec<f32>, Vec<Vec<f32>>) {
    set_kernels(kernels);
    let out = model.forward(x.clone());
    let [batch, _] = out.dims();
    let coef = Tensor::<2>::from_data(
        TensorData::new(
            (0..batch)
                .map(|i| 1.0 + i as f32 * 0.25)
                .collect::<Vec<_>>(),
            [batch, 1],
        ),
        &x.device(),
    );
    let loss = (out.clone() * coef).sum();
    let grads = GradientsParams::from_grads(loss.backward(), model);
    let mut collect = Collect {
        grads: &grads,
        out: Vec::new(),
    };
    model.visit(&mut collect);
    (values(out), collect.out)
}

fn close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-3);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-4 * scale + 1e-6,
            "{what}[{i}]: {x} vs reference {y} (scale {scale})"
        );
    }
}

fn gpu() -> Option<Device> {
    if !GPU_BACKEND_COMPILED || list_adapters().is_empty() {
        println!("SKIPPED: no GPU backend or no adapter (install mesa-vulkan-drivers)");
        return None;
    }
    set_gpu_kernel_cache(&std::env::temp_dir().join("atb-test-gpu-cache"));
    Some(select_device(DeviceChoice::Gpu).unwrap().device)
}

#[test]
fn the_gpu_lstm_matches_the_generic_path_and_the_cpu_kernels() {
    let Some(gpu) = gpu() else { return };
    let train_gpu = gpu.clone().autodiff();
    let train_cpu = Device::flex().autodiff();
    // No dropout: the paths draw their masks differently.
    let overrides = ModelOverrides {
        dropout: Some(0.0),
        ..ModelOverrides::default()
    };
    for t in [
        Architecture::Lstm,
        Architecture::CnnLstm,
        Architecture::AttentionLstm,
    ] {
        for v in Variant::ALL {
            train_gpu.seed(5);
            let (model, config) = build_model(t, v, [L, F], &overrides, &train_gpu).unwrap();
            let on_cpu = ForecastModel::from_safetensors(
                &config,
                model.to_safetensors().unwrap(),
                &train_cpu,
            )
            .unwrap();
            let x_cpu = Tensor::<3>::random([3, L, F], Distribution::Normal(0.0, 1.0), &train_cpu);
            let x = x_cpu.clone().to_device(&train_gpu);
            set_kernels(Kernels::Fused);
            assert!(
                lstm_available(&x),
                "the GPU kernel must be the one under test"
            );
            let (out_g, grads_g) = run(&model, &x, Kernels::Generic);
            let (out_f, grads_f) = run(&model, &x, Kernels::Fused);
            let (out_c, grads_c) = run(&on_cpu, &x_cpu, Kernels::Fused);
            for (reference, out_r, grads_r) in [
                ("generic GPU", &out_g, &grads_g),
                ("fused CPU", &out_c, &grads_c),
            ] {
                close(&out_f, out_r, &format!("{t} {v} output vs {reference}"));
                assert_eq!(grads_f.len(), grads_r.len());
                for (i, (f, r)) in grads_f.iter().zip(grads_r).enumerate() {
                    close(f, r, &format!("{t} {v} gradient {i} vs {reference}"));
                }
            }
            // Inference (no autodiff) takes the GPU kernel too.
            let eval = model.valid();
            let x = x.inner();
            set_kernels(Kernels::Generic);
            let g = values(eval.forward(x.clone()));
            set_kernels(Kernels::Fused);
            let f = values(eval.forward(x));
            close(&f, &g, &format!("{t} {v} inference"));
        }
    }
    set_kernels(Kernels::Fused);
}
