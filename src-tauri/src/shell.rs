//! What the desktop shell does with a [`Request`], with no Tauri in it: [`handle`] matches each
//! request to one call into the engine's service layer and returns its [`Reply`] or a typed
//! [`ErrorReply`]. Streamed messages (fetch pages, run updates) go to a [`Stream`]. The Tauri
//! command in `lib.rs` only moves a request here; the tests call [`handle`] directly.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::prefs;
use atb_engine::service::{self, JobKind, RunSink, Workbench};
use atb_engine::{Error, Settings};
use atb_protocol::FetchSummary;
use atb_protocol::bench::{BenchReport, BenchSpec, BenchUpdate};
use atb_protocol::desktop::{
    AppInfo, DataOverview, ExportOutcome, RunUpdate, SeriesRequest, TrainRequest,
};
use atb_protocol::rpc::{ErrorKind, ErrorReply, Reply, Request};
use atb_protocol::vocab::{CandleSource, Symbol, Timeframe};

/// Candles drawn on a price chart at most (longer series are aggregated into this many OHLC
/// buckets): about one per pixel column of a wide window, and cheap to draw in software.
pub const CHART_POINTS: usize = 1_200;
/// Test-window predictions shown in the comparison.
pub const PREDICTION_POINTS: usize = 1_500;

/// Where streamed replies go: a webview channel, or a test's collector.
pub trait Stream: Send + Sync {
    /// False when the listener is gone (the page was closed or reloaded).
    fn send(&self, reply: Reply) -> bool;
}

/// The native file dialogs, run by the shell: the page never names a path. `None` when the user
/// closed the dialog without choosing.
pub trait FileDialogs: Send + Sync {
    /// Where to save a file.
    fn save_path(&self, title: &str, suggested_name: &str) -> Result<Option<PathBuf>, ErrorReply>;
    /// Which candle CSV file to import.
    fn open_csv(&self, title: &str) -> Result<Option<PathBuf>, ErrorReply>;
    /// Which folder to open (a sweep's results).
    fn open_folder(&self, title: &str) -> Result<Option<PathBuf>, ErrorReply>;
}

/// A desktop notification: what ended, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub title: String,
    pub body: String,
}

/// Tells the user that a run or a benchmark ended. The shell sends one for every end (runs
/// started by hand or by the queue, and benchmarks); the native notifier shows it only when the
/// window is not focused, since whoever looks at the window sees the outcome there.
pub trait Notifier: Send + Sync {
    fn notify(&self, notice: Notice);
}

/// The notice for a run that ended with `last`.
pub fn run_notice(request: &TrainRequest, last: &RunUpdate) -> Option<Notice> {
    let what = format!(
        "{} {} on {} {}",
        request.spec.architecture,
        request.spec.variant,
        request.series.symbol,
        request.series.timeframe
    );
    let (title, body) = match last {
        RunUpdate::Registered { row } => (
            "Training finished",
            format!(
                "{what}: registered as {}. {}",
                row.version_id,
                row.verdict_vs_persistence.as_ref().map_or(
                    "Verdict against persistence not computed.".to_string(),
                    |v| { format!("Against persistence: {}.", v.text) }
                )
            ),
        ),
        RunUpdate::NotRegistered { reason } => (
            "Training ended without a model",
            format!("{what}: {reason}"),
        ),
        RunUpdate::Failed { message } => ("Training failed", format!("{what}: {message}")),
        RunUpdate::Loading { .. } | RunUpdate::Training { .. } => return None,
    };
    Some(Notice {
        title: title.into(),
        body,
    })
}

/// The notice for a benchmark that ended with `result`.
pub fn bench_notice(result: &Result<BenchReport, Error>) -> Notice {
    match result {
        Ok(report) => Notice {
            title: "Benchmark finished".into(),
            body: format!(
                "{} model(s) measured on {} {}; the table is on the Benchmark screen.",
                report.results.len(),
                report.symbol,
                report.timeframe
            ),
        },
        Err(Error::Cancelled) => Notice {
            title: "Benchmark cancelled".into(),
            body: "Nothing was saved; the previous results are kept.".into(),
        },
        Err(e) => Notice {
            title: "Benchmark failed".into(),
            body: e.to_string(),
        },
    }
}

