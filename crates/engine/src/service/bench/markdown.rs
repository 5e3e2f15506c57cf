//! The benchmark as the original's "Baseline Comparison" table, with measured numbers and the
//! original's promises beside them.

use std::fmt::Write;

use atb_protocol::bench::{
    AdjustedP, BenchReport, BenchResult, BenchRun, SeedTests, SkillIntervals, promise,
};
use atb_protocol::training::{PairedTest, SkillInterval};
use atb_protocol::verdict::{format_p, format_signed_pct, verdict_with};
use atb_protocol::vocab::Architecture;

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map(f).unwrap_or_else(|| "–".into())
}

fn with_spread(mean: f64, std: Option<f64>, digits: usize) -> String {
    match std {
        Some(s) => format!("{mean:.digits$} ± {s:.digits$}"),
        None => format!("{mean:.digits$}"),
    }
}

/// A tract figure, or "–" for the tree model (tract has no tree-ensemble operator; its file was
/// checked and timed in ONNX Runtime).
fn tract(r: &BenchResult, f: impl Fn(&BenchResult) -> String) -> String {
    if r.architecture != atb_protocol::vocab::Architecture::Gbdt {
        f(r)
    } else {
        "–".into()
    }
}

fn direction(r: &BenchResult) -> String {
    let da = opt(r.directional_accuracy, |d| {
        with_spread(100.0 * d, r.directional_accuracy_std.map(|s| 100.0 * s), 1) + "%"
    });
    match (r.pt_p_value, r.seeds) {
        (Some(p), 1) => format!("{da} (PT p {})", format_p(p)),
        (Some(p), k) => format!(
            "{da} (PT median p {}, {} of {k} seeds significant)",
            format_p(p),
            r.pt_significant_seeds
        ),
        (None, _) => da,
    }
}

/// The verdict against `baseline` in the engine's words, on Holm-adjusted p-values when the
/// report has them: with one seed, that seed's verdict; with several, how many seeds were
/// better or worse, and the median (unadjusted) p-value.
pub fn seed_verdict(baseline: &str, tests: Option<&SeedTests>, runs: &[PerRun]) -> String {
    match (tests, runs) {
        (None, _) => format!("against {baseline}: not computed"),
        (Some(_), [(one, skill, adjusted)]) => {
            verdict_with(baseline, one.as_ref(), skill.as_ref(), *adjusted).text
        }
        (Some(t), _) => {
            let (better, worse, adjusted) = match (t.better_adjusted, t.worse_adjusted) {
                (Some(b), Some(w)) => (b, w, ", Holm-adjusted"),
                _ => (t.better, t.worse, ""),
            };
            format!(
                "better than {baseline} in {better} of {} seeds, worse in {worse}{adjusted} \
                 (median p = {})",
                t.seeds,
                t.median_p_value.map_or_else(|| "n/a".into(), format_p)
            )
        }
    }
}

/// One run's test against a reference, its skill interval and its Holm-adjusted p-value.
pub type PerRun = (Option<PairedTest>, Option<SkillInterval>, Option<f64>);

/// Each run's test, skill interval and adjusted p-value against one reference, picked by
/// `test`, `skill` and `adjusted`.
fn per_run(
    r: &BenchResult,
    test: fn(&BenchRun) -> Option<PairedTest>,
    skill: fn(&SkillIntervals) -> Option<SkillInterval>,
    adjusted: fn(&AdjustedP) -> Option<f64>,
) -> Vec<PerRun> {
    r.runs
        .iter()
        .map(|x| {
            (
                test(x),
                x.skill_intervals.as_ref().and_then(skill),
                x.adjusted_p.as_ref().and_then(adjusted),
            )
        })
        .collect()
}

