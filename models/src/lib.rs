//! atb's forecasting architectures (cnn_lstm, attention_lstm, tcn, tcn_attention, lstm) in Burn.
//!
//! Empty until the model-zoo issue lands: this crate only reserves its place in the workspace.
