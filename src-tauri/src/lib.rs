//! The atb desktop shell: opens the engine on `ATB_HOME`, serves the embedded wasm UI and answers
//! its one command, `rpc` ([`atb_protocol::rpc`]), by passing each request to [`shell::handle`].

pub mod shell;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use atb_engine::Settings;
use atb_engine::service::{NoListener, start_run};
use atb_protocol::rpc::{ErrorKind, ErrorReply, Reply, Request};
use tauri::ipc::Channel;
use tauri::{AppHandle, State};
use tauri_plugin_dialog::DialogExt;

use shell::{SaveDialog, Shell, Stream};

/// A training request (JSON, a `TrainRequest` as the Train screen sends it) to start as the app
/// opens; the UI attaches to it like a page reloaded mid-run. Used by
/// `scripts/bench_desktop_cpu.py`.
pub const START_RUN_ENV: &str = "ATB_DESKTOP_START_RUN";

/// The UI's one command: the request runs on the blocking pool; streamed replies go to `channel`.
#[tauri::command]
async fn rpc(
    shell: State<'_, Shell>,
    request: Request,
    channel: Channel<Reply>,
) -> Result<Reply, ErrorReply> {
    let shell = shell.inner().clone();
    tauri::async_runtime::spawn_blocking(move || shell::handle(&shell, request, Arc::new(channel)))
        .await
        .map_err(|e| {
            ErrorReply::new(
                ErrorKind::Internal,
                format!("the worker thread stopped: {e}"),
            )
        })?
}

impl Stream for Channel<Reply> {
    fn send(&self, reply: Reply) -> bool {
        Channel::send(self, reply).is_ok()
    }
}

/// The native save dialog.
struct NativeSaveDialog(AppHandle);

impl SaveDialog for NativeSaveDialog {
    fn save_path(&self, title: &str, suggested_name: &str) -> Result<Option<PathBuf>, ErrorReply> {
        let Some(chosen) = self
            .0
            .dialog()
            .file()
            .set_title(title)
            .set_file_name(suggested_name)
            .add_filter("ONNX model", &["onnx"])
            .blocking_save_file()
        else {
            return Ok(None);
        };
        chosen.into_path().map(Some).map_err(|e| {
            ErrorReply::new(
                ErrorKind::InvalidInput,
                format!("the chosen location is not a local file: {e}"),
            )
        })
    }
}

/// Starts the app; returns when its window is closed.
pub fn run() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    eprintln!("atb-desktop: using ATB_HOME {}", settings.home.display());
    tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .setup(move |app| {
            let shell = Shell::new(settings, Arc::new(NativeSaveDialog(app.handle().clone())));
            if let Ok(json) = std::env::var(START_RUN_ENV) {
                let request = serde_json::from_str(&json)
                    .with_context(|| format!("{START_RUN_ENV} is not a training request in JSON"))?;
                let snapshot =
                    start_run(&shell.settings, &shell.runs, request, Box::new(NoListener))
                        .with_context(|| format!("{START_RUN_ENV} could not start"))?;
                eprintln!("atb-desktop: started run {} from {START_RUN_ENV}", snapshot.run_id);
            }
            tauri::Manager::manage(app, shell);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![rpc])
        .run(tauri::generate_context!("../tauri.conf.json"))
        .context("the desktop window could not be opened (is a display available? see the README's desktop section)")
}
