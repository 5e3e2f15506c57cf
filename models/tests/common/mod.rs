//! Helpers shared by the kernel tests (`fused.rs`, `gpu_kernels.rs`): a model's outputs and
//! every parameter's gradient under one kernel choice, and a closeness check relative to the
//! reference's scale.

use atb_models::ForecastModel;
use atb_models::fused::{Kernels, set_kernels};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

/// Every parameter's gradient, in visiting order.
pub struct Collect<'a> {
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
pub fn run(model: &ForecastModel, x: &Tensor<3>, kernels: Kernels) -> (Vec<f32>, Vec<Vec<f32>>) {
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

pub fn close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-3);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-4 * scale + 1e-6,
            "{what}[{i}]: {x} vs reference {y} (scale {scale})"
        );
    }
}
