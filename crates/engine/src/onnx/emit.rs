//! Writes a `ForecastModel`'s inference graph as ONNX nodes, reading its trained weights.
//!
//! Layout conventions: the graph input is batch-first `[B, L, F]`. Recurrent layers run
//! sequence-first (`[T, B, C]`, ONNX `LSTM` with `layout = 0`, because ONNX Runtime's CPU
//! provider refuses `layout = 1`), so one `Transpose` sits in front of a stack of LSTMs and
//! stacked LSTMs feed each other without transposes. Convolutions run channels-first `[B, C, T]`.
//! Dropout is the identity at inference and is not emitted.

use atb_models::ForecastModel;
use atb_models::architectures::RegressionHead;
use atb_models::burn::nn::conv::Conv1d;
use atb_models::burn::nn::pool::MaxPool1d;
use atb_models::burn::nn::{Linear, PaddingConfig1d};
use atb_models::burn::prelude::*;
use atb_models::layers::attention::KerasMultiHeadAttention;
use atb_models::layers::lstm::KerasLstm;
use atb_models::layers::tcn::TcnTrunk;

use super::graph::{GraphBuilder, attr_f32_scalar_tensor, attr_int, attr_ints, attr_string};
use crate::error::{Error, Result};

/// Name of the graph input: scaled windows `[batch, L, F]`, float32.
pub const INPUT_NAME: &str = "features";
/// Name of the graph's raw output `[batch, 1]`, float32: the standardised label (log return or
/// log realised volatility) or the logit of an up move.
pub const OUTPUT_NAME: &str = "prediction";
/// Name of the graph's second output `[batch, 1]`, float32: the raw output through the target's
/// head (unscaled; then the exponential for volatility, the logistic for direction), i.e. the
/// forecast itself: a log return, a realised volatility or a probability.
pub const FORECAST_NAME: &str = "forecast";

fn values<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .try_to_vec::<f32>()
        .map_err(|e| Error::Export(format!("reading weights: {e:?}")))
}

/// Emits the whole forward pass of `model`, from `INPUT_NAME` to `OUTPUT_NAME`.
pub fn emit_model(g: &mut GraphBuilder, model: &ForecastModel, steps: usize) -> Result<()> {
    let x = INPUT_NAME;
    let pooled_or_last = match model {
        ForecastModel::Lstm(m) => {
            let seq_first = g.node("Transpose", &[x], vec![attr_ints("perm", &[1, 0, 2])]);
            lstm_stack(g, &seq_first, &m.lstms)?.1
        }
        ForecastModel::CnnLstm(m) => {
            let mut y = g.node("Transpose", &[x], vec![attr_ints("perm", &[0, 2, 1])]);
            for conv in &m.convs {
                let c = conv1d(g, &y, conv)?;
                let r = g.node("Relu", &[&c], vec![]);
                y = max_pool(g, &r, &m.pool);
            }
            // [B, C, T'] straight to the LSTMs' [T', B, C].
            let seq_first = g.node("Transpose", &[&y], vec![attr_ints("perm", &[2, 0, 1])]);
            lstm_stack(g, &seq_first, &m.lstms)?.1
        }
        ForecastModel::AttentionLstm(m) => {
            let seq_first = g.node("Transpose", &[x], vec![attr_ints("perm", &[1, 0, 2])]);
            let (sequence, _) = lstm_stack(g, &seq_first, &m.lstms)?;
            let seq = g.node(
                "Transpose",
                &[&sequence],
                vec![attr_ints("perm", &[1, 0, 2])],
            );
            let attended = attention(g, &seq, &m.attention, steps)?;
            let residual = g.node("Add", &[&seq, &attended], vec![]);
            avg_max_pool(g, &residual, 1)
        }
        ForecastModel::Tcn(m) => {
            // Pool the trunk's channels-first output over time directly (axis 2).
            let trunk = tcn_trunk(g, x, &m.trunk)?;
            avg_max_pool(g, &trunk, 2)
        }
        ForecastModel::TcnAttention(m) => {
            let trunk = tcn_trunk(g, x, &m.trunk)?;
            let seq = g.node("Transpose", &[&trunk], vec![attr_ints("perm", &[0, 2, 1])]);
            let attended = attention(g, &seq, &m.attention, steps)?;
            avg_max_pool(g, &attended, 1)
        }
    };
    let head = match model {
        ForecastModel::Lstm(m) => &m.head,
        ForecastModel::CnnLstm(m) => &m.head,
        ForecastModel::AttentionLstm(m) => &m.head,
        ForecastModel::Tcn(m) => &m.head,
        ForecastModel::TcnAttention(m) => &m.head,
    };
    regression_head(g, &pooled_or_last, head)
}

