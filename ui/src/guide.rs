//! Guide screen: the original system's model selection guide, each claim judged by the corrected
//! tests of one comparable set (the last benchmark: one series, one split, the same test
//! windows), never by point estimates or by rows pooled across series: a claim is "supported"
//! only when the model confidence set or a Holm-adjusted test says so, withdrawn when they say
//! the opposite, and "not distinguishable" otherwise.

use std::collections::BTreeMap;

use atb_protocol::bench::{
    BenchReport, BenchResult, FeatureBenchReport, FeatureBenchRun, adjust_for_many_comparisons,
    run_label,
};
use atb_protocol::registry::ModelRow;
use atb_protocol::selection::holm;
use atb_protocol::targets::baselines;
use atb_protocol::verdict::{SIGNIFICANCE_LEVEL, VerdictKind};
use atb_protocol::vocab::{Architecture, FeatureSet, Target, Variant};
use egui::{RichText, Ui};

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
    /// Supported by the corrected tests; the numbers that show it.
    Supported(String),
    /// Contradicted by the corrected tests (or by a plain count, for speed and size); the
    /// numbers that refute it.
    Contradicted(String),
    /// Measured, but the corrected tests cannot tell the models apart: neither shown as advice
    /// nor withdrawn.
    NotDistinguishable(String),
    /// Not measured yet; what to benchmark to find out, and the pairs that would measure it.
    Unmeasured(String, Vec<(Architecture, Variant)>),
}

pub struct Claim {
    pub when: &'static str,
    pub advice: &'static str,
    pub verdict: Verdict,
}

/// The one comparable set the guide judges on: a benchmark report (one series, one split, the
/// same test windows for every model), with Holm's adjustment across all its tests applied
/// (a report written before it is adjusted here, from its stored tests).
pub struct Evidence {
    report: BenchReport,
}

impl Evidence {
    pub fn new(report: &BenchReport) -> Self {
        let mut report = report.clone();
        if report.tests_adjusted == 0 {
            report.tests_adjusted = adjust_for_many_comparisons(&mut report.results);
        }
        Self { report }
    }

    fn result(&self, arch: Architecture, variant: Variant) -> Option<&BenchResult> {
        self.report
            .results
            .iter()
            .find(|r| r.architecture == arch && r.variant == variant)
    }

    /// Whether any run of the pair is in the model confidence set; `None` when the report has
    /// no set.
    fn in_set(&self, r: &BenchResult) -> Option<bool> {
        let set = self.report.model_confidence_set.as_ref()?;
        Some(r.runs.iter().any(|run| {
            let label = run_label(r.architecture, r.variant, run.seed);
            set.members.iter().any(|m| m.in_set && m.name == label)
        }))
    }

    /// The set's sentence, or why there is none.
    fn set_sentence(&self) -> String {
        self.report.model_confidence_set.as_ref().map_or_else(
            || "this benchmark predates the model confidence set; run it again to have one".into(),
            |s| s.sentence(),
        )
    }
}

/// Against cnn_lstm after Holm's adjustment: every seed better, any seed worse, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AgainstCnn {
    Better,
    Worse,
    NoDifference,
}

fn against_cnn(r: &BenchResult) -> Option<AgainstCnn> {
    let t = r.vs_cnn_lstm.as_ref()?;
    let (better, worse) = (t.better_adjusted?, t.worse_adjusted?);
    Some(if worse > 0 {
        AgainstCnn::Worse
    } else if better == t.seeds {
        AgainstCnn::Better
    } else {
        AgainstCnn::NoDifference
    })
}

fn need(pairs: &[(Architecture, Variant)]) -> Verdict {
    Verdict::Unmeasured(
        format!(
            "benchmark {} together to measure this",
            pairs
                .iter()
                .map(|(a, v)| format!("{a} {v}"))
                .collect::<Vec<_>>()
                .join(" and ")
        ),
        pairs.to_vec(),
    )
}

fn describe(r: &BenchResult) -> String {
    format!(
        "{} {}: skill {} over {} seed(s), {} to train, {} parameters",
        r.architecture,
        r.variant,
        num(r.skill_vs_persistence, 4),
        r.seeds,
        duration(r.train_seconds),
        r.parameters
    )
}

/// Looks up every pair in `e`, or says what to benchmark.
fn pairs<const N: usize>(
    e: Option<&Evidence>,
    wanted: [(Architecture, Variant); N],
) -> Result<[&BenchResult; N], Verdict> {
    let e = e.ok_or_else(|| need(&wanted))?;
    let mut out = Vec::with_capacity(N);
    for (a, v) in wanted {
        out.push(e.result(a, v).ok_or_else(|| need(&wanted))?);
    }
    out.try_into().map_err(|_| need(&wanted))
}

