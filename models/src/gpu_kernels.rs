//! The fused operations (`fused::FusedKernels`) on GPUs: CubeCL kernels for Burn's cubecl backend
//! (wgpu, and so Vulkan, Metal, DX12; lavapipe in CI), with hand-written backward passes.
//!
//! The LSTM layer is what made the GPU slower than the CPU: Burn's generic path issues its gate
//! operations once per time step, forward and backward, so a default `lstm` training step was
//! about 23,000 kernel dispatches. Here a layer is the input projection (one matrix product over
//! all steps) and the whole recurrence in one dispatch: one workgroup per sequence keeps its
//! hidden and cell state in shared memory and loops over time. The backward pass runs the time
//! loop in reverse in one dispatch and leaves the weight gradients to matrix products over all
//! steps. The causal convolution is one implicit-GEMM dispatch with its ReLU (four for its
//! backward), the attention two (scores and softmax; the weighted sum) and two for its backward,
//! and Adam one per parameter tensor (`optim`). Dropout masks are one dispatch each, from the CPU
//! kernels' counter-based hash.
//! `fused::layer_kernels_available` says where the layer kernels run.

use burn::backend::Cube;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::tensor::Shape;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

use crate::fused::FusedKernels;
use crate::kernels::conv::Epilogue;

/// Most units a workgroup uses for one sequence (a larger layer loops over its units).
const MAX_THREADS: usize = 256;

#[cube]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// One workgroup per sequence `b`: the recurrence of a layer over all `steps`. Reads the input
/// projection `z_in [B, T, 4H]` (bias included), writes the hidden states `[B, T, H]` and, for the
/// backward pass, the gate activations `[B, T, 4H]` (i, f, g, o) and the cell states `[B, T, H]`.
#[cube(launch)]
fn lstm_forward_kernel(
    z_in: &Tensor<f32>,
    w_rec: &Tensor<f32>,
    mask: &Tensor<f32>,
    hidden: &mut Tensor<f32>,
    gates: &mut Tensor<f32>,
    cells: &mut Tensor<f32>,
    steps: u32,
    #[comptime] units: usize,
    #[comptime] threads: usize,
) {
    let b = CUBE_POS;
    let four = 4 * units;
    let steps = steps as usize;
    // The previous hidden state with the recurrent-dropout mask applied (what the recurrence
    // reads), the next one while it is being computed, and the cell state.
    let mut h_prev = Shared::<[f32]>::new_slice(units);
    let mut h_next = Shared::<[f32]>::new_slice(units);
    let mut c_state = Shared::<[f32]>::new_slice(units);
    let mut j = UNIT_POS as usize;
    while j < units {
        h_prev[j] = 0.0;
        c_state[j] = 0.0;
        j += threads;
    }
    sync_cube();
    for t in 0..steps {
        let row = b * steps + t;
        let z = row * four;
        let mut j = UNIT_POS as usize;
        while j < units {
            let mut zi = z_in[z + j];
            let mut zf = z_in[z + units + j];
            let mut zg = z_in[z + 2 * units + j];
            let mut zo = z_in[z + 3 * units + j];
            for k in 0..units {
                let hk = h_prev[k];
                let w = k * four + j;
                zi += hk * w_rec[w];
                zf += hk * w_rec[w + units];
                zg += hk * w_rec[w + 2 * units];
                zo += hk * w_rec[w + 3 * units];
            }
            let i = sigmoid(zi);
            let f = sigmoid(zf);
            let g = zg.tanh();
            let o = sigmoid(zo);
            let c = f * c_state[j] + i * g;
            c_state[j] = c;
            let h = o * c.tanh();
            hidden[row * units + j] = h;
            cells[row * units + j] = c;
            gates[z + j] = i;
            gates[z + units + j] = f;
            gates[z + 2 * units + j] = g;
            gates[z + 3 * units + j] = o;
            h_next[j] = h * mask[b * units + j];
            j += threads;
        }
        sync_cube();
        let mut j = UNIT_POS as usize;
        while j < units {
            h_prev[j] = h_next[j];
            j += threads;
        }
        sync_cube();
    }
}

/// One workgroup per sequence: the recurrence backward, time reversed. From the loss gradient
/// of the hidden states `[B, T, H]` and what the forward saved, writes the gradient of the gate
/// pre-activations `[B, T, 4H]`; the weight and input gradients are matrix products of it.
#[cube(launch)]
fn lstm_backward_kernel(
    grad_hidden: &Tensor<f32>,
    w_rec: &Tensor<f32>,
    mask: &Tensor<f32>,
    gates: &Tensor<f32>,
    cells: &Tensor<f32>,
    grad_z: &mut Tensor<f32>,
    steps: u32,
    #[comptime] units: usize,
    #[comptime] threads: usize,
) {
    let b = CUBE_POS;
    let four = 4 * units;
    let steps = steps as usize;
    // The gradient reaching h_t through the recurrence, the one reaching c_t from step t + 1, and
    // this step's gate gradients (read by every unit for the recurrence).
    let mut dh_rec = Shared::<[f32]>::new_slice(units);
    let mut dc_next = Shared::<[f32]>::new_slice(units);
    let mut dz = Shared::<[f32]>::new_slice(four);
    let mut j = UNIT_POS as usize;
    while j < units {
        dh_rec[j] = 0.0;
        dc_next[j] = 0.0;
        j += threads;
    }
    sync_cube();
    for s in 0..steps {
        let t = steps - 1 - s;
        let row = b * steps + t;
        let z = row * four;
        let mut j = UNIT_POS as usize;
        while j < units {
            let dh = grad_hidden[row * units + j] + dh_rec[j];
            let i = gates[z + j];
            let f = gates[z + units + j];
            let g = gates[z + 2 * units + j];
            let o = gates[z + 3 * units + j];
            let c = cells[row * units + j];
            let mut c_prev = 0.0;
            if t > 0 {
                c_prev = cells[(row - 1) * units + j];
            }
            let tc = c.tanh();
            let dc = dc_next[j] + dh * o * (1.0 - tc * tc);
            let dzi = dc * g * i * (1.0 - i);
            let dzf = dc * c_prev * f * (1.0 - f);
            let dzg = dc * i * (1.0 - g * g);
            let dzo = dh * tc * o * (1.0 - o);
            dc_next[j] = dc * f;
            grad_z[z + j] = dzi;
            grad_z[z + units + j] = dzf;
            grad_z[z + 2 * units + j] = dzg;
            grad_z[z + 3 * units + j] = dzo;
            dz[j] = dzi;
            dz[units + j] = dzf;
            dz[2 * units + j] = dzg;
            dz[3 * units + j] = dzo;
            j += threads;
        }
        sync_cube();
        // dL/dh_{t-1} through the recurrence: W_rec · dz, masked as the forward masked h.
        let mut k = UNIT_POS as usize;
        while k < units {
            let mut acc = 0.0;
            for m in 0..four {
                acc += dz[m] * w_rec[k * four + m];
            }
            dh_rec[k] = acc * mask[b * units + k];
            k += threads;
        }
        sync_cube();
    }
}

