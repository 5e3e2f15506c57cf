//! Training events and evaluation results: what the engine streams while training and stores
//! with every model, and what the CLI and the UI show.

use serde::{Deserialize, Serialize};

use crate::vocab::{Architecture, CandleSource, Symbol, Timeframe, Variant};

/// One split of the chronological train / validation / test division.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitInfo {
    /// Number of windows (samples).
    pub samples: usize,
    /// Open time of the first and last target candle (the candle whose close is predicted).
    pub first_target_open_ms: i64,
    pub last_target_open_ms: i64,
}

/// The dataset a run trains on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSummary {
    pub source: CandleSource,
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    /// Candles loaded, before the feature warm-up was dropped.
    pub candles: usize,
    pub first_candle_open_ms: i64,
    pub last_candle_open_ms: i64,
    /// Rows dropped at the start while rolling features warm up.
    pub warmup_rows: usize,
    pub feature_names: Vec<String>,
    pub sequence_length: usize,
    pub horizon: usize,
    /// Samples dropped between splits so no training target overlaps a later split's.
    pub embargo: usize,
    pub train: SplitInfo,
    pub validation: SplitInfo,
    pub test: SplitInfo,
    /// SHA-256 of the candle rows used (open time and OHLCV, little-endian), hex.
    pub data_sha256: String,
    /// Windows left out because their inputs or target span a missing candle (0 in records
    /// written before gaps were checked).
    #[serde(default)]
    pub gap_windows_dropped: usize,
    /// Rows left out because the context market (`TrainSpec::context`) has no candle at their
    /// open time, or is still warming up there (0 without a context).
    #[serde(default)]
    pub context_rows_dropped: usize,
}

impl DatasetSummary {
    /// Whether two versions were tested on the same windows, so that their errors can be paired
    /// and their metrics set side by side: the same candles (source, symbol, timeframe and the
    /// hash of the rows), the same horizon, and the same test split (its windows, and the first
    /// and last target time). The one rule every door and the engine's paired tests use.
    pub fn same_test_windows(&self, other: &Self) -> bool {
        self.source == other.source
            && self.symbol == other.symbol
            && self.timeframe == other.timeframe
            && self.data_sha256 == other.data_sha256
            && self.horizon == other.horizon
            && self.test == other.test
    }
}

/// Loss and learning rate of one finished epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    pub learning_rate: f64,
    /// Wall time of the whole epoch: training batches and validation.
    pub seconds: f64,
    /// Wall time of the training batches alone (0 in records written before it was kept).
    #[serde(default)]
    pub train_seconds: f64,
}

/// Error and direction metrics of one predictor on one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub rmse_usd: f64,
    pub mae_usd: f64,
    /// Mean absolute percentage error of the predicted close, in percent.
    pub mape_pct: f64,
    pub return_rmse: f64,
    pub return_mae: f64,
    /// R² of predicted against actual log returns (0 = no better than the test mean).
    pub return_r2: f64,
    /// Share of windows whose predicted direction matched the actual one, on non-overlapping
    /// targets (every h-th window) without zero moves; `None` when the predictor never predicts
    /// a direction (persistence).
    pub directional_accuracy: Option<f64>,
    /// Pesaran-Timmermann statistic and its one-sided p-value on the same windows; `None` when
    /// undefined (the forecasts or the outcomes all point one way).
    pub pt_statistic: Option<f64>,
    pub pt_p_value: Option<f64>,
    /// 1 - MAE / MAE of persistence, in price space (> 0 beats persistence).
    pub skill_vs_persistence: f64,
    /// MAE of the predicted h-step log returns over the training split's mean absolute h-step
    /// log return (the in-sample error of "no change"), so persistence scores about 1. Records
    /// with `Evaluation::method` below 2 hold a price-space ratio here instead: not comparable.
    pub mase: f64,
    /// Why `directional_accuracy` and the Pesaran-Timmermann test are not given, when they are
    /// not (method 3 onwards; `None` in older records and whenever the figures are given).
    #[serde(default)]
    pub direction_withheld: Option<DirectionWithheld>,
}

/// One row of the test-metric table every door shows (the CLI's `models show`, the Run and
/// Model screens): its label, the digits it is printed with, and its value in one column's
/// metrics (`None`: not available, shown as "-").
#[derive(Clone, Copy)]
pub struct MetricRow {
    pub label: &'static str,
    pub digits: usize,
    pub value: fn(&Metrics) -> Option<f64>,
}

