//! Forward tests: a version scored on candles that closed after its data ended, which no
//! training, selection or comparison has seen, with the same metrics, baselines and paired
//! tests as its test split, stored beside that split's results and never mixed with them; and
//! the champion/challenger test between two versions of one series on their common forward
//! windows.

use serde::{Deserialize, Serialize};

use crate::backtest::Backtest;
use crate::training::{Comparison, Metrics, PairedTest};
use crate::verdict::Verdict;

/// Fewest forward windows on which a forward test is scored: the paired tests and the
/// direction test need about 30 non-overlapping windows to mean anything.
pub const FORWARD_MIN_WINDOWS: usize = 30;

/// The scores on the forward windows (present once there are enough of them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForwardEvaluation {
    pub model: Metrics,
    /// Next close = this close.
    pub persistence: Metrics,
    /// Next return = the version's training mean return.
    pub drift: Metrics,
    pub vs_persistence: Comparison,
    pub vs_drift: Comparison,
    /// The forecasts traded after the default costs on the forward periods.
    pub backtest: Option<Backtest>,
}

/// One version's forward test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForwardResult {
    pub version_id: String,
    /// Open time of the last candle the version's data held: every forward target is later.
    pub data_end_ms: i64,
    /// Forward windows found so far, and how many a score needs.
    pub windows: usize,
    pub needed: usize,
    /// Open times of the first and last forward target candle.
    pub first_target_ms: Option<i64>,
    pub last_target_ms: Option<i64>,
    /// RFC 3339, UTC.
    pub tested_at: String,
    /// `None` until `windows` reaches `needed`.
    pub evaluation: Option<ForwardEvaluation>,
}

impl ForwardResult {
    /// One sentence: the verdict against persistence, or how many windows are still missing.
    pub fn sentence(&self) -> String {
        match &self.evaluation {
            Some(e) => format!(
                "forward test on {} windows after the data ended: {}",
                self.windows,
                crate::verdict::verdict("persistence", Some(&e.vs_persistence)).text
            ),
            None => format!(
                "forward test: {} window(s) after the data ended so far; {} needed ({} more)",
                self.windows,
                self.needed,
                self.needed.saturating_sub(self.windows)
            ),
        }
    }
}

/// Champion against challenger: two versions of one series on their common forward windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForwardPair {
    pub first: String,
    pub second: String,
    pub windows: usize,
    /// Diebold-Mariano on absolute price errors, `first` against `second`.
    pub test: Option<PairedTest>,
    pub verdict: Verdict,
}

/// What `atb models forward-test` and the desktop show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForwardReport {
    pub results: Vec<ForwardResult>,
    /// With two versions of the same series: the first (champion) against the second.
    pub pair: Option<ForwardPair>,
}
