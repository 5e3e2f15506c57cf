//! `atb bench` results: the original's comparison table, measured. What `atb bench --json` writes
//! and the markdown tables are made from.

use serde::{Deserialize, Serialize};

use crate::desktop::SeriesRequest;
use crate::spec::TrainSpec;
use crate::vocab::{
    Architecture, CandleSource, DeviceChoice, FeatureSet, Symbol, Target, Timeframe, Variant,
};

use crate::training::{PairedTest, SkillInterval};

/// Inference speed of one runtime on one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferenceTimings {
    /// Single-window latency percentiles, milliseconds.
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    /// Windows per second when run in batches of 256.
    pub batch256_windows_per_s: f64,
}

/// One training run of a benchmarked (type, variant): one seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchRun {
    pub seed: u64,
    pub version_id: String,
    pub epochs_run: usize,
    pub seconds_per_epoch: f64,
    /// Training windows per second of a whole epoch, validation included.
    pub samples_per_second: f64,
    /// Training windows per second of the training batches alone (validation excluded).
    #[serde(default)]
    pub train_windows_per_s: f64,
    pub train_seconds: f64,
    pub test_rmse_usd: f64,
    pub test_mae_usd: f64,
    pub skill_vs_persistence: f64,
    pub directional_accuracy: Option<f64>,
    pub pt_p_value: Option<f64>,
    /// Diebold-Mariano (absolute errors) against persistence and ridge on the test windows.
    #[serde(default)]
    pub vs_persistence: Option<PairedTest>,
    #[serde(default)]
    pub vs_ridge: Option<PairedTest>,
    /// Against `cnn_lstm` of the same variant and seed, on the same test windows.
    #[serde(default)]
    pub vs_cnn_lstm: Option<PairedTest>,
    /// The skill intervals beside those three tests, for the verdict sentences (`None` in
    /// reports written before them).
    #[serde(default)]
    pub skill_intervals: Option<SkillIntervals>,
    /// The three tests' p-values after Holm's adjustment across every test in the report
    /// (`None` in reports written before it).
    #[serde(default)]
    pub adjusted_p: Option<AdjustedP>,
    /// The model's forecasts traded long/flat on the test split after the default costs:
    /// compounded net return and annualised Sharpe (`None` before evaluation method 3).
    #[serde(default)]
    pub net_return: Option<f64>,
    #[serde(default)]
    pub sharpe: Option<f64>,
}

/// Skill (1 - MAE / reference MAE) with its bootstrap interval against each reference.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SkillIntervals {
    pub vs_persistence: Option<SkillInterval>,
    pub vs_ridge: Option<SkillInterval>,
    pub vs_cnn_lstm: Option<SkillInterval>,
}

/// Holm-adjusted p-values of one run's paired tests.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdjustedP {
    pub vs_persistence: Option<f64>,
    pub vs_ridge: Option<f64>,
    pub vs_cnn_lstm: Option<f64>,
}

/// Per-seed p-values of one test, summarised without averaging them: the median, and how many
/// seeds were significantly better or worse at 5%.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedTests {
    pub seeds: usize,
    pub median_p_value: Option<f64>,
    pub better: usize,
    pub worse: usize,
    /// The same counts after Holm's adjustment across every test in the report: what the
    /// verdicts use (`None` in reports written before it).
    #[serde(default)]
    pub better_adjusted: Option<usize>,
    #[serde(default)]
    pub worse_adjusted: Option<usize>,
}

