//! Volatility forecasts: the baselines its field uses and the losses that rank them.
//!
//! Baselines, each a forecast of the realised volatility (RV) of bars `t + 1 ..= t + h` made at
//! bar `t` from bars up to `t` only:
//! - **persistence**: the RV of the last h bars (`t - h + 1 ..= t`);
//! - **EWMA** (RiskMetrics, J.P. Morgan 1996): a per-bar variance
//!   `s[t] = λ s[t - 1] + (1 - λ) r[t]²`, forecast `sqrt(h s[t])` (a flat term structure, as
//!   RiskMetrics has), with λ = 0.94 or λ chosen on validation;
//! - **HAR-RV** (Corsi 2009) in logs: the next h bars' per-bar variance regressed on the
//!   per-bar variance of the last day, week and month of bars (7 and 30 days: crypto trades
//!   every day), by least squares on the training windows. Logs keep every forecast positive;
//!   the forecast is `exp(fit + s²/2)`, the mean of a log-normal with the residual variance s².
//!
//! Losses on the variance scale (Patton 2011: these two rank volatility forecasts the same way
//! a perfect proxy would, even with the noisy squared-return proxy): squared error and QLIKE.
//! Mincer-Zarnowitz regression of realised on forecast variance says whether a forecast is
//! unbiased (intercept 0, slope 1) and how much of the variation it explains (R²).

use atb_protocol::vocab::Timeframe;

use super::RV_FLOOR;
use super::labels::realised_volatility;
use crate::stats::solve_spd;

/// RiskMetrics' decay for daily data, the usual fixed choice.
pub const RISKMETRICS_DECAY: f64 = 0.94;
/// The decays the validation split chooses among.
pub const DECAY_GRID: [f64; 10] = [0.8, 0.85, 0.9, 0.92, 0.94, 0.96, 0.97, 0.98, 0.99, 0.995];

/// Sums of squared returns over spans of bars, each in O(1) (prefix sums).
pub struct SquaredSums(Vec<f64>);

impl SquaredSums {
    pub fn new(returns: &[f64]) -> Self {
        let mut prefix = Vec::with_capacity(returns.len() + 1);
        prefix.push(0.0);
        let mut total = 0.0;
        for r in returns {
            total += r * r;
            prefix.push(total);
        }
        Self(prefix)
    }

    /// Sum of `r[i]²` for `i` in `from ..= to`.
    pub fn span(&self, from: usize, to: usize) -> f64 {
        (self.0[to + 1] - self.0[from]).max(0.0)
    }
}

/// Persistence of RV: the RV of bars `t - h + 1 ..= t`; `None` before bar `h` (bar 0 has no
/// return).
pub fn persistence(returns: &[f64], t: usize, h: usize) -> Option<f64> {
    (h > 0 && t >= h && t < returns.len()).then(|| {
        let sum: f64 = returns[t + 1 - h..=t].iter().map(|r| r * r).sum();
        sum.sqrt().max(RV_FLOOR)
    })
}

/// EWMA per-bar variances: `s[t]` is the variance of bar `t + 1`'s return forecast at bar `t`,
/// started at `initial` (the training split's mean squared return) on bar 0.
pub fn ewma_variances(returns: &[f64], decay: f64, initial: f64) -> Vec<f64> {
    let mut s = Vec::with_capacity(returns.len());
    let mut v = initial;
    s.push(v);
    for r in returns.iter().skip(1) {
        v = decay * v + (1.0 - decay) * r * r;
        s.push(v);
    }
    s
}

/// The EWMA forecast of the next h bars' RV from per-bar variances.
pub fn ewma_forecast(variances: &[f64], t: usize, h: usize) -> f64 {
    (h as f64 * variances[t]).sqrt().max(RV_FLOOR)
}

