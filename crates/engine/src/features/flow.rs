//! Order-flow features from Binance's per-candle trade count and taker-buy base volume, and the
//! check that a series carries them before any feature set that reads them is computed.
//!
//! - `taker_buy_share`: taker-buy volume over volume, the share of the candle's volume that
//!   market buyers took; 0.5 (neither side) when nothing traded.
//! - `taker_buy_share_dev_24`: the share minus its trailing 24-bar mean (this bar included).
//! - `log_trades_per_volume`: log(1 + trades) - log(1 + volume): many small trades against few
//!   large ones.

use atb_protocol::rpc::{CandleRange, Remedy};

use super::FeatureSet;
use crate::candles::Candle;
use crate::error::{Error, Result};
use crate::market::source::CandleSeries;

/// Bars of the trailing mean the share's deviation is taken from.
const SHARE_MEAN_BARS: usize = 24;

/// The three order-flow columns over `candles` (NaN before the trailing mean is full).
pub(super) fn flow_columns(candles: &[Candle]) -> Result<Vec<Vec<f64>>> {
    let mut share = Vec::with_capacity(candles.len());
    let mut trades_per_volume = Vec::with_capacity(candles.len());
    for c in candles {
        let flow = c.flow.ok_or_else(|| missing_flow_error(candles))?;
        share.push(if c.volume > 0.0 {
            flow.taker_buy_volume / c.volume
        } else {
            0.5
        });
        trades_per_volume.push((flow.trades as f64).ln_1p() - c.volume.ln_1p());
    }
    let deviation = (0..share.len())
        .map(|t| {
            if t + 1 < SHARE_MEAN_BARS {
                return f64::NAN;
            }
            let window = &share[t + 1 - SHARE_MEAN_BARS..=t];
            share[t] - window.iter().sum::<f64>() / SHARE_MEAN_BARS as f64
        })
        .collect();
    Ok(vec![share, deviation, trades_per_volume])
}

fn missing_flow_error(candles: &[Candle]) -> Error {
    let unknown = candles.iter().filter(|c| c.flow.is_none()).count();
    Error::InvalidData(format!(
        "{unknown} of {} candles carry no order flow (trade count, taker-buy volume), which the flow features read",
        candles.len()
    ))
}

