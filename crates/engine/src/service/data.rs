//! Candles for both doors: which candles a request means (one rule for the default range),
//! loading them from any source, fetching Binance candles into the store, importing a CSV file,
//! the stored coverage, and the price chart the desktop draws.

use std::path::Path;

use atb_protocol::desktop::{CandleChart, FeatureColumn, FeaturePreview, SeriesRequest};
use atb_protocol::{CoverageRow, FetchProgress, FetchSummary};

use crate::cancel::CancelToken;
use crate::candles::gaps::find_gaps;
use crate::error::{Error, Result};
use crate::features::{FeatureMatrix, FeatureSet, series_features};
use crate::market::csv::read_csv_file;
use crate::market::source::{CandleSeries, DateRange, fetch_into_store, load_candles};
use crate::market::{CandleSource, Symbol, Timeframe};
use crate::settings::Settings;
use crate::store::candles::CandleStore;

/// The range a request means: its days or dates, else (`SeriesRequest::effective_days`) the last
/// year for Binance and everything for files and the sample.
pub fn date_range(request: &SeriesRequest) -> Result<DateRange> {
    DateRange::from_args(
        request.effective_days(),
        request.start_date.as_deref(),
        request.end_date.as_deref(),
    )
}

/// Loads the candles a request names (Binance through the store, fetching only what it lacks;
/// `progress` hears about each fetched page).
pub async fn load_series(
    settings: &Settings,
    request: &SeriesRequest,
    progress: &mut dyn FnMut(FetchProgress),
) -> Result<CandleSeries> {
    let range = date_range(request)?;
    load_candles(
        settings,
        &request.source,
        &request.symbol,
        request.timeframe,
        range,
        progress,
    )
    .await
}

/// Fetches the request's Binance candles into the store (only what it lacks). Resumable: pages
/// are committed as they arrive, so an interrupted fetch keeps them.
pub async fn fetch(
    settings: &Settings,
    request: &SeriesRequest,
    progress: &mut dyn FnMut(FetchProgress),
) -> Result<FetchSummary> {
    fetch_range(settings, request, false, progress).await
}

/// [`fetch`] (or with `refresh`, [`refetch`]) that `cancel` stops at once, even while it waits
/// on the exchange (a rate-limit pause can last a minute): the request in flight is dropped,
/// the pages committed before it stay, and the error says how many candles those are.
pub async fn fetch_cancellable(
    settings: &Settings,
    request: &SeriesRequest,
    refresh: bool,
    progress: &mut dyn FnMut(FetchProgress),
    cancel: &CancelToken,
) -> Result<FetchSummary> {
    let mut last = None;
    let mut track = |p: FetchProgress| {
        last = Some(p);
        progress(p);
    };
    let outcome = tokio::select! {
        summary = fetch_range(settings, request, refresh, &mut track) => Some(summary),
        () = cancel.cancelled() => None,
    };
    match outcome {
        Some(summary) => summary,
        None => Err(Error::FetchCancelled {
            done: last.map_or(0, |p| p.candles_done),
            wanted: last.map_or(0, |p| p.candles_wanted),
        }),
    }
}

/// Like [`fetch`], but asks the exchange again for the whole range, even where the store has
/// settled it (`atb data fetch --refresh`): candles the exchange now reports differently are
/// rewritten with its values.
pub async fn refetch(
    settings: &Settings,
    request: &SeriesRequest,
    progress: &mut dyn FnMut(FetchProgress),
) -> Result<FetchSummary> {
    fetch_range(settings, request, true, progress).await
}

async fn fetch_range(
    settings: &Settings,
    request: &SeriesRequest,
    refresh: bool,
    progress: &mut dyn FnMut(FetchProgress),
) -> Result<FetchSummary> {
    if request.source != CandleSource::Binance {
        return Err(Error::InvalidRequest(format!(
            "only Binance candles are fetched; {} is read as it is",
            request.source
        )));
    }
    let range = date_range(request)?;
    fetch_into_store(
        settings,
        &request.symbol,
        request.timeframe,
        range,
        refresh,
        progress,
    )
    .await
}