/// One (type, variant): means over its seeds, spreads when there are several, ratios to
/// `cnn_lstm` of the same variant (`None` when that was not benchmarked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    pub architecture: Architecture,
    pub variant: Variant,
    pub device: String,
    pub parameters: usize,
    pub weight_bytes: u64,
    pub onnx_bytes: u64,
    pub seeds: usize,
    // Training.
    pub epochs_run: f64,
    pub seconds_per_epoch: f64,
    /// Training windows per second of a whole epoch, validation included.
    pub samples_per_second: f64,
    /// Training windows per second of the training batches alone (validation excluded).
    #[serde(default)]
    pub train_windows_per_s: f64,
    pub train_seconds: f64,
    /// `train_seconds` / `cnn_lstm`'s.
    pub train_time_vs_cnn_lstm: Option<f64>,
    // Inference: native (Burn on the benchmark device, or LightGBM) and the exported ONNX file
    // in the runtime that checked it: tract, or ONNX Runtime for `gbdt` (tract has no
    // tree-ensemble operator), whose `onnx_*` figures then repeat `onnxruntime`'s.
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub batch256_windows_per_s: f64,
    pub onnx_latency_p50_ms: f64,
    pub onnx_latency_p99_ms: f64,
    pub onnx_batch256_windows_per_s: f64,
    /// Largest |ONNX - native| on the test windows at export.
    pub onnx_max_abs_diff: f64,
    /// The same exported file in ONNX Runtime, when its library is present (`None` otherwise,
    /// with the reason in `onnxruntime_missing`).
    #[serde(default)]
    pub onnxruntime: Option<InferenceTimings>,
    #[serde(default)]
    pub onnxruntime_missing: Option<String>,
    // Accuracy on the test window, in USD.
    pub test_rmse_usd: f64,
    pub test_mae_usd: f64,
    /// `test_mae_usd` / `cnn_lstm`'s.
    pub mae_vs_cnn_lstm: Option<f64>,
    pub skill_vs_persistence: f64,
    pub directional_accuracy: Option<f64>,
    /// Median of the seeds' Pesaran-Timmermann p-values (never their mean).
    pub pt_p_value: Option<f64>,
    /// Seeds whose direction test was significant at 5%.
    #[serde(default)]
    pub pt_significant_seeds: usize,
    /// The seeds' paired tests against persistence, ridge and cnn_lstm (same variant).
    #[serde(default)]
    pub vs_persistence: Option<SeedTests>,
    #[serde(default)]
    pub vs_ridge: Option<SeedTests>,
    #[serde(default)]
    pub vs_cnn_lstm: Option<SeedTests>,
    /// Standard deviations over seeds (`None` with one seed).
    pub test_rmse_usd_std: Option<f64>,
    pub test_mae_usd_std: Option<f64>,
    pub skill_vs_persistence_std: Option<f64>,
    pub directional_accuracy_std: Option<f64>,
    pub runs: Vec<BenchRun>,
}

/// A baseline on the same test windows (persistence, ridge).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineResult {
    pub name: String,
    pub test_rmse_usd: f64,
    pub test_mae_usd: f64,
    pub skill_vs_persistence: f64,
    pub directional_accuracy: Option<f64>,
    pub pt_p_value: Option<f64>,
}

/// The whole table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub device: String,
    pub source: CandleSource,
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    pub epochs: usize,
    pub seeds: usize,
    pub sequence_length: usize,
    pub test_windows: usize,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub results: Vec<BenchResult>,
    pub baselines: Vec<BaselineResult>,
    /// Paired tests in the report, all adjusted together with Holm's method.
    #[serde(default)]
    pub tests_adjusted: usize,
    /// The model confidence set over every run and the persistence, drift and ridge baselines
    /// on the common test windows (absolute price errors); `None` in older reports.
    #[serde(default)]
    pub model_confidence_set: Option<crate::selection::ModelConfidenceSet>,
    /// Buy and hold over the same test periods after the default costs.
    #[serde(default)]
    pub buy_and_hold_return: Option<f64>,
}

/// The name of one run in a benchmark's model confidence set: "tcn default seed 42".
pub fn run_label(architecture: Architecture, variant: Variant, seed: u64) -> String {
    format!("{architecture} {variant} seed {seed}")
}