/// The test-metric table's rows, in order.
pub const METRIC_ROWS: [MetricRow; 9] = [
    MetricRow {
        label: "MAE (USD)",
        digits: 2,
        value: |m| Some(m.mae_usd),
    },
    MetricRow {
        label: "RMSE (USD)",
        digits: 2,
        value: |m| Some(m.rmse_usd),
    },
    MetricRow {
        label: "MAPE (%)",
        digits: 3,
        value: |m| Some(m.mape_pct),
    },
    MetricRow {
        label: "return R²",
        digits: 4,
        value: |m| Some(m.return_r2),
    },
    MetricRow {
        label: "skill vs persistence",
        digits: 4,
        value: |m| Some(m.skill_vs_persistence),
    },
    MetricRow {
        label: MASE_LABEL,
        digits: 3,
        value: |m| Some(m.mase),
    },
    MetricRow {
        label: "directional accuracy",
        digits: 3,
        value: |m| m.directional_accuracy,
    },
    MetricRow {
        label: "PT statistic",
        digits: 2,
        value: |m| m.pt_statistic,
    },
    MetricRow {
        label: "PT p-value",
        digits: 3,
        value: |m| m.pt_p_value,
    },
];

const MASE_LABEL: &str = "MASE";

impl SplitEvaluation {
    /// The table's columns: the model, then the three baselines, by name.
    pub fn columns(&self) -> [(&'static str, &Metrics); 4] {
        [
            ("model", &self.model),
            ("persistence", &self.persistence),
            ("drift", &self.drift),
            ("ridge", &self.ridge),
        ]
    }
}

/// Fewest non-overlapping windows on which directional accuracy is reported: below about 30 the
/// Pesaran-Timmermann normal approximation means nothing and a hit rate is mostly noise.
pub const DIRECTION_MIN_WINDOWS: usize = 30;
/// Smallest share of the non-overlapping windows on which a forecast must call each direction:
/// a forecast that (almost) always says "up" scores the up-share, not a skill.
pub const DIRECTION_MIN_SIGN_SHARE: f64 = 0.05;

/// Why a predictor's directional accuracy is not a number.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum DirectionWithheld {
    /// The predictor never calls a direction (persistence forecasts no change).
    NoCalls,
    /// Fewer non-overlapping windows than `needed`.
    TooFewWindows { windows: usize, needed: usize },
    /// The forecast took its rarer sign on only `minority_share` of the windows (below
    /// `needed`): its hit rate would be the share of moves in its usual direction.
    OneSided { minority_share: f64, needed: f64 },
}

impl DirectionWithheld {
    /// One sentence for every door: why the figure is not shown.
    pub fn sentence(&self) -> String {
        match self {
            Self::NoCalls => "no direction called".into(),
            Self::TooFewWindows { windows, needed } => {
                format!("not defined: {windows} non-overlapping windows, {needed} needed")
            }
            Self::OneSided {
                minority_share,
                needed,
            } => format!(
                "not defined: the forecast takes one sign on {:.1}% of windows (its rarer sign \
                 needs {:.0}%), so its hit rate is the share of moves that way",
                100.0 * (1.0 - minority_share),
                100.0 * needed
            ),
        }
    }
}

/// How a paired test estimated the long-run variance of the loss differential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VarianceKernel {
    /// Autocovariances up to lag h - 1 with equal weights (Diebold-Mariano 1995, HLN 1997,
    /// R's forecast::dm.test): the variance of an MA(h - 1) differential.
    Rectangular,
    /// Bartlett (Newey-West) weights up to lag 2h, used only when the rectangular estimate is
    /// not positive.
    Bartlett,
}

/// A Diebold-Mariano test of equal accuracy between the model and a baseline on the same
/// windows: long-run variance with equal weights on lags up to h - 1 (see `kernel`),
/// Harvey-Leybourne-Newbold correction, Student's t with n - 1 degrees of freedom, two-sided.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairedTest {
    pub statistic: f64,
    pub p_value: f64,
    /// Mean of loss(model) - loss(baseline): negative when the model errs less.
    pub mean_loss_difference: f64,
    pub n: usize,
    /// `None` in records of evaluation method 2 and before, which used Bartlett weights up to
    /// lag h - 1 (too small a variance for h > 1).
    #[serde(default)]
    pub kernel: Option<VarianceKernel>,
}

/// Clark and West's (2007) test of a model against a forecast nested in it (persistence, drift)
/// under squared loss: the MSPE difference adjusted for the noise of estimating parameters
/// that are zero under the null, one-sided (the model is better), with the variance of
/// `PairedTest`'s kernel and standard normal critical values as in the paper.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NestedTest {
    pub statistic: f64,
    /// One-sided: small when the model forecasts better than the nested one.
    pub p_value: f64,
    /// Mean of e_nested² - (e_model² - (f_nested - f_model)²) on log returns.
    pub mean_adjusted_difference: f64,
    pub n: usize,
    pub kernel: VarianceKernel,
}