/// Every stored series: first and last candle, rows, gaps.
pub fn coverage(settings: &Settings) -> Result<Vec<CoverageRow>> {
    CandleStore::open(&settings.database_path())?.coverage()
}

pub use atb_protocol::ImportSummary;

/// Reads and validates a candle CSV file and stores its candles as `symbol` `timeframe`.
pub fn import_csv(
    settings: &Settings,
    symbol: &Symbol,
    path: &Path,
    timeframe: Timeframe,
) -> Result<ImportSummary> {
    let candles = read_csv_file(path, timeframe)?;
    let (Some(first), Some(last)) = (candles.first(), candles.last()) else {
        return Err(Error::TooLittleData(format!(
            "{} holds no candles",
            path.display()
        )));
    };
    let counts =
        CandleStore::open(&settings.database_path())?.import(symbol, timeframe, &candles)?;
    Ok(ImportSummary {
        candles: candles.len(),
        inserted: counts.inserted,
        conflicts: counts.conflicts,
        first_conflict_ms: counts.first_conflict_ms,
        first_open_ms: first.open_time,
        last_open_ms: last.open_time,
        gaps: find_gaps(candles.iter().map(|c| c.open_time), timeframe.millis()),
    })
}

/// Closes of `series` thinned evenly to at most `max_points` (first and last kept), with every
/// gap of the full series.
pub fn candle_chart(series: &CandleSeries, max_buckets: usize) -> CandleChart {
    let n = series.candles.len();
    let tf = series.timeframe.millis();
    let mut chart = CandleChart {
        symbol: series.symbol.clone(),
        timeframe: series.timeframe,
        source: series.source.clone(),
        candles: n,
        bucket_candles: 1,
        open_times_ms: Vec::new(),
        opens: Vec::new(),
        highs: Vec::new(),
        lows: Vec::new(),
        closes: Vec::new(),
        volumes: Vec::new(),
        gaps: series.gaps(),
    };
    let (Some(first), Some(last)) = (series.candles.first(), series.candles.last()) else {
        return chart;
    };
    // Buckets on the time grid (gaps included), so each bar spans the same time.
    let intervals = ((last.open_time - first.open_time) / tf + 1) as usize;
    let per_bucket = intervals.div_ceil(max_buckets.max(1)).max(1);
    chart.bucket_candles = per_bucket as u32;
    let width = tf * per_bucket as i64;
    let mut current: Option<i64> = None;
    for c in &series.candles {
        let bucket = first.open_time + (c.open_time - first.open_time) / width * width;
        if current == Some(bucket) {
            let i = chart.closes.len() - 1;
            chart.highs[i] = chart.highs[i].max(c.high);
            chart.lows[i] = chart.lows[i].min(c.low);
            chart.closes[i] = c.close;
            chart.volumes[i] += c.volume;
        } else {
            current = Some(bucket);
            chart.open_times_ms.push(bucket);
            chart.opens.push(c.open);
            chart.highs.push(c.high);
            chart.lows.push(c.low);
            chart.closes.push(c.close);
            chart.volumes.push(c.volume);
        }
    }
    chart
}

/// The chart of a series as stored: Binance series are read from the local store only (a chart
/// never fetches), files and the sample are read whole.
pub async fn stored_chart(
    settings: &Settings,
    request: &SeriesRequest,
    max_points: usize,
) -> Result<CandleChart> {
    Ok(candle_chart(
        &stored_series(settings, request).await?,
        max_points,
    ))
}

/// The raw features `feature_set` computes from a series as stored (as [`stored_chart`] reads
/// it): every column's statistics over all rows, and its course as at most `max_points` means
/// of consecutive rows.
pub async fn feature_preview(
    settings: &Settings,
    request: &SeriesRequest,
    feature_set: FeatureSet,
    max_points: usize,
) -> Result<FeaturePreview> {
    let series = stored_series(settings, request).await?;
    let features = series_features(&series, feature_set)?;
    Ok(preview_of(&series, feature_set, &features, max_points))
}

