//! The targets beside the next return (issue 30): realised volatility of the next h bars and the
//! probability that the close h bars ahead is above this close. Each has its label
//! ([`labels`]), the baselines its field uses and the losses that rank its forecasts
//! ([`volatility`], [`direction`]). Pure functions on closes and slices: no I/O, no models.
//!
//! Conventions shared by the three files: `closes[t]` is the close of bar `t`; the log return
//! of bar `i` is `r[i] = ln(closes[i] / closes[i - 1])` (bar 0 has none); a window ending at bar
//! `t` forecasts bars `t + 1 ..= t + h`.

pub mod direction;
pub mod evaluate;
pub mod labels;
pub mod volatility;

/// The smallest realised volatility (in log-return units) a label or a proxy takes: a span with
/// no price change at all (a halted or illiquid market) would otherwise have a log of minus
/// infinity. 1e-8 is far below any real bar's move (a 1-minute BTC bar moves about 1e-3).
pub const RV_FLOOR: f64 = 1e-8;

/// Simulated returns the targets' tests share.
#[cfg(test)]
pub(crate) mod simulated {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// GARCH(1,1) returns (ω 2e-6, α 0.1, β 0.85): volatility clusters, as in crypto.
    pub fn garch(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        let (omega, alpha, beta): (f64, f64, f64) = (2e-6, 0.1, 0.85);
        let mut v = omega / (1.0 - alpha - beta);
        let mut r = vec![0.0; n];
        for x in r.iter_mut().skip(1) {
            *x = v.sqrt() * normal(&mut rng);
            v = omega + alpha * *x * *x + beta * v;
        }
        r
    }

    /// A standard normal draw (Box-Muller).
    pub fn normal(rng: &mut StdRng) -> f64 {
        let (u, w): (f64, f64) = (rng.random::<f64>().max(1e-300), rng.random());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * w).cos()
    }
}
