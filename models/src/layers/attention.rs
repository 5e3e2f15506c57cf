//! Multi-head self-attention with Keras semantics: each head has its own key size (independent of
//! the model width), values use the same size, and the heads are projected back to the width.
//! It can return the attention weights `[batch, heads, L, L]` for the UI's heat map.

use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;

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

    /// Self-attention over `x` `[B, T, D]`: the attended sequence `[B, T, D]` and the attention
    /// weights `[B, heads, T, T]` (each row sums to 1 over the keys).
    pub fn forward(&self, x: Tensor<3>) -> (Tensor<3>, Tensor<4>) {
        let [batch, steps, _] = x.dims();
        let split = |t: Tensor<3>| {
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
        let context = self.dropout.forward(weights.clone()).matmul(v);
        let merged = context
            .swap_dims(1, 2)
            .reshape([batch, steps, self.heads * self.key_dim]);
        (self.output.forward(merged), weights)
    }
}