/// The previous step's hidden state, masked as the recurrence read it: `[B, T, H]`, zero at t = 0.
#[cube(launch)]
fn shifted_masked_kernel(
    hidden: &Tensor<f32>,
    mask: &Tensor<f32>,
    out: &mut Tensor<f32>,
    steps: u32,
    units: u32,
) {
    let steps = steps as usize;
    let units = units as usize;
    let idx = ABSOLUTE_POS;
    if idx < out.len() {
        let k = idx % units;
        let t = (idx / units) % steps;
        let b = idx / (units * steps);
        let mut v = 0.0;
        if t > 0 {
            v = hidden[idx - units] * mask[b * units + k];
        }
        out[idx] = v;
    }
}

/// A channels-last causal convolution with its bias and optional ReLU, one thread per output
/// element (an implicit GEMM: the im2col matrix is never built). `x [B, T, C_in]`,
/// `weight [C_out, C_in, k]`, `out [B, T', C_out]`.
#[cube(launch)]
fn conv_forward_kernel(
    x: &Tensor<f32>,
    weight: &Tensor<f32>,
    bias: &Tensor<f32>,
    out: &mut Tensor<f32>,
    shape: ConvShape,
    #[comptime] relu: bool,
) {
    let idx = ABSOLUTE_POS;
    if idx < out.len() {
        let steps_in = shape.steps_in as usize;
        let steps_out = shape.steps_out as usize;
        let c_in = shape.c_in as usize;
        let c_out = shape.c_out as usize;
        let kernel = shape.kernel as usize;
        let co = idx % c_out;
        let t = (idx / c_out) % steps_out;
        let b = idx / (c_out * steps_out);
        let mut acc = bias[co];
        for k in 0..kernel {
            // Input step read by tap k; taps that fall in the left padding read zeros.
            let s = t + k * shape.dilation as usize;
            if s >= shape.pad_left as usize {
                let s = s - shape.pad_left as usize;
                if s < steps_in {
                    let xr = (b * steps_in + s) * c_in;
                    for ci in 0..c_in {
                        acc += x[xr + ci] * weight[(co * c_in + ci) * kernel + k];
                    }
                }
            }
        }
        if relu {
            acc = f32::max(acc, 0.0);
        }
        out[idx] = acc;
    }
}

/// The convolution's sizes, as the kernels read them.
#[derive(CubeType, CubeLaunch, Clone, Copy, Debug)]
pub struct ConvShape {
    steps_in: u32,
    steps_out: u32,
    c_in: u32,
    c_out: u32,
    kernel: u32,
    dilation: u32,
    pad_left: u32,
}

/// The loss gradient at output `(b, t, co)` before the ReLU (zero where the ReLU was off).
// The outer `if` is decided when the kernel is compiled, the inner one when it runs.
#[allow(clippy::collapsible_if)]
#[cube]
fn pre_activation_grad(
    grad: &Tensor<f32>,
    out: &Tensor<f32>,
    index: usize,
    #[comptime] relu: bool,
) -> f32 {
    let mut g = grad[index];
    if relu {
        if out[index] <= 0.0 {
            g = 0.0;
        }
    }
    g
}

/// The input gradient `[B, T, C_in]`, one thread per element: the transposed convolution of the
/// pre-activation gradient.
#[cube(launch)]
fn conv_grad_input_kernel(
    grad: &Tensor<f32>,
    out: &Tensor<f32>,
    weight: &Tensor<f32>,
    grad_x: &mut Tensor<f32>,
    shape: ConvShape,
    #[comptime] relu: bool,
) {
    let idx = ABSOLUTE_POS;
    if idx < grad_x.len() {
        let steps_in = shape.steps_in as usize;
        let steps_out = shape.steps_out as usize;
        let c_in = shape.c_in as usize;
        let c_out = shape.c_out as usize;
        let kernel = shape.kernel as usize;
        let ci = idx % c_in;
        let s = (idx / c_in) % steps_in;
        let b = idx / (c_in * steps_in);
        let mut acc = 0.0;
        for k in 0..kernel {
            // The output step whose tap k read input step s: t = s + pad_left - k·dilation.
            let reach = s + shape.pad_left as usize;
            let back = k * shape.dilation as usize;
            if reach >= back {
                let t = reach - back;
                if t < steps_out {
                    let row = (b * steps_out + t) * c_out;
                    for co in 0..c_out {
                        acc += pre_activation_grad(grad, out, row + co, relu)
                            * weight[(co * c_in + ci) * kernel + k];
                    }
                }
            }
        }
        grad_x[idx] = acc;
    }
}

