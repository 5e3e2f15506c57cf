//! Significance for forecast comparisons: the Diebold-Mariano test of equal accuracy with a
//! Newey-West (HAC) variance and the Harvey-Leybourne-Newbold small-sample correction, a
//! moving-block bootstrap interval for skill, and the distributions they need. Pure functions
//! on slices; no I/O.

use atb_protocol::training::{PairedTest, SkillInterval};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Seed of every bootstrap, so that an evaluation is reproducible.
pub const BOOTSTRAP_SEED: u64 = 0x5EED_B007;
/// Resamples per bootstrap interval.
pub const BOOTSTRAP_RESAMPLES: usize = 2_000;

/// Which loss the Diebold-Mariano test compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    Squared,
    Absolute,
}

/// Newey-West long-run variance of `d` (already demeaned) with Bartlett weights up to `lag`.
fn newey_west(d: &[f64], lag: usize) -> f64 {
    let n = d.len() as f64;
    let gamma = |k: usize| d[k..].iter().zip(d).map(|(a, b)| a * b).sum::<f64>() / n;
    let mut v = gamma(0);
    for k in 1..=lag.min(d.len().saturating_sub(1)) {
        v += 2.0 * (1.0 - k as f64 / (lag as f64 + 1.0)) * gamma(k);
    }
    v
}

/// Diebold-Mariano test of `errors_a` against `errors_b` (same windows, in order) at forecast
/// horizon `h`: loss differential `L(a) - L(b)`, Newey-West variance with lag h - 1, the
/// Harvey-Leybourne-Newbold correction, and a two-sided p-value from Student's t with n - 1
/// degrees of freedom. A negative statistic means `a` has the smaller loss. `None` when the
/// test is undefined (fewer than 3 windows, or no variation in the differential).
pub fn diebold_mariano(
    errors_a: &[f64],
    errors_b: &[f64],
    h: usize,
    loss: Loss,
) -> Option<PairedTest> {
    let n = errors_a.len().min(errors_b.len());
    if n < 3 || h == 0 {
        return None;
    }
    let l = |e: f64| match loss {
        Loss::Squared => e * e,
        Loss::Absolute => e.abs(),
    };
    let d: Vec<f64> = errors_a[..n]
        .iter()
        .zip(&errors_b[..n])
        .map(|(a, b)| l(*a) - l(*b))
        .collect();
    if d.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let nf = n as f64;
    let mean = d.iter().sum::<f64>() / nf;
    let centred: Vec<f64> = d.iter().map(|x| x - mean).collect();
    let variance = newey_west(&centred, h - 1);
    // Relative to the differential's scale: exact ties and rounding noise are not evidence.
    let scale = d.iter().map(|x| x.abs()).fold(0.0, f64::max);
    if !(variance > 1e-24 * scale * scale) || scale == 0.0 {
        return None;
    }
    let dm = mean / (variance / nf).sqrt();
    let hf = h as f64;
    let correction = ((nf + 1.0 - 2.0 * hf + hf * (hf - 1.0) / nf) / nf).sqrt();
    let statistic = dm * correction;
    let p_value = 2.0 * student_t_sf(statistic.abs(), nf - 1.0);
    Some(PairedTest {
        statistic,
        p_value: p_value.clamp(0.0, 1.0),
        mean_loss_difference: mean,
        n,
    })
}

