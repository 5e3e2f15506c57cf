//! The engine's integration tests, one binary with a module per area (linking Burn, polars,
//! tract, LightGBM and ONNX Runtime once rather than once per area). `repeatability` stays
//! its own binary: Burn's CPU random source is process-wide, so other tests training beside it
//! would draw from it between its two runs.

#[path = "../common/mod.rs"]
mod common;

mod ensemble;
mod evaluation;
mod fetch_mock;
mod gbdt;
mod onnx_export;
mod registry;
mod targets;
mod training;
