//! The atb desktop UI: an egui app compiled to wasm and shown in the Tauri webview. All logic sits
//! behind [`backend::Backend`], so the same screens run natively in tests against
//! [`fake::FakeBackend`].

pub mod app;
pub mod backend;
pub mod data_screen;
pub mod detail_screen;
pub mod fake;
pub mod guide;
pub mod models_screen;
pub mod train_screen;
pub mod widgets;

#[cfg(target_arch = "wasm32")]
mod frame_gate;
#[cfg(target_arch = "wasm32")]
mod web;

pub use app::{AtbApp, Screen};