/// A claim that one pair is the most accurate, decided by the model confidence set: supported
/// when the set holds that pair alone, contradicted when it leaves the set.
fn best_by_set(e: &Evidence, r: &BenchResult) -> Verdict {
    let text = format!("{}; {}", describe(r), e.set_sentence());
    match e.in_set(r) {
        Some(false) => Verdict::Contradicted(text),
        Some(true)
            if e.report
                .results
                .iter()
                .filter(|o| o.architecture != r.architecture || o.variant != r.variant)
                .all(|o| e.in_set(o) == Some(false))
                && e.report
                    .model_confidence_set
                    .as_ref()
                    .is_some_and(|s| s.kept().iter().all(|k| !BASELINES.contains(k))) =>
        {
            Verdict::Supported(text)
        }
        _ => Verdict::NotDistinguishable(text),
    }
}

/// The baselines' names in a benchmark's model confidence set.
const BASELINES: [&str; 3] = ["persistence", "drift", "ridge"];

/// The original guide's claims, each judged by the corrected tests of `bench` (the last
/// benchmark: one comparable set) and, for Phase 2's inputs, of `features` (the last feature
/// benchmark), never by point estimates.
pub fn claims(bench: Option<&BenchReport>, features: Option<&FeatureBenchReport>) -> Vec<Claim> {
    use Architecture::{AttentionLstm, CnnLstm, Tcn, TcnAttention};
    use Variant::{Deep, Default as Plain, Lightweight};
    let evidence = bench.map(Evidence::new);
    let e = evidence.as_ref();
    let mut out = Vec::new();

    // "Maximum accuracy → Attention-LSTM deep."
    let verdict = match pairs(e, [(AttentionLstm, Deep)]) {
        Ok([a]) => best_by_set(e.expect("pairs found it"), a),
        Err(v) => v,
    };
    out.push(Claim {
        when: "Maximum accuracy",
        advice: "attention_lstm deep is the most accurate model: the model confidence set keeps \
                 it alone.",
        verdict,
    });

    // "Balanced → Attention-LSTM default" (−15% MAE at about 110% of CNN-LSTM's time).
    let verdict = match pairs(e, [(AttentionLstm, Plain), (CnnLstm, Plain)]) {
        Ok([a, c]) => {
            let text = format!("{}; {}", describe(a), describe(c));
            let time_ok = a.train_seconds <= 1.5 * c.train_seconds;
            match against_cnn(a) {
                Some(AgainstCnn::Worse) => Verdict::Contradicted(format!(
                    "{text}; significantly worse than cnn_lstm after Holm's adjustment"
                )),
                Some(AgainstCnn::Better) if time_ok => Verdict::Supported(text),
                Some(AgainstCnn::Better) => {
                    Verdict::Contradicted(format!("{text}; more than 1.5× the training time"))
                }
                _ => Verdict::NotDistinguishable(format!(
                    "{text}; no significant difference from cnn_lstm after Holm's adjustment"
                )),
            }
        }
        Err(v) => v,
    };
    out.push(Claim {
        when: "A balanced default",
        advice: "attention_lstm default is significantly more accurate than the cnn_lstm \
                 baseline for at most 1.5× its training time.",
        verdict,
    });

    // "Fast experiments / real time → TCN, 3–5× faster with similar accuracy."
    let verdict = match pairs(e, [(Tcn, Plain), (CnnLstm, Plain)]) {
        Ok([t, c]) => {
            let text = format!("{}; {}", describe(t), describe(c));
            if t.train_seconds * 2.0 > c.train_seconds {
                Verdict::Contradicted(format!("{text}; not twice as fast"))
            } else if against_cnn(t) == Some(AgainstCnn::Worse) {
                Verdict::Contradicted(format!(
                    "{text}; significantly less accurate after Holm's adjustment"
                ))
            } else {
                Verdict::Supported(format!(
                    "{text}; no significant loss of accuracy after Holm's adjustment"
                ))
            }
        }
        Err(v) => v,
    };
    out.push(Claim {
        when: "Speed",
        advice: "tcn trains at least twice as fast as cnn_lstm and is not significantly less \
                 accurate.",
        verdict,
    });

    // "Resource-constrained → TCN lightweight": a count of parameters, not a statistic.
    let verdict = match pairs(e, [(Tcn, Lightweight)]) {
        Ok([t]) => {
            let smallest = e
                .expect("pairs found it")
                .report
                .results
                .iter()
                .filter(|r| r.architecture.is_network())
                .min_by_key(|r| r.parameters);
            match smallest {
                Some(s) if s.parameters < t.parameters => {
                    Verdict::Contradicted(format!("{}; smaller: {}", describe(t), describe(s)))
                }
                _ => Verdict::Supported(describe(t)),
            }
        }
        Err(v) => v,
    };
    out.push(Claim {
        when: "Little memory",
        advice: "tcn lightweight is the smallest network measured.",
        verdict,
    });

    // "TCN + attention is the best of both."
    let verdict = match pairs(
        e,
        [(TcnAttention, Plain), (Tcn, Plain), (AttentionLstm, Plain)],
    ) {
        Ok([ta, t, a]) => {
            let e = e.expect("pairs found it");
            let text = format!(
                "{}; {}; {}; {}",
                describe(ta),
                describe(t),
                describe(a),
                e.set_sentence()
            );
            match (e.in_set(ta), e.in_set(t), e.in_set(a)) {
                (Some(false), ..) => Verdict::Contradicted(text),
                (Some(true), Some(false), Some(false)) => Verdict::Supported(text),
                _ => Verdict::NotDistinguishable(text),
            }
        }
        Err(v) => v,
    };
    out.push(Claim {
        when: "Best of both",
        advice: "tcn_attention default stays in the model confidence set while tcn and \
                 attention_lstm default leave it.",
        verdict,
    });

    // "Directional accuracy about 60–65%."
    let verdict = match e {
        None => need(&[(CnnLstm, Plain)]),
        Some(e) => direction_claim(e, |_| true, 0.6),
    };
    out.push(Claim {
        when: "Trading on direction",
        advice: "a model calls the next move right 60% of the time or better, with a \
                 significant Pesaran-Timmermann test after Holm's adjustment.",
        verdict,
    });
    out.extend(tree_claims(e));
    out.extend(phase_two_claims(e, features));
    out
}

