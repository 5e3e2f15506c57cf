//! The atb desktop shell: opens the engine on `ATB_HOME`, serves the embedded wasm UI and answers
//! its one command, `rpc` ([`atb_protocol::rpc`]), by passing each request to [`shell::handle`].

pub mod instance;
#[cfg(target_os = "linux")]
pub mod notify;
pub mod prefs;
pub mod shell;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use atb_engine::Settings;
use atb_engine::service::{NoListener, start_run};
use atb_protocol::rpc::{ErrorKind, ErrorReply, Reply, Request};
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, State, WindowEvent};
use tauri_plugin_dialog::{DialogExt, MessageDialogButtons, MessageDialogKind};

use instance::Claim;
use shell::{CloseChoice, FileDialogs, Notice, Notifier, Shell, Stream};

/// A training request (JSON, a `TrainRequest` as the Train screen sends it) to start as the app
/// opens; the UI attaches to it like a page reloaded mid-run. Used by
/// `scripts/bench_desktop_cpu.py`.
pub const START_RUN_ENV: &str = "ATB_DESKTOP_START_RUN";
/// Queue these training requests (a JSON array) at start-up, as Add to queue would: what
/// `scripts/bench_desktop_cpu.py --queue` measures the app with.
pub const START_QUEUE_ENV: &str = "ATB_DESKTOP_START_QUEUE";

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

/// The native file dialogs.
struct NativeDialogs(AppHandle);

impl FileDialogs for NativeDialogs {
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
        local_path(chosen)
    }

    fn open_csv(&self, title: &str) -> Result<Option<PathBuf>, ErrorReply> {
        let Some(chosen) = self
            .0
            .dialog()
            .file()
            .set_title(title)
            .add_filter("Candle CSV", &["csv"])
            .blocking_pick_file()
        else {
            return Ok(None);
        };
        local_path(chosen)
    }

    fn open_folder(&self, title: &str) -> Result<Option<PathBuf>, ErrorReply> {
        let Some(chosen) = self
            .0
            .dialog()
            .file()
            .set_title(title)
            .blocking_pick_folder()
        else {
            return Ok(None);
        };
        local_path(chosen)
    }
}

fn local_path(chosen: tauri_plugin_dialog::FilePath) -> Result<Option<PathBuf>, ErrorReply> {
    chosen.into_path().map(Some).map_err(|e| {
        ErrorReply::new(
            ErrorKind::InvalidInput,
            format!("the chosen location is not a local file: {e}"),
        )
    })
}

/// Desktop notifications, shown only while the main window is not focused.
struct NativeNotifier(AppHandle);

impl Notifier for NativeNotifier {
    fn notify(&self, notice: Notice) {
        let focused = self
            .0
            .get_webview_window("main")
            .and_then(|w| w.is_focused().ok())
            .unwrap_or(false);
        if focused {
            return;
        }
        // Said once per notice on stderr when it cannot be shown: the outcome itself is on the
        // window and in the registry either way.
        #[cfg(target_os = "linux")]
        if let Err(e) = notify::send(&notice.title, &notice.body) {
            eprintln!(
                "atb-desktop: could not show the notification '{}': {e}",
                notice.title
            );
        }
        #[cfg(not(target_os = "linux"))]
        eprintln!(
            "atb-desktop: desktop notifications are implemented on Linux only; '{}' not shown",
            notice.title
        );
    }
}

/// Asks whether to cancel the run in progress before closing (blocking: not on the main thread).
fn ask_to_stop(app: &AppHandle, question: String) -> CloseChoice {
    let stop = app
        .dialog()
        .message(question)
        .title("atb is still working")
        .kind(MessageDialogKind::Warning)
        .buttons(MessageDialogButtons::OkCancelCustom(
            "Stop and close".into(),
            "Keep working".into(),
        ))
        .blocking_show();
    if stop {
        CloseChoice::StopAndClose
    } else {
        CloseChoice::KeepOpen
    }
}

/// Brings the main window forward (a second launch asked for it).
fn focus_main(app: &AppHandle) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

