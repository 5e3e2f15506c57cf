//! A local stand-in for Binance's `GET /api/v3/klines`, for offline tests, benchmarks and demos.
//!
//! It speaks the real wire format (12-field arrays, prices as decimal strings, the still-open last
//! candle included, `X-MBX-USED-WEIGHT-1M` headers, `{"code":-1121,"msg":"Invalid symbol."}`) over
//! plain HTTP/1.1 on loopback, and can be told to misbehave: rate limits with `Retry-After`, 5xx,
//! truncated or malformed bodies, dropped connections, or an outage from the Nth request on.
//! Candles are synthetic but deterministic, so a test can compute exactly what should be stored.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One scripted misbehaviour, consumed by the next kline request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// HTTP 429 with `Retry-After: secs`.
    TooManyRequests { retry_after_secs: u64 },
    /// HTTP 418 (IP ban) with `Retry-After: secs`.
    Banned { retry_after_secs: u64 },
    /// HTTP 502 with an HTML body, as a load balancer sends it.
    BadGateway,
    /// HTTP 200 whose JSON body is cut off half-way (Content-Length matches the cut text).
    TruncatedJson,
    /// HTTP 200 that announces a longer body than it sends, then closes the connection.
    DroppedConnection,
    /// Wait this long before answering normally (to exercise client timeouts).
    Delay(Duration),
    /// HTTP 200 with a valid but enormous body: `bytes` spaces, then `[]`.
    OversizedBody { bytes: usize },
    /// HTTP 503 (maintenance) with `Retry-After: secs`.
    Unavailable { retry_after_secs: u64 },
    /// HTTP 404 whose error body is `bytes` long (a misconfigured proxy's page).
    HugeErrorBody { bytes: usize },
}

/// What the mock serves; change it before or while the server runs.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Symbols that exist; any other gets `-1121 Invalid symbol`.
    pub symbols: HashSet<String>,
    /// First open time (ms) with data, like a listing date.
    pub listing_ms: i64,
    /// Half-open ranges `[start, end)` of open times with no candles (exchange outages).
    pub outages: Vec<(i64, i64)>,
    /// Value reported in `X-MBX-USED-WEIGHT-1M` before the request's own weight is added.
    pub base_used_weight: u32,
    /// The "current time" in ms; `None` means the real clock.
    pub now_ms: Option<i64>,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            symbols: ["BTCUSDT", "ETHUSDT"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            // 2017-08-17 00:00 UTC, when BTCUSDT was listed.
            listing_ms: 1_502_928_000_000,
            outages: Vec::new(),
            base_used_weight: 0,
            now_ms: None,
        }
    }
}

#[derive(Default)]
struct State {
    config: Mutex<MockConfig>,
    faults: Mutex<VecDeque<Fault>>,
    /// Every request from this index on answers 502 (an outage in the middle of a fetch).
    outage_from_request: Mutex<Option<usize>>,
    kline_requests: AtomicUsize,
    log: Mutex<Vec<String>>,
    stop: AtomicBool,
}

/// A running mock server; stops when dropped.
pub struct MockBinance {
    addr: SocketAddr,
    state: Arc<State>,
}

impl MockBinance {
    /// Starts a server on an ephemeral loopback port.
    pub fn start(config: MockConfig) -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0", config)
    }

    /// Starts a server on the given address (e.g. `127.0.0.1:9999`).
    pub fn start_on(addr: &str, config: MockConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            config: Mutex::new(config),
            ..State::default()
        });
        let accept_state = Arc::clone(&state);
        thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_state.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let conn_state = Arc::clone(&accept_state);
                thread::spawn(move || {
                    let _ = serve_connection(stream, &conn_state);
                });
            }
        });
        Ok(Self { addr, state })
    }

    /// Base URL to put in `ATB_BINANCE_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Number of `/api/v3/klines` requests received so far (faulty ones included).
    pub fn kline_requests(&self) -> usize {
        self.state.kline_requests.load(Ordering::SeqCst)
    }

    /// Path and query of every request received so far.
    pub fn request_log(&self) -> Vec<String> {
        lock(&self.state.log).clone()
    }

    /// Queues faults; each kline request consumes one, in order.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        lock(&self.state.faults).extend(faults);
    }

    /// From the `n`th kline request on (0-based, counting all so far), answer 502; `None` heals.
    pub fn set_outage_from_request(&self, n: Option<usize>) {
        *lock(&self.state.outage_from_request) = n;
    }

    /// Changes the served configuration.
    pub fn update_config(&self, f: impl FnOnce(&mut MockConfig)) {
        f(&mut lock(&self.state.config));
    }
}

