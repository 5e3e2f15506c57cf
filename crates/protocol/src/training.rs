//! Training events and evaluation results: what the engine streams while training and stores
//! with every model, and what the CLI and the UI show.

use serde::{Deserialize, Serialize};

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
    pub source: String,
    pub symbol: String,
    pub timeframe: String,
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
    /// Share of windows whose predicted direction matched the actual one; `None` when the
    /// predictor never predicts a direction (persistence) .
    pub directional_accuracy: Option<f64>,
    /// Pesaran-Timmermann statistic and its one-sided p-value; `None` for constant forecasts.
    pub pt_statistic: Option<f64>,
    pub pt_p_value: Option<f64>,
    /// 1 - MAE / MAE of persistence, in price space (> 0 beats persistence).
    pub skill_vs_persistence: f64,
    /// MAE over the in-sample MAE of the naive forecast on the training split (< 1 beats it).
    pub mase: f64,
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
}

/// Mean and standard deviation of one metric over walk-forward folds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub mean: f64,
    pub std: f64,
}

/// Walk-forward evaluation (expanding window, scalers refit per fold).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalkForward {
    pub folds: usize,
    pub model_mae_usd: Spread,
    pub model_rmse_usd: Spread,
    pub persistence_mae_usd: Spread,
    pub skill_vs_persistence: Spread,
    pub directional_accuracy: Spread,
}

/// Everything measured about a trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub test: SplitEvaluation,
    pub validation: SplitEvaluation,
    pub walk_forward: Option<WalkForward>,
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
}

/// The stream of events one training run emits, in order: `RunStarted`, then `Batch` and
/// `EpochEnd` events, then at most one of `EarlyStopped` / `Cancelled`, then `Finished` (or
/// `Failed`).
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
    Finished {
        stop: StopReason,
        epochs_run: usize,
        train_seconds: f64,
        evaluation: Box<Evaluation>,
    },
    Failed {
        message: String,
    },
}
