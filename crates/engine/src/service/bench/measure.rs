//! `atb bench`: trains each chosen (type, variant) on the same data, split, seeds and epochs,
//! registers the runs under the `bench` tag (never as `latest`), exports each to ONNX with the
//! parity check, times inference natively and in tract, and assembles the original's comparison
//! table from the measurements, with the persistence and ridge baselines as rows. An `ensemble`
//! in the list adds, per variant, a row of the networks just trained weighed together.

use atb_models::burn::prelude::Device;
use atb_models::probe::ProbeSpec;
use atb_models::{Architecture, DeviceChoice, Variant, select_device};
use atb_protocol::backtest::{Positions, SignalRule};
use atb_protocol::bench::{
    BaselineResult, BenchReport, BenchResult, BenchRun, BenchSpec, SeedTests, SkillIntervals,
    adjust_for_many_comparisons, run_label,
};
use atb_protocol::selection::{MCS_ALPHA, McsStatistic, ModelConfidenceSet};
use atb_protocol::training::{Evaluation, Metrics, PairedTest, SplitEvaluation, TrainingEvent};
use atb_protocol::verdict::SIGNIFICANCE_LEVEL;
use atb_protocol::vocab::Weighting;
use chrono::Utc;

use super::inference::{TimingPlan, time_inference};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::evaluation::{EvaluationWindow, RidgeBaseline, usd_errors};
use crate::inference::{NativePredictor, test_windows_of};
use crate::market::source::CandleSeries;
use crate::onnx::{OrtModel, PARITY_WINDOWS, export_loaded};
use crate::registry::{Registry, weights_file};
use crate::service::ensemble::build_ensemble;
use crate::service::train::{TrainOptions, TrainResult, train_and_register};
use crate::settings::Settings;
use crate::stats::{Loss, diebold_mariano, median, skill_interval};
use crate::training::TrainOutcome;

/// The tag benchmark versions are registered under.
pub const BENCH_TAG: &str = "bench";

/// Refuses a benchmark that cannot run, naming every problem (the spec's own checks, then the
/// memory check of each pair's training batch).
pub fn check_bench(spec: &BenchSpec) -> Result<()> {
    let problems = spec.problems();
    if !problems.is_empty() {
        return Err(Error::InvalidRequest(problems.join("; ")));
    }
    for (architecture, variant) in spec.pairs().into_iter().filter(|(a, _)| a.is_trainable()) {
        crate::training::check_spec(spec.train_spec(architecture, variant, 0))?;
    }
    Ok(())
}

