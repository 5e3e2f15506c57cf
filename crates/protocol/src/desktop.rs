//! What the desktop shell and the wasm UI exchange: the requests behind each screen, the stream of
//! a training run, and the model details the comparison and export screens show.

use serde::{Deserialize, Serialize};

use crate::registry::{ModelRow, OnnxExport};
use crate::training::{DatasetSummary, EpochRecord, Evaluation, TrainingEvent};
use crate::{CoverageRow, FetchSummary, Gap};

pub const MODEL_TYPES: [&str; 5] = ["cnn_lstm", "attention_lstm", "tcn", "tcn_attention", "lstm"];
pub const VARIANTS: [&str; 3] = ["lightweight", "default", "deep"];
pub const TIMEFRAMES: [&str; 12] = [
    "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d",
];
pub const FEATURE_SETS: [&str; 2] = ["price", "technical"];
pub const DEVICES: [&str; 3] = ["auto", "gpu", "cpu"];
/// `csv:PATH` is accepted too; these are the choices a form offers.
pub const SOURCES: [&str; 2] = ["sample", "binance"];

/// The shell and the app it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppInfo {
    pub atb_version: String,
    /// The `ATB_HOME` the shell opened (same registry and candle store as the CLI).
    pub home: String,
    /// Whether this build can train on a GPU at all (compiled with wgpu).
    pub gpu_compiled: bool,
}

/// Which candles: a source, a series and a range (`days` or `start_date`..=`end_date`, UTC days;
/// neither means everything the source holds, or the last year for Binance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesRequest {
    /// `sample`, `binance` or `csv:PATH`.
    pub source: String,
    pub symbol: String,
    pub timeframe: String,
    pub days: Option<u32>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
}

impl Default for SeriesRequest {
    fn default() -> Self {
        Self {
            source: "sample".into(),
            symbol: "BTCUSDT".into(),
            timeframe: "1h".into(),
            days: None,
            start_date: None,
            end_date: None,
        }
    }
}

/// Closes of a series for the price chart, thinned to at most a few thousand points, with every
/// gap of the full series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandleChart {
    pub symbol: String,
    pub timeframe: String,
    pub source: String,
    /// Candles in the range before thinning.
    pub candles: usize,
    pub open_times_ms: Vec<i64>,
    pub closes: Vec<f64>,
    pub gaps: Vec<Gap>,
    /// Length of one candle, to draw gaps as spans.
    pub interval_ms: i64,
}

/// The Data screen's table and the result of its last fetch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataOverview {
    pub coverage: Vec<CoverageRow>,
    pub last_fetch: Option<FetchSummary>,
}

/// Every option of `atb train model`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainRequest {
    pub series: SeriesRequest,
    pub model_type: String,
    pub variant: String,
    pub epochs: usize,
    pub batch_size: usize,
    pub sequence_length: usize,
    pub learning_rate: f64,
    pub patience: usize,
    pub horizon: usize,
    pub feature_set: String,
    pub seed: u64,
    pub device: String,
    pub grad_clip: Option<f64>,
    pub folds: Option<usize>,
}

impl Default for TrainRequest {
    /// The CLI's defaults, on the bundled sample.
    fn default() -> Self {
        Self {
            series: SeriesRequest::default(),
            model_type: "cnn_lstm".into(),
            variant: "default".into(),
            epochs: 100,
            batch_size: 32,
            sequence_length: 120,
            learning_rate: 1e-3,
            patience: 15,
            horizon: 1,
            feature_set: "price".into(),
            seed: 42,
            device: "auto".into(),
            grad_clip: None,
            folds: None,
        }
    }
}

/// Why one field of a form cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldProblem {
    pub field: String,
    pub reason: String,
}

