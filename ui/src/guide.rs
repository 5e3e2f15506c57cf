//! Guide screen: the original system's model selection guide, rewritten so each claim stands beside
//! the numbers measured in this registry, and a claim the measurements contradict is withdrawn
//! rather than shown.

use std::collections::BTreeMap;

use atb_protocol::bench::BenchReport;
use atb_protocol::registry::ModelRow;
use atb_protocol::vocab::{Architecture, Variant};
use egui::{RichText, Ui};

use atb_protocol::verdict::VerdictKind;

use crate::widgets::{ERROR_RED, GOOD_GREEN, duration, num};

/// Means over the registered runs of one (architecture, variant).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupStats {
    pub runs: usize,
    pub skill: f64,
    pub directional_accuracy: Option<f64>,
    pub train_seconds: f64,
    pub parameters: u64,
}

pub type Measured = BTreeMap<(Architecture, Variant), GroupStats>;

/// Groups rows with test metrics by (architecture, variant). Skill vs persistence is the accuracy
/// figure because it compares across symbols and timeframes; MAE in USD does not.
pub fn measure(rows: &[ModelRow]) -> Measured {
    let mut acc: BTreeMap<(Architecture, Variant), Vec<&ModelRow>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.skill_vs_persistence.is_some()) {
        acc.entry((r.architecture, r.variant)).or_default().push(r);
    }
    acc.into_iter()
        .map(|(k, rs)| {
            let n = rs.len() as f64;
            let das: Vec<f64> = rs.iter().filter_map(|r| r.directional_accuracy).collect();
            let stats = GroupStats {
                runs: rs.len(),
                skill: rs
                    .iter()
                    .filter_map(|r| r.skill_vs_persistence)
                    .sum::<f64>()
                    / n,
                directional_accuracy: (!das.is_empty())
                    .then(|| das.iter().sum::<f64>() / das.len() as f64),
                train_seconds: rs.iter().map(|r| r.train_seconds).sum::<f64>() / n,
                parameters: rs.iter().map(|r| r.parameters).max().unwrap_or(0),
            };
            (k, stats)
        })
        .collect()
}

/// What the measurements say about one claim.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Supported; the numbers that show it.
    Supported(String),
    /// Contradicted; the numbers that refute it.
    Contradicted(String),
    /// Not measured yet; what to train to find out, and the pairs that would measure it.
    Unmeasured(String, Vec<(Architecture, Variant)>),
}

pub struct Claim {
    pub when: &'static str,
    pub advice: &'static str,
    pub verdict: Verdict,
}

fn get(m: &Measured, arch: Architecture, variant: Variant) -> Option<&GroupStats> {
    m.get(&(arch, variant))
}

fn need(pairs: &[(Architecture, Variant)]) -> Verdict {
    Verdict::Unmeasured(
        format!(
            "train {} to measure this",
            pairs
                .iter()
                .map(|(a, v)| format!("{a} {v}"))
                .collect::<Vec<_>>()
                .join(" and ")
        ),
        pairs.to_vec(),
    )
}

fn describe(arch: Architecture, variant: Variant, s: &GroupStats) -> String {
    format!(
        "{arch} {variant}: skill {} over {} run(s), direction {}, {} to train, {} parameters",
        num(s.skill, 4),
        s.runs,
        s.directional_accuracy
            .map_or_else(|| "-".into(), |d| format!("{:.1}%", 100.0 * d)),
        duration(s.train_seconds),
        s.parameters
    )
}

