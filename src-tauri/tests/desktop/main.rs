//! The desktop shell's tests, one binary with a module per area: the declared trust boundary,
//! the real UI against the real shell, notifications on a private D-Bus, and every request
//! kind through `shell::handle`. `smoke` stays its own binary: it starts the real app under
//! Xvfb and waits on it with timeouts that assume the cores are its own.

#[path = "../common/mod.rs"]
mod common;

mod config;
mod notify;
mod rpc;
mod ui;
