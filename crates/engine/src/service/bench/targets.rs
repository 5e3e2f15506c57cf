//! `atb bench --targets`: every requested (type, variant) and seed trained on the volatility and
//! direction targets over the same series and horizon, each version registered under the
//! `bench` tag and judged against its target's baselines by the target's own loss. The report
//! is one table per target: each run's training time, loss and skill against every baseline
//! (the baselines' losses on one line above it: the same windows for every run), and the
//! verdicts with Holm's adjustment across every test of the table (all runs and seeds against
//! all baselines: one lucky seed of eighteen is not a finding).

use atb_protocol::bench::{TargetBenchReport, TargetBenchRun, adjust_target_runs};
use atb_protocol::training::TrainingEvent;
use atb_protocol::verdict::{VerdictKind, format_signed_pct};
use atb_protocol::vocab::Target;
use chrono::Utc;

use super::measure::{BENCH_TAG, check_bench};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::market::source::CandleSeries;
use crate::service::train::{TrainOptions, TrainResult, train_and_register};
use crate::settings::Settings;
use crate::training::TrainSpec;
use atb_protocol::bench::BenchSpec;

/// What the target benchmark reports while it runs.
#[derive(Debug, Clone)]
pub enum TargetBenchProgress {
    RunStarted {
        target: Target,
        architecture: atb_models::Architecture,
        variant: atb_models::Variant,
        seed: u64,
        index: usize,
        total: usize,
    },
    Training(TrainingEvent),
}

/// Trains every pair and seed of `spec` on each of its targets (volatility, direction).
/// Blocking; Cancel stops after the current batch, and the finished runs stay registered.
pub fn bench_targets(
    settings: &Settings,
    series: &CandleSeries,
    spec: &BenchSpec,
    on_progress: &mut dyn FnMut(TargetBenchProgress),
    cancel: &CancelToken,
) -> Result<TargetBenchReport> {
    check_bench(spec)?;
    let targets = &spec.targets;
    if targets.is_empty() {
        return Err(Error::InvalidRequest(
            "the target benchmark needs volatility, direction or both".into(),
        ));
    }
    let pairs = spec.pairs();
    let total = targets.len() * pairs.len() * spec.seeds;
    let options = TrainOptions {
        tag: Some(BENCH_TAG.into()),
        set_latest: false,
        id_suffix: None,
    };
    let mut runs = Vec::with_capacity(total);
    for &target in targets {
        for &(architecture, variant) in &pairs {
            for k in 0..spec.seeds {
                let seed = spec.first_seed + k as u64;
                on_progress(TargetBenchProgress::RunStarted {
                    target,
                    architecture,
                    variant,
                    seed,
                    index: runs.len() + 1,
                    total,
                });
                let params = TrainSpec {
                    target,
                    ..spec.train_spec(architecture, variant, k)
                };
                let trained = train_and_register(
                    settings,
                    series,
                    &crate::training::check_spec(params)?,
                    &options,
                    &mut |e| on_progress(TargetBenchProgress::Training(e)),
                    cancel,
                )?;
                let TrainResult::Registered { row, outcome } = trained else {
                    return Err(Error::Cancelled);
                };
                let evaluation = outcome.evaluation.and_then(|e| e.target).ok_or_else(|| {
                    Error::InvalidData(format!(
                        "{} trained on {target} but has no {target} evaluation",
                        row.version_id
                    ))
                })?;
                runs.push(TargetBenchRun {
                    architecture,
                    variant,
                    seed,
                    version_id: row.version_id,
                    train_seconds: outcome.train_seconds,
                    evaluation,
                    adjusted_p: Vec::new(),
                });
            }
        }
    }
    adjust_target_runs(&mut runs);
    Ok(TargetBenchReport {
        created_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        atb_version: env!("CARGO_PKG_VERSION").into(),
        series: series_label(series),
        horizon: spec.horizon,
        epochs: spec.epochs,
        runs,
    })
}

pub(super) fn series_label(series: &CandleSeries) -> String {
    let (first, last) = (series.candles.first(), series.candles.last());
    format!(
        "{} {} {}, {} to {}",
        series.symbol,
        series.timeframe,
        series.source,
        first.map_or_else(String::new, |c| crate::market::format_ms(c.open_time)),
        last.map_or_else(String::new, |c| crate::market::format_ms(c.open_time)),
    )
}

/// The report as markdown: per target, each run's loss beside every baseline's (the target's
/// table), then the verdicts.
pub fn target_report_markdown(report: &TargetBenchReport) -> String {
    let mut out = format!(
        "Targets on {}, horizon {} bar(s), {} epoch(s) per network (atb {}, {})\n",
        report.series, report.horizon, report.epochs, report.atb_version, report.created_at
    );
    for target in [Target::Volatility, Target::Direction] {
        let runs: Vec<&TargetBenchRun> = report
            .runs
            .iter()
            .filter(|r| r.evaluation.target() == target)
            .collect();
        let Some(first) = runs.first() else { continue };
        let table = first.evaluation.table();
        let loss = table.rows[0].label;
        out.push_str(&format!(
            "\n### {target}: {loss} on {} test windows (lower is better)\n\n",
            first.evaluation.windows()
        ));
        // The baselines score the same windows for every run: one line, not a column each.
        let baselines: Vec<String> = table.columns[1..]
            .iter()
            .zip(&table.rows[0].values[1..])
            .map(|(name, v)| match v {
                Some(v) => format!("{name} {v:.4}"),
                None => format!("{name} -"),
            })
            .collect();
        out.push_str(&format!(
            "The baselines' {loss}: {}.\n\n",
            baselines.join(", ")
        ));
        let compared: Vec<&str> = first
            .evaluation
            .comparisons()
            .iter()
            .map(|(name, _)| *name)
            .collect();
        out.push_str(&format!("| model | seed | train s | {loss} |"));
        for name in &compared {
            out.push_str(&format!(" skill vs {name} |"));
        }
        out.push_str(" better than | worse than |\n|---|---|---|---|");
        out.push_str(&"---|".repeat(compared.len() + 2));
        out.push('\n');
        for run in &runs {
            let model = run.evaluation.table().rows[0].values[0];
            out.push_str(&format!(
                "| {} {} | {} | {:.2} | {} |",
                run.architecture,
                run.variant,
                run.seed,
                run.train_seconds,
                model.map_or_else(|| "-".into(), |v| format!("{v:.4}"))
            ));
            for (_, c) in run.evaluation.comparisons() {
                out.push_str(&match c.and_then(|c| c.skill) {
                    Some(s) => format!(" {} |", format_signed_pct(s.skill)),
                    None => " - |".into(),
                });
            }
            let names = |kind: VerdictKind| {
                let names: Vec<&str> = run
                    .evaluation
                    .comparisons()
                    .iter()
                    .zip(run.verdicts())
                    .filter(|(_, v)| v.kind == kind)
                    .map(|((name, _), _)| *name)
                    .collect();
                if names.is_empty() {
                    "-".into()
                } else {
                    names.join(", ")
                }
            };
            out.push_str(&format!(
                " {} | {} |\n",
                names(VerdictKind::Better),
                names(VerdictKind::Worse)
            ));
        }
        let tests: usize = runs
            .iter()
            .map(|r| r.adjusted_p.iter().filter(|p| p.is_finite()).count())
            .sum();
        out.push_str(&format!(
            "\nVerdicts: Diebold-Mariano on the per-window {loss} at 5%, Holm-adjusted across \
             the {tests} tests of this table (every run against every baseline).\n"
        ));
    }
    out
}
