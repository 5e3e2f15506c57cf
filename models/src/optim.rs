//! The optimiser every atb training run uses: Adam with Burn's defaults (β1 0.9, β2 0.999,
//! ε 1e-5), no weight decay. On a GPU each parameter tensor's update is one fused kernel
//! (`gpu_kernels::adam_kernel`) instead of Burn's thirteen element-wise dispatches; elsewhere
//! (the CPU, or `ATB_KERNELS=generic`) it is Burn's own Adam step. Both keep Burn's Adam state
//! and do the same arithmetic, so a run can move between devices.

use burn::optim::{
    Adam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer,
};
use burn::prelude::*;

const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-5;

/// Adam as atb trains with it (see the module doc).
#[derive(Clone)]
pub struct AtbAdam {
    burn: Adam,
}

/// The optimiser for a whole model.
pub fn adam() -> ModuleOptimizer {
    ModuleOptimizer::from(AtbAdam {
        burn: AdamConfig::new()
            .with_beta_1(BETA_1)
            .with_beta_2(BETA_2)
            .with_epsilon(EPSILON)
            .build(),
    })
}

impl Optimizer for AtbAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        #[cfg(feature = "gpu")]
        if crate::fused::gpu_available(&tensor) {
            return gpu_step(lr, tensor, grad, state);
        }
        self.burn.step(lr, tensor, grad, state)
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <Adam as Optimizer>::to_device(state, device)
    }
}

/// Burn's Adam arithmetic (`AdaptiveMomentum::transform`) in one kernel.
#[cfg(feature = "gpu")]
fn gpu_step<const D: usize>(
    lr: LearningRate,
    tensor: Tensor<D>,
    grad: Tensor<D>,
    state: Option<AdamState<D>>,
) -> (Tensor<D>, Option<AdamState<D>>) {
    use crate::gpu_kernels::{AdamScalars, GpuOps};
    use burn::backend::Dispatch;

    let (time, moment_1, moment_2) = match state {
        Some(s) => (
            s.momentum.time + 1,
            s.momentum.moment_1,
            s.momentum.moment_2,
        ),
        None => (1, grad.zeros_like(), grad.zeros_like()),
    };
    let t = time as i32;
    let correction_2 = (1.0 - BETA_2.powi(t)).sqrt();
    let step = lr as f32 * correction_2 / (1.0 - BETA_1.powi(t));
    let (p, m, v) = Dispatch::adam_update(
        tensor.into_dispatch(),
        grad.into_dispatch(),
        moment_1.into_dispatch(),
        moment_2.into_dispatch(),
        AdamScalars {
            beta_1: BETA_1,
            beta_2: BETA_2,
            step,
            epsilon: EPSILON * correction_2,
        },
    );
    let momentum =
        AdaptiveMomentumState::new(time, Tensor::from_dispatch(m), Tensor::from_dispatch(v));
    (Tensor::from_dispatch(p), Some(AdamState::new(momentum)))
}
