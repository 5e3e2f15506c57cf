//! What an evaluation says about the volatility and direction targets: each target's scores on
//! its own losses for the model and for the baselines its field uses, on the same test windows,
//! with paired tests on the target's loss (QLIKE for volatility, log loss for direction).

use serde::{Deserialize, Serialize};

use crate::training::{PairedTest, SkillInterval};

/// A forecast against one baseline on the target's own loss, on the same windows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossComparison {
    /// Diebold-Mariano on the loss differential (negative statistic: the model's loss is lower).
    pub test: Option<PairedTest>,
    /// `1 - Σ loss(model) / Σ loss(baseline)` with its block-bootstrap interval.
    pub skill: Option<SkillInterval>,
}

/// The regression of realised on forecast variance: an unbiased forecast has intercept 0 and
/// slope 1; R² is the share of the variation it explains.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MincerZarnowitzFit {
    pub intercept: f64,
    pub slope: f64,
    pub r_squared: f64,
}

/// Scores of volatility forecasts on the variance scale.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VolatilityScores {
    /// Mean QLIKE (0 for a perfect forecast).
    pub qlike: f64,
    /// Mean squared error of the variance.
    pub mse_variance: f64,
    pub mincer_zarnowitz: Option<MincerZarnowitzFit>,
}

/// A volatility model's test split beside persistence, EWMA and HAR-RV.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolatilityEvaluation {
    pub windows: usize,
    pub model: VolatilityScores,
    /// The realised volatility of the last h bars.
    pub persistence: VolatilityScores,
    /// EWMA with RiskMetrics' decay (0.94).
    pub ewma: VolatilityScores,
    /// EWMA with the decay the validation split chose, and that decay.
    pub ewma_validated: VolatilityScores,
    pub ewma_decay: f64,
    /// HAR-RV fitted on the training split; `None` when the training split holds too few
    /// windows with a month of history.
    pub har: Option<VolatilityScores>,
    /// Intercept, day, week and month coefficients of the log HAR-RV.
    pub har_coefficients: Option<[f64; 4]>,
    /// The HAR spans in bars: a day, a week and a month of this timeframe.
    pub har_spans: [usize; 3],
    pub vs_persistence: Option<LossComparison>,
    pub vs_ewma: Option<LossComparison>,
    pub vs_har: Option<LossComparison>,
}

/// Scores of probability forecasts of an up move.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DirectionScores {
    pub log_loss: f64,
    pub brier: f64,
    /// Murphy's decomposition of the Brier score over ten probability bins.
    pub reliability: f64,
    pub resolution: f64,
    pub uncertainty: f64,
    /// Share of windows where the forecast's side of 0.5 was right.
    pub accuracy: f64,
}

/// One row of a reliability (calibration) table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityRow {
    pub low: f64,
    pub high: f64,
    pub windows: usize,
    pub mean_forecast: f64,
    pub observed: f64,
}

/// A direction model's test split beside climatology and the last move.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectionEvaluation {
    pub windows: usize,
    /// Share of up moves among the test windows.
    pub up_share: f64,
    pub model: DirectionScores,
    /// The training split's share of ups.
    pub climatology: DirectionScores,
    /// The training split's share of ups after an up, and after a down, last move.
    pub last_move: DirectionScores,
    /// The model's reliability table.
    pub reliability_table: Vec<ReliabilityRow>,
    pub vs_climatology: Option<LossComparison>,
    pub vs_last_move: Option<LossComparison>,
}
