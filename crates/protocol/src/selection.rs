//! Judging many models at once without declaring winners on noise: Holm's adjustment of the
//! p-values of the comparisons shown together, and the model confidence set of Hansen, Lunde and
//! Nason (2011) as the engine reports it. Pure and declared once: the engine, the CLI, `atb
//! bench` and the desktop's Compare and guide use these.

use serde::{Deserialize, Serialize};

/// Level of the model confidence set: the set keeps the best model with probability 90%.
pub const MCS_ALPHA: f64 = 0.10;

/// Holm's (1979) step-down adjustment of `p_values` (in any order; NaN stays NaN and is not
/// counted): the k-th smallest of m becomes max over j <= k of min(1, (m - j + 1) p_(j)), so a
/// comparison is significant at level a after adjustment exactly when Holm's procedure rejects
/// it at a, and the family-wise error rate is held at a.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..p_values.len())
        .filter(|&i| p_values[i].is_finite())
        .collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let m = order.len();
    let mut adjusted = vec![f64::NAN; p_values.len()];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        let value = ((m - rank) as f64 * p_values[i]).min(1.0);
        running = running.max(value);
        adjusted[i] = running;
    }
    adjusted
}

/// The statistic that decides which model leaves the set (Hansen, Lunde and Nason 2011, §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum McsStatistic {
    /// T_max: each model's mean loss against the average of the set, standardised; the worst
    /// leaves.
    Max,
    /// T_R: the largest standardised pairwise difference; the model worst against any other
    /// leaves.
    Range,
}

impl McsStatistic {
    pub fn label(self) -> &'static str {
        match self {
            Self::Max => "T_max",
            Self::Range => "T_R",
        }
    }
}

/// One model's place in a model confidence set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McsMember {
    pub name: String,
    pub mean_loss: f64,
    /// The MCS p-value: the model is in the (1 - a) set exactly when this is at least a.
    pub p_value: f64,
    pub in_set: bool,
}

/// The model confidence set over models scored on the same windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfidenceSet {
    pub statistic: McsStatistic,
    pub alpha: f64,
    /// Which loss the models were ranked on, in words ("absolute price error").
    pub loss: String,
    pub windows: usize,
    pub block_length: usize,
    pub resamples: usize,
    /// In the order the models were given.
    pub members: Vec<McsMember>,
}

impl ModelConfidenceSet {
    /// The names of the models in the set.
    pub fn kept(&self) -> Vec<&str> {
        self.members
            .iter()
            .filter(|m| m.in_set)
            .map(|m| m.name.as_str())
            .collect()
    }

    /// One sentence: which models the data cannot tell from the best.
    pub fn sentence(&self) -> String {
        let kept = self.kept();
        format!(
            "{:.0}% model confidence set ({}, {} windows, blocks of {}): {} of {} models cannot \
             be told from the best: {}",
            100.0 * (1.0 - self.alpha),
            self.statistic.label(),
            self.windows,
            self.block_length,
            kept.len(),
            self.members.len(),
            kept.join(", ")
        )
    }
}

/// Several versions judged together on their common test windows: the model confidence set
/// over the versions and the persistence and drift baselines, and each version's verdicts with
/// Holm's adjustment across every comparison shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgedComparison {
    pub windows: usize,
    pub model_confidence_set: Option<ModelConfidenceSet>,
    /// In the order the versions were given.
    pub verdicts: Vec<JudgedVersion>,
    /// Paired tests in the Holm family.
    pub tests_adjusted: usize,
}

/// One version's adjusted verdicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgedVersion {
    pub version_id: String,
    pub vs_persistence: crate::verdict::Verdict,
    pub vs_drift: crate::verdict::Verdict,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holm_matches_a_hand_computation() {
        // Sorted: 0.01, 0.02, 0.03, 0.04 (m = 4): 4·0.01 = 0.04, 3·0.02 = 0.06, 2·0.03 = 0.06,
        // 1·0.04 = 0.04 -> running maximum 0.04, 0.06, 0.06, 0.06.
        let adjusted = holm(&[0.03, 0.01, 0.04, 0.02]);
        let expected = [0.06, 0.04, 0.06, 0.06];
        for (a, e) in adjusted.iter().zip(expected) {
            assert!((a - e).abs() < 1e-12, "{adjusted:?}");
        }
        // Capped at 1, NaN untouched and not counted in m.
        let adjusted = holm(&[0.5, f64::NAN, 0.6]);
        assert!((adjusted[0] - 1.0).abs() < 1e-12 && (adjusted[2] - 1.0).abs() < 1e-12);
        assert!(adjusted[1].is_nan());
        assert!(holm(&[]).is_empty());
        // Same as R: p.adjust(c(0.001, 0.2, 0.012, 0.04), "holm") = 0.004 0.200 0.036 0.080.
        let r = holm(&[0.001, 0.2, 0.012, 0.04]);
        for (a, e) in r.iter().zip([0.004, 0.2, 0.036, 0.08]) {
            assert!((a - e).abs() < 1e-12, "{r:?}");
        }
    }
}
