//! atb's forecasting architectures in Burn: `cnn_lstm`, `attention_lstm`, `tcn`,
//! `tcn_attention` and `lstm`, each in `lightweight`, `default` and `deep`, built by one factory
//! (`build_model`) from one table of numbers (`ModelConfig::table`). Pure Burn, no I/O: the
//! backend is whatever `Device` the caller passes (`Device::flex()` on CPU, `Device::wgpu(..)`).
//!
//! Layer specifications follow the original Python system (reference, sections 1.1 and 1.3 to
//! 1.6), with these deliberate fixes:
//! - `tcn_attention` honours its variants: lightweight = lightweight TCN trunk + 2 heads of key
//!   size 32, default = default trunk + 4 x 64, deep = deep trunk + 8 x 128; the dense head and
//!   dropout follow the trunk's variant (the original ignored the variant).
//! - the `lstm` head is linear, not sigmoid (a sigmoid only fits targets in [0, 1]).
//! - multi-head attention has Keras semantics (per-head key size independent of the width,
//!   output projected back to the width) in its own module (`layers::attention`), which also
//!   returns the attention weights `[batch, heads, L, L]` for the UI's heat map.
//! - TCN convolutions are truly causal: left padding of (k - 1) x dilation, nothing on the right.
//! - `cnn_lstm` and `lstm`, which had no variants, get them by one rule: lightweight halves every
//!   width (filters, units, dense), deep doubles them.
//! - every variant's numbers live in one table in code (`config::ModelConfig::table`).
//!
//! LSTMs are our own Keras-style cell (`layers::lstm`): one bias per gate, so parameter counts
//! equal the original's Keras counts exactly, and the input projection is computed once per
//! sequence instead of once per step. Recurrent dropout uses one mask per sequence, as Keras does.
//!
//! On the CPU the LSTM recurrence and the convolutions run as fused kernels with hand-written
//! backward passes (`kernels`, plugged into Burn by `fused`); other devices use Burn's generic
//! operations, which the tests use as the kernels' reference.

pub mod architectures;
pub mod config;
pub mod device;
pub mod fused;
#[cfg(feature = "gpu")]
mod gpu_kernels;
pub mod kernels;
pub mod layers;
pub mod model;
pub mod optim;
pub mod probe;

pub use atb_protocol::spec::ModelOverrides;
pub use atb_protocol::vocab::{Architecture, DeviceChoice, Variant};
pub use config::{AttentionSpec, ModelConfig, TcnSpec};
pub use device::{AdapterSummary, SelectedDevice, list_adapters, select_device};
pub use model::{ForecastModel, build_model};
// Callers use the same Burn as the models.
pub use burn;

/// What can go wrong building, loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("invalid model configuration: {0}")]
    InvalidConfig(String),
    #[error("model weights: {0}")]
    Weights(String),
    #[error("device: {0}")]
    Device(String),
}