fn preview_of(
    series: &CandleSeries,
    feature_set: FeatureSet,
    f: &FeatureMatrix,
    max_points: usize,
) -> FeaturePreview {
    let per_point = f.rows.div_ceil(max_points.max(1)).max(1);
    let width = f.width();
    let columns = f
        .names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let values = || (0..f.rows).map(move |r| f64::from(f.values[r * width + j]));
            let n = f.rows as f64;
            let mean = values().sum::<f64>() / n;
            let variance = values().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
            let points = (0..f.rows)
                .step_by(per_point)
                .map(|start| {
                    let end = (start + per_point).min(f.rows);
                    let sum: f64 = (start..end)
                        .map(|r| f64::from(f.values[r * width + j]))
                        .sum();
                    (sum / (end - start) as f64) as f32
                })
                .collect();
            FeatureColumn {
                name: name.clone(),
                meaning: FeatureSet::meaning(name).into(),
                mean,
                std: variance.sqrt(),
                min: values().fold(f64::INFINITY, f64::min),
                max: values().fold(f64::NEG_INFINITY, f64::max),
                points,
            }
        })
        .collect();
    FeaturePreview {
        symbol: series.symbol.clone(),
        timeframe: series.timeframe,
        feature_set,
        candles: series.candles.len(),
        warmup_rows: f.warmup_rows,
        rows: f.rows,
        rows_per_point: per_point as u32,
        open_times_ms: f.open_times.iter().step_by(per_point).copied().collect(),
        columns,
    }
}