/// Dense(relu) → Dense(1), the last node writing `OUTPUT_NAME`.
fn regression_head(g: &mut GraphBuilder, x: &str, head: &RegressionHead) -> Result<()> {
    let hidden = gemm(g, x, &head.hidden)?;
    let relu = g.node("Relu", &[&hidden], vec![]);
    let (w, b) = linear_weights(g, &head.output)?;
    g.node_into("Gemm", &[&relu, &w, &b], &[OUTPUT_NAME], vec![]);
    Ok(())
}

/// A Burn `Linear`'s weight `[in, out]` and bias `[out]` as initializers.
fn linear_weights(g: &mut GraphBuilder, linear: &Linear) -> Result<(String, String)> {
    let [d_in, d_out] = linear.weight.val().dims();
    let w = g.f32_tensor("W", &[d_in, d_out], values(linear.weight.val())?);
    let bias = match &linear.bias {
        Some(b) => values(b.val())?,
        None => vec![0.0; d_out],
    };
    let b = g.f32_tensor("b", &[d_out], bias);
    Ok((w, b))
}

/// `[B, in]` → `[B, out]`.
fn gemm(g: &mut GraphBuilder, x: &str, linear: &Linear) -> Result<String> {
    let (w, b) = linear_weights(g, linear)?;
    Ok(g.node("Gemm", &[x, &w, &b], vec![]))
}

/// `[..., in]` → `[..., out]` for any rank.
fn linear_nd(g: &mut GraphBuilder, x: &str, linear: &Linear) -> Result<String> {
    let (w, b) = linear_weights(g, linear)?;
    let product = g.node("MatMul", &[x, &w], vec![]);
    Ok(g.node("Add", &[&product, &b], vec![]))
}

/// `[B, C_in, T]` → `[B, C_out, T']` with the layer's dilation, stride and (causal or valid)
/// padding.
fn conv1d(g: &mut GraphBuilder, x: &str, conv: &Conv1d) -> Result<String> {
    let [c_out, c_in, k] = conv.weight.val().dims();
    let pads = match conv.padding {
        PaddingConfig1d::Valid => [0, 0],
        PaddingConfig1d::Explicit(left, right) => [left as i64, right as i64],
        PaddingConfig1d::Same => {
            return Err(Error::Export(
                "a convolution with `Same` padding has no fixed ONNX pads".into(),
            ));
        }
    };
    let w = g.f32_tensor("conv.W", &[c_out, c_in, k], values(conv.weight.val())?);
    let bias = match &conv.bias {
        Some(b) => values(b.val())?,
        None => vec![0.0; c_out],
    };
    let b = g.f32_tensor("conv.b", &[c_out], bias);
    Ok(g.node(
        "Conv",
        &[x, &w, &b],
        vec![
            attr_ints("kernel_shape", &[k as i64]),
            attr_ints("dilations", &[conv.dilation as i64]),
            attr_ints("strides", &[conv.stride as i64]),
            attr_ints("pads", &pads),
            attr_int("group", conv.groups as i64),
        ],
    ))
}

