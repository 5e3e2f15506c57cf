//! Building blocks with Keras semantics, so parameter counts and behaviour match the original.

pub mod attention;
pub mod lstm;
pub mod tcn;

use burn::prelude::*;

/// Global average ‖ global max pooling over time of `[B, T, C]`, giving `[B, 2C]`.
pub fn avg_max_pool(x: Tensor<3>) -> Tensor<2> {
    let [batch, _, channels] = x.dims();
    let avg = x.clone().mean_dim(1).reshape([batch, channels]);
    let max = x.max_dim(1).reshape([batch, channels]);
    Tensor::cat(vec![avg, max], 1)
}
