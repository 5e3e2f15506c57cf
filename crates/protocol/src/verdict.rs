//! The one verdict function: what a stored comparison says about a model against a baseline, in
//! the same words in the CLI, the desktop screens, the selection guide and `atb bench`. Colours
//! and highlighting follow `VerdictKind`, never the sign of a point estimate.
//!
//! A model is "better" or "worse" only when the Diebold-Mariano test on absolute errors rejects
//! equal accuracy at 5% (two-sided), after Holm's adjustment where several comparisons are
//! judged together; the direction is that of the mean loss difference. The Pesaran-Timmermann
//! direction test is one-sided and judged at the same 5%.

use serde::{Deserialize, Serialize};

use crate::training::{Comparison, PairedTest, SkillInterval, SplitEvaluation};

/// Two-sided significance level of every verdict.
pub const SIGNIFICANCE_LEVEL: f64 = 0.05;

/// What a verdict says, for colours and sorting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    Better,
    NoDifference,
    Worse,
    /// The record predates the test, or the test was undefined (e.g. identical forecasts).
    NotComputed,
}

/// A verdict and its sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub kind: VerdictKind,
    pub text: String,
}

/// `0.012`, `0.50`, `< 0.001`: about two significant figures, no false precision near zero.
pub fn format_p(p: f64) -> String {
    if !p.is_finite() {
        "n/a".into()
    } else if p < 0.001 {
        "< 0.001".into()
    } else if p < 0.1 {
        format!("{p:.3}")
    } else {
        format!("{p:.2}")
    }
}

/// A share as a signed percentage: `+0.8%`, `-12.3%`.
pub fn format_signed_pct(x: f64) -> String {
    format!("{:+.1}%", 100.0 * x)
}

fn p_phrase(p: f64) -> String {
    match format_p(p).strip_prefix("< ") {
        Some(bound) => format!("p < {bound}"),
        None => format!("p = {}", format_p(p)),
    }
}

fn skill_phrase(skill: &SkillInterval) -> String {
    format!(
        "skill {}, 95% CI {} to {}",
        format_signed_pct(skill.skill),
        format_signed_pct(skill.lower),
        format_signed_pct(skill.upper)
    )
}

/// The verdict of a paired test of the model against `baseline` (a name such as
/// "persistence", "ridge" or "cnn_lstm"), with the skill interval when one was computed.
pub fn verdict_of(
    baseline: &str,
    test: Option<&PairedTest>,
    skill: Option<&SkillInterval>,
) -> Verdict {
    verdict_with(baseline, test, skill, None)
}

/// As [`verdict_of`], deciding on `adjusted_p` (Holm's adjustment across the comparisons shown
/// together, see [`crate::selection::holm`]) when given; the sentence names the adjustment.
/// Every sentence carries the skill interval when there is one, "no significant difference"
/// included: that is where it tells "tightly equal" from "cannot tell".
pub fn verdict_with(
    baseline: &str,
    test: Option<&PairedTest>,
    skill: Option<&SkillInterval>,
    adjusted_p: Option<f64>,
) -> Verdict {
    let Some(t) = test.filter(|t| t.p_value.is_finite()) else {
        return Verdict {
            kind: VerdictKind::NotComputed,
            text: format!("against {baseline}: not computed"),
        };
    };
    let (p, p_text) = match adjusted_p.filter(|p| p.is_finite()) {
        Some(p) => (p, format!("DM {}, Holm-adjusted", p_phrase(p))),
        None => (t.p_value, format!("DM {}", p_phrase(t.p_value))),
    };
    let detail = match skill {
        Some(s) => format!("{p_text}; {}", skill_phrase(s)),
        None => p_text,
    };
    let significant = p < SIGNIFICANCE_LEVEL;
    let (kind, text) = if significant && t.mean_loss_difference < 0.0 {
        (
            VerdictKind::Better,
            format!("better than {baseline} ({detail})"),
        )
    } else if significant {
        (
            VerdictKind::Worse,
            format!("worse than {baseline} ({detail})"),
        )
    } else {
        (
            VerdictKind::NoDifference,
            format!("no significant difference from {baseline} ({detail})"),
        )
    };
    Verdict { kind, text }
}

