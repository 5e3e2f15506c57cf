//! The one table of every variant's numbers, overrides on top of it, and the resolved
//! `ModelConfig` that the registry stores so it can rebuild exactly what was trained.

use serde::{Deserialize, Serialize};

use crate::ModelError;
use crate::{Architecture, ModelOverrides, Variant};

/// Everything needed to rebuild a model: architecture, size, input shape and every width.
/// Fields an architecture does not use are empty (`[]`, `0` or `None`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Stored as `model_type` by atb before the vocabulary was unified.
    #[serde(alias = "model_type")]
    pub architecture: Architecture,
    pub variant: Variant,
    pub sequence_length: usize,
    pub n_features: usize,
    /// cnn_lstm: filters of its two valid-padded convolutions (kernel 3, each followed by max-pool 2).
    pub conv_filters: Vec<usize>,
    /// Units of the stacked LSTMs (cnn_lstm, attention_lstm, lstm).
    pub lstm_units: Vec<usize>,
    /// TCN trunk (tcn, tcn_attention).
    pub tcn: Option<TcnSpec>,
    /// Multi-head self-attention (attention_lstm, tcn_attention).
    pub attention: Option<AttentionSpec>,
    /// Width of the hidden dense layer of the head.
    pub dense_units: usize,
    /// Dropout rate everywhere a layer drops out.
    pub dropout: f64,
    /// Recurrent dropout of the LSTMs (attention_lstm: dropout / 2, as the original).
    pub recurrent_dropout: f64,
}

/// A TCN trunk: 1x1 input convolution to `filters`, then `dilations.len()` residual blocks of two
/// causal convolutions each, block i dilated by `dilations[i]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcnSpec {
    pub filters: usize,
    pub kernel_size: usize,
    pub dilations: Vec<usize>,
}

impl TcnSpec {
    /// Steps an output can see: 1 + 2 (k - 1) sum(dilations), two convolutions per block.
    pub fn receptive_field(&self) -> usize {
        1 + 2 * (self.kernel_size - 1) * self.dilations.iter().sum::<usize>()
    }
}

/// Keras-style multi-head attention: `heads` heads of `key_dim` each, projected back to the width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttentionSpec {
    pub heads: usize,
    pub key_dim: usize,
}

fn tcn_spec(variant: Variant) -> (TcnSpec, usize, f64) {
    // (trunk, dense units, dropout), from the original's TCN table (reference section 1.5).
    let (filters, kernel_size, blocks, dense, dropout) = match variant {
        Variant::Lightweight => (32, 3, 4, 32, 0.2),
        Variant::Default => (64, 5, 5, 64, 0.2),
        Variant::Deep => (128, 7, 6, 128, 0.3),
    };
    (
        TcnSpec {
            filters,
            kernel_size,
            dilations: (0..blocks).map(|i| 1 << i).collect(),
        },
        dense,
        dropout,
    )
}

/// Scales a width by the cnn_lstm/lstm variant rule: lightweight halves, deep doubles.
fn scaled(width: usize, variant: Variant) -> usize {
    match variant {
        Variant::Lightweight => width / 2,
        Variant::Default => width,
        Variant::Deep => width * 2,
    }
}

