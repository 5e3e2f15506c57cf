//! Fetching a range of candles from Binance into the `CandleStore`, asking only for what is not
//! already settled, one committed page at a time so an interrupted fetch resumes where it stopped.

use atb_protocol::{FetchProgress, FetchSummary};

use super::binance::{KlinesClient, MAX_LIMIT, now_ms};
use super::{Symbol, Timeframe, format_ms};
use crate::candles::gaps::find_gaps;
use crate::error::{Error, Result};
use crate::store::candles::CandleStore;

/// Candles of one series with open time in `[start_ms, end_ms)`.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Ask the exchange again for the whole range, settled or not (`atb data fetch --refresh`).
    pub refresh: bool,
}

/// Intervals before the exchange's "now" that are never marked settled: a candle there may not be
/// published yet (or this machine's clock may run ahead), so the next fetch asks for them again
/// instead of recording a permanent gap.
pub const UNSETTLED_TAIL_INTERVALS: i64 = 3;

/// Brings the store up to date for `request` and summarises what it holds there.
///
/// The range is clamped to closed candles by the exchange's clock (the in-progress one is never
/// stored), and its last [`UNSETTLED_TAIL_INTERVALS`] are stored but left unsettled. Ranges the
/// store has settled before are not asked for again; so a repeated fetch of an older range sends
/// no request.
pub async fn fetch_candles(
    store: &mut CandleStore,
    client: &mut KlinesClient,
    request: &FetchRequest,
    progress: &mut dyn FnMut(FetchProgress),
) -> Result<FetchSummary> {
    let FetchRequest {
        symbol, timeframe, ..
    } = request;
    let (symbol, timeframe) = (symbol, *timeframe);
    let step = timeframe.millis();
    if request.end_ms <= request.start_ms {
        return Err(Error::InvalidRange(format!(
            "start {} is not before end {}",
            format_ms(request.start_ms),
            format_ms(request.end_ms)
        )));
    }
    let start = timeframe.ceil(request.start_ms);
    // Open time of the candle still in progress: everything before it is closed.
    let end = request.end_ms.min(timeframe.floor(now_ms()));
    let requests_before = client.requests();
    let mut inserted = 0;
    if start < end {
        if request.refresh {
            store.unsettle(symbol, timeframe, start, end)?;
        }
        let missing = store.missing_ranges(symbol, timeframe, start, end)?;
        let wanted: i64 = missing.iter().map(|(a, b)| (b - a) / step).sum();
        let mut done: i64 = 0;
        let mut report = |done: i64, client: &KlinesClient| {
            progress(FetchProgress {
                candles_wanted: wanted as u64,
                candles_done: done as u64,
                requests: client.requests() - requests_before,
            })
        };
        report(0, client);
        for (range_start, range_end) in missing {
            let mut cursor = range_start;
            while cursor < range_end {
                let limit = ((range_end - cursor) / step).clamp(1, MAX_LIMIT as i64) as u32;
                let (mut candles, rows) = client
                    .klines(symbol, timeframe, cursor, range_end - 1, limit)
                    .await?;
                candles.retain(|c| c.open_time >= cursor && c.open_time < range_end);
                if let Some(w) = candles
                    .windows(2)
                    .find(|w| w[1].open_time <= w[0].open_time)
                {
                    return Err(Error::Rejected {
                        status: 200,
                        code: 0,
                        message: format!("klines out of order at open time {}", w[1].open_time),
                    });
                }
                // A full page may stop short of the range; a short one means nothing more exists,
                // except near the exchange's "now", where candles may still be on their way.
                let full = rows >= limit as usize;
                let next = match candles.last() {
                    Some(last) if full => last.open_time + step,
                    _ => range_end,
                };
                let unsettled_from =
                    timeframe.floor(client.exchange_now_ms()) - UNSETTLED_TAIL_INTERVALS * step;
                let settled_to = next.min(unsettled_from.max(cursor));
                inserted += store.commit_page(symbol, timeframe, &candles, cursor, settled_to)?;
                done += (next - cursor) / step;
                report(done, client);
                cursor = next;
            }
        }
    }
    // What exists by the exchange's clock (this machine's may run ahead).
    let end = end.min(timeframe.floor(client.exchange_now_ms()));
    let stored = if start < end {
        store.candles(symbol, timeframe, start, end)?
    } else {
        Vec::new()
    };
    Ok(FetchSummary {
        symbol: symbol.clone(),
        timeframe,
        start_ms: start,
        end_ms: end - step,
        stored: stored.len() as u64,
        inserted,
        requests: client.requests() - requests_before,
        gaps: find_gaps(stored.iter().map(|c| c.open_time), step),
    })
}
