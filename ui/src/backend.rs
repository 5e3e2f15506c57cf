//! The UI's one door to the outside: requests go out through a [`Backend`], replies and streamed
//! updates come back on a later frame. The desktop shell implements it over Tauri's IPC; tests use
//! [`crate::fake::FakeBackend`].

use atb_protocol::desktop::{
    AppInfo, AttentionMap, CandleChart, DataOverview, ExportOutcome, ModelDetail, RunSnapshot,
    RunUpdate, SeriesRequest, TestPredictions, TrainRequest,
};
use atb_protocol::registry::ModelRow;
use atb_protocol::{FetchProgress, FetchSummary};

/// Something the UI asks of the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    AppInfo,
    DataOverview,
    Candles(SeriesRequest),
    /// Fetch from Binance into the store; progress streams as [`Reply::FetchProgress`].
    Fetch(SeriesRequest),
    /// Start a run; its updates stream as [`Reply::Run`].
    Train(TrainRequest),
    /// Catch up with the run in progress, if any (a UI opened or reloaded mid-run).
    AttachRun,
    CancelRun,
    ListModels,
    ModelDetail(String),
    Predictions(String),
    Attention(String),
    /// Export to ONNX with the parity check; the shell asks where to save a copy.
    ExportOnnx(String),
    Promote {
        version: String,
        alias: String,
    },
    Delete(String),
}

impl Request {
    /// A short name for error messages: "Fetch failed: ...".
    pub fn name(&self) -> &'static str {
        match self {
            Self::AppInfo => "Starting",
            Self::DataOverview => "Listing stored candles",
            Self::Candles(_) => "Loading the price chart",
            Self::Fetch(_) => "Fetch",
            Self::Train(_) => "Train",
            Self::AttachRun => "Reconnecting to the run",
            Self::CancelRun => "Cancel",
            Self::ListModels => "Listing models",
            Self::ModelDetail(_) => "Loading the model",
            Self::Predictions(_) => "Predicting the test window",
            Self::Attention(_) => "Reading attention weights",
            Self::ExportOnnx(_) => "ONNX export",
            Self::Promote { .. } => "Promote",
            Self::Delete(_) => "Delete",
        }
    }
}

/// What comes back.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    AppInfo(AppInfo),
    DataOverview(DataOverview),
    Candles(CandleChart),
    FetchProgress(FetchProgress),
    Fetched(FetchSummary),
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
    Deleted(String),
    /// A request failed; `message` says why and what to do.
    Failed {
        request: &'static str,
        message: String,
    },
}

/// The engine as the UI sees it. Nothing blocks: `send` returns at once and the answer arrives
/// through `poll` on a later frame; implementations ask the context for a repaint when it does.
pub trait Backend {
    fn send(&mut self, request: Request, ctx: &egui::Context);
    /// Replies and updates that arrived since the last call, oldest first.
    fn poll(&mut self) -> Vec<Reply>;
}
