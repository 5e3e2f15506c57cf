//! Candles, below everything that stores, fetches or reads them: the OHLCV record with its
//! plausibility check, and the gap finder. `market` (where candles come from) and `store`
//! (where they are kept) both build on this module and not on each other.

pub mod gaps;

use serde::{Deserialize, Serialize};

/// One OHLCV candle; `open_time` is the UTC open time in epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Candle {
    pub open_time: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
    /// Binance's order flow for the candle; `None` where it is unknown (the bundled sample,
    /// a CSV without those columns, candles stored before atb kept them).
    #[serde(default)]
    pub flow: Option<OrderFlow>,
}

/// The trades inside a candle and the part of its volume bought by takers (market buys), as
/// Binance reports them with each kline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OrderFlow {
    pub trades: u64,
    /// Base-asset volume of the taker buys (at most the candle's volume).
    pub taker_buy_volume: f64,
}

impl Candle {
    /// Why this candle cannot be real, if it cannot: non-finite numbers, high/low outside the
    /// body, or negative volume. Zero-volume candles are real (trading halts) and pass.
    pub fn defect(&self) -> Option<String> {
        let fields = [
            ("open", self.open),
            ("high", self.high),
            ("low", self.low),
            ("close", self.close),
            ("volume", self.volume),
        ];
        if let Some((name, v)) = fields.iter().find(|(_, v)| !v.is_finite()) {
            return Some(format!("{name} is {v}, not a finite number"));
        }
        if self.open <= 0.0 || self.close <= 0.0 || self.low <= 0.0 {
            return Some("prices must be positive".into());
        }
        if self.high < self.open.max(self.close) {
            return Some(format!(
                "high {} is below max(open, close) {}",
                self.high,
                self.open.max(self.close)
            ));
        }
        if self.low > self.open.min(self.close) {
            return Some(format!(
                "low {} is above min(open, close) {}",
                self.low,
                self.open.min(self.close)
            ));
        }
        if self.volume < 0.0 {
            return Some(format!("volume {} is negative", self.volume));
        }
        if let Some(flow) = self.flow {
            let bought = flow.taker_buy_volume;
            // Binance rounds both volumes to the same decimals: a tiny excess is rounding.
            if !bought.is_finite() || bought < 0.0 || bought > self.volume * (1.0 + 1e-9) + 1e-12 {
                return Some(format!(
                    "taker-buy volume {bought} is not between 0 and the volume {}",
                    self.volume
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candle_defects() {
        let ok = Candle {
            open_time: 0,
            open: 10.0,
            high: 11.0,
            low: 9.0,
            close: 10.5,
            volume: 0.0,
            flow: None,
        };
        assert_eq!(ok.defect(), None);
        assert!(
            Candle { high: 10.2, ..ok }
                .defect()
                .unwrap()
                .contains("high")
        );
        assert!(Candle { low: 10.2, ..ok }.defect().unwrap().contains("low"));
        assert!(
            Candle {
                flow: Some(OrderFlow {
                    trades: 3,
                    taker_buy_volume: 0.1
                }),
                ..ok
            }
            .defect()
            .unwrap()
            .contains("taker-buy")
        );
        assert!(
            Candle { volume: -1.0, ..ok }
                .defect()
                .unwrap()
                .contains("volume")
        );
        assert!(
            Candle {
                close: f64::NAN,
                ..ok
            }
            .defect()
            .unwrap()
            .contains("close")
        );
    }
}