/// Holm's adjustment over every paired test of a report (each run against persistence, ridge
/// and cnn_lstm): sets each run's `adjusted_p` and each result's `better_adjusted` /
/// `worse_adjusted` counts, which the verdicts use. Returns the number of tests in the family.
/// Reports written before it get the same adjustment when read (the tests are stored).
pub fn adjust_for_many_comparisons(results: &mut [BenchResult]) -> usize {
    use crate::selection::holm;
    use crate::verdict::SIGNIFICANCE_LEVEL;
    type Pick = fn(&BenchRun) -> Option<PairedTest>;
    let picks: [Pick; 3] = [|r| r.vs_persistence, |r| r.vs_ridge, |r| r.vs_cnn_lstm];
    let p_values: Vec<f64> = results
        .iter()
        .flat_map(|r| &r.runs)
        .flat_map(|run| picks.map(|pick| pick(run).map_or(f64::NAN, |t| t.p_value)))
        .collect();
    let adjusted = holm(&p_values);
    let mut next = adjusted.into_iter().map(|p| p.is_finite().then_some(p));
    for r in results.iter_mut() {
        for run in r.runs.iter_mut() {
            let mut take = || next.next().flatten();
            run.adjusted_p = Some(AdjustedP {
                vs_persistence: take(),
                vs_ridge: take(),
                vs_cnn_lstm: take(),
            });
        }
        type Adjusted = fn(&AdjustedP) -> Option<f64>;
        let counts = |pick: Pick, adjusted: Adjusted, better: bool| {
            r.runs
                .iter()
                .filter(|run| {
                    let p = run.adjusted_p.as_ref().and_then(adjusted);
                    pick(run).is_some_and(|t| {
                        p.is_some_and(|p| p < SIGNIFICANCE_LEVEL)
                            && if better {
                                t.mean_loss_difference < 0.0
                            } else {
                                t.mean_loss_difference > 0.0
                            }
                    })
                })
                .count()
        };
        let recount = |pick: Pick, adjusted: Adjusted| {
            (counts(pick, adjusted, true), counts(pick, adjusted, false))
        };
        let found = [
            recount(picks[0], |a| a.vs_persistence),
            recount(picks[1], |a| a.vs_ridge),
            recount(picks[2], |a| a.vs_cnn_lstm),
        ];
        for (tests, (better, worse)) in [&mut r.vs_persistence, &mut r.vs_ridge, &mut r.vs_cnn_lstm]
            .into_iter()
            .zip(found)
        {
            if let Some(t) = tests {
                t.better_adjusted = Some(better);
                t.worse_adjusted = Some(worse);
            }
        }
    }
    p_values.iter().filter(|p| p.is_finite()).count()
}

/// What the original system's docs promised for an architecture (section 12 of the reference;
/// LightGBM from its selection guide), shown beside the measured figures.
pub fn promise(architecture: Architecture) -> &'static str {
    match architecture {
        Architecture::CnnLstm => "baseline; DA ~60%; ~50 ms",
        Architecture::AttentionLstm => "RMSE −12%, MAE −15%; DA ~65%; 110% train time; ~70 ms",
        Architecture::Tcn => "RMSE ±5%; DA ~62%; 3–5× faster training; ~30 ms",
        Architecture::TcnAttention => "\"best of both\"",
        Architecture::Lstm => "–",
        Architecture::Gbdt => "10–100× faster training; good for direction",
        Architecture::Ensemble => "6–18% additional improvement",
    }
}

/// A benchmark, as `atb bench` and the desktop's Benchmark screen ask for it: the only bench
/// request (the CLI's flags default to `BenchSpec::default()`'s fields, the screen starts from
/// it, the engine takes it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchSpec {
    pub architectures: Vec<Architecture>,
    pub variants: Vec<Variant>,
    pub seeds: usize,
    /// Epochs of every network (the tree model boosts its own budget).
    pub epochs: usize,
    pub series: SeriesRequest,
    pub sequence_length: usize,
    /// The first seed; the others count up from it.
    #[serde(default = "default_first_seed")]
    pub first_seed: u64,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    #[serde(default)]
    pub device: DeviceChoice,
    /// Bars ahead (h).
    #[serde(default = "default_horizon")]
    pub horizon: usize,
    /// Single-window calls timed per model and runtime.
    #[serde(default = "default_latency_calls")]
    pub latency_calls: usize,
    /// Empty: the return target's benchmark; otherwise the target benchmark of these
    /// (volatility, direction).
    #[serde(default)]
    pub targets: Vec<Target>,
    /// Empty: no feature-set comparison. Otherwise the feature benchmark: every pair and seed
    /// trained on the plain feature set (`price`) and on each of these, each judged against its
    /// plain twin by a paired test on the test windows both forecast.
    #[serde(default)]
    pub feature_sets: Vec<FeatureSet>,
    /// A context market for the feature benchmark: every pair and seed also trained on `price`
    /// with this market's columns beside it, judged against its plain twin like a feature set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Symbol>,
}

