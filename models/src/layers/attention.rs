//! Multi-head self-attention with Keras semantics: each head has its own key size (independent of
//! the model width), values use the same size, and the heads are projected back to the width.
//! It can return the attention weights `[batch, heads, L, L]` for the UI's heat map.

use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;

use crate::fused;
use crate::layers::dropout;

#[derive(Module, Debug)]
pub struct KerasMultiHeadAttention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub output: Linear,
    pub dropout: Dropout,
    pub heads: usize,
    pub key_dim: usize,
}

impl KerasMultiHeadAttention {
    pub fn new(width: usize, heads: usize, key_dim: usize, dropout: f64, device: &Device) -> Self {
        let inner = heads * key_dim;
        Self {
            query: LinearConfig::new(width, inner).init(device),
            key: LinearConfig::new(width, inner).init(device),
            value: LinearConfig::new(width, inner).init(device),
            output: LinearConfig::new(inner, width).init(device),
            dropout: DropoutConfig::new(dropout).init(),
            heads,
            key_dim,
        }
    }

    /// Self-attention over `x` `[B, T, D]`: the attended sequence `[B, T, D]`. On the CPU and on
    /// a GPU the attention itself (scores, softmax, weighted sum) is one fused operation
    /// (`crate::fused`, `crate::gpu_kernels`).
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        if !fused::layer_kernels_available(&x) {
            return self.forward_with_weights(x).0;
        }
        let [batch, steps, width] = x.dims();
        let inner = self.heads * self.key_dim;
        let device = x.device();
        let x = x.reshape([batch * steps, width]);
        let project = |l: &Linear| l.forward(x.clone()).reshape([batch, steps, inner]);
        let (q, k, v) = (
            project(&self.query),
            project(&self.key),
            project(&self.value),
        );
        let d = &self.dropout;
        let mask = if d.training.is_enabled() && device.is_autodiff() && d.prob > 0.0 {
            let shape = [batch, self.heads, steps, steps];
            crate::layers::dropout_mask(&x, shape, d.prob as f32)
        } else {
            // Any shape but [B, H, T, T] means no dropout.
            Tensor::<4>::zeros([1, 1, 1, 1], &device)
        };
        let context = fused::multi_head_attention(q, k, v, mask, self.heads);
        self.output
            .forward(context.reshape([batch * steps, inner]))
            .reshape([batch, steps, width])
    }

    /// Self-attention over `x` `[B, T, D]`: the attended sequence `[B, T, D]` and the attention
    /// weights `[B, heads, T, T]` (each row sums to 1 over the keys). Burn's generic operations:
    /// the path on other devices, for the UI's heat map, and the fused kernel's reference.
    pub fn forward_with_weights(&self, x: Tensor<3>) -> (Tensor<3>, Tensor<4>) {
        let [batch, steps, width] = x.dims();
        // The projections as 2-D products over every (row, step): one large matrix multiply each.
        let x = x.reshape([batch * steps, width]);
        let split = |t: Tensor<2>| {
            t.reshape([batch, steps, self.heads, self.key_dim])
                .swap_dims(1, 2)
        };
        let q = split(self.query.forward(x.clone()));
        let k = split(self.key.forward(x.clone()));
        let v = split(self.value.forward(x));
        let scores = q
            .matmul(k.swap_dims(2, 3))
            .div_scalar((self.key_dim as f64).sqrt());
        let weights = softmax(scores, 3);
        let context = dropout(&self.dropout, weights.clone()).matmul(v);
        let merged = context
            .swap_dims(1, 2)
            .reshape([batch * steps, self.heads * self.key_dim]);
        (
            self.output.forward(merged).reshape([batch, steps, width]),
            weights,
        )
    }
}