/// The original guide's claims, each judged against `m`.
pub fn claims(m: &Measured) -> Vec<Claim> {
    let mut out = Vec::new();

    // "Maximum accuracy → Attention-LSTM deep."
    let verdict = match get(m, Architecture::AttentionLstm, Variant::Deep) {
        None => need(&[(Architecture::AttentionLstm, Variant::Deep)]),
        Some(s) => {
            let best = m
                .iter()
                .max_by(|a, b| a.1.skill.total_cmp(&b.1.skill))
                .map(|((a, v), b)| (*a, *v, b.clone()));
            match best {
                Some((a, v, b)) if (a, v) != (Architecture::AttentionLstm, Variant::Deep) => {
                    Verdict::Contradicted(format!(
                        "{}; the best is {}",
                        describe(Architecture::AttentionLstm, Variant::Deep, s),
                        describe(a, v, &b)
                    ))
                }
                _ => Verdict::Supported(describe(Architecture::AttentionLstm, Variant::Deep, s)),
            }
        }
    };
    out.push(Claim {
        when: "Maximum accuracy",
        advice: "attention_lstm deep has the best skill against persistence of everything measured.",
        verdict,
    });

    // "Balanced → Attention-LSTM default" (claimed −15% MAE at about 110% of CNN-LSTM's time).
    let verdict = match (
        get(m, Architecture::AttentionLstm, Variant::Default),
        get(m, Architecture::CnnLstm, Variant::Default),
    ) {
        (Some(a), Some(c)) => {
            let text = format!(
                "{}; {}",
                describe(Architecture::AttentionLstm, Variant::Default, a),
                describe(Architecture::CnnLstm, Variant::Default, c)
            );
            if a.skill > c.skill && a.train_seconds <= 1.5 * c.train_seconds {
                Verdict::Supported(text)
            } else {
                Verdict::Contradicted(text)
            }
        }
        _ => need(&[
            (Architecture::AttentionLstm, Variant::Default),
            (Architecture::CnnLstm, Variant::Default),
        ]),
    };
    out.push(Claim {
        when: "A balanced default",
        advice: "attention_lstm default beats the cnn_lstm baseline for at most 1.5× its training time.",
        verdict,
    });

    // "Fast experiments / real time → TCN, 3–5× faster with similar accuracy."
    let verdict = match (
        get(m, Architecture::Tcn, Variant::Default),
        get(m, Architecture::CnnLstm, Variant::Default),
    ) {
        (Some(t), Some(c)) => {
            let text = format!(
                "{}; {}",
                describe(Architecture::Tcn, Variant::Default, t),
                describe(Architecture::CnnLstm, Variant::Default, c)
            );
            if t.train_seconds * 2.0 <= c.train_seconds && (t.skill - c.skill).abs() <= 0.01 {
                Verdict::Supported(text)
            } else {
                Verdict::Contradicted(text)
            }
        }
        _ => need(&[
            (Architecture::Tcn, Variant::Default),
            (Architecture::CnnLstm, Variant::Default),
        ]),
    };
    out.push(Claim {
        when: "Speed",
        advice: "tcn trains at least twice as fast as cnn_lstm with skill within 0.01.",
        verdict,
    });

    // "Resource-constrained → TCN lightweight."
    let verdict = match get(m, Architecture::Tcn, Variant::Lightweight) {
        None => need(&[(Architecture::Tcn, Variant::Lightweight)]),
        Some(t) => {
            // Among networks: a tree model's leaf count is not a parameter count.
            let smallest = m
                .iter()
                .filter(|((a, _), _)| a.is_network())
                .min_by_key(|(_, s)| s.parameters);
            match smallest {
                Some(((a, v), s)) if s.parameters < t.parameters => Verdict::Contradicted(format!(
                    "{}; smaller: {}",
                    describe(Architecture::Tcn, Variant::Lightweight, t),
                    describe(*a, *v, s)
                )),
                _ => Verdict::Supported(describe(Architecture::Tcn, Variant::Lightweight, t)),
            }
        }
    };
    out.push(Claim {
        when: "Little memory",
        advice: "tcn lightweight is the smallest model measured.",
        verdict,
    });

    // "TCN + attention is the best of both."
    let verdict = match (
        get(m, Architecture::TcnAttention, Variant::Default),
        get(m, Architecture::Tcn, Variant::Default),
        get(m, Architecture::AttentionLstm, Variant::Default),
    ) {
        (Some(ta), Some(t), Some(a)) => {
            let text = format!(
                "{}; {}; {}",
                describe(Architecture::TcnAttention, Variant::Default, ta),
                describe(Architecture::Tcn, Variant::Default, t),
                describe(Architecture::AttentionLstm, Variant::Default, a)
            );
            if ta.skill >= t.skill.max(a.skill) {
                Verdict::Supported(text)
            } else {
                Verdict::Contradicted(text)
            }
        }
        _ => need(&[
            (Architecture::TcnAttention, Variant::Default),
            (Architecture::Tcn, Variant::Default),
            (Architecture::AttentionLstm, Variant::Default),
        ]),
    };
    out.push(Claim {
        when: "Best of both",
        advice: "tcn_attention default has better skill than both tcn and attention_lstm default.",
        verdict,
    });

    // "Directional accuracy about 60–65%."
    let das: Vec<(String, f64)> = m
        .iter()
        .filter_map(|((a, v), s)| s.directional_accuracy.map(|d| (format!("{a} {v}"), d)))
        .collect();
    let verdict = if das.is_empty() {
        Verdict::Unmeasured(
            "train any model to measure this".into(),
            vec![(Architecture::CnnLstm, Variant::Default)],
        )
    } else {
        let (name, best) = das
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .cloned()
            .unwrap_or_default();
        let text = format!("best mean direction: {name} {:.1}%", 100.0 * best);
        if best >= 0.6 {
            Verdict::Supported(text)
        } else {
            Verdict::Contradicted(text)
        }
    };
    out.push(Claim {
        when: "Trading on direction",
        advice: "the models call the next move right about 60% of the time or better.",
        verdict,
    });
    out.extend(tree_claims(m));
    out
}

