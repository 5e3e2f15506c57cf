//! The contract between the desktop UI and its shell, declared once: every request the UI can
//! make, every reply, and the typed error. The shell has one command, [`COMMAND`], that takes a
//! [`Request`] and a channel; it answers with a [`Reply`] or an [`ErrorReply`], and streams
//! progress (fetch pages, training updates) on the channel as replies too.

use serde::{Deserialize, Serialize};

use crate::backtest::{BacktestReport, BacktestSettings};
use crate::bench::{BenchReport, BenchSpec, BenchUpdate, FeatureBenchReport};
use crate::desktop::{
    AppInfo, AttentionMap, CandleChart, DataOverview, ExportOutcome, FeaturePreview, Forecast,
    ModelDetail, PairedComparison, QueueSnapshot, RunSnapshot, RunUpdate, SeriesRequest,
    TestPredictions, TrainRequest, UiPrefs,
};
use crate::forward::ForwardReport;
use crate::registry::{ModelRow, RecoveryReport, RegistryCheck};
use crate::selection::JudgedComparison;
use crate::training::PairResult;
use crate::vocab::{FeatureSet, Symbol, Timeframe, Weighting};
use crate::{FetchProgress, FetchSummary, ImportSummary};

/// The name of the shell's one command.
pub const COMMAND: &str = "rpc";

/// Something the UI asks of the shell. Its kind without the arguments, [`RequestKind`], is
/// derived from it (one variant per request, never a second list to keep in step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, strum::EnumDiscriminants)]
#[serde(tag = "request", content = "args", rename_all = "snake_case")]
#[strum_discriminants(
    name(RequestKind),
    vis(pub),
    derive(Hash, Serialize, Deserialize, strum::EnumIter),
    serde(rename_all = "snake_case")
)]
pub enum Request {
    AppInfo,
    DataOverview,
    Candles(SeriesRequest),
    /// The features a model would read from these candles (before scaling), with each
    /// column's statistics and its course over the range.
    FeaturePreview {
        series: SeriesRequest,
        feature_set: FeatureSet,
    },
    /// Fetch from Binance into the store; progress streams as [`Reply::FetchProgress`].
    Fetch(SeriesRequest),
    /// Fetch the whole range again, stored candles included: their values and order flow are
    /// rewritten with the exchange's (fills in order flow that older candles lack).
    Refetch(SeriesRequest),
    /// Stop the fetch in progress; the pages it stored so far stay (a later fetch resumes).
    CancelFetch,
    /// Start a run; its updates stream as [`Reply::Run`].
    Train(TrainRequest),
    /// Catch up with the run in progress, if any (a UI opened or reloaded mid-run); its later
    /// updates stream as [`Reply::Run`].
    AttachRun,
    /// Cancel the named run (the one the UI shows, never whichever happens to run).
    CancelRun {
        run_id: u64,
    },
    ListModels,
    ModelDetail {
        version: String,
    },
    Predictions {
        version: String,
    },
    Attention {
        version: String,
    },
    /// Export to ONNX with the parity check; the shell asks where to save a copy.
    ExportOnnx {
        version: String,
    },
    Promote {
        version: String,
        alias: String,
    },
    Delete {
        version: String,
    },
    /// Import a candle CSV file as `symbol` `timeframe`: the shell asks the user for the file in
    /// a native open dialog, so the page never names a path.
    ImportCsv {
        symbol: Symbol,
        timeframe: Timeframe,
    },
    /// Check every version's files against their hashes, and the registry's folders and index
    /// (`atb models verify`); deletes nothing.
    CheckRegistry,
    /// Register the finished runs kept for recovery (`atb models recover`).
    Recover,
    /// The next close from the version's latest candles, with its verdict.
    Forecast {
        version: String,
    },
    /// Train, reload, run and export every (architecture, variant) briefly in a private
    /// registry (`atb validate`); each pair streams as [`Reply::ValidationProgress`].
    Validate,
    /// Stop the validation in progress after its current pair's next step.
    CancelValidation,
    /// The paired test of two versions on their common test windows (refused when their test
    /// windows differ).
    PairedTest {
        first: String,
        second: String,
    },
    /// Several versions judged together on their common test windows: the model confidence
    /// set and Holm-adjusted verdicts (refused when their test windows differ).
    Judge {
        versions: Vec<String>,
    },
    /// A version's test-split forecasts traded after `settings`' costs, with the deflated
    /// Sharpe ratio over the registry's trials on its series.
    Backtest {
        version: String,
        settings: BacktestSettings,
    },
    /// Score versions on candles that closed after their data ended (fetched first), stored
    /// beside each; with two versions of one series, champion against challenger.
    ForwardTest {
        versions: Vec<String>,
    },
    /// Make an ensemble of registered versions of one series, horizon and target, weighed on
    /// their validation forecasts, evaluated like any model and registered.
    MakeEnsemble {
        versions: Vec<String>,
        weighting: Weighting,
    },
    /// Import the version bundles of a sweep's results folder (chosen in a folder dialog):
    /// hash-checked against the sweep, registered under their original ids (`atb models import`).
    ImportResults,
    /// Add training runs to the end of the queue; they run one after another, unattended.
    Enqueue {
        requests: Vec<TrainRequest>,
    },
    /// The queue as it stands.
    QueueState,
    /// Move a waiting run one place earlier (`up`) or later.
    QueueShift {
        queue_id: u64,
        up: bool,
    },
    /// Take a waiting run out of the queue.
    QueueRemove {
        queue_id: u64,
    },
    /// Run `atb bench`'s engine; progress streams as [`Reply::BenchProgress`]; the report is
    /// kept in `ATB_HOME/bench/latest.json`.
    Bench(BenchSpec),
    /// Stop the benchmark in progress after its current batch.
    CancelBench,
    /// The last benchmark report kept, if any.
    LastBench,
    /// The last feature benchmark's report kept (`atb bench --feature-sets`/`--context`), if any.
    LastFeatureBench,
    /// What the page saved at its last launch.
    LoadPrefs,
    /// Remember the page's screen and forms for the next launch.
    SavePrefs(UiPrefs),
}

