//! What an evaluation says about the volatility and direction targets: each target's scores on
//! its own losses for the model and for the baselines its field uses, on the same test windows,
//! with paired tests on the target's loss (QLIKE for volatility, log loss for direction).

use serde::{Deserialize, Serialize};

use crate::selection::holm;
use crate::training::{PairedTest, SkillInterval};
use crate::verdict::{Verdict, VerdictKind, verdict_with};
use crate::vocab::Target;

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
    /// Ridge on log RV over the same flattened windows as the return target's ridge (its
    /// penalty chosen on validation, the model's smearing correction applied).
    #[serde(default)]
    pub ridge: Option<VolatilityScores>,
    #[serde(default)]
    pub vs_ridge: Option<LossComparison>,
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
    /// Logistic regression on the last bars of each window (L2 penalty chosen on validation).
    #[serde(default)]
    pub logistic: Option<DirectionScores>,
    #[serde(default)]
    pub vs_logistic: Option<LossComparison>,
}

/// The baselines a target's model is judged against, in the order of its verdicts (the return
/// target's are persistence, ridge and drift; see `training::Evaluation::verdicts`).
pub fn baselines(target: Target) -> &'static [&'static str] {
    match target {
        Target::Return => &["persistence", "ridge", "drift"],
        Target::Volatility => &["RV persistence", "EWMA (0.94)", "HAR-RV", "ridge on log RV"],
        Target::Direction => &["climatology", "last move", "logistic"],
    }
}

/// The record of a volatility or direction model's evaluation (the return target's is the
/// split evaluations beside it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetEvaluation {
    Volatility(Box<VolatilityEvaluation>),
    Direction(Box<DirectionEvaluation>),
}

impl TargetEvaluation {
    /// The target this record scored.
    pub fn target(&self) -> Target {
        match self {
            Self::Volatility(_) => Target::Volatility,
            Self::Direction(_) => Target::Direction,
        }
    }

    /// Test windows scored.
    pub fn windows(&self) -> usize {
        match self {
            Self::Volatility(v) => v.windows,
            Self::Direction(d) => d.windows,
        }
    }

    /// The model against each of the target's baselines: the baseline's name and the paired
    /// test on the target's own loss, in the order every door shows them.
    pub fn comparisons(&self) -> Vec<(&'static str, Option<LossComparison>)> {
        let tests = match self {
            Self::Volatility(v) => vec![v.vs_persistence, v.vs_ewma, v.vs_har, v.vs_ridge],
            Self::Direction(d) => vec![d.vs_climatology, d.vs_last_move, d.vs_logistic],
        };
        baselines(self.target())
            .iter()
            .copied()
            .zip(tests)
            .collect()
    }

    /// The loss the verdicts compare.
    pub fn loss_name(&self) -> &'static str {
        match self {
            Self::Volatility(_) => "QLIKE",
            Self::Direction(_) => "log loss",
        }
    }

    /// One verdict per baseline, judged together: Holm's adjustment over the baselines that
    /// have a test, so "better than one of three" is not claimed from luck.
    pub fn verdicts(&self) -> Vec<Verdict> {
        let comparisons = self.comparisons();
        let p: Vec<f64> = comparisons
            .iter()
            .map(|(_, c)| c.and_then(|c| c.test).map_or(f64::NAN, |t| t.p_value))
            .collect();
        let adjusted = holm(&p);
        comparisons
            .iter()
            .zip(adjusted)
            .map(|((name, c), adjusted)| {
                let mut v = verdict_with(
                    name,
                    c.as_ref().and_then(|c| c.test.as_ref()),
                    c.as_ref().and_then(|c| c.skill.as_ref()),
                    Some(adjusted),
                );
                if v.kind != VerdictKind::NotComputed {
                    v.text = format!("{} on {}", v.text, self.loss_name());
                }
                v
            })
            .collect()
    }
}

/// A target evaluation as one table, the same in every door: the forecasts' names as columns
/// (the model first), the target's scores as rows.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetTable {
    pub columns: Vec<String>,
    pub rows: Vec<TargetTableRow>,
}

/// One score for every column (`None` where a forecast has none, e.g. HAR-RV without a month of
/// history), shown with `digits` decimals.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetTableRow {
    pub label: &'static str,
    pub values: Vec<Option<f64>>,
    pub digits: usize,
}