/// The original's Phase 2 promises: the ensemble row of the last benchmark, and the inputs of
/// the last feature benchmark.
fn phase_two_claims(e: Option<&Evidence>, features: Option<&FeatureBenchReport>) -> Vec<Claim> {
    let mut out = Vec::new();
    out.push(Claim {
        when: "Phase 2: ensemble stacking",
        advice: "an ensemble of the default networks (non-negative weights chosen on the \
                 validation split) is significantly more accurate than cnn_lstm default, by \
                 6–18%.",
        verdict: ensemble_claim(e),
    });
    for (when, advice, arm, promised) in [
        (
            "Phase 2: wavelet features",
            "a causal wavelet decomposition of returns and volume makes the forecast 15% more \
             accurate than the same model on price.",
            FeatureArm::Wavelet,
            0.15,
        ),
        (
            "Phase 2: order flow",
            "trade counts and taker-buy volume make the forecast significantly more accurate \
             than the same model on price.",
            FeatureArm::Set(FeatureSet::Flow),
            0.0,
        ),
        (
            "Phase 2: a context market",
            "another market's returns beside the series (BTC's beside ETH's) make the forecast \
             significantly more accurate than the same model on price.",
            FeatureArm::Context,
            0.0,
        ),
    ] {
        out.push(Claim {
            when,
            advice,
            verdict: feature_claim(features, arm, promised),
        });
    }
    out
}

/// Direction claims: supported only when a result picked by `which` reaches `at_least` with
/// every seed's Pesaran-Timmermann test significant after Holm's adjustment across every
/// run's direction test in the report.
fn direction_claim(e: &Evidence, which: impl Fn(&BenchResult) -> bool, at_least: f64) -> Verdict {
    let runs: Vec<(usize, Option<f64>)> = e
        .report
        .results
        .iter()
        .enumerate()
        .flat_map(|(i, r)| r.runs.iter().map(move |run| (i, run.pt_p_value)))
        .collect();
    let adjusted = holm(
        &runs
            .iter()
            .map(|(_, p)| p.unwrap_or(f64::NAN))
            .collect::<Vec<_>>(),
    );
    let significant = |i: usize| {
        let mine: Vec<f64> = runs
            .iter()
            .zip(&adjusted)
            .filter(|((k, _), _)| *k == i)
            .map(|(_, p)| *p)
            .collect();
        !mine.is_empty() && mine.iter().all(|p| *p < SIGNIFICANCE_LEVEL)
    };
    let candidates: Vec<(usize, &BenchResult, f64)> = e
        .report
        .results
        .iter()
        .enumerate()
        .filter(|(_, r)| which(r))
        .filter_map(|(i, r)| r.directional_accuracy.map(|d| (i, r, d)))
        .collect();
    let Some(&(i, best, d)) = candidates.iter().max_by(|a, b| a.2.total_cmp(&b.2)) else {
        return Verdict::NotDistinguishable(
            "no model's direction is defined: none calls both directions on 5% of at least \
             30 non-overlapping windows"
                .into(),
        );
    };
    let text = format!(
        "best {} {}: {:.1}% (Pesaran-Timmermann {} after Holm's adjustment)",
        best.architecture,
        best.variant,
        100.0 * d,
        if significant(i) {
            "significant"
        } else {
            "not significant"
        }
    );
    if d >= at_least && significant(i) {
        Verdict::Supported(text)
    } else {
        Verdict::NotDistinguishable(text)
    }
}

