//! The fused kernels as Burn operations: a backend extension implemented for the Flex CPU backend
//! (`kernels`) and for Burn's cubecl GPU backend (`gpu_kernels`), each with and without autodiff
//! (the autodiff forward keeps what the hand-written backward needs). Layers call the layer
//! operations here when `layer_kernels_available` says the tensor is f32 on either device, and
//! draw dropout masks from the CPU kernels' generator only where `available` (Flex) holds;
//! otherwise they run their generic Burn path, which is also the reference the tests compare the
//! kernels with.
//!
//! `ATB_KERNELS=generic` in the environment, or `set_kernels(Kernels::Generic)`, turns the fused
//! path off process-wide (for before/after benchmarks).

use std::borrow::Cow;
use std::sync::atomic::{AtomicU8, Ordering};

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Dispatch, DispatchDevice, Flex, TensorMetadata, backend_extension};
use burn::prelude::*;
use burn::tensor::DType;

use crate::kernels::attention::{self, AttentionDims};
use crate::kernels::conv::{self, ConvDims, Epilogue};
use crate::kernels::lstm::{self, LstmDims, LstmSaved, LstmWeights};

/// Which implementation the layers use on the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// The fused kernels (the default).
    Fused,
    /// Burn's generic operations, as on every non-CPU device.
    Generic,
}

static KERNELS: AtomicU8 = AtomicU8::new(0);

/// The process-wide choice: `set_kernels`, else `ATB_KERNELS` (`fused` or `generic`), else fused.
pub fn kernels() -> Kernels {
    match KERNELS.load(Ordering::Relaxed) {
        1 => Kernels::Fused,
        2 => Kernels::Generic,
        _ => {
            let chosen = match std::env::var("ATB_KERNELS").as_deref() {
                Ok("generic") => Kernels::Generic,
                _ => Kernels::Fused,
            };
            set_kernels(chosen);
            chosen
        }
    }
}

pub fn set_kernels(k: Kernels) {
    KERNELS.store(
        match k {
            Kernels::Fused => 1,
            Kernels::Generic => 2,
        },
        Ordering::Relaxed,
    );
}

/// Whether the layer kernels (the LSTM layer, the convolution, the attention) can run on `t`: an
/// f32 tensor on the Flex CPU backend or on a GPU (Burn's cubecl backend, `gpu_kernels`), and the
/// fused path not switched off. (On the GPU the convolution takes no pooling epilogue: the layer
/// pools after it.)
pub fn layer_kernels_available<const D: usize>(t: &Tensor<D>) -> bool {
    kernels() == Kernels::Fused
        && t.dtype() == DType::F32
        && match t.device().inner().as_dispatch() {
            DispatchDevice::Flex(_) => true,
            #[cfg(feature = "gpu")]
            DispatchDevice::Cube(_) => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
}

/// Whether `t` lives on a GPU (Burn's cubecl backend).
pub fn on_gpu<const D: usize>(t: &Tensor<D>) -> bool {
    match t.device().inner().as_dispatch() {
        #[cfg(feature = "gpu")]
        DispatchDevice::Cube(_) => true,
        _ => false,
    }
}

/// Whether `t` is an f32 tensor on a GPU (Burn's cubecl backend) without autodiff, and the
/// fused path not switched off: where the GPU-only operations (`gpu_kernels::GpuOps`) run.
#[cfg(feature = "gpu")]
pub fn gpu_available<const D: usize>(t: &Tensor<D>) -> bool {
    kernels() == Kernels::Fused
        && t.dtype() == DType::F32
        && !t.device().is_autodiff()
        && matches!(t.device().inner().as_dispatch(), DispatchDevice::Cube(_))
}

/// Whether the fused kernels can run on `t`: an f32 tensor on the Flex CPU backend (with or
/// without autodiff), and the fused path not switched off.
pub fn available<const D: usize>(t: &Tensor<D>) -> bool {
    kernels() == Kernels::Fused
        && t.dtype() == DType::F32
        && matches!(t.device().inner().as_dispatch(), DispatchDevice::Flex(_))
}

#[backend_extension(Flex, Cube: cfg(feature = "gpu"), Autodiff)]
pub trait FusedKernels: burn::backend::Backend {
    /// A whole LSTM layer: `x [B, T, F]`, `w_in [F, 4H]`, `bias [4H]`, `w_rec [H, 4H]` and the
    /// recurrent-dropout `mask [B, H]` (constant) to the hidden states `[B, T, H]`.
    fn lstm_layer(
        x: FloatTensor<Self>,
        w_in: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        w_rec: FloatTensor<Self>,
        mask: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// A channels-last 1-D convolution: `x [B, T, C_in]`, `weight [C_out, C_in, k]`,
    /// `bias [C_out]` to `[B, T + pad_left - (k - 1)·dilation, C_out]`, followed by the
    /// epilogue `Epilogue::from_code(epilogue)` (ReLU, or ReLU and max-pooling pairs of steps).
    fn conv1d_channels_last(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        dilation: usize,
        pad_left: usize,
        epilogue: usize,
    ) -> FloatTensor<Self>;

    /// Multi-head scaled dot-product self-attention: `q`, `k`, `v` `[B, T, H·d]` (heads side by
    /// side, as the projections produce them) and a dropout mask `[B, H, T, T]` for the weights
    /// (constant; any other shape means no dropout) to the context `[B, T, H·d]`.
    fn multi_head_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        mask: FloatTensor<Self>,
        heads: usize,
    ) -> FloatTensor<Self>;
}

/// The tensor's values, row-major (borrowed when already contiguous).
fn values(t: &FlexTensor) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(
            t.clone()
                .into_data()
                .try_to_vec::<f32>()
                .expect("fused kernels run on f32 tensors (checked by `available`)"),
        ),
    }
}

