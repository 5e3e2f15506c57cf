//! The commands the UI invokes. Each is a thin call into the engine; long work (fetch, training,
//! export, predictions) runs off the UI's thread and streams progress through a `Channel` given to
//! the command. Errors cross to the UI as readable messages.

use std::path::PathBuf;
use std::sync::Arc;

use atb_engine::gpu_check::use_home_kernel_cache;
use atb_engine::market::source::fetch_into_store;
use atb_engine::onnx::export::export_version;
use atb_engine::pipeline::{
    attention_map as engine_attention, test_predictions as engine_predictions, train_and_register,
};
use atb_engine::registry::Registry;
use atb_engine::settings::Settings;
use atb_engine::store::candles::CandleStore;
use atb_engine::training::TrainingParams;
use atb_engine::views::{SeriesChoice, stored_chart};
use atb_models::burn::prelude::Device;
use atb_protocol::desktop::{
    AppInfo, AttentionMap, CandleChart, DataOverview, ExportOutcome, ModelDetail, RunSnapshot,
    RunUpdate, SeriesRequest, TestPredictions, TrainRequest,
};
use atb_protocol::registry::ModelRow;
use atb_protocol::training::StopReason;
use atb_protocol::{FetchProgress, FetchSummary};
use tauri::ipc::Channel;
use tauri::{AppHandle, State};
use tauri_plugin_dialog::DialogExt;

use crate::runs::{RunSink, Runs};

/// Points kept on a price chart: plenty for a 1,300-pixel-wide plot.
const CHART_POINTS: usize = 4_000;
/// Test-window predictions shown in the comparison.
const PREDICTION_POINTS: usize = 1_500;

/// What every command shares.
pub struct Shell {
    pub settings: Settings,
    pub runs: Arc<Runs>,
    pub last_fetch: std::sync::Mutex<Option<FetchSummary>>,
}

type Answer<T> = Result<T, String>;

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Runs blocking engine work (SQLite, Burn) on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Answer<T> + Send + 'static) -> Answer<T> {
    tauri::async_runtime::spawn_blocking(f)
        .await
        .map_err(|e| format!("the worker thread stopped unexpectedly: {e}"))?
}

/// Runs an engine future to completion from the blocking pool: engine
/// futures hold `&mut dyn FnMut` progress callbacks, so they are not `Send`.
async fn engine<T, F>(make: impl FnOnce() -> F + Send + 'static) -> Answer<T>
where
    T: Send + 'static,
    F: Future<Output = Answer<T>>,
{
    blocking(move || block_on(make())).await
}

fn block_on<T>(f: impl Future<Output = Answer<T>>) -> Answer<T> {
    // The app's own multi-threaded runtime: engine code may use `block_in_place`, which a
    // current-thread runtime refuses.
    tauri::async_runtime::block_on(f)
}

#[tauri::command]
pub fn app_info(shell: State<'_, Shell>) -> AppInfo {
    // The end-to-end smoke test looks for this line: the UI loaded and reached the shell.
    eprintln!("atb-desktop: the UI called app_info");
    AppInfo {
        atb_version: env!("CARGO_PKG_VERSION").into(),
        home: shell.settings.home.display().to_string(),
        gpu_compiled: cfg!(feature = "gpu"),
    }
}

#[tauri::command]
pub async fn data_overview(shell: State<'_, Shell>) -> Answer<DataOverview> {
    let db = shell.settings.database_path();
    let coverage = blocking(move || {
        CandleStore::open(&db)
            .and_then(|s| s.coverage())
            .map_err(text)
    })
    .await?;
    let last_fetch = shell
        .last_fetch
        .lock()
        .map(|f| f.clone())
        .unwrap_or_default();
    Ok(DataOverview {
        coverage,
        last_fetch,
    })
}

#[tauri::command]
pub async fn candles(shell: State<'_, Shell>, request: SeriesRequest) -> Answer<CandleChart> {
    let choice = SeriesChoice::from_request(&request).map_err(text)?;
    let settings = shell.settings.clone();
    engine(move || async move {
        stored_chart(&settings, &choice, CHART_POINTS)
            .await
            .map_err(text)
    })
    .await
}

#[tauri::command]
pub async fn fetch(
    shell: State<'_, Shell>,
    request: SeriesRequest,
    channel: Channel<FetchProgress>,
) -> Answer<FetchSummary> {
    let choice = SeriesChoice::from_request(&request).map_err(text)?;
    let settings = shell.settings.clone();
    let summary = engine(move || async move {
        let mut on_progress = |p: FetchProgress| {
            // A closed page only stops the progress, not the fetch.
            let _ = channel.send(p);
        };
        fetch_into_store(
            &settings,
            &choice.symbol,
            choice.interval,
            choice.range,
            &mut on_progress,
        )
        .await
        .map_err(text)
    })
    .await?;
    if let Ok(mut last) = shell.last_fetch.lock() {
        *last = Some(summary.clone());
    }
    Ok(summary)
}

#[tauri::command]
pub async fn start_training(
    shell: State<'_, Shell>,
    request: TrainRequest,
    channel: Channel<RunUpdate>,
) -> Answer<RunSnapshot> {
    begin_training(&shell, request, Box::new(channel))
}

/// Checks a request, registers the run and trains it in the background; `sink` hears every
/// update. Also used at start-up for `ATB_DESKTOP_START_RUN`.
pub fn begin_training(
    shell: &Shell,
    request: TrainRequest,
    sink: Box<dyn RunSink>,
) -> Answer<RunSnapshot> {
    let problems = request.problems();
    if !problems.is_empty() {
        return Err(problems
            .iter()
            .map(|p| format!("{}: {}", p.field, p.reason))
            .collect::<Vec<_>>()
            .join("; "));
    }
    let params = TrainingParams::from_request(&request).map_err(text)?;
    let choice = SeriesChoice::from_request(&request.series).map_err(text)?;
    let (snapshot, cancel) = shell.runs.begin(request, sink).map_err(text)?;
    let id = snapshot.run_id;
    let runs = Arc::clone(&shell.runs);
    let settings = shell.settings.clone();
    tauri::async_runtime::spawn_blocking(move || {
        runs.publish(
            id,
            RunUpdate::Loading {
                message: format!(
                    "loading {} {} from {}",
                    choice.symbol, choice.interval, choice.source
                ),
            },
        );
        let series = match block_on(async { choice.load(&settings).await.map_err(text) }) {
            Ok(s) => s,
            Err(message) => {
                runs.publish(id, RunUpdate::Failed { message });
                return;
            }
        };
        use_home_kernel_cache(&settings);
        let trained = {
            let mut on_event = |event| runs.publish(id, RunUpdate::Training { event });
            // A panic inside training must end the run, not leave it "active" for ever.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                train_and_register(
                    &settings,
                    &series,
                    &params,
                    None,
                    true,
                    &mut on_event,
                    &cancel,
                )
            }))
        };
        let last = match trained {
            Ok(Ok((outcome, Some(row)))) if outcome.stop != StopReason::Cancelled => {
                RunUpdate::Registered { row: Box::new(row) }
            }
            Ok(Ok((outcome, _))) => RunUpdate::NotRegistered {
                reason: format!(
                    "cancelled after {} epoch(s): nothing was registered",
                    outcome.epochs_run
                ),
            },
            Ok(Err(e)) => RunUpdate::Failed {
                message: e.to_string(),
            },
            Err(_) => RunUpdate::Failed {
                message: "the training thread panicked; see the app's log".into(),
            },
        };
        runs.publish(id, last);
    });
    Ok(snapshot)
}