fn default_first_seed() -> u64 {
    TrainSpec::default().seed
}

fn default_batch_size() -> usize {
    TrainSpec::default().batch_size
}

fn default_horizon() -> usize {
    TrainSpec::default().horizon
}

fn default_latency_calls() -> usize {
    200
}

impl Default for BenchSpec {
    /// `atb bench`'s defaults: every model, default variant, one seed, two epochs, on the last
    /// 90 days of the bundled sample.
    fn default() -> Self {
        Self {
            architectures: Architecture::TRAINABLE.to_vec(),
            variants: vec![Variant::Default],
            seeds: 1,
            epochs: 2,
            series: SeriesRequest {
                days: Some(90),
                ..SeriesRequest::default()
            },
            sequence_length: TrainSpec::default().sequence_length,
            first_seed: default_first_seed(),
            batch_size: default_batch_size(),
            device: DeviceChoice::default(),
            horizon: default_horizon(),
            latency_calls: default_latency_calls(),
            targets: Vec::new(),
            feature_sets: Vec::new(),
            context: None,
        }
    }
}

impl BenchSpec {
    /// Why it cannot run, in form words (empty: it can).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.architectures.is_empty() || self.variants.is_empty() {
            out.push("choose at least one model and one variant".into());
        }
        if self.architectures.contains(&Architecture::Ensemble) {
            let networks = self.architectures.iter().filter(|a| a.is_network()).count();
            if networks < 2 {
                out.push(format!(
                    "an ensemble row weighs the networks of the list together: choose at least \
                     two networks beside it ({networks} chosen)"
                ));
            }
            if !self.targets.is_empty() || self.is_feature_bench() {
                out.push(
                    "the ensemble row is measured in the return table only (not with targets or \
                     feature sets)"
                        .into(),
                );
            }
        }
        if !(1..=20).contains(&self.seeds) {
            out.push(format!("seeds: {} is not between 1 and 20", self.seeds));
        }
        if !crate::spec::ranges::EPOCHS.contains(&self.epochs) {
            out.push(format!(
                "epochs: {} is not between 1 and 100000",
                self.epochs
            ));
        }
        if self.latency_calls == 0 {
            out.push("latency calls: at least 1".into());
        }
        if self.targets.contains(&Target::Return) {
            out.push(
                "targets: volatility and direction; the return target is the ordinary benchmark"
                    .into(),
            );
        }
        if self.feature_sets.contains(&FeatureSet::Price) {
            out.push(
                "feature sets: the ones to compare with the plain model, which reads price".into(),
            );
        }
        if let Some(context) = &self.context {
            if !self.targets.is_empty() {
                out.push(
                    "a context market and targets: one benchmark at a time (the feature \
                     benchmark is of the return)"
                        .into(),
                );
            }
            if *context == self.series.symbol {
                out.push(format!(
                    "context: {context} is the series itself; choose another market"
                ));
            }
        }
        if !self.feature_sets.is_empty() && !self.targets.is_empty() {
            out.push(
                "feature sets and targets: one benchmark at a time (the feature benchmark is of the return)"
                    .into(),
            );
        }
        out.extend(self.series.problems().into_iter().map(|p| p.to_string()));
        out.extend(
            self.train_spec(Architecture::CnnLstm, Variant::Default, 0)
                .problems()
                .into_iter()
                .filter(|p| p.field != "epochs")
                .map(|p| p.to_string()),
        );
        out
    }

    /// Every (type, variant) in order, without repeats.
    /// Whether this is the feature benchmark (feature sets or a context market against the
    /// plain model), not the return table.
    pub fn is_feature_bench(&self) -> bool {
        !self.feature_sets.is_empty() || self.context.is_some()
    }

    pub fn pairs(&self) -> Vec<(Architecture, Variant)> {
        let mut out = Vec::new();
        for &m in &self.architectures {
            for &v in &self.variants {
                if !out.contains(&(m, v)) {
                    out.push((m, v));
                }
            }
        }
        out
    }

    /// The training spec of run `k` (0-based seed index) of a pair: the benchmark's data
    /// settings, seed `first_seed + k`, and early stopping off (every network runs the epochs
    /// asked for: a benchmark compares equal budgets).
    pub fn train_spec(&self, architecture: Architecture, variant: Variant, k: usize) -> TrainSpec {
        TrainSpec {
            architecture,
            variant,
            epochs: self.epochs,
            batch_size: self.batch_size,
            sequence_length: self.sequence_length,
            seed: self.first_seed + k as u64,
            device: self.device,
            horizon: self.horizon,
            patience: self.epochs.max(1),
            lr_patience: self.epochs.max(1),
            ..TrainSpec::default()
        }
    }
}