impl ModelConfig {
    /// The variant table: every number of every (type, variant) pair, for an input of
    /// `[sequence_length, n_features]`.
    pub fn table(
        architecture: Architecture,
        variant: Variant,
        sequence_length: usize,
        n_features: usize,
    ) -> Self {
        let base = ModelConfig {
            architecture,
            variant,
            sequence_length,
            n_features,
            conv_filters: vec![],
            lstm_units: vec![],
            tcn: None,
            attention: None,
            dense_units: 0,
            dropout: 0.2,
            recurrent_dropout: 0.0,
        };
        match architecture {
            // Original P1 body: Conv64, Conv128, LSTM100, LSTM50, Dense50 (reference 1.1).
            Architecture::CnnLstm => ModelConfig {
                conv_filters: vec![scaled(64, variant), scaled(128, variant)],
                lstm_units: vec![scaled(100, variant), scaled(50, variant)],
                dense_units: scaled(50, variant),
                ..base
            },
            // Original price-only LSTM: LSTM128, LSTM64, Dense64 (reference 1.3).
            Architecture::Lstm => ModelConfig {
                lstm_units: vec![scaled(128, variant), scaled(64, variant)],
                dense_units: scaled(64, variant),
                ..base
            },
            // Reference 1.4.
            Architecture::AttentionLstm => {
                let (units, heads, key_dim, dense, dropout) = match variant {
                    Variant::Lightweight => (vec![64, 32], 2, 32, 32, 0.2),
                    Variant::Default => (vec![128, 64], 4, 64, 64, 0.2),
                    Variant::Deep => (vec![256, 128, 64], 8, 128, 128, 0.3),
                };
                ModelConfig {
                    lstm_units: units,
                    attention: Some(AttentionSpec { heads, key_dim }),
                    dense_units: dense,
                    dropout,
                    recurrent_dropout: dropout / 2.0,
                    ..base
                }
            }
            // Reference 1.5.
            Architecture::Tcn => {
                let (tcn, dense, dropout) = tcn_spec(variant);
                ModelConfig {
                    tcn: Some(tcn),
                    dense_units: dense,
                    dropout,
                    ..base
                }
            }
            // Reference 1.6, but honouring the variant: the trunk, the head and the attention follow it.
            Architecture::TcnAttention => {
                let (tcn, dense, dropout) = tcn_spec(variant);
                let (heads, key_dim) = match variant {
                    Variant::Lightweight => (2, 32),
                    Variant::Default => (4, 64),
                    Variant::Deep => (8, 128),
                };
                ModelConfig {
                    tcn: Some(tcn),
                    attention: Some(AttentionSpec { heads, key_dim }),
                    dense_units: dense,
                    dropout,
                    ..base
                }
            }
            // Not a network: no layers, and `validate` refuses it (the engine trains it with
            // LightGBM from its own tree budget).
            Architecture::Gbdt | Architecture::Ensemble => base,
        }
    }

    /// The table's numbers for this pair with `overrides` applied, validated.
    pub fn resolve(
        architecture: Architecture,
        variant: Variant,
        input_shape: [usize; 2],
        overrides: &ModelOverrides,
    ) -> Result<Self, ModelError> {
        let mut c = Self::table(architecture, variant, input_shape[0], input_shape[1]);
        let unused = |name: &str| {
            ModelError::InvalidConfig(format!("{architecture} has no {name} to override"))
        };
        if let Some(f) = &overrides.conv_filters {
            if c.conv_filters.is_empty() {
                return Err(unused("conv_filters"));
            }
            c.conv_filters = f.clone();
        }
        if let Some(u) = &overrides.lstm_units {
            if c.lstm_units.is_empty() {
                return Err(unused("lstm_units"));
            }
            c.lstm_units = u.clone();
        }
        if overrides.tcn_filters.is_some()
            || overrides.kernel_size.is_some()
            || overrides.blocks.is_some()
        {
            let tcn = c.tcn.as_mut().ok_or_else(|| unused("TCN trunk"))?;
            if let Some(f) = overrides.tcn_filters {
                tcn.filters = f;
            }
            if let Some(k) = overrides.kernel_size {
                tcn.kernel_size = k;
            }
            if let Some(n) = overrides.blocks {
                tcn.dilations = (0..n.min(30)).map(|i| 1 << i).collect();
                if n > 30 {
                    return Err(ModelError::InvalidConfig(format!(
                        "blocks {n} is too many (at most 30)"
                    )));
                }
            }
        }
        if overrides.heads.is_some() || overrides.key_dim.is_some() {
            let att = c.attention.as_mut().ok_or_else(|| unused("attention"))?;
            if let Some(h) = overrides.heads {
                att.heads = h;
            }
            if let Some(k) = overrides.key_dim {
                att.key_dim = k;
            }
        }
        if let Some(d) = overrides.dense_units {
            c.dense_units = d;
        }
        if let Some(p) = overrides.dropout {
            c.dropout = p;
            if architecture == Architecture::AttentionLstm {
                c.recurrent_dropout = p / 2.0;
            }
        }
        c.validate()?;
        Ok(c)
    }