fn flex(values: Vec<f32>, shape: &[usize]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.to_vec()))
}

fn lstm_dims(x: &FlexTensor, w_rec: &FlexTensor) -> LstmDims {
    let [batch, steps, inputs] = x.shape().dims::<3>();
    let [units, gates] = w_rec.shape().dims::<2>();
    assert_eq!(gates, 4 * units, "the recurrent kernel must be [H, 4H]");
    LstmDims {
        batch,
        steps,
        inputs,
        units,
    }
}

fn conv_dims(x: &FlexTensor, weight: &FlexTensor, dilation: usize, pad_left: usize) -> ConvDims {
    let [batch, steps, c_in] = x.shape().dims::<3>();
    let [c_out, c_in_w, kernel] = weight.shape().dims::<3>();
    assert_eq!(c_in, c_in_w, "input channels and weight disagree");
    ConvDims {
        batch,
        steps,
        c_in,
        c_out,
        kernel,
        dilation,
        pad_left,
    }
}

fn attention_dims(q: &FlexTensor, heads: usize) -> AttentionDims {
    let [batch, steps, width] = q.shape().dims::<3>();
    assert!(
        heads > 0 && width % heads == 0,
        "the width must split into the heads"
    );
    AttentionDims {
        batch,
        steps,
        heads,
        key_dim: width / heads,
    }
}

/// The mask's values when it has the `[B, H, T, T]` shape, else no mask.
fn mask_of(mask: &FlexTensor, d: &AttentionDims) -> Option<Vec<f32>> {
    (mask.shape().num_elements() == d.batch * d.heads * d.steps * d.steps)
        .then(|| values(mask).into_owned())
}

impl FusedKernels for Flex {
    fn lstm_layer(
        x: FlexTensor,
        w_in: FlexTensor,
        bias: FlexTensor,
        w_rec: FlexTensor,
        mask: FlexTensor,
    ) -> FlexTensor {
        let dims = lstm_dims(&x, &w_rec);
        let (w_in, bias, w_rec) = (values(&w_in), values(&bias), values(&w_rec));
        let weights = LstmWeights {
            input: &w_in,
            bias: &bias,
            recurrent: &w_rec,
        };
        let (hidden, _) = lstm::forward(dims, &values(&x), weights, &values(&mask), false);
        flex(hidden, &[dims.batch, dims.steps, dims.units])
    }

    fn conv1d_channels_last(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        dilation: usize,
        pad_left: usize,
        epilogue: usize,
    ) -> FlexTensor {
        let d = conv_dims(&x, &weight, dilation, pad_left);
        let epi = Epilogue::from_code(epilogue);
        let y = conv::forward(d, &values(&x), &values(&weight), &values(&bias));
        let steps = y.len() / (d.batch * d.c_out).max(1);
        let (out, _) = conv::apply_epilogue(epi, d.batch, steps, d.c_out, y);
        flex(out, &[d.batch, epi.out_steps(steps), d.c_out])
    }

    fn multi_head_attention(
        q: FlexTensor,
        k: FlexTensor,
        v: FlexTensor,
        mask: FlexTensor,
        heads: usize,
    ) -> FlexTensor {
        let d = attention_dims(&q, heads);
        let m = mask_of(&mask, &d);
        let (ctx, _) = attention::forward(
            d,
            &values(&q),
            &values(&k),
            &values(&v),
            m.as_deref(),
            false,
        );
        flex(ctx, &[d.batch, d.steps, d.heads * d.key_dim])
    }
}