impl RequestKind {
    /// Every kind, in declaration order, for tests that must cover them all.
    pub fn all() -> Vec<RequestKind> {
        <Self as strum::IntoEnumIterator>::iter().collect()
    }

    /// What the request does, for messages: "Fetch failed: ...".
    pub fn label(self) -> &'static str {
        match self {
            Self::AppInfo => "Starting",
            Self::DataOverview => "Listing stored candles",
            Self::Candles => "Loading the price chart",
            Self::FeaturePreview => "Computing the feature preview",
            Self::Fetch => "Fetch",
            Self::Refetch => "Fetch again",
            Self::CancelFetch => "Cancel fetch",
            Self::Train => "Train",
            Self::AttachRun => "Reconnecting to the run",
            Self::CancelRun => "Cancel",
            Self::ListModels => "Listing models",
            Self::ModelDetail => "Loading the model",
            Self::Predictions => "Predicting the test window",
            Self::Attention => "Reading attention weights",
            Self::ExportOnnx => "ONNX export",
            Self::Promote => "Promote",
            Self::Delete => "Delete",
            Self::ImportCsv => "CSV import",
            Self::CheckRegistry => "Registry check",
            Self::Recover => "Recovery",
            Self::Forecast => "Forecast",
            Self::Validate => "Validation",
            Self::CancelValidation => "Cancel validation",
            Self::PairedTest => "Paired test",
            Self::Judge => "Judging the versions together",
            Self::Backtest => "Backtest",
            Self::ForwardTest => "Forward test",
            Self::MakeEnsemble => "Make ensemble",
            Self::ImportResults => "Importing sweep results",
            Self::Enqueue => "Queue",
            Self::QueueState => "Reading the queue",
            Self::QueueShift => "Reorder the queue",
            Self::QueueRemove => "Remove from the queue",
            Self::Bench => "Benchmark",
            Self::CancelBench => "Cancel benchmark",
            Self::LastBench => "Reading the last benchmark",
            Self::LastFeatureBench => "Reading the last feature benchmark",
            Self::LoadPrefs => "Reading the saved screen and forms",
            Self::SavePrefs => "Saving the screen and forms",
        }
    }
}