impl Drop for MockBinance {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so its thread ends.
        let _ = TcpStream::connect(self.addr);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Interval names Binance accepts, with their length in milliseconds.
pub fn interval_ms(name: &str) -> Option<i64> {
    const MIN: i64 = 60_000;
    Some(match name {
        "1m" => MIN,
        "3m" => 3 * MIN,
        "5m" => 5 * MIN,
        "15m" => 15 * MIN,
        "30m" => 30 * MIN,
        "1h" => 60 * MIN,
        "2h" => 120 * MIN,
        "4h" => 240 * MIN,
        "6h" => 360 * MIN,
        "8h" => 480 * MIN,
        "12h" => 720 * MIN,
        "1d" => 1440 * MIN,
        _ => return None,
    })
}

/// One synthetic candle, deterministic in (symbol, interval, open time).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyntheticCandle {
    pub open_time: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
    pub trades: u64,
    pub taker_buy_volume: f64,
}

fn symbol_seed(symbol: &str) -> u64 {
    symbol.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn unit_noise(seed: u64, t: i64) -> f64 {
    let mut x = seed ^ (t as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn synthetic_price(seed: u64, t_ms: i64) -> f64 {
    let t = t_ms as f64 / 3_600_000.0;
    let base = 20_000.0 + (seed % 40_000) as f64;
    base * (0.2 * (t / 700.0).sin() + 0.05 * (t / 53.0).sin() + 0.01 * (t / 7.0).sin()).exp()
}

/// Rounds to 2 decimals, as the mock formats prices with them.
fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The candle the mock serves for this symbol, interval length and open time.
pub fn synthetic_candle(symbol: &str, interval_ms: i64, open_time: i64) -> SyntheticCandle {
    let seed = symbol_seed(symbol);
    let open = cents(synthetic_price(seed, open_time));
    let close = cents(synthetic_price(seed, open_time + interval_ms));
    let wiggle = 1.0 + 0.002 * unit_noise(seed, open_time);
    let high = cents(open.max(close) * wiggle);
    let low = cents(open.min(close) / wiggle);
    let volume =
        (100.0 + 900.0 * unit_noise(seed.rotate_left(17), open_time) * 1000.0).round() / 1000.0;
    // Order flow that varies from candle to candle: 50-549 trades, 30-70% bought by takers.
    let trades = 50 + (500.0 * unit_noise(seed.rotate_left(29), open_time)) as u64;
    let taker_share = 0.3 + 0.4 * unit_noise(seed.rotate_left(41), open_time);
    let taker_buy_volume = (volume * taker_share * 1e8).round() / 1e8;
    SyntheticCandle {
        open_time,
        open,
        high,
        low,
        close,
        volume,
        trades,
        taker_buy_volume,
    }
}

/// Open times the mock has for `[start, end]` (inclusive, as Binance's endTime), at most `limit`.
pub fn served_open_times(
    config: &MockConfig,
    interval: i64,
    start: i64,
    end: i64,
    limit: usize,
    now: i64,
) -> Vec<i64> {
    let first = config.listing_ms.max(start);
    let first = first.div_euclid(interval) * interval
        + if first.rem_euclid(interval) == 0 {
            0
        } else {
            interval
        };
    // The in-progress candle (open_time <= now) is served, like the live API.
    let last = end.min(now);
    let mut out = Vec::new();
    let mut t = first;
    while t <= last && out.len() < limit {
        if !config.outages.iter().any(|&(a, b)| t >= a && t < b) {
            out.push(t);
        }
        t += interval;
    }
    out
}

fn now_ms(config: &MockConfig) -> i64 {
    config.now_ms.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    })
}

/// The faults answered before any kline is looked up; `None` when the request goes on (no
/// fault, a delay, or a fault of the kline body).
fn answer_fault_before_klines(
    stream: &mut TcpStream,
    fault: Option<&Fault>,
) -> Option<std::io::Result<()>> {
    let (status, retry_after, body): (u16, Option<u64>, Vec<u8>) = match fault? {
        Fault::TooManyRequests { retry_after_secs } => (
            429,
            Some(*retry_after_secs),
            br#"{"code":-1003,"msg":"Too many requests."}"#.to_vec(),
        ),
        Fault::Banned { retry_after_secs } => (
            418,
            Some(*retry_after_secs),
            br#"{"code":-1003,"msg":"IP banned."}"#.to_vec(),
        ),
        Fault::Unavailable { retry_after_secs } => (
            503,
            Some(*retry_after_secs),
            b"<html><body>503 Service Unavailable</body></html>".to_vec(),
        ),
        Fault::HugeErrorBody { bytes } => {
            let mut body = br#"{"code":-1000,"msg":""#.to_vec();
            body.extend(std::iter::repeat_n(b'x', *bytes));
            body.extend_from_slice(br#""}"#);
            (404, None, body)
        }
        Fault::BadGateway => (
            502,
            None,
            b"<html><body>502 Bad Gateway</body></html>".to_vec(),
        ),
        Fault::Delay(d) => {
            thread::sleep(*d);
            return None;
        }
        _ => return None,
    };
    let retry_after = retry_after.map(|s| s.to_string());
    let headers: Vec<(&str, &str)> = retry_after
        .iter()
        .map(|ra| ("Retry-After", ra.as_str()))
        .collect();
    Some(respond(stream, status, &headers, &body))
}

/// The symbol, interval and open times a klines request asks for, or the body of Binance's
/// 400 answer to it.
fn klines_asked<'q>(
    params: &HashMap<&'q str, &'q str>,
    config: &MockConfig,
) -> Result<(&'q str, i64, Vec<i64>), &'static [u8]> {
    let symbol = params.get("symbol").copied().unwrap_or("");
    if !config.symbols.contains(symbol) {
        return Err(br#"{"code":-1121,"msg":"Invalid symbol."}"#);
    }
    let Some(interval) = params.get("interval").and_then(|i| interval_ms(i)) else {
        return Err(br#"{"code":-1120,"msg":"Invalid interval."}"#);
    };
    let limit = params
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(500);
    if limit == 0 || limit > 1000 {
        return Err(br#"{"code":-1130,"msg":"Invalid data sent for a parameter."}"#);
    }
    let now = now_ms(config);
    let start = params.get("startTime").and_then(|v| v.parse::<i64>().ok());
    let end = params
        .get("endTime")
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(i64::MAX);
    let times = match start {
        Some(start) => served_open_times(config, interval, start, end, limit, now),
        None => {
            // Latest `limit` candles up to endTime.
            let last = end.min(now).div_euclid(interval) * interval;
            let from = last - (limit as i64 - 1) * interval;
            served_open_times(config, interval, from, last, limit, now)
        }
    };
    Ok((symbol, interval, times))
}

fn serve_connection(stream: TcpStream, state: &State) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Drain headers; requests carry no body.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let target = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    lock(&state.log).push(target.clone());
    let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    let params: HashMap<&str, &str> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let mut stream = stream;
    if path != "/api/v3/klines" {
        return respond(&mut stream, 404, &[], br#"{"code":-1,"msg":"Not found."}"#);
    }
    let index = state.kline_requests.fetch_add(1, Ordering::SeqCst);
    let config = lock(&state.config).clone();
    let weight = (config.base_used_weight + 2 * (index as u32 + 1)).to_string();
    // Binance's `Date` is its own clock: clients settle candles by it, not by theirs.
    let date = http_date(now_ms(&config));
    let weight_header = [
        ("X-MBX-USED-WEIGHT-1M", weight.as_str()),
        ("Date", date.as_str()),
    ];

    if lock(&state.outage_from_request).is_some_and(|n| index >= n) {
        return respond(
            &mut stream,
            502,
            &[],
            b"<html><body>502 Bad Gateway</body></html>",
        );
    }
    let fault = lock(&state.faults).pop_front();
    if let Some(answered) = answer_fault_before_klines(&mut stream, fault.as_ref()) {
        return answered;
    }
    let (symbol, interval, times) = match klines_asked(&params, &config) {
        Ok(asked) => asked,
        Err(refusal) => return respond(&mut stream, 400, &weight_header, refusal),
    };
    let body = klines_json(symbol, interval, &times);
    match fault {
        Some(Fault::TruncatedJson) => {
            let cut = &body.as_bytes()[..body.len() / 2];
            respond(&mut stream, 200, &weight_header, cut)
        }
        Some(Fault::OversizedBody { bytes }) => {
            let mut huge = vec![b' '; bytes];
            huge.extend_from_slice(b"[]");
            respond(&mut stream, 200, &weight_header, &huge)
        }
        Some(Fault::DroppedConnection) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes())?;
            stream.write_all(&body.as_bytes()[..body.len() / 3])?;
            stream.flush()?;
            stream.shutdown(std::net::Shutdown::Both)
        }
        _ => respond(&mut stream, 200, &weight_header, body.as_bytes()),
    }
}

/// An HTTP date (`Wed, 02 Dec 2026 12:03:50 GMT`) of `ms`, in whole seconds as servers send it.
pub fn http_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms.div_euclid(1000) * 1000)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// The JSON body Binance sends for these open times.
pub fn klines_json(symbol: &str, interval: i64, open_times: &[i64]) -> String {
    let rows: Vec<serde_json::Value> = open_times
        .iter()
        .map(|&t| {
            let c = synthetic_candle(symbol, interval, t);
            serde_json::json!([
                t,
                format!("{:.8}", c.open),
                format!("{:.8}", c.high),
                format!("{:.8}", c.low),
                format!("{:.8}", c.close),
                format!("{:.8}", c.volume),
                t + interval - 1,
                format!("{:.8}", c.volume * c.close),
                c.trades,
                format!("{:.8}", c.taker_buy_volume),
                format!("{:.8}", c.taker_buy_volume * c.close),
                "0"
            ])
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

fn respond(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        418 => "I'm a teapot",
        429 => "Too Many Requests",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json;charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    // Let the client read everything before the socket closes.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut sink = [0u8; 256];
    let _ = stream.read(&mut sink);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_candles_are_consistent() {
        for i in 0..500 {
            let c = synthetic_candle("BTCUSDT", 3_600_000, 1_700_000_000_000 + i * 3_600_000);
            assert!(c.high >= c.open.max(c.close), "{c:?}");
            assert!(c.low <= c.open.min(c.close), "{c:?}");
            assert!(c.volume >= 0.0);
            assert!((0.0..=c.volume).contains(&c.taker_buy_volume), "{c:?}");
        }
    }

    #[test]
    fn serves_inclusive_end_and_limit_and_outages() {
        let mut config = MockConfig::default();
        let h = 3_600_000;
        let t0 = 1_700_000_000_000 / h * h;
        config.outages.push((t0 + 2 * h, t0 + 3 * h));
        let times = served_open_times(&config, h, t0, t0 + 5 * h, 1000, i64::MAX);
        assert_eq!(times, vec![t0, t0 + h, t0 + 3 * h, t0 + 4 * h, t0 + 5 * h]);
        assert_eq!(
            served_open_times(&config, h, t0, t0 + 5 * h, 2, i64::MAX).len(),
            2
        );
    }
}
