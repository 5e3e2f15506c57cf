//! The fused CPU kernels against Burn's generic operations, through the public factory: every
//! (type, variant) gives the same outputs and the same gradient for every parameter on both
//! paths. Alone in its binary because it switches the process-wide kernel choice.

use atb_models::fused::{Kernels, available, set_kernels};
use atb_models::{Architecture, ForecastModel, ModelOverrides, Variant, build_model};
use burn::module::{ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Distribution;

const L: usize = 36;
const F: usize = 5;

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

/// Every parameter's gradient, in visiting order.
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

/// Output and parameter gradients of `loss = Σ output · coef` on the autodiff device.
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
            "{what}[{i}]: fused {x} vs generic {y} (scale {scale})"
        );
    }
}

#[test]
fn fused_kernels_match_the_generic_path_in_outputs_and_gradients() {
    let device = Device::flex().autodiff();
    // No dropout, so both paths see the same function (their random masks are laid out
    // differently).
    let overrides = ModelOverrides {
        dropout: Some(0.0),
        ..ModelOverrides::default()
    };
    for t in Architecture::NETWORKS {
        for v in Variant::ALL {
            device.seed(11);
            let (model, _) = build_model(t, v, [L, F], &overrides, &device).unwrap();
            for batch in [1, 6] {
                let x = Tensor::<3>::random([batch, L, F], Distribution::Normal(0.0, 1.0), &device);
                set_kernels(Kernels::Fused);
                assert!(available(&x), "the fused path must be the one under test");
                set_kernels(Kernels::Generic);
                assert!(!available(&x));
                let (out_g, grads_g) = run(&model, &x, Kernels::Generic);
                let (out_f, grads_f) = run(&model, &x, Kernels::Fused);
                close(&out_f, &out_g, &format!("{t} {v} batch {batch} output"));
                assert_eq!(grads_f.len(), grads_g.len());
                for (i, (f, g)) in grads_f.iter().zip(&grads_g).enumerate() {
                    close(
                        f,
                        g,
                        &format!("{t} {v} batch {batch} gradient of parameter {i}"),
                    );
                }
            }
            // Inference (no autodiff) takes the fused forward too.
            let eval = model.valid();
            let x = Tensor::<3>::random([3, L, F], Distribution::Normal(0.0, 1.0), &Device::flex());
            set_kernels(Kernels::Generic);
            let g = values(eval.forward(x.clone()));
            set_kernels(Kernels::Fused);
            let f = values(eval.forward(x));
            close(&f, &g, &format!("{t} {v} inference"));
        }
    }
    set_kernels(Kernels::Fused);
}