impl FieldProblem {
    pub fn new(field: &str, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Problems a UI can find without the engine: names outside the known lists and numbers out of
/// the engine's ranges. The engine checks again (and more) when the request arrives.
pub fn series_problems(s: &SeriesRequest) -> Vec<FieldProblem> {
    let mut out = Vec::new();
    let symbol = s.symbol.trim();
    if symbol.is_empty()
        || symbol.len() > 20
        || !symbol
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || !symbol.chars().any(|c| c.is_ascii_alphabetic())
    {
        out.push(FieldProblem::new(
            "symbol",
            "a symbol is 1 to 20 letters and digits, e.g. BTCUSDT",
        ));
    }
    if !TIMEFRAMES.contains(&s.timeframe.as_str()) {
        out.push(FieldProblem::new(
            "timeframe",
            format!("one of {}", TIMEFRAMES.join(", ")),
        ));
    }
    let source_ok = SOURCES.contains(&s.source.as_str())
        || s.source.strip_prefix("csv:").is_some_and(|p| !p.is_empty());
    if !source_ok {
        out.push(FieldProblem::new(
            "source",
            "sample, binance or csv:PATH to a candle file",
        ));
    }
    if s.days == Some(0) {
        out.push(FieldProblem::new("days", "at least 1 day"));
    }
    if s.days.is_some() && (s.start_date.is_some() || s.end_date.is_some()) {
        out.push(FieldProblem::new(
            "days",
            "give either a number of days or dates, not both",
        ));
    }
    for (field, date) in [("start date", &s.start_date), ("end date", &s.end_date)] {
        if let Some(d) = date
            && !is_iso_date(d)
        {
            out.push(FieldProblem::new(field, "a date of the form YYYY-MM-DD"));
        }
    }
    if s.end_date.is_some() && s.start_date.is_none() {
        out.push(FieldProblem::new("end date", "needs a start date"));
    }
    if let (Some(a), Some(b)) = (&s.start_date, &s.end_date)
        && is_iso_date(a)
        && is_iso_date(b)
        && b < a
    {
        out.push(FieldProblem::new("end date", "is before the start date"));
    }
    out
}

fn is_iso_date(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !digits(0..4) {
        return false;
    }
    if !digits(5..7) || !digits(8..10) {
        return false;
    }
    let month = (b[5] - b'0') * 10 + (b[6] - b'0');
    let day = (b[8] - b'0') * 10 + (b[9] - b'0');
    (1..=12).contains(&month) && (1..=31).contains(&day)
}

impl TrainRequest {
    /// Every problem with the request, in form order; empty when it can be sent.
    pub fn problems(&self) -> Vec<FieldProblem> {
        let mut out = series_problems(&self.series);
        let mut check = |ok: bool, field: &str, reason: &str| {
            if !ok {
                out.push(FieldProblem::new(field, reason));
            }
        };
        check(
            MODEL_TYPES.contains(&self.model_type.as_str()),
            "architecture",
            "unknown architecture",
        );
        check(
            VARIANTS.contains(&self.variant.as_str()),
            "variant",
            "lightweight, default or deep",
        );
        check(
            (1..=100_000).contains(&self.epochs),
            "epochs",
            "between 1 and 100000",
        );
        check(
            (1..=65_536).contains(&self.batch_size),
            "batch size",
            "between 1 and 65536",
        );
        check(
            (2..=10_000).contains(&self.sequence_length),
            "sequence length",
            "between 2 and 10000",
        );
        check(
            self.learning_rate.is_finite() && self.learning_rate > 0.0 && self.learning_rate <= 1.0,
            "learning rate",
            "greater than 0 and at most 1",
        );
        check(self.patience >= 1, "patience", "at least 1 epoch");
        check(
            (1..=1_000).contains(&self.horizon),
            "horizon",
            "between 1 and 1000 bars",
        );
        check(
            FEATURE_SETS.contains(&self.feature_set.as_str()),
            "feature set",
            "price or technical",
        );
        check(
            DEVICES.contains(&self.device.as_str()),
            "device",
            "auto, gpu or cpu",
        );
        check(
            self.grad_clip.is_none_or(|c| c.is_finite() && c > 0.0),
            "gradient clip",
            "a positive number, or empty for none",
        );
        check(
            self.folds.is_none_or(|k| (2..=20).contains(&k)),
            "walk-forward folds",
            "between 2 and 20, or empty for none",
        );
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
}

/// Attention weights of an attention model on the last window of its test split, averaged over
/// heads: `weights[query * size + key]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttentionMap {
    pub version_id: String,
    pub size: usize,
    pub heads: usize,
    pub weights: Vec<f32>,
}

/// Predicted against actual closes over a version's test split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestPredictions {
    pub version_id: String,
    /// Open time of the candle whose close is predicted.
    pub target_open_ms: Vec<i64>,
    pub actual_close: Vec<f64>,
    pub predicted_close: Vec<f64>,
}

/// What one click on Export ONNX did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportOutcome {
    pub export: OnnxExport,
    /// Where the user asked for a copy, if anywhere.
    pub copied_to: Option<String>,
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
        let mut r = TrainRequest {
            epochs: 0,
            learning_rate: f64::NAN,
            grad_clip: Some(-1.0),
            folds: Some(1),
            ..TrainRequest::default()
        };
        r.series.symbol = "BTC USDT".into();
        r.series.start_date = Some("2024-13-01".into());
        let fields: Vec<String> = r.problems().into_iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            [
                "symbol",
                "start date",
                "epochs",
                "learning rate",
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
        let p = series_problems(&s);
        assert_eq!(
            p,
            [FieldProblem::new("end date", "is before the start date")]
        );
        let s = SeriesRequest {
            days: Some(3),
            start_date: Some("2024-02-01".into()),
            ..SeriesRequest::default()
        };
        assert_eq!(series_problems(&s)[0].field, "days");
        assert!(series_problems(&SeriesRequest::default()).is_empty());
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