/// A series as stored: Binance candles from the local store only (never fetched), files and the
/// sample read whole; an empty range is an error.
async fn stored_series(settings: &Settings, request: &SeriesRequest) -> Result<CandleSeries> {
    let range = date_range(request)?;
    let (symbol, timeframe) = (&request.symbol, request.timeframe);
    let series = match request.source {
        CandleSource::Binance => {
            let store = CandleStore::open(&settings.database_path())?;
            let Some(last) = store.last_open_time(symbol, timeframe)? else {
                return Err(Error::TooLittleData(format!(
                    "no {symbol} {timeframe} candles are stored yet: fetch them first"
                )));
            };
            let (start, end) = range.resolve(last + timeframe.millis());
            CandleSeries {
                symbol: symbol.clone(),
                timeframe,
                source: CandleSource::Binance,
                candles: store.candles(symbol, timeframe, start, end)?,
                context: None,
            }
        }
        _ => load_series(settings, request, &mut |_| {}).await?,
    };
    if series.candles.is_empty() {
        return Err(Error::TooLittleData(format!(
            "{} has no {symbol} {timeframe} candles in that range",
            request.source
        )));
    }
    Ok(series)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::compute_features;
    use crate::market::Candle;

    fn series(n: usize, skip: std::ops::Range<usize>) -> CandleSeries {
        let hour = 3_600_000;
        CandleSeries {
            symbol: Symbol::default(),
            timeframe: Timeframe::H1,
            source: CandleSource::Sample,
            candles: (0..n)
                .filter(|i| !skip.contains(i))
                .map(|i| Candle {
                    open_time: i as i64 * hour,
                    open: i as f64 - 0.5,
                    high: i as f64 + 1.0 + (i % 7) as f64,
                    low: i as f64 - 1.0 - (i % 5) as f64,
                    close: i as f64,
                    volume: 1.0 + (i % 3) as f64,
                    flow: None,
                })
                .collect(),
            context: None,
        }
    }

    #[test]
    fn the_feature_preview_keeps_every_rows_statistics_and_averages_points() {
        let candles = crate::market::sample::sample_candles().unwrap()[..1_000].to_vec();
        let s = CandleSeries {
            candles,
            ..series(0, 0..0)
        };
        let f = compute_features(&s.candles, FeatureSet::Technical).unwrap();
        let p = preview_of(&s, FeatureSet::Technical, &f, 100);
        assert_eq!((p.candles, p.warmup_rows, p.rows), (1_000, 60, 940));
        // 940 rows into at most 100 points: 10 rows each, 94 points.
        assert_eq!(p.rows_per_point, 10);
        assert_eq!(p.open_times_ms.len(), 94);
        assert_eq!(p.open_times_ms[1], f.open_times[10]);
        assert_eq!(p.columns.len(), 12);
        let rsi = p.columns.iter().find(|c| c.name == "rsi14").unwrap();
        assert_eq!(rsi.meaning, "RSI(14), Wilder smoothing, 0..1");
        let all: Vec<f64> = (0..f.rows).map(|r| f64::from(f.row(r)[8])).collect();
        let mean = all.iter().sum::<f64>() / 940.0;
        assert!((rsi.mean - mean).abs() < 1e-9);
        // Extremes over every row, not over the averaged points.
        assert_eq!(rsi.max, all.iter().copied().fold(f64::MIN, f64::max));
        assert!(rsi.points.iter().all(|&p| f64::from(p) <= rsi.max));
        let last: f64 = all[930..].iter().sum::<f64>() / 10.0;
        assert!((f64::from(rsi.points[93]) - last).abs() < 1e-6);
        assert!(rsi.min >= 0.0 && rsi.max <= 1.0 && rsi.std > 0.0);
    }

    #[test]
    fn the_chart_aggregates_ohlc_buckets_without_dropping_candles_and_reports_gaps() {
        let s = series(1000, 10..13);
        let c = candle_chart(&s, 100);
        assert_eq!(c.candles, 997);
        assert_eq!(c.bucket_candles, 10);
        assert_eq!(c.closes.len(), 100);
        // Every candle is in a bucket: volumes add up, the extremes are kept.
        let volume: f64 = s.candles.iter().map(|k| k.volume).sum();
        assert!((c.volumes.iter().sum::<f64>() - volume).abs() < 1e-9);
        let high = s.candles.iter().map(|k| k.high).fold(f64::MIN, f64::max);
        let low = s.candles.iter().map(|k| k.low).fold(f64::MAX, f64::min);
        assert_eq!(c.highs.iter().copied().fold(f64::MIN, f64::max), high);
        assert_eq!(c.lows.iter().copied().fold(f64::MAX, f64::min), low);
        // Open of a bucket's first candle, close of its last.
        assert_eq!(
            (c.opens[0], c.closes[0]),
            (s.candles[0].open, s.candles[9].close)
        );
        assert_eq!(c.closes.last(), Some(&s.candles.last().unwrap().close));
        // The bucket holding the gap (intervals 10..13) has 7 candles, not 10.
        let first_volume: f64 = s.candles[10..17].iter().map(|k| k.volume).sum();
        assert!((c.volumes[1] - first_volume).abs() < 1e-9);
        assert_eq!(c.gaps.len(), 1);
        assert_eq!(c.gaps[0].missing, 3);
        let small = candle_chart(&series(5, 0..0), 100);
        assert_eq!(small.bucket_candles, 1);
        assert_eq!(small.closes, [0.0, 1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn a_request_without_a_range_means_the_last_year_on_binance_only() {
        let binance = SeriesRequest {
            source: CandleSource::Binance,
            ..SeriesRequest::default()
        };
        assert_eq!(date_range(&binance).unwrap(), DateRange::LastDays(365));
        assert_eq!(
            date_range(&SeriesRequest::default()).unwrap(),
            DateRange::All
        );
        let both = SeriesRequest {
            days: Some(3),
            start_date: Some("2024-01-01".into()),
            ..SeriesRequest::default()
        };
        assert!(date_range(&both).is_err());
    }
}
