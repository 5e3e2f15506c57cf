//! `atb bench`: the benchmark flow (see [`measure`]) with the set-up a run needs, and
//! its report written as JSON and markdown.

use std::path::Path;

use atb_protocol::bench::{BenchReport, BenchSpec, BenchUpdate, FeatureBenchReport};
use atb_protocol::training::TrainingEvent;

pub mod features;
pub mod inference;
pub mod markdown;
pub mod measure;
pub mod targets;

use self::markdown::markdown;
use self::measure::{BenchProgress, check_bench, run_benchmark};
use crate::cancel::CancelToken;
use crate::error::Result;
use crate::fsutil::write_atomic;
use crate::gpu_check::use_home_kernel_cache;
use crate::market::source::CandleSeries;
use crate::settings::Settings;

/// Trains, exports and times every requested pair on `series`. Blocking: call it from a worker
/// thread. Cancelling stops after the current batch (`Error::Cancelled`); finished runs stay
/// registered under the `bench` tag.
pub fn bench(
    settings: &Settings,
    series: &CandleSeries,
    spec: &BenchSpec,
    on_progress: &mut dyn FnMut(BenchProgress),
    cancel: &CancelToken,
) -> Result<BenchReport> {
    check_bench(spec)?;
    // This is the return target's table; the target and feature benchmarks have their own
    // flows (`targets`, `features`), never a silent fall back to this one.
    if !spec.targets.is_empty() || spec.is_feature_bench() {
        return Err(crate::error::Error::InvalidRequest(
            "this benchmark is the return target's table on the default features; the target \
             and feature-set benchmarks run from the command line (atb bench --targets, \
             atb bench --feature-sets, atb bench --context)"
                .into(),
        ));
    }
    use_home_kernel_cache(settings);
    let report = run_benchmark(settings, series, spec, on_progress, cancel)?;
    // Kept for the desktop's Benchmark screen and guide, whichever door ran it.
    keep(&report, &last_report_path(settings))?;
    Ok(report)
}

/// Where the last benchmark's report is kept: `ATB_HOME/bench/latest.json`.
pub fn last_report_path(settings: &Settings) -> std::path::PathBuf {
    settings.home.join("bench").join("latest.json")
}

/// The last benchmark's report, if one was kept; a damaged file is an error naming it.
pub fn last_report(settings: &Settings) -> Result<Option<BenchReport>> {
    read_kept(&last_report_path(settings))
}

/// Where the last feature benchmark's report is kept: `ATB_HOME/bench/features-latest.json`.
pub fn last_feature_report_path(settings: &Settings) -> std::path::PathBuf {
    settings.home.join("bench").join("features-latest.json")
}

/// The last feature benchmark's report (what the guide's Phase 2 claims read), if one was kept.
pub fn last_feature_report(settings: &Settings) -> Result<Option<FeatureBenchReport>> {
    read_kept(&last_feature_report_path(settings))
}

/// A kept report, `None` when there is none; a damaged file is an error naming it.
fn read_kept<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(crate::error::Error::io(path, e)),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        crate::error::Error::InvalidData(format!(
            "{} is not a benchmark report ({e}); run the benchmark again to replace it",
            path.display()
        ))
    })
}

/// Writes a report where it is kept for the desktop, creating `ATB_HOME/bench/`.
fn keep<T: serde::Serialize>(report: &T, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| crate::error::Error::io(dir, e))?;
    }
    write_report_json(report, path)
}

/// The desktop's benchmark: `spec`'s candles loaded, every (type, variant) and seed trained,
/// exported and timed as `atb bench` does, each step reported to `on_update`.
pub fn bench_spec(
    settings: &Settings,
    spec: &BenchSpec,
    on_update: &mut dyn FnMut(BenchUpdate),
    cancel: &CancelToken,
) -> Result<BenchReport> {
    check_bench(spec)?;
    let series = super::block_on(super::data::load_series(
        settings,
        &spec.series,
        &mut |_| {},
    ))?;
    let mut forward = |p: BenchProgress| {
        let update = match p {
            BenchProgress::RunStarted {
                architecture,
                variant,
                seed,
                index,
                total,
            } => BenchUpdate::Started {
                architecture,
                variant,
                seed,
                index,
                total,
            },
            BenchProgress::Training(TrainingEvent::EpochEnd { epoch, epochs, .. }) => {
                BenchUpdate::Epoch { epoch, epochs }
            }
            BenchProgress::Training(_) => return,
            BenchProgress::Measuring {
                architecture,
                variant,
            } => BenchUpdate::Measuring {
                architecture,
                variant,
            },
            BenchProgress::Measured(r) => BenchUpdate::Measured(r),
        };
        on_update(update);
    };
    bench(settings, &series, spec, &mut forward, cancel)
}

/// The report's comparison tables in markdown.
pub fn report_markdown(report: &BenchReport) -> String {
    markdown(report)
}

/// Writes a report as pretty JSON, atomically.
pub fn write_report_json<T: serde::Serialize>(report: &T, path: &Path) -> Result<()> {
    let json = serde_json::to_vec_pretty(report).map_err(|e| {
        crate::error::Error::InvalidData(format!("the report is not serialisable: {e}"))
    })?;
    write_atomic(path, &json)
}

/// Writes text (the markdown tables), atomically.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    write_atomic(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use atb_protocol::vocab::{FeatureSet, Target};

    #[test]
    fn the_return_table_refuses_a_spec_of_another_benchmark_before_any_work() {
        let home = tempfile::tempdir().unwrap();
        let settings = Settings::resolve(home.path().to_path_buf(), None).unwrap();
        let series = CandleSeries {
            symbol: "BTCUSDT".parse().unwrap(),
            timeframe: atb_protocol::vocab::Timeframe::H1,
            source: atb_protocol::vocab::CandleSource::Sample,
            candles: crate::market::sample::sample_candles().unwrap()[..500].to_vec(),
            context: None,
        };
        for spec in [
            BenchSpec {
                targets: vec![Target::Volatility],
                ..BenchSpec::default()
            },
            BenchSpec {
                feature_sets: vec![FeatureSet::Wavelet],
                ..BenchSpec::default()
            },
        ] {
            let mut progressed = false;
            let e = bench(
                &settings,
                &series,
                &spec,
                &mut |_| progressed = true,
                &CancelToken::new(),
            )
            .unwrap_err();
            assert!(e.to_string().contains("atb bench --"), "{e}");
            assert!(!progressed, "refused before any run");
        }
    }
}