/// Progress of a benchmark, streamed to the desktop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "update", rename_all = "snake_case")]
pub enum BenchUpdate {
    /// Run `index` of `total` (1-based) starts.
    Started {
        architecture: Architecture,
        variant: Variant,
        seed: u64,
        index: usize,
        total: usize,
    },
    /// An epoch (a boosting round for trees) of the run in progress ended.
    Epoch { epoch: usize, epochs: usize },
    /// Exporting and timing the first seed's model.
    Measuring {
        architecture: Architecture,
        variant: Variant,
    },
    /// A (type, variant) is done.
    Measured(Box<BenchResult>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_runs_are_adjusted_across_every_test_of_their_target() {
        use crate::targets::{
            DirectionEvaluation, DirectionScores, LossComparison, TargetEvaluation,
        };
        use crate::training::PairedTest;
        let scores = DirectionScores {
            log_loss: 0.69,
            brier: 0.25,
            reliability: 0.0,
            resolution: 0.0,
            uncertainty: 0.25,
            accuracy: 0.5,
        };
        let test = |p: f64| {
            (p == p).then_some(LossComparison {
                test: Some(PairedTest {
                    statistic: -2.0,
                    p_value: p,
                    mean_loss_difference: -0.01,
                    n: 500,
                    kernel: None,
                }),
                skill: None,
            })
        };
        let run = |p: [f64; 3]| TargetBenchRun {
            architecture: Architecture::Lstm,
            variant: Variant::Default,
            seed: 42,
            version_id: "v".into(),
            train_seconds: 1.0,
            evaluation: TargetEvaluation::Direction(Box::new(DirectionEvaluation {
                windows: 500,
                up_share: 0.5,
                model: scores,
                climatology: scores,
                last_move: scores,
                reliability_table: Vec::new(),
                vs_climatology: test(p[0]),
                vs_last_move: test(p[1]),
                logistic: Some(scores),
                vs_logistic: test(p[2]),
            })),
            adjusted_p: Vec::new(),
        };
        let mut runs = vec![run([0.01, 0.02, 0.5]), run([0.04, f64::NAN, 0.3])];
        assert_eq!(adjust_target_runs(&mut runs), (0, 5));
        // By hand, Holm over the five: 0.01 x 5, 0.02 x 4, 0.04 x 3, 0.3 x 2, then 0.5 x 1
        // raised to the running maximum 0.6.
        assert_eq!(runs[0].adjusted_p, [0.05, 0.08, 0.6]);
        assert!(runs[1].adjusted_p[1].is_nan());
        assert!((runs[1].adjusted_p[0] - 0.12).abs() < 1e-12 && runs[1].adjusted_p[2] == 0.6);
        // 0.01 alone would be "better"; across the table it is not.
        let kinds: Vec<_> = runs[0].verdicts().iter().map(|v| v.kind).collect();
        assert_eq!(kinds, [crate::verdict::VerdictKind::NoDifference; 3]);
    }

    #[test]
    fn holm_runs_over_every_test_of_a_report() {
        // A real report (six default models, one seed) written before the adjustment existed.
        let mut report: BenchReport =
            serde_json::from_str(include_str!("../../../docs/bench-cpu-gbdt.json")).unwrap();
        let raw: Vec<f64> = report
            .results
            .iter()
            .flat_map(|r| &r.runs)
            .flat_map(|run| [run.vs_persistence, run.vs_ridge, run.vs_cnn_lstm])
            .flatten()
            .map(|t| t.p_value)
            .collect();
        let family = adjust_for_many_comparisons(&mut report.results);
        assert_eq!(family, raw.len());
        assert!(family >= 12, "{family}");
        let smallest = raw.iter().copied().fold(f64::INFINITY, f64::min);
        let adjusted: Vec<f64> = report
            .results
            .iter()
            .flat_map(|r| &r.runs)
            .filter_map(|run| run.adjusted_p)
            .flat_map(|a| [a.vs_persistence, a.vs_ridge, a.vs_cnn_lstm])
            .flatten()
            .collect();
        assert_eq!(adjusted.len(), family);
        // Holm multiplies the smallest p-value by the family size.
        let least = adjusted.iter().copied().fold(f64::INFINITY, f64::min);
        assert!((least - (family as f64 * smallest).min(1.0)).abs() < 1e-12);
        for r in &report.results {
            let t = r.vs_persistence.as_ref().unwrap();
            assert!(t.better_adjusted.unwrap() <= t.better);
            assert!(t.worse_adjusted.unwrap() <= t.worse);
        }
        assert_eq!(
            run_label(Architecture::Tcn, Variant::Default, 42),
            "tcn default seed 42"
        );
    }
}

/// One trained version of `atb bench --targets`: its target's evaluation beside that target's
/// baselines, on the benchmark's series and horizon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetBenchRun {
    pub architecture: Architecture,
    pub variant: Variant,
    pub seed: u64,
    pub version_id: String,
    pub train_seconds: f64,
    pub evaluation: crate::targets::TargetEvaluation,
    /// The p-value of each comparison (in `TargetEvaluation::comparisons` order) after Holm's
    /// adjustment across every test of the report's runs of the same target (NaN where none).
    #[serde(default)]
    pub adjusted_p: Vec<f64>,
}

