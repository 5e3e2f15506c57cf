//! The one factory: (type, variant, input shape, overrides) → `ForecastModel`, plus what every
//! caller needs from a model: forward, attention weights, the TCN trunk's per-step output, and
//! weights to and from safetensors bytes (the engine decides where they live).

use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};

use crate::ModelError;
use crate::ModelOverrides;
use crate::architectures::{AttentionLstm, CnnLstm, LstmModel, Tcn, TcnAttention};
use crate::config::ModelConfig;
use crate::{Architecture, Variant};

/// Any of the five architectures, built from a `ModelConfig`.
#[derive(Module, Debug)]
pub enum ForecastModel {
    CnnLstm(CnnLstm),
    AttentionLstm(AttentionLstm),
    Tcn(Tcn),
    TcnAttention(TcnAttention),
    Lstm(LstmModel),
}

/// Resolves the variant table with `overrides` for an input of `[sequence_length, n_features]`
/// and builds the model on `device`. Returns the resolved config beside the model so the
/// registry can store exactly what was built.
pub fn build_model(
    architecture: Architecture,
    variant: Variant,
    input_shape: [usize; 2],
    overrides: &ModelOverrides,
    device: &Device,
) -> Result<(ForecastModel, ModelConfig), ModelError> {
    let config = ModelConfig::resolve(architecture, variant, input_shape, overrides)?;
    Ok((ForecastModel::from_config(&config, device)?, config))
}

impl ForecastModel {
    /// Builds exactly the model a (stored) config describes, with fresh weights.
    pub fn from_config(c: &ModelConfig, device: &Device) -> Result<Self, ModelError> {
        c.validate()?;
        let missing = |what: &str| {
            ModelError::InvalidConfig(format!("{} config lacks its {what}", c.architecture))
        };
        Ok(match c.architecture {
            Architecture::CnnLstm => Self::CnnLstm(CnnLstm::new(c, device)),
            Architecture::Lstm => Self::Lstm(LstmModel::new(c, device)),
            Architecture::AttentionLstm => Self::AttentionLstm(AttentionLstm::new(
                c,
                c.attention.ok_or_else(|| missing("attention"))?,
                device,
            )),
            Architecture::Tcn => Self::Tcn(Tcn::new(
                c,
                c.tcn.as_ref().ok_or_else(|| missing("TCN trunk"))?,
                device,
            )),
            Architecture::TcnAttention => Self::TcnAttention(TcnAttention::new(
                c,
                c.tcn.as_ref().ok_or_else(|| missing("TCN trunk"))?,
                c.attention.ok_or_else(|| missing("attention"))?,
                device,
            )),
            Architecture::Gbdt => return Err(missing("layers: it is a tree model")),
            Architecture::Ensemble => {
                return Err(missing(
                    "layers: an ensemble is made of registered versions",
                ));
            }
        })
    }

    /// `[batch, L, F]` to `[batch, 1]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        match self {
            Self::CnnLstm(m) => m.forward(x),
            Self::Lstm(m) => m.forward(x),
            Self::Tcn(m) => m.forward(x),
            Self::AttentionLstm(m) => m.forward(x),
            Self::TcnAttention(m) => m.forward(x),
        }
    }

    /// Attention weights `[batch, heads, L', L']` of attention models (L' = the steps the
    /// attention sees), each row summing to 1 over keys; `None` for models without attention.
    pub fn attention_weights(&self, x: Tensor<3>) -> Option<Tensor<4>> {
        match self {
            Self::AttentionLstm(m) => Some(m.forward_with_attention(x).1),
            Self::TcnAttention(m) => Some(m.forward_with_attention(x).1),
            _ => None,
        }
    }

    /// The TCN trunk's per-step output `[batch, L, filters]` (TCN models only), where step t
    /// depends on inputs up to t alone.
    pub fn tcn_trunk_output(&self, x: Tensor<3>) -> Option<Tensor<3>> {
        match self {
            Self::Tcn(m) => Some(m.trunk.forward(x)),
            Self::TcnAttention(m) => Some(m.trunk.forward(x)),
            _ => None,
        }
    }

    /// The weights as safetensors bytes (tensor names are the module field paths).
    pub fn to_safetensors(&self) -> Result<Vec<u8>, ModelError> {
        let mut store = SafetensorsStore::from_bytes(None);
        self.save_into(&mut store)
            .map_err(|e| ModelError::Weights(e.to_string()))?;
        store
            .get_bytes()
            .map_err(|e| ModelError::Weights(e.to_string()))
    }

    /// Builds the model a config describes and loads `bytes` into it; every tensor must match.
    pub fn from_safetensors(
        c: &ModelConfig,
        bytes: Vec<u8>,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let mut model = Self::from_config(c, device)?;
        let mut store = SafetensorsStore::from_bytes(Some(bytes));
        let result = model
            .load_from(&mut store)
            .map_err(|e| ModelError::Weights(e.to_string()))?;
        if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
            return Err(ModelError::Weights(format!(
                "weights do not fit the {} {} config: {} errors, {} missing and {} unexpected tensors{}",
                c.architecture,
                c.variant,
                result.errors.len(),
                result.missing.len(),
                result.unused.len(),
                result
                    .missing
                    .first()
                    .map(|(p, _)| format!(" (first missing: {p})"))
                    .unwrap_or_default()
            )));
        }
        Ok(model)
    }
}
