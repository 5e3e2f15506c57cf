//! Building blocks with Keras semantics, so parameter counts and behaviour match the original.

pub mod attention;
pub mod lstm;
pub mod tcn;

use burn::nn::conv::Conv1d;
use burn::nn::{Dropout, PaddingConfig1d};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::fused;
use crate::kernels::conv::Epilogue;

/// Global average ‖ global max pooling over time of `[B, T, C]`, giving `[B, 2C]`.
pub fn avg_max_pool(x: Tensor<3>) -> Tensor<2> {
    let [batch, _, channels] = x.dims();
    let avg = x.clone().mean_dim(1).reshape([batch, channels]);
    let max = x.max_dim(1).reshape([batch, channels]);
    Tensor::cat(vec![avg, max], 1)
}

/// A `Conv1d` applied to a channels-last sequence `[B, T, C_in]`, giving `[B, T', C_out]`, then
/// `epilogue` (nothing, ReLU, or ReLU and max-pooling pairs of steps). On the CPU this is one
/// fused operation (im2col convolution and epilogue), on a GPU one implicit-GEMM kernel with its
/// ReLU (`gpu_kernels`); with the kernels switched off, Burn's own, between two transposes.
pub fn conv1d_channels_last(conv: &Conv1d, x: Tensor<3>, epilogue: Epilogue) -> Tensor<3> {
    let pad_left = match conv.padding {
        PaddingConfig1d::Valid => Some(0),
        PaddingConfig1d::Explicit(left, 0) => Some(left),
        _ => None,
    };
    match pad_left {
        Some(pad_left)
            if conv.stride == 1 && conv.groups == 1 && fused::layer_kernels_available(&x) =>
        {
            let weight = conv.weight.val();
            let bias = match &conv.bias {
                Some(b) => b.val(),
                None => Tensor::zeros([weight.dims()[0]], &x.device()),
            };
            if epilogue == Epilogue::ReluMaxPool2 && fused::on_gpu(&x) {
                // The GPU kernel has no pooling epilogue: pool after the fused convolution.
                return max_pool2_channels_last(fused::conv1d_channels_last(
                    x,
                    weight,
                    bias,
                    conv.dilation,
                    pad_left,
                    Epilogue::Relu,
                ));
            }
            fused::conv1d_channels_last(x, weight, bias, conv.dilation, pad_left, epilogue)
        }
        _ => {
            let y = conv.forward(x.swap_dims(1, 2)).swap_dims(1, 2);
            match epilogue {
                Epilogue::None => y,
                Epilogue::Relu => relu(y),
                Epilogue::ReluMaxPool2 => max_pool2_channels_last(relu(y)),
            }
        }
    }
}

/// Max pooling over time with window and stride 2 on `[B, T, C]`, giving `[B, T / 2, C]`
/// (a trailing odd step is dropped, as `MaxPool1d` does).
pub fn max_pool2_channels_last(x: Tensor<3>) -> Tensor<3> {
    let [batch, steps, channels] = x.dims();
    let half = steps / 2;
    // The larger of the even and odd steps: an element-wise maximum, whose backward is a cheap
    // mask (`max_dim`'s goes through a scatter, a tenth of a cnn_lstm step in the profile).
    let pairs = x
        .narrow(1, 0, 2 * half)
        .reshape([batch, half, 2 * channels]);
    let even = pairs.clone().narrow(2, 0, channels);
    let odd = pairs.narrow(2, channels, channels);
    even.max_pair(odd)
}

/// `dropout.forward(x)`, with the mask drawn by the fused kernels' generator on the CPU and the
/// GPU (Burn's draws each element from a scalar ChaCha stream). Active, as Burn's, only while training on an
/// autodiff device.
pub fn dropout<const D: usize>(dropout: &Dropout, x: Tensor<D>) -> Tensor<D> {
    if !fused::layer_kernels_available(&x) {
        return dropout.forward(x);
    }
    if !dropout.training.is_enabled() || !x.device().is_autodiff() || dropout.prob == 0.0 {
        return x;
    }
    let mask = dropout_mask(&x, x.dims(), dropout.prob as f32);
    x * mask
}

/// A dropout mask of `shape` on `on`'s device from the fused kernels' counter-based hash: built on
/// the CPU, or drawn by one GPU kernel that hashes the same way (so a seeded run has the same
/// masks on both). Call only where `fused::layer_kernels_available(on)`.
pub fn dropout_mask<const D: usize, const E: usize>(
    on: &Tensor<E>,
    shape: [usize; D],
    p: f32,
) -> Tensor<D> {
    #[cfg(feature = "gpu")]
    if fused::on_gpu(on) {
        return crate::gpu_kernels::dropout_mask(on, shape, p);
    }
    let n = shape.iter().product();
    let mask = crate::kernels::random::dropout_mask(n, p);
    Tensor::<D>::from_data(TensorData::new(mask, shape), &on.device())
}
