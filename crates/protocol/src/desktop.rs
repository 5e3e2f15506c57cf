//! What the desktop shell and the wasm UI exchange: the requests behind each screen, the stream of
//! a training run, and the model details the comparison and export screens show.

use serde::{Deserialize, Serialize};

use crate::date::Date;
use crate::registry::{ColumnImportance, ModelRow, OnnxExport};
use crate::spec::{FieldProblem, TrainSpec};
use crate::training::{DatasetSummary, EpochRecord, Evaluation, TrainingEvent};
use crate::vocab::{CandleSource, FeatureSet, Symbol, Timeframe};
use crate::{CoverageRow, FetchSummary, Gap};

/// The shell and the app it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppInfo {
    pub atb_version: String,
    /// The `ATB_HOME` the shell opened (same registry and candle store as the CLI).
    pub home: String,
    /// Whether this build can train on a GPU at all (compiled with wgpu).
    pub gpu_compiled: bool,
    /// Things the user should know from the start (an unencrypted exchange URL).
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// Which candles: a source, a series and a range (`days` or `start_date`..=`end_date`, UTC days;
/// neither means everything the source holds, or the last year for Binance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesRequest {
    pub source: CandleSource,
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    pub days: Option<u32>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
}

impl Default for SeriesRequest {
    /// The bundled sample, whole.
    fn default() -> Self {
        Self {
            source: CandleSource::Sample,
            symbol: Symbol::default(),
            timeframe: Timeframe::default(),
            days: None,
            start_date: None,
            end_date: None,
        }
    }
}

/// Days in the range Binance gets when a request names none.
pub const BINANCE_DEFAULT_DAYS: u32 = 365;

impl SeriesRequest {
    /// Problems with the range, in form order (names and symbols are checked by their types).
    pub fn problems(&self) -> Vec<FieldProblem> {
        let mut out = Vec::new();
        if self.days == Some(0) {
            out.push(FieldProblem::new("days", "at least 1 day"));
        }
        if self.days.is_some() && (self.start_date.is_some() || self.end_date.is_some()) {
            out.push(FieldProblem::new(
                "days",
                "give either a number of days or dates, not both",
            ));
        }
        let mut parsed = [None, None];
        for (slot, (field, date)) in parsed.iter_mut().zip([
            ("start date", &self.start_date),
            ("end date", &self.end_date),
        ]) {
            match date.as_deref().map(Date::parse) {
                Some(Ok(d)) => *slot = Some(d),
                Some(Err(why)) => out.push(FieldProblem::new(field, why)),
                None => {}
            }
        }
        if self.end_date.is_some() && self.start_date.is_none() {
            out.push(FieldProblem::new("end date", "needs a start date"));
        }
        if let [Some(a), Some(b)] = parsed
            && b < a
        {
            out.push(FieldProblem::new("end date", "is before the start date"));
        }
        out
    }

    /// The days a request with no range means: the last year for Binance (so that a first
    /// training run does not page through its whole history), everything for files and the
    /// sample (`None`).
    pub fn effective_days(&self) -> Option<u32> {
        match (self.days, &self.start_date, &self.source) {
            (None, None, CandleSource::Binance) => Some(BINANCE_DEFAULT_DAYS),
            (days, ..) => days,
        }
    }
}

/// A series for the candlestick chart, with every gap of the full series. Long series are
/// downsampled by OHLC aggregation, never by dropping candles: bucket `i` covers
/// `bucket_candles` consecutive intervals from `open_times_ms[i]` (open of its first candle,
/// highest high, lowest low, close of its last candle, summed volume); intervals with no
/// candle (gaps) add nothing to a bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandleChart {
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    pub source: CandleSource,
    /// Candles in the range.
    pub candles: usize,
    /// Intervals per bucket (1: every candle as it is).
    pub bucket_candles: u32,
    pub open_times_ms: Vec<i64>,
    pub opens: Vec<f64>,
    pub highs: Vec<f64>,
    pub lows: Vec<f64>,
    pub closes: Vec<f64>,
    pub volumes: Vec<f64>,
    pub gaps: Vec<Gap>,
}

