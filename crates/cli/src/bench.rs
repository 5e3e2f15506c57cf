//! `atb bench`: the original's comparison table, measured on this machine: trains the chosen
//! models on the same data, seeds and epochs, exports and times them, prints the table and writes
//! it as JSON and markdown. Ctrl-C stops after the current batch.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use atb_engine::service::bench::features::{
    FeatureBenchProgress, bench_features, feature_report_markdown,
};
use atb_engine::service::bench::measure::check_bench;
use atb_engine::service::bench::targets::{
    TargetBenchProgress, bench_targets, target_report_markdown,
};
use atb_engine::service::bench::{bench, report_markdown, write_report_json, write_text};
use atb_engine::service::data::load_series;
use atb_engine::{
    Architecture, BenchProgress, CandleSource, DeviceChoice, FeatureSet, Settings, Symbol, Target,
    Timeframe, Variant,
};
use atb_protocol::bench::BenchSpec;
use atb_protocol::training::TrainingEvent;
use clap::Args;

use crate::EXIT_INTERRUPTED;
use crate::data::RangeArgs;
use crate::output::cancel_on_ctrl_c;

#[derive(Args)]
pub struct BenchArgs {
    /// Architectures, comma-separated, or `all`; `ensemble` adds a row per variant of the
    /// networks listed weighed together (the default: the six trained ones, no ensemble).
    #[arg(long, value_parser = parse_models)]
    models: Option<List<Architecture>>,
    /// Variants, comma-separated (lightweight, default, deep), or `all` (the default: default).
    #[arg(long, value_parser = parse_variants)]
    variants: Option<List<Variant>>,
    /// `sample` (bundled BTCUSDT 1h), `binance` or `csv:PATH`.
    #[arg(long, default_value_t = BenchSpec::default().series.source)]
    source: CandleSource,
    #[arg(long, default_value_t = BenchSpec::default().series.symbol)]
    symbol: Symbol,
    #[arg(long, short = 't', default_value_t = BenchSpec::default().series.timeframe)]
    timeframe: Timeframe,
    /// The range (without one: the last 90 days, as the desktop's Benchmark screen).
    #[command(flatten)]
    range: RangeArgs,
    #[arg(long, default_value_t = BenchSpec::default().epochs)]
    epochs: usize,
    /// Seeds per model (mean and spread over them when more than one).
    #[arg(long, default_value_t = BenchSpec::default().seeds)]
    seeds: usize,
    /// First seed; the others count up from it.
    #[arg(long, default_value_t = BenchSpec::default().first_seed)]
    seed: u64,
    #[arg(long, default_value_t = BenchSpec::default().sequence_length)]
    sequence_length: usize,
    #[arg(long, default_value_t = BenchSpec::default().batch_size)]
    batch_size: usize,
    /// auto, gpu or cpu.
    #[arg(long, default_value_t = BenchSpec::default().device)]
    device: DeviceChoice,
    /// Single-window calls timed per model and runtime.
    #[arg(long, default_value_t = BenchSpec::default().latency_calls)]
    latency_calls: usize,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the comparison tables as markdown here.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Benchmark these targets instead of the return: `volatility`, `direction`, comma-separated,
    /// or `all` (both). Each model is judged against the target's own baselines (RV
    /// persistence, EWMA and HAR-RV; climatology and the last move) by QLIKE or log loss.
    #[arg(long, value_parser = parse_targets)]
    targets: Option<List<Target>>,
    /// Compare feature sets instead: every model trained on `price` and on each of these
    /// (`wavelet`, `wavelet_haar`, `flow`, `technical`, comma-separated, or `all`), each judged
    /// against its plain twin by a paired test on the common test windows.
    #[arg(long, value_parser = parse_feature_sets)]
    feature_sets: Option<List<FeatureSet>>,
    /// With a context market: every model also trained on `price` with that market's returns
    /// and relative volume beside it (same source and timeframe), judged against its plain twin
    /// as a feature set is; alone or beside `--feature-sets`.
    #[arg(long, value_name = "SYMBOL")]
    context: Option<Symbol>,
    /// Bars ahead to forecast (h).
    #[arg(long, default_value_t = BenchSpec::default().horizon)]
    horizon: usize,
}

/// A comma-separated list of names, or `all`.
#[derive(Clone, Debug)]
struct List<T>(Vec<T>);