/// The original's LightGBM advice ("very fast training, 10–100×", "good for directional
/// prediction", the baseline to try first), judged like the rest.
fn tree_claims(e: Option<&Evidence>) -> Vec<Claim> {
    use Architecture::{CnnLstm, Gbdt};
    use Variant::Default as Plain;
    let mut out = Vec::new();
    let verdict = match pairs(e, [(Gbdt, Plain), (CnnLstm, Plain)]) {
        Ok([g, c]) => {
            let text = format!(
                "{}; {}; {:.0}× faster",
                describe(g),
                describe(c),
                c.train_seconds / g.train_seconds.max(1e-9)
            );
            if g.train_seconds * 10.0 <= c.train_seconds {
                Verdict::Supported(text)
            } else {
                Verdict::Contradicted(text)
            }
        }
        Err(v) => v,
    };
    out.push(Claim {
        when: "Fastest training",
        advice: "gbdt default (LightGBM) trains at least 10× faster than cnn_lstm default.",
        verdict,
    });

    let verdict = match pairs(e, [(Gbdt, Plain), (CnnLstm, Plain)]) {
        Ok([g, _]) => {
            let e = e.expect("pairs found it");
            let networks: Vec<Option<bool>> = e
                .report
                .results
                .iter()
                .filter(|r| r.architecture.is_network())
                .map(|r| e.in_set(r))
                .collect();
            let text = format!("{}; {}", describe(g), e.set_sentence());
            match e.in_set(g) {
                Some(false) if networks.contains(&Some(true)) => Verdict::Supported(text),
                Some(true) if networks.iter().all(|n| *n == Some(false)) => {
                    Verdict::Contradicted(text)
                }
                _ => Verdict::NotDistinguishable(format!(
                    "{text}; the data cannot tell the trees from the networks, and the trees \
                     train in seconds"
                )),
            }
        }
        Err(v) => v,
    };
    out.push(Claim {
        when: "Is a network worth it?",
        advice: "a network stays in the model confidence set while gbdt default on the same \
                 features leaves it; otherwise prefer the trees, which train in seconds.",
        verdict,
    });

    let verdict = match pairs(e, [(Gbdt, Plain)]) {
        Ok(_) => direction_claim(e.expect("pairs found it"), |r| r.architecture == Gbdt, 0.5),
        Err(v) => v,
    };
    out.push(Claim {
        when: "Direction with trees",
        advice: "gbdt is good for directional prediction: a significant Pesaran-Timmermann \
                 test after Holm's adjustment.",
        verdict,
    });
    out
}

/// Which runs of a feature benchmark a Phase 2 claim reads.
#[derive(Debug, Clone, Copy)]
enum FeatureArm {
    /// Either wavelet set, without a context market.
    Wavelet,
    Set(FeatureSet),
    /// `price` with a context market.
    Context,
}

impl FeatureArm {
    fn holds(self, r: &FeatureBenchRun) -> bool {
        match self {
            Self::Wavelet => {
                r.context.is_none()
                    && matches!(r.feature_set, FeatureSet::Wavelet | FeatureSet::WaveletHaar)
            }
            Self::Set(set) => r.context.is_none() && r.feature_set == set,
            Self::Context => r.context.is_some(),
        }
    }

    /// What to run to measure it (the desktop's Benchmark screen runs the return table only).
    fn command(self) -> &'static str {
        match self {
            Self::Wavelet => "atb bench --feature-sets wavelet,wavelet_haar",
            Self::Set(_) => "atb bench --feature-sets flow (on Binance candles with order flow)",
            Self::Context => "atb bench --context BTCUSDT --symbol ETHUSDT --source binance",
        }
    }
}

/// A Phase 2 input judged by the feature benchmark's Holm-adjusted paired tests against the
/// plain model: supported when every run is better and the mean skill reaches `promised`,
/// withdrawn when any run is worse or the gain falls short, not distinguishable otherwise.
fn feature_claim(features: Option<&FeatureBenchReport>, arm: FeatureArm, promised: f64) -> Verdict {
    let runs: Vec<&FeatureBenchRun> = features
        .map(|f| f.runs.iter().filter(|r| arm.holds(r)).collect())
        .unwrap_or_default();
    let Some(report) = features.filter(|_| !runs.is_empty()) else {
        return Verdict::Unmeasured(
            format!(
                "run `{}` from the command line to measure this",
                arm.command()
            ),
            Vec::new(),
        );
    };
    let skills: Vec<f64> = runs.iter().map(|r| r.skill()).collect();
    let mean = skills.iter().sum::<f64>() / skills.len() as f64;
    let (low, high) = skills
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), s| {
            (l.min(*s), h.max(*s))
        });
    let kinds: Vec<VerdictKind> = runs.iter().map(|r| r.verdict().kind).collect();
    let text = format!(
        "{} run(s) on {} against the same model on price: mean skill {:+.1}% ({:+.1}% to \
         {:+.1}%), {} better and {} worse after Holm's adjustment",
        runs.len(),
        report.series,
        100.0 * mean,
        100.0 * low,
        100.0 * high,
        kinds.iter().filter(|k| **k == VerdictKind::Better).count(),
        kinds.iter().filter(|k| **k == VerdictKind::Worse).count(),
    );
    if kinds.contains(&VerdictKind::Worse) {
        Verdict::Contradicted(text)
    } else if kinds.iter().all(|k| *k == VerdictKind::Better) {
        if mean >= promised {
            Verdict::Supported(text)
        } else {
            Verdict::Contradicted(format!(
                "{text}; less than the {:.0}% promised",
                100.0 * promised
            ))
        }
    } else {
        Verdict::NotDistinguishable(text)
    }
}