/// Skill `1 - Σ|a| / Σ|b|` (MAE of `a` against the MAE of `b`) with a moving-block bootstrap
/// 95% interval: blocks of about n^(1/3) consecutive windows (so that overlapping targets keep
/// their dependence), `BOOTSTRAP_RESAMPLES` resamples from a fixed seed.
pub fn skill_interval(errors_a: &[f64], errors_b: &[f64]) -> Option<SkillInterval> {
    let n = errors_a.len().min(errors_b.len());
    if n < 3 {
        return None;
    }
    let abs_a: Vec<f64> = errors_a[..n].iter().map(|e| e.abs()).collect();
    let abs_b: Vec<f64> = errors_b[..n].iter().map(|e| e.abs()).collect();
    let skill = |sa: f64, sb: f64| if sb > 0.0 { 1.0 - sa / sb } else { f64::NAN };
    let point = skill(abs_a.iter().sum(), abs_b.iter().sum());
    if !point.is_finite() {
        return None;
    }
    let block = ((n as f64).cbrt().round() as usize).clamp(1, n);
    let starts = n - block + 1;
    let mut rng = StdRng::seed_from_u64(BOOTSTRAP_SEED);
    let mut draws = Vec::with_capacity(BOOTSTRAP_RESAMPLES);
    for _ in 0..BOOTSTRAP_RESAMPLES {
        let (mut sa, mut sb, mut taken) = (0.0, 0.0, 0usize);
        while taken < n {
            let s = rng.random_range(0..starts);
            let len = block.min(n - taken);
            sa += abs_a[s..s + len].iter().sum::<f64>();
            sb += abs_b[s..s + len].iter().sum::<f64>();
            taken += len;
        }
        let k = skill(sa, sb);
        if k.is_finite() {
            draws.push(k);
        }
    }
    if draws.len() < BOOTSTRAP_RESAMPLES / 2 {
        return None;
    }
    draws.sort_by(f64::total_cmp);
    let at = |q: f64| draws[((q * draws.len() as f64) as usize).min(draws.len() - 1)];
    Some(SkillInterval {
        skill: point,
        lower: at(0.025),
        upper: at(0.975),
        block_length: block,
        resamples: draws.len(),
    })
}

/// P(T > t) for Student's t with `df` degrees of freedom (via the regularised incomplete beta).
pub fn student_t_sf(t: f64, df: f64) -> f64 {
    if !t.is_finite() {
        return if t > 0.0 { 0.0 } else { 1.0 };
    }
    let x = df / (df + t * t);
    let tail = 0.5 * incomplete_beta(df / 2.0, 0.5, x);
    if t >= 0.0 { tail } else { 1.0 - tail }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; about 15 significant digits).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularised incomplete beta function I_x(a, b) (continued fraction, Lentz's method).
pub fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    // The continued fraction converges fast for x < (a + 1) / (a + b + 2); use symmetry otherwise.
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - incomplete_beta(b, a, 1.0 - x);
    }
    const TINY: f64 = 1e-300;
    let mut c = 1.0;
    let mut d = 1.0 - (a + b) * x / (a + 1.0);
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut f = d;
    for m in 1..500 {
        let m = m as f64;
        // Even step.
        let num = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        d = 1.0 + num * d;
        d = if d.abs() < TINY { 1.0 / TINY } else { 1.0 / d };
        c = 1.0 + num / c;
        if c.abs() < TINY {
            c = TINY;
        }
        f *= d * c;
        // Odd step.
        let num = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
        d = 1.0 + num * d;
        d = if d.abs() < TINY { 1.0 / TINY } else { 1.0 / d };
        c = 1.0 + num / c;
        if c.abs() < TINY {
            c = TINY;
        }
        let delta = d * c;
        f *= delta;
        if (delta - 1.0).abs() < 1e-15 {
            break;
        }
    }
    front * f / a
}