/// Progress of a benchmark, for the CLI's and the UI's displays.
#[derive(Debug, Clone)]
pub enum BenchProgress {
    /// Run `index` of `total` (1-based) starts.
    RunStarted {
        architecture: Architecture,
        variant: Variant,
        seed: u64,
        index: usize,
        total: usize,
    },
    Training(TrainingEvent),
    /// Exporting and timing inference of a finished run.
    Measuring {
        architecture: Architecture,
        variant: Variant,
    },
    /// A (type, variant) is done; ratios to `cnn_lstm` are filled in only in the final report.
    Measured(Box<BenchResult>),
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Sample standard deviation; `None` for fewer than two values.
fn spread(values: &[f64]) -> Option<f64> {
    (values.len() > 1).then(|| {
        let m = mean(values);
        (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (values.len() - 1) as f64).sqrt()
    })
}

/// Mean of the values that exist, `None` when none does.
fn mean_some(values: &[Option<f64>]) -> Option<f64> {
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    (!present.is_empty()).then(|| mean(&present))
}

/// The seeds' paired tests summarised: median p-value and significant counts by direction
/// (before Holm's adjustment, which [`adjust_for_many_comparisons`] adds over the report).
fn seed_tests(tests: &[Option<PairedTest>]) -> Option<SeedTests> {
    let present: Vec<&PairedTest> = tests.iter().flatten().collect();
    if present.is_empty() {
        return None;
    }
    let significant = |t: &&PairedTest| t.p_value < SIGNIFICANCE_LEVEL;
    Some(SeedTests {
        seeds: tests.len(),
        median_p_value: median(&present.iter().map(|t| t.p_value).collect::<Vec<_>>()),
        better: present
            .iter()
            .filter(|t| significant(t) && t.mean_loss_difference < 0.0)
            .count(),
        worse: present
            .iter()
            .filter(|t| significant(t) && t.mean_loss_difference > 0.0)
            .count(),
        better_adjusted: None,
        worse_adjusted: None,
    })
}

/// The model confidence set over every run and the baselines, on absolute price errors of the
/// common test windows (`errors` by version id; `baselines` by name).
fn confidence_set(
    results: &[BenchResult],
    errors: &std::collections::HashMap<String, Vec<f64>>,
    baselines: Vec<(String, Vec<f64>)>,
    horizon: usize,
) -> Option<ModelConfidenceSet> {
    let mut names = Vec::new();
    let mut losses = Vec::new();
    for r in results {
        for run in &r.runs {
            names.push(run_label(r.architecture, r.variant, run.seed));
            losses.push(
                errors
                    .get(&run.version_id)?
                    .iter()
                    .map(|e| e.abs())
                    .collect(),
            );
        }
    }
    for (name, e) in baselines {
        names.push(name);
        losses.push(e.iter().map(|x| x.abs()).collect());
    }
    crate::selection::model_confidence_set(
        &names,
        &losses,
        horizon,
        McsStatistic::Max,
        MCS_ALPHA,
        "absolute price error",
    )
}

/// Price errors of persistence, drift and ridge on the test windows of `o` (the same for
/// every run of a benchmark).
fn baseline_errors(o: &TrainOutcome) -> Result<Vec<(String, Vec<f64>)>> {
    let data = &o.data;
    let samples = &data.samples.test;
    let closes: Vec<f64> = samples.iter().map(|&t| data.matrix.closes[t]).collect();
    let actual: Vec<f64> = samples.iter().map(|&t| data.returns[t]).collect();
    let window = EvaluationWindow {
        closes: &closes,
        actual: &actual,
        naive_train_mae_return: 1.0,
        horizon: data.target.horizon,
    };
    let ridge = RidgeBaseline::fit(data)?;
    let ridge_returns: Vec<f64> = samples.iter().map(|&t| ridge.predict(data, t)).collect();
    Ok(vec![
        (
            "persistence".into(),
            usd_errors(&vec![0.0; samples.len()], &window),
        ),
        (
            "drift".into(),
            usd_errors(&vec![data.target.mean; samples.len()], &window),
        ),
        ("ridge".into(), usd_errors(&ridge_returns, &window)),
    ])
}

/// A run's price errors on its test windows (the same windows for every run of a benchmark).
fn test_errors(o: &TrainOutcome, device: &Device) -> Result<Vec<f64>> {
    let data = &o.data;
    let samples = &data.samples.test;
    let returns: Vec<f64> = o
        .model
        .predict_scaled(data, samples, device)?
        .iter()
        .map(|p| data.target.unscale(f64::from(*p)))
        .collect();
    let closes: Vec<f64> = samples.iter().map(|&t| data.matrix.closes[t]).collect();
    let actual: Vec<f64> = samples.iter().map(|&t| data.returns[t]).collect();
    Ok(usd_errors(
        &returns,
        &EvaluationWindow {
            closes: &closes,
            actual: &actual,
            naive_train_mae_return: 1.0,
            horizon: data.target.horizon,
        },
    ))
}

/// The return target's test split: the benchmark trains that target.
fn return_split(evaluation: &Evaluation) -> Result<&SplitEvaluation> {
    evaluation.test.as_ref().ok_or_else(|| {
        Error::InvalidData("a benchmark run has no return-target test evaluation".into())
    })
}

fn run_record(o: &TrainOutcome, version_id: String) -> Result<BenchRun> {
    let evaluation = o
        .evaluation
        .as_ref()
        .ok_or_else(|| Error::InvalidData("a finished run has no evaluation".into()))?;
    // Folded from +0 (an empty `sum` of floats is -0, which would print as "-0").
    let epoch_seconds = o.history.iter().fold(0.0, |s, e| s + e.seconds);
    let seconds_per_epoch = epoch_seconds / o.epochs_run.max(1) as f64;
    let batches_seconds = o.history.iter().fold(0.0, |s, e| s + e.train_seconds);
    // An ensemble trains nothing: no epochs, no training throughput (0, not a division by 0).
    let per_second = |windows: f64, seconds: f64| {
        if seconds > 0.0 {
            windows / seconds
        } else {
            0.0
        }
    };
    let test = return_split(evaluation)?;
    let m = &test.model;
    let traded = evaluation
        .backtest
        .as_ref()
        .and_then(|b| b.model(Positions::LongFlat));
    Ok(BenchRun {
        seed: o.params.seed,
        version_id,
        epochs_run: o.epochs_run,
        seconds_per_epoch,
        samples_per_second: per_second(o.dataset.train.samples as f64, seconds_per_epoch),
        train_windows_per_s: per_second(
            (o.dataset.train.samples * o.epochs_run) as f64,
            batches_seconds,
        ),
        train_seconds: o.train_seconds,
        test_rmse_usd: m.rmse_usd,
        test_mae_usd: m.mae_usd,
        skill_vs_persistence: m.skill_vs_persistence,
        directional_accuracy: m.directional_accuracy,
        pt_p_value: m.pt_p_value,
        vs_persistence: test.vs_persistence.and_then(|c| c.absolute),
        vs_ridge: test.vs_ridge.and_then(|c| c.absolute),
        vs_cnn_lstm: None,
        skill_intervals: Some(SkillIntervals {
            vs_persistence: test.vs_persistence.and_then(|c| c.skill),
            vs_ridge: test.vs_ridge.and_then(|c| c.skill),
            vs_cnn_lstm: None,
        }),
        adjusted_p: None,
        net_return: traded.map(|s| s.total_return),
        sharpe: traded.map(|s| s.sharpe),
    })
}

/// Export and timings of the first seed's model.
struct Measurements {
    weight_bytes: u64,
    onnx_bytes: u64,
    onnx_max_abs_diff: f64,
    native: atb_protocol::bench::InferenceTimings,
    onnx: atb_protocol::bench::InferenceTimings,
    /// The same file in ONNX Runtime, or why it could not run there.
    onnxruntime: std::result::Result<atb_protocol::bench::InferenceTimings, String>,
}

fn measure(
    settings: &Settings,
    o: &TrainOutcome,
    version_id: &str,
    device: &Device,
    timing: TimingPlan,
) -> Result<Measurements> {
    let mut registry = Registry::open(settings)?;
    let cpu = Device::flex();
    let loaded = registry.load(version_id, &cpu)?;
    let parity_windows = test_windows_of(&o.data, PARITY_WINDOWS)?;
    let (report, onnx) = export_loaded(&mut registry, &loaded, &cpu, &parity_windows, None)?;
    // An ensemble's learned values are its members' files (its own holds only the weights).
    let mut owners = vec![loaded.row.clone()];
    if let Some(recipe) = registry.ensemble_recipe(&loaded.row)? {
        for m in &recipe.members {
            owners.push(registry.resolve(&m.version_id)?);
        }
    }
    let mut weight_bytes = 0;
    for row in &owners {
        let weights = registry
            .onnx_path(row)
            .with_file_name(weights_file(row.architecture));
        weight_bytes += std::fs::metadata(&weights)
            .map_err(|e| Error::io(&weights, e))?
            .len();
    }

    // 256 real test windows (cycled when the test split is shorter).
    let test = test_windows_of(&o.data, 256)?;
    let one = test.shape[1] * test.shape[2];
    let windows: Vec<f32> = (0..256)
        .flat_map(|i| {
            let w = i % test.count;
            test.values[w * one..(w + 1) * one].iter().copied()
        })
        .collect();
    let shape = [test.shape[1], test.shape[2]];
    let native = time_inference(
        &NativePredictor {
            model: &o.model,
            device,
        },
        &windows,
        shape,
        timing,
    )?;
    let onnx_timings = time_inference(&onnx, &windows, shape, timing)?;
    let onnxruntime = std::fs::read(registry.onnx_path(&loaded.row))
        .map_err(|e| e.to_string())
        .and_then(|bytes| OrtModel::from_bytes(&bytes).map_err(|e| e.to_string()))
        .and_then(|ort| time_inference(&ort, &windows, shape, timing).map_err(|e| e.to_string()));
    Ok(Measurements {
        weight_bytes,
        onnx_bytes: report.export.bytes,
        onnx_max_abs_diff: report.export.max_abs_diff,
        native,
        onnx: onnx_timings,
        onnxruntime,
    })
}

fn aggregate(
    architecture: Architecture,
    variant: Variant,
    device: String,
    parameters: usize,
    runs: Vec<BenchRun>,
    m: Measurements,
) -> BenchResult {
    let pick = |f: fn(&BenchRun) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
    let rmse = pick(|r| r.test_rmse_usd);
    let mae = pick(|r| r.test_mae_usd);
    let skill = pick(|r| r.skill_vs_persistence);
    let direction: Vec<Option<f64>> = runs.iter().map(|r| r.directional_accuracy).collect();
    let direction_present: Vec<f64> = direction.iter().flatten().copied().collect();
    BenchResult {
        architecture,
        variant,
        device,
        parameters,
        weight_bytes: m.weight_bytes,
        onnx_bytes: m.onnx_bytes,
        seeds: runs.len(),
        epochs_run: mean(&pick(|r| r.epochs_run as f64)),
        seconds_per_epoch: mean(&pick(|r| r.seconds_per_epoch)),
        samples_per_second: mean(&pick(|r| r.samples_per_second)),
        train_windows_per_s: mean(&pick(|r| r.train_windows_per_s)),
        train_seconds: mean(&pick(|r| r.train_seconds)),
        train_time_vs_cnn_lstm: None,
        latency_p50_ms: m.native.latency_p50_ms,
        latency_p99_ms: m.native.latency_p99_ms,
        batch256_windows_per_s: m.native.batch256_windows_per_s,
        onnx_latency_p50_ms: m.onnx.latency_p50_ms,
        onnx_latency_p99_ms: m.onnx.latency_p99_ms,
        onnx_batch256_windows_per_s: m.onnx.batch256_windows_per_s,
        onnx_max_abs_diff: m.onnx_max_abs_diff,
        onnxruntime_missing: m.onnxruntime.as_ref().err().cloned(),
        onnxruntime: m.onnxruntime.ok(),
        test_rmse_usd: mean(&rmse),
        test_mae_usd: mean(&mae),
        mae_vs_cnn_lstm: None,
        skill_vs_persistence: mean(&skill),
        directional_accuracy: mean_some(&direction),
        pt_p_value: median(&runs.iter().filter_map(|r| r.pt_p_value).collect::<Vec<_>>()),
        pt_significant_seeds: runs
            .iter()
            .filter(|r| r.pt_p_value.is_some_and(|p| p < SIGNIFICANCE_LEVEL))
            .count(),
        vs_persistence: seed_tests(&runs.iter().map(|r| r.vs_persistence).collect::<Vec<_>>()),
        vs_ridge: seed_tests(&runs.iter().map(|r| r.vs_ridge).collect::<Vec<_>>()),
        vs_cnn_lstm: None,
        test_rmse_usd_std: spread(&rmse),
        test_mae_usd_std: spread(&mae),
        skill_vs_persistence_std: spread(&skill),
        directional_accuracy_std: spread(&direction_present),
        runs,
    }
}

/// Fills in the ratios to `cnn_lstm` of the same variant and, from the runs' test errors (keyed
/// by version id), each seed's paired test against `cnn_lstm` of the same variant and seed.
pub fn relate_to_cnn_lstm(
    results: &mut [BenchResult],
    errors: &std::collections::HashMap<String, Vec<f64>>,
    horizon: usize,
) {
    let references: Vec<BenchResult> = results
        .iter()
        .filter(|r| r.architecture == Architecture::CnnLstm)
        .cloned()
        .collect();
    for r in results.iter_mut() {
        let Some(base) = references.iter().find(|b| b.variant == r.variant) else {
            continue;
        };
        r.train_time_vs_cnn_lstm = Some(r.train_seconds / base.train_seconds);
        r.mae_vs_cnn_lstm = Some(r.test_mae_usd / base.test_mae_usd);
        if r.architecture == base.architecture {
            continue;
        }
        for run in r.runs.iter_mut() {
            let reference = base.runs.iter().find(|b| b.seed == run.seed);
            let (test, skill) = match (
                errors.get(&run.version_id),
                reference.and_then(|b| errors.get(&b.version_id)),
            ) {
                (Some(mine), Some(theirs)) if mine.len() == theirs.len() => (
                    diebold_mariano(mine, theirs, horizon, Loss::Absolute),
                    skill_interval(mine, theirs, horizon),
                ),
                _ => (None, None),
            };
            run.vs_cnn_lstm = test;
            if let Some(s) = run.skill_intervals.as_mut() {
                s.vs_cnn_lstm = skill;
            }
        }
        r.vs_cnn_lstm = seed_tests(&r.runs.iter().map(|x| x.vs_cnn_lstm).collect::<Vec<_>>());
    }
}

/// The ensemble row of one variant: per seed, the networks of that variant and seed weighed
/// with non-negative weights on their validation forecasts, evaluated on the same test windows,
/// registered under the benchmark's tag, the first seed's exported and timed.
struct EnsembleRows<'a> {
    settings: &'a Settings,
    spec: &'a BenchSpec,
    variant: Variant,
    device: &'a Device,
    timing: TimingPlan,
    cancel: &'a CancelToken,
}