/// The Data screen's table and the result of its last fetch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataOverview {
    pub coverage: Vec<CoverageRow>,
    pub last_fetch: Option<FetchSummary>,
}

/// Every option of `atb train model`: which candles, and the training specification.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainRequest {
    pub series: SeriesRequest,
    pub spec: TrainSpec,
}

impl TrainRequest {
    /// Every problem with the request, in form order; empty when it can be sent.
    pub fn problems(&self) -> Vec<FieldProblem> {
        let mut out = self.series.problems();
        out.extend(self.spec.problems());
        if let Some(context) = &self.spec.context {
            if *context == self.series.symbol {
                out.push(FieldProblem::new(
                    "context",
                    format!("{context} is the series itself; choose another market, e.g. BTCUSDT for ETHUSDT"),
                ));
            }
            if self.series.source != CandleSource::Binance {
                out.push(FieldProblem::new(
                    "context",
                    format!(
                        "a context market is fetched from Binance beside the series; {} holds one market (use source binance)",
                        self.series.source
                    ),
                ));
            }
        }
        out
    }
}

/// One message of a training run's stream, as the shell sends it to the UI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "update", rename_all = "snake_case")]
pub enum RunUpdate {
    /// Candles are being loaded (or fetched) before training starts.
    Loading { message: String },
    /// An event of the trainer itself.
    Training { event: TrainingEvent },
    /// The run finished and its model was registered.
    Registered { row: Box<ModelRow> },
    /// The run ended without a model (cancelled before it had one, or the user cancelled).
    NotRegistered { reason: String },
    /// Loading or training failed; nothing was registered.
    Failed { message: String },
}

impl RunUpdate {
    /// Whether this update ends the run.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Registered { .. } | Self::NotRegistered { .. } | Self::Failed { .. }
        )
    }
}

/// A run as far as it has gone: what a UI opened or reloaded mid-run needs to catch up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSnapshot {
    pub run_id: u64,
    pub request: TrainRequest,
    pub updates: Vec<RunUpdate>,
    /// False once a final update was sent.
    pub active: bool,
}

/// The features a model reads from a series (raw, before the train-only scaling), as the Data
/// screen previews them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeaturePreview {
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    pub feature_set: FeatureSet,
    /// Candles in the range.
    pub candles: usize,
    /// Leading candles dropped while the trailing windows fill.
    pub warmup_rows: usize,
    /// Feature rows (candles after the warm-up).
    pub rows: usize,
    /// Rows averaged into each charted point (1: every row drawn).
    pub rows_per_point: u32,
    /// Open time of each charted point's first row.
    pub open_times_ms: Vec<i64>,
    pub columns: Vec<FeatureColumn>,
}

/// One feature column: what it is, its statistics over every row, and the charted points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureColumn {
    pub name: String,
    pub meaning: String,
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    /// The mean of each charted point's rows.
    pub points: Vec<f32>,
}

/// Everything the Model detail screen and the comparison show about one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelDetail {
    pub row: ModelRow,
    /// The version folder, absolute.
    pub folder: String,
    /// The request and what became of it (`metadata.json`'s `training_params`), as JSON.
    pub training_params: serde_json::Value,
    pub dataset: DatasetSummary,
    pub evaluation: Evaluation,
    pub history: Vec<EpochRecord>,
    pub device: String,
    pub export: Option<OnnxExport>,
    /// Gain and split count per input column (tree models; empty for networks).
    #[serde(default)]
    pub importance: Vec<ColumnImportance>,
    /// The latest forward test (candles after the data ended), kept apart from `evaluation`.
    #[serde(default)]
    pub forward: Option<crate::forward::ForwardResult>,
    /// An ensemble's members and weights (`None` for every other model).
    #[serde(default)]
    pub ensemble: Option<crate::registry::EnsembleRecipe>,
}

