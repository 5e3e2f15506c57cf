//! The klines client and the candle store against an in-process mock of Binance: paging, empty
//! ranges, rate limits, server errors, broken bodies, invalid symbols, resume after failure.

use std::time::{Duration, Instant};

use atb_engine::Error;
use atb_engine::testing::market::binance::{KlinesClient, RetryPolicy};
use atb_engine::testing::market::fetch::{FetchRequest, fetch_candles};
use atb_engine::testing::market::{Symbol, Timeframe};
use atb_engine::testing::store::candles::CandleStore;
use atb_mock_binance::{Fault, MockBinance, MockConfig, synthetic_candle};

const H: i64 = 3_600_000;
/// 2024-01-01 00:00 UTC.
const T0: i64 = 1_704_067_200_000;

fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(5),
        request_timeout: Duration::from_millis(1500),
    }
}

struct Fixture {
    mock: MockBinance,
    _dir: tempfile::TempDir,
    store: CandleStore,
    client: KlinesClient,
}

fn fixture() -> Fixture {
    let mock = MockBinance::start(MockConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = CandleStore::open(&dir.path().join("atb.sqlite")).unwrap();
    let client = KlinesClient::new(&mock.url(), fast_policy()).unwrap();
    Fixture {
        mock,
        _dir: dir,
        store,
        client,
    }
}

fn request(symbol: &str, start: i64, hours: i64) -> FetchRequest {
    FetchRequest {
        symbol: symbol.parse::<Symbol>().unwrap(),
        timeframe: Timeframe::H1,
        start_ms: start,
        end_ms: start + hours * H,
        refresh: false,
    }
}

fn query_param(query: &str, key: &str) -> Option<i64> {
    query
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn pages_a_long_range_and_never_asks_past_its_end() {
    let mut f = fixture();
    let req = request("BTCUSDT", T0, 2_500);
    let mut progress = Vec::new();
    let summary = fetch_candles(&mut f.store, &mut f.client, &req, &mut |p| progress.push(p))
        .await
        .unwrap();
    assert_eq!(summary.stored, 2_500);
    assert_eq!(summary.inserted, 2_500);
    assert_eq!(summary.requests, 3);
    assert!(summary.gaps.is_empty());
    assert_eq!(f.mock.kline_requests(), 3);
    let log = f.mock.request_log();
    let limits: Vec<i64> = log
        .iter()
        .map(|q| query_param(q, "limit").unwrap())
        .collect();
    assert_eq!(limits, vec![1000, 1000, 500]);
    let starts: Vec<i64> = log
        .iter()
        .map(|q| query_param(q, "startTime").unwrap())
        .collect();
    assert_eq!(starts, vec![T0, T0 + 1000 * H, T0 + 2000 * H]);
    for q in &log {
        assert!(
            query_param(q, "endTime").unwrap() < T0 + 2_500 * H,
            "asked past the end: {q}"
        );
    }
    // Prices come from the decimal strings, exactly.
    let stored = f
        .store
        .candles(&req.symbol, Timeframe::H1, T0, T0 + 2_500 * H)
        .unwrap();
    let expected = synthetic_candle("BTCUSDT", H, T0 + 1_234 * H);
    assert_eq!(stored[1_234].open_time, expected.open_time);
    assert_eq!(stored[1_234].close, expected.close);
    assert_eq!(stored[1_234].volume, expected.volume);
    // Progress ends at everything done.
    let last = progress.last().unwrap();
    assert_eq!(
        (last.candles_wanted, last.candles_done, last.requests),
        (2_500, 2_500, 3)
    );
}

#[tokio::test]
async fn a_repeated_fetch_sends_no_request() {
    let mut f = fixture();
    let req = request("BTCUSDT", T0, 1_500);
    fetch_candles(&mut f.store, &mut f.client, &req, &mut |_| {})
        .await
        .unwrap();
    let before = f.mock.kline_requests();
    let again = fetch_candles(&mut f.store, &mut f.client, &req, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(f.mock.kline_requests(), before);
    assert_eq!(
        (again.requests, again.inserted, again.stored),
        (0, 0, 1_500)
    );
    // A wider range asks only for the new part.
    let wider = request("BTCUSDT", T0 - 10 * H, 1_520);
    let s = fetch_candles(&mut f.store, &mut f.client, &wider, &mut |_| {})
        .await
        .unwrap();
    assert_eq!((s.requests, s.inserted, s.stored), (2, 20, 1_520));
}

#[tokio::test]
async fn empty_ranges_and_outages_are_settled_and_reported() {
    let mut f = fixture();
    // Before the listing: the exchange returns nothing, and we remember that.
    let early = request("BTCUSDT", 1_400_000_000_000 / H * H, 48);
    let s = fetch_candles(&mut f.store, &mut f.client, &early, &mut |_| {})
        .await
        .unwrap();
    assert_eq!((s.stored, s.requests), (0, 1));
    let s = fetch_candles(&mut f.store, &mut f.client, &early, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(s.requests, 0);
    // Entirely in the future: nothing closed yet, nothing asked.
    let future = request("BTCUSDT", 4_000_000_000_000, 24);
    let s = fetch_candles(&mut f.store, &mut f.client, &future, &mut |_| {})
        .await
        .unwrap();
    assert_eq!((s.stored, s.requests), (0, 0));
    // An exchange outage inside the range is a reported gap, not refetched.
    f.mock
        .update_config(|c| c.outages.push((T0 + 10 * H, T0 + 13 * H)));
    let req = request("ETHUSDT", T0, 48);
    let s = fetch_candles(&mut f.store, &mut f.client, &req, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(s.stored, 45);
    assert_eq!(s.gaps.len(), 1);
    assert_eq!(
        (s.gaps[0].first_missing_ms, s.gaps[0].missing),
        (T0 + 10 * H, 3)
    );
    let s = fetch_candles(&mut f.store, &mut f.client, &req, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(s.requests, 0);
}

#[tokio::test]
async fn the_still_open_candle_is_dropped() {
    let mut f = fixture();
    let now = atb_engine::testing::market::binance::now_ms();
    let req = FetchRequest {
        symbol: "BTCUSDT".parse().unwrap(),
        timeframe: Timeframe::H1,
        start_ms: Timeframe::H1.floor(now) - 5 * H,
        end_ms: now + 5 * H,
        refresh: false,
    };
    let s = fetch_candles(&mut f.store, &mut f.client, &req, &mut |_| {})
        .await
        .unwrap();
    let open_candle = Timeframe::H1.floor(now);
    assert!(
        s.end_ms < open_candle,
        "the in-progress candle must not be stored"
    );
    assert_eq!(s.stored, 5);
    for q in f.mock.request_log() {
        assert!(query_param(&q, "endTime").unwrap() < open_candle);
    }
}

#[tokio::test]
async fn rate_limits_honour_retry_after() {
    let mut f = fixture();
    f.mock.push_faults([Fault::TooManyRequests {
        retry_after_secs: 1,
    }]);
    let started = Instant::now();
    let s = fetch_candles(
        &mut f.store,
        &mut f.client,
        &request("BTCUSDT", T0, 10),
        &mut |_| {},
    )
    .await
    .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    assert_eq!((s.stored, s.requests), (10, 2));
}

#[tokio::test]
async fn a_long_ban_fails_at_once_with_its_duration() {
    let mut f = fixture();
    f.mock.push_faults([Fault::Banned {
        retry_after_secs: 7_200,
    }]);
    let err = fetch_candles(
        &mut f.store,
        &mut f.client,
        &request("BTCUSDT", T0, 10),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Banned {
                retry_after_secs: 7_200
            }
        ),
        "{err}"
    );
    assert_eq!(f.mock.kline_requests(), 1);
}

#[tokio::test]
async fn a_long_429_says_how_long_to_wait_and_is_not_called_a_ban() {
    let mut f = fixture();
    f.mock.push_faults([Fault::TooManyRequests {
        retry_after_secs: 600,
    }]);
    let err = fetch_candles(
        &mut f.store,
        &mut f.client,
        &request("BTCUSDT", T0, 10),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::AskedToWait {
                status: 429,
                retry_after_secs: 600
            }
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("600 s") && message.contains("429") && !message.contains("banned"),
        "{message}"
    );
    assert_eq!(f.mock.kline_requests(), 1);
}

#[tokio::test]
async fn a_503_with_retry_after_waits_that_long() {
    let mut f = fixture();
    f.mock.push_faults([Fault::Unavailable {
        retry_after_secs: 2,
    }]);
    let started = Instant::now();
    let s = fetch_candles(
        &mut f.store,
        &mut f.client,
        &request("BTCUSDT", T0, 10),
        &mut |_| {},
    )
    .await
    .unwrap();
    // The default backoff after a 5xx is well under a second.
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After on 503 was not honoured"
    );
    assert_eq!((s.stored, s.requests), (10, 2));
}

#[tokio::test]
async fn an_error_body_is_read_only_up_to_its_cap() {
    let mut f = fixture();
    f.mock
        .push_faults([Fault::HugeErrorBody { bytes: 64 << 20 }]);
    let err = fetch_candles(
        &mut f.store,
        &mut f.client,
        &request("BTCUSDT", T0, 10),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    let Error::Rejected {
        status: 404,
        message,
        ..
    } = &err
    else {
        panic!("expected the 404 as a rejection, got {err}");
    };
    assert!(message.chars().count() <= 200, "{}", message.len());
    assert_eq!(f.mock.kline_requests(), 1);
}

#[tokio::test]
async fn an_enormous_body_is_refused_without_retrying() {
    let mut f = fixture();
    // Valid JSON (spaces, then an empty array), just far too large for a klines page.
    f.mock
        .push_faults([Fault::OversizedBody { bytes: 20 << 20 }]);
    let err = fetch_candles(
        &mut f.store,
        &mut f.client,
        &request("BTCUSDT", T0, 10),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidData(m) if m.contains("klines page")),
        "{err}"
    );
    assert_eq!(f.mock.kline_requests(), 1);
}

#[tokio::test]
async fn server_errors_and_broken_bodies_are_retried() {
    let mut f = fixture();
    f.mock.push_faults([
        Fault::BadGateway,
        Fault::TruncatedJson,
        Fault::DroppedConnection,
    ]);
    let s = fetch_candles(
        &mut f.store,
        &mut f.client,
        &request("BTCUSDT", T0, 10),
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!((s.stored, s.requests), (10, 4));
}

#[tokio::test]
async fn a_slow_server_times_out_and_is_retried() {
    let mut f = fixture();
    f.mock.push_faults([Fault::Delay(Duration::from_secs(3))]);
    let s = fetch_candles(
        &mut f.store,
        &mut f.client,
        &request("BTCUSDT", T0, 10),
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!((s.stored, s.requests), (10, 2));
}

#[tokio::test]
async fn retries_are_bounded_and_the_error_says_why() {
    let mut f = fixture();
    f.mock.set_outage_from_request(Some(0));
    let err = fetch_candles(
        &mut f.store,
        &mut f.client,
        &request("BTCUSDT", T0, 10),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Network { attempts: 4, .. }), "{msg}");
    assert!(msg.contains("502") && msg.contains(&f.mock.url()), "{msg}");
    assert_eq!(f.mock.kline_requests(), 4);
}

#[tokio::test]
async fn an_unreachable_server_is_a_network_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = CandleStore::open(&dir.path().join("atb.sqlite")).unwrap();
    // Port 9 (discard) on loopback: nothing listens.
    let mut client = KlinesClient::new("http://127.0.0.1:9", fast_policy()).unwrap();
    let err = fetch_candles(
        &mut store,
        &mut client,
        &request("BTCUSDT", T0, 10),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("connection failed"), "{err}");
}

#[tokio::test]
async fn an_invalid_symbol_is_named_and_not_retried() {
    let mut f = fixture();
    let err = fetch_candles(
        &mut f.store,
        &mut f.client,
        &request("NOPECOIN", T0, 10),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownSymbol(s) if s == "NOPECOIN"),
        "{err}"
    );
    assert!(err.to_string().contains("NOPECOIN"));
    assert_eq!(f.mock.kline_requests(), 1);
}

#[tokio::test]
async fn a_fetch_that_failed_midway_resumes_after_its_committed_pages() {
    let mut f = fixture();
    let req = request("BTCUSDT", T0, 3_000);
    // Two pages succeed, then the exchange goes down for good.
    f.mock.set_outage_from_request(Some(2));
    let err = fetch_candles(&mut f.store, &mut f.client, &req, &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Network { .. }), "{err}");
    assert_eq!(
        f.store
            .candles(&req.symbol, Timeframe::H1, T0, T0 + 3_000 * H)
            .unwrap()
            .len(),
        2_000
    );
    // Restart with the exchange healthy: only the last page is asked for.
    f.mock.set_outage_from_request(None);
    let before = f.mock.request_log().len();
    let s = fetch_candles(&mut f.store, &mut f.client, &req, &mut |_| {})
        .await
        .unwrap();
    assert_eq!((s.stored, s.inserted, s.requests), (3_000, 1_000, 1));
    let resumed = &f.mock.request_log()[before];
    assert_eq!(query_param(resumed, "startTime"), Some(T0 + 2_000 * H));
}

#[tokio::test]
async fn the_store_survives_reopening() {
    let mut f = fixture();
    let req = request("BTCUSDT", T0, 100);
    fetch_candles(&mut f.store, &mut f.client, &req, &mut |_| {})
        .await
        .unwrap();
    let path = f._dir.path().join("atb.sqlite");
    let mut reopened = CandleStore::open(&path).unwrap();
    let s = fetch_candles(&mut reopened, &mut f.client, &req, &mut |_| {})
        .await
        .unwrap();
    assert_eq!((s.stored, s.requests), (100, 0));
    let rows = reopened.coverage().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].rows, 100);
}

