//! The five architectures. Each maps `[batch, L, F]` to `[batch, 1]`; the numbers come from the
//! resolved `ModelConfig`, never from constants here.

use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::pool::{MaxPool1d, MaxPool1dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::config::{AttentionSpec, ModelConfig, TcnSpec};
use crate::fused;
use crate::kernels::conv::Epilogue;
use crate::layers::attention::KerasMultiHeadAttention;
use crate::layers::lstm::KerasLstm;
use crate::layers::tcn::TcnTrunk;
use crate::layers::{avg_max_pool, conv1d_channels_last, dropout};

/// Dense(dense, relu) → Dropout → Dense(1, linear): every architecture's head.
#[derive(Module, Debug)]
pub struct RegressionHead {
    pub hidden: Linear,
    pub dropout: Dropout,
    pub output: Linear,
}

impl RegressionHead {
    fn new(d_input: usize, dense: usize, dropout: f64, device: &Device) -> Self {
        Self {
            hidden: LinearConfig::new(d_input, dense).init(device),
            dropout: DropoutConfig::new(dropout).init(),
            output: LinearConfig::new(dense, 1).init(device),
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.output
            .forward(dropout(&self.dropout, relu(self.hidden.forward(x))))
    }
}

fn lstm_stack(
    d_input: usize,
    units: &[usize],
    dropout: f64,
    recurrent_dropout: f64,
    device: &Device,
) -> Vec<KerasLstm> {
    let mut d_in = d_input;
    units
        .iter()
        .map(|&u| {
            let layer = KerasLstm::new(d_in, u, dropout, recurrent_dropout, device);
            d_in = u;
            layer
        })
        .collect()
}

/// Conv(k3, valid, relu) → MaxPool(2) → Conv(k3, valid, relu) → MaxPool(2) → LSTM (sequences) →
/// Dropout → LSTM → Dropout → head. (The original's P1 "adaptive" body.)
#[derive(Module, Debug)]
pub struct CnnLstm {
    pub convs: Vec<Conv1d>,
    pub pool: MaxPool1d,
    pub lstms: Vec<KerasLstm>,
    pub dropout: Dropout,
    pub head: RegressionHead,
}

impl CnnLstm {
    pub fn new(c: &ModelConfig, device: &Device) -> Self {
        let mut d_in = c.n_features;
        let convs = c
            .conv_filters
            .iter()
            .map(|&f| {
                let conv = Conv1dConfig::new(d_in, f, 3).init(device);
                d_in = f;
                conv
            })
            .collect();
        let last = *c.lstm_units.last().unwrap_or(&1);
        Self {
            convs,
            pool: MaxPool1dConfig::new(2).init(),
            lstms: lstm_stack(d_in, &c.lstm_units, 0.0, 0.0, device),
            dropout: DropoutConfig::new(c.dropout).init(),
            head: RegressionHead::new(last, c.dense_units, c.dropout, device),
        }
    }

    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let y = if fused::layer_kernels_available(&x) {
            // Channels last all the way: the fused convolutions read and write [B, T, C].
            let mut y = x;
            for conv in &self.convs {
                y = conv1d_channels_last(conv, y, Epilogue::ReluMaxPool2);
            }
            y
        } else {
            let mut y = x.swap_dims(1, 2);
            for conv in &self.convs {
                y = self.pool.forward(relu(conv.forward(y)));
            }
            y.swap_dims(1, 2)
        };
        let last = sequence_then_last(&self.lstms, y, &self.dropout);
        self.head.forward(last)
    }
}

/// Runs stacked LSTMs (all but the last return sequences), with dropout after each.
fn sequence_then_last(lstms: &[KerasLstm], x: Tensor<3>, dropout_layer: &Dropout) -> Tensor<2> {
    let mut seq = x;
    for (i, lstm) in lstms.iter().enumerate() {
        let is_last = i + 1 == lstms.len();
        let (sequence, last) = lstm.forward(seq.clone(), !is_last);
        match sequence {
            Some(s) if !is_last => seq = dropout(dropout_layer, s),
            _ => return dropout(dropout_layer, last),
        }
    }
    unreachable!("a validated config has at least one LSTM")
}

/// LSTM (sequences) → Dropout → LSTM → head, with a linear output (the original's sigmoid head
/// only fit targets in [0, 1]).
#[derive(Module, Debug)]
pub struct LstmModel {
    pub lstms: Vec<KerasLstm>,
    pub dropout: Dropout,
    pub head: RegressionHead,
}

impl LstmModel {
    pub fn new(c: &ModelConfig, device: &Device) -> Self {
        let last = *c.lstm_units.last().unwrap_or(&1);
        Self {
            lstms: lstm_stack(c.n_features, &c.lstm_units, 0.0, 0.0, device),
            dropout: DropoutConfig::new(c.dropout).init(),
            head: RegressionHead::new(last, c.dense_units, c.dropout, device),
        }
    }

    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        // The original: Dropout after the first LSTM only; none after the second.
        let mut seq = x;
        let n = self.lstms.len();
        for (i, lstm) in self.lstms.iter().enumerate() {
            let is_last = i + 1 == n;
            let (sequence, last) = lstm.forward(seq.clone(), !is_last);
            match sequence {
                Some(s) if !is_last => seq = dropout(&self.dropout, s),
                _ => return self.head.forward(last),
            }
        }
        unreachable!("a validated config has at least one LSTM")
    }
}