impl Request {
    pub fn kind(&self) -> RequestKind {
        RequestKind::from(self)
    }
}

/// What comes back: the answer to a request, or one streamed message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", content = "value", rename_all = "snake_case")]
pub enum Reply {
    AppInfo(AppInfo),
    DataOverview(DataOverview),
    Candles(CandleChart),
    FeaturePreview(FeaturePreview),
    /// Streamed while a fetch runs.
    FetchProgress(FetchProgress),
    Fetched(FetchSummary),
    /// The fetch will stop at its next page (or at once while it waits on the exchange).
    FetchCancelRequested,
    /// A run started or was found (`None`: no run is in progress).
    RunSnapshot(Option<RunSnapshot>),
    /// One streamed update of the run in progress.
    Run(RunUpdate),
    CancelRequested,
    Models(Vec<ModelRow>),
    Detail(Box<ModelDetail>),
    Predictions(TestPredictions),
    /// `None` for models without attention.
    Attention(Option<AttentionMap>),
    /// `None` when the user closed the save dialog without choosing.
    Exported(Option<ExportOutcome>),
    Promoted(ModelRow),
    /// The ensemble just registered.
    EnsembleMade(Box<ModelRow>),
    /// What importing a results folder did; `None` when the user closed the folder dialog.
    ResultsImported(Option<crate::sweep::ImportReport>),
    /// The id of the deleted version.
    Deleted(String),
    /// `None` when the user closed the open dialog without choosing.
    Imported(Option<ImportSummary>),
    RegistryChecked(RegistryCheck),
    /// What recovery registered, put right, and could not take.
    Recovered(RecoveryReport),
    Forecast(Forecast),
    /// Streamed while a validation runs: one pair's result.
    ValidationProgress(PairResult),
    /// Every pair, when the validation ends.
    Validated(Vec<PairResult>),
    /// The validation will stop after its current step.
    ValidationCancelRequested,
    Paired(PairedComparison),
    Judged(JudgedComparison),
    Backtested(Box<BacktestReport>),
    ForwardTested(ForwardReport),
    Queue(QueueSnapshot),
    /// Streamed while a benchmark runs.
    BenchProgress(BenchUpdate),
    /// The finished benchmark's report.
    Benched(Box<BenchReport>),
    BenchCancelRequested,
    /// The last report kept (`None`: no benchmark was run on this `ATB_HOME`).
    LastBench(Option<Box<BenchReport>>),
    /// The last feature benchmark kept (`None`: none was run on this `ATB_HOME`).
    LastFeatureBench(Option<Box<FeatureBenchReport>>),
    /// `None`: nothing saved yet.
    Prefs(Option<Box<UiPrefs>>),
    PrefsSaved,
}

/// What kind of failure, so that a UI can act on it (refresh a list, offer a retry) without
/// reading the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The version, alias, series or run asked for does not exist (any more).
    NotFound,
    /// The request itself cannot be carried out as given: a bad value, too little data.
    InvalidInput,
    /// Something else is running that this request would collide with (one training run at a
    /// time, a locked database).
    Busy,
    /// Binance could not be reached or refused (rate limit, ban); retrying later may work.
    Network,
    /// Stored files or records are damaged or do not match their hashes.
    Integrity,
    /// The work was cancelled.
    Cancelled,
    /// A fault of atb itself (a failed write, a bug); the message says what.
    Internal,
}

/// A failed request: its kind and the message a user reads (cause and fix).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    pub kind: ErrorKind,
    pub message: String,
    /// What the user can do about it, as data the door words ([`Remedy::desktop`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remedy: Option<Remedy>,
}

impl ErrorReply {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            remedy: None,
        }
    }
}

