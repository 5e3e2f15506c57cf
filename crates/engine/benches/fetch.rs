//! Fetch benchmark: one year of 1h candles (8,760) from a local mock exchange into a fresh candle
//! store, first cold (network + SQLite writes) and then warm (served from the store), with request
//! counts. Prints figures; asserts only that the counts are what the design promises.
//!
//! Run: `cargo bench -p atb-engine --bench fetch`

use std::time::{Duration, Instant};

use atb_engine::testing::market::binance::{KlinesClient, RetryPolicy};
use atb_engine::testing::market::fetch::{FetchRequest, fetch_candles};
use atb_engine::testing::market::{Symbol, Timeframe};
use atb_engine::testing::store::candles::CandleStore;
use atb_mock_binance::{MockBinance, MockConfig};

const H: i64 = 3_600_000;
/// 2024-01-01 00:00 UTC.
const T0: i64 = 1_704_067_200_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mock = MockBinance::start(MockConfig::default()).expect("mock server");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = CandleStore::open(&dir.path().join("atb.sqlite")).expect("store");
    let mut client = KlinesClient::new(&mock.url(), RetryPolicy::default()).expect("client");
    let symbol: Symbol = "BTCUSDT".parse().expect("symbol");
    let request = FetchRequest {
        symbol,
        timeframe: Timeframe::H1,
        start_ms: T0,
        end_ms: T0 + 8_760 * H,
        refresh: false,
    };

    println!("fetch benchmark: 8,760 x 1h candles (one year) from a local mock exchange");
    println!(
        "{:<6} {:>10} {:>9} {:>9} {:>16}",
        "run", "time", "requests", "stored", "candles/s"
    );
    for run in ["cold", "warm"] {
        let started = Instant::now();
        let summary = runtime
            .block_on(fetch_candles(
                &mut store,
                &mut client,
                &request,
                &mut |_| {},
            ))
            .expect("fetch");
        let elapsed = started.elapsed();
        println!(
            "{run:<6} {:>10} {:>9} {:>9} {:>16.0}",
            format_duration(elapsed),
            summary.requests,
            summary.stored,
            summary.stored as f64 / elapsed.as_secs_f64()
        );
        let expected_requests = if run == "cold" { 9 } else { 0 };
        assert_eq!(
            summary.requests, expected_requests,
            "{run} fetch sent an unexpected number of requests"
        );
        assert_eq!(summary.stored, 8_760);
    }
}

fn format_duration(d: Duration) -> String {
    if d.as_secs_f64() >= 1.0 {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    }
}