#[tauri::command]
pub fn attach_run(shell: State<'_, Shell>, channel: Channel<RunUpdate>) -> Option<RunSnapshot> {
    shell.runs.attach(Box::new(channel))
}

#[tauri::command]
pub fn cancel_training(shell: State<'_, Shell>) -> Answer<()> {
    shell.runs.cancel().map_err(text)
}

fn registry(settings: &Settings) -> Answer<Registry> {
    Registry::open(settings).map_err(text)
}

#[tauri::command]
pub async fn list_models(shell: State<'_, Shell>) -> Answer<Vec<ModelRow>> {
    let settings = shell.settings.clone();
    blocking(move || registry(&settings)?.list(None).map_err(text)).await
}

#[tauri::command]
pub async fn model_detail(shell: State<'_, Shell>, version: String) -> Answer<ModelDetail> {
    let settings = shell.settings.clone();
    blocking(move || registry(&settings)?.detail(&version).map_err(text)).await
}

#[tauri::command]
pub async fn test_predictions(shell: State<'_, Shell>, version: String) -> Answer<TestPredictions> {
    let settings = shell.settings.clone();
    // Loading and predicting share one trip to the blocking pool.
    engine(move || async move {
        let device = Device::flex();
        let loaded = registry(&settings)?.load(&version, &device).map_err(text)?;
        engine_predictions(&settings, &loaded, &device, PREDICTION_POINTS)
            .await
            .map_err(text)
    })
    .await
}

#[tauri::command]
pub async fn attention_map(
    shell: State<'_, Shell>,
    version: String,
) -> Answer<Option<AttentionMap>> {
    let settings = shell.settings.clone();
    // Loading and predicting share one trip to the blocking pool.
    engine(move || async move {
        let device = Device::flex();
        let loaded = registry(&settings)?.load(&version, &device).map_err(text)?;
        engine_attention(&settings, &loaded, &device)
            .await
            .map_err(text)
    })
    .await
}

/// Asks where to save a copy, then exports with the parity check; `None` when the user closed
/// the dialog (nothing is written then).
#[tauri::command]
pub async fn export_onnx(
    app: AppHandle,
    shell: State<'_, Shell>,
    version: String,
) -> Answer<Option<ExportOutcome>> {
    let suggested = format!("{version}.onnx");
    let chosen = blocking(move || {
        Ok(app
            .dialog()
            .file()
            .set_title("Save the exported ONNX model")
            .set_file_name(&suggested)
            .add_filter("ONNX model", &["onnx"])
            .blocking_save_file())
    })
    .await?;
    let Some(chosen) = chosen else {
        return Ok(None);
    };
    let path: PathBuf = chosen
        .into_path()
        .map_err(|e| format!("the chosen location is not a local file: {e}"))?;
    let settings = shell.settings.clone();
    let report = engine(move || async move {
        export_version(&settings, &version, Some(&path))
            .await
            .map_err(text)
    })
    .await?;
    Ok(Some(ExportOutcome {
        export: report.export,
        copied_to: report.copy.map(|p| p.display().to_string()),
    }))
}

#[tauri::command]
pub async fn promote(shell: State<'_, Shell>, version: String, alias: String) -> Answer<ModelRow> {
    let settings = shell.settings.clone();
    blocking(move || registry(&settings)?.promote(&version, &alias).map_err(text)).await
}

#[tauri::command]
pub async fn delete_model(shell: State<'_, Shell>, version: String) -> Answer<String> {
    let settings = shell.settings.clone();
    blocking(move || {
        registry(&settings)?
            .delete(&version, false)
            .map(|row| row.version_id)
            .map_err(text)
    })
    .await
}