/// The decay of [`DECAY_GRID`] with the smallest mean QLIKE on the validation windows (ties: the
/// first); `None` when no window has a label.
pub fn choose_decay(returns: &[f64], initial: f64, validation: &[usize], h: usize) -> Option<f64> {
    DECAY_GRID
        .iter()
        .filter_map(|&decay| {
            let s = ewma_variances(returns, decay, initial);
            let losses: Vec<f64> = validation
                .iter()
                .filter_map(|&t| {
                    let rv = realised_volatility(returns, t, h)?;
                    Some(qlike(rv * rv, ewma_forecast(&s, t, h).powi(2)))
                })
                .collect();
            (!losses.is_empty()).then(|| (decay, losses.iter().sum::<f64>() / losses.len() as f64))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(decay, _)| decay)
}

/// The HAR components' spans in bars: a day, a week (7 days) and a month (30 days) of bars,
/// each at least one bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HarSpans {
    pub day: usize,
    pub week: usize,
    pub month: usize,
}

impl HarSpans {
    pub fn for_timeframe(timeframe: Timeframe) -> Self {
        Self::for_interval_ms(timeframe.millis())
    }

    /// For bars `interval_ms` apart (a daily or longer bar makes every span at least a bar).
    pub fn for_interval_ms(interval_ms: i64) -> Self {
        let per_day = (86_400_000 / interval_ms.max(1)).max(1) as usize;
        Self {
            day: per_day,
            week: 7 * per_day,
            month: 30 * per_day,
        }
    }
}

/// HAR-RV in logs, fitted by least squares.
#[derive(Debug, Clone, PartialEq)]
pub struct HarRv {
    pub spans: HarSpans,
    /// Intercept, then the day, week and month coefficients.
    pub coefficients: [f64; 4],
    /// Variance of the training residuals (for the log-normal mean).
    pub residual_variance: f64,
}

/// The regressors of the window ending at bar `t`: 1 and the logs of the mean squared return
/// over the last day, week and month of bars; `None` before a month of returns exists.
pub fn har_regressors(sums: &SquaredSums, spans: HarSpans, t: usize) -> Option<[f64; 4]> {
    if t < spans.month || t + 1 >= sums.0.len() {
        return None;
    }
    let log_mean = |span: usize| {
        (sums.span(t + 1 - span, t) / span as f64)
            .max(RV_FLOOR * RV_FLOOR)
            .ln()
    };
    Some([
        1.0,
        log_mean(spans.day),
        log_mean(spans.week),
        log_mean(spans.month),
    ])
}

/// What HAR-RV explains: the log of the next h bars' mean squared return.
fn har_response(returns: &[f64], t: usize, h: usize) -> Option<f64> {
    let rv = realised_volatility(returns, t, h)?;
    Some((rv * rv / h as f64).ln())
}

/// Least squares of `y` on the rows of `x` (each with `D` columns) by the normal equations;
/// `None` when the design is singular.
pub fn least_squares<const D: usize>(x: &[[f64; D]], y: &[f64]) -> Option<[f64; D]> {
    let mut gram = vec![0.0; D * D];
    let mut xty = vec![0.0; D];
    for (row, &target) in x.iter().zip(y) {
        for i in 0..D {
            xty[i] += row[i] * target;
            for j in 0..D {
                gram[i * D + j] += row[i] * row[j];
            }
        }
    }
    let solved = solve_spd(gram, xty, D)?;
    solved.try_into().ok()
}

impl HarRv {
    /// Fits on the windows ending at `training` bars (those with a month of history and a label);
    /// `None` when fewer than 10 such windows exist or the design is singular.
    pub fn fit(returns: &[f64], training: &[usize], h: usize, spans: HarSpans) -> Option<Self> {
        let sums = SquaredSums::new(returns);
        let (x, y): (Vec<[f64; 4]>, Vec<f64>) = training
            .iter()
            .filter_map(|&t| {
                Some((
                    har_regressors(&sums, spans, t)?,
                    har_response(returns, t, h)?,
                ))
            })
            .unzip();
        if x.len() < 10 {
            return None;
        }
        let coefficients = least_squares(&x, &y)?;
        let residual_variance = x
            .iter()
            .zip(&y)
            .map(|(row, target)| (target - dot(row, &coefficients)).powi(2))
            .sum::<f64>()
            / (x.len() - 4).max(1) as f64;
        Some(Self {
            spans,
            coefficients,
            residual_variance,
        })
    }

