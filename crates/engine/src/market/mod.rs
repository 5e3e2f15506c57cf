//! Market data: candles, symbols, intervals, and where candles come from (Binance, CSV, the sample).

pub mod binance;
pub mod csv;
pub mod fetch;
pub mod gaps;
pub mod rate_limit;
pub mod sample;
pub mod source;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One OHLCV candle; `open_time` is the UTC open time in epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Candle {
    pub open_time: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
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
        None
    }
}

/// A trading pair as Binance spells it, e.g. `BTCUSDT` (upper-cased on parse).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Symbol(String);

impl Symbol {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Symbol {
    type Err = Error;

    /// Binance's rule: 1 to 20 characters of `A-Z 0-9 - _ .`; we also require a letter.
    fn from_str(s: &str) -> Result<Self> {
        let upper = s.trim().to_ascii_uppercase();
        let bad = |reason: &str| Error::InvalidSymbolName {
            symbol: s.to_string(),
            reason: reason.to_string(),
        };
        if upper.is_empty() || upper.len() > 20 {
            return Err(bad("a symbol has 1 to 20 characters, e.g. BTCUSDT"));
        }
        if !upper
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(bad(
                "only letters, digits, '-', '_' and '.' are allowed, e.g. BTCUSDT",
            ));
        }
        if !upper.chars().any(|c| c.is_ascii_alphabetic()) {
            return Err(bad("a symbol needs letters, e.g. BTCUSDT"));
        }
        Ok(Self(upper))
    }
}

impl TryFrom<String> for Symbol {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Symbol> for String {
    fn from(s: Symbol) -> String {
        s.0
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Binance kline interval (the fixed-length ones this product supports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Interval {
    #[serde(rename = "1m")]
    M1,
    #[serde(rename = "3m")]
    M3,
    #[serde(rename = "5m")]
    M5,
    #[serde(rename = "15m")]
    M15,
    #[serde(rename = "30m")]
    M30,
    #[serde(rename = "1h")]
    H1,
    #[serde(rename = "2h")]
    H2,
    #[serde(rename = "4h")]
    H4,
    #[serde(rename = "6h")]
    H6,
    #[serde(rename = "8h")]
    H8,
    #[serde(rename = "12h")]
    H12,
    #[serde(rename = "1d")]
    D1,
}

impl Interval {
    pub const ALL: [Interval; 12] = [
        Self::M1,
        Self::M3,
        Self::M5,
        Self::M15,
        Self::M30,
        Self::H1,
        Self::H2,
        Self::H4,
        Self::H6,
        Self::H8,
        Self::H12,
        Self::D1,
    ];

    /// The name Binance uses, e.g. `1h`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::M1 => "1m",
            Self::M3 => "3m",
            Self::M5 => "5m",
            Self::M15 => "15m",
            Self::M30 => "30m",
            Self::H1 => "1h",
            Self::H2 => "2h",
            Self::H4 => "4h",
            Self::H6 => "6h",
            Self::H8 => "8h",
            Self::H12 => "12h",
            Self::D1 => "1d",
        }
    }

    /// Length in milliseconds.
    pub fn millis(self) -> i64 {
        const MIN: i64 = 60_000;
        MIN * match self {
            Self::M1 => 1,
            Self::M3 => 3,
            Self::M5 => 5,
            Self::M15 => 15,
            Self::M30 => 30,
            Self::H1 => 60,
            Self::H2 => 120,
            Self::H4 => 240,
            Self::H6 => 360,
            Self::H8 => 480,
            Self::H12 => 720,
            Self::D1 => 1440,
        }
    }

    /// The first open time at or after `t`.
    pub fn ceil(self, t: i64) -> i64 {
        let m = self.millis();
        t.div_euclid(m) * m + if t.rem_euclid(m) == 0 { 0 } else { m }
    }

    /// The open time of the candle containing `t`.
    pub fn floor(self, t: i64) -> i64 {
        t.div_euclid(self.millis()) * self.millis()
    }
}

impl FromStr for Interval {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|i| i.as_str() == s.trim())
            .ok_or_else(|| Error::InvalidInterval(s.to_string()))
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Formats epoch milliseconds as `YYYY-MM-DD HH:MM` UTC for messages.
pub fn format_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| format!("{ms} ms"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_validated_and_uppercased() {
        assert_eq!("btcusdt".parse::<Symbol>().unwrap().as_str(), "BTCUSDT");
        for bad in [
            "",
            "BTC USDT",
            "BTC/USDT",
            "123",
            "AVERYLONGSYMBOLNAMEOVER20",
        ] {
            assert!(bad.parse::<Symbol>().is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn intervals_parse_and_align() {
        for i in Interval::ALL {
            assert_eq!(i.as_str().parse::<Interval>().unwrap(), i);
        }
        let err = "1w".parse::<Interval>().unwrap_err().to_string();
        assert!(err.contains("1w") && err.contains("12h"), "{err}");
        assert_eq!(Interval::H1.ceil(3_600_001), 7_200_000);
        assert_eq!(Interval::H1.ceil(3_600_000), 3_600_000);
        assert_eq!(Interval::H1.floor(3_600_001), 3_600_000);
    }

    #[test]
    fn candle_defects() {
        let ok = Candle {
            open_time: 0,
            open: 10.0,
            high: 11.0,
            low: 9.0,
            close: 10.5,
            volume: 0.0,
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