/// Each sequence's share of the weight gradient `[B, C_out, C_in, k]` and of the bias gradient
/// `[B, C_out]`, one thread per (sequence, weight) and then per (sequence, bias), summing over
/// that sequence's steps; the host sums over the sequences. (One thread per weight summing over
/// every sequence leaves most of a large GPU idle.)
#[cube(launch)]
fn conv_grad_params_kernel(
    grad: &Tensor<f32>,
    out: &Tensor<f32>,
    x: &Tensor<f32>,
    grad_weight: &mut Tensor<f32>,
    grad_bias: &mut Tensor<f32>,
    shape: ConvShape,
    #[comptime] relu: bool,
) {
    let idx = ABSOLUTE_POS;
    let steps_in = shape.steps_in as usize;
    let steps_out = shape.steps_out as usize;
    let c_in = shape.c_in as usize;
    let c_out = shape.c_out as usize;
    let kernel = shape.kernel as usize;
    let weights = grad_weight.len();
    let per_sequence = c_out * c_in * kernel;
    if idx < weights {
        let k = idx % kernel;
        let ci = (idx / kernel) % c_in;
        let co = (idx / (kernel * c_in)) % c_out;
        let b = idx / per_sequence;
        let mut acc = 0.0;
        for t in 0..steps_out {
            let s = t + k * shape.dilation as usize;
            if s >= shape.pad_left as usize {
                let s = s - shape.pad_left as usize;
                if s < steps_in {
                    acc += pre_activation_grad(grad, out, (b * steps_out + t) * c_out + co, relu)
                        * x[(b * steps_in + s) * c_in + ci];
                }
            }
        }
        grad_weight[idx] = acc;
    } else if idx < weights + grad_bias.len() {
        let e = idx - weights;
        let co = e % c_out;
        let b = e / c_out;
        let mut acc = 0.0;
        for t in 0..steps_out {
            acc += pre_activation_grad(grad, out, (b * steps_out + t) * c_out + co, relu);
        }
        grad_bias[e] = acc;
    }
}

/// Attention probabilities `[B, H, T, T]`, one thread per query row (b, h, i): scaled dot
/// products with every key, then a softmax over the keys. `q`, `k` are `[B, T, H·d]`.
#[cube(launch)]
fn attention_probs_kernel(
    q: &Tensor<f32>,
    k: &Tensor<f32>,
    probs: &mut Tensor<f32>,
    shape: AttentionShape,
) {
    let steps = shape.steps as usize;
    let heads = shape.heads as usize;
    let key_dim = shape.key_dim as usize;
    let width = heads * key_dim;
    let idx = ABSOLUTE_POS;
    if idx < shape.batch as usize * heads * steps {
        let i = idx % steps;
        let h = (idx / steps) % heads;
        let b = idx / (steps * heads);
        let row = idx * steps;
        let qb = (b * steps + i) * width + h * key_dim;
        let mut max = f32::new(-3.0e38);
        for j in 0..steps {
            let kb = (b * steps + j) * width + h * key_dim;
            let mut s = 0.0;
            for dd in 0..key_dim {
                s += q[qb + dd] * k[kb + dd];
            }
            s *= shape.scale;
            probs[row + j] = s;
            max = f32::max(max, s);
        }
        let mut sum = 0.0;
        for j in 0..steps {
            let e = (probs[row + j] - max).exp();
            probs[row + j] = e;
            sum += e;
        }
        for j in 0..steps {
            probs[row + j] /= sum;
        }
    }
}

/// The attention's sizes and scale (1/√d), as the kernels read them.
#[derive(CubeType, CubeLaunch, Clone, Copy, Debug)]
pub struct AttentionShape {
    batch: u32,
    steps: u32,
    heads: u32,
    key_dim: u32,
    scale: f32,
}

/// The probability at `(b, h, i, j)` after the dropout mask (when there is one).
#[cube]
fn dropped(
    probs: &Tensor<f32>,
    mask: &Tensor<f32>,
    index: usize,
    #[comptime] has_mask: bool,
) -> f32 {
    let mut p = probs[index];
    if has_mask {
        p *= mask[index];
    }
    p
}

/// The context `[B, T, H·d]`, one thread per element: the (dropped-out) probabilities times the
/// values.
#[cube(launch)]
fn attention_context_kernel(
    probs: &Tensor<f32>,
    mask: &Tensor<f32>,
    v: &Tensor<f32>,
    context: &mut Tensor<f32>,
    shape: AttentionShape,
    #[comptime] has_mask: bool,
) {
    let steps = shape.steps as usize;
    let heads = shape.heads as usize;
    let key_dim = shape.key_dim as usize;
    let width = heads * key_dim;
    let idx = ABSOLUTE_POS;
    if idx < context.len() {
        let c = idx % width;
        let i = (idx / width) % steps;
        let b = idx / (width * steps);
        let h = c / key_dim;
        let row = ((b * heads + h) * steps + i) * steps;
        let mut acc = 0.0;
        for j in 0..steps {
            acc += dropped(probs, mask, row + j, has_mask) * v[(b * steps + j) * width + c];
        }
        context[idx] = acc;
    }
}