/// What the LSTM's backward pass needs.
#[derive(Debug, Clone)]
struct LstmState {
    dims: LstmDims,
    x: FlexTensor,
    hidden: FlexTensor,
    saved: std::sync::Arc<LstmSaved>,
    w_in: FlexTensor,
    bias: FlexTensor,
    w_rec: FlexTensor,
    mask: FlexTensor,
}

#[derive(Debug)]
struct LstmBackward;

impl Backward<Flex, 4> for LstmBackward {
    type State = LstmState;

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w_in, node_bias, node_w_rec] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let s = ops.state;
        let (w_in, bias, w_rec) = (values(&s.w_in), values(&s.bias), values(&s.w_rec));
        let g = lstm::backward(
            s.dims,
            &values(&grad),
            &values(&s.x),
            &values(&s.hidden),
            &s.saved,
            LstmWeights {
                input: &w_in,
                bias: &bias,
                recurrent: &w_rec,
            },
            &values(&s.mask),
        );
        let LstmDims {
            batch,
            steps,
            inputs,
            units,
        } = s.dims;
        let parts = [
            (node_x, g.x, vec![batch, steps, inputs]),
            (node_w_in, g.input, vec![inputs, 4 * units]),
            (node_bias, g.bias, vec![4 * units]),
            (node_w_rec, g.recurrent, vec![units, 4 * units]),
        ];
        for (node, values, shape) in parts {
            if let Some(node) = node {
                grads.register::<Flex>(node.id, flex(values, &shape));
            }
        }
    }
}

/// What the convolution's backward pass needs.
#[derive(Debug, Clone)]
struct ConvState {
    dims: ConvDims,
    epilogue: Epilogue,
    steps: usize,
    x: FlexTensor,
    weight: FlexTensor,
    out: FlexTensor,
    activated: Option<std::sync::Arc<Vec<f32>>>,
}

#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 3> for ConvBackward {
    type State = ConvState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let s = ops.state;
        let d = s.dims;
        let grad_y = conv::epilogue_backward(
            s.epilogue,
            d.batch,
            s.steps,
            d.c_out,
            &values(&grad),
            &values(&s.out),
            s.activated.as_deref().map(|a| &a[..]),
        );
        let (gx, gw, gb) = conv::backward(d, &grad_y, &values(&s.x), &values(&s.weight));
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, flex(gx, &[d.batch, d.steps, d.c_in]));
        }
        if let Some(node) = node_w {
            grads.register::<Flex>(node.id, flex(gw, &[d.c_out, d.c_in, d.kernel]));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, flex(gb, &[d.c_out]));
        }
    }
}

/// What the attention's backward pass needs.
#[derive(Debug, Clone)]
struct AttentionState {
    dims: AttentionDims,
    q: FlexTensor,
    k: FlexTensor,
    v: FlexTensor,
    probs: std::sync::Arc<Vec<f32>>,
    mask: Option<std::sync::Arc<Vec<f32>>>,
}

#[derive(Debug)]
struct AttentionBackward;

impl Backward<Flex, 3> for AttentionBackward {
    type State = AttentionState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_q, node_k, node_v] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let s = ops.state;
        let d = s.dims;
        let (dq, dk, dv) = attention::backward(
            d,
            &values(&grad),
            &values(&s.q),
            &values(&s.k),
            &values(&s.v),
            &s.probs,
            s.mask.as_deref().map(|m| &m[..]),
        );
        let shape = [d.batch, d.steps, d.heads * d.key_dim];
        for (node, g) in [(node_q, dq), (node_k, dk), (node_v, dv)] {
            if let Some(node) = node {
                grads.register::<Flex>(node.id, flex(g, &shape));
            }
        }
    }
}

impl<C: CheckpointStrategy> FusedKernels for Autodiff<Flex, C> {
    fn lstm_layer(
        x: FloatTensor<Self>,
        w_in: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        w_rec: FloatTensor<Self>,
        mask: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let (x, x_node) = x.into_parts();
        let (w_in, w_in_node) = w_in.into_parts();
        let (bias, bias_node) = bias.into_parts();
        let (w_rec, w_rec_node) = w_rec.into_parts();
        let mask = mask.into_primitive();
        let dims = lstm_dims(&x, &w_rec);
        let shape = [dims.batch, dims.steps, dims.units];
        let prep = LstmBackward
            .prepare::<C>([x_node, w_in_node, bias_node, w_rec_node])
            .compute_bound()
            .stateful();
        let tracked = matches!(prep, OpsKind::Tracked(_));
        let (hidden, saved) = {
            let (wi, b, wr) = (values(&w_in), values(&bias), values(&w_rec));
            let weights = LstmWeights {
                input: &wi,
                bias: &b,
                recurrent: &wr,
            };
            lstm::forward(dims, &values(&x), weights, &values(&mask), tracked)
        };
        let hidden = flex(hidden, &shape);
        match prep {
            OpsKind::Tracked(prep) => {
                let state = LstmState {
                    dims,
                    x,
                    hidden: hidden.clone(),
                    saved: std::sync::Arc::new(
                        saved.expect("the forward pass saves what was asked for"),
                    ),
                    w_in,
                    bias,
                    w_rec,
                    mask,
                };
                prep.finish(state, hidden)
            }
            OpsKind::UnTracked(prep) => prep.finish(hidden),
        }
    }

