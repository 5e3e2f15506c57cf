//! `atb bench`: the benchmark flow (see [`crate::benchmark`]) with the set-up a run needs, and
//! its report written as JSON and markdown.

use std::path::Path;

use atb_protocol::bench::BenchReport;

use crate::benchmark::markdown::markdown;
use crate::benchmark::{BenchProgress, BenchRequest, run_benchmark};
use crate::error::Result;
use crate::fsutil::write_atomic;
use crate::gpu_check::use_home_kernel_cache;
use crate::market::source::CandleSeries;
use crate::settings::Settings;
use crate::training::CancelToken;

/// Trains, exports and times every requested pair on `series`. Blocking: call it from a worker
/// thread. Cancelling stops after the current batch (`Error::Cancelled`); finished runs stay
/// registered under the `bench` tag.
pub fn bench(
    settings: &Settings,
    series: &CandleSeries,
    request: &BenchRequest,
    on_progress: &mut dyn FnMut(BenchProgress),
    cancel: &CancelToken,
) -> Result<BenchReport> {
    request.validate()?;
    use_home_kernel_cache(settings);
    run_benchmark(settings, series, request, on_progress, cancel)
}

/// The report's comparison tables in markdown.
pub fn report_markdown(report: &BenchReport) -> String {
    markdown(report)
}

/// Writes the report as pretty JSON, atomically.
pub fn write_report_json(report: &BenchReport, path: &Path) -> Result<()> {
    let json = serde_json::to_vec_pretty(report).map_err(|e| {
        crate::error::Error::InvalidData(format!("the report is not serialisable: {e}"))
    })?;
    write_atomic(path, &json)
}

/// Writes text (the markdown tables), atomically.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    write_atomic(path, text.as_bytes())
}
