//! Binance spot klines over REST (`GET /api/v3/klines`): one request, retried and paced.
//!
//! Retries with bounded exponential backoff: 5xx, timeouts, connection errors and truncated or
//! malformed JSON. Honours `Retry-After` on 429 and 418. Never retries a request Binance rejected
//! on its merits (`-1121 Invalid symbol` and other 4xx). Paging over a range lives in `fetch`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::rate_limit::{KLINES_WEIGHT, WEIGHT_LIMIT_PER_MINUTE, WeightBudget};
use super::{Candle, Symbol, Timeframe};
use crate::candles::OrderFlow;
use crate::error::{Error, Result};

/// Most candles Binance returns per request.
pub const MAX_LIMIT: u32 = 1000;

/// How hard the client tries before giving up.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles each time up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Longest `Retry-After` we are willing to sleep through; longer ones fail with a clear error.
    pub max_retry_after: Duration,
    /// Whole-request timeout (connect, send, read).
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(16),
            max_retry_after: Duration::from_secs(300),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, failed_attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(failed_attempts.saturating_sub(1));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Wall-clock milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A klines client bound to one base URL; counts its requests.
pub struct KlinesClient {
    http: reqwest::Client,
    base_url: String,
    policy: RetryPolicy,
    budget: WeightBudget,
    requests: u64,
    /// The exchange's clock from the last response's `Date` header, and when it arrived.
    exchange_clock: Option<(i64, std::time::Instant)>,
}

/// Why one attempt failed, and whether another may succeed.
enum Attempt {
    Retry {
        cause: String,
        wait: Option<Duration>,
    },
    Fatal(Error),
}

