//! `atb bench` results: the original's comparison table, measured. What `atb bench --json` writes
//! and the markdown tables are made from.

use serde::{Deserialize, Serialize};

use crate::desktop::SeriesRequest;
use crate::vocab::{Architecture, CandleSource, Symbol, Timeframe, Variant};

use crate::training::PairedTest;

/// Inference speed of one runtime on one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferenceTimings {
    /// Single-window latency percentiles, milliseconds.
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    /// Windows per second when run in batches of 256.
    pub batch256_windows_per_s: f64,
}

/// One training run of a benchmarked (type, variant): one seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchRun {
    pub seed: u64,
    pub version_id: String,
    pub epochs_run: usize,
    pub seconds_per_epoch: f64,
    /// Training windows per second of a whole epoch, validation included.
    pub samples_per_second: f64,
    /// Training windows per second of the training batches alone (validation excluded).
    #[serde(default)]
    pub train_windows_per_s: f64,
    pub train_seconds: f64,
    pub test_rmse_usd: f64,
    pub test_mae_usd: f64,
    pub skill_vs_persistence: f64,
    pub directional_accuracy: Option<f64>,
    pub pt_p_value: Option<f64>,
    /// Diebold-Mariano (absolute errors) against persistence and ridge on the test windows.
    #[serde(default)]
    pub vs_persistence: Option<PairedTest>,
    #[serde(default)]
    pub vs_ridge: Option<PairedTest>,
    /// Against `cnn_lstm` of the same variant and seed, on the same test windows.
    #[serde(default)]
    pub vs_cnn_lstm: Option<PairedTest>,
}

/// Per-seed p-values of one test, summarised without averaging them: the median, and how many
/// seeds were significantly better or worse at 5%.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedTests {
    pub seeds: usize,
    pub median_p_value: Option<f64>,
    pub better: usize,
    pub worse: usize,
}

/// One (type, variant): means over its seeds, spreads when there are several, ratios to
/// `cnn_lstm` of the same variant (`None` when that was not benchmarked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    pub architecture: Architecture,
    pub variant: Variant,
    pub device: String,
    pub parameters: usize,
    pub weight_bytes: u64,
    pub onnx_bytes: u64,
    pub seeds: usize,
    // Training.
    pub epochs_run: f64,
    pub seconds_per_epoch: f64,
    /// Training windows per second of a whole epoch, validation included.
    pub samples_per_second: f64,
    /// Training windows per second of the training batches alone (validation excluded).
    #[serde(default)]
    pub train_windows_per_s: f64,
    pub train_seconds: f64,
    /// `train_seconds` / `cnn_lstm`'s.
    pub train_time_vs_cnn_lstm: Option<f64>,
    // Inference: native (Burn on the benchmark device, or LightGBM) and the exported ONNX file
    // in the runtime that checked it: tract, or ONNX Runtime for `gbdt` (tract has no
    // tree-ensemble operator), whose `onnx_*` figures then repeat `onnxruntime`'s.
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub batch256_windows_per_s: f64,
    pub onnx_latency_p50_ms: f64,
    pub onnx_latency_p99_ms: f64,
    pub onnx_batch256_windows_per_s: f64,
    /// Largest |ONNX - native| on the test windows at export.
    pub onnx_max_abs_diff: f64,
    /// The same exported file in ONNX Runtime, when its library is present (`None` otherwise,
    /// with the reason in `onnxruntime_missing`).
    #[serde(default)]
    pub onnxruntime: Option<InferenceTimings>,
    #[serde(default)]
    pub onnxruntime_missing: Option<String>,
    // Accuracy on the test window, in USD.
    pub test_rmse_usd: f64,
    pub test_mae_usd: f64,
    /// `test_mae_usd` / `cnn_lstm`'s.
    pub mae_vs_cnn_lstm: Option<f64>,
    pub skill_vs_persistence: f64,
    pub directional_accuracy: Option<f64>,
    /// Median of the seeds' Pesaran-Timmermann p-values (never their mean).
    pub pt_p_value: Option<f64>,
    /// Seeds whose direction test was significant at 5%.
    #[serde(default)]
    pub pt_significant_seeds: usize,
    /// The seeds' paired tests against persistence, ridge and cnn_lstm (same variant).
    #[serde(default)]
    pub vs_persistence: Option<SeedTests>,
    #[serde(default)]
    pub vs_ridge: Option<SeedTests>,
    #[serde(default)]
    pub vs_cnn_lstm: Option<SeedTests>,
    /// Standard deviations over seeds (`None` with one seed).
    pub test_rmse_usd_std: Option<f64>,
    pub test_mae_usd_std: Option<f64>,
    pub skill_vs_persistence_std: Option<f64>,
    pub directional_accuracy_std: Option<f64>,
    pub runs: Vec<BenchRun>,
}