/// The scores' gradient `[B, H, T, T]` (scale included), one thread per query row: the softmax
/// backward of the probabilities' gradient `dctx · vᵀ` (masked as the forward masked).
#[cube(launch)]
fn attention_grad_scores_kernel(
    grad: &Tensor<f32>,
    v: &Tensor<f32>,
    probs: &Tensor<f32>,
    mask: &Tensor<f32>,
    grad_scores: &mut Tensor<f32>,
    shape: AttentionShape,
    #[comptime] has_mask: bool,
) {
    let steps = shape.steps as usize;
    let heads = shape.heads as usize;
    let key_dim = shape.key_dim as usize;
    let width = heads * key_dim;
    let idx = ABSOLUTE_POS;
    if idx < shape.batch as usize * heads * steps {
        let i = idx % steps;
        let h = (idx / steps) % heads;
        let b = idx / (steps * heads);
        let row = idx * steps;
        let gb = (b * steps + i) * width + h * key_dim;
        let mut weighted = 0.0;
        for j in 0..steps {
            let vb = (b * steps + j) * width + h * key_dim;
            let mut dp = 0.0;
            for dd in 0..key_dim {
                dp += grad[gb + dd] * v[vb + dd];
            }
            if has_mask {
                dp *= mask[row + j];
            }
            grad_scores[row + j] = dp;
            weighted += probs[row + j] * dp;
        }
        for j in 0..steps {
            let p = probs[row + j];
            grad_scores[row + j] = p * (grad_scores[row + j] - weighted) * shape.scale;
        }
    }
}

/// The gradients of q, k and v `[B, T, H·d]` in one launch: threads `[0, n)` write dq, `[n, 2n)`
/// dk and `[2n, 3n)` dv.
#[cube(launch)]
fn attention_grad_qkv_kernel(
    grad: &Tensor<f32>,
    q: &Tensor<f32>,
    k: &Tensor<f32>,
    probs: &Tensor<f32>,
    mask: &Tensor<f32>,
    grad_scores: &Tensor<f32>,
    grad_q: &mut Tensor<f32>,
    grad_k: &mut Tensor<f32>,
    grad_v: &mut Tensor<f32>,
    shape: AttentionShape,
    #[comptime] has_mask: bool,
) {
    let steps = shape.steps as usize;
    let heads = shape.heads as usize;
    let key_dim = shape.key_dim as usize;
    let width = heads * key_dim;
    let n = grad_q.len();
    let idx = ABSOLUTE_POS;
    let part = idx / n;
    let e = idx % n;
    let c = e % width;
    let t = (e / width) % steps;
    let b = e / (width * steps);
    let h = c / key_dim;
    let head = (b * heads + h) * steps;
    if part == 0 {
        // dq[t] = Σ_j ds[t, j] k[j]
        let mut acc = 0.0;
        for j in 0..steps {
            acc += grad_scores[(head + t) * steps + j] * k[(b * steps + j) * width + c];
        }
        grad_q[e] = acc;
    } else if part == 1 {
        // dk[t] = Σ_i ds[i, t] q[i]
        let mut acc = 0.0;
        for i in 0..steps {
            acc += grad_scores[(head + i) * steps + t] * q[(b * steps + i) * width + c];
        }
        grad_k[e] = acc;
    } else if part == 2 {
        // dv[t] = Σ_i p'[i, t] dctx[i]
        let mut acc = 0.0;
        for i in 0..steps {
            acc += dropped(probs, mask, (head + i) * steps + t, has_mask)
                * grad[(b * steps + i) * width + c];
        }
        grad_v[e] = acc;
    }
}

/// A dropout mask, element i a pure function of (key, i): the CPU kernels' counter-based hash
/// (`kernels::random`), so a seeded run draws the same masks on the GPU and the CPU.
// The hash's products wrap, as unsigned integer products do on a GPU; the lint only sees the
// macro's expansion.
#[allow(arithmetic_overflow)]
#[cube(launch)]
fn dropout_mask_kernel(out: &mut Tensor<f32>, threshold: u32, keep: f32, k0: u32, k1: u32) {
    let i = ABSOLUTE_POS;
    if i < out.len() {
        // murmur3's 32-bit finaliser over the index, keyed twice (integer products wrap).
        let mut h = ((i as u32) * 0x9E37_79B1u32) ^ k0;
        h ^= h >> 16;
        h *= 0x85EB_CA6Bu32;
        h ^= h >> 13;
        h = (h * 0xC2B2_AE35u32) ^ k1;
        h ^= h >> 16;
        h *= 0x85EB_CA6Bu32;
        h ^= h >> 15;
        let mut v = 0.0;
        if (h >> 8) >= threshold {
            v = keep;
        }
        out[i] = v;
    }
}

type Ct = CubeTensor;

fn empty(like: &Ct, shape: Vec<usize>) -> Ct {
    empty_device_dtype(
        like.client.clone(),
        like.device.clone(),
        Shape::from(shape),
        like.dtype,
    )
}

fn reshape(t: Ct, shape: Vec<usize>) -> Ct {
    <Cube as FloatTensorOps<Cube>>::float_reshape(t, Shape::from(shape))
}

fn matmul(a: Ct, b: Ct) -> Ct {
    <Cube as FloatTensorOps<Cube>>::float_matmul(a, b)
}

fn transpose(t: Ct) -> Ct {
    <Cube as FloatTensorOps<Cube>>::float_transpose(t)
}

/// Sizes of one LSTM layer call.
#[derive(Debug, Clone, Copy)]
struct Dims {
    batch: usize,
    steps: usize,
    inputs: usize,
    units: usize,
}

fn dims(x: &Ct, w_rec: &Ct) -> Dims {
    let [batch, steps, inputs] = x.meta.shape().dims::<3>();
    let [units, gates] = w_rec.meta.shape().dims::<2>();
    assert_eq!(gates, 4 * units, "the recurrent kernel must be [H, 4H]");
    Dims {
        batch,
        steps,
        inputs,
        units,
    }
}