/// Refuses a set that reads order flow over a series where a candle lacks it, naming how many
/// and the fix (fetch the range again from Binance: the bundled sample, CSV files without those
/// columns and candles stored before atb kept order flow have none).
pub fn require_order_flow(series: &CandleSeries, set: FeatureSet) -> Result<()> {
    if set.needs_order_flow() {
        let unknown = series.candles.iter().filter(|c| c.flow.is_none()).count();
        if unknown > 0 {
            let day = |ms: i64| {
                chrono::DateTime::from_timestamp_millis(ms)
                    .map(|t| t.format("%Y-%m-%d").to_string())
                    .unwrap_or_else(|| ms.to_string())
            };
            let first = series.candles.first().map_or(0, |c| c.open_time);
            let last = series.candles.last().map_or(0, |c| c.open_time);
            return Err(Error::InvalidData(format!(
                "the {set} features read order flow (trade counts, taker-buy volume), and {unknown} of the {} {} {} candles from {} carry none: {}",
                series.candles.len(),
                series.symbol,
                series.timeframe,
                series.source,
                match series.source {
                    atb_protocol::vocab::CandleSource::Binance => "they were stored before atb kept order flow, or imported from a file without it",
                    _ => "only candles fetched from Binance (or a CSV with trades and taker_buy_volume columns) have it",
                }
            ))
            .with_remedy(Remedy::RefetchCandles(Box::new(CandleRange {
                symbol: series.symbol.to_string(),
                timeframe: series.timeframe.to_string(),
                first_day: day(first),
                last_day: day(last),
            }))));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candles::OrderFlow;
    use crate::features::{compute_features, series_features};
    use crate::market::sample::sample_candles;
    use atb_protocol::vocab::CandleSource;

    fn with_flow(n: usize) -> Vec<Candle> {
        sample_candles().unwrap()[..n]
            .iter()
            .enumerate()
            .map(|(i, c)| Candle {
                flow: Some(OrderFlow {
                    trades: 100 + (i as u64 * 37) % 400,
                    taker_buy_volume: c.volume * (0.3 + 0.4 * ((i * 7) % 10) as f64 / 10.0),
                }),
                ..*c
            })
            .collect()
    }

    #[test]
    fn flow_features_match_a_hand_computation() {
        let candles = with_flow(200);
        let m = compute_features(&candles, FeatureSet::Flow).unwrap();
        assert_eq!(m.width(), 8);
        assert_eq!(m.warmup_rows, 24);
        let t = 30;
        let row = m.row(t - 24);
        let share = |c: &Candle| c.flow.unwrap().taker_buy_volume / c.volume;
        let mean: f64 = candles[t - 23..=t].iter().map(share).sum::<f64>() / 24.0;
        let flow = candles[t].flow.unwrap();
        assert!((f64::from(row[5]) - share(&candles[t])).abs() < 1e-6);
        assert!((f64::from(row[6]) - (share(&candles[t]) - mean)).abs() < 1e-6);
        let per_volume = (flow.trades as f64).ln_1p() - candles[t].volume.ln_1p();
        assert!((f64::from(row[7]) - per_volume).abs() < 1e-5);
        // The price columns are the price set's.
        let price = compute_features(&candles, FeatureSet::Price).unwrap();
        assert_eq!(&row[..5], price.row(t - 24));
    }

    #[test]
    fn a_candle_without_volume_has_a_neutral_share() {
        let mut candles = with_flow(60);
        candles[40].volume = 0.0;
        candles[40].flow = Some(OrderFlow {
            trades: 0,
            taker_buy_volume: 0.0,
        });
        let m = compute_features(&candles, FeatureSet::Flow).unwrap();
        assert_eq!(m.row(40 - 24)[5], 0.5);
        assert_eq!(m.row(40 - 24)[7], 0.0);
    }

    #[test]
    fn flow_features_are_causal() {
        let candles = with_flow(300);
        let base = compute_features(&candles, FeatureSet::Flow).unwrap();
        let mut changed = candles.clone();
        for c in &mut changed[200..] {
            let flow = c.flow.as_mut().unwrap();
            flow.trades *= 5;
            flow.taker_buy_volume = c.volume * 0.99;
        }
        let after = compute_features(&changed, FeatureSet::Flow).unwrap();
        for r in 0..200 - 24 {
            assert_eq!(base.row(r), after.row(r), "row {r} saw the future");
        }
        assert_ne!(base.row(200 - 24), after.row(200 - 24));
    }

    #[test]
    fn candles_without_order_flow_are_refused_naming_the_fix() {
        let series = CandleSeries {
            symbol: "BTCUSDT".parse().unwrap(),
            timeframe: atb_protocol::vocab::Timeframe::H1,
            source: CandleSource::Sample,
            candles: sample_candles().unwrap()[..300].to_vec(),
            context: None,
        };
        let e = series_features(&series, FeatureSet::Flow).unwrap_err();
        let message = e.to_string();
        assert!(message.contains("300 of the 300"), "{message}");
        assert!(message.contains("order flow"), "{message}");
        let Some(Remedy::RefetchCandles(range)) = e.remedy() else {
            panic!("no refetch remedy: {:?}", e.remedy());
        };
        assert_eq!(range.symbol, "BTCUSDT");
        assert_eq!(range.first_day, "2023-01-01");
        assert!(e.remedy().unwrap().cli().contains("--refresh"));
        // One candle missing is enough to refuse; other sets do not care.
        let mut mixed = CandleSeries {
            candles: with_flow(300),
            ..series
        };
        mixed.candles[150].flow = None;
        assert!(
            series_features(&mixed, FeatureSet::Flow)
                .unwrap_err()
                .to_string()
                .contains("1 of the 300")
        );
        assert!(series_features(&mixed, FeatureSet::Price).is_ok());
        // Below the check, compute_features refuses too, with no remedy to give.
        assert!(compute_features(&mixed.candles, FeatureSet::Flow).is_err());
    }
}