impl KlinesClient {
    pub fn new(base_url: &str, policy: RetryPolicy) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(policy.request_timeout)
            .connect_timeout(policy.request_timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("atb/", env!("CARGO_PKG_VERSION")))
            // A redirect is answered as the error it is, never followed (it could lead from
            // https to http, or to another host).
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Network {
                url: base_url.to_string(),
                attempts: 0,
                cause: e.to_string(),
            })?;
        Ok(Self {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            policy,
            budget: WeightBudget::new(WEIGHT_LIMIT_PER_MINUTE),
            requests: 0,
            exchange_clock: None,
        })
    }

    /// "Now" by the exchange's clock (its last `Date` header plus the time since), or by this
    /// machine's until the exchange has answered. Which candles are closed, and which are too
    /// recent to settle, is decided by this clock, never by the local one alone.
    pub fn exchange_now_ms(&self) -> i64 {
        match self.exchange_clock {
            Some((at, received)) => at + received.elapsed().as_millis() as i64,
            None => now_ms(),
        }
    }

    /// Requests sent so far, retries included.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Closed candles with open time in `[start_ms, end_ms]` (inclusive, as Binance's `endTime`),
    /// at most `limit`. Also returns how many rows Binance sent before the still-open candle was
    /// dropped, so a caller can tell a full page from the end of the data.
    pub async fn klines(
        &mut self,
        symbol: &Symbol,
        timeframe: Timeframe,
        start_ms: i64,
        end_ms: i64,
        limit: u32,
    ) -> Result<(Vec<Candle>, usize)> {
        let limit = limit.clamp(1, MAX_LIMIT);
        let url = format!(
            "{}/api/v3/klines?symbol={}&interval={}&startTime={start_ms}&endTime={end_ms}&limit={limit}",
            self.base_url,
            symbol.as_str(),
            timeframe.as_str()
        );
        let mut last_cause = String::new();
        for attempt in 1..=self.policy.max_attempts {
            let pace = self.budget.wait_before(KLINES_WEIGHT, now_ms());
            if !pace.is_zero() {
                tokio::time::sleep(pace).await;
            }
            self.budget.spend(KLINES_WEIGHT, now_ms());
            self.requests += 1;
            match self.attempt(&url, symbol).await {
                Ok((body, used_weight, date)) => {
                    if let Some(used) = used_weight {
                        self.budget.observe(used, now_ms());
                    }
                    if let Some(date) = date {
                        self.exchange_clock = Some((date, std::time::Instant::now()));
                    }
                    // A `Date` has whole seconds: up to 1 s early, so a candle closing in that
                    // second is dropped now and fetched next time, never stored while open.
                    match parse_klines(&body, timeframe, self.exchange_now_ms()) {
                        Ok(parsed) => return Ok(parsed),
                        Err(KlineError::Malformed(e)) => {
                            last_cause = format!("malformed or truncated klines JSON ({e})")
                        }
                        Err(KlineError::Defective(e)) => {
                            return Err(Error::InvalidData(format!(
                                "Binance sent a defective {} {timeframe} {e}; nothing from that page was stored",
                                symbol.as_str()
                            )));
                        }
                    }
                    if attempt < self.policy.max_attempts {
                        self.sleep_backoff(attempt, None).await;
                    }
                }
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Retry { cause, wait }) => {
                    last_cause = cause;
                    if attempt < self.policy.max_attempts {
                        self.sleep_backoff(attempt, wait).await;
                    }
                }
            }
        }
        Err(Error::Network {
            url: self.base_url.clone(),
            attempts: self.policy.max_attempts,
            cause: last_cause,
        })
    }

    async fn sleep_backoff(&self, attempt: u32, retry_after: Option<Duration>) {
        let wait = retry_after.unwrap_or_else(|| self.policy.backoff(attempt));
        tokio::time::sleep(wait).await;
    }

    async fn attempt(
        &self,
        url: &str,
        symbol: &Symbol,
    ) -> std::result::Result<(Vec<u8>, Option<u32>, Option<i64>), Attempt> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| Attempt::Retry {
                cause: describe_reqwest(&e),
                wait: None,
            })?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let used_weight = header("x-mbx-used-weight-1m").and_then(|v| v.trim().parse::<u32>().ok());
        let retry_after =
            header("retry-after").and_then(|v| retry_after_secs(&v, chrono::Utc::now()));
        let date = header("date")
            .and_then(|v| chrono::DateTime::parse_from_rfc2822(v.trim()).ok())
            .map(|d| d.timestamp_millis());
        match status {
            200 => {
                // A klines page is a few hundred kB; a body far beyond that is refused before it
                // is read, whatever the server claims or sends.
                let too_big = |bytes: u64| {
                    Attempt::Fatal(Error::InvalidData(format!(
                        "the exchange answered with more than {bytes} bytes, far more than a klines page ({} MiB at most is read); check ATB_BINANCE_URL",
                        MAX_BODY_BYTES >> 20
                    )))
                };
                if let Some(announced) = response.content_length()
                    && announced > MAX_BODY_BYTES
                {
                    return Err(too_big(announced));
                }
                let body =
                    read_capped(response, MAX_BODY_BYTES)
                        .await
                        .map_err(|e| Attempt::Retry {
                            cause: format!("response body cut off ({})", describe_reqwest(&e)),
                            wait: None,
                        })?;
                if body.len() as u64 > MAX_BODY_BYTES {
                    return Err(too_big(MAX_BODY_BYTES));
                }
                Ok((body, used_weight, date))
            }
            418 => {
                let secs = retry_after.unwrap_or(60);
                if Duration::from_secs(secs) > self.policy.max_retry_after {
                    return Err(Attempt::Fatal(Error::Banned {
                        retry_after_secs: secs,
                    }));
                }
                Err(Attempt::Retry {
                    cause: format!("HTTP 418 (IP banned), Retry-After {secs} s"),
                    wait: Some(Duration::from_secs(secs)),
                })
            }
            // Too many requests, or the exchange down for maintenance: both may say how long to
            // wait, and a wait longer than a fetch holds on is said as such (not as a ban).
            429 | 503 => {
                let secs = match (status, retry_after) {
                    (_, Some(secs)) => secs,
                    (429, None) => 60,
                    _ => {
                        return Err(Attempt::Retry {
                            cause: format!("HTTP {status} from the server"),
                            wait: None,
                        });
                    }
                };
                if Duration::from_secs(secs) > self.policy.max_retry_after {
                    return Err(Attempt::Fatal(Error::AskedToWait {
                        status,
                        retry_after_secs: secs,
                    }));
                }
                let what = if status == 429 {
                    "HTTP 429 Too Many Requests"
                } else {
                    "HTTP 503 Service Unavailable"
                };
                Err(Attempt::Retry {
                    cause: format!("{what}, Retry-After {secs} s"),
                    wait: Some(Duration::from_secs(secs)),
                })
            }
            500..=599 => Err(Attempt::Retry {
                cause: format!("HTTP {status} from the server"),
                wait: None,
            }),
            300..=399 => Err(Attempt::Fatal(Error::Rejected {
                status,
                code: 0,
                message: format!(
                    "a redirect to {}; atb does not follow redirects: set ATB_BINANCE_URL (or binance_url in settings.json) to the final address",
                    header("location").unwrap_or_else(|| "an unnamed location".into())
                ),
            })),
            _ => {
                // An error body is a line of JSON; a proxy's page or a hostile server gets its
                // first 64 KiB read, no more.
                let body = read_capped(response, MAX_ERROR_BODY_BYTES)
                    .await
                    .unwrap_or_default();
                let body = String::from_utf8_lossy(&body);
                Err(Attempt::Fatal(rejection(status, &body, symbol)))
            }
        }
    }
}