fn threads(units: usize) -> usize {
    units.clamp(1, MAX_THREADS)
}

/// What the forward saved: hidden states, gate activations and cell states.
#[derive(Debug, Clone)]
struct Saved {
    hidden: Ct,
    gates: Ct,
    cells: Ct,
}

/// The forward pass: the input projection as one matrix product, then the recurrence.
fn lstm_forward(x: Ct, w_in: Ct, bias: Ct, w_rec: Ct, mask: Ct) -> Saved {
    let d = dims(&x, &w_rec);
    let rows = d.batch * d.steps;
    let four = 4 * d.units;
    let projected = matmul(reshape(x, vec![rows, d.inputs]), w_in);
    let z_in = into_contiguous(<Cube as FloatTensorOps<Cube>>::float_add(
        projected,
        reshape(bias, vec![1, four]),
    ));
    let w_rec = into_contiguous(w_rec);
    let mask = into_contiguous(mask);
    let hidden = empty(&z_in, vec![d.batch, d.steps, d.units]);
    let gates = empty(&z_in, vec![d.batch, d.steps, four]);
    let cells = empty(&z_in, vec![d.batch, d.steps, d.units]);
    if d.batch > 0 && d.steps > 0 {
        let threads = threads(d.units);
        lstm_forward_kernel::launch(
            &z_in.client,
            CubeCount::Static(d.batch as u32, 1, 1),
            CubeDim::new_1d(threads as u32),
            z_in.clone().into_tensor_arg(),
            w_rec.into_tensor_arg(),
            mask.into_tensor_arg(),
            hidden.clone().into_tensor_arg(),
            gates.clone().into_tensor_arg(),
            cells.clone().into_tensor_arg(),
            d.steps as u32,
            d.units,
            threads,
        );
    }
    Saved {
        hidden,
        gates,
        cells,
    }
}

/// Gradients of the layer's inputs: x, w_in, bias, w_rec.
struct Grads {
    x: Ct,
    w_in: Ct,
    bias: Ct,
    w_rec: Ct,
}

fn lstm_backward(grad: Ct, x: Ct, w_in: Ct, w_rec: Ct, mask: Ct, saved: Saved) -> Grads {
    let d = dims(&x, &w_rec);
    let rows = d.batch * d.steps;
    let four = 4 * d.units;
    let grad = into_contiguous(grad);
    let w_rec = into_contiguous(w_rec);
    let mask = into_contiguous(mask);
    let grad_z = empty(&grad, vec![d.batch, d.steps, four]);
    let previous = empty(&grad, vec![d.batch, d.steps, d.units]);
    if rows > 0 {
        let threads = threads(d.units);
        lstm_backward_kernel::launch(
            &grad.client,
            CubeCount::Static(d.batch as u32, 1, 1),
            CubeDim::new_1d(threads as u32),
            grad.clone().into_tensor_arg(),
            w_rec.clone().into_tensor_arg(),
            mask.clone().into_tensor_arg(),
            saved.gates.into_tensor_arg(),
            saved.cells.into_tensor_arg(),
            grad_z.clone().into_tensor_arg(),
            d.steps as u32,
            d.units,
            threads,
        );
        let n = rows * d.units;
        let cube_dim = CubeDim::new(&grad.client, n);
        shifted_masked_kernel::launch(
            &grad.client,
            cubecl::calculate_cube_count_elemwise(&grad.client, n, cube_dim),
            cube_dim,
            saved.hidden.into_tensor_arg(),
            mask.into_tensor_arg(),
            previous.clone().into_tensor_arg(),
            d.steps as u32,
            d.units as u32,
        );
    }
    let grad_z = reshape(grad_z, vec![rows, four]);
    let x = reshape(x, vec![rows, d.inputs]);
    let previous = reshape(previous, vec![rows, d.units]);
    let gx = matmul(grad_z.clone(), transpose(w_in));
    let g_w_in = matmul(transpose(x), grad_z.clone());
    let g_w_rec = matmul(transpose(previous), grad_z.clone());
    let g_bias = <Cube as FloatTensorOps<Cube>>::float_sum_dim(grad_z, 0);
    Grads {
        x: reshape(gx, vec![d.batch, d.steps, d.inputs]),
        w_in: g_w_in,
        bias: reshape(g_bias, vec![four]),
        w_rec: g_w_rec,
    }
}

/// Sizes of one convolution call.
#[derive(Debug, Clone, Copy)]
struct ConvDims {
    batch: usize,
    steps_in: usize,
    steps_out: usize,
    c_in: usize,
    c_out: usize,
    kernel: usize,
    dilation: usize,
    pad_left: usize,
}

impl ConvDims {
    fn new(x: &Ct, weight: &Ct, dilation: usize, pad_left: usize) -> Self {
        let [batch, steps_in, c_in] = x.meta.shape().dims::<3>();
        let [c_out, c_in_w, kernel] = weight.meta.shape().dims::<3>();
        assert_eq!(c_in, c_in_w, "input channels and weight disagree");
        let reach = (kernel - 1) * dilation;
        assert!(
            steps_in + pad_left >= reach,
            "the sequence is shorter than the convolution's reach"
        );
        Self {
            batch,
            steps_in,
            steps_out: steps_in + pad_left - reach,
            c_in,
            c_out,
            kernel,
            dilation,
            pad_left,
        }
    }

    fn launch_shape(&self) -> ConvShapeLaunch {
        ConvShapeLaunch::new(
            self.steps_in as u32,
            self.steps_out as u32,
            self.c_in as u32,
            self.c_out as u32,
            self.kernel as u32,
            self.dilation as u32,
            self.pad_left as u32,
        )
    }
}