/// What every request shares. Cheap to clone: the workbench and the last fetch are shared.
#[derive(Clone)]
pub struct Shell {
    pub settings: Settings,
    /// Every long job (runs, the queue, benchmark, validation, fetch, import, export, recovery)
    /// and the rule of which may run together.
    pub workbench: Arc<Workbench>,
    pub last_fetch: Arc<Mutex<Option<FetchSummary>>>,
    pub dialogs: Arc<dyn FileDialogs>,
    /// Hears the end of every run and benchmark.
    pub notifier: Arc<dyn Notifier>,
}

impl Shell {
    pub fn new(
        settings: Settings,
        dialogs: Arc<dyn FileDialogs>,
        notifier: Arc<dyn Notifier>,
    ) -> Self {
        let workbench = Arc::new(Workbench::default());
        let hears = Arc::clone(&notifier);
        workbench.runs.on_end(Arc::new(move |request, last| {
            if let Some(notice) = run_notice(request, last) {
                hears.notify(notice);
            }
        }));
        Self {
            settings,
            workbench,
            last_fetch: Arc::default(),
            dialogs,
            notifier,
        }
    }
}

/// A run's updates, forwarded to a stream as [`Reply::Run`].
struct RunStream(Arc<dyn Stream>);

impl RunSink for RunStream {
    fn send(&self, update: &RunUpdate) -> bool {
        self.0.send(Reply::Run(update.clone()))
    }
}

/// Makes an ensemble as a job of the one job table (light: forecasts, no training).
fn make_ensemble(
    shell: &Shell,
    versions: &[String],
    weighting: atb_protocol::vocab::Weighting,
) -> Result<Reply, Error> {
    let made = shell
        .workbench
        .run(JobKind::Ensemble, "making an ensemble", |_| {
            service::ensemble::make_ensemble(&shell.settings, versions, weighting)
        })?;
    Ok(Reply::EnsembleMade(Box::new(made.row)))
}

/// Carries out one request. Blocking: call it from a worker thread. A panic in the engine comes
/// back as an `internal` error rather than taking the app down.
pub fn handle(
    shell: &Shell,
    request: Request,
    stream: Arc<dyn Stream>,
) -> Result<Reply, ErrorReply> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        answer(shell, request, stream).map_err(|e| e.to_reply())
    }))
    .unwrap_or_else(|_| {
        Err(ErrorReply::new(
            ErrorKind::Internal,
            "the request panicked inside atb; see the app's log and report it",
        ))
    })
}