/// What the claims comparing gbdt with the networks need measured.
fn trees_and_a_network() -> Verdict {
    Verdict::Unmeasured(
        "train gbdt default and at least one network to measure this".into(),
        vec![
            (Architecture::Gbdt, Variant::Default),
            (Architecture::CnnLstm, Variant::Default),
        ],
    )
}

/// The original's LightGBM advice ("very fast training, 10–100×", "good for directional
/// prediction", the baseline to try first), judged like the rest.
fn tree_claims(m: &Measured) -> Vec<Claim> {
    let mut out = Vec::new();
    let trees = get(m, Architecture::Gbdt, Variant::Default);
    let cnn = get(m, Architecture::CnnLstm, Variant::Default);
    let verdict = match (trees, cnn) {
        (Some(g), Some(c)) => {
            let text = format!(
                "{}; {}; {:.0}× faster",
                describe(Architecture::Gbdt, Variant::Default, g),
                describe(Architecture::CnnLstm, Variant::Default, c),
                c.train_seconds / g.train_seconds.max(1e-9)
            );
            if g.train_seconds * 10.0 <= c.train_seconds {
                Verdict::Supported(text)
            } else {
                Verdict::Contradicted(text)
            }
        }
        _ => need(&[
            (Architecture::Gbdt, Variant::Default),
            (Architecture::CnnLstm, Variant::Default),
        ]),
    };
    out.push(Claim {
        when: "Fastest training",
        advice: "gbdt default (LightGBM) trains at least 10× faster than cnn_lstm default.",
        verdict,
    });

    let best_network = m
        .iter()
        .filter(|((a, _), _)| a.is_network())
        .max_by(|a, b| a.1.skill.total_cmp(&b.1.skill));
    let verdict = match (trees, best_network) {
        (Some(g), Some(((a, v), n))) => {
            let text = format!(
                "{}; best network {}",
                describe(Architecture::Gbdt, Variant::Default, g),
                describe(*a, *v, n)
            );
            if n.skill > g.skill {
                Verdict::Supported(text)
            } else {
                Verdict::Contradicted(text)
            }
        }
        _ => trees_and_a_network(),
    };
    out.push(Claim {
        when: "Is a network worth it?",
        advice: "the best network has better skill against persistence than gbdt default on the \
                 same features; otherwise prefer the trees, which train in seconds.",
        verdict,
    });

    let verdict = match (trees.and_then(|g| g.directional_accuracy), best_network) {
        (Some(d), Some(((a, v), n))) => {
            let text = format!(
                "gbdt default {:.1}%, best-skill network {a} {v} {}",
                100.0 * d,
                n.directional_accuracy
                    .map_or_else(|| "-".into(), |x| format!("{:.1}%", 100.0 * x))
            );
            if d > 0.5 && n.directional_accuracy.is_none_or(|x| d >= x) {
                Verdict::Supported(text)
            } else {
                Verdict::Contradicted(text)
            }
        }
        _ => trees_and_a_network(),
    };
    out.push(Claim {
        when: "Direction with trees",
        advice: "gbdt is good for directional prediction: above 50% and at least the network's.",
        verdict,
    });
    out
}

