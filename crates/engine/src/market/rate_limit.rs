//! Keeps the klines client under Binance's request-weight budget (6,000 per minute, klines weigh 2).
//!
//! Binance counts weight per calendar minute and reports the running total in
//! `X-MBX-USED-WEIGHT-1M`; we trust that header when present and count our own requests otherwise.

use std::time::Duration;

/// Published request-weight limit per minute for the spot REST API.
pub const WEIGHT_LIMIT_PER_MINUTE: u32 = 6_000;
/// Weight of one `GET /api/v3/klines` with `limit` 1000 (the weight for limits 100 to 499 is 2 too).
pub const KLINES_WEIGHT: u32 = 2;

const MINUTE_MS: i64 = 60_000;

/// Used weight in the current minute and the decision whether to wait before the next request.
#[derive(Debug, Clone)]
pub struct WeightBudget {
    limit: u32,
    /// Weight kept free for other clients on the same IP (the desktop app and the CLI at once).
    reserve: u32,
    used: u32,
    minute: i64,
}

impl WeightBudget {
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            reserve: limit / 10,
            used: 0,
            minute: i64::MIN,
        }
    }

    fn roll(&mut self, now_ms: i64) {
        let minute = now_ms.div_euclid(MINUTE_MS);
        if minute != self.minute {
            self.minute = minute;
            self.used = 0;
        }
    }

    /// Counts a request we are about to send.
    pub fn spend(&mut self, weight: u32, now_ms: i64) {
        self.roll(now_ms);
        self.used = self.used.saturating_add(weight);
    }

    /// Takes the server's `X-MBX-USED-WEIGHT-1M`, which includes other clients on this IP.
    pub fn observe(&mut self, used_by_server: u32, now_ms: i64) {
        self.roll(now_ms);
        self.used = used_by_server;
    }

    /// How long to wait before a request of `weight` so the minute's total stays under budget.
    pub fn wait_before(&mut self, weight: u32, now_ms: i64) -> Duration {
        self.roll(now_ms);
        if self.used.saturating_add(weight) <= self.limit.saturating_sub(self.reserve) {
            return Duration::ZERO;
        }
        let next_minute = (now_ms.div_euclid(MINUTE_MS) + 1) * MINUTE_MS;
        // A little slack so our clock and Binance's agree the minute has turned.
        Duration::from_millis((next_minute - now_ms) as u64 + 250)
    }

    #[cfg(test)]
    pub fn used(&self) -> u32 {
        self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_next_minute_only_near_the_limit() {
        let mut b = WeightBudget::new(WEIGHT_LIMIT_PER_MINUTE);
        let t = 1_699_999_990_000; // 10 s into a minute
        assert_eq!(b.wait_before(KLINES_WEIGHT, t), Duration::ZERO);
        b.observe(5_000, t);
        assert_eq!(b.wait_before(KLINES_WEIGHT, t), Duration::ZERO);
        b.observe(5_399, t);
        // 5,399 + 2 > 6,000 - 600: wait the remaining 50 s plus slack.
        assert_eq!(
            b.wait_before(KLINES_WEIGHT, t),
            Duration::from_millis(50_250)
        );
        // A new minute starts from zero.
        assert_eq!(b.wait_before(KLINES_WEIGHT, t + 60_000), Duration::ZERO);
    }

    #[test]
    fn counts_own_requests_without_headers() {
        let mut b = WeightBudget::new(10);
        let t = 0;
        for _ in 0..4 {
            assert_eq!(b.wait_before(2, t), Duration::ZERO);
            b.spend(2, t);
        }
        assert!(b.wait_before(2, t) > Duration::ZERO);
        assert_eq!(b.used(), 8);
    }
}