/// Whether the epilogue code is a ReLU; pooling epilogues never reach the GPU (the layer pools
/// after the fused convolution there).
fn relu_of(epilogue: usize) -> bool {
    match Epilogue::from_code(epilogue) {
        Epilogue::None => false,
        Epilogue::Relu => true,
        Epilogue::ReluMaxPool2 => {
            panic!("the GPU convolution takes no pooling epilogue: the layer pools after it")
        }
    }
}

fn launch_1d(client: &cubecl::client::Client, n: usize) -> (CubeCount, CubeDim) {
    let cube_dim = CubeDim::new(client, n);
    (
        cubecl::calculate_cube_count_elemwise(client, n, cube_dim),
        cube_dim,
    )
}

fn conv_forward(x: Ct, weight: Ct, bias: Ct, d: ConvDims, relu: bool) -> Ct {
    let [x, weight, bias] = [x, weight, bias].map(into_contiguous);
    let out = empty(&x, vec![d.batch, d.steps_out, d.c_out]);
    let n = d.batch * d.steps_out * d.c_out;
    if n > 0 {
        let (count, dim) = launch_1d(&x.client, n);
        conv_forward_kernel::launch(
            &x.client,
            count,
            dim,
            x.clone().into_tensor_arg(),
            weight.into_tensor_arg(),
            bias.into_tensor_arg(),
            out.clone().into_tensor_arg(),
            d.launch_shape(),
            relu,
        );
    }
    out
}

/// Gradients of x, weight and bias.
fn conv_backward(grad: Ct, out: Ct, x: Ct, weight: Ct, d: ConvDims, relu: bool) -> (Ct, Ct, Ct) {
    let [grad, out, x, weight] = [grad, out, x, weight].map(into_contiguous);
    let grad_x = empty(&grad, vec![d.batch, d.steps_in, d.c_in]);
    let grad_weight = empty(&grad, vec![d.batch, d.c_out, d.c_in, d.kernel]);
    let grad_bias = empty(&grad, vec![d.batch, d.c_out]);
    let n = d.batch * d.steps_in * d.c_in;
    if n > 0 {
        let (count, dim) = launch_1d(&grad.client, n);
        conv_grad_input_kernel::launch(
            &grad.client,
            count,
            dim,
            grad.clone().into_tensor_arg(),
            out.clone().into_tensor_arg(),
            weight.into_tensor_arg(),
            grad_x.clone().into_tensor_arg(),
            d.launch_shape(),
            relu,
        );
    }
    let n = d.batch * (d.c_out * d.c_in * d.kernel + d.c_out);
    if n > 0 {
        let (count, dim) = launch_1d(&grad.client, n);
        conv_grad_params_kernel::launch(
            &grad.client,
            count,
            dim,
            grad.clone().into_tensor_arg(),
            out.into_tensor_arg(),
            x.into_tensor_arg(),
            grad_weight.clone().into_tensor_arg(),
            grad_bias.clone().into_tensor_arg(),
            d.launch_shape(),
            relu,
        );
    }
    let sum = |t: Ct, shape: Vec<usize>| {
        reshape(<Cube as FloatTensorOps<Cube>>::float_sum_dim(t, 0), shape)
    };
    let grad_weight = sum(grad_weight, vec![d.c_out, d.c_in, d.kernel]);
    let grad_bias = sum(grad_bias, vec![d.c_out]);
    (grad_x, grad_weight, grad_bias)
}

/// Sizes of one attention call.
#[derive(Debug, Clone, Copy)]
struct AttentionDims {
    batch: usize,
    steps: usize,
    heads: usize,
    key_dim: usize,
}

impl AttentionDims {
    fn new(q: &Ct, heads: usize) -> Self {
        let [batch, steps, width] = q.meta.shape().dims::<3>();
        assert!(
            heads > 0 && width % heads == 0,
            "the width must split into the heads"
        );
        Self {
            batch,
            steps,
            heads,
            key_dim: width / heads,
        }
    }

    fn launch_shape(&self) -> AttentionShapeLaunch {
        AttentionShapeLaunch::new(
            self.batch as u32,
            self.steps as u32,
            self.heads as u32,
            self.key_dim as u32,
            1.0 / (self.key_dim as f32).sqrt(),
        )
    }

    fn rows(&self) -> usize {
        self.batch * self.heads * self.steps
    }

    fn elements(&self) -> usize {
        self.batch * self.steps * self.heads * self.key_dim
    }

    /// Whether `mask` is a dropout mask of the weights (`[B, H, T, T]`) rather than "none".
    fn is_mask(&self, mask: &Ct) -> bool {
        mask.meta.shape().num_elements() == self.rows() * self.steps
    }
}

/// The forward pass: the context, and the probabilities the backward needs.
fn attention_forward(q: Ct, k: Ct, v: Ct, mask: Ct, d: AttentionDims) -> (Ct, Ct) {
    let has_mask = d.is_mask(&mask);
    let [q, k, v, mask] = [q, k, v, mask].map(into_contiguous);
    let probs = empty(&q, vec![d.batch, d.heads, d.steps, d.steps]);
    let context = empty(&q, vec![d.batch, d.steps, d.heads * d.key_dim]);
    if d.elements() > 0 {
        let (count, dim) = launch_1d(&q.client, d.rows());
        attention_probs_kernel::launch(
            &q.client,
            count,
            dim,
            q.clone().into_tensor_arg(),
            k.into_tensor_arg(),
            probs.clone().into_tensor_arg(),
            d.launch_shape(),
        );
        let (count, dim) = launch_1d(&q.client, d.elements());
        attention_context_kernel::launch(
            &q.client,
            count,
            dim,
            probs.clone().into_tensor_arg(),
            mask.into_tensor_arg(),
            v.into_tensor_arg(),
            context.clone().into_tensor_arg(),
            d.launch_shape(),
            has_mask,
        );
    }
    (context, probs)
}

