//! The benchmark as the original's "Baseline Comparison" table, with measured numbers and the
//! original's promises beside them.

use std::fmt::Write;

use atb_protocol::bench::{BenchReport, BenchResult, SeedTests, promise};
use atb_protocol::verdict::{format_p, verdict_of};
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
    if r.architecture.is_network() {
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

/// The verdict against `baseline` in the engine's words: with one seed, that seed's verdict;
/// with several, how many seeds were better or worse, and the median p-value.
pub fn seed_verdict(
    baseline: &str,
    tests: Option<&SeedTests>,
    runs: &[Option<atb_protocol::training::PairedTest>],
) -> String {
    match (tests, runs) {
        (None, _) => format!("against {baseline}: not computed"),
        (Some(_), [one]) => verdict_of(baseline, one.as_ref(), None).text,
        (Some(t), _) => format!(
            "better than {baseline} in {} of {} seeds, worse in {} (median p = {})",
            t.better,
            t.seeds,
            t.worse,
            t.median_p_value.map_or_else(|| "n/a".into(), format_p)
        ),
    }
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
        "| model | variant | RMSE (USD) | MAE (USD) | MAE vs cnn_lstm | skill vs persistence | verdict vs persistence | vs ridge | vs cnn_lstm | directional accuracy | training time vs cnn_lstm | inference p50 (native / tract / ONNX Runtime) | the original promised |"
    );
    let _ = writeln!(
        s,
        "|---|---|---:|---:|---:|---:|---|---|---|---:|---:|---:|---|"
    );
    for r in &report.results {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} / {} / {} ms | {} |",
            r.architecture,
            r.variant,
            with_spread(r.test_rmse_usd, r.test_rmse_usd_std, 2),
            with_spread(r.test_mae_usd, r.test_mae_usd_std, 2),
            opt(r.mae_vs_cnn_lstm, |v| format!("{v:.3}×")),
            with_spread(r.skill_vs_persistence, r.skill_vs_persistence_std, 4),
            seed_verdict(
                "persistence",
                r.vs_persistence.as_ref(),
                &r.runs.iter().map(|x| x.vs_persistence).collect::<Vec<_>>()
            ),
            seed_verdict(
                "ridge",
                r.vs_ridge.as_ref(),
                &r.runs.iter().map(|x| x.vs_ridge).collect::<Vec<_>>()
            ),
            if r.architecture == Architecture::CnnLstm {
                "–".into()
            } else {
                seed_verdict(
                    "cnn_lstm",
                    r.vs_cnn_lstm.as_ref(),
                    &r.runs.iter().map(|x| x.vs_cnn_lstm).collect::<Vec<_>>(),
                )
            },
            direction(r),
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
            "| *{}* | – | {:.2} | {:.2} | – | {:.4} | – | – | – | {} | – | – | – |",
            b.name, b.test_rmse_usd, b.test_mae_usd, b.skill_vs_persistence, da
        );
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