/// The largest response body read: a full page of 1,000 klines is about 200 kB.
const MAX_BODY_BYTES: u64 = 16 << 20;
/// The most of an error response's body read.
const MAX_ERROR_BODY_BYTES: u64 = 64 << 10;
/// The most of the exchange's error message kept in an error.
const MAX_MESSAGE_CHARS: usize = 200;

/// Reads a body chunk by chunk, stopping once it holds more than `cap` bytes (the caller sees
/// `cap + 1` and decides): a body is never read past its cap, whatever the server announced.
async fn read_capped(
    mut response: reqwest::Response,
    cap: u64,
) -> std::result::Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > cap {
            body.truncate(cap as usize + 1);
            break;
        }
    }
    Ok(body)
}

/// `Retry-After` in either of its forms: seconds, or an HTTP date (seconds until then, at least 0).
fn retry_after_secs(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<u64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs);
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let millis = (at.with_timezone(&chrono::Utc) - now)
        .num_milliseconds()
        .max(0);
    Some((millis as u64).div_ceil(1000))
}

/// Binance's error body `{"code":-1121,"msg":"Invalid symbol."}` turned into our error.
fn rejection(status: u16, body: &str, symbol: &Symbol) -> Error {
    #[derive(Deserialize)]
    struct ApiError {
        code: i64,
        msg: String,
    }
    match serde_json::from_str::<ApiError>(body) {
        Ok(e) if e.code == -1121 => Error::UnknownSymbol(symbol.to_string()),
        Ok(e) => Error::Rejected {
            status,
            code: e.code,
            message: e.msg.chars().take(MAX_MESSAGE_CHARS).collect(),
        },
        Err(_) => Error::Rejected {
            status,
            code: 0,
            message: body.chars().take(MAX_MESSAGE_CHARS).collect(),
        },
    }
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut msg = kind.to_string();
    // Skip reqwest's own line: it repeats the whole URL, which the caller already names.
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    msg
}

/// One kline row as Binance sends it; prices and volumes are decimal strings. Used: open time,
/// OHLCV, close time, the trade count and the taker-buy base volume.
#[derive(Deserialize)]
struct RawKline<'a>(
    i64,
    #[serde(borrow)] &'a str,
    #[serde(borrow)] &'a str,
    #[serde(borrow)] &'a str,
    #[serde(borrow)] &'a str,
    #[serde(borrow)] &'a str,
    i64,
    IgnoredAny,
    u64,
    #[serde(borrow)] &'a str,
    IgnoredAny,
    IgnoredAny,
);

/// Why a 200 response could not be used.
#[derive(Debug, PartialEq)]
pub enum KlineError {
    /// Not the JSON Binance sends (cut off, an error object): worth asking again.
    Malformed(String),
    /// Well-formed, but a candle is impossible (prices, volume) or off the timeframe's grid: asking
    /// again gets the same answer, so it is a data error naming the candle.
    Defective(String),
}

