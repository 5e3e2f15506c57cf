//! Inference timing of any `WindowPredictor`: single-window latency percentiles and batch-256
//! throughput. Prints nothing and asserts nothing about speed; callers report the figures.

use std::time::Instant;

use atb_protocol::bench::InferenceTimings;

use crate::error::{Error, Result};
use crate::inference::WindowPredictor;

/// How many calls to time.
#[derive(Debug, Clone, Copy)]
pub struct TimingPlan {
    pub warmup: usize,
    pub single_calls: usize,
    pub batch_calls: usize,
}

impl Default for TimingPlan {
    fn default() -> Self {
        Self {
            warmup: 5,
            single_calls: 200,
            batch_calls: 5,
        }
    }
}

/// The `q`-quantile (0..=1) of sorted values, nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Times `predictor` on windows of `[l, f]`; `windows` holds at least 256 of them, row-major.
pub fn time_inference(
    predictor: &dyn WindowPredictor,
    windows: &[f32],
    [l, f]: [usize; 2],
    plan: TimingPlan,
) -> Result<InferenceTimings> {
    let one = l * f;
    if windows.len() < 256 * one || one == 0 {
        return Err(Error::InvalidRequest(format!(
            "timing needs 256 windows of [{l}, {f}], got {} values",
            windows.len()
        )));
    }
    let single = |i: usize| {
        let start = (i % 256) * one;
        predictor.predict_windows(windows[start..start + one].to_vec(), [1, l, f])
    };
    for i in 0..plan.warmup {
        single(i)?;
    }
    let mut latencies = Vec::with_capacity(plan.single_calls);
    for i in 0..plan.single_calls.max(1) {
        let started = Instant::now();
        single(i)?;
        latencies.push(started.elapsed().as_secs_f64() * 1e3);
    }
    latencies.sort_by(f64::total_cmp);
    let batch = windows[..256 * one].to_vec();
    predictor.predict_windows(batch.clone(), [256, l, f])?;
    let started = Instant::now();
    for _ in 0..plan.batch_calls.max(1) {
        predictor.predict_windows(batch.clone(), [256, l, f])?;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(InferenceTimings {
        latency_p50_ms: quantile(&latencies, 0.50),
        latency_p99_ms: quantile(&latencies, 0.99),
        batch256_windows_per_s: (256 * plan.batch_calls.max(1)) as f64 / seconds,
    })
}

/// `n` reproducible windows of `[l, f]` in the standardised range, for timing (benchmarks).
#[cfg(feature = "testing")]
pub fn synthetic_windows(n: usize, l: usize, f: usize) -> Vec<f32> {
    (0..n * l * f)
        .map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 4.0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v, 1.0), 100.0);
        assert_eq!(quantile(&[3.0], 0.99), 3.0);
        assert!(quantile(&[], 0.5).is_nan());
    }

    struct Echo;
    impl WindowPredictor for Echo {
        fn predict_windows(&self, values: Vec<f32>, shape: [usize; 3]) -> Result<Vec<f32>> {
            Ok(values.chunks(shape[1] * shape[2]).map(|w| w[0]).collect())
        }
    }

    #[test]
    fn timings_are_positive_and_too_few_windows_are_refused() {
        let w = synthetic_windows(256, 4, 3);
        let t = time_inference(&Echo, &w, [4, 3], TimingPlan::default()).unwrap();
        assert!(t.latency_p50_ms >= 0.0 && t.latency_p99_ms >= t.latency_p50_ms);
        assert!(t.batch256_windows_per_s > 0.0);
        assert!(time_inference(&Echo, &w[..12], [4, 3], TimingPlan::default()).is_err());
    }
}
