//! The atb desktop UI: an egui app compiled to wasm and shown in the Tauri webview. All logic sits
//! behind [`backend::Backend`], so the same screens run natively in tests: against the real
//! shell (`src-tauri/tests`), or against the fake backend of the `testing` feature.

pub mod app;
pub mod backend;
pub mod backtest_view;
pub mod bench_screen;
pub mod data_screen;
pub mod detail_screen;
#[cfg(any(test, feature = "testing"))]
pub mod fake;
pub mod guide;
pub mod models_screen;
pub mod registry_screen;
pub mod store;
pub mod target_charts;
pub mod train_screen;
pub mod widgets;

#[cfg(target_arch = "wasm32")]
mod frame_gate;
#[cfg(target_arch = "wasm32")]
mod web;

pub use app::{AtbApp, Screen};