    /// The forecast RV of bars `t + 1 ..= t + h`; `None` before a month of history.
    pub fn forecast(&self, sums: &SquaredSums, t: usize, h: usize) -> Option<f64> {
        let x = har_regressors(sums, self.spans, t)?;
        let per_bar = (dot(&x, &self.coefficients) + self.residual_variance / 2.0).exp();
        Some((h as f64 * per_bar).sqrt().max(RV_FLOOR))
    }
}

fn dot(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `½ ln mean(exp(2e))` over log-RV errors `e` (0 with none): Duan's smearing factor for a
/// forecast of exp(2 · log RV), in log-RV units. For normal errors with mean μ and variance
/// σ² it tends to μ + σ².
pub fn smearing_correction(errors: &[f64]) -> f64 {
    if errors.is_empty() {
        return 0.0;
    }
    // Shifted by the largest error so no exp overflows.
    let top = errors.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = errors.iter().map(|e| (2.0 * (e - top)).exp()).sum::<f64>() / errors.len() as f64;
    top + 0.5 * mean.ln()
}

/// QLIKE on variances, normalised to 0 at a perfect forecast (Patton 2011, eq. 24 with b = -2):
/// `realised / forecast - ln(realised / forecast) - 1`. Both are floored at `RV_FLOOR²`.
pub fn qlike(realised_variance: f64, forecast_variance: f64) -> f64 {
    let floor = RV_FLOOR * RV_FLOOR;
    let ratio = realised_variance.max(floor) / forecast_variance.max(floor);
    ratio - ratio.ln() - 1.0
}

/// Squared error on variances.
pub fn squared_error(realised_variance: f64, forecast_variance: f64) -> f64 {
    (realised_variance - forecast_variance).powi(2)
}

/// The Mincer-Zarnowitz regression `realised = a + b forecast + e`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MincerZarnowitz {
    pub intercept: f64,
    pub slope: f64,
    pub r_squared: f64,
}