/// Skill (1 - MAE / baseline MAE) with its circular block bootstrap 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SkillInterval {
    pub skill: f64,
    pub lower: f64,
    pub upper: f64,
    pub block_length: usize,
    pub resamples: usize,
}

/// The model against one baseline on the same windows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// On absolute price errors (what MAE and skill measure): the test verdicts use.
    pub absolute: Option<PairedTest>,
    /// On squared price errors (what RMSE measures).
    pub squared: Option<PairedTest>,
    pub skill: Option<SkillInterval>,
    /// Clark-West against a nested baseline (persistence, drift); `None` against ridge, which
    /// is not nested in the model, and in records before evaluation method 3.
    #[serde(default)]
    pub clark_west: Option<NestedTest>,
}

/// A model's metrics on one split beside the baselines' on the same windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitEvaluation {
    pub samples: usize,
    /// Share of actual up moves in the window (the majority-class rate to beat is max(up, 1-up)).
    pub up_share: f64,
    pub model: Metrics,
    /// Next close = this close.
    pub persistence: Metrics,
    /// Next return = the training mean return.
    pub drift: Metrics,
    /// Ridge regression on the same flattened, scaled input windows.
    pub ridge: Metrics,
    /// Windows the direction metrics use: every h-th, zero moves excluded.
    #[serde(default)]
    pub direction_samples: Option<usize>,
    /// Share of windows whose actual move was exactly zero (excluded from the direction metrics).
    #[serde(default)]
    pub zero_move_share: Option<f64>,
    /// Paired tests of the model against persistence and against ridge (`None` in records
    /// written before they were computed).
    #[serde(default)]
    pub vs_persistence: Option<Comparison>,
    #[serde(default)]
    pub vs_ridge: Option<Comparison>,
    /// Against drift (the training mean return), from evaluation method 3: a model that only
    /// learned the trend of its training period is not better than drift.
    #[serde(default)]
    pub vs_drift: Option<Comparison>,
}

/// Mean and standard deviation of one metric over walk-forward folds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub mean: f64,
    pub std: f64,
}

/// Walk-forward evaluation (expanding window, scalers refit per fold): the test metrics of
/// every fold and their means with sample standard deviations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalkForward {
    pub folds: usize,
    pub model_mae_usd: Spread,
    pub model_rmse_usd: Spread,
    pub persistence_mae_usd: Spread,
    pub skill_vs_persistence: Spread,
    pub directional_accuracy: Spread,
    #[serde(default)]
    pub drift_mae_usd: Option<Spread>,
    #[serde(default)]
    pub ridge_mae_usd: Option<Spread>,
    #[serde(default)]
    pub mase: Option<Spread>,
    /// Folds whose test verdict against persistence was "better" / "worse" (the rest: no
    /// significant difference).
    #[serde(default)]
    pub better_than_persistence: Option<usize>,
    #[serde(default)]
    pub worse_than_persistence: Option<usize>,
    /// Each fold's test evaluation, in time order.
    #[serde(default)]
    pub per_fold: Vec<SplitEvaluation>,
}

/// How the ridge baseline chose its penalty on the validation split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RidgeChoice {
    /// The penalty chosen (on centred, scaled inputs).
    pub lambda: f64,
    /// Its position among the penalties tried (0 = smallest) and how many were tried.
    pub grid_index: usize,
    pub grid_points: usize,
    /// True when the best penalty is the largest or smallest tried even after extending the grid
    /// as far as allowed (then ridge is as good as it gets at that extreme, e.g. the drift
    /// forecast when the penalty is huge).
    pub at_edge: bool,
    pub validation_mse: f64,
    /// Input columns: the last `bars` rows of each window times the features.
    pub columns: usize,
    pub bars: usize,
}

/// The evaluation method version this build writes: 2 added paired tests, the fair ridge,
/// return-space MASE, non-overlapping direction metrics and gap-free windows; 3 the
/// rectangular-kernel Diebold-Mariano variance, bootstrap blocks of at least 2h, Clark-West
/// and the verdict against drift, withheld direction figures, and the backtest after costs.
pub const EVALUATION_METHOD: u32 = 3;

/// Everything measured about a trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The return target's test and validation splits in price and return space; `None` for
    /// the volatility and direction targets, whose record is `target`.
    pub test: Option<SplitEvaluation>,
    pub validation: Option<SplitEvaluation>,
    /// The volatility or direction target's test split beside its own baselines; `None` for
    /// the return target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<crate::targets::TargetEvaluation>,
    pub walk_forward: Option<WalkForward>,
    /// 1 for records written before the method was versioned.
    #[serde(default = "legacy_method")]
    pub method: u32,
    #[serde(default)]
    pub ridge: Option<RidgeChoice>,
    /// The forecasts as a trading signal on the test split after costs (default costs); `None`
    /// in records before evaluation method 3.
    #[serde(default)]
    pub backtest: Option<crate::backtest::Backtest>,
}

