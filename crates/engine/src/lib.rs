//! atb-engine: everything atb does, with no terminal or GUI code. The `atb` CLI and the desktop
//! shell are two thin doors onto these calls.
//!
//! Data flows one way: market (this issue) → features → dataset → train → evaluate → registry →
//! export.

pub mod error;
pub mod market;
pub mod settings;
pub mod store;

pub use error::{Error, Result};