/// Draws the guide; returns the pairs to benchmark when a "Measure now" was pressed.
pub fn show(
    ui: &mut Ui,
    rows: &[ModelRow],
    bench: Option<&BenchReport>,
) -> Option<Vec<(Architecture, Variant)>> {
    let mut measure_now = None;
    ui.heading("Model selection guide");
    ui.label(
        "The original system's guide, judged by the models in this registry: each piece of advice \
         is shown with the numbers measured here, on your data and device. Advice your \
         measurements contradict is withdrawn.",
    );
    let m = measure(rows);
    // Counted by the paired test's verdict (DM at 5%), never by the sign of the skill.
    let kinds: Vec<VerdictKind> = rows
        .iter()
        .filter_map(|r| r.verdict_vs_persistence.as_ref().map(|v| v.kind))
        .filter(|k| *k != VerdictKind::NotComputed)
        .collect();
    let beating = kinds.iter().filter(|k| **k == VerdictKind::Better).count();
    let worse = kinds.iter().filter(|k| **k == VerdictKind::Worse).count();
    let measured = kinds.len();
    let headline = format!(
        "{beating} of {measured} tested models are better than persistence (next close = this close) on their test windows; \
         {worse} are worse and {} show no significant difference (Diebold-Mariano test at 5%).",
        measured - beating - worse
    );
    ui.label(
        RichText::new(headline)
            .strong()
            .color(if beating * 2 > measured {
                GOOD_GREEN
            } else {
                ERROR_RED
            }),
    );
    ui.separator();
    let all = claims(&m);
    let mut withdrawn = Vec::new();
    for c in &all {
        match &c.verdict {
            Verdict::Supported(numbers) => {
                ui.label(RichText::new(format!("{}: {}", c.when, c.advice)).strong());
                ui.label(RichText::new(format!("Measured: {numbers}")).color(GOOD_GREEN));
            }
            Verdict::Unmeasured(what, pairs) => {
                ui.label(RichText::new(format!("{}: not measured yet", c.when)).strong());
                ui.horizontal(|ui| {
                    ui.label(format!("The original guide has advice here; {what}."));
                    if ui
                        .button(format!("Measure now: {}", c.when))
                        .on_hover_text("Open the Benchmark screen with these models chosen")
                        .clicked()
                    {
                        measure_now = Some(pairs.clone());
                    }
                });
            }
            Verdict::Contradicted(numbers) => withdrawn.push((c.when, numbers)),
        }
        ui.add_space(6.0);
    }
    if !withdrawn.is_empty() {
        ui.separator();
        ui.label(
            RichText::new(format!(
                "{} piece(s) of the original advice withdrawn: your measurements contradict them.",
                withdrawn.len()
            ))
            .color(ERROR_RED),
        );
        for (when, numbers) in withdrawn {
            ui.label(format!("{when}: measured {numbers}"));
        }
    }
    ui.separator();
    ui.strong("Measured per architecture and variant");
    egui::Grid::new("guide_table").striped(true).show(ui, |ui| {
        for h in [
            "architecture",
            "variant",
            "runs",
            "skill",
            "direction",
            "train time",
            "parameters (gbdt: leaves)",
        ] {
            ui.strong(h);
        }
        ui.end_row();
        for ((a, v), s) in &m {
            ui.label(a.as_str());
            ui.label(v.as_str());
            ui.label(s.runs.to_string());
            ui.label(num(s.skill, 4));
            ui.label(
                s.directional_accuracy
                    .map_or_else(|| "-".into(), |d| format!("{:.1}%", 100.0 * d)),
            );
            ui.label(duration(s.train_seconds));
            ui.label(s.parameters.to_string());
            ui.end_row();
        }
    });
    latency_view(ui, bench);
    measure_now
}