impl EnsembleRows<'_> {
    fn measure(
        &self,
        results: &[BenchResult],
        errors: &mut std::collections::HashMap<String, Vec<f64>>,
        index: &mut usize,
        total: usize,
        on_progress: &mut dyn FnMut(BenchProgress),
    ) -> Result<BenchResult> {
        let members: Vec<&BenchResult> = results
            .iter()
            .filter(|r| r.architecture.is_network() && r.variant == self.variant)
            .collect();
        let mut runs = Vec::new();
        let mut first: Option<(TrainOutcome, String)> = None;
        for k in 0..self.spec.seeds {
            // Nothing to stop inside a weighing, so a Cancel is honoured between seeds.
            if self.cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            *index += 1;
            let seed = self
                .spec
                .train_spec(Architecture::Ensemble, self.variant, k)
                .seed;
            on_progress(BenchProgress::RunStarted {
                architecture: Architecture::Ensemble,
                variant: self.variant,
                seed,
                index: *index,
                total,
            });
            let versions: Vec<String> = members
                .iter()
                .filter_map(|r| r.runs.iter().find(|run| run.seed == seed))
                .map(|run| run.version_id.clone())
                .collect();
            let (outcome, _) = build_ensemble(self.settings, &versions, Weighting::Nnls)?;
            let row = Registry::open(self.settings)?.register(&outcome, Some(BENCH_TAG), false)?;
            runs.push(run_record(&outcome, row.version_id.clone())?);
            errors.insert(row.version_id.clone(), test_errors(&outcome, self.device)?);
            first.get_or_insert((outcome, row.version_id));
        }
        let (outcome, version_id) = first.ok_or_else(|| {
            Error::InvalidRequest("an ensemble row needs at least one seed".into())
        })?;
        on_progress(BenchProgress::Measuring {
            architecture: Architecture::Ensemble,
            variant: self.variant,
        });
        let m = measure(
            self.settings,
            &outcome,
            &version_id,
            self.device,
            self.timing,
        )?;
        Ok(aggregate(
            Architecture::Ensemble,
            self.variant,
            outcome.device.clone(),
            outcome.parameters,
            runs,
            m,
        ))
    }
}

