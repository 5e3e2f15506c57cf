//! The egui + egui_plot user interface of the desktop app.
//!
//! Empty until the desktop-app issue lands: this crate only reserves its place in the workspace.
