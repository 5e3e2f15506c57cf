//! The bundled sample: real Binance BTCUSDT 1h candles (2023-01-01 to 2025-01-20), embedded in
//! the binary so every feature works offline on a fresh machine.

use std::sync::OnceLock;

use super::csv::parse_csv;
use super::{Candle, Timeframe};
use crate::error::Result;

/// Symbol of the bundled sample.
pub const SAMPLE_SYMBOL: &str = "BTCUSDT";
/// Timeframe of the bundled sample.
pub const SAMPLE_TIMEFRAME: Timeframe = Timeframe::H1;

const SAMPLE_CSV: &str = include_str!("../../../../data/BTCUSDT-1h.csv");

/// The sample's candles, parsed and validated once per process.
pub fn sample_candles() -> Result<&'static [Candle]> {
    static PARSED: OnceLock<Vec<Candle>> = OnceLock::new();
    if let Some(c) = PARSED.get() {
        return Ok(c);
    }
    let candles = parse_csv(
        SAMPLE_CSV,
        SAMPLE_TIMEFRAME,
        "bundled sample data/BTCUSDT-1h.csv",
    )?;
    Ok(PARSED.get_or_init(|| candles))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candles::gaps::find_gaps;

    #[test]
    fn sample_is_the_documented_real_data() {
        let c = sample_candles().unwrap();
        assert_eq!(c.len(), 18_000);
        assert_eq!(c[0].open_time, 1_672_531_200_000); // 2023-01-01 00:00 UTC
        assert_eq!(c[0].close, 16_529.67);
        let gaps = find_gaps(c.iter().map(|c| c.open_time), SAMPLE_TIMEFRAME.millis());
        // The 2023-03-24 spot trading halt: the 13:00 candle is missing.
        assert_eq!(gaps.len(), 1);
        assert_eq!(gaps[0].first_missing_ms, 1_679_662_800_000);
        assert_eq!(gaps[0].missing, 1);
    }
}
