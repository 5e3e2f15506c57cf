//! Temporal convolutional trunk: a 1x1 input convolution, then residual blocks of two dilated,
//! truly causal convolutions (left padding only), as the original's TCN but causal for real.

use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{Dropout, DropoutConfig, PaddingConfig1d};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::config::TcnSpec;
use crate::fused;
use crate::kernels::conv::Epilogue;
use crate::layers::{conv1d_channels_last, dropout};

#[derive(Module, Debug)]
pub struct ResidualBlock {
    pub conv1: Conv1d,
    pub conv2: Conv1d,
    pub dropout: Dropout,
}

impl ResidualBlock {
    fn new(filters: usize, kernel: usize, dilation: usize, dropout: f64, device: &Device) -> Self {
        let conv = || {
            Conv1dConfig::new(filters, filters, kernel)
                .with_dilation(dilation)
                .with_padding(PaddingConfig1d::Explicit((kernel - 1) * dilation, 0))
                .init(device)
        };
        Self {
            conv1: conv(),
            conv2: conv(),
            dropout: DropoutConfig::new(dropout).init(),
        }
    }

    /// `[B, T, C]` to `[B, T, C]` (channels last, the fused CPU path).
    fn forward_channels_last(&self, x: Tensor<3>) -> Tensor<3> {
        let y = dropout(
            &self.dropout,
            conv1d_channels_last(&self.conv1, x.clone(), Epilogue::Relu),
        );
        let y = dropout(
            &self.dropout,
            conv1d_channels_last(&self.conv2, y, Epilogue::Relu),
        );
        relu(y + x)
    }

    /// `[B, C, T]` to `[B, C, T]`; the skip needs no projection since widths are equal.
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let y = dropout(&self.dropout, relu(self.conv1.forward(x.clone())));
        let y = dropout(&self.dropout, relu(self.conv2.forward(y)));
        relu(y + x)
    }
}

#[derive(Module, Debug)]
pub struct TcnTrunk {
    pub input_conv: Conv1d,
    pub blocks: Vec<ResidualBlock>,
}

impl TcnTrunk {
    pub fn new(spec: &TcnSpec, n_features: usize, dropout: f64, device: &Device) -> Self {
        Self {
            input_conv: Conv1dConfig::new(n_features, spec.filters, 1).init(device),
            blocks: spec
                .dilations
                .iter()
                .map(|&d| ResidualBlock::new(spec.filters, spec.kernel_size, d, dropout, device))
                .collect(),
        }
    }

    /// `[B, T, F]` to per-step features `[B, T, filters]`; step t reads inputs up to t only.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        if fused::layer_kernels_available(&x) {
            let mut y = conv1d_channels_last(&self.input_conv, x, Epilogue::Relu);
            for block in &self.blocks {
                y = block.forward_channels_last(y);
            }
            return y;
        }
        let mut y = relu(self.input_conv.forward(x.swap_dims(1, 2)));
        for block in &self.blocks {
            y = block.forward(y);
        }
        y.swap_dims(1, 2)
    }
}