/// The verdict of a stored comparison (the absolute-error test and the skill interval), with
/// the Clark-West test beside it when the baseline is nested in the model.
pub fn verdict(baseline: &str, comparison: Option<&Comparison>) -> Verdict {
    let mut v = verdict_of(
        baseline,
        comparison.and_then(|c| c.absolute.as_ref()),
        comparison.and_then(|c| c.skill.as_ref()),
    );
    if let Some(cw) = comparison.and_then(|c| c.clark_west.as_ref())
        && v.kind != VerdictKind::NotComputed
    {
        v.text = format!(
            "{}; Clark-West on squared return errors {}",
            v.text,
            p_phrase(cw.p_value)
        );
    }
    v
}

/// The model against persistence on a split.
pub fn vs_persistence(split: &SplitEvaluation) -> Verdict {
    verdict("persistence", split.vs_persistence.as_ref())
}

/// The model against ridge on a split.
pub fn vs_ridge(split: &SplitEvaluation) -> Verdict {
    verdict("ridge", split.vs_ridge.as_ref())
}

/// The model against drift (the training mean return) on a split.
pub fn vs_drift(split: &SplitEvaluation) -> Verdict {
    verdict("drift", split.vs_drift.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(p: f64, d: f64) -> PairedTest {
        PairedTest {
            statistic: if d < 0.0 { -2.5 } else { 2.5 },
            p_value: p,
            mean_loss_difference: d,
            n: 300,
            kernel: Some(crate::training::VarianceKernel::Rectangular),
        }
    }

    #[test]
    fn the_three_sentences_and_not_computed() {
        let skill = SkillInterval {
            skill: 0.008,
            lower: 0.002,
            upper: 0.014,
            block_length: 7,
            resamples: 2000,
        };
        let v = verdict_of("persistence", Some(&test(0.012, -1.0)), Some(&skill));
        assert_eq!(v.kind, VerdictKind::Better);
        assert_eq!(
            v.text,
            "better than persistence (DM p = 0.012; skill +0.8%, 95% CI +0.2% to +1.4%)"
        );
        let v = verdict_of("persistence", Some(&test(0.5, -1.0)), Some(&skill));
        assert_eq!(v.kind, VerdictKind::NoDifference);
        assert_eq!(
            v.text,
            "no significant difference from persistence (DM p = 0.50; skill +0.8%, 95% CI +0.2% \
             to +1.4%)"
        );
        let v = verdict_of("ridge", Some(&test(0.0004, 2.0)), None);
        assert_eq!(v.kind, VerdictKind::Worse);
        assert_eq!(v.text, "worse than ridge (DM p < 0.001)");
        // Holm's adjusted p decides when given, and the sentence says so.
        let v = verdict_with("persistence", Some(&test(0.012, -1.0)), None, Some(0.048));
        assert_eq!(v.kind, VerdictKind::Better);
        assert_eq!(
            v.text,
            "better than persistence (DM p = 0.048, Holm-adjusted)"
        );
        let v = verdict_with("persistence", Some(&test(0.012, -1.0)), None, Some(0.07));
        assert_eq!(v.kind, VerdictKind::NoDifference);
        let v = verdict("persistence", None);
        assert_eq!(v.kind, VerdictKind::NotComputed);
        // A positive point estimate with p >= 0.05 is not "better".
        let v = verdict_of("persistence", Some(&test(0.06, -3.0)), Some(&skill));
        assert_eq!(v.kind, VerdictKind::NoDifference);
    }

    #[test]
    fn p_values_print_without_false_precision() {
        assert_eq!(format_p(0.5), "0.50");
        assert_eq!(format_p(0.012_34), "0.012");
        assert_eq!(format_p(0.0004), "< 0.001");
        assert_eq!(format_p(f64::NAN), "n/a");
    }
}
