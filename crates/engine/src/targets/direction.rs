//! Direction forecasts (the probability that the close h bars ahead is above this close): the
//! baselines and the scores of a probability.
//!
//! Baselines, fitted on the training split only:
//! - **climatology**: the training windows' share of ups, for every window;
//! - **last move**: the training share of ups after an up move of the last h bars, and after a
//!   down (or flat) one. The last move's sign as a 0/1 "probability" would have an infinite log
//!   loss at its first miss; as a conditional share it is the same rule made a probability.
//!
//! Scores: log loss, the Brier score with Murphy's (1973) decomposition into reliability,
//! resolution and uncertainty over probability bins, accuracy at 0.5, and the reliability table
//! (per bin: mean forecast against observed share) that a calibration plot draws.

/// Probabilities are kept this far from 0 and 1 in the log loss (as scikit-learn clips).
pub const PROBABILITY_CLIP: f64 = 1e-15;
/// Equal-width probability bins of the decomposition and the reliability table.
pub const BINS: usize = 10;

/// The training share of ups; `None` without labels.
pub fn climatology(labels: &[f64]) -> Option<f64> {
    (!labels.is_empty()).then(|| labels.iter().sum::<f64>() / labels.len() as f64)
}

/// The share of ups after an up move and after a down or flat move, from (last move was up,
/// label) pairs of the training split; a side with no windows takes the overall share.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LastMove {
    pub after_up: f64,
    pub after_down: f64,
}

impl LastMove {
    pub fn fit(pairs: &[(bool, f64)]) -> Option<Self> {
        let overall = climatology(&pairs.iter().map(|p| p.1).collect::<Vec<_>>())?;
        let share = |up: bool| {
            let side: Vec<f64> = pairs.iter().filter(|p| p.0 == up).map(|p| p.1).collect();
            climatology(&side).unwrap_or(overall)
        };
        Some(Self {
            after_up: share(true),
            after_down: share(false),
        })
    }

    pub fn forecast(&self, last_move_up: bool) -> f64 {
        if last_move_up {
            self.after_up
        } else {
            self.after_down
        }
    }
}

/// Mean log loss of probabilities `p` for 0/1 `labels` (natural log, clipped).
pub fn log_loss(p: &[f64], labels: &[f64]) -> f64 {
    let n = p.len().min(labels.len()).max(1) as f64;
    p.iter()
        .zip(labels)
        .map(|(&p, &y)| {
            let p = p.clamp(PROBABILITY_CLIP, 1.0 - PROBABILITY_CLIP);
            -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
        })
        .sum::<f64>()
        / n
}

/// Mean squared difference of probability and outcome.
pub fn brier(p: &[f64], labels: &[f64]) -> f64 {
    let n = p.len().min(labels.len()).max(1) as f64;
    p.iter()
        .zip(labels)
        .map(|(p, y)| (p - y).powi(2))
        .sum::<f64>()
        / n
}

/// Share of windows where `p > 0.5` says what happened (0.5 itself counts as "not up").
pub fn accuracy(p: &[f64], labels: &[f64]) -> f64 {
    let n = p.len().min(labels.len()).max(1) as f64;
    p.iter()
        .zip(labels)
        .filter(|(p, y)| (**p > 0.5) == (**y > 0.5))
        .count() as f64
        / n
}

/// One probability bin of the reliability table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReliabilityBin {
    /// The bin's range of forecast probabilities, `[low, high)` (the last includes 1).
    pub low: f64,
    pub high: f64,
    pub windows: usize,
    /// Mean forecast of the bin's windows.
    pub mean_forecast: f64,
    /// Share of ups among them.
    pub observed: f64,
}

/// The Brier score and its decomposition: `brier = reliability - resolution + uncertainty +
/// within_bin`, where `within_bin` is what binning forecasts that differ within a bin leaves
/// over (zero when each bin holds one forecast value; Stephenson et al. 2008).
#[derive(Debug, Clone, PartialEq)]
pub struct BrierDecomposition {
    pub brier: f64,
    /// Mean squared gap between a bin's forecast and its observed share (0: calibrated).
    pub reliability: f64,
    /// How far the bins' observed shares spread around the overall share (higher: sharper).
    pub resolution: f64,
    /// The overall share times its complement: the Brier score of climatology in-sample.
    pub uncertainty: f64,
    pub within_bin: f64,
    pub bins: Vec<ReliabilityBin>,
}