/// Starts the app; returns when its window is closed.
pub fn run() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    atb_engine::create_private_dir(&settings.home)
        .with_context(|| format!("cannot create ATB_HOME {}", settings.home.display()))?;
    let mut instance = match instance::claim(&settings.home).map_err(anyhow::Error::msg)? {
        Claim::AlreadyRunning { asked } => {
            eprintln!(
                "atb-desktop: already running on ATB_HOME {}; {}",
                settings.home.display(),
                if asked {
                    "brought its window forward"
                } else {
                    "its window could not be asked to come forward (switch to it)"
                }
            );
            return Ok(());
        }
        Claim::First(instance) => instance,
    };
    if let Some(why) = &instance.no_listener {
        eprintln!("atb-desktop: {why}");
    }
    let listener = instance.listener.take();
    eprintln!("atb-desktop: using ATB_HOME {}", settings.home.display());
    // Where a tree model's export will be checked (read, not loaded: loading waits for a use).
    match atb_engine::onnx_runtime_library() {
        Ok(path) => eprintln!("atb-desktop: ONNX Runtime at {}", path.display()),
        Err(e) => eprintln!("atb-desktop: {e}"),
    }
    // What registrations and re-exports killed mid-write left (their process is gone): half
    // written folders go, finished runs move to recovery/. A failure here only leaves them for
    // `atb models verify` to report.
    match atb_engine::service::models::clear_interrupted(&settings) {
        Ok(cleared) => {
            if !cleared.removed.is_empty() {
                eprintln!(
                    "atb-desktop: removed {} half-written registration folder(s)",
                    cleared.removed.len()
                );
            }
            for folder in &cleared.kept_for_recovery {
                eprintln!(
                    "atb-desktop: an interrupted registration's finished run is waiting in {folder}; Recover on the Registry screen registers it"
                );
            }
            for version in &cleared.restored_exports {
                eprintln!("atb-desktop: put back the recorded model.onnx of {version}");
            }
        }
        Err(e) => eprintln!("atb-desktop: could not check for interrupted registrations: {e}"),
    }
    tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .setup(move |app| {
            let handle = app.handle().clone();
            if let Some(listener) = listener {
                instance::serve(listener, move || {
                    let app = handle.clone();
                    let _ = handle.run_on_main_thread(move || focus_main(&app));
                });
            }
            // The window's size at the last close, when it is one a window can have.
            if let (Some(size), Some(window)) = (
                prefs::read(&settings.home).window.filter(|s| s.is_usable()),
                app.get_webview_window("main"),
            ) {
                let _ = window.set_size(tauri::LogicalSize::new(size.width, size.height));
            }
            let shell = Shell::new(
                settings,
                Arc::new(NativeDialogs(app.handle().clone())),
                Arc::new(NativeNotifier(app.handle().clone())),
            );
            if let Ok(json) = std::env::var(START_RUN_ENV) {
                let request = serde_json::from_str(&json)
                    .with_context(|| format!("{START_RUN_ENV} is not a training request in JSON"))?;
                let snapshot =
                    start_run(&shell.settings, &shell.workbench, request, Box::new(NoListener))
                        .with_context(|| format!("{START_RUN_ENV} could not start"))?;
                eprintln!("atb-desktop: started run {} from {START_RUN_ENV}", snapshot.run_id);
            }
            if let Ok(json) = std::env::var(START_QUEUE_ENV) {
                let requests = serde_json::from_str(&json).with_context(|| {
                    format!("{START_QUEUE_ENV} is not a JSON array of training requests")
                })?;
                let queue = atb_engine::service::queue::enqueue(
                    &shell.settings,
                    &shell.workbench,
                    requests,
                )
                .with_context(|| format!("{START_QUEUE_ENV} could not be queued"))?;
                eprintln!(
                    "atb-desktop: queued {} run(s) from {START_QUEUE_ENV}",
                    queue.pending.len() + usize::from(queue.running.is_some())
                );
            }
            app.manage(shell);
            Ok(())
        })
        .on_window_event(|window, event| {
            let WindowEvent::CloseRequested { api, .. } = event else {
                return;
            };
            let shell = window.state::<Shell>().inner().clone();
            // Remembered for the next launch (a failure only loses the size, said on stderr).
            if let (Ok(size), Ok(scale)) = (window.inner_size(), window.scale_factor()) {
                let logical = size.to_logical::<f64>(scale);
                let size = prefs::WindowSize {
                    width: logical.width,
                    height: logical.height,
                };
                if let Err(e) = prefs::save_window(&shell.settings.home, size) {
                    eprintln!("atb-desktop: could not remember the window size: {e}");
                }
            }
            let Some(question) = shell::close_question(&shell) else {
                return;
            };
            // The question blocks, so it runs off the main thread; the window closes (or not)
            // once the user has answered and the stopped jobs have ended.
            api.prevent_close();
            let window = window.clone();
            let asking = std::thread::Builder::new()
                .name("atb-close".into())
                .spawn(move || {
                    if shell::close_with_jobs(&shell, || ask_to_stop(window.app_handle(), question))
                    {
                        let _ = window.destroy();
                    }
                });
            // Without a thread to ask on, the window stays open: nothing is stopped unasked.
            if let Err(e) = asking {
                eprintln!("atb-desktop: cannot ask before closing ({e}); the window stays open");
            }
        })
        .invoke_handler(tauri::generate_handler![rpc])
        .run(context())
        .context("the desktop window could not be opened (is a display available? see the README's desktop section)")
}

/// The app's configuration and its embedded UI files.
///
/// Expanded only in the library proper, never in its unit-test build: `cargo test` and
/// `cargo clippy --all-targets` compile both at once, and tauri-codegen 2.7 caches each
/// compressed file in the shared OUT_DIR by checking that it exists, then writing it. One expansion
/// found the other's half-written copy of a changed UI and embedded it: a binary whose page
/// said "WebAssembly.Module doesn't parse" (seen in CI on 2026-12-03).
#[cfg(not(test))]
fn context() -> tauri::Context<tauri::Wry> {
    tauri::generate_context!("../tauri.conf.json")
}

/// Unit tests never open the window (see the real one above for why it is not expanded here).
#[cfg(test)]
fn context() -> tauri::Context<tauri::Wry> {
    unreachable!("the unit tests of atb-desktop do not open the app")
}