/// Most cells per side of an attention map: a longer window is averaged into blocks of steps
/// before it leaves the engine (an L × L map of a 1,500-step window was 2.25 million cells on the
/// wire and painted every frame).
pub const ATTENTION_MAP_MAX_CELLS: usize = 200;

/// Attention weights of an attention model on the last window of its test split, averaged over
/// heads: `weights[query * size + key]`, `size` cells per side covering `window` steps (each
/// cell the mean over its block of query and key steps when `window > size`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttentionMap {
    pub version_id: String,
    pub size: usize,
    pub heads: usize,
    pub weights: Vec<f32>,
    /// Steps of the window; equal to `size` unless the map was averaged into blocks.
    #[serde(default)]
    pub window: usize,
}

/// Predicted against actual closes over a version's test split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestPredictions {
    pub version_id: String,
    /// Open time of the candle whose close is predicted.
    pub target_open_ms: Vec<i64>,
    /// The return target's closes (empty for volatility and direction, whose forecasts are in
    /// `target_series`).
    pub actual_close: Vec<f64>,
    pub predicted_close: Vec<f64>,
    #[serde(default)]
    pub target_series: Option<TargetSeries>,
}

/// A volatility or direction version's test forecasts over time beside what happened and the
/// target's reference baseline: HAR-RV for volatility, the training split's up-share
/// (climatology) for direction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetSeries {
    pub target: crate::vocab::Target,
    /// Open time of the last bar of each forecast span (bar t + h).
    pub target_open_ms: Vec<i64>,
    /// Realised volatility (log-return units) or the probability of an up move.
    pub forecast: Vec<f64>,
    /// The realised volatility, or 1 for an up move and 0 otherwise.
    pub realised: Vec<f64>,
    pub baseline_name: String,
    /// The baseline's forecast of each span (`None` where it has none, e.g. HAR-RV without a
    /// month of history).
    pub baseline: Vec<Option<f64>>,
}

/// A version's forecast from its latest candles, with that version's verdicts beside it, so a
/// forecast is never read without knowing whether its model beats its baselines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    pub version_id: String,
    /// Where the latest candles came from (the source the version was trained on).
    pub source: CandleSource,
    /// Open time of the last candle used.
    pub last_open_ms: i64,
    pub last_close: f64,
    /// Bars ahead.
    pub horizon: usize,
    /// The forecast in the target's units.
    #[serde(flatten)]
    pub prediction: crate::targets::Prediction,
    /// The version's verdicts on its test split: against persistence for the return target,
    /// against its own baselines for volatility and direction (empty: not computed).
    pub verdicts: Vec<crate::verdict::Verdict>,
}

/// Two versions' forecasts compared on the same test windows: the Diebold-Mariano test on their
/// absolute price errors, and its verdict for the first against the second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedComparison {
    pub first: String,
    pub second: String,
    /// Test windows both were evaluated on.
    pub windows: usize,
    pub first_mae_usd: f64,
    pub second_mae_usd: f64,
    pub test: Option<crate::training::PairedTest>,
    /// "better than / no significant difference from / worse than SECOND (...)", for FIRST.
    pub verdict: crate::verdict::Verdict,
}

/// A training request waiting in the run queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedRun {
    pub queue_id: u64,
    pub request: TrainRequest,
}

/// A queued run that has ended, with its final update (`Registered` carries the new version
/// and its verdicts; `NotRegistered` and `Failed` say why not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinishedRun {
    pub queue_id: u64,
    pub request: TrainRequest,
    pub outcome: RunUpdate,
}

/// The run queue as the shell holds it (it outlives the page).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueSnapshot {
    /// Waiting, in the order they will run.
    pub pending: Vec<QueuedRun>,
    /// The queued run training now, with its run id (what `AttachRun` follows).
    pub running: Option<(QueuedRun, u64)>,
    /// Ended, oldest first.
    pub finished: Vec<FinishedRun>,
}

