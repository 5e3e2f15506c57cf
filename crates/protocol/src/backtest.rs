//! Value after costs: the forecasts of a version used as a trading signal, what that signal
//! would have earned after fees and slippage beside buy-and-hold and the last move's sign, and
//! how much of its Sharpe ratio survives the number of models tried (the deflated Sharpe).
//! The checked settings (`BacktestSpec`) are declared here once for the CLI, the desktop and
//! the engine.

use serde::{Deserialize, Serialize};

/// Binance spot's taker fee, per side, in basis points (0.10%).
pub const DEFAULT_FEE_BPS: f64 = 10.0;
/// Slippage per side in basis points unless told otherwise.
pub const DEFAULT_SLIPPAGE_BPS: f64 = 0.0;
/// Largest fee or slippage per side accepted (10%): beyond it no strategy is worth computing.
pub const MAX_COST_BPS: f64 = 1_000.0;
/// Points of each equity curve kept with a backtest (evenly thinned, the last always kept).
pub const EQUITY_POINTS: usize = 500;

/// Which positions a rule may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Positions {
    /// Long when the signal says up, otherwise out of the market (spot without borrowing).
    LongFlat,
    /// Long when up, short when down.
    LongShort,
}

impl Positions {
    pub fn label(self) -> &'static str {
        match self {
            Self::LongFlat => "long/flat",
            Self::LongShort => "long/short",
        }
    }
}

/// Where a strategy's signal comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalRule {
    /// The sign of the version's forecast.
    Model,
    /// The sign of the last h-bar move (known when the window closes): "the next move is like
    /// the last one".
    LastMoveSign,
    /// Always long.
    BuyAndHold,
}

impl SignalRule {
    pub fn label(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::LastMoveSign => "last move's sign",
            Self::BuyAndHold => "buy and hold",
        }
    }
}

/// Trading costs and rules of a backtest, as typed by a user; `check` makes the only
/// `BacktestSpec` the engine accepts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BacktestSettings {
    /// Fee per side in basis points.
    pub fee_bps: f64,
    /// Slippage per side in basis points.
    pub slippage_bps: f64,
    /// Only long/flat rules (spot without borrowing); otherwise long/short as well.
    pub long_only: bool,
    /// Trade only when |forecast| exceeds the round-trip cost; otherwise stay out.
    pub threshold: bool,
}

impl Default for BacktestSettings {
    fn default() -> Self {
        Self {
            fee_bps: DEFAULT_FEE_BPS,
            slippage_bps: DEFAULT_SLIPPAGE_BPS,
            long_only: false,
            threshold: false,
        }
    }
}

/// The name of a rule in every table and chart: "model long/flat", "buy and hold long/flat".
pub fn rule_label(rule: SignalRule, positions: Positions) -> String {
    format!("{} {}", rule.label(), positions.label())
}

/// Checked backtest settings: only `BacktestSettings::check` makes one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BacktestSpec {
    settings: BacktestSettings,
}

impl BacktestSettings {
    /// Fees and slippage finite and within 0..=`MAX_COST_BPS` per side.
    pub fn check(self) -> Result<BacktestSpec, String> {
        for (name, v) in [("fee", self.fee_bps), ("slippage", self.slippage_bps)] {
            if !v.is_finite() || !(0.0..=MAX_COST_BPS).contains(&v) {
                return Err(format!(
                    "{name} per side must be between 0 and {MAX_COST_BPS} basis points, not {v}"
                ));
            }
        }
        Ok(BacktestSpec { settings: self })
    }
}

impl BacktestSpec {
    pub fn settings(&self) -> BacktestSettings {
        self.settings
    }

    /// Cost per side of one unit of position traded, as a fraction (fee plus slippage).
    pub fn cost_per_side(&self) -> f64 {
        (self.settings.fee_bps + self.settings.slippage_bps) / 1e4
    }

    /// The position rules reported: long/flat, and long/short unless `long_only`.
    pub fn positions(&self) -> Vec<Positions> {
        if self.settings.long_only {
            vec![Positions::LongFlat]
        } else {
            vec![Positions::LongFlat, Positions::LongShort]
        }
    }
}

impl Default for BacktestSpec {
    fn default() -> Self {
        BacktestSettings::default()
            .check()
            .expect("the default backtest settings are valid")
    }
}

