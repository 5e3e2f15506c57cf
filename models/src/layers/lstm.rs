//! A Keras-style LSTM: one input kernel `[F, 4H]`, one recurrent kernel `[H, 4H]` and one bias
//! `[4H]` (gate order i, f, c, o), so its parameter count equals Keras' (Burn's own `Lstm` keeps a
//! second bias per gate, 4H more). The input projection runs once for all time steps; only the
//! recurrent matmul is in the loop. Dropout follows Keras: `dropout` on the inputs, and
//! `recurrent_dropout` with one mask per sequence on the hidden state feeding the recurrence.
//!
//! On the CPU (Flex) the recurrence runs as one fused operation with a hand-written backward
//! pass (`crate::fused`); elsewhere, and in the tests that check the kernel, as the step-by-step
//! Burn loop below (`forward_generic`).

use burn::module::{Initializer, Param};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, tanh};

use crate::fused;
use crate::layers::dropout;

#[derive(Module, Debug)]
pub struct KerasLstm {
    /// Input kernel and the bias: `[F] -> [4H]`.
    pub input: Linear,
    /// Recurrent kernel, no bias: `[H] -> [4H]`.
    pub recurrent: Linear,
    pub input_dropout: Dropout,
    pub recurrent_dropout: Dropout,
    pub units: usize,
}

impl KerasLstm {
    pub fn new(
        d_input: usize,
        units: usize,
        dropout: f64,
        recurrent_dropout: f64,
        device: &Device,
    ) -> Self {
        let mut input = LinearConfig::new(d_input, 4 * units)
            .with_initializer(Initializer::XavierUniform { gain: 1.0 })
            .init(device);
        // Keras' unit_forget_bias: forget-gate bias starts at 1, the rest at 0.
        let bias: Vec<f32> = (0..4 * units)
            .map(|i| {
                if (units..2 * units).contains(&i) {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        input.bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(bias, [4 * units]),
            device,
        )));
        let recurrent = LinearConfig::new(units, 4 * units)
            .with_bias(false)
            .with_initializer(Initializer::Orthogonal { gain: 1.0 })
            .init(device);
        Self {
            input,
            recurrent,
            input_dropout: DropoutConfig::new(dropout).init(),
            recurrent_dropout: DropoutConfig::new(recurrent_dropout).init(),
            units,
        }
    }

    /// `[B, T, F]` to the hidden states of every step `[B, T, H]` (when `return_sequences`) and
    /// the last hidden state `[B, H]`.
    pub fn forward(&self, x: Tensor<3>, return_sequences: bool) -> (Option<Tensor<3>>, Tensor<2>) {
        if fused::layer_kernels_available(&x) {
            self.forward_fused(x, return_sequences)
        } else {
            self.forward_generic(x, return_sequences)
        }
    }

    /// The fused path: the whole layer (input projection and recurrence) as one operation.
    pub fn forward_fused(
        &self,
        x: Tensor<3>,
        return_sequences: bool,
    ) -> (Option<Tensor<3>>, Tensor<2>) {
        let [batch, steps, _] = x.dims();
        let h_units = self.units;
        let device = x.device();
        let recurrent_mask = dropout(
            &self.recurrent_dropout,
            Tensor::<2>::ones([batch, h_units], &device),
        );
        let bias = match &self.input.bias {
            Some(b) => b.val(),
            None => Tensor::zeros([4 * h_units], &device),
        };
        let hidden = fused::lstm_layer(
            dropout(&self.input_dropout, x),
            self.input.weight.val(),
            bias,
            self.recurrent.weight.val(),
            recurrent_mask,
        );
        let last = hidden
            .clone()
            .narrow(1, steps - 1, 1)
            .reshape([batch, h_units]);
        (return_sequences.then_some(hidden), last)
    }

    /// The step-by-step Burn loop: the path on non-CPU devices and the kernels' reference.
    pub fn forward_generic(
        &self,
        x: Tensor<3>,
        return_sequences: bool,
    ) -> (Option<Tensor<3>>, Tensor<2>) {
        let [batch, steps, _] = x.dims();
        let h_units = self.units;
        let device = x.device();
        let projected = self.input.forward(dropout(&self.input_dropout, x));
        // One dropout mask for the whole sequence (ones through dropout = kept/scaled or zero).
        let recurrent_mask = dropout(
            &self.recurrent_dropout,
            Tensor::<2>::ones([batch, h_units], &device),
        );
        let mut h = Tensor::<2>::zeros([batch, h_units], &device);
        let mut c = Tensor::<2>::zeros([batch, h_units], &device);
        let mut outputs = Vec::with_capacity(if return_sequences { steps } else { 0 });
        for t in 0..steps {
            let z = projected
                .clone()
                .narrow(1, t, 1)
                .reshape([batch, 4 * h_units])
                + self.recurrent.forward(h.clone() * recurrent_mask.clone());
            let mut gates = z.chunk(4, 1).into_iter();
            let (Some(i), Some(f), Some(g), Some(o)) =
                (gates.next(), gates.next(), gates.next(), gates.next())
            else {
                unreachable!("chunk(4) of a 4H-wide tensor gives four gates")
            };
            c = sigmoid(f) * c + sigmoid(i) * tanh(g);
            h = sigmoid(o) * tanh(c.clone());
            if return_sequences {
                outputs.push(h.clone());
            }
        }
        let sequence = return_sequences.then(|| Tensor::stack(outputs, 1));
        (sequence, h)
    }
}
