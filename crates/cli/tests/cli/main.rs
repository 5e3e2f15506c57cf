//! The `atb` binary end to end, one test binary with a module per area: each runs the binary
//! cargo built for this test run against a mock exchange, real files and the bundled sample.

#[path = "../common/mod.rs"]
mod common;

mod args;
mod bench;
mod data;
mod features;
mod models;
mod onnx_runtime;
mod sweep;