#[tokio::test]
async fn a_machine_clock_ahead_of_the_exchange_stores_nothing_unpublished_and_leaves_no_gap() {
    let mut f = fixture();
    let local_now = atb_engine::testing::market::binance::now_ms();
    // The exchange's clock is an hour behind this machine's.
    let exchange_now = local_now - H;
    f.mock.update_config(|c| c.now_ms = Some(exchange_now));
    let start = Timeframe::H1.floor(local_now) - 10 * H;
    let req = FetchRequest {
        symbol: "BTCUSDT".parse().unwrap(),
        timeframe: Timeframe::H1,
        start_ms: start,
        end_ms: local_now,
        refresh: false,
    };
    let s = fetch_candles(&mut f.store, &mut f.client, &req, &mut |_| {})
        .await
        .unwrap();
    let exchange_open = Timeframe::H1.floor(exchange_now);
    assert!(
        s.end_ms < exchange_open,
        "the exchange's open candle is not stored"
    );
    assert_eq!(s.stored as i64, (exchange_open - start) / H);
    // The newest intervals stay unsettled, so the next fetch asks for them again...
    let missing = f
        .store
        .missing_ranges(&req.symbol, Timeframe::H1, start, exchange_open)
        .unwrap();
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert!(missing[0].0 >= exchange_open - 3 * H, "{missing:?}");
    // ...and, once the exchange's clock has moved on, gets what was not published before.
    f.mock.update_config(|c| c.now_ms = Some(local_now + 2 * H));
    let s = fetch_candles(&mut f.store, &mut f.client, &req, &mut |_| {})
        .await
        .unwrap();
    assert!(s.requests > 0);
    assert_eq!(s.stored, 10, "{s:?}");
    assert!(s.gaps.is_empty(), "{:?}", s.gaps);
}