fn answer(shell: &Shell, request: Request, stream: Arc<dyn Stream>) -> Result<Reply, Error> {
    let settings = &shell.settings;
    Ok(match request {
        Request::AppInfo => {
            // The end-to-end smoke test looks for this line: the UI loaded and reached the shell.
            eprintln!("atb-desktop: the UI called app_info");
            Reply::AppInfo(AppInfo {
                atb_version: env!("CARGO_PKG_VERSION").into(),
                home: settings.home.display().to_string(),
                gpu_compiled: cfg!(feature = "gpu"),
                warnings: settings.insecure_url_warning().into_iter().collect(),
            })
        }
        Request::DataOverview => Reply::DataOverview(DataOverview {
            coverage: service::data::coverage(settings)?,
            last_fetch: lock(&shell.last_fetch).clone(),
        }),
        Request::Candles(series) => {
            refuse_files(&series)?;
            Reply::Candles(service::block_on(service::data::stored_chart(
                settings,
                &series,
                CHART_POINTS,
            ))?)
        }
        Request::FeaturePreview {
            series,
            feature_set,
        } => {
            refuse_files(&series)?;
            Reply::FeaturePreview(service::block_on(service::data::feature_preview(
                settings,
                &series,
                feature_set,
                CHART_POINTS,
            ))?)
        }
        Request::Fetch(series) => fetch(shell, &series, false, stream)?,
        Request::Refetch(series) => fetch(shell, &series, true, stream)?,
        Request::Train(train) => {
            refuse_files(&train.series)?;
            Reply::RunSnapshot(Some(service::runs::start_run(
                settings,
                &shell.workbench,
                train,
                Box::new(RunStream(stream)),
            )?))
        }
        Request::AttachRun => {
            Reply::RunSnapshot(shell.workbench.runs.attach(Box::new(RunStream(stream))))
        }
        Request::CancelRun { run_id } => {
            shell.workbench.runs.cancel(run_id)?;
            Reply::CancelRequested
        }
        Request::ListModels => Reply::Models(service::models::list(settings, None)?),
        Request::ModelDetail { version } => {
            Reply::Detail(Box::new(service::models::detail(settings, &version)?))
        }
        Request::Predictions { version } => Reply::Predictions(service::block_on(
            service::models::test_predictions(settings, &version, PREDICTION_POINTS),
        )?),
        Request::Attention { version } => Reply::Attention(service::block_on(
            service::models::attention_map(settings, &version),
        )?),
        Request::ExportOnnx { version } => export_onnx(shell, &version)?,
        Request::Promote { version, alias } => {
            Reply::Promoted(service::models::promote(settings, &version, &alias)?)
        }
        Request::Delete { version } => {
            Reply::Deleted(service::models::delete(settings, &version, false)?.version_id)
        }
        Request::ImportCsv { symbol, timeframe } => import_csv(shell, &symbol, timeframe)?,
        Request::CheckRegistry => {
            Reply::RegistryChecked(service::models::verify(settings)?.check())
        }
        Request::Recover => Reply::Recovered(shell.workbench.run(
            JobKind::Recovery,
            "a recovery of finished runs",
            |_| service::models::recover(settings),
        )?),
        Request::MakeEnsemble {
            versions,
            weighting,
        } => make_ensemble(shell, &versions, weighting)?,
        Request::ImportResults => import_results(shell)?,
        Request::Forecast { version } => Reply::Forecast(service::block_on(
            service::predict::forecast(settings, &version),
        )?),
        Request::Validate => validate(shell, &stream)?,
        Request::Enqueue { requests } => {
            for r in &requests {
                refuse_files(&r.series)?;
            }
            Reply::Queue(service::queue::enqueue(
                settings,
                &shell.workbench,
                requests,
            )?)
        }
        Request::QueueState => Reply::Queue(shell.workbench.queue.snapshot()),
        Request::QueueShift { queue_id, up } => {
            Reply::Queue(shell.workbench.queue.shift(queue_id, up)?)
        }
        Request::QueueRemove { queue_id } => Reply::Queue(shell.workbench.queue.remove(queue_id)?),
        Request::Bench(spec) => bench(shell, &spec, &stream)?,
        Request::CancelBench => {
            shell.workbench.cancel(JobKind::Benchmark, Error::NoBench)?;
            Reply::BenchCancelRequested
        }
        Request::LoadPrefs => Reply::Prefs(prefs::read(&settings.home).ui.map(Box::new)),
        Request::SavePrefs(ui) => {
            prefs::save_ui(&settings.home, ui)?;
            Reply::PrefsSaved
        }
        Request::LastFeatureBench => {
            Reply::LastFeatureBench(service::bench::last_feature_report(settings)?.map(Box::new))
        }
        Request::LastBench => {
            Reply::LastBench(service::bench::last_report(settings)?.map(Box::new))
        }
        Request::PairedTest { first, second } => Reply::Paired(service::block_on(
            service::models::paired(settings, &first, &second),
        )?),
        Request::ForwardTest { versions } => Reply::ForwardTested(service::block_on(
            service::decision::forward_test(settings, &versions),
        )?),
        Request::Judge { versions } => Reply::Judged(service::block_on(service::decision::judge(
            settings, &versions,
        ))?),
        Request::Backtest {
            version,
            settings: costs,
        } => {
            let spec = costs.check().map_err(Error::InvalidRequest)?;
            Reply::Backtested(Box::new(service::block_on(service::decision::backtest(
                settings, &version, &spec,
            ))?))
        }
        Request::CancelFetch => {
            shell.workbench.cancel(JobKind::Fetch, Error::NoFetch)?;
            Reply::FetchCancelRequested
        }
        Request::CancelValidation => {
            shell
                .workbench
                .cancel(JobKind::Validation, Error::NoValidation)?;
            Reply::ValidationCancelRequested
        }
    })
}