/// Mean over seeds of the long/flat backtest's net return and Sharpe.
fn after_costs(r: &BenchResult) -> String {
    let net: Vec<f64> = r.runs.iter().filter_map(|x| x.net_return).collect();
    let sharpe: Vec<f64> = r.runs.iter().filter_map(|x| x.sharpe).collect();
    if net.is_empty() || sharpe.is_empty() {
        return "–".into();
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    format!(
        "{} (Sharpe {:.2})",
        format_signed_pct(mean(&net)),
        mean(&sharpe)
    )
}

/// Markdown: a heading line, the comparison table and the speed table.
pub fn markdown(report: &BenchReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Measured on {} {} from `{}`, {} epoch(s), {} seed(s), L = {}, {} test windows; device: {}; {}.\n",
        report.symbol,
        report.timeframe,
        report.source,
        report.epochs,
        report.seeds,
        report.sequence_length,
        report.test_windows,
        report.device,
        report.created_at
    );
    let _ = writeln!(
        s,
        "| model | variant | RMSE (USD) | MAE (USD) | MAE vs cnn_lstm | skill vs persistence | verdict vs persistence | vs ridge | vs cnn_lstm | directional accuracy | long/flat after costs | training time vs cnn_lstm | inference p50 (native / tract / ONNX Runtime) | the original promised |"
    );
    let _ = writeln!(
        s,
        "|---|---|---:|---:|---:|---:|---|---|---|---:|---:|---:|---:|---|"
    );
    for r in &report.results {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} / {} / {} ms | {} |",
            r.architecture,
            r.variant,
            with_spread(r.test_rmse_usd, r.test_rmse_usd_std, 2),
            with_spread(r.test_mae_usd, r.test_mae_usd_std, 2),
            opt(r.mae_vs_cnn_lstm, |v| format!("{v:.3}×")),
            with_spread(r.skill_vs_persistence, r.skill_vs_persistence_std, 4),
            seed_verdict(
                "persistence",
                r.vs_persistence.as_ref(),
                &per_run(
                    r,
                    |x| x.vs_persistence,
                    |s| s.vs_persistence,
                    |a| a.vs_persistence
                )
            ),
            seed_verdict(
                "ridge",
                r.vs_ridge.as_ref(),
                &per_run(r, |x| x.vs_ridge, |s| s.vs_ridge, |a| a.vs_ridge)
            ),
            if r.architecture == Architecture::CnnLstm {
                "–".into()
            } else {
                seed_verdict(
                    "cnn_lstm",
                    r.vs_cnn_lstm.as_ref(),
                    &per_run(r, |x| x.vs_cnn_lstm, |s| s.vs_cnn_lstm, |a| a.vs_cnn_lstm),
                )
            },
            direction(r),
            after_costs(r),
            opt(r.train_time_vs_cnn_lstm, |v| format!("{:.0}%", 100.0 * v)),
            r.latency_p50_ms,
            tract(r, |r| format!("{:.2}", r.onnx_latency_p50_ms)),
            opt(
                r.onnxruntime.as_ref().map(|t| t.latency_p50_ms),
                |v| format!("{v:.2}")
            ),
            promise(r.architecture)
        );
    }
    for b in &report.baselines {
        let da = opt(b.directional_accuracy, |d| format!("{:.1}%", 100.0 * d));
        let da = match b.pt_p_value {
            Some(p) => format!("{da} (PT p {})", format_p(p)),
            None => da,
        };
        let _ = writeln!(
            s,
            "| *{}* | – | {:.2} | {:.2} | – | {:.4} | – | – | – | {} | – | – | – | – |",
            b.name, b.test_rmse_usd, b.test_mae_usd, b.skill_vs_persistence, da
        );
    }
    if let Some(r) = report.buy_and_hold_return {
        let _ = writeln!(
            s,
            "| *buy and hold* | – | – | – | – | – | – | – | – | – | {} | – | – | – |",
            format_signed_pct(r)
        );
    }
    if report.tests_adjusted > 0 {
        let _ = writeln!(
            s,
            "\nVerdicts are on p-values adjusted with Holm's method across the {} paired tests \
             of this table.",
            report.tests_adjusted
        );
    }
    if let Some(set) = &report.model_confidence_set {
        let _ = writeln!(s, "\n{}.", set.sentence());
    }
    let _ = writeln!(
        s,
        "\n| model | variant | parameters | weights | s/epoch | training windows/s (training only) | windows/s with validation | epochs | train s | p50 / p99 native (ms) | p50 / p99 ONNX in tract (ms) | p50 / p99 ONNX in ONNX Runtime (ms) | batch-256 native / tract / ONNX Runtime (windows/s) | ONNX max diff |"
    );
    let _ = writeln!(
        s,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in &report.results {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.0} KiB | {:.2} | {:.0} | {:.0} | {:.1} | {:.1} | {:.3} / {:.3} | {} | {} | {:.0} / {} / {} | {:.1e} |",
            r.architecture,
            r.variant,
            r.parameters,
            r.weight_bytes as f64 / 1024.0,
            r.seconds_per_epoch,
            r.train_windows_per_s,
            r.samples_per_second,
            r.epochs_run,
            r.train_seconds,
            r.latency_p50_ms,
            r.latency_p99_ms,
            tract(r, |r| format!(
                "{:.3} / {:.3}",
                r.onnx_latency_p50_ms, r.onnx_latency_p99_ms
            )),
            opt(r.onnxruntime.as_ref(), |t| format!(
                "{:.3} / {:.3}",
                t.latency_p50_ms, t.latency_p99_ms
            )),
            r.batch256_windows_per_s,
            tract(r, |r| format!("{:.0}", r.onnx_batch256_windows_per_s)),
            opt(r.onnxruntime.as_ref(), |t| format!(
                "{:.0}",
                t.batch256_windows_per_s
            )),
            r.onnx_max_abs_diff
        );
    }
    s
}