    fn conv1d_channels_last(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        dilation: usize,
        pad_left: usize,
        epilogue: usize,
    ) -> FloatTensor<Self> {
        let (x, x_node) = x.into_parts();
        let (weight, w_node) = weight.into_parts();
        let (bias, b_node) = bias.into_parts();
        let d = conv_dims(&x, &weight, dilation, pad_left);
        let epi = Epilogue::from_code(epilogue);
        let y = conv::forward(d, &values(&x), &values(&weight), &values(&bias));
        let steps = y.len() / (d.batch * d.c_out).max(1);
        let (out, activated) = conv::apply_epilogue(epi, d.batch, steps, d.c_out, y);
        let out = flex(out, &[d.batch, epi.out_steps(steps), d.c_out]);
        match ConvBackward
            .prepare::<C>([x_node, w_node, b_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(
                ConvState {
                    dims: d,
                    epilogue: epi,
                    steps,
                    x,
                    weight,
                    out: out.clone(),
                    activated: activated.map(std::sync::Arc::new),
                },
                out,
            ),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn multi_head_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        mask: FloatTensor<Self>,
        heads: usize,
    ) -> FloatTensor<Self> {
        let (q, q_node) = q.into_parts();
        let (k, k_node) = k.into_parts();
        let (v, v_node) = v.into_parts();
        let mask = mask.into_primitive();
        let d = attention_dims(&q, heads);
        let m = mask_of(&mask, &d);
        let shape = [d.batch, d.steps, d.heads * d.key_dim];
        match AttentionBackward
            .prepare::<C>([q_node, k_node, v_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (ctx, probs) = attention::forward(
                    d,
                    &values(&q),
                    &values(&k),
                    &values(&v),
                    m.as_deref(),
                    true,
                );
                let state = AttentionState {
                    dims: d,
                    q,
                    k,
                    v,
                    probs: std::sync::Arc::new(
                        probs.expect("the forward pass saves what was asked for"),
                    ),
                    mask: m.map(std::sync::Arc::new),
                };
                prep.finish(state, flex(ctx, &shape))
            }
            OpsKind::UnTracked(prep) => {
                let (ctx, _) = attention::forward(
                    d,
                    &values(&q),
                    &values(&k),
                    &values(&v),
                    m.as_deref(),
                    false,
                );
                prep.finish(flex(ctx, &shape))
            }
        }
    }
}

/// A whole LSTM layer (see `FusedKernels::lstm_layer`); call only when `available(&x)`.
pub fn lstm_layer(
    x: Tensor<3>,
    w_in: Tensor<2>,
    bias: Tensor<1>,
    w_rec: Tensor<2>,
    mask: Tensor<2>,
) -> Tensor<3> {
    Tensor::from_dispatch(Dispatch::lstm_layer(
        x.into_dispatch(),
        w_in.into_dispatch(),
        bias.into_dispatch(),
        w_rec.into_dispatch(),
        mask.into_dispatch(),
    ))
}

/// A channels-last 1-D convolution and its epilogue (see `FusedKernels::conv1d_channels_last`);
/// call only when `available(&x)`.
pub fn conv1d_channels_last(
    x: Tensor<3>,
    weight: Tensor<3>,
    bias: Tensor<1>,
    dilation: usize,
    pad_left: usize,
    epilogue: Epilogue,
) -> Tensor<3> {
    Tensor::from_dispatch(Dispatch::conv1d_channels_last(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        dilation,
        pad_left,
        epilogue.code(),
    ))
}

/// Multi-head self-attention (see `FusedKernels::multi_head_attention`); call only when
/// `available(&q)`. `mask` is the `[B, H, T, T]` dropout mask of the weights, or any other shape
/// for none.
pub fn multi_head_attention(
    q: Tensor<3>,
    k: Tensor<3>,
    v: Tensor<3>,
    mask: Tensor<4>,
    heads: usize,
) -> Tensor<3> {
    Tensor::from_dispatch(Dispatch::multi_head_attention(
        q.into_dispatch(),
        k.into_dispatch(),
        v.into_dispatch(),
        mask.into_dispatch(),
        heads,
    ))
}
