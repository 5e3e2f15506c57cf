//! The GPU kernels (`gpu_kernels`) on whatever adapter wgpu finds (in CI: Mesa's lavapipe):
//! every (type, variant) gives the same outputs and parameter gradients through the fused GPU
//! LSTM and convolution as through Burn's generic operations on the same GPU, and as the fused
//! CPU kernels from the same weights and batch; two training steps with dropout and atb's Adam
//! (fused on the GPU) end at the same weights on the GPU and the CPU. Skipped, saying why, without a GPU backend or adapter. Alone in
//! its binary because it switches the process-wide kernel choice.

mod common;
use common::{close, run, values};

use atb_models::device::{select_device, set_gpu_kernel_cache};
use atb_models::fused::{Kernels, layer_kernels_available, set_kernels};
use atb_models::{Architecture, DeviceChoice, ForecastModel, ModelOverrides, Variant, build_model};
use burn::module::{Module, ModuleVisitor, Param};

use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Distribution;

const L: usize = 24;
const F: usize = 5;

/// The tests switch the process-wide kernel choice, so they take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn gpu() -> Option<Device> {
    if atb_models::device::skip_without_gpu() {
        return None;
    }
    set_gpu_kernel_cache(&std::env::temp_dir().join("atb-test-gpu-cache"));
    Some(select_device(DeviceChoice::Gpu).unwrap().device)
}

#[test]
fn the_gpu_kernels_match_the_generic_path_and_the_cpu_kernels() {
    let _turn = serial();
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
                layer_kernels_available(&x),
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

/// Every parameter's values, in visiting order.
struct Params(Vec<Vec<f32>>);

impl ModuleVisitor for Params {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(values(param.val()));
    }
}

/// Two training steps (forward, backward, atb's Adam) from the same weights and batch.
fn two_steps(mut model: ForecastModel, x: &Tensor<3>, y: &Tensor<2>) -> Vec<Vec<f32>> {
    use burn::nn::loss::{MseLoss, Reduction};
    let mut optim = atb_models::optim::adam();
    for _ in 0..2 {
        let loss = MseLoss::new().forward(model.forward(x.clone()), y.clone(), Reduction::Mean);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-3, model, grads);
    }
    let mut params = Params(Vec::new());
    model.visit(&mut params);
    params.0
}

/// With the default dropout on: the GPU draws its masks with the CPU kernels' hash, so from the
/// same mask seed both devices drop the same elements.
#[test]
fn every_default_training_step_on_the_gpu_matches_the_cpu() {
    use atb_models::kernels::random;
    let _turn = serial();
    let Some(gpu) = gpu() else { return };
    let train_gpu = gpu.autodiff();
    let train_cpu = Device::flex().autodiff();
    let overrides = ModelOverrides::default();
    set_kernels(Kernels::Fused);
    for t in Architecture::NETWORKS {
        train_gpu.seed(9);
        let (model, config) =
            build_model(t, Variant::Default, [L, F], &overrides, &train_gpu).unwrap();
        let on_cpu =
            ForecastModel::from_safetensors(&config, model.to_safetensors().unwrap(), &train_cpu)
                .unwrap();
        // Seeded inputs: the CPU's random source is process-wide, so unseeded draws differed from
        // run to run (and one draw in many took a parameter 1.4e-4 of its scale apart after two
        // Adam steps, beyond the 1e-4 allowed), which made the check flaky rather than strict.
        train_cpu.seed(17);
        let x = Tensor::<3>::random([4, L, F], Distribution::Normal(0.0, 1.0), &train_cpu);
        let y = Tensor::<2>::random([4, 1], Distribution::Normal(0.0, 1.0), &train_cpu);
        random::seed(21);
        let after_gpu = two_steps(
            model,
            &x.clone().to_device(&train_gpu),
            &y.clone().to_device(&train_gpu),
        );
        random::seed(21);
        let after_cpu = two_steps(on_cpu, &x, &y);
        assert_eq!(after_gpu.len(), after_cpu.len());
        for (i, (g, c)) in after_gpu.iter().zip(&after_cpu).enumerate() {
            close(
                g,
                c,
                &format!("{t} parameter {i} after two steps, GPU vs CPU"),
            );
        }
    }
}

