//! `atb data ...`: fetch candles from Binance into the store, import CSV files, list what is
//! stored, and inspect any source (binance, csv:PATH, sample).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use atb_engine::service::data;
use atb_engine::{CandleSource, Settings, Symbol, Timeframe};
use atb_protocol::Gap;
use atb_protocol::desktop::SeriesRequest;
use clap::{Args, Subcommand};

use crate::EXIT_INTERRUPTED;
use crate::output::{plural, progress_bar, time};

#[derive(Subcommand)]
pub enum DataCommand {
    /// Fetch closed candles from Binance into the local store (only what it lacks).
    Fetch {
        /// Trading pair, e.g. BTCUSDT.
        symbol: Symbol,
        #[command(flatten)]
        range: RangeArgs,
        #[arg(long, short = 't', default_value = "1h")]
        timeframe: Timeframe,
        /// Ask Binance again for the whole range, even the parts already settled (candles it now
        /// reports differently are rewritten with its values).
        #[arg(long)]
        refresh: bool,
        /// Print the summary as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// List stored candle series: first and last candle, rows, gaps.
    List {
        /// Print a JSON array on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Import a candle CSV file into the store (atb's header format or Binance's archive format).
    Import {
        symbol: Symbol,
        path: PathBuf,
        #[arg(long, short = 't', default_value = "1h")]
        timeframe: Timeframe,
    },
    /// Load candles from any source and summarise them (rows, range, gaps) without training.
    Inspect {
        symbol: Symbol,
        /// `binance`, `sample` (bundled BTCUSDT 1h) or `csv:PATH`.
        #[arg(long, default_value = "sample")]
        source: CandleSource,
        #[command(flatten)]
        range: RangeArgs,
        #[arg(long, short = 't', default_value = "1h")]
        timeframe: Timeframe,
    },
}

/// `--days N` or `--start-date YYYY-MM-DD [--end-date YYYY-MM-DD]` (end date inclusive). With
/// neither: the last 365 days from Binance, everything from a file or the sample.
#[derive(Args, Debug)]
pub struct RangeArgs {
    /// The last N days (up to the last closed candle for Binance, the last row for files).
    #[arg(long, conflicts_with_all = ["start_date", "end_date"])]
    days: Option<u32>,
    /// First day, UTC.
    #[arg(long)]
    start_date: Option<String>,
    /// Last day, UTC, included.
    #[arg(long, requires = "start_date")]
    end_date: Option<String>,
}

impl RangeArgs {
    /// The request for `symbol` `timeframe` from `source` over this range; with no range, the
    /// engine's one rule applies (`SeriesRequest::effective_days`: the last year for Binance,
    /// everything for files and the sample).
    pub fn series(
        &self,
        source: CandleSource,
        symbol: Symbol,
        timeframe: Timeframe,
    ) -> SeriesRequest {
        SeriesRequest {
            source,
            symbol,
            timeframe,
            days: self.days,
            start_date: self.start_date.clone(),
            end_date: self.end_date.clone(),
        }
    }

    /// As [`RangeArgs::series`], the last `default_days` days when no range was given (`atb
    /// bench` takes `BenchSpec::default()`'s range, as the desktop does).
    pub fn series_or(
        &self,
        source: CandleSource,
        symbol: Symbol,
        timeframe: Timeframe,
        default_days: Option<u32>,
    ) -> SeriesRequest {
        let mut series = self.series(source, symbol, timeframe);
        if series.days.is_none() && series.start_date.is_none() {
            series.days = default_days;
        }
        series
    }
}

pub async fn run(cmd: DataCommand) -> Result<ExitCode> {
    let settings = Settings::from_env()?;
    match cmd {
        DataCommand::Fetch {
            symbol,
            range,
            timeframe,
            refresh,
            json,
        } => {
            fetch(
                &settings,
                &range.series(CandleSource::Binance, symbol, timeframe),
                refresh,
                json,
            )
            .await
        }
        DataCommand::List { json } => list(&settings, json),
        DataCommand::Import {
            symbol,
            path,
            timeframe,
        } => import(&settings, &symbol, &path, timeframe),
        DataCommand::Inspect {
            symbol,
            source,
            range,
            timeframe,
        } => inspect(&settings, &range.series(source, symbol, timeframe)).await,
    }
}

async fn fetch(
    settings: &Settings,
    request: &SeriesRequest,
    refresh: bool,
    json: bool,
) -> Result<ExitCode> {
    if let Some(w) = settings.insecure_url_warning() {
        eprintln!("{w}");
    }
    let bar = progress_bar(
        0,
        "{spinner} {msg} [{bar:30}] {pos}/{len} candles, {elapsed_precise} (ETA {eta})",
    );
    bar.set_message(format!("{} {}", request.symbol, request.timeframe));
    let mut on_progress = |p: atb_protocol::FetchProgress| {
        bar.set_length(p.candles_wanted);
        bar.set_position(p.candles_done);
    };
    let fetch = async {
        if refresh {
            data::refetch(settings, request, &mut on_progress).await
        } else {
            data::fetch(settings, request, &mut on_progress).await
        }
    };
    let summary = tokio::select! {
        result = fetch => result?,
        _ = tokio::signal::ctrl_c() => {
            bar.abandon();
            eprintln!("interrupted: every page fetched so far is kept; run the same command again to resume");
            return Ok(ExitCode::from(EXIT_INTERRUPTED));
        }
    };
    bar.finish_and_clear();
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(ExitCode::SUCCESS);
    }
    if summary.stored == 0 {
        println!(
            "{} {}: no closed candles in the range ({})",
            summary.symbol,
            summary.timeframe,
            plural(summary.requests, "request", "requests")
        );
    } else {
        println!(
            "{} {}: {} stored from {} to {} ({} new, {}), {}",
            summary.symbol,
            summary.timeframe,
            plural(summary.stored, "candle", "candles"),
            time(summary.start_ms),
            time(summary.end_ms),
            summary.inserted,
            plural(summary.requests, "request", "requests"),
            describe_gaps(&summary.gaps)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn list(settings: &Settings, json: bool) -> Result<ExitCode> {
    let rows = data::coverage(settings)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!(
            "no candles stored in {} (fetch some with `atb data fetch BTCUSDT --days 30`)",
            settings.home.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<12} {:<9} {:<22} {:<22} {:>9} {:>6} {:>8}",
        "symbol", "timeframe", "first", "last", "rows", "gaps", "missing"
    );
    for r in rows {
        println!(
            "{:<12} {:<9} {:<22} {:<22} {:>9} {:>6} {:>8}",
            r.symbol,
            r.timeframe,
            time(r.first_open_time_ms),
            time(r.last_open_time_ms),
            r.rows,
            r.gaps,
            r.missing_candles
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn import(
    settings: &Settings,
    symbol: &Symbol,
    path: &std::path::Path,
    timeframe: Timeframe,
) -> Result<ExitCode> {
    let summary = data::import_csv(settings, symbol, path, timeframe)?;
    println!(
        "{symbol} {timeframe}: imported {} from {} ({} new), {} to {}, {}",
        plural(summary.candles as u64, "candle", "candles"),
        path.display(),
        summary.inserted,
        time(summary.first_open_ms),
        time(summary.last_open_ms),
        describe_gaps(&summary.gaps)
    );
    if let Some(first) = summary.first_conflict_ms {
        println!(
            "{} differ from the candles already stored (first at {}) and were left as stored; the store keeps the exchange's values",
            plural(summary.conflicts, "row", "rows"),
            time(first)
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn inspect(settings: &Settings, request: &SeriesRequest) -> Result<ExitCode> {
    let series = data::load_series(settings, request, &mut |_| {}).await?;
    let SeriesRequest {
        symbol,
        timeframe,
        source,
        ..
    } = request;
    let (Some(first), Some(last)) = (series.candles.first(), series.candles.last()) else {
        println!("{symbol} {timeframe} from {source}: no candles in the range");
        return Ok(ExitCode::SUCCESS);
    };
    let gaps = series.gaps();
    println!(
        "{symbol} {timeframe} from {source}: {} from {} to {}, last close {}, {}",
        plural(series.candles.len() as u64, "candle", "candles"),
        time(first.open_time),
        time(last.open_time),
        last.close,
        describe_gaps(&gaps)
    );
    for g in gaps.iter().take(20) {
        println!(
            "  gap: {} missing from {}",
            plural(g.missing, "candle", "candles"),
            time(g.first_missing_ms)
        );
    }
    if gaps.len() > 20 {
        println!("  ... and {} more gaps", gaps.len() - 20);
    }
    Ok(ExitCode::SUCCESS)
}

fn describe_gaps(gaps: &[Gap]) -> String {
    match gaps {
        [] => "no gaps".to_string(),
        [g] => format!(
            "1 gap ({} missing from {})",
            plural(g.missing, "candle", "candles"),
            time(g.first_missing_ms)
        ),
        _ => format!(
            "{} gaps ({} missing candles; first from {})",
            gaps.len(),
            gaps.iter().map(|g| g.missing).sum::<u64>(),
            time(gaps[0].first_missing_ms)
        ),
    }
}