/// Mincer-Zarnowitz of realised on forecast variances; `None` with fewer than 3 pairs or no
/// variation in either.
pub fn mincer_zarnowitz(realised: &[f64], forecast: &[f64]) -> Option<MincerZarnowitz> {
    let n = realised.len().min(forecast.len());
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let (mx, my) = (
        forecast[..n].iter().sum::<f64>() / nf,
        realised[..n].iter().sum::<f64>() / nf,
    );
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in forecast[..n].iter().zip(&realised[..n]) {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx).powi(2);
        syy += (y - my).powi(2);
    }
    if !(sxx > 0.0 && syy > 0.0) {
        return None;
    }
    let slope = sxy / sxx;
    Some(MincerZarnowitz {
        intercept: my - slope * mx,
        slope,
        // For a regression with an intercept, R² is the squared correlation.
        r_squared: sxy * sxy / (sxx * syy),
    })
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::stats::diebold_mariano_on;
    use crate::targets::simulated::{garch, normal};

    #[test]
    fn qlike_squared_error_and_mincer_zarnowitz_against_hand_values() {
        // Realised twice the forecast: 2 - ln 2 - 1.
        assert!((qlike(4e-4, 2e-4) - (1.0 - 2f64.ln())).abs() < 1e-12);
        assert_eq!(qlike(3e-4, 3e-4), 0.0);
        // Under-forecasting costs more than over-forecasting by the same factor.
        assert!(qlike(4e-4, 2e-4) > qlike(2e-4, 4e-4));
        assert!((squared_error(3.0, 1.0) - 4.0).abs() < 1e-15);
        // x = forecast, y = realised; by hand: slope 1.75 / 1.25 = 1.4, intercept 4 - 1.4 * 2.5
        // = 0.5, residuals 0.1, -0.3, 0.3, -0.1, so R² = 1 - 0.2 / 10 = 0.98.
        let mz = mincer_zarnowitz(&[2.0, 3.0, 5.0, 6.0], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert!((mz.slope - 1.4).abs() < 1e-12, "{mz:?}");
        assert!((mz.intercept - 0.5).abs() < 1e-12, "{mz:?}");
        assert!((mz.r_squared - 0.98).abs() < 1e-12, "{mz:?}");
        assert!(mincer_zarnowitz(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_none());
    }

    #[test]
    fn persistence_and_ewma_against_hand_values() {
        let r = [0.0, 0.01, -0.02, 0.0, 0.03];
        let p = persistence(&r, 3, 2).unwrap();
        assert!((p - (0.0004f64 + 0.0).sqrt()).abs() < 1e-15, "{p}");
        assert_eq!(persistence(&r, 1, 2), None);
        // λ = 0.5 from 1: s1 = 0.5 + 0.5 * 1e-4, s2 = 0.5 s1 + 0.5 * 4e-4.
        let s = ewma_variances(&r, 0.5, 1.0);
        let s1 = 0.5 + 0.5 * 1e-4;
        let s2 = 0.5 * s1 + 0.5 * 4e-4;
        assert!(
            (s[1] - s1).abs() < 1e-15 && (s[2] - s2).abs() < 1e-15,
            "{s:?}"
        );
        assert!((ewma_forecast(&s, 2, 4) - (4.0 * s2).sqrt()).abs() < 1e-15);
        let spans = HarSpans::for_timeframe(Timeframe::H1);
        assert_eq!((spans.day, spans.week, spans.month), (24, 168, 720));
        let daily = HarSpans::for_timeframe(Timeframe::D1);
        assert_eq!((daily.day, daily.week, daily.month), (1, 7, 30));
    }

    #[test]
    fn har_coefficients_match_an_independent_least_squares_fit() {
        let r = garch(4_000, 11);
        let spans = HarSpans {
            day: 6,
            week: 30,
            month: 120,
        };
        let h = 3;
        let training: Vec<usize> = (0..3_000).collect();
        let har = HarRv::fit(&r, &training, h, spans).unwrap();
        // The same regression built by direct sums and solved by modified Gram-Schmidt QR.
        let mean_sq = |from: usize, to: usize| {
            r[from..=to].iter().map(|x| x * x).sum::<f64>() / (to + 1 - from) as f64
        };
        let mut rows = Vec::new();
        let mut y = Vec::new();
        for t in spans.month..3_000 {
            rows.push([
                1.0,
                mean_sq(t + 1 - spans.day, t).ln(),
                mean_sq(t + 1 - spans.week, t).ln(),
                mean_sq(t + 1 - spans.month, t).ln(),
            ]);
            y.push(mean_sq(t + 1, t + h).ln());
        }
        let reference = qr_least_squares(&rows, &y);
        for (a, b) in har.coefficients.iter().zip(reference) {
            assert!(
                (a - b).abs() < 1e-8 * b.abs().max(1.0),
                "{:?} vs {reference:?}",
                har.coefficients
            );
        }
        // Clustering: recent variance carries weight.
        assert!(har.coefficients[1] + har.coefficients[2] > 0.2, "{har:?}");
    }

    fn qr_least_squares(rows: &[[f64; 4]], y: &[f64]) -> [f64; 4] {
        let n = rows.len();
        let mut q: Vec<Vec<f64>> = (0..4)
            .map(|j| rows.iter().map(|r| r[j]).collect())
            .collect();
        let mut rmat = [[0.0; 4]; 4];
        for j in 0..4 {
            for i in 0..j {
                let d: f64 = (0..n).map(|k| q[i][k] * q[j][k]).sum();
                rmat[i][j] = d;
                let (done, rest) = q.split_at_mut(j);
                for (a, b) in rest[0].iter_mut().zip(&done[i]) {
                    *a -= d * b;
                }
            }
            let norm = q[j].iter().map(|v| v * v).sum::<f64>().sqrt();
            rmat[j][j] = norm;
            for v in &mut q[j] {
                *v /= norm;
            }
        }
        let qty: Vec<f64> = (0..4)
            .map(|j| (0..n).map(|k| q[j][k] * y[k]).sum())
            .collect();
        let mut beta = [0.0; 4];
        for i in (0..4).rev() {
            let s: f64 = (i + 1..4).map(|j| rmat[i][j] * beta[j]).sum();
            beta[i] = (qty[i] - s) / rmat[i][i];
        }
        beta
    }

    /// QLIKE losses of `forecast` and persistence on non-overlapping test windows.
    fn qlike_against_persistence(
        r: &[f64],
        h: usize,
        test: &[usize],
        forecast: impl Fn(usize) -> f64,
    ) -> Vec<f64> {
        test.iter()
            .map(|&t| {
                let rv = realised_volatility(r, t, h).unwrap();
                let p = persistence(r, t, h).unwrap();
                qlike(rv * rv, forecast(t).powi(2)) - qlike(rv * rv, p * p)
            })
            .collect()
    }

    #[test]
    fn on_garch_returns_har_and_ewma_beat_persistence_and_on_noise_har_gains_nothing() {
        let h = 4;
        let spans = HarSpans {
            day: 24,
            week: 168,
            month: 720,
        };
        let r = garch(12_000, 5);
        let training: Vec<usize> = (0..8_000).collect();
        let test: Vec<usize> = (8_000..11_990).step_by(h).collect();
        let har = HarRv::fit(&r, &training, h, spans).unwrap();
        let sums = SquaredSums::new(&r);
        let d = qlike_against_persistence(&r, h, &test, |t| har.forecast(&sums, t, h).unwrap());
        let dm = diebold_mariano_on(&d, 1).unwrap();
        assert!(dm.mean_loss_difference < 0.0 && dm.p_value < 0.01, "{dm:?}");
        let initial = training[1..].iter().map(|&t| r[t] * r[t]).sum::<f64>() / 7_999.0;
        let s = ewma_variances(&r, RISKMETRICS_DECAY, initial);
        let d = qlike_against_persistence(&r, h, &test, |t| ewma_forecast(&s, t, h));
        let dm = diebold_mariano_on(&d, 1).unwrap();
        assert!(dm.mean_loss_difference < 0.0 && dm.p_value < 0.01, "{dm:?}");

        // Constant variance: HAR finds nothing beyond the training mean, which it does not beat.
        let mut rng = StdRng::seed_from_u64(9);
        let noise: Vec<f64> = (0..12_000).map(|_| 0.01 * normal(&mut rng)).collect();
        let har = HarRv::fit(&noise, &training, h, spans).unwrap();
        let sums = SquaredSums::new(&noise);
        let mean_rv = (h as f64 * 1e-4).sqrt();
        let d: Vec<f64> = test
            .iter()
            .map(|&t| {
                let rv = realised_volatility(&noise, t, h).unwrap();
                let f = har.forecast(&sums, t, h).unwrap();
                qlike(rv * rv, f * f) - qlike(rv * rv, mean_rv * mean_rv)
            })
            .collect();
        let dm = diebold_mariano_on(&d, 1).unwrap();
        assert!(
            !(dm.mean_loss_difference < 0.0 && dm.p_value < 0.05),
            "{dm:?}"
        );
    }

    #[test]
    fn the_validation_split_chooses_a_faster_decay_for_faster_clustering() {
        let r = garch(6_000, 3);
        let validation: Vec<usize> = (1_000..5_990).step_by(4).collect();
        let initial = r.iter().map(|x| x * x).sum::<f64>() / r.len() as f64;
        let decay = choose_decay(&r, initial, &validation, 4).unwrap();
        assert!(DECAY_GRID.contains(&decay));
        // GARCH with α + β = 0.95 forgets at about 0.85-0.95 per bar, well below 0.995.
        assert!(decay < 0.99, "{decay}");
    }

    #[test]
    fn the_smearing_correction_matches_a_hand_computation_and_the_normal_limit() {
        // By hand: errors -0.5 and 0.5 give ½ ln((e^-1 + e^1) / 2) = ½ ln cosh 1.
        let c = smearing_correction(&[-0.5, 0.5]);
        assert!((c - 0.5 * 1f64.cosh().ln()).abs() < 1e-15, "{c}");
        assert_eq!(smearing_correction(&[]), 0.0);
        assert_eq!(smearing_correction(&[0.3]), 0.3);
        // Normal errors (mean 0.1, sd 0.4) on an even grid of quantiles: about μ + σ² = 0.26.
        let n = 20_000;
        let errors: Vec<f64> = (0..n)
            .map(|i| 0.1 + 0.4 * crate::stats::normal_quantile((i as f64 + 0.5) / n as f64))
            .collect();
        let c = smearing_correction(&errors);
        assert!((c - 0.26).abs() < 2e-3, "{c}");
        // Huge errors do not overflow.
        assert!((smearing_correction(&[800.0, 800.0]) - 800.0).abs() < 1e-12);
    }
}