#[tokio::test]
async fn refresh_asks_again_for_a_settled_range() {
    let mut f = fixture();
    let req = request("BTCUSDT", T0, 48);
    fetch_candles(&mut f.store, &mut f.client, &req, &mut |_| {})
        .await
        .unwrap();
    let again = fetch_candles(&mut f.store, &mut f.client, &req, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(again.requests, 0);
    let refreshed = FetchRequest {
        refresh: true,
        ..req.clone()
    };
    let s = fetch_candles(&mut f.store, &mut f.client, &refreshed, &mut |_| {})
        .await
        .unwrap();
    assert!(s.requests > 0);
    assert_eq!((s.stored, s.inserted), (48, 0));
    // Coverage outside the refreshed range is kept.
    let missing = f
        .store
        .missing_ranges(&req.symbol, Timeframe::H1, T0, T0 + 48 * H)
        .unwrap();
    assert!(missing.is_empty(), "{missing:?}");
}

/// A forward test scores a version only on candles that closed after its data ended: trained
/// on the mock exchange's candles up to 200 hours ago, its forward windows are exactly the
/// hours since (fetched from the exchange), none of its training data; two versions of that
/// series are paired on them (champion against challenger); a version whose data ends now has
/// too few and says how many it needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_tests_score_only_the_candles_after_the_data_end() {
    use atb_engine::service::decision::forward_test;
    use atb_engine::testing::market::source::{DateRange, load_candles};
    use atb_engine::testing::registry::Registry;
    use atb_engine::testing::training::{CancelToken, TrainSpec, train};
    use atb_engine::{CandleSource, Settings};
    use atb_models::{Architecture, DeviceChoice, Variant};
    use atb_protocol::forward::FORWARD_MIN_WINDOWS;

    let mock = MockBinance::start(MockConfig::default()).unwrap();
    let home = tempfile::tempdir().unwrap();
    let settings = Settings::resolve(home.path().to_path_buf(), Some(mock.url())).unwrap();
    let last_closed = Timeframe::H1.floor(atb_engine::testing::market::binance::now_ms()) - H;
    let symbol = "BTCUSDT".parse::<Symbol>().unwrap();
    // 1,500 hourly candles from the mock exchange, the last opening an hour before `end_ms`.
    let load = async |end_ms: i64| {
        load_candles(
            &settings,
            &CandleSource::Binance,
            &symbol,
            Timeframe::H1,
            DateRange::Between {
                start_ms: end_ms - 1_500 * H,
                end_ms,
            },
            &mut |_| {},
        )
        .await
    };
    let spec = |seed: u64| TrainSpec {
        architecture: Architecture::Tcn,
        variant: Variant::Lightweight,
        epochs: 1,
        sequence_length: 24,
        batch_size: 64,
        device: DeviceChoice::Cpu,
        seed,
        ..TrainSpec::default()
    };
    let mut registry = Registry::open(&settings).unwrap();
    // Data ending 200 hours ago: its last candle opened at `end - 1h`.
    let end = last_closed + H - 200 * H;
    let older = load(end).await.unwrap();
    let data_end = older.candles.last().unwrap().open_time;
    assert_eq!(data_end, end - H);
    let mut ids = Vec::new();
    for seed in [1, 2] {
        let outcome = train(
            &older,
            &spec(seed).check().unwrap(),
            &mut |_| {},
            &CancelToken::new(),
        )
        .unwrap();
        ids.push(registry.register(&outcome, None, false).unwrap().version_id);
    }

    let report = forward_test(&settings, &ids).await.unwrap();
    for r in &report.results {
        assert_eq!(r.data_end_ms, data_end);
        // Exactly the hours after the data end, up to the last closed candle.
        assert_eq!(r.first_target_ms, Some(data_end + H), "{r:?}");
        let last = r.last_target_ms.unwrap();
        assert!(last >= last_closed && last <= last_closed + H, "{r:?}");
        assert_eq!(r.windows as i64, (last - data_end) / H, "{r:?}");
        let e = r.evaluation.as_ref().expect("enough windows");
        assert_eq!(e.vs_persistence.absolute.unwrap().n, r.windows);
        assert!(e.vs_persistence.clark_west.is_some());
        assert!(e.backtest.is_some());
        // Persistence is the MASE scale on these windows.
        assert!((e.persistence.mase - 1.0).abs() < 1e-9);
    }
    // Stored beside the version.
    let stored = registry.forward(&ids[0]).unwrap().unwrap();
    assert_eq!(stored.windows, report.results[0].windows);
    // Champion against challenger on the same forward windows.
    let pair = report.pair.expect("two versions of one series");
    assert_eq!(pair.windows, report.results[0].windows);
    assert!(pair.verdict.text.contains(&ids[1]), "{pair:?}");

    // A version whose data ends at the last closed candle: nothing (or almost nothing) to score.
    let recent = load(last_closed + H).await.unwrap();
    let outcome = train(
        &recent,
        &spec(3).check().unwrap(),
        &mut |_| {},
        &CancelToken::new(),
    )
    .unwrap();
    let id = registry.register(&outcome, None, false).unwrap().version_id;
    let report = forward_test(&settings, &[id]).await.unwrap();
    let r = &report.results[0];
    assert!(
        r.windows < FORWARD_MIN_WINDOWS && r.evaluation.is_none(),
        "{r:?}"
    );
    assert!(
        r.sentence()
            .contains(&format!("{FORWARD_MIN_WINDOWS} needed")),
        "{}",
        r.sentence()
    );
}