/// Exports a version to ONNX and copies it where the user chooses (nothing when they cancel).
fn export_onnx(shell: &Shell, version: &str) -> Result<Reply, Error> {
    let settings = &shell.settings;
    // Check the version exists before asking where to save it.
    service::models::resolve(settings, version)?;
    let chosen = shell
        .dialogs
        .save_path("Save the exported ONNX model", &format!("{version}.onnx"))
        .map_err(|e| Error::InvalidRequest(e.message))?;
    Ok(match chosen {
        None => Reply::Exported(None),
        Some(path) => {
            let what = format!("an ONNX export of {version}");
            let report = shell.workbench.run(JobKind::Export, what, |_| {
                service::block_on(service::models::export(settings, version, Some(&path)))
            })?;
            Reply::Exported(Some(ExportOutcome {
                export: report.export,
                copied_to: report.copy.map(|p| p.display().to_string()),
                copy_failed: report.copy_error,
            }))
        }
    })
}

/// Imports a CSV file the user chooses as `symbol` `timeframe` (nothing when they cancel).
fn import_csv(shell: &Shell, symbol: &Symbol, timeframe: Timeframe) -> Result<Reply, Error> {
    let settings = &shell.settings;
    let chosen = shell
        .dialogs
        .open_csv(&format!(
            "Import {symbol} {timeframe} candles from a CSV file"
        ))
        .map_err(|e| Error::InvalidRequest(e.message))?;
    Ok(match chosen {
        None => Reply::Imported(None),
        // The file the user chose, read with the engine's checks (a regular file, size
        // capped, content never echoed at length in errors).
        Some(path) => {
            let what = format!("an import of {symbol} {timeframe} candles from a CSV file");
            Reply::Imported(Some(shell.workbench.run(JobKind::Import, what, |_| {
                service::data::import_csv(settings, symbol, &path, timeframe)
            })?))
        }
    })
}

/// Imports the bundles of a results folder the user chooses, as a job of the one job table.
fn import_results(shell: &Shell) -> Result<Reply, Error> {
    let chosen = shell
        .dialogs
        .open_folder("Import a sweep's results (a folder of job bundles)")
        .map_err(|e| Error::InvalidRequest(e.message))?;
    Ok(match chosen {
        None => Reply::ResultsImported(None),
        Some(folder) => Reply::ResultsImported(Some(shell.workbench.run(
            JobKind::Import,
            "an import of sweep results",
            |_| service::sweep::import::import(&shell.settings, &[folder], None),
        )?)),
    })
}

/// Validates every pair as a heavy job, streaming each pair's result.
fn validate(shell: &Shell, stream: &Arc<dyn Stream>) -> Result<Reply, Error> {
    let pairs = service::validate::pair_count();
    let validated = shell
        .workbench
        .run(JobKind::Validation, "a validation", |job| {
            let mut done = 0;
            service::validate::validate_all(
                service::validate::DEFAULT_DEVICE,
                None,
                &mut |pair| {
                    done += 1;
                    job.progress(format!("{done} of {pairs} pairs done"));
                    stream.send(Reply::ValidationProgress(pair.clone()));
                },
                job.token(),
            )
        })?;
    Ok(Reply::Validated(validated))
}

