//! atb-engine: everything atb does, with no terminal or GUI code. The `atb` CLI and the desktop
//! shell are two thin doors onto these calls.
//!
//! Data flows one way: market → features → dataset → train → evaluate → registry → export (onnx).

pub mod benchmark;
pub mod dataset;
pub mod error;
pub mod evaluation;
pub mod features;
pub mod gpu_check;
pub mod market;
pub mod npy;
pub mod onnx;
pub mod pipeline;
pub mod registry;
pub mod settings;
pub mod stats;
pub mod store;
pub mod training;
pub mod views;

pub use error::{Error, Result};
