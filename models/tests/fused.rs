//! The fused CPU kernels against Burn's generic operations, through the public factory: every
//! (type, variant) gives the same outputs and the same gradient for every parameter on both
//! paths. Alone in its binary because it switches the process-wide kernel choice.

mod common;
use common::{close, run, values};

use atb_models::fused::{Kernels, available, set_kernels};
use atb_models::{Architecture, ModelOverrides, Variant, build_model};
use burn::prelude::*;
use burn::tensor::Distribution;

const L: usize = 36;
const F: usize = 5;

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