impl TargetBenchRun {
    /// The verdicts against the target's baselines, judged with `adjusted_p`.
    pub fn verdicts(&self) -> Vec<crate::verdict::Verdict> {
        self.evaluation
            .comparisons()
            .iter()
            .enumerate()
            .map(|(i, (name, c))| {
                crate::verdict::verdict_with(
                    name,
                    c.as_ref().and_then(|c| c.test.as_ref()),
                    c.as_ref().and_then(|c| c.skill.as_ref()),
                    self.adjusted_p.get(i).copied(),
                )
            })
            .collect()
    }
}

/// Holm's adjustment across every test of the runs of each target (a table of 6 models, 3
/// seeds and 4 baselines holds 72): sets each run's `adjusted_p`; returns the family sizes
/// (volatility, direction).
pub fn adjust_target_runs(runs: &mut [TargetBenchRun]) -> (usize, usize) {
    let mut sizes = [0usize; 2];
    for (slot, target) in [Target::Volatility, Target::Direction]
        .into_iter()
        .enumerate()
    {
        let raw: Vec<Vec<f64>> = runs
            .iter()
            .map(|r| {
                if r.evaluation.target() != target {
                    return Vec::new();
                }
                r.evaluation
                    .comparisons()
                    .iter()
                    .map(|(_, c)| c.and_then(|c| c.test).map_or(f64::NAN, |t| t.p_value))
                    .collect()
            })
            .collect();
        let flat: Vec<f64> = raw.iter().flatten().copied().collect();
        sizes[slot] = flat.iter().filter(|p| p.is_finite()).count();
        let adjusted = crate::selection::holm(&flat);
        let mut next = adjusted.into_iter();
        for (run, own) in runs.iter_mut().zip(&raw) {
            if !own.is_empty() {
                run.adjusted_p = next.by_ref().take(own.len()).collect();
            }
        }
    }
    (sizes[0], sizes[1])
}