/// The same values on the CPU (autodiff, tracked) and on the GPU.
fn leaf<const D: usize>(shape: [usize; D], seed: u64, gpu: &Device) -> (Tensor<D>, Tensor<D>) {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n)
        .map(|i| (((i as u64 * 2654435761 + seed * 97) % 1000) as f32 / 500.0) - 1.0)
        .collect();
    let data = TensorData::new(values, shape);
    let cpu = Tensor::<D>::from_data(data.clone(), &Device::flex().autodiff()).require_grad();
    let gpu = Tensor::<D>::from_data(data, &gpu.clone().autodiff()).require_grad();
    (cpu, gpu)
}

/// The operations the models do not reach in the test above: attention with a dropout mask on
/// its weights, and a convolution without its ReLU; values and input gradients, GPU vs CPU.
#[test]
fn masked_attention_and_a_plain_convolution_match_the_cpu_kernels() {
    use atb_models::fused::{conv1d_channels_last, multi_head_attention};
    use atb_models::kernels::conv::Epilogue;
    let _turn = serial();
    let Some(gpu) = gpu() else { return };
    set_kernels(Kernels::Fused);
    let (b, t, heads, d) = (2, 7, 3, 4);
    let (qc, qg) = leaf([b, t, heads * d], 1, &gpu);
    let (kc, kg) = leaf([b, t, heads * d], 2, &gpu);
    let (vc, vg) = leaf([b, t, heads * d], 3, &gpu);
    // Kept entries scaled by 1 / (1 - 0.3), the rest dropped, as a dropout mask is.
    let mask: Vec<f32> = (0..b * heads * t * t)
        .map(|i| if i % 3 == 1 { 0.0 } else { 1.0 / 0.7 })
        .collect();
    let mask = TensorData::new(mask, [b, heads, t, t]);
    let run = |q: Tensor<3>, k: Tensor<3>, v: Tensor<3>, device: &Device| {
        let m = Tensor::<4>::from_data(mask.clone(), device);
        let ctx = multi_head_attention(q.clone(), k.clone(), v.clone(), m, heads);
        let weights = Tensor::<3>::from_data(
            TensorData::new(
                (0..ctx.shape().num_elements())
                    .map(|i| (i % 5) as f32 - 2.0)
                    .collect::<Vec<_>>(),
                ctx.dims(),
            ),
            device,
        );
        let grads = (ctx.clone() * weights).sum().backward();
        let g = |x: &Tensor<3>| values(x.grad(&grads).unwrap());
        (values(ctx), [g(&q), g(&k), g(&v)])
    };
    let (ctx_c, grads_c) = run(qc, kc, vc, &Device::flex().autodiff());
    let (ctx_g, grads_g) = run(qg, kg, vg, &gpu.clone().autodiff());
    close(&ctx_g, &ctx_c, "masked attention context");
    for (name, (g, c)) in ["q", "k", "v"].iter().zip(grads_g.iter().zip(&grads_c)) {
        close(g, c, &format!("masked attention gradient of {name}"));
    }

    let (xc, xg) = leaf([2, 9, 3], 4, &gpu);
    let (wc, wg) = leaf([4, 3, 3], 5, &gpu);
    let (bc, bg) = leaf([4], 6, &gpu);
    let conv = |x: Tensor<3>, w: Tensor<3>, bias: Tensor<1>| {
        let y = conv1d_channels_last(x.clone(), w.clone(), bias.clone(), 2, 4, Epilogue::None);
        let grads = (y.clone() * y.clone()).sum().backward();
        (
            values(y),
            [
                values(x.grad(&grads).unwrap()),
                values(w.grad(&grads).unwrap()),
                values(bias.grad(&grads).unwrap()),
            ],
        )
    };
    let (yc, gc) = conv(xc, wc, bc);
    let (yg, gg) = conv(xg, wg, bg);
    close(&yg, &yc, "plain convolution output");
    for (name, (g, c)) in ["x", "weight", "bias"].iter().zip(gg.iter().zip(&gc)) {
        close(g, c, &format!("plain convolution gradient of {name}"));
    }
}