/// Bins the forecasts into [`BINS`] equal-width bins and decomposes the Brier score (Murphy
/// 1973); empty bins are left out of the table.
pub fn brier_decomposition(p: &[f64], labels: &[f64]) -> BrierDecomposition {
    let n = p.len().min(labels.len());
    let nf = n.max(1) as f64;
    let mut count = [0usize; BINS];
    let mut sum_p = [0.0; BINS];
    let mut sum_y = [0.0; BINS];
    for (&pi, &yi) in p.iter().zip(labels).take(n) {
        let k = ((pi * BINS as f64) as usize).min(BINS - 1);
        count[k] += 1;
        sum_p[k] += pi;
        sum_y[k] += yi;
    }
    let overall = labels.iter().take(n).sum::<f64>() / nf;
    let mut bins = Vec::new();
    let (mut reliability, mut resolution) = (0.0, 0.0);
    for k in 0..BINS {
        if count[k] == 0 {
            continue;
        }
        let c = count[k] as f64;
        let (mean_forecast, observed) = (sum_p[k] / c, sum_y[k] / c);
        reliability += c * (mean_forecast - observed).powi(2);
        resolution += c * (observed - overall).powi(2);
        bins.push(ReliabilityBin {
            low: k as f64 / BINS as f64,
            high: (k + 1) as f64 / BINS as f64,
            windows: count[k],
            mean_forecast,
            observed,
        });
    }
    let (reliability, resolution) = (reliability / nf, resolution / nf);
    let uncertainty = overall * (1.0 - overall);
    let score = brier(&p[..n], &labels[..n]);
    BrierDecomposition {
        brier: score,
        reliability,
        resolution,
        uncertainty,
        within_bin: score - (reliability - resolution + uncertainty),
        bins,
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    #[test]
    fn scores_against_hand_values() {
        let p = [0.9, 0.2, 0.6, 0.5];
        let y = [1.0, 0.0, 0.0, 1.0];
        // By hand: -(ln .9 + ln .8 + ln .4 + ln .5) / 4.
        let expected = -(0.9f64.ln() + 0.8f64.ln() + 0.4f64.ln() + 0.5f64.ln()) / 4.0;
        assert!((log_loss(&p, &y) - expected).abs() < 1e-15);
        // (0.01 + 0.04 + 0.36 + 0.25) / 4 = 0.165.
        assert!((brier(&p, &y) - 0.165).abs() < 1e-15);
        // 0.9 up (right), 0.2 down (right), 0.6 up (wrong), 0.5 not up (wrong).
        assert_eq!(accuracy(&p, &y), 0.5);
        // A certain miss is large but finite.
        assert!(log_loss(&[0.0], &[1.0]).is_finite());
    }

    #[test]
    fn the_decomposition_adds_up_and_matches_hand_values_with_one_forecast_per_bin() {
        // Two forecast values, each alone in its bin: 0.2 on four windows (one up), 0.7 on six
        // (three up). Reliability = (4 (0.2 - 0.25)² + 6 (0.7 - 0.5)²) / 10 = 0.025; overall
        // share 0.4, resolution = (4 (0.25 - 0.4)² + 6 (0.5 - 0.4)²) / 10 = 0.015; uncertainty
        // 0.24; so Brier = 0.025 - 0.015 + 0.24 = 0.25, with nothing left within bins.
        let p = [0.2, 0.2, 0.2, 0.2, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7];
        let y = [1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0];
        let d = brier_decomposition(&p, &y);
        assert!((d.reliability - 0.025).abs() < 1e-12, "{d:?}");
        assert!((d.resolution - 0.015).abs() < 1e-12, "{d:?}");
        assert!((d.uncertainty - 0.24).abs() < 1e-12, "{d:?}");
        assert!((d.brier - 0.25).abs() < 1e-12, "{d:?}");
        assert!(d.within_bin.abs() < 1e-12, "{d:?}");
        assert_eq!(d.bins.len(), 2);
        assert_eq!((d.bins[0].windows, d.bins[0].observed), (4, 0.25));
        assert_eq!((d.bins[1].low, d.bins[1].high), (0.7, 0.8));
        // Forecasts that differ within a bin: the parts still add up to the score.
        let p = [0.11, 0.19, 0.55, 0.52, 0.98];
        let y = [0.0, 1.0, 1.0, 0.0, 1.0];
        let d = brier_decomposition(&p, &y);
        let sum = d.reliability - d.resolution + d.uncertainty + d.within_bin;
        assert!((sum - brier(&p, &y)).abs() < 1e-15);
    }

    #[test]
    fn known_probabilities_are_calibrated_within_their_bins_and_the_baselines_fit_them() {
        // Ups with probability 0.3 after a down move and 0.6 after an up move.
        let mut rng = StdRng::seed_from_u64(4);
        let mut last_up = false;
        let mut pairs = Vec::new();
        for _ in 0..40_000 {
            let p = if last_up { 0.6 } else { 0.3 };
            let up = rng.random::<f64>() < p;
            pairs.push((last_up, f64::from(u8::from(up))));
            last_up = up;
        }
        let rule = LastMove::fit(&pairs).unwrap();
        assert!((rule.after_up - 0.6).abs() < 0.02, "{rule:?}");
        assert!((rule.after_down - 0.3).abs() < 0.02, "{rule:?}");
        let labels: Vec<f64> = pairs.iter().map(|p| p.1).collect();
        let forecasts: Vec<f64> = pairs.iter().map(|p| rule.forecast(p.0)).collect();
        let d = brier_decomposition(&forecasts, &labels);
        for bin in &d.bins {
            assert!((bin.mean_forecast - bin.observed).abs() < 0.02, "{bin:?}");
        }
        // It beats climatology: the share of ups carries no information about the next.
        let share = climatology(&labels).unwrap();
        let flat = vec![share; labels.len()];
        assert!(log_loss(&forecasts, &labels) < log_loss(&flat, &labels) - 0.01);
        assert!(d.resolution > 0.01 && d.reliability < 1e-3, "{d:?}");
    }
}