/// Runs a benchmark as a heavy job, streaming its progress, and notifies when it ends.
fn bench(shell: &Shell, spec: &BenchSpec, stream: &Arc<dyn Stream>) -> Result<Reply, Error> {
    let settings = &shell.settings;
    refuse_files(&spec.series)?;
    let job = shell.workbench.begin(JobKind::Benchmark, "a benchmark")?;
    // `scripts/bench_desktop_cpu.py --bench` looks for this line.
    eprintln!(
        "atb-desktop: benchmark started ({} architecture(s) x {} variant(s))",
        spec.architectures.len(),
        spec.variants.len()
    );
    let result = service::bench::bench_spec(
        settings,
        spec,
        &mut |u| {
            if let BenchUpdate::Started { index, total, .. } = &u {
                job.progress(format!("{} of {total} runs done", index - 1));
            }
            stream.send(Reply::BenchProgress(u));
        },
        job.token(),
    );
    drop(job);
    shell.notifier.notify(bench_notice(&result));
    Ok(Reply::Benched(Box::new(result?)))
}

/// Fetches (or with `refresh`, fetches again) a Binance range as a light job of the workbench.
fn fetch(
    shell: &Shell,
    series: &SeriesRequest,
    refresh: bool,
    stream: Arc<dyn Stream>,
) -> Result<Reply, Error> {
    let settings = &shell.settings;
    refuse_files(series)?;
    let mut progress = |p| {
        // A closed page only stops the progress, not the fetch.
        stream.send(Reply::FetchProgress(p));
    };
    let what = format!("a fetch of {} {}", series.symbol, series.timeframe);
    let summary = shell.workbench.run(JobKind::Fetch, what, |job| {
        service::block_on(service::data::fetch_cancellable(
            settings,
            series,
            refresh,
            &mut progress,
            job.token(),
        ))
    })?;
    *lock(&shell.last_fetch) = Some(summary.clone());
    Ok(Reply::Fetched(summary))
}

/// What the user chose when closing the window while jobs ran or runs waited in the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseChoice {
    /// Pause the queue, stop every job, wait for them to end cleanly, then close.
    StopAndClose,
    /// Leave the window open and everything going.
    KeepOpen,
}

/// How long closing waits for stopped jobs to end (a batch, or a registration already under way)
/// before closing anyway; a finished run caught mid-registration is kept for recovery.
pub const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

/// The question the close guard asks, naming everything that would be lost; `None` when nothing
/// would be (the window closes at once).
pub fn close_question(shell: &Shell) -> Option<String> {
    let lost = shell.workbench.would_lose();
    (!lost.is_empty()).then(|| {
        format!(
            "atb is still busy with: {}.\n\nStop and close: the queue is paused, each job is \
             cancelled and atb closes once they have stopped (finished models stay registered; \
             a cancelled run or benchmark keeps nothing half-done). Keep working: nothing \
             changes.",
            lost.join("; ")
        )
    })
}

/// Run on a worker thread when the window is asked to close while [`close_question`] has
/// something to ask: asks the user and, when they choose to stop, pauses the queue, cancels every
/// job and waits for them to end. True when the window may close now.
pub fn close_with_jobs(shell: &Shell, ask: impl FnOnce() -> CloseChoice) -> bool {
    match ask() {
        CloseChoice::KeepOpen => false,
        CloseChoice::StopAndClose => {
            if !shell.workbench.cancel_all_and_wait(CLOSE_WAIT) {
                eprintln!(
                    "atb-desktop: jobs still running {} s after Stop ({}); closing anyway",
                    CLOSE_WAIT.as_secs(),
                    shell.workbench.would_lose().join("; ")
                );
            }
            true
        }
    }
}

/// The page may ask for Binance or the bundled sample, never for a file: a `csv:PATH` from the
/// webview would let a compromised page read any file the user can (`/proc/self/environ`) or
/// block a worker on a FIFO. CSV files are imported through the shell's open dialog
/// ([`Request::ImportCsv`]) into the store, then read from there as Binance candles.
fn refuse_files(series: &SeriesRequest) -> Result<(), Error> {
    match &series.source {
        CandleSource::Csv(_) => Err(Error::InvalidRequest(
            "the desktop app reads candles from Binance or the bundled sample only; import a CSV file with Import CSV on the Data screen, then pick Binance as the source".into(),
        )),
        CandleSource::Binance | CandleSource::Sample => Ok(()),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