/// The original's Phase 2 promise ("ensemble stacking: 6–18% additional improvement"), judged
/// by the ensemble row's Holm-adjusted paired tests against cnn_lstm of the same seeds.
fn ensemble_claim(e: Option<&Evidence>) -> Verdict {
    let mut wanted: Vec<(Architecture, Variant)> = Architecture::NETWORKS
        .iter()
        .map(|&a| (a, Variant::Default))
        .collect();
    wanted.push((Architecture::Ensemble, Variant::Default));
    let found = e.and_then(|e| {
        Some((
            e.result(Architecture::Ensemble, Variant::Default)?,
            e.result(Architecture::CnnLstm, Variant::Default)?,
        ))
    });
    let Some((ensemble, cnn)) = found else {
        return Verdict::Unmeasured(
            "benchmark the five default networks with ensemble default to measure this".into(),
            wanted,
        );
    };
    let gain = 1.0 - ensemble.test_mae_usd / cnn.test_mae_usd;
    let text = format!(
        "{}; MAE {:+.1}% against cnn_lstm default",
        describe(ensemble),
        -100.0 * gain
    );
    match against_cnn(ensemble) {
        Some(AgainstCnn::Worse) => Verdict::Contradicted(format!(
            "{text}; significantly worse than cnn_lstm after Holm's adjustment"
        )),
        Some(AgainstCnn::Better) if gain >= 0.06 => Verdict::Supported(text),
        Some(AgainstCnn::Better) => Verdict::Contradicted(format!(
            "{text}; significantly better, but by less than the 6% promised"
        )),
        _ => Verdict::NotDistinguishable(format!(
            "{text}; no significant difference from cnn_lstm after Holm's adjustment"
        )),
    }
}