fn baseline(name: &str, m: &Metrics) -> BaselineResult {
    BaselineResult {
        name: name.into(),
        test_rmse_usd: m.rmse_usd,
        test_mae_usd: m.mae_usd,
        skill_vs_persistence: m.skill_vs_persistence,
        directional_accuracy: m.directional_accuracy,
        pt_p_value: m.pt_p_value,
    }
}

/// Runs the whole benchmark on `series`. Blocking: run it on a worker thread.
pub fn run_benchmark(
    settings: &Settings,
    series: &CandleSeries,
    spec: &BenchSpec,
    on_progress: &mut dyn FnMut(BenchProgress),
    cancel: &CancelToken,
) -> Result<BenchReport> {
    check_bench(spec)?;
    let pairs = spec.pairs();
    let total = pairs.len() * spec.seeds;
    let native_device = select_device(spec.device)?.device;
    let timing = TimingPlan {
        single_calls: spec.latency_calls,
        ..TimingPlan::default()
    };
    let mut results = Vec::new();
    let mut baselines = Vec::new();
    let mut test_windows = 0;
    let mut device_name = String::new();
    let mut index = 0;
    let mut errors = std::collections::HashMap::new();
    let mut reference_errors = Vec::new();
    let mut buy_and_hold_return = None;
    for &(architecture, variant) in pairs.iter().filter(|(a, _)| a.is_trainable()) {
        let mut runs = Vec::new();
        let mut first: Option<(TrainOutcome, String)> = None;
        for k in 0..spec.seeds {
            index += 1;
            let params = spec.train_spec(architecture, variant, k);
            on_progress(BenchProgress::RunStarted {
                architecture,
                variant,
                seed: params.seed,
                index,
                total,
            });
            let options = TrainOptions {
                tag: Some(BENCH_TAG.into()),
                set_latest: false,
                id_suffix: None,
            };
            let trained = train_and_register(
                settings,
                series,
                &crate::training::check_spec(params.clone())?,
                &options,
                &mut |e| on_progress(BenchProgress::Training(e)),
                cancel,
            )?;
            let TrainResult::Registered { row, outcome } = trained else {
                return Err(Error::Cancelled);
            };
            let outcome = *outcome;
            runs.push(run_record(&outcome, row.version_id.clone())?);
            errors.insert(
                row.version_id.clone(),
                test_errors(&outcome, &native_device)?,
            );
            if let (true, Some(e)) = (baselines.is_empty(), &outcome.evaluation) {
                let test = return_split(e)?;
                baselines = vec![
                    baseline("persistence", &test.persistence),
                    baseline("ridge", &test.ridge),
                ];
                test_windows = test.samples;
                device_name = outcome.device.clone();
                reference_errors = baseline_errors(&outcome)?;
                buy_and_hold_return = e.backtest.as_ref().and_then(|b| {
                    b.strategies
                        .iter()
                        .find(|s| s.rule == SignalRule::BuyAndHold)
                        .map(|s| s.total_return)
                });
            }
            if first.is_none() {
                first = Some((outcome, row.version_id));
            }
        }
        let Some((outcome, version_id)) = first else {
            continue;
        };
        on_progress(BenchProgress::Measuring {
            architecture,
            variant,
        });
        // With `auto`, a network's latency is timed where its forecasts run: the device its own
        // measured single-window latency favours (the CPU without a hardware GPU).
        let latency_device = match (&spec.device, architecture.is_network()) {
            (DeviceChoice::Auto, true) => {
                crate::device_probe::forecast_device(&ProbeSpec {
                    architecture,
                    variant,
                    overrides: Default::default(),
                    input: [spec.sequence_length, outcome.data.width()],
                    batch: spec.batch_size,
                })?
                .device
            }
            _ => native_device.clone(),
        };
        let m = measure(settings, &outcome, &version_id, &latency_device, timing)?;
        let result = aggregate(
            architecture,
            variant,
            outcome.device.clone(),
            outcome.parameters,
            runs,
            m,
        );
        on_progress(BenchProgress::Measured(Box::new(result.clone())));
        results.push(result);
    }
    // Ensembles last: of the networks just trained, per variant and seed.
    for &(_, variant) in pairs.iter().filter(|(a, _)| !a.is_trainable()) {
        let ensemble = EnsembleRows {
            settings,
            spec,
            variant,
            device: &native_device,
            timing,
            cancel,
        };
        let result = ensemble.measure(&results, &mut errors, &mut index, total, on_progress)?;
        on_progress(BenchProgress::Measured(Box::new(result.clone())));
        results.push(result);
    }
    relate_to_cnn_lstm(&mut results, &errors, spec.horizon);
    let tests_adjusted = adjust_for_many_comparisons(&mut results);
    let model_confidence_set = confidence_set(&results, &errors, reference_errors, spec.horizon);
    Ok(BenchReport {
        device: device_name,
        source: series.source.clone(),
        symbol: series.symbol.clone(),
        timeframe: series.timeframe,
        epochs: spec.epochs,
        seeds: spec.seeds,
        sequence_length: spec.sequence_length,
        test_windows,
        created_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        results,
        baselines,
        tests_adjusted,
        model_confidence_set,
        buy_and_hold_return,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_tests_take_the_median_and_count_without_averaging_p_values() {
        let t = |p: f64, d: f64| {
            Some(PairedTest {
                statistic: 0.0,
                p_value: p,
                mean_loss_difference: d,
                n: 100,
                kernel: None,
            })
        };
        let tests = [t(0.01, -1.0), t(0.9, -1.0), t(0.04, 2.0), None];
        let s = seed_tests(&tests).unwrap();
        assert_eq!(s.seeds, 4);
        assert_eq!(s.median_p_value, Some(0.04));
        assert_eq!((s.better, s.worse), (1, 1));
        assert_eq!(s.better_adjusted, None);
        assert!(seed_tests(&[None, None]).is_none());
    }

    #[test]
    fn spread_is_the_sample_standard_deviation() {
        assert_eq!(spread(&[1.0]), None);
        let s = spread(&[1.0, 3.0]).unwrap();
        assert!((s - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(mean_some(&[None, Some(2.0), Some(4.0)]), Some(3.0));
        assert_eq!(mean_some(&[None]), None);
    }
}