/// Parses a klines response, dropping candles still open at `now_ms` (close time not yet
/// passed). Returns the closed candles and how many rows the response held. Every candle must sit
/// on `timeframe`'s grid: an open time on a boundary and a close time one interval later (less
/// 1 ms, as Binance reports it).
pub fn parse_klines(
    body: &[u8],
    timeframe: Timeframe,
    now_ms: i64,
) -> std::result::Result<(Vec<Candle>, usize), KlineError> {
    let rows: Vec<RawKline<'_>> =
        serde_json::from_slice(body).map_err(|e| KlineError::Malformed(e.to_string()))?;
    let count = rows.len();
    let step = timeframe.millis();
    let mut candles = Vec::with_capacity(count);
    for RawKline(open_time, open, high, low, close, volume, close_time, _, trades, taker_buy, ..) in
        rows
    {
        let at = |reason: String| {
            KlineError::Defective(format!(
                "candle at {}: {reason}",
                super::format_ms(open_time)
            ))
        };
        if open_time.rem_euclid(step) != 0 || close_time != open_time + step - 1 {
            return Err(at(format!(
                "open time {open_time} and close time {close_time} are not a {timeframe} candle"
            )));
        }
        if close_time >= now_ms {
            continue;
        }
        let num = |s: &str, name: &str| {
            s.parse::<f64>()
                .map_err(|_| at(format!("{name} {s:?} is not a number")))
        };
        let candle = Candle {
            open_time,
            open: num(open, "open")?,
            high: num(high, "high")?,
            low: num(low, "low")?,
            close: num(close, "close")?,
            volume: num(volume, "volume")?,
            flow: Some(OrderFlow {
                trades,
                taker_buy_volume: num(taker_buy, "taker-buy base volume")?,
            }),
        };
        if let Some(defect) = candle.defect() {
            return Err(at(defect));
        }
        candles.push(candle);
    }
    Ok((candles, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(retry_after_secs(" 120 ", now), Some(120));
        assert_eq!(
            retry_after_secs("Wed, 02 Dec 2026 10:01:30 GMT", now),
            Some(90)
        );
        // A date already past means "now".
        assert_eq!(
            retry_after_secs("Wed, 02 Dec 2026 09:00:00 GMT", now),
            Some(0)
        );
        assert_eq!(retry_after_secs("soon", now), None);
    }

    const RECORDED: &str = include_str!("../../testdata/klines-response-BTCUSDT-1m.json");

    #[test]
    fn parses_recorded_response_and_drops_open_candle() {
        // The recording's last candle was still open when it was taken.
        let rows: Vec<serde_json::Value> = serde_json::from_str(RECORDED).unwrap();
        let last_close_time = rows.last().unwrap()[6].as_i64().unwrap();
        let (candles, count) =
            parse_klines(RECORDED.as_bytes(), Timeframe::M1, last_close_time - 1).unwrap();
        assert_eq!(count, rows.len());
        assert_eq!(candles.len(), rows.len() - 1);
        let first = &rows[0];
        assert_eq!(candles[0].open_time, first[0].as_i64().unwrap());
        assert_eq!(
            candles[0].close,
            first[4].as_str().unwrap().parse::<f64>().unwrap()
        );
        // The order flow as recorded: 617 trades, 12.28492 of 21.63272 bought by takers.
        assert_eq!(
            candles[0].flow,
            Some(OrderFlow {
                trades: 617,
                taker_buy_volume: 12.28492
            })
        );
        // Once the minute has passed, all are closed.
        let (all, _) =
            parse_klines(RECORDED.as_bytes(), Timeframe::M1, last_close_time + 1).unwrap();
        assert_eq!(all.len(), rows.len());
    }

    #[test]
    fn malformed_bodies_are_retried_and_defective_candles_are_not() {
        let m1 = Timeframe::M1;
        let malformed = |body: &[u8]| {
            matches!(
                parse_klines(body, m1, i64::MAX),
                Err(KlineError::Malformed(_))
            )
        };
        let defective = |body: &[u8]| {
            matches!(
                parse_klines(body, m1, i64::MAX),
                Err(KlineError::Defective(_))
            )
        };
        assert!(malformed(&RECORDED.as_bytes()[..RECORDED.len() / 2]));
        assert!(malformed(b"{\"code\":0}"));
        // A price that is not a number, an open time off the minute grid, a close time that is
        // not one minute later: the same answer however often it is asked.
        assert!(defective(
            br#"[[60000,"x","1","1","1","1",119999,"0",1,"0","0","0"]]"#
        ));
        assert!(defective(
            br#"[[60001,"1","1","1","1","1",120000,"0",1,"0","0","0"]]"#
        ));
        assert!(defective(
            br#"[[60000,"1","1","1","1","1",179999,"0",1,"0","0","0"]]"#
        ));
        assert!(defective(
            br#"[[60000,"1","0.5","1","1","1",119999,"0",1,"0","0","0"]]"#
        ));
        // More bought by takers than traded, or a trade count that is not a count.
        assert!(defective(
            br#"[[60000,"1","2","0.5","1.5","3",119999,"0",1,"3.5","0","0"]]"#
        ));
        assert!(malformed(
            br#"[[60000,"1","2","0.5","1.5","3",119999,"0",-1,"1","0","0"]]"#
        ));
        assert_eq!(parse_klines(b"[]", m1, i64::MAX).unwrap().0.len(), 0);
        assert_eq!(
            parse_klines(
                br#"[[60000,"1","2","0.5","1.5","3",119999,"0",1,"0","0","0"]]"#,
                m1,
                i64::MAX
            )
            .unwrap()
            .0
            .len(),
            1
        );
    }

    #[test]
    fn backoff_is_bounded() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_millis(500));
        assert_eq!(p.backoff(2), Duration::from_millis(1000));
        assert_eq!(p.backoff(20), Duration::from_secs(16));
    }
}