/// A baseline on the same test windows (persistence, ridge).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineResult {
    pub name: String,
    pub test_rmse_usd: f64,
    pub test_mae_usd: f64,
    pub skill_vs_persistence: f64,
    pub directional_accuracy: Option<f64>,
    pub pt_p_value: Option<f64>,
}

/// The whole table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub device: String,
    pub source: CandleSource,
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    pub epochs: usize,
    pub seeds: usize,
    pub sequence_length: usize,
    pub test_windows: usize,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub results: Vec<BenchResult>,
    pub baselines: Vec<BaselineResult>,
}

/// What the original system's docs promised for an architecture (section 12 of the reference;
/// LightGBM from its selection guide), shown beside the measured figures.
pub fn promise(architecture: Architecture) -> &'static str {
    match architecture {
        Architecture::CnnLstm => "baseline; DA ~60%; ~50 ms",
        Architecture::AttentionLstm => "RMSE −12%, MAE −15%; DA ~65%; 110% train time; ~70 ms",
        Architecture::Tcn => "RMSE ±5%; DA ~62%; 3–5× faster training; ~30 ms",
        Architecture::TcnAttention => "\"best of both\"",
        Architecture::Lstm => "–",
        Architecture::Gbdt => "10–100× faster training; good for direction",
    }
}

/// What the desktop's Benchmark screen asks for: `atb bench`'s choices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchSpec {
    pub architectures: Vec<Architecture>,
    pub variants: Vec<Variant>,
    pub seeds: usize,
    /// Epochs of every network (the tree model boosts its own budget).
    pub epochs: usize,
    pub series: SeriesRequest,
    pub sequence_length: usize,
}

impl Default for BenchSpec {
    /// `atb bench`'s defaults: every model, default variant, one seed, two epochs, on the last
    /// 90 days of the bundled sample.
    fn default() -> Self {
        Self {
            architectures: Architecture::ALL.to_vec(),
            variants: vec![Variant::Default],
            seeds: 1,
            epochs: 2,
            series: SeriesRequest {
                days: Some(90),
                ..SeriesRequest::default()
            },
            sequence_length: 120,
        }
    }
}

impl BenchSpec {
    /// Why it cannot run, in form words (empty: it can).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.architectures.is_empty() || self.variants.is_empty() {
            out.push("choose at least one model and one variant".into());
        }
        if !(1..=20).contains(&self.seeds) {
            out.push(format!("seeds: {} is not between 1 and 20", self.seeds));
        }
        if !crate::spec::ranges::EPOCHS.contains(&self.epochs) {
            out.push(format!(
                "epochs: {} is not between 1 and 100000",
                self.epochs
            ));
        }
        out.extend(self.series.problems().into_iter().map(|p| p.to_string()));
        out
    }
}

/// Progress of a benchmark, streamed to the desktop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "update", rename_all = "snake_case")]
pub enum BenchUpdate {
    /// Run `index` of `total` (1-based) starts.
    Started {
        architecture: Architecture,
        variant: Variant,
        seed: u64,
        index: usize,
        total: usize,
    },
    /// An epoch (a boosting round for trees) of the run in progress ended.
    Epoch { epoch: usize, epochs: usize },
    /// Exporting and timing the first seed's model.
    Measuring {
        architecture: Architecture,
        variant: Variant,
    },
    /// A (type, variant) is done.
    Measured(Box<BenchResult>),
}