/// Gradients of q, k and v.
fn attention_backward(grad: Ct, s: AttentionState) -> (Ct, Ct, Ct) {
    let d = s.dims;
    let has_mask = d.is_mask(&s.mask);
    let grad = into_contiguous(grad);
    let grad_scores = empty(&grad, vec![d.batch, d.heads, d.steps, d.steps]);
    let shape = vec![d.batch, d.steps, d.heads * d.key_dim];
    let [grad_q, grad_k, grad_v] = [(); 3].map(|_| empty(&grad, shape.clone()));
    if d.elements() > 0 {
        let (count, dim) = launch_1d(&grad.client, d.rows());
        attention_grad_scores_kernel::launch(
            &grad.client,
            count,
            dim,
            grad.clone().into_tensor_arg(),
            s.v.into_tensor_arg(),
            s.probs.clone().into_tensor_arg(),
            s.mask.clone().into_tensor_arg(),
            grad_scores.clone().into_tensor_arg(),
            d.launch_shape(),
            has_mask,
        );
        let (count, dim) = launch_1d(&grad.client, 3 * d.elements());
        attention_grad_qkv_kernel::launch(
            &grad.client,
            count,
            dim,
            grad.clone().into_tensor_arg(),
            s.q.into_tensor_arg(),
            s.k.into_tensor_arg(),
            s.probs.into_tensor_arg(),
            s.mask.into_tensor_arg(),
            grad_scores.into_tensor_arg(),
            grad_q.clone().into_tensor_arg(),
            grad_k.clone().into_tensor_arg(),
            grad_v.clone().into_tensor_arg(),
            d.launch_shape(),
            has_mask,
        );
    }
    (grad_q, grad_k, grad_v)
}

impl FusedKernels for Cube {
    fn lstm_layer(x: Ct, w_in: Ct, bias: Ct, w_rec: Ct, mask: Ct) -> Ct {
        lstm_forward(x, w_in, bias, w_rec, mask).hidden
    }

    fn conv1d_channels_last(
        x: Ct,
        weight: Ct,
        bias: Ct,
        dilation: usize,
        pad_left: usize,
        epilogue: usize,
    ) -> Ct {
        let d = ConvDims::new(&x, &weight, dilation, pad_left);
        conv_forward(x, weight, bias, d, relu_of(epilogue))
    }

    fn multi_head_attention(q: Ct, k: Ct, v: Ct, mask: Ct, heads: usize) -> Ct {
        let d = AttentionDims::new(&q, heads);
        attention_forward(q, k, v, mask, d).0
    }
}

#[derive(Debug, Clone)]
struct LstmState {
    x: Ct,
    w_in: Ct,
    w_rec: Ct,
    mask: Ct,
    saved: Saved,
}

#[derive(Debug)]
struct LstmBackward;

impl Backward<Cube, 4> for LstmBackward {
    type State = LstmState;

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w_in, node_bias, node_w_rec] = ops.parents;
        let grad = grads.consume::<Cube>(&ops.node);
        let s = ops.state;
        let g = lstm_backward(grad, s.x, s.w_in, s.w_rec, s.mask, s.saved);
        for (node, value) in [
            (node_x, g.x),
            (node_w_in, g.w_in),
            (node_bias, g.bias),
            (node_w_rec, g.w_rec),
        ] {
            if let Some(node) = node {
                grads.register::<Cube>(node.id, value);
            }
        }
    }
}

#[derive(Debug, Clone)]
struct ConvState {
    dims: ConvDims,
    relu: bool,
    x: Ct,
    weight: Ct,
    out: Ct,
}

#[derive(Debug)]
struct ConvBackward;

impl Backward<Cube, 3> for ConvBackward {
    type State = ConvState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let grad = grads.consume::<Cube>(&ops.node);
        let s = ops.state;
        let (gx, gw, gb) = conv_backward(grad, s.out, s.x, s.weight, s.dims, s.relu);
        for (node, value) in [(node_x, gx), (node_w, gw), (node_b, gb)] {
            if let Some(node) = node {
                grads.register::<Cube>(node.id, value);
            }
        }
    }
}

#[derive(Debug, Clone)]
struct AttentionState {
    dims: AttentionDims,
    q: Ct,
    k: Ct,
    v: Ct,
    probs: Ct,
    mask: Ct,
}

#[derive(Debug)]
struct AttentionBackward;

impl Backward<Cube, 3> for AttentionBackward {
    type State = AttentionState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_q, node_k, node_v] = ops.parents;
        let grad = grads.consume::<Cube>(&ops.node);
        let (dq, dk, dv) = attention_backward(grad, ops.state);
        for (node, value) in [(node_q, dq), (node_k, dk), (node_v, dv)] {
            if let Some(node) = node {
                grads.register::<Cube>(node.id, value);
            }
        }
    }
}

