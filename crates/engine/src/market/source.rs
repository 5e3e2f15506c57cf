//! Where candles come from, selectable wherever candles are needed: `binance` (through the
//! candle store), `csv:PATH`, or the bundled `sample`.

use std::path::Path;

use atb_protocol::date::Date;
use atb_protocol::{FetchProgress, FetchSummary, Gap};

use super::binance::{KlinesClient, RetryPolicy, now_ms};
use super::csv::read_csv_file;
use super::fetch::{FetchRequest, fetch_candles};
use super::sample::{SAMPLE_SYMBOL, SAMPLE_TIMEFRAME, sample_candles};
use super::{Candle, CandleSource, Symbol, Timeframe};
use crate::candles::gaps::find_gaps;
use crate::error::{Error, Result};
use crate::settings::Settings;
use crate::store::candles::CandleStore;

const DAY_MS: i64 = 86_400_000;

/// Which candles of a source to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateRange {
    /// The last `n` days: up to now for Binance, up to the last candle for files and the sample.
    LastDays(u32),
    /// `[start_ms, end_ms)` in UTC.
    Between { start_ms: i64, end_ms: i64 },
    /// Everything the source holds (files and the sample only).
    All,
}

impl DateRange {
    /// From the CLI's `--days N` or `--start-date YYYY-MM-DD [--end-date YYYY-MM-DD]` (end date
    /// inclusive, so `--end-date 2024-01-31` keeps that whole day; missing end means now).
    pub fn from_args(
        days: Option<u32>,
        start_date: Option<&str>,
        end_date: Option<&str>,
    ) -> Result<Self> {
        match (days, start_date, end_date) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(Error::InvalidRange(
                "give either a number of days or a start (and end) date, not both".into(),
            )),
            (Some(0), ..) => Err(Error::InvalidRange(
                "the number of days must be at least 1".into(),
            )),
            (Some(n), None, None) => Ok(Self::LastDays(n)),
            (None, Some(s), e) => {
                let start_ms = parse_date(s)?;
                let end_ms = match e {
                    Some(e) => parse_date(e)? + DAY_MS,
                    None => now_ms(),
                };
                if end_ms <= start_ms {
                    return Err(Error::InvalidRange(format!(
                        "the end date {} is before the start date {s}",
                        e.unwrap_or("(today)")
                    )));
                }
                Ok(Self::Between { start_ms, end_ms })
            }
            (None, None, Some(_)) => {
                Err(Error::InvalidRange("an end date needs a start date".into()))
            }
            (None, None, None) => Ok(Self::All),
        }
    }

    /// `[start, end)` for a source whose newest data ends at `latest_end_ms` (exclusive).
    pub fn resolve(self, latest_end_ms: i64) -> (i64, i64) {
        match self {
            Self::LastDays(n) => (latest_end_ms - i64::from(n) * DAY_MS, latest_end_ms),
            Self::Between { start_ms, end_ms } => (start_ms, end_ms),
            Self::All => (i64::MIN, latest_end_ms),
        }
    }
}

/// The start of day `s` in UTC milliseconds, parsed by the one date rule
/// ([`atb_protocol::date::Date`]) the form and the CLI use too.
fn parse_date(s: &str) -> Result<i64> {
    Date::parse(s)
        .map(Date::start_ms)
        .map_err(Error::InvalidRange)
}

/// Candles of one series from one source, with what is known about their holes.
#[derive(Debug, Clone)]
pub struct CandleSeries {
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    pub source: CandleSource,
    pub candles: Vec<Candle>,
    /// Another market's candles over the same range (`TrainSpec::context`), when a model
    /// reads them; see [`with_context`].
    pub context: Option<ContextCandles>,
}

/// A context market's candles: the same source and timeframe as the series they sit beside,
/// over the series' range.
#[derive(Debug, Clone)]
pub struct ContextCandles {
    pub symbol: Symbol,
    pub candles: Vec<Candle>,
}

/// `series` with `context`'s candles over the same range loaded beside it (fetched from
/// Binance like the series); unchanged when there is no context. A context equal to the
/// series, or beside candles that are not Binance's, is refused naming why.
pub async fn with_context(
    settings: &Settings,
    mut series: CandleSeries,
    context: Option<&Symbol>,
) -> Result<CandleSeries> {
    let Some(context) = context else {
        series.context = None;
        return Ok(series);
    };
    if *context == series.symbol {
        return Err(Error::InvalidRequest(format!(
            "context: {context} is the series itself; choose another market, e.g. BTCUSDT for ETHUSDT"
        )));
    }
    if series.source != CandleSource::Binance {
        return Err(Error::InvalidRequest(format!(
            "context: a context market is fetched from Binance beside the series; {} holds one market (use source binance)",
            series.source
        )));
    }
    let (Some(first), Some(last)) = (series.candles.first(), series.candles.last()) else {
        return Ok(series);
    };
    let range = DateRange::Between {
        start_ms: first.open_time,
        end_ms: last.open_time + series.timeframe.millis(),
    };
    let loaded = load_candles(
        settings,
        &series.source,
        context,
        series.timeframe,
        range,
        &mut |_| {},
    )
    .await?;
    series.context = Some(ContextCandles {
        symbol: context.clone(),
        candles: loaded.candles,
    });
    Ok(series)
}