/// Median of the values (`None` when empty).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn student_t_matches_tables() {
        // Two-sided 5% critical values: t(10) = 2.228, t(30) = 2.042, t(1) = 12.706.
        assert!((2.0 * student_t_sf(2.228_138_85, 10.0) - 0.05).abs() < 1e-6);
        assert!((2.0 * student_t_sf(2.042_272_46, 30.0) - 0.05).abs() < 1e-6);
        assert!((2.0 * student_t_sf(12.706_204_7, 1.0) - 0.05).abs() < 1e-6);
        assert!((student_t_sf(0.0, 5.0) - 0.5).abs() < 1e-12);
        assert!((student_t_sf(-1.0, 7.0) + student_t_sf(1.0, 7.0) - 1.0).abs() < 1e-12);
        // Large df approaches the normal: P(Z > 1.96) = 0.025.
        assert!((student_t_sf(1.959_964, 1e7) - 0.025).abs() < 1e-5);
    }

    #[test]
    fn diebold_mariano_equals_the_hand_computation() {
        // Errors of two forecasts on 6 windows, h = 2, squared loss.
        let a = [1.0, -2.0, 0.5, 1.5, -1.0, 2.0];
        let b = [2.0, -2.5, 1.0, 1.0, -2.0, 2.5];
        // d = a² - b² = [1-4, 4-6.25, .25-1, 2.25-1, 1-4, 4-6.25] = [-3, -2.25, -0.75, 1.25, -3, -2.25]
        // mean = -10 / 6 = -1.666667; centred c = [-1.333333, -0.583333, 0.916667, 2.916667,
        // -1.333333, -0.583333].
        // γ0 = Σc²/6 = (1.777778 + 0.340278 + 0.840278 + 8.506944 + 1.777778 + 0.340278) / 6
        //    = 13.583333 / 6 = 2.263889.
        // γ1 = Σ c_t c_{t-1} / 6 = (0.777778 - 0.534722 + 2.673611 - 3.888889 + 0.777778) / 6
        //    = -0.194444 / 6 = -0.032407.
        // Bartlett weight for lag 1 of L = 1: 1 - 1/2 = 0.5, so V = γ0 + 2·0.5·γ1 = 2.231481.
        // DM = mean / sqrt(V / 6) = -1.666667 / 0.609847 = -2.732928.
        // HLN factor sqrt((6 + 1 - 4 + 2·1/6) / 6) = sqrt(3.333333 / 6) = 0.745356;
        // statistic = -2.037 (t with 5 df: two-sided p = 0.0972).
        let t = diebold_mariano(&a, &b, 2, Loss::Squared).unwrap();
        assert!((t.mean_loss_difference + 1.666_667).abs() < 1e-5, "{t:?}");
        assert!((t.statistic + 2.732_928 * 0.745_356).abs() < 1e-4, "{t:?}");
        assert!((t.p_value - 0.0972).abs() < 1e-3, "{t:?}");
        assert_eq!(t.n, 6);
        // Identical forecasts: undefined, not "significant".
        assert!(diebold_mariano(&a, &a, 1, Loss::Absolute).is_none());
    }

    #[test]
    fn bootstrap_interval_brackets_the_point_estimate() {
        let a: Vec<f64> = (0..500)
            .map(|i| ((i * 37 % 101) as f64 - 50.0) * 0.9)
            .collect();
        let b: Vec<f64> = (0..500).map(|i| (i * 53 % 103) as f64 - 51.0).collect();
        let s = skill_interval(&a, &b).unwrap();
        assert!(s.lower < s.skill && s.skill < s.upper, "{s:?}");
        assert_eq!(s.block_length, 8);
        // Reproducible.
        assert_eq!(skill_interval(&a, &b).unwrap(), s);
        assert!(skill_interval(&a[..2], &b[..2]).is_none());
    }

    /// h-step overlapping targets of a random walk and two forecasts independent of it and of
    /// each other: equal accuracy holds, so a 5% test must reject about 5% of the time.
    fn dm_rejection_rate(h: usize, replications: usize) -> f64 {
        use rand::distr::{Distribution, StandardUniform};
        let mut rng = StdRng::seed_from_u64(17 + h as u64);
        let normal = |rng: &mut StdRng| -> f64 {
            // Box-Muller from two uniforms.
            let u1: f64 = StandardUniform.sample(rng);
            let u2: f64 = StandardUniform.sample(rng);
            (-2.0 * (1.0 - u1).ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        };
        let n = 400;
        let mut rejected = 0;
        for _ in 0..replications {
            let steps: Vec<f64> = (0..n + h).map(|_| normal(&mut rng)).collect();
            let target: Vec<f64> = (0..n).map(|t| steps[t..t + h].iter().sum()).collect();
            let (a, b): (Vec<f64>, Vec<f64>) = target
                .iter()
                .map(|y| (y - 0.5 * normal(&mut rng), y - 0.5 * normal(&mut rng)))
                .unzip();
            if let Some(t) = diebold_mariano(&a, &b, h, Loss::Squared)
                && t.p_value < 0.05
            {
                rejected += 1;
            }
        }
        rejected as f64 / replications as f64
    }

    #[test]
    fn diebold_mariano_holds_its_size_under_the_null() {
        for h in [1, 4] {
            let rate = dm_rejection_rate(h, 1_000);
            assert!((0.03..=0.07).contains(&rate), "h = {h}: rejects {rate}");
        }
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