/// Draws the guide; returns the pairs to benchmark when a "Measure now" was pressed.
pub fn show(
    ui: &mut Ui,
    rows: &[ModelRow],
    bench: Option<&BenchReport>,
    features: Option<&FeatureBenchReport>,
) -> Option<Vec<(Architecture, Variant)>> {
    let mut measure_now = None;
    ui.heading("Model selection guide");
    ui.label(
        "The original system's guide, judged by the corrected tests of your last benchmark: one \
         comparable set (one series, one split, the same test windows for every model), never \
         registry rows pooled across series. Advice is shown only where the model confidence \
         set or a Holm-adjusted test supports it, withdrawn where they contradict it, and \
         marked \"not distinguishable\" where the data cannot tell the models apart.",
    );
    let m = measure(rows);
    let (beating, worse, measured) = headline_counts(rows);
    let headline = format!(
        "{beating} of {measured} tested models are better than persistence (next close = this close) on their test windows \
         after Holm's adjustment across the {measured} tests; {worse} are worse and {} show no significant difference \
         (Diebold-Mariano at 5%).",
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
    let all = claims(bench, features);
    let mut withdrawn = Vec::new();
    for c in &all {
        match &c.verdict {
            Verdict::Supported(numbers) => {
                ui.label(RichText::new(format!("{}: {}", c.when, c.advice)).strong());
                ui.label(RichText::new(format!("Measured: {numbers}")).color(GOOD_GREEN));
            }
            Verdict::NotDistinguishable(numbers) => {
                ui.label(RichText::new(format!("{}: not distinguishable", c.when)).strong());
                ui.label(format!(
                    "The original advised: {} The corrected tests cannot say so: {numbers}.",
                    c.advice
                ));
            }
            Verdict::Unmeasured(what, pairs) => {
                ui.label(RichText::new(format!("{}: not measured yet", c.when)).strong());
                ui.horizontal(|ui| {
                    ui.label(format!("The original guide has advice here; {what}."));
                    // The feature benchmark runs from the command line: no button for it.
                    if !pairs.is_empty()
                        && ui
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
    target_view(ui, rows);
    ui.separator();
    ui.strong("Measured per architecture and variant");
    ui.label(
        "Means of point estimates over every registered run, pooled across series and test \
         windows: a description of the registry, not evidence for any claim above.",
    );
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

/// Per volatility or direction target with registered versions: how many versions are better
/// than each of the target's baselines, and than all of them (each version's verdicts are
/// Holm-adjusted across its target's baselines).
pub fn target_counts(rows: &[ModelRow], target: Target) -> Option<TargetCounts> {
    let of: Vec<&ModelRow> = rows.iter().filter(|r| r.target == target).collect();
    if of.is_empty() {
        return None;
    }
    let better = |r: &ModelRow, i: usize| {
        r.target_verdicts
            .get(i)
            .is_some_and(|v| v.kind == VerdictKind::Better)
    };
    let names = baselines(target);
    let per_baseline = names
        .iter()
        .enumerate()
        .map(|(i, name)| (*name, of.iter().filter(|r| better(r, i)).count()))
        .collect();
    let all = of
        .iter()
        .filter(|r| (0..names.len()).all(|i| better(r, i)))
        .count();
    Some(TargetCounts {
        versions: of.len(),
        per_baseline,
        better_than_all: all,
    })
}

/// What the guide says about one volatility or direction target.
#[derive(Debug, PartialEq)]
pub struct TargetCounts {
    pub versions: usize,
    /// Each baseline, and the versions better than it.
    pub per_baseline: Vec<(&'static str, usize)>,
    pub better_than_all: usize,
}

fn target_view(ui: &mut Ui, rows: &[ModelRow]) {
    for target in [Target::Volatility, Target::Direction] {
        let Some(TargetCounts {
            versions: n,
            per_baseline,
            better_than_all: all,
        }) = target_counts(rows, target)
        else {
            continue;
        };
        ui.separator();
        ui.strong(format!("{target}: {n} registered version(s)"));
        let each: Vec<String> = per_baseline
            .iter()
            .map(|(name, k)| format!("{name} in {k}"))
            .collect();
        ui.label(
            RichText::new(format!(
                "Better than every baseline of the target in {all} of {n}; better than {} \
                 (each version's verdicts on its own test windows, Holm-adjusted across its \
                 target's baselines).",
                each.join(", ")
            ))
            .color(if all > 0 { GOOD_GREEN } else { ERROR_RED }),
        );
    }
}

/// The registry's verdicts against persistence with Holm's adjustment across all of them:
/// (better, worse, tested).
pub fn headline_counts(rows: &[ModelRow]) -> (usize, usize, usize) {
    let tests: Vec<_> = rows
        .iter()
        .filter_map(|r| r.vs_persistence.and_then(|c| c.absolute))
        .filter(|t| t.p_value.is_finite())
        .collect();
    let adjusted = holm(&tests.iter().map(|t| t.p_value).collect::<Vec<_>>());
    let count = |better: bool| {
        tests
            .iter()
            .zip(&adjusted)
            .filter(|(t, p)| **p < SIGNIFICANCE_LEVEL && (t.mean_loss_difference < 0.0) == better)
            .count()
    };
    (count(true), count(false), tests.len())
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
    use crate::fake::sample_bench;
    use atb_protocol::selection::{MCS_ALPHA, McsMember, McsStatistic, ModelConfidenceSet};

    fn verdict<'a>(cs: &'a [Claim], when: &str) -> &'a Verdict {
        &cs.iter().find(|c| c.when == when).unwrap().verdict
    }

    /// A confidence set over the report's runs that keeps exactly the pairs `kept`.
    fn with_set(mut report: BenchReport, kept: &[(Architecture, Variant)]) -> BenchReport {
        let members = report
            .results
            .iter()
            .flat_map(|r| {
                r.runs.iter().map(|run| {
                    let keep = kept.contains(&(r.architecture, r.variant));
                    McsMember {
                        name: run_label(r.architecture, r.variant, run.seed),
                        mean_loss: 300.0,
                        p_value: if keep { 0.5 } else { 0.01 },
                        in_set: keep,
                    }
                })
            })
            .collect();
        report.model_confidence_set = Some(ModelConfidenceSet {
            statistic: McsStatistic::Max,
            alpha: MCS_ALPHA,
            loss: "absolute price error".into(),
            windows: 303,
            block_length: 7,
            resamples: 2000,
            members,
        });
        report
    }

    #[test]
    fn without_one_comparable_set_nothing_is_judged() {
        for c in claims(None, None) {
            assert!(
                matches!(&c.verdict, Verdict::Unmeasured(what, _)
                    if what.starts_with("benchmark ") || what.starts_with("run `atb bench")),
                "{}: {:?}",
                c.when,
                c.verdict
            );
        }
    }

    #[test]
    fn point_estimates_alone_support_nothing() {
        // The measured report: lstm default has the best skill (+0.002) and gbdt the worst, but
        // no test separates them.
        let report = sample_bench();
        let cs = claims(Some(&report), None);
        for when in [
            "A balanced default",
            "Is a network worth it?",
            "Trading on direction",
            "Direction with trees",
        ] {
            assert!(
                matches!(verdict(&cs, when), Verdict::NotDistinguishable(_)),
                "{when}: {:?}",
                verdict(&cs, when)
            );
        }
        // Nobody benchmarked attention_lstm deep.
        assert!(matches!(
            verdict(&cs, "Maximum accuracy"),
            Verdict::Unmeasured(..)
        ));
        // Better than cnn_lstm at an unadjusted p of 0.02 is not better once 18 tests are
        // adjusted together.
        let mut report = sample_bench();
        for r in report.results.iter_mut() {
            if (r.architecture, r.variant) == (Architecture::AttentionLstm, Variant::Default) {
                let t = r.runs[0].vs_cnn_lstm.as_mut().unwrap();
                t.p_value = 0.02;
                t.mean_loss_difference = -1.0;
            }
        }
        assert!(matches!(
            verdict(&claims(Some(&report), None), "A balanced default"),
            Verdict::NotDistinguishable(n) if n.contains("after Holm's adjustment")
        ));
    }

    #[test]
    fn the_corrected_tests_decide() {
        // A test that survives Holm's adjustment supports the balanced default.
        let mut report = sample_bench();
        for r in report.results.iter_mut() {
            if (r.architecture, r.variant) == (Architecture::AttentionLstm, Variant::Default) {
                let t = r.runs[0].vs_cnn_lstm.as_mut().unwrap();
                t.p_value = 1e-6;
                t.mean_loss_difference = -1.0;
                r.train_seconds = 1.0;
            }
        }
        assert!(matches!(
            verdict(&claims(Some(&report), None), "A balanced default"),
            Verdict::Supported(_)
        ));
        // The confidence set: gbdt out and a network in supports the networks; the reverse
        // withdraws the advice.
        let net = with_set(sample_bench(), &[(Architecture::Lstm, Variant::Default)]);
        assert!(matches!(
            verdict(&claims(Some(&net), None), "Is a network worth it?"),
            Verdict::Supported(_)
        ));
        let trees = with_set(sample_bench(), &[(Architecture::Gbdt, Variant::Default)]);
        let cs = claims(Some(&trees), None);
        assert!(matches!(
            verdict(&cs, "Is a network worth it?"),
            Verdict::Contradicted(_)
        ));
        // tcn_attention left the set: "best of both" is withdrawn.
        assert!(matches!(
            verdict(&cs, "Best of both"),
            Verdict::Contradicted(_)
        ));
    }

    #[test]
    fn the_ensemble_claim_needs_a_corrected_win_of_at_least_six_percent() {
        let report = sample_bench();
        match verdict(&claims(Some(&report), None), "Phase 2: ensemble stacking") {
            Verdict::Unmeasured(_, pairs) => {
                assert_eq!(pairs.len(), 6);
                assert!(pairs.contains(&(Architecture::Ensemble, Variant::Default)));
            }
            other => panic!("{other:?}"),
        }
        let with_ensemble = |ratio: f64, better: usize| {
            let mut report = sample_bench();
            let mut row = report
                .results
                .iter()
                .find(|r| (r.architecture, r.variant) == (Architecture::CnnLstm, Variant::Default))
                .unwrap()
                .clone();
            row.architecture = Architecture::Ensemble;
            row.test_mae_usd *= ratio;
            // Its seeds' tests against cnn_lstm, which the report's Holm adjustment reads.
            for run in &mut row.runs {
                run.vs_cnn_lstm = Some(atb_protocol::training::PairedTest {
                    statistic: -4.0,
                    p_value: if better == 1 { 1e-6 } else { 0.4 },
                    mean_loss_difference: -1.0,
                    n: 300,
                    kernel: None,
                });
            }
            row.vs_cnn_lstm = Some(atb_protocol::bench::SeedTests {
                seeds: 1,
                median_p_value: Some(if better == 1 { 1e-4 } else { 0.4 }),
                better,
                worse: 0,
                better_adjusted: Some(better),
                worse_adjusted: Some(0),
            });
            report.results.push(row);
            claims(Some(&report), None)
        };
        let when = "Phase 2: ensemble stacking";
        let supported = with_ensemble(0.9, 1);
        assert!(
            matches!(
                verdict(&supported, when),
                Verdict::Supported(n) if n.contains("MAE -10.0%")
            ),
            "{:?}",
            verdict(&supported, when)
        );
        assert!(matches!(
            verdict(&with_ensemble(0.97, 1), when),
            Verdict::Contradicted(n) if n.contains("less than the 6% promised")
        ));
        assert!(matches!(
            verdict(&with_ensemble(0.99, 0), when),
            Verdict::NotDistinguishable(_)
        ));
    }

    #[test]
    fn phase_two_inputs_are_judged_by_the_feature_benchmark() {
        use atb_protocol::bench::{FeatureBenchReport, FeatureBenchRun};
        use atb_protocol::training::PairedTest;
        let run = |set: FeatureSet, context: Option<&str>, mae: f64, p: f64| FeatureBenchRun {
            architecture: Architecture::CnnLstm,
            variant: Variant::Default,
            seed: 42,
            feature_set: set,
            context: context.map(|c| c.parse().unwrap()),
            version_id: "a".into(),
            plain_version_id: "b".into(),
            train_seconds: 1.0,
            plain_train_seconds: 1.0,
            windows: 1_000,
            mae_usd: mae,
            plain_mae_usd: 100.0,
            test: Some(PairedTest {
                statistic: 0.0,
                p_value: p,
                mean_loss_difference: mae - 100.0,
                n: 1_000,
                kernel: None,
            }),
            adjusted_p: Some(p),
        };
        let report = |runs| FeatureBenchReport {
            created_at: "2026-12-06T00:00:00Z".into(),
            atb_version: "0.1.0".into(),
            series: "BTCUSDT 1h".into(),
            horizon: 1,
            epochs: 3,
            runs,
        };
        let judged = |r: &FeatureBenchReport, when: &str| {
            claims(None, Some(r))
                .into_iter()
                .find(|c| c.when == when)
                .unwrap()
                .verdict
        };
        // Nothing measured: the command to run, and no benchmark screen to open.
        let none = claims(None, None);
        let wavelet = verdict(&none, "Phase 2: wavelet features");
        assert!(
            matches!(wavelet, Verdict::Unmeasured(what, pairs)
                if what.contains("--feature-sets wavelet") && pairs.is_empty()),
            "{wavelet:?}"
        );
        // As measured: no run significant, so not distinguishable, and the flow and context
        // claims stay unmeasured.
        let measured = report(vec![
            run(FeatureSet::Wavelet, None, 100.1, 1.0),
            run(FeatureSet::WaveletHaar, None, 99.9, 1.0),
        ]);
        assert!(matches!(
            judged(&measured, "Phase 2: wavelet features"),
            Verdict::NotDistinguishable(n) if n.contains("2 run(s)")
        ));
        assert!(matches!(
            judged(&measured, "Phase 2: order flow"),
            Verdict::Unmeasured(..)
        ));
        // Significantly better by 5%: better, but short of the 15% promised.
        let short = report(vec![run(FeatureSet::Wavelet, None, 95.0, 0.001)]);
        assert!(matches!(
            judged(&short, "Phase 2: wavelet features"),
            Verdict::Contradicted(n) if n.contains("less than the 15% promised")
        ));
        // Flow significantly better: supported (no size was promised); a context market
        // significantly worse: withdrawn.
        let mixed = report(vec![
            run(FeatureSet::Flow, None, 97.0, 0.001),
            run(FeatureSet::Price, Some("BTCUSDT"), 103.0, 0.001),
        ]);
        assert!(matches!(
            judged(&mixed, "Phase 2: order flow"),
            Verdict::Supported(_)
        ));
        assert!(matches!(
            judged(&mixed, "Phase 2: a context market"),
            Verdict::Contradicted(n) if n.contains("1 worse")
        ));
    }

    #[test]
    fn size_and_speed_are_counts() {
        let report = sample_bench();
        let cs = claims(Some(&report), None);
        // The sample report has no tcn lightweight.
        assert!(matches!(
            verdict(&cs, "Little memory"),
            Verdict::Unmeasured(..)
        ));
        assert!(!matches!(
            verdict(&cs, "Fastest training"),
            Verdict::NotDistinguishable(_)
        ));
    }

    #[test]
    fn target_versions_are_counted_per_baseline_of_their_own_target() {
        use crate::fake::{sample_row, sample_target_row};
        let rows = vec![
            sample_target_row(0, Architecture::CnnLstm, Target::Volatility),
            sample_target_row(1, Architecture::Gbdt, Target::Direction),
            sample_row(2, Architecture::Tcn, Variant::Default, 800.0),
        ];
        // The fake volatility record beats persistence and EWMA, not HAR-RV or ridge.
        let counts = target_counts(&rows, Target::Volatility).unwrap();
        assert_eq!((counts.versions, counts.better_than_all), (1, 0));
        assert_eq!(
            counts.per_baseline,
            [
                ("RV persistence", 1),
                ("EWMA (0.94)", 1),
                ("HAR-RV", 0),
                ("ridge on log RV", 0)
            ]
        );
        let counts = target_counts(&rows, Target::Direction).unwrap();
        assert_eq!(counts.versions, 1);
        assert!(counts.per_baseline.iter().all(|(_, k)| *k == 0));
        // The return headline never counts them.
        assert_eq!(headline_counts(&rows).2, 1);
        assert!(target_counts(&rows[2..], Target::Volatility).is_none());
    }

    #[test]
    fn the_headline_counts_after_holm() {
        use crate::fake::sample_row;
        // Three rows: p = 0.004 for the two with |skill| > 1%, 0.41 for the third; Holm keeps
        // 0.004 x 3 = 0.012 and 0.004 x 2 = 0.008 significant.
        let rows = vec![
            sample_row(0, Architecture::Tcn, Variant::Default, 780.0),
            sample_row(1, Architecture::Tcn, Variant::Default, 799.0),
            sample_row(2, Architecture::Tcn, Variant::Default, 830.0),
        ];
        assert_eq!(headline_counts(&rows), (1, 1, 3));
    }

    #[test]
    fn means_over_runs() {
        use crate::fake::sample_row;
        let mut rows = vec![
            sample_row(0, Architecture::Tcn, Variant::Lightweight, 790.0),
            sample_row(1, Architecture::Tcn, Variant::Lightweight, 770.0),
        ];
        rows[0].train_seconds = 10.0;
        rows[1].train_seconds = 30.0;
        let m = measure(&rows);
        let s = &m[&(Architecture::Tcn, Variant::Lightweight)];
        assert_eq!(s.runs, 2);
        assert!((s.train_seconds - 20.0).abs() < 1e-12);
    }
}