fn parse_list<T: std::str::FromStr + Copy>(s: &str, all: &[T]) -> Result<List<T>, String>
where
    T::Err: std::fmt::Display,
{
    if s.trim() == "all" {
        return Ok(List(all.to_vec()));
    }
    s.split(',')
        .map(|name| name.parse::<T>().map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()
        .map(List)
}

fn parse_models(s: &str) -> Result<List<Architecture>, String> {
    parse_list(s, &Architecture::ALL)
}

fn parse_variants(s: &str) -> Result<List<Variant>, String> {
    parse_list(s, &Variant::ALL)
}

fn parse_targets(s: &str) -> Result<List<Target>, String> {
    parse_list(s, &[Target::Volatility, Target::Direction])
}

fn parse_feature_sets(s: &str) -> Result<List<FeatureSet>, String> {
    let others: Vec<FeatureSet> = FeatureSet::ALL
        .iter()
        .copied()
        .filter(|&set| set != FeatureSet::Price)
        .collect();
    parse_list(s, &others)
}

/// The benchmark the flags ask for: every flag left out takes `BenchSpec::default()`'s value,
/// the desktop Benchmark screen's starting point.
fn spec_of(args: &BenchArgs) -> BenchSpec {
    let defaults = BenchSpec::default();
    BenchSpec {
        architectures: args
            .models
            .as_ref()
            .map_or(defaults.architectures.clone(), |m| m.0.clone()),
        variants: args
            .variants
            .as_ref()
            .map_or(defaults.variants.clone(), |v| v.0.clone()),
        seeds: args.seeds,
        epochs: args.epochs,
        series: args.range.series_or(
            args.source.clone(),
            args.symbol.clone(),
            args.timeframe,
            defaults.series.days,
        ),
        sequence_length: args.sequence_length,
        first_seed: args.seed,
        batch_size: args.batch_size,
        device: args.device,
        horizon: args.horizon,
        latency_calls: args.latency_calls,
        targets: args
            .targets
            .as_ref()
            .map(|t| t.0.clone())
            .unwrap_or_default(),
        feature_sets: args
            .feature_sets
            .as_ref()
            .map(|t| t.0.clone())
            .unwrap_or_default(),
        context: args.context.clone(),
    }
}

pub async fn run(args: BenchArgs) -> Result<ExitCode> {
    let settings = Settings::from_env()?;
    let cancel = cancel_on_ctrl_c();
    let (spec, json, markdown) = (spec_of(&args), args.json, args.markdown);
    check_bench(&spec)?;
    let series = load_series(&settings, &spec.series, &mut |_| {}).await?;
    if !spec.targets.is_empty() {
        return run_targets(&settings, series, spec, &json, &markdown, cancel).await;
    }
    if spec.is_feature_bench() {
        return run_feature_sets(&settings, series, spec, &json, &markdown, cancel).await;
    }
    let worker_settings = settings.clone();
    let worker_cancel = cancel.clone();
    let report = tokio::task::spawn_blocking(move || {
        bench(
            &worker_settings,
            &series,
            &spec,
            &mut progress,
            &worker_cancel,
        )
    })
    .await
    .context("the benchmark thread stopped unexpectedly")?;
    let report = match report {
        Err(atb_engine::Error::Cancelled) => {
            eprintln!("bench: cancelled; finished runs stay registered under the `bench` tag");
            return Ok(ExitCode::from(EXIT_INTERRUPTED));
        }
        other => other?,
    };
    let table = report_markdown(&report);
    println!("{table}");
    if let Some(path) = &json {
        write_report_json(&report, path)?;
        eprintln!("bench: JSON written to {}", path.display());
    }
    if let Some(path) = &markdown {
        write_text(path, &table)?;
        eprintln!("bench: markdown written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `atb bench --targets`: the target benchmark's tables on stdout, its report where asked.
async fn run_targets(
    settings: &Settings,
    series: atb_engine::CandleSeries,
    spec: BenchSpec,
    json: &Option<PathBuf>,
    markdown: &Option<PathBuf>,
    cancel: atb_engine::CancelToken,
) -> Result<ExitCode> {
    let worker_settings = settings.clone();
    let report = tokio::task::spawn_blocking(move || {
        bench_targets(
            &worker_settings,
            &series,
            &spec,
            &mut target_progress,
            &cancel,
        )
    })
    .await
    .context("the benchmark thread stopped unexpectedly")?;
    finish_report(report, target_report_markdown, json, markdown)
}

/// `atb bench --feature-sets`: the feature benchmark's table on stdout, its report where asked.
async fn run_feature_sets(
    settings: &Settings,
    series: atb_engine::CandleSeries,
    spec: BenchSpec,
    json: &Option<PathBuf>,
    markdown: &Option<PathBuf>,
    cancel: atb_engine::CancelToken,
) -> Result<ExitCode> {
    let worker_settings = settings.clone();
    let report = tokio::task::spawn_blocking(move || {
        bench_features(
            &worker_settings,
            &series,
            &spec,
            &mut |FeatureBenchProgress::RunStarted {
                      architecture,
                      variant,
                      inputs,
                      seed,
                      index,
                      total,
                  }| {
                eprintln!(
                    "bench: [{index}/{total}] training {architecture} {variant} on {inputs} (seed {seed})"
                );
            },
            &cancel,
        )
    })
    .await
    .context("the benchmark thread stopped unexpectedly")?;
    finish_report(report, feature_report_markdown, json, markdown)
}

/// The end of the target and feature benchmarks: a cancel said as such, the table printed,
/// the report written as JSON and markdown where asked.
fn finish_report<R: serde::Serialize>(
    report: atb_engine::Result<R>,
    table_of: fn(&R) -> String,
    json: &Option<PathBuf>,
    markdown: &Option<PathBuf>,
) -> Result<ExitCode> {
    let report = match report {
        Err(atb_engine::Error::Cancelled) => {
            eprintln!("bench: cancelled; finished runs stay registered under the `bench` tag");
            return Ok(ExitCode::from(EXIT_INTERRUPTED));
        }
        other => other?,
    };
    let table = table_of(&report);
    println!("{table}");
    if let Some(path) = json {
        write_text(path, &serde_json::to_string_pretty(&report)?)?;
        eprintln!("bench: JSON written to {}", path.display());
    }
    if let Some(path) = markdown {
        write_text(path, &table)?;
        eprintln!("bench: markdown written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn target_progress(p: TargetBenchProgress) {
    match p {
        TargetBenchProgress::RunStarted {
            target,
            architecture,
            variant,
            seed,
            index,
            total,
        } => eprintln!(
            "bench: [{index}/{total}] training {architecture} {variant} on {target} (seed {seed})"
        ),
        TargetBenchProgress::Training(_) => {}
    }
}

/// One stderr line per run start, epoch and measured model.
fn progress(p: BenchProgress) {
    match p {
        BenchProgress::RunStarted {
            architecture,
            variant,
            seed,
            index,
            total,
        } => eprintln!("bench: [{index}/{total}] training {architecture} {variant} (seed {seed})"),
        // A tree model's "epochs" are boosting rounds (hundreds): every 50th is enough.
        BenchProgress::Training(TrainingEvent::EpochEnd {
            epoch,
            epochs,
            train_loss,
            val_loss,
            elapsed_s,
            ..
        }) if epochs <= 100 || epoch % 50 == 0 => eprintln!(
            "bench:   epoch {epoch}: train {train_loss:.4}, validation {val_loss:.4}, {elapsed_s:.1} s"
        ),
        BenchProgress::Training(_) => {}
        BenchProgress::Measuring {
            architecture,
            variant,
        } => eprintln!("bench:   exporting {architecture} {variant} to ONNX and timing inference"),
        BenchProgress::Measured(r) => eprintln!(
            "bench:   {} {}: {:.0} training windows/s, test MAE {:.2} USD, skill {:+.4}, p50 {:.3} ms native / {:.3} ms ONNX",
            r.architecture,
            r.variant,
            r.train_windows_per_s,
            r.test_mae_usd,
            r.skill_vs_persistence,
            r.latency_p50_ms,
            r.onnx_latency_p50_ms
        ),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        args: BenchArgs,
    }

    #[test]
    fn without_flags_atb_bench_is_the_desktops_benchmark() {
        let plain = Wrap::parse_from(["bench"]);
        assert_eq!(spec_of(&plain.args), BenchSpec::default());
        let asked = Wrap::parse_from([
            "bench",
            "--models",
            "tcn,gbdt",
            "--days",
            "40",
            "--seed",
            "7",
            "--targets",
            "all",
        ]);
        let spec = spec_of(&asked.args);
        assert_eq!(spec.architectures, [Architecture::Tcn, Architecture::Gbdt]);
        assert_eq!((spec.series.days, spec.first_seed), (Some(40), 7));
        assert_eq!(spec.targets, [Target::Volatility, Target::Direction]);
    }
}