/// Stacked LSTMs (all returning sequences, input and recurrent dropout) → self-attention →
/// Dropout → residual add → avg ‖ max pooling → head.
#[derive(Module, Debug)]
pub struct AttentionLstm {
    pub lstms: Vec<KerasLstm>,
    pub attention: KerasMultiHeadAttention,
    pub dropout: Dropout,
    pub head: RegressionHead,
}

impl AttentionLstm {
    pub fn new(c: &ModelConfig, att: AttentionSpec, device: &Device) -> Self {
        let width = *c.lstm_units.last().unwrap_or(&1);
        Self {
            lstms: lstm_stack(
                c.n_features,
                &c.lstm_units,
                c.dropout,
                c.recurrent_dropout,
                device,
            ),
            attention: KerasMultiHeadAttention::new(
                width,
                att.heads,
                att.key_dim,
                c.dropout,
                device,
            ),
            dropout: DropoutConfig::new(c.dropout).init(),
            head: RegressionHead::new(2 * width, c.dense_units, c.dropout, device),
        }
    }

    fn encode(&self, x: Tensor<3>) -> Tensor<3> {
        let mut seq = x;
        for lstm in &self.lstms {
            let (sequence, _) = lstm.forward(seq, true);
            seq = sequence.unwrap_or_else(|| unreachable!("return_sequences was asked for"));
        }
        seq
    }

    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let seq = self.encode(x);
        let attended = self.attention.forward(seq.clone());
        let y = seq + dropout(&self.dropout, attended);
        self.head.forward(avg_max_pool(y))
    }

    pub fn forward_with_attention(&self, x: Tensor<3>) -> (Tensor<2>, Tensor<4>) {
        let seq = self.encode(x);
        let (attended, weights) = self.attention.forward_with_weights(seq.clone());
        let y = seq + dropout(&self.dropout, attended);
        (self.head.forward(avg_max_pool(y)), weights)
    }
}

/// TCN trunk → avg ‖ max pooling → head.
#[derive(Module, Debug)]
pub struct Tcn {
    pub trunk: TcnTrunk,
    pub head: RegressionHead,
}

impl Tcn {
    pub fn new(c: &ModelConfig, spec: &TcnSpec, device: &Device) -> Self {
        Self {
            trunk: TcnTrunk::new(spec, c.n_features, c.dropout, device),
            head: RegressionHead::new(2 * spec.filters, c.dense_units, c.dropout, device),
        }
    }

    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        self.head.forward(avg_max_pool(self.trunk.forward(x)))
    }
}

/// TCN trunk → self-attention (no residual, no norm, as the original) → avg ‖ max → head.
#[derive(Module, Debug)]
pub struct TcnAttention {
    pub trunk: TcnTrunk,
    pub attention: KerasMultiHeadAttention,
    pub head: RegressionHead,
}

impl TcnAttention {
    pub fn new(c: &ModelConfig, spec: &TcnSpec, att: AttentionSpec, device: &Device) -> Self {
        Self {
            trunk: TcnTrunk::new(spec, c.n_features, c.dropout, device),
            attention: KerasMultiHeadAttention::new(
                spec.filters,
                att.heads,
                att.key_dim,
                c.dropout,
                device,
            ),
            head: RegressionHead::new(2 * spec.filters, c.dense_units, c.dropout, device),
        }
    }

    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let attended = self.attention.forward(self.trunk.forward(x));
        self.head.forward(avg_max_pool(attended))
    }

    pub fn forward_with_attention(&self, x: Tensor<3>) -> (Tensor<2>, Tensor<4>) {
        let (attended, weights) = self.attention.forward_with_weights(self.trunk.forward(x));
        (self.head.forward(avg_max_pool(attended)), weights)
    }
}