fn legacy_method() -> u32 {
    1
}

impl Evaluation {
    /// Written before evaluation method 2: no paired tests, and a MASE of another definition
    /// (price space), which no door shows beside today's.
    pub fn is_legacy(&self) -> bool {
        self.method < 2
    }

    /// Written by an older method than this atb's: `atb models reevaluate` (Re-evaluate on the
    /// Model screen) recomputes it.
    pub fn is_outdated(&self) -> bool {
        self.method < EVALUATION_METHOD
    }

    /// The target this evaluation scored.
    pub fn target_kind(&self) -> crate::vocab::Target {
        self.target
            .as_ref()
            .map_or(crate::vocab::Target::Return, |t| t.target())
    }

    /// The verdicts every door shows, in order: against persistence and ridge (and drift from
    /// evaluation method 3) for the return target; against the target's own baselines for
    /// volatility and direction.
    pub fn verdicts(&self) -> Vec<crate::verdict::Verdict> {
        use crate::verdict::{vs_drift, vs_persistence, vs_ridge};
        match (&self.test, &self.target) {
            (_, Some(target)) => target.verdicts(),
            (Some(t), None) => {
                let drift = t.vs_drift.is_some().then(|| vs_drift(t));
                [vs_persistence(t), vs_ridge(t)]
                    .into_iter()
                    .chain(drift)
                    .collect()
            }
            (None, None) => Vec::new(),
        }
    }

    /// A metric row's value in one column of this evaluation, as every door shows it: `None`
    /// where it is not available, or not comparable (a legacy record's MASE).
    pub fn metric(&self, row: &MetricRow, metrics: &Metrics) -> Option<f64> {
        if self.is_legacy() && row.label == MASE_LABEL {
            return None;
        }
        (row.value)(metrics).filter(|v| v.is_finite())
    }
}

/// Why a run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Ran every requested epoch.
    Completed,
    /// Validation loss stopped improving for `patience` epochs.
    EarlyStopped,
    /// The user cancelled; the best weights so far are kept, marked cancelled.
    Cancelled,
    /// A training or validation loss was not finite: the run stopped and kept the best weights
    /// of the epochs before.
    Diverged,
}

/// The stream of events one training run emits, in order: `RunStarted`, then `Batch` and
/// `EpochEnd` events, then at most one of `EarlyStopped` / `Cancelled` / `Diverged`, then the
/// walk-forward folds' events wrapped in `Fold`, then `Finished`. A run that fails
/// ends the stream without `Finished`; the failure is the call's error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TrainingEvent {
    RunStarted {
        /// The resolved model configuration, as JSON.
        model_config: serde_json::Value,
        device: String,
        device_reason: String,
        parameters: usize,
        dataset: DatasetSummary,
        epochs: usize,
        batches_per_epoch: usize,
    },
    Batch {
        epoch: usize,
        batch: usize,
        batches: usize,
        loss: f64,
        samples_per_second: f64,
    },
    EpochEnd {
        epoch: usize,
        epochs: usize,
        train_loss: f64,
        val_loss: f64,
        learning_rate: f64,
        elapsed_s: f64,
        eta_s: f64,
        best_epoch: usize,
        best_val_loss: f64,
    },
    EarlyStopped {
        epoch: usize,
        best_epoch: usize,
    },
    Cancelled {
        epoch: usize,
        best_epoch: Option<usize>,
    },
    /// A loss turned non-finite: the run stopped, keeping the best weights of the epochs before.
    Diverged {
        epoch: usize,
        best_epoch: Option<usize>,
        reason: String,
    },
    Finished {
        stop: StopReason,
        epochs_run: usize,
        train_seconds: f64,
        evaluation: Box<Evaluation>,
    },
    /// An event of walk-forward fold `fold` (1-based) of `folds`, trained after the main run.
    Fold {
        fold: usize,
        folds: usize,
        inner: Box<TrainingEvent>,
    },
}

/// How one (architecture, variant) pair did in `atb validate`: trained briefly, registered,
/// reloaded, run and exported with the parity check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairResult {
    pub architecture: Architecture,
    pub variant: Variant,
    pub parameters: usize,
    pub seconds: f64,
    /// Largest |ONNX - native| of the pair's export on its test windows.
    pub onnx_max_abs_diff: Option<f64>,
    /// `ok`, or what failed.
    pub status: String,
}

impl PairResult {
    pub fn ok(&self) -> bool {
        self.status == "ok"
    }
}