fn max_pool(g: &mut GraphBuilder, x: &str, pool: &MaxPool1d) -> String {
    g.node(
        "MaxPool",
        &[x],
        vec![
            attr_ints("kernel_shape", &[pool.kernel_size as i64]),
            attr_ints("strides", &[pool.stride as i64]),
            attr_int("ceil_mode", i64::from(pool.ceil_mode)),
        ],
    )
}

/// Global average ‖ global max over `axis`, giving `[B, 2C]` (matches `layers::avg_max_pool`).
fn avg_max_pool(g: &mut GraphBuilder, x: &str, axis: i64) -> String {
    let attrs = || vec![attr_ints("axes", &[axis]), attr_int("keepdims", 0)];
    let avg = g.node("ReduceMean", &[x], attrs());
    let max = g.node("ReduceMax", &[x], attrs());
    g.node("Concat", &[&avg, &max], vec![attr_int("axis", 1)])
}

/// Stacked LSTMs over a sequence-first input `[T, B, C]`: the last layer's full sequence
/// `[T, B, H]` and its last hidden state `[B, H]`.
fn lstm_stack(g: &mut GraphBuilder, x: &str, layers: &[KerasLstm]) -> Result<(String, String)> {
    let mut seq = x.to_string();
    let mut last = None;
    for layer in layers {
        let (s, h) = lstm(g, &seq, layer)?;
        seq = s;
        last = Some(h);
    }
    let last = last.ok_or_else(|| Error::Export("a model without LSTM layers".into()))?;
    Ok((seq, last))
}

/// Our gate blocks are ordered i, f, c, o; ONNX wants i, o, f, c.
const ONNX_GATE_ORDER: [usize; 4] = [0, 3, 1, 2];

/// A Burn kernel `[d_in, 4H]` (gate blocks i, f, c, o along columns) as ONNX's `[4H, d_in]`
/// (gate blocks i, o, f, c along rows).
fn onnx_gate_matrix(kernel: &[f32], d_in: usize, units: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(4 * units * d_in);
    for &gate in &ONNX_GATE_ORDER {
        for unit in 0..units {
            let column = gate * units + unit;
            out.extend((0..d_in).map(|row| kernel[row * 4 * units + column]));
        }
    }
    out
}

/// One Keras LSTM as an ONNX `LSTM` node (layout 0): `[T, B, C]` → (`[T, B, H]`, `[B, H]`).
fn lstm(g: &mut GraphBuilder, x: &str, layer: &KerasLstm) -> Result<(String, String)> {
    let units = layer.units;
    let [d_in, _] = layer.input.weight.val().dims();
    let w = onnx_gate_matrix(&values(layer.input.weight.val())?, d_in, units);
    let r = onnx_gate_matrix(&values(layer.recurrent.weight.val())?, units, units);
    let input_bias = match &layer.input.bias {
        Some(b) => values(b.val())?,
        None => vec![0.0; 4 * units],
    };
    // B = [Wb, Rb]: the Keras layer's single bias goes to Wb, Rb is zero.
    let mut b: Vec<f32> = ONNX_GATE_ORDER
        .iter()
        .flat_map(|&gate| input_bias[gate * units..(gate + 1) * units].to_vec())
        .collect();
    b.extend(std::iter::repeat_n(0.0, 4 * units));
    let w = g.f32_tensor("lstm.W", &[1, 4 * units, d_in], w);
    let r = g.f32_tensor("lstm.R", &[1, 4 * units, units], r);
    let b = g.f32_tensor("lstm.B", &[1, 8 * units], b);
    // Explicit zero initial states [1, B, H], B read from the input: tract cannot build its
    // implicit zeros for a symbolic batch axis.
    let shape = g.node("Shape", &[x], vec![]);
    let batch_index = g.i64_tensor("batch_axis", &[1]);
    let batch = g.node("Gather", &[&shape, &batch_index], vec![attr_int("axis", 0)]);
    let one = g.i64_tensor("one", &[1]);
    let hidden = g.i64_tensor("hidden", &[units as i64]);
    let state_shape = g.node(
        "Concat",
        &[&one, &batch, &hidden],
        vec![attr_int("axis", 0)],
    );
    // The value is explicit: tract's default is not float32.
    let zeros = g.node(
        "ConstantOfShape",
        &[&state_shape],
        vec![attr_f32_scalar_tensor("value", 0.0)],
    );
    let y = g.fresh("lstm.Y");
    let y_h = g.fresh("lstm.Y_h");
    g.node_into(
        "LSTM",
        &[x, &w, &r, &b, "", &zeros, &zeros],
        &[&y, &y_h],
        vec![
            attr_int("hidden_size", units as i64),
            attr_int("layout", 0),
            attr_string("direction", "forward"),
        ],
    );
    // Y is [T, num_directions = 1, B, H]; Y_h is [1, B, H].
    let axis1 = g.i64_tensor("axes", &[1]);
    let sequence = g.node("Squeeze", &[&y, &axis1], vec![]);
    let axis0 = g.i64_tensor("axes", &[0]);
    let last = g.node("Squeeze", &[&y_h, &axis0], vec![]);
    Ok((sequence, last))
}