/// `atb bench --targets`: every pair and seed trained on each target, each judged against
/// the target's baselines by its own loss (QLIKE; log loss).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetBenchReport {
    /// RFC 3339, UTC.
    pub created_at: String,
    pub atb_version: String,
    /// `BTCUSDT 1h sample, 2024-07-20 to 2025-01-20` (what was trained on).
    pub series: String,
    pub horizon: usize,
    pub epochs: usize,
    pub runs: Vec<TargetBenchRun>,
}

/// One run of the feature benchmark: a pair and seed trained with `feature_set`, beside the
/// same pair and seed on the plain set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureBenchRun {
    pub architecture: Architecture,
    pub variant: Variant,
    pub seed: u64,
    pub feature_set: FeatureSet,
    /// The context market beside the features (`None`: the set alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Symbol>,
    pub version_id: String,
    pub plain_version_id: String,
    pub train_seconds: f64,
    pub plain_train_seconds: f64,
    /// Test windows both forecast (the sets' warm-ups differ, so their test splits may start a
    /// few windows apart; they end together).
    pub windows: usize,
    pub mae_usd: f64,
    pub plain_mae_usd: f64,
    /// Diebold-Mariano on the absolute price errors, the set's run first.
    pub test: Option<PairedTest>,
    /// Holm-adjusted across every run of the report.
    pub adjusted_p: Option<f64>,
}

/// What a feature-benchmark run reads beside the plain model's inputs: `wavelet`, or
/// `price + BTCUSDT context`.
pub fn inputs_label(feature_set: FeatureSet, context: Option<&Symbol>) -> String {
    match context {
        Some(c) => format!("{feature_set} + {c} context"),
        None => feature_set.to_string(),
    }
}

impl FeatureBenchRun {
    /// What was added to the plain model (see [`inputs_label`]).
    pub fn inputs(&self) -> String {
        inputs_label(self.feature_set, self.context.as_ref())
    }

    /// 1 - MAE(set) / MAE(plain): positive when the set's inputs help.
    pub fn skill(&self) -> f64 {
        1.0 - self.mae_usd / self.plain_mae_usd
    }

    /// The verdict against the plain model, on the Holm-adjusted p-value.
    pub fn verdict(&self) -> crate::verdict::Verdict {
        crate::verdict::verdict_with(
            &format!("{} on price", self.architecture),
            self.test.as_ref(),
            None,
            self.adjusted_p,
        )
    }
}

/// `atb bench --feature-sets`: what each feature set adds to the plain model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureBenchReport {
    /// RFC 3339, UTC.
    pub created_at: String,
    pub atb_version: String,
    pub series: String,
    pub horizon: usize,
    pub epochs: usize,
    pub runs: Vec<FeatureBenchRun>,
}

/// Holm's adjustment across every run's paired test (a table of 6 models, 3 seeds and 2 sets
/// holds 36): sets each run's `adjusted_p`; returns the family size.
pub fn adjust_feature_runs(runs: &mut [FeatureBenchRun]) -> usize {
    let raw: Vec<f64> = runs
        .iter()
        .map(|r| r.test.as_ref().map_or(f64::NAN, |t| t.p_value))
        .collect();
    let adjusted = crate::selection::holm(&raw);
    for (run, p) in runs.iter_mut().zip(adjusted) {
        run.adjusted_p = Some(p).filter(|p| p.is_finite());
    }
    raw.iter().filter(|p| p.is_finite()).count()
}