impl QueueSnapshot {
    /// Whether anything is waiting or running.
    pub fn busy(&self) -> bool {
        !self.pending.is_empty() || self.running.is_some()
    }
}

/// What the page remembers between launches: its last screen and the values of its forms (each
/// as the request it would send, so it is checked like one when restored).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UiPrefs {
    /// `data`, `train`, `models`, `guide`, `bench` or `registry`.
    pub screen: String,
    #[serde(default)]
    pub train: Option<TrainRequest>,
    #[serde(default)]
    pub data: Option<SeriesRequest>,
    #[serde(default)]
    pub bench: Option<crate::bench::BenchSpec>,
}

/// What one click on Export ONNX did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportOutcome {
    pub export: OnnxExport,
    /// Where the user asked for a copy, if anywhere.
    pub copied_to: Option<String>,
    /// Why that copy could not be written (the export itself succeeded).
    #[serde(default)]
    pub copy_failed: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_have_no_problems() {
        assert!(TrainRequest::default().problems().is_empty());
    }

    #[test]
    fn each_bad_field_is_named() {
        let mut r = TrainRequest::default();
        r.spec.epochs = 0;
        r.spec.learning_rate = f64::NAN;
        r.spec.grad_clip_norm = Some(-1.0);
        r.spec.walk_forward_folds = Some(1);
        r.series.start_date = Some("2024-13-01".into());
        let fields: Vec<String> = r.problems().into_iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            [
                "start date",
                "epochs",
                "learning rate",
                "minimum learning rate",
                "gradient clip",
                "walk-forward folds"
            ]
        );
    }

    #[test]
    fn dates_are_checked_in_order() {
        let s = SeriesRequest {
            start_date: Some("2024-02-01".into()),
            end_date: Some("2024-01-31".into()),
            ..SeriesRequest::default()
        };
        assert_eq!(
            s.problems(),
            [FieldProblem::new("end date", "is before the start date")]
        );
        let s = SeriesRequest {
            days: Some(3),
            start_date: Some("2024-02-01".into()),
            ..SeriesRequest::default()
        };
        assert_eq!(s.problems()[0].field, "days");
        assert!(SeriesRequest::default().problems().is_empty());
    }

    #[test]
    fn binance_without_a_range_means_the_last_year() {
        let binance = SeriesRequest {
            source: CandleSource::Binance,
            ..SeriesRequest::default()
        };
        assert_eq!(binance.effective_days(), Some(BINANCE_DEFAULT_DAYS));
        assert_eq!(SeriesRequest::default().effective_days(), None);
        let dated = SeriesRequest {
            start_date: Some("2024-01-01".into()),
            ..binance
        };
        assert_eq!(dated.effective_days(), None);
    }

    #[test]
    fn a_request_reads_as_the_ui_sends_it() {
        let json = r#"{"series":{"source":"binance","symbol":"ethusdt","timeframe":"4h",
            "days":30,"start_date":null,"end_date":null},
            "spec":{"architecture":"tcn","architecture_variant":"deep","epochs":5}}"#;
        let r: TrainRequest = serde_json::from_str(json).unwrap();
        assert_eq!(r.series.symbol.as_str(), "ETHUSDT");
        assert_eq!(r.spec.epochs, 5);
        assert_eq!(r.spec.batch_size, TrainSpec::default().batch_size);
        let bad = json.replace("\"4h\"", "\"7m\"");
        let e = serde_json::from_str::<TrainRequest>(&bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid timeframe \"7m\""), "{e}");
    }

    #[test]
    fn run_updates_round_trip_and_know_the_end() {
        let u = RunUpdate::Failed {
            message: "no data".into(),
        };
        let json = serde_json::to_string(&u).unwrap();
        assert!(json.contains("\"update\":\"failed\""), "{json}");
        assert_eq!(serde_json::from_str::<RunUpdate>(&json).unwrap(), u);
        assert!(u.is_final());
        assert!(
            !RunUpdate::Loading {
                message: String::new()
            }
            .is_final()
        );
    }
}