/// What the user can do about an error, as data: the engine's messages say what is wrong, and
/// each door words the remedy in its own terms (the CLI a command, the desktop a button), so no
/// CLI command appears verbatim in the desktop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "remedy", rename_all = "snake_case")]
pub enum Remedy {
    /// Export the version to ONNX (first, or again).
    ExportOnnx { version: String },
    /// Register the finished runs kept aside, and restore interrupted re-exports.
    Recover,
    /// Check the registry against its files.
    VerifyRegistry,
    /// Look up the registered versions and aliases.
    ListVersions,
    /// Install ONNX Runtime's library (the setup script), or point `ATB_ONNXRUNTIME` at one.
    InstallOnnxRuntime,
    /// Run the exported file in ONNX Runtime instead of tract.
    UseOnnxRuntime,
    /// Fetch a Binance range again, stored candles included (fills in their order flow), and
    /// train on Binance candles.
    RefetchCandles(Box<CandleRange>),
}

/// A series' range by day, as a remedy names it. Days are `YYYY-MM-DD`, UTC, the last one
/// included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandleRange {
    pub symbol: String,
    pub timeframe: String,
    pub first_day: String,
    pub last_day: String,
}

impl Remedy {
    /// The remedy as the command line says it.
    pub fn cli(&self) -> String {
        match self {
            Self::ExportOnnx { version } => format!("run `atb models export-onnx {version}`"),
            Self::Recover => "run `atb models recover`".into(),
            Self::VerifyRegistry => "run `atb models verify`".into(),
            Self::ListVersions => "see `atb models list`".into(),
            Self::InstallOnnxRuntime => {
                "run scripts/setup.sh (it installs onnxruntime into .venv), \
                 or set ATB_ONNXRUNTIME to a libonnxruntime.so (1.23 or newer)"
                    .into()
            }
            Self::UseOnnxRuntime => "run it with `atb predict --onnxruntime`".into(),
            Self::RefetchCandles(range) => format!(
                "run `atb data fetch {} --timeframe {} --start-date {} --end-date {} --refresh`, \
                 then train with `--source binance`",
                range.symbol, range.timeframe, range.first_day, range.last_day
            ),
        }
    }

    /// The remedy as the desktop app says it.
    pub fn desktop(&self) -> String {
        match self {
            Self::ExportOnnx { version } => {
                format!("open {version} on the Model screen and press Export ONNX")
            }
            Self::Recover => "press Recover on the Registry screen".into(),
            Self::VerifyRegistry => "press Check registry on the Registry screen".into(),
            Self::ListVersions => "the Models screen lists every version".into(),
            Self::InstallOnnxRuntime => "install atb with its setup script, which brings ONNX \
                 Runtime's library, or set ATB_ONNXRUNTIME to a libonnxruntime.so before starting \
                 the app"
                .into(),
            Self::UseOnnxRuntime => "the app runs such files in ONNX Runtime".into(),
            Self::RefetchCandles(range) => format!(
                "on the Data screen choose source binance, {} {} from {} to {}, press Fetch \
                 again, then train with source binance",
                range.symbol, range.timeframe, range.first_day, range.last_day
            ),
        }
    }
}

impl std::fmt::Display for ErrorReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ErrorReply {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_travel_as_tagged_json() {
        let r = Request::Promote {
            version: "v1".into(),
            alias: "champion".into(),
        };
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["request"], "promote");
        assert_eq!(json["args"]["alias"], "champion");
        assert_eq!(serde_json::from_value::<Request>(json).unwrap(), r);
        let unit = serde_json::to_value(Request::ListModels).unwrap();
        assert_eq!(unit, serde_json::json!({ "request": "list_models" }));
        let reply = Reply::Deleted("v1".into());
        let back: Reply = serde_json::from_str(&serde_json::to_string(&reply).unwrap()).unwrap();
        assert_eq!(back, reply);
        let e = ErrorReply::new(ErrorKind::NotFound, "no version v9");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({ "kind": "not_found", "message": "no version v9" })
        );
    }

    #[test]
    fn every_kind_has_its_own_label() {
        let mut labels: Vec<&str> = RequestKind::all().iter().map(|k| k.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), RequestKind::all().len());
    }
}