impl<C: CheckpointStrategy> FusedKernels for Autodiff<Cube, C> {
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
        let saved = lstm_forward(x.clone(), w_in.clone(), bias, w_rec.clone(), mask.clone());
        let hidden = saved.hidden.clone();
        match LstmBackward
            .prepare::<C>([x_node, w_in_node, bias_node, w_rec_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(
                LstmState {
                    x,
                    w_in,
                    w_rec,
                    mask,
                    saved,
                },
                hidden,
            ),
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
        let d = ConvDims::new(&x, &weight, dilation, pad_left);
        let relu = relu_of(epilogue);
        let out = conv_forward(x.clone(), weight.clone(), bias, d, relu);
        match ConvBackward
            .prepare::<C>([x_node, w_node, b_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(
                ConvState {
                    dims: d,
                    relu,
                    x,
                    weight,
                    out: out.clone(),
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
        let mask = into_contiguous(mask.into_primitive());
        let d = AttentionDims::new(&q, heads);
        let [q, k, v] = [q, k, v].map(into_contiguous);
        let (context, probs) = attention_forward(q.clone(), k.clone(), v.clone(), mask.clone(), d);
        match AttentionBackward
            .prepare::<C>([q_node, k_node, v_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(
                AttentionState {
                    dims: d,
                    q,
                    k,
                    v,
                    probs,
                    mask,
                },
                context,
            ),
            OpsKind::UnTracked(prep) => prep.finish(context),
        }
    }
}

/// One Adam update of a parameter tensor on the GPU in one dispatch (Burn's Adam takes thirteen
/// element-wise dispatches per tensor): new parameter, first and second moments. `step` is the
/// learning rate times the bias corrections and `epsilon` is scaled as Burn's Adam scales it.
#[cube(launch)]
fn adam_kernel(
    param: &Tensor<f32>,
    grad: &Tensor<f32>,
    moment_1: &Tensor<f32>,
    moment_2: &Tensor<f32>,
    param_out: &mut Tensor<f32>,
    moment_1_out: &mut Tensor<f32>,
    moment_2_out: &mut Tensor<f32>,
    beta_1: f32,
    beta_2: f32,
    step: f32,
    epsilon: f32,
) {
    let i = ABSOLUTE_POS;
    if i < param.len() {
        let g = grad[i];
        let m = beta_1 * moment_1[i] + (1.0 - beta_1) * g;
        let v = beta_2 * moment_2[i] + (1.0 - beta_2) * g * g;
        moment_1_out[i] = m;
        moment_2_out[i] = v;
        param_out[i] = param[i] - step * m / (v.sqrt() + epsilon);
    }
}

/// One Adam step's scalars: the moments' decay rates, the step (learning rate times the bias
/// corrections) and epsilon (scaled as Burn's Adam scales it).
#[derive(Debug, Clone, Copy)]
pub struct AdamScalars {
    pub beta_1: f32,
    pub beta_2: f32,
    pub step: f32,
    pub epsilon: f32,
}

/// The GPU-only operations that have no autodiff counterpart (they run on plain tensors).
#[burn::backend::backend_extension(Cube: cfg(feature = "gpu"))]
pub trait GpuOps: burn::backend::Backend {
    /// One Adam update (see `adam_kernel`).
    fn adam_update(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        scalars: AdamScalars,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// A dropout mask of `shape` on `like`'s device (see `dropout_mask_kernel`).
    fn dropout_mask(
        like: FloatTensor<Self>,
        shape: Vec<usize>,
        threshold: u32,
        keep: f32,
        k0: u32,
        k1: u32,
    ) -> FloatTensor<Self>;
}

impl GpuOps for Cube {
    fn adam_update(
        param: Ct,
        grad: Ct,
        moment_1: Ct,
        moment_2: Ct,
        scalars: AdamScalars,
    ) -> (Ct, Ct, Ct) {
        let AdamScalars {
            beta_1,
            beta_2,
            step,
            epsilon,
        } = scalars;
        let shape = param.meta.shape().to_vec();
        let [param, grad, moment_1, moment_2] =
            [param, grad, moment_1, moment_2].map(into_contiguous);
        let outs = [(); 3].map(|_| empty(&param, shape.clone()));
        let n = shape.iter().product::<usize>();
        if n > 0 {
            let cube_dim = CubeDim::new(&param.client, n);
            adam_kernel::launch(
                &param.client,
                cubecl::calculate_cube_count_elemwise(&param.client, n, cube_dim),
                cube_dim,
                param.clone().into_tensor_arg(),
                grad.into_tensor_arg(),
                moment_1.into_tensor_arg(),
                moment_2.into_tensor_arg(),
                outs[0].clone().into_tensor_arg(),
                outs[1].clone().into_tensor_arg(),
                outs[2].clone().into_tensor_arg(),
                beta_1,
                beta_2,
                step,
                epsilon,
            );
        }
        let [p, m, v] = outs;
        (p, m, v)
    }

    fn dropout_mask(
        like: Ct,
        shape: Vec<usize>,
        threshold: u32,
        keep: f32,
        k0: u32,
        k1: u32,
    ) -> Ct {
        let out = empty(&like, shape.clone());
        let n = shape.iter().product::<usize>();
        if n > 0 {
            let (count, dim) = launch_1d(&like.client, n);
            dropout_mask_kernel::launch(
                &like.client,
                count,
                dim,
                out.clone().into_tensor_arg(),
                threshold,
                keep,
                k0,
                k1,
            );
        }
        out
    }
}

/// A dropout mask of `shape` on `like`'s GPU (a constant, with autodiff where `like` has it), from
/// the next key of the CPU kernels' stream.
pub fn dropout_mask<const D: usize, const E: usize>(
    like: &burn::prelude::Tensor<E>,
    shape: [usize; D],
    p: f32,
) -> burn::prelude::Tensor<D> {
    use burn::backend::Dispatch;
    let (threshold, keep) = crate::kernels::random::mask_threshold(p);
    let (k0, k1) = crate::kernels::random::next_mask_key();
    let inner = like.clone().inner();
    let mask = burn::prelude::Tensor::<D>::from_dispatch(Dispatch::dropout_mask(
        inner.into_dispatch(),
        shape.to_vec(),
        threshold,
        keep,
        k0,
        k1,
    ));
    burn::prelude::Tensor::from_inner(mask)
}