    /// Checks that every number makes a model that can be built and maps `[B, L, F]` to `[B, 1]`.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::InvalidConfig(m));
        if !self.architecture.is_network() {
            return bad(format!(
                "{} is not a network: it has no layers to build",
                self.architecture
            ));
        }
        if self.sequence_length == 0 || self.n_features == 0 {
            return bad(format!(
                "input shape [{}, {}] is empty: sequence length and feature count must be at least 1",
                self.sequence_length, self.n_features
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) || !(0.0..1.0).contains(&self.recurrent_dropout) {
            return bad(format!("dropout {} must be in [0, 1)", self.dropout));
        }
        if self.dense_units == 0 {
            return bad("dense_units must be at least 1".into());
        }
        if self.conv_filters.contains(&0) || self.lstm_units.contains(&0) {
            return bad("every filter and unit count must be at least 1".into());
        }
        let needs_lstm = matches!(
            self.architecture,
            Architecture::CnnLstm | Architecture::AttentionLstm | Architecture::Lstm
        );
        if needs_lstm && self.lstm_units.is_empty() {
            return bad(format!(
                "{} needs at least one LSTM layer",
                self.architecture
            ));
        }
        if self.architecture == Architecture::CnnLstm {
            if self.conv_filters.len() != 2 {
                return bad("cnn_lstm has exactly two convolutions".into());
            }
            if self.cnn_output_length() == 0 {
                return bad(format!(
                    "cnn_lstm needs a sequence length of at least 10 (two kernel-3 convolutions and two pools); got {}",
                    self.sequence_length
                ));
            }
        }
        let needs_tcn = matches!(
            self.architecture,
            Architecture::Tcn | Architecture::TcnAttention
        );
        if needs_tcn != self.tcn.is_some() {
            return bad(format!(
                "{} {} a TCN trunk",
                self.architecture,
                if needs_tcn { "needs" } else { "has no" }
            ));
        }
        if self.architecture.has_attention() != self.attention.is_some() {
            return bad(format!(
                "{} {} attention",
                self.architecture,
                if self.architecture.has_attention() {
                    "needs"
                } else {
                    "has no"
                }
            ));
        }
        if let Some(t) = &self.tcn
            && (t.filters == 0 || t.kernel_size == 0 || t.dilations.is_empty())
        {
            return bad("the TCN needs filters, a kernel size and at least one block".into());
        }
        if let Some(a) = &self.attention
            && (a.heads == 0 || a.key_dim == 0)
        {
            return bad("attention needs at least one head and a key size of at least 1".into());
        }
        Ok(())
    }

    /// Time steps the cnn_lstm's LSTMs see: two (valid conv k=3, max-pool 2) stages.
    pub fn cnn_output_length(&self) -> usize {
        let stage = |l: usize| l.saturating_sub(2) / 2;
        stage(stage(self.sequence_length))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_and_are_validated() {
        let o = ModelOverrides {
            lstm_units: Some(vec![16, 8]),
            dense_units: Some(4),
            ..Default::default()
        };
        let c = ModelConfig::resolve(Architecture::Lstm, Variant::Default, [30, 5], &o).unwrap();
        assert_eq!((c.lstm_units.clone(), c.dense_units), (vec![16, 8], 4));
        let o = ModelOverrides {
            heads: Some(2),
            ..Default::default()
        };
        assert!(ModelConfig::resolve(Architecture::Tcn, Variant::Default, [30, 5], &o).is_err());
        let o = ModelOverrides {
            dropout: Some(1.5),
            ..Default::default()
        };
        assert!(ModelConfig::resolve(Architecture::Tcn, Variant::Default, [30, 5], &o).is_err());
        let e = ModelConfig::resolve(
            Architecture::CnnLstm,
            Variant::Default,
            [8, 5],
            &ModelOverrides::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("at least 10"), "{e}");
        assert!(
            ModelConfig::resolve(
                Architecture::Lstm,
                Variant::Default,
                [0, 5],
                &ModelOverrides::default()
            )
            .is_err()
        );
    }

    #[test]
    fn tcn_receptive_fields_match_the_reference() {
        let rf = |v| {
            ModelConfig::table(Architecture::Tcn, v, 120, 5)
                .tcn
                .unwrap()
                .receptive_field()
        };
        assert_eq!(
            (
                rf(Variant::Lightweight),
                rf(Variant::Default),
                rf(Variant::Deep)
            ),
            (61, 249, 757)
        );
    }

    #[test]
    fn config_round_trips_through_json() {
        for t in Architecture::NETWORKS {
            for v in Variant::ALL {
                let c = ModelConfig::table(t, v, 120, 5);
                let back: ModelConfig =
                    serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
                assert_eq!(back, c);
            }
        }
    }
}

/// Bytes of f32 values.
const F32: u64 = 4;

impl ModelConfig {
    /// An upper estimate of the memory one window takes at the peak of a training step (the
    /// activations kept for the backward pass and their gradients) or, with `training` false, of
    /// an inference pass. It grows linearly with the window for the LSTMs and convolutions and
    /// with its square for attention, which keeps `heads × window²` weights per window (with
    /// their dropout mask and gradient while training). Used to refuse a run before it starts,
    /// and to size inference batches.
    pub fn bytes_per_window(&self, training: bool) -> u64 {
        let steps = self.sequence_length as u64;
        // Values kept per (step, unit): LSTM (gate pre-activations and activations, cell, hidden,
        // their gradients), convolution (output, saved activation, gradient), attention (q, k, v,
        // context and their gradients).
        let (lstm, conv, attention_width, attention_square) = if training {
            (16, 6, 8, 4)
        } else {
            (10, 2, 4, 2)
        };
        let mut values = 2 * steps * self.n_features as u64;
        let mut t = steps;
        for &filters in &self.conv_filters {
            values += conv * t * filters as u64;
            t = t.saturating_sub(2) / 2;
        }
        for &units in &self.lstm_units {
            values += lstm * t * units as u64;
        }
        if let Some(tcn) = &self.tcn {
            values += conv * t * tcn.filters as u64 * (1 + 2 * tcn.dilations.len() as u64);
        }
        if let Some(a) = self.attention {
            let (heads, key_dim) = (a.heads as u64, a.key_dim as u64);
            values += attention_width * t * heads * key_dim + attention_square * heads * t * t;
        }
        values * F32
    }
}

#[cfg(test)]
mod memory_tests {
    use super::*;

    #[test]
    fn attention_memory_grows_with_the_square_of_the_window() {
        let at = |l| {
            ModelConfig::table(Architecture::AttentionLstm, Variant::Default, l, 5)
                .bytes_per_window(true)
        };
        // 4 heads x 10,000² weights, four such buffers while training: 6.4 GB per window.
        assert!(
            at(10_000) > 6_400_000_000 && at(10_000) < 7_000_000_000,
            "{}",
            at(10_000)
        );
        let ratio = at(2_000) as f64 / at(1_000) as f64;
        assert!(ratio > 3.5 && ratio <= 4.0, "{ratio}");
        let lstm = |l| {
            ModelConfig::table(Architecture::Lstm, Variant::Default, l, 5).bytes_per_window(true)
        };
        assert!((lstm(2_000) as f64 / lstm(1_000) as f64 - 2.0).abs() < 0.01);
        assert!(
            ModelConfig::table(Architecture::Tcn, Variant::Default, 120, 5).bytes_per_window(false)
                < ModelConfig::table(Architecture::Tcn, Variant::Default, 120, 5)
                    .bytes_per_window(true)
        );
    }
}