impl TargetEvaluation {
    /// The scores of the model and every baseline, as every door shows them.
    pub fn table(&self) -> TargetTable {
        fn row<T>(
            label: &'static str,
            digits: usize,
            cells: &[Option<&T>],
            value: impl Fn(&T) -> Option<f64>,
        ) -> TargetTableRow {
            TargetTableRow {
                label,
                values: cells
                    .iter()
                    .map(|c| c.and_then(&value).filter(|v| v.is_finite()))
                    .collect(),
                digits,
            }
        }
        match self {
            Self::Volatility(v) => {
                let cells = [
                    Some(&v.model),
                    Some(&v.persistence),
                    Some(&v.ewma),
                    Some(&v.ewma_validated),
                    v.har.as_ref(),
                    v.ridge.as_ref(),
                ];
                let mz = |s: &VolatilityScores| s.mincer_zarnowitz;
                TargetTable {
                    columns: vec![
                        "model".into(),
                        "RV persistence".into(),
                        "EWMA (0.94)".into(),
                        format!("EWMA ({}, validated)", v.ewma_decay),
                        "HAR-RV".into(),
                        "ridge on log RV".into(),
                    ],
                    rows: vec![
                        row("QLIKE", 4, &cells, |s| Some(s.qlike)),
                        row("MSE of variance", 10, &cells, |s| Some(s.mse_variance)),
                        row("Mincer-Zarnowitz R²", 3, &cells, |s| {
                            mz(s).map(|m| m.r_squared)
                        }),
                        row("Mincer-Zarnowitz slope", 3, &cells, |s| {
                            mz(s).map(|m| m.slope)
                        }),
                    ],
                }
            }
            Self::Direction(d) => {
                let cells = [
                    Some(&d.model),
                    Some(&d.climatology),
                    Some(&d.last_move),
                    d.logistic.as_ref(),
                ];
                TargetTable {
                    columns: vec![
                        "model".into(),
                        "climatology".into(),
                        "last move".into(),
                        "logistic".into(),
                    ],
                    rows: vec![
                        row("log loss", 4, &cells, |s| Some(s.log_loss)),
                        row("Brier score", 4, &cells, |s| Some(s.brier)),
                        row("Brier reliability", 5, &cells, |s| Some(s.reliability)),
                        row("Brier resolution", 5, &cells, |s| Some(s.resolution)),
                        row("accuracy at 0.5", 3, &cells, |s| Some(s.accuracy)),
                    ],
                }
            }
        }
    }
}

/// A version's forecast from the latest window, in its target's units (flattened into the
/// forecast's JSON beside a `target` key).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "target", rename_all = "snake_case")]
pub enum Prediction {
    /// The close h bars ahead, and the log return to it.
    Return {
        predicted_log_return: f64,
        predicted_close: f64,
    },
    /// The realised volatility of the next h bars: in log-return units, and in price units
    /// (times the last close: the typical size of the move, not its sign).
    Volatility {
        predicted_volatility: f64,
        predicted_volatility_price: f64,
    },
    /// The probability that the close h bars ahead is above the last close.
    Direction { up_probability: f64 },
}

impl Prediction {
    /// The forecast of a model of `target` whose raw output, unscaled, is `value` (a log
    /// return, a log realised volatility or a logit), after a last close of `last_close`.
    pub fn from_output(target: Target, value: f64, last_close: f64) -> Self {
        let forecast = target.forecast_of_output(value);
        match target {
            Target::Return => Self::Return {
                predicted_log_return: forecast,
                predicted_close: last_close * forecast.exp(),
            },
            Target::Volatility => Self::Volatility {
                predicted_volatility: forecast,
                predicted_volatility_price: last_close * forecast,
            },
            Target::Direction => Self::Direction {
                up_probability: forecast,
            },
        }
    }

    pub fn target(&self) -> Target {
        match self {
            Self::Return { .. } => Target::Return,
            Self::Volatility { .. } => Target::Volatility,
            Self::Direction { .. } => Target::Direction,
        }
    }

    /// Every number is finite (a model that outputs NaN or infinity is broken).
    pub fn is_finite(&self) -> bool {
        match *self {
            Self::Return {
                predicted_log_return,
                predicted_close,
            } => predicted_log_return.is_finite() && predicted_close.is_finite(),
            Self::Volatility {
                predicted_volatility,
                predicted_volatility_price,
            } => predicted_volatility.is_finite() && predicted_volatility_price.is_finite(),
            Self::Direction { up_probability } => up_probability.is_finite(),
        }
    }

    /// The forecast in words, as every door says it: `close 42010.50 (+0.025%)`, `realised
    /// volatility 0.85% (361.20 in price)`, `probability of an up move 53.1%`.
    pub fn sentence(&self, last_close: f64) -> String {
        match *self {
            Self::Return {
                predicted_close, ..
            } => format!(
                "close {predicted_close:.2} ({:+.3}% from the last close {last_close:.2})",
                100.0 * (predicted_close / last_close - 1.0)
            ),
            Self::Volatility {
                predicted_volatility,
                predicted_volatility_price,
            } => format!(
                "realised volatility {:.3}% ({predicted_volatility_price:.2} in price at the last close {last_close:.2})",
                100.0 * predicted_volatility
            ),
            Self::Direction { up_probability } => format!(
                "probability of a close above the last close {last_close:.2}: {:.1}%",
                100.0 * up_probability
            ),
        }
    }
}
