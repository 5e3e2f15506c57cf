//! Serde types that cross the boundary between the engine, the desktop shell and the wasm UI.
//!
//! Kept free of Burn, polars and I/O so it compiles to wasm32 and changes rarely.

use serde::{Deserialize, Serialize};

use crate::vocab::{Symbol, Timeframe};

pub mod backtest;
pub mod bench;
pub mod date;
pub mod desktop;
pub mod forward;
pub mod registry;
pub mod rpc;
pub mod selection;
pub mod spec;
pub mod sweep;
pub mod targets;
pub mod training;
pub mod verdict;
pub mod vocab;

/// Stored candles of one (symbol, timeframe): what `atb data list --json` prints per row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageRow {
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    pub first_open_time_ms: i64,
    pub last_open_time_ms: i64,
    pub rows: u64,
    /// Number of gaps: runs of one or more missing candles between the first and the last.
    pub gaps: u64,
    /// Candles missing inside those gaps, all gaps together.
    pub missing_candles: u64,
}

/// A run of missing candles between two stored ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// Open time of the first missing candle.
    pub first_missing_ms: i64,
    /// How many consecutive candles are missing.
    pub missing: u64,
}

/// What a CSV import did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportSummary {
    pub candles: usize,
    /// Of those, how many the store did not hold before.
    pub inserted: u64,
    /// How many the store held with other values: left as stored, never rewritten by a file.
    pub conflicts: u64,
    pub first_conflict_ms: Option<i64>,
    pub first_open_ms: i64,
    pub last_open_ms: i64,
    pub gaps: Vec<Gap>,
}

/// Progress of a candle fetch, sent after every committed page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchProgress {
    /// Candles the range can hold that were not stored before this fetch.
    pub candles_wanted: u64,
    /// Of those, how many the fetch has asked for and committed so far (received or found absent).
    pub candles_done: u64,
    /// Kline requests sent so far, retries included.
    pub requests: u64,
}

/// The outcome of a fetch, for summaries and the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchSummary {
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    /// First and last open time asked for (inclusive), after clamping to closed candles.
    pub start_ms: i64,
    pub end_ms: i64,
    /// Candles stored in the range after the fetch.
    pub stored: u64,
    /// Candles newly written by this fetch.
    pub inserted: u64,
    /// Kline requests sent, retries included.
    pub requests: u64,
    /// Missing candles inside the range, as stored.
    pub gaps: Vec<Gap>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_row_json_keys() {
        let row = CoverageRow {
            symbol: Symbol::default(),
            timeframe: Timeframe::H1,
            first_open_time_ms: 1,
            last_open_time_ms: 2,
            rows: 2,
            gaps: 0,
            missing_candles: 0,
        };
        let v = serde_json::to_value(&row).unwrap();
        for key in [
            "symbol",
            "timeframe",
            "first_open_time_ms",
            "last_open_time_ms",
            "rows",
            "gaps",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
    }
}
