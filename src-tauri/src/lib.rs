//! The atb desktop shell: opens the engine on `ATB_HOME` and serves the embedded wasm UI, whose
//! requests arrive as the commands in [`commands`].

pub mod commands;
pub mod runs;

use std::sync::Arc;

use anyhow::Context;
use atb_engine::settings::Settings;

/// A training request (JSON, as the Train screen sends it) to start as the app opens; the UI
/// attaches to it like a page reloaded mid-run. Used by `scripts/bench_desktop_cpu.py`.
pub const START_RUN_ENV: &str = "ATB_DESKTOP_START_RUN";

/// Starts the app; returns when its window is closed.
pub fn run() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    eprintln!("atb-desktop: using ATB_HOME {}", settings.home.display());
    let shell = commands::Shell {
        settings,
        runs: Arc::new(runs::Runs::default()),
        last_fetch: std::sync::Mutex::new(None),
    };
    if let Ok(json) = std::env::var(START_RUN_ENV) {
        let request = serde_json::from_str(&json)
            .with_context(|| format!("{START_RUN_ENV} is not a training request in JSON"))?;
        let snapshot = commands::begin_training(&shell, request, Box::new(runs::NoListener))
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("{START_RUN_ENV} could not start"))?;
        eprintln!(
            "atb-desktop: started run {} from {START_RUN_ENV}",
            snapshot.run_id
        );
    }
    tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .manage(shell)
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::data_overview,
            commands::candles,
            commands::fetch,
            commands::start_training,
            commands::attach_run,
            commands::cancel_training,
            commands::list_models,
            commands::model_detail,
            commands::test_predictions,
            commands::attention_map,
            commands::export_onnx,
            commands::promote,
            commands::delete_model,
        ])
        .run(tauri::generate_context!("../tauri.conf.json"))
        .context("the desktop window could not be opened (is a display available? see the README's desktop section)")
}