/// The speed advice's numbers: single-window latency from the last benchmark, or how to get it.
fn latency_view(ui: &mut Ui, bench: Option<&BenchReport>) {
    ui.separator();
    let Some(r) = bench else {
        ui.label(
            "Inference latency is measured by the benchmark, not stored with models: run one on \
             the Benchmark screen to see it here.",
        );
        return;
    };
    ui.strong(format!(
        "Inference latency measured by the last benchmark ({}, {})",
        r.device, r.created_at
    ));
    egui::Grid::new("guide_latency")
        .striped(true)
        .show(ui, |ui| {
            for h in [
                "model",
                "p50 native",
                "p50 ONNX Runtime",
                "the original promised",
            ] {
                ui.strong(h);
            }
            ui.end_row();
            for b in &r.results {
                ui.label(format!("{} {}", b.architecture, b.variant));
                ui.label(format!("{:.3} ms", b.latency_p50_ms));
                ui.label(
                    b.onnxruntime
                        .as_ref()
                        .map_or_else(|| "–".into(), |t| format!("{:.3} ms", t.latency_p50_ms)),
                );
                ui.label(atb_protocol::bench::promise(b.architecture));
                ui.end_row();
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::sample_row;

    fn row(arch: Architecture, variant: Variant, skill: f64, secs: f64, params: u64) -> ModelRow {
        let mut r = sample_row(0, arch, variant, 800.0 * (1.0 - skill));
        r.skill_vs_persistence = Some(skill);
        r.train_seconds = secs;
        r.parameters = params;
        r.directional_accuracy = Some(0.5);
        r
    }

    fn verdict<'a>(cs: &'a [Claim], when: &str) -> &'a Verdict {
        &cs.iter().find(|c| c.when == when).unwrap().verdict
    }

    #[test]
    fn claims_follow_the_numbers() {
        let rows = vec![
            row(
                Architecture::CnnLstm,
                Variant::Default,
                -0.01,
                100.0,
                50_000,
            ),
            row(Architecture::Tcn, Variant::Default, -0.012, 400.0, 90_000),
            row(
                Architecture::AttentionLstm,
                Variant::Default,
                0.002,
                120.0,
                60_000,
            ),
        ];
        let cs = claims(&measure(&rows));
        // Attention beats the baseline at 1.2x its time: shown, with numbers.
        assert!(
            matches!(verdict(&cs, "A balanced default"), Verdict::Supported(n) if n.contains("0.0020"))
        );
        // TCN is 4x slower here: withdrawn.
        assert!(matches!(verdict(&cs, "Speed"), Verdict::Contradicted(_)));
        // Nobody trained attention_lstm deep.
        assert!(matches!(
            verdict(&cs, "Maximum accuracy"),
            Verdict::Unmeasured(..)
        ));
        // 50% direction is not 60%.
        assert!(matches!(
            verdict(&cs, "Trading on direction"),
            Verdict::Contradicted(_)
        ));
    }

    #[test]
    fn the_lightgbm_advice_is_judged_against_the_networks() {
        let mut rows = vec![
            row(
                Architecture::CnnLstm,
                Variant::Default,
                -0.01,
                100.0,
                50_000,
            ),
            row(Architecture::Gbdt, Variant::Default, 0.001, 0.5, 40),
        ];
        let m = measure(&rows);
        let cs = claims(&m);
        // 200x faster: supported; trees beat every network: "worth it" withdrawn.
        assert!(
            matches!(verdict(&cs, "Fastest training"), Verdict::Supported(n) if n.contains("200×"))
        );
        assert!(matches!(
            verdict(&cs, "Is a network worth it?"),
            Verdict::Contradicted(_)
        ));
        // A tree model's leaf count never makes it "the smallest model".
        rows.push(row(
            Architecture::Tcn,
            Variant::Lightweight,
            -0.02,
            50.0,
            5_000,
        ));
        assert!(matches!(
            verdict(&claims(&measure(&rows)), "Little memory"),
            Verdict::Supported(_)
        ));
        // Trees alone cannot say whether a network is worth it.
        let alone = measure(&rows[1..2]);
        assert!(matches!(
            verdict(&claims(&alone), "Is a network worth it?"),
            Verdict::Unmeasured(..)
        ));
    }

    #[test]
    fn means_over_runs() {
        let rows = vec![
            row(Architecture::Tcn, Variant::Lightweight, 0.01, 10.0, 5_000),
            row(Architecture::Tcn, Variant::Lightweight, 0.03, 30.0, 5_000),
        ];
        let m = measure(&rows);
        let s = &m[&(Architecture::Tcn, Variant::Lightweight)];
        assert_eq!(s.runs, 2);
        assert!((s.skill - 0.02).abs() < 1e-12 && (s.train_seconds - 20.0).abs() < 1e-12);
        assert!(matches!(
            verdict(&claims(&m), "Little memory"),
            Verdict::Supported(_)
        ));
    }
}