impl CandleSeries {
    pub fn gaps(&self) -> Vec<Gap> {
        find_gaps(
            self.candles.iter().map(|c| c.open_time),
            self.timeframe.millis(),
        )
    }
}

/// Loads candles of `symbol` at `timeframe` from `source` over `range`. Binance goes through the
/// candle store (fetching only what it lacks); `progress` hears about each fetched page.
pub async fn load_candles(
    settings: &Settings,
    source: &CandleSource,
    symbol: &Symbol,
    timeframe: Timeframe,
    range: DateRange,
    progress: &mut dyn FnMut(FetchProgress),
) -> Result<CandleSeries> {
    let candles = match source {
        CandleSource::Sample => {
            if symbol.as_str() != SAMPLE_SYMBOL || timeframe != SAMPLE_TIMEFRAME {
                return Err(Error::SampleMismatch {
                    symbol: symbol.to_string(),
                    timeframe: timeframe.to_string(),
                });
            }
            slice_offline(sample_candles()?, timeframe, range)
        }
        CandleSource::Csv(path) => slice_offline(
            &read_csv_file(Path::new(path), timeframe)?,
            timeframe,
            range,
        ),
        CandleSource::Binance => {
            let summary =
                fetch_into_store(settings, symbol, timeframe, range, false, progress).await?;
            let store = CandleStore::open(&settings.database_path())?;
            store.candles(
                symbol,
                timeframe,
                summary.start_ms,
                summary.end_ms + timeframe.millis(),
            )?
        }
    };
    Ok(CandleSeries {
        symbol: symbol.clone(),
        timeframe,
        source: source.clone(),
        candles,
        context: None,
    })
}

/// Fetches `range` of a series from Binance into the candle store under `settings.home`, asking
/// only for what the store lacks. The one entry point for `atb data fetch` and the desktop app.
pub async fn fetch_into_store(
    settings: &Settings,
    symbol: &Symbol,
    timeframe: Timeframe,
    range: DateRange,
    refresh: bool,
    progress: &mut dyn FnMut(FetchProgress),
) -> Result<FetchSummary> {
    if range == DateRange::All {
        return Err(Error::InvalidRange(
            "Binance needs a number of days or a start date".into(),
        ));
    }
    // "The last N days" ends with the last closed candle, so `--days 30` of 1h is 720 candles.
    let (start_ms, end_ms) = range.resolve(timeframe.floor(now_ms()));
    let mut store = CandleStore::open(&settings.database_path())?;
    let mut client = KlinesClient::new(&settings.binance_url, RetryPolicy::default())?;
    let request = FetchRequest {
        symbol: symbol.clone(),
        timeframe,
        start_ms,
        end_ms,
        refresh,
    };
    fetch_candles(&mut store, &mut client, &request, progress).await
}

fn slice_offline(candles: &[Candle], timeframe: Timeframe, range: DateRange) -> Vec<Candle> {
    let latest_end = candles
        .last()
        .map_or(0, |c| c.open_time + timeframe.millis());
    let (start, end) = range.resolve(latest_end);
    candles
        .iter()
        .filter(|c| c.open_time >= start && c.open_time < end)
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_ranges() {
        let r = DateRange::from_args(None, Some("2024-01-01"), Some("2024-01-31")).unwrap();
        assert_eq!(
            r,
            DateRange::Between {
                start_ms: 1_704_067_200_000,
                end_ms: 1_706_745_600_000
            }
        );
        assert!(DateRange::from_args(Some(3), Some("2024-01-01"), None).is_err());
        assert!(DateRange::from_args(Some(0), None, None).is_err());
        assert!(DateRange::from_args(None, Some("2024-02-01"), Some("2024-01-01")).is_err());
        assert!(DateRange::from_args(None, Some("01/02/2024"), None).is_err());
        assert!(DateRange::from_args(None, None, Some("2024-01-01")).is_err());
        assert_eq!(
            DateRange::LastDays(2).resolve(10 * DAY_MS),
            (8 * DAY_MS, 10 * DAY_MS)
        );
    }

    #[tokio::test]
    async fn sample_source_loads_offline_and_checks_its_series() {
        let dir = tempfile::tempdir().unwrap();
        // A URL nothing listens on: the sample must not touch the network.
        let settings =
            Settings::resolve(dir.path().to_path_buf(), Some("http://127.0.0.1:9".into())).unwrap();
        let btc: Symbol = "BTCUSDT".parse().unwrap();
        let all = load_candles(
            &settings,
            &CandleSource::Sample,
            &btc,
            Timeframe::H1,
            DateRange::All,
            &mut |_| {},
        )
        .await
        .unwrap();
        assert_eq!(all.candles.len(), 18_000);
        assert_eq!(all.gaps().len(), 1);
        let week = load_candles(
            &settings,
            &CandleSource::Sample,
            &btc,
            Timeframe::H1,
            DateRange::LastDays(7),
            &mut |_| {},
        )
        .await
        .unwrap();
        assert_eq!(week.candles.len(), 7 * 24);
        assert_eq!(week.candles.last(), all.candles.last());
        let eth: Symbol = "ETHUSDT".parse().unwrap();
        let err = load_candles(
            &settings,
            &CandleSource::Sample,
            &eth,
            Timeframe::H1,
            DateRange::All,
            &mut |_| {},
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("only BTCUSDT 1h"), "{err}");
        assert!(
            !dir.path().join("atb.sqlite").exists(),
            "the sample must not create a store"
        );
    }
}
