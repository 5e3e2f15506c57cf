//! Market data: candles, and where they come from (Binance, CSV, the sample). Symbols and
//! timeframes are `atb-protocol`'s vocabulary, re-exported here.

pub mod binance;
pub mod csv;
pub mod fetch;
pub mod rate_limit;
pub mod sample;
pub mod source;

pub use crate::candles::{Candle, OrderFlow, gaps};
pub use atb_protocol::vocab::{CandleSource, Symbol, Timeframe};

/// Formats epoch milliseconds as `YYYY-MM-DD HH:MM` UTC for messages.
pub fn format_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| format!("{ms} ms"))
}