/// Moments of a strategy's per-period net returns: what the Sharpe ratio, its standard error and
/// the probabilistic and deflated Sharpe ratios are computed from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReturnMoments {
    pub periods: usize,
    pub mean: f64,
    /// Sample standard deviation.
    pub std: f64,
    pub skewness: f64,
    /// Kurtosis (3 for a normal distribution, not the excess).
    pub kurtosis: f64,
}

/// One rule's result over the backtest's periods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyResult {
    pub rule: SignalRule,
    pub positions: Positions,
    /// Compounded return over all periods, after costs (0.05 = +5%).
    pub total_return: f64,
    /// Compounded return before costs.
    pub gross_return: f64,
    /// Annualised Sharpe ratio of the net per-period returns (no risk-free rate).
    pub sharpe: f64,
    /// Its standard error (Mertens 2002, for skewed and fat-tailed returns), annualised.
    pub sharpe_se: f64,
    /// Largest fall of the equity curve from a previous peak (0.2 = -20%).
    pub max_drawdown: f64,
    /// Position units traded per period on average (entering and leaving count one each).
    pub turnover: f64,
    /// Share of periods with a position.
    pub exposure: f64,
    /// Share of periods in the market whose gross return was positive; `None` when never in.
    pub hit_rate: Option<f64>,
    /// Position changes, the final exit included.
    pub trades: usize,
    /// Probabilistic Sharpe ratio: the probability that the true Sharpe exceeds 0 (Bailey and
    /// López de Prado 2012); `None` when the returns have no variance.
    pub probabilistic_sharpe: Option<f64>,
    pub moments: ReturnMoments,
    /// Equity (starting at 1) at `Backtest::equity_times_ms`.
    pub equity: Vec<f64>,
}

/// A version's forecasts traded on one set of windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backtest {
    pub spec: BacktestSpec,
    pub horizon: usize,
    /// Non-overlapping holding periods of h bars each.
    pub periods: usize,
    pub periods_per_year: f64,
    /// Open time of the first period's entry candle and of the last period's exit candle.
    pub first_open_ms: i64,
    pub last_open_ms: i64,
    /// When each kept equity point was reached (the exit candle's open time).
    pub equity_times_ms: Vec<i64>,
    pub strategies: Vec<StrategyResult>,
}

impl Backtest {
    /// The model's result under `positions`.
    pub fn model(&self, positions: Positions) -> Option<&StrategyResult> {
        self.strategies
            .iter()
            .find(|s| s.rule == SignalRule::Model && s.positions == positions)
    }
}

/// The deflated Sharpe ratio (Bailey and López de Prado 2014): the probability that the model's
/// true Sharpe exceeds the best Sharpe that `trials` unskilled strategies would show by luck.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DeflatedSharpe {
    /// Models tried on this series (versions in the registry for its symbol and timeframe).
    pub trials: usize,
    /// Variance of the per-period Sharpe ratio across trials.
    pub sharpe_variance: f64,
    /// True when `sharpe_variance` comes from the trials' own backtests (two or more); false
    /// when it is the estimator's variance under the null, 1 / (periods - 1).
    pub variance_from_trials: bool,
    /// The expected maximum per-period Sharpe of `trials` unskilled strategies.
    pub threshold: f64,
    pub probability: f64,
}

/// What `atb backtest` and the desktop's model detail show: a backtest of one version with the
/// deflated Sharpe of its model rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestReport {
    pub version_id: String,
    pub backtest: Backtest,
    /// One per model rule, in the order of `Backtest::strategies`' model rows.
    pub deflated: Vec<(Positions, Option<DeflatedSharpe>)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_once() {
        assert!(BacktestSettings::default().check().is_ok());
        let bad = BacktestSettings {
            fee_bps: -1.0,
            ..Default::default()
        };
        assert!(bad.check().unwrap_err().contains("fee per side"));
        let bad = BacktestSettings {
            slippage_bps: f64::NAN,
            ..Default::default()
        };
        assert!(bad.check().unwrap_err().contains("slippage"));
        let spec = BacktestSpec::default();
        assert!((spec.cost_per_side() - 0.001).abs() < 1e-15);
        assert_eq!(spec.positions().len(), 2);
    }
}