/// The TCN trunk on the batch-first input: channels-first output `[B, filters, T]`.
fn tcn_trunk(g: &mut GraphBuilder, x: &str, trunk: &TcnTrunk) -> Result<String> {
    let channels_first = g.node("Transpose", &[x], vec![attr_ints("perm", &[0, 2, 1])]);
    let c = conv1d(g, &channels_first, &trunk.input_conv)?;
    let mut y = g.node("Relu", &[&c], vec![]);
    for block in &trunk.blocks {
        let c1 = conv1d(g, &y, &block.conv1)?;
        let r1 = g.node("Relu", &[&c1], vec![]);
        let c2 = conv1d(g, &r1, &block.conv2)?;
        let r2 = g.node("Relu", &[&c2], vec![]);
        let skip = g.node("Add", &[&r2, &y], vec![]);
        y = g.node("Relu", &[&skip], vec![]);
    }
    Ok(y)
}

/// Keras-style multi-head self-attention on `[B, T, D]` (T = `steps`) → `[B, T, D]`.
fn attention(
    g: &mut GraphBuilder,
    x: &str,
    mha: &KerasMultiHeadAttention,
    steps: usize,
) -> Result<String> {
    let (heads, key_dim) = (mha.heads as i64, mha.key_dim as i64);
    let split_shape = g.i64_tensor("shape", &[-1, steps as i64, heads, key_dim]);
    let split = |g: &mut GraphBuilder, linear: &Linear, perm: &[i64]| -> Result<String> {
        let projected = linear_nd(g, x, linear)?;
        let reshaped = g.node("Reshape", &[&projected, &split_shape], vec![]);
        Ok(g.node("Transpose", &[&reshaped], vec![attr_ints("perm", perm)]))
    };
    let q = split(g, &mha.query, &[0, 2, 1, 3])?; // [B, h, T, k]
    let k = split(g, &mha.key, &[0, 2, 3, 1])?; // [B, h, k, T]
    let v = split(g, &mha.value, &[0, 2, 1, 3])?; // [B, h, T, k]
    let scores = g.node("MatMul", &[&q, &k], vec![]);
    // Divide (not multiply by the reciprocal) exactly as the Burn layer does.
    let scale = g.f32_tensor("scale", &[], vec![(mha.key_dim as f64).sqrt() as f32]);
    let scaled = g.node("Div", &[&scores, &scale], vec![]);
    let weights = g.node("Softmax", &[&scaled], vec![attr_int("axis", -1)]);
    let context = g.node("MatMul", &[&weights, &v], vec![]);
    let merged = g.node(
        "Transpose",
        &[&context],
        vec![attr_ints("perm", &[0, 2, 1, 3])],
    );
    let merged_shape = g.i64_tensor("shape", &[-1, steps as i64, heads * key_dim]);
    let flat = g.node("Reshape", &[&merged, &merged_shape], vec![]);
    linear_nd(g, &flat, &mha.output)
}
