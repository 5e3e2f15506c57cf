//! `atb data ...` end to end: the real binary against a local mock exchange and real files.

use crate::common::{atb, run};
use atb_mock_binance::{MockBinance, MockConfig};

#[test]
fn fetch_30_days_stores_exactly_the_closed_candles_and_refetches_nothing() {
    let mock = MockBinance::start(MockConfig::default()).unwrap();
    let home = tempfile::tempdir().unwrap();
    let (code, out, err) = run(atb(home.path(), &mock.url()).args([
        "data",
        "fetch",
        "BTCUSDT",
        "--timeframe",
        "1h",
        "--days",
        "30",
    ]));
    assert_eq!(code, 0, "stderr: {err}");
    assert!(
        out.contains("720 candles stored") && out.contains("720 new"),
        "{out}"
    );
    let requests = mock.kline_requests();
    assert_eq!(requests, 1);

    let (code, out, _) = run(atb(home.path(), &mock.url()).args(["data", "list", "--json"]));
    assert_eq!(code, 0);
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    let row = &rows[0];
    assert_eq!(row["symbol"], "BTCUSDT");
    assert_eq!(row["timeframe"], "1h");
    assert_eq!(row["rows"], 720);
    assert_eq!(row["gaps"], 0);
    let (first, last) = (
        row["first_open_time_ms"].as_i64().unwrap(),
        row["last_open_time_ms"].as_i64().unwrap(),
    );
    assert_eq!(last - first, 719 * 3_600_000);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    // The last stored candle is the last closed one: its successor is in progress.
    assert_eq!(
        last,
        now / 3_600_000 * 3_600_000 - 3_600_000,
        "unless the hour turned during the test"
    );

    let (code, out, _) = run(atb(home.path(), &mock.url()).args([
        "data",
        "fetch",
        "BTCUSDT",
        "--timeframe",
        "1h",
        "--days",
        "30",
    ]));
    assert_eq!(code, 0);
    // Only the newest intervals, never settled (the exchange may not have published them yet),
    // are asked for again: one request, nothing new.
    assert!(out.contains("0 new, 1 request"), "{out}");
    assert_eq!(
        mock.kline_requests(),
        requests + 1,
        "a repeat fetch asks only for the unsettled tail"
    );
}

#[test]
fn an_invalid_symbol_exits_non_zero_naming_it() {
    let mock = MockBinance::start(MockConfig::default()).unwrap();
    let home = tempfile::tempdir().unwrap();
    let (code, out, err) =
        run(atb(home.path(), &mock.url()).args(["data", "fetch", "NOPECOIN", "--days", "2"]));
    assert_ne!(code, 0);
    assert!(out.is_empty());
    assert!(
        err.contains("NOPECOIN") && err.contains("Invalid symbol"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
    assert_eq!(mock.kline_requests(), 1, "not retried");
}

#[test]
fn malformed_arguments_are_refused_before_any_request() {
    let mock = MockBinance::start(MockConfig::default()).unwrap();
    let home = tempfile::tempdir().unwrap();
    for args in [
        vec!["data", "fetch", "BTC/USDT", "--days", "2"],
        vec![
            "data",
            "fetch",
            "BTCUSDT",
            "--timeframe",
            "1w",
            "--days",
            "2",
        ],
        vec!["data", "fetch", "BTCUSDT", "--days", "0"],
        vec!["data", "fetch", "BTCUSDT", "--start-date", "2024-13-01"],
        vec![
            "data",
            "fetch",
            "BTCUSDT",
            "--start-date",
            "2024-02-01",
            "--end-date",
            "2024-01-01",
        ],
        vec![
            "data",
            "fetch",
            "BTCUSDT",
            "--days",
            "3",
            "--start-date",
            "2024-01-01",
        ],
    ] {
        let (code, _, err) = run(atb(home.path(), &mock.url()).args(&args));
        assert_ne!(code, 0, "{args:?} should fail");
        assert!(err.contains("error"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    assert_eq!(mock.kline_requests(), 0);
}

/// No range means the last 365 days, the same rule a training run and the desktop use.
#[test]
fn a_fetch_without_a_range_takes_the_last_year() {
    let mock = MockBinance::start(MockConfig::default()).unwrap();
    let home = tempfile::tempdir().unwrap();
    let (code, out, err) =
        run(atb(home.path(), &mock.url()).args(["data", "fetch", "BTCUSDT", "--json"]));
    assert_eq!(code, 0, "{err}");
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["stored"], 365 * 24, "{out}");
}

#[test]
fn no_network_is_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    // Nothing listens on the discard port; the retries back off for about 15 s in all.
    let (code, _, err) =
        run(atb(home.path(), "http://127.0.0.1:9")
            .args(["data", "fetch", "BTCUSDT", "--days", "1"]));
    assert_ne!(code, 0);
    assert!(
        err.contains("cannot reach Binance") && err.contains("ATB_BINANCE_URL"),
        "{err}"
    );
}

#[test]
fn csv_import_validates_rows_and_stores_them() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        "open_time_ms,open,high,low,close,volume\n0,1,2,0.5,1.5,10\n3600000,1.5,2,1,1.2,0\n10800000,1.2,1.3,1.1,1.2,3\n",
    )
    .unwrap();
    let (code, out, err) = run(atb(home.path(), "http://127.0.0.1:9")
        .args(["data", "import", "ETHUSDT", "-t", "1h"])
        .arg(&good));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("imported 3 candles") && out.contains("1 gap"),
        "{out}"
    );
    let (_, out, _) = run(atb(home.path(), "http://127.0.0.1:9").args(["data", "list", "--json"]));
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (rows[0]["rows"].as_u64(), rows[0]["gaps"].as_u64()),
        (Some(3), Some(1))
    );

    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "open_time_ms,open,high,low,close,volume\n0,1,2,0.5,1.5,10\n3600000,1.5,1.4,1,1.2,0\n",
    )
    .unwrap();
    let (code, _, err) = run(atb(home.path(), "http://127.0.0.1:9")
        .args(["data", "import", "ETHUSDT", "-t", "1h"])
        .arg(&bad));
    assert_ne!(code, 0);
    assert!(
        err.contains("bad.csv: line 3") && err.contains("high"),
        "{err}"
    );

    let (code, _, err) = run(atb(home.path(), "http://127.0.0.1:9").args([
        "data",
        "import",
        "ETHUSDT",
        "-t",
        "1h",
        "/nonexistent/x.csv",
    ]));
    assert_ne!(code, 0);
    assert!(err.contains("/nonexistent/x.csv"), "{err}");
}

#[test]
fn the_sample_works_offline() {
    let home = tempfile::tempdir().unwrap();
    let (code, out, err) = run(atb(home.path(), "http://127.0.0.1:9")
        .args(["data", "inspect", "BTCUSDT", "--source", "sample"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("18000 candles") && out.contains("2023-03-24 13:00"),
        "{out}"
    );
    let (code, _, err) = run(atb(home.path(), "http://127.0.0.1:9")
        .args(["data", "inspect", "ETHUSDT", "--source", "sample"]));
    assert_ne!(code, 0);
    assert!(err.contains("only BTCUSDT 1h"), "{err}");
}
