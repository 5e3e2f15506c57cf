//! The Tauri 2 desktop shell over atb-engine.
//!
//! Empty until the desktop-app issue lands: this crate only reserves its place in the workspace.
