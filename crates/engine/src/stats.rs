//! Significance for forecast comparisons: the Diebold-Mariano test of equal accuracy with the
//! long-run variance of DM (1995) and the Harvey-Leybourne-Newbold small-sample correction, the
//! Clark-West test against nested forecasts, a circular block bootstrap interval for skill, and
//! the distributions they need. Pure functions on slices; no I/O.

use atb_protocol::training::{NestedTest, PairedTest, SkillInterval, VarianceKernel};
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

/// Autocovariance of `d` (already demeaned) at lag `k`, divided by n as R's `acf` does.
fn autocovariance(d: &[f64], k: usize) -> f64 {
    d[k..].iter().zip(d).map(|(a, b)| a * b).sum::<f64>() / d.len() as f64
}

/// Long-run variance of a demeaned loss differential of h-step forecasts: the autocovariances
/// up to lag h - 1 with equal weights, as DM (1995), HLN (1997) and R's `forecast::dm.test`
/// compute it (an MA(h - 1) differential has exactly those); when that sum is not positive
/// (it can be, for a rectangular kernel), Bartlett weights up to lag 2h, which always give a
/// non-negative estimate, and the kernel used is returned. `None` when neither is positive
/// relative to `scale` (no variation: ties are not evidence).
fn long_run_variance(d: &[f64], h: usize, scale: f64) -> Option<(f64, VarianceKernel)> {
    let positive = |v: f64| v > 1e-24 * scale * scale && scale > 0.0;
    let last = |lag: usize| lag.min(d.len().saturating_sub(1));
    let rectangular =
        autocovariance(d, 0) + 2.0 * (1..=last(h - 1)).map(|k| autocovariance(d, k)).sum::<f64>();
    if positive(rectangular) {
        return Some((rectangular, VarianceKernel::Rectangular));
    }
    let bandwidth = 2 * h;
    let bartlett = autocovariance(d, 0)
        + 2.0
            * (1..=last(bandwidth))
                .map(|k| (1.0 - k as f64 / (bandwidth as f64 + 1.0)) * autocovariance(d, k))
                .sum::<f64>();
    positive(bartlett).then_some((bartlett, VarianceKernel::Bartlett))
}

/// Diebold-Mariano test of `errors_a` against `errors_b` (same windows, in order) at forecast
/// horizon `h`: loss differential `L(a) - L(b)`, long-run variance from `long_run_variance`,
/// the Harvey-Leybourne-Newbold correction, and a two-sided p-value from Student's t with n - 1
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
    diebold_mariano_on(&d, h)
}

/// Mean of a series of h-step differentials and its standard error from
/// [`long_run_variance`]: (mean, standard error, kernel). `None` with fewer than 3 values,
/// a non-finite one, or no variation.
fn mean_and_standard_error(x: &[f64], h: usize) -> Option<(f64, f64, VarianceKernel)> {
    let n = x.len();
    if n < 3 || h == 0 || x.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let nf = n as f64;
    let mean = x.iter().sum::<f64>() / nf;
    let centred: Vec<f64> = x.iter().map(|v| v - mean).collect();
    let scale = x.iter().map(|v| v.abs()).fold(0.0, f64::max);
    let (variance, kernel) = long_run_variance(&centred, h, scale)?;
    Some((mean, (variance / nf).sqrt(), kernel))
}

/// The Diebold-Mariano test on a loss differential `d` (see [`diebold_mariano`]).
pub fn diebold_mariano_on(d: &[f64], h: usize) -> Option<PairedTest> {
    let (mean, standard_error, kernel) = mean_and_standard_error(d, h)?;
    let n = d.len();
    let nf = n as f64;
    let dm = mean / standard_error;
    let hf = h as f64;
    let correction = ((nf + 1.0 - 2.0 * hf + hf * (hf - 1.0) / nf) / nf).sqrt();
    let statistic = dm * correction;
    let p_value = 2.0 * student_t_sf(statistic.abs(), nf - 1.0);
    Some(PairedTest {
        statistic,
        p_value: p_value.clamp(0.0, 1.0),
        mean_loss_difference: mean,
        n,
        kernel: Some(kernel),
    })
}

/// Clark and West (2007): is `model` (log-return forecasts) better than `nested` (persistence's
/// zeros or drift's constant, both special cases of the model) under squared loss, on windows
/// with `actual` log returns? f_t = e_nested² - (e_model² - (nested - model)²); the statistic is
/// mean(f) over its standard error (the long-run variance of `long_run_variance`, lag h - 1),
/// compared with the standard normal, one-sided. `None` when undefined.
pub fn clark_west(actual: &[f64], nested: &[f64], model: &[f64], h: usize) -> Option<NestedTest> {
    let n = actual.len().min(nested.len()).min(model.len());
    let f: Vec<f64> = (0..n)
        .map(|t| {
            let (e1, e2) = (actual[t] - nested[t], actual[t] - model[t]);
            e1 * e1 - (e2 * e2 - (nested[t] - model[t]).powi(2))
        })
        .collect();
    let (mean, standard_error, kernel) = mean_and_standard_error(&f, h)?;
    let statistic = mean / standard_error;
    Some(NestedTest {
        statistic,
        p_value: normal_sf(statistic).clamp(0.0, 1.0),
        mean_adjusted_difference: mean,
        n,
        kernel,
    })
}

/// Block length of every bootstrap of h-step forecast errors: at least 2h (overlapping targets
/// are MA(h - 1), so shorter blocks cut their dependence and the interval comes out too
/// narrow) and at least n^(1/3) (the usual rate), never more than n.
pub fn block_length(n: usize, h: usize) -> usize {
    let cube_root = (n as f64).cbrt().ceil() as usize;
    cube_root.max(2 * h.max(1)).clamp(1, n.max(1))
}

/// The circular block bootstrap over n windows (Politis and Romano 1992): each resample is
/// blocks of `block` consecutive windows, wrapping past the end, from uniform random starts,
/// so every window is drawn equally often. Sums over a resample come from prefix sums, so a
/// resample costs n / block additions per series.
pub struct CircularBlocks {
    n: usize,
    block: usize,
    rng: StdRng,
}

impl CircularBlocks {
    pub fn new(n: usize, block: usize, seed: u64) -> Self {
        Self {
            n,
            block: block.clamp(1, n.max(1)),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// The (start, length) of each block of the next resample; lengths add up to n.
    pub fn next_resample(&mut self) -> Vec<(usize, usize)> {
        let mut blocks = Vec::with_capacity(self.n / self.block + 1);
        let mut taken = 0;
        while taken < self.n {
            let len = self.block.min(self.n - taken);
            blocks.push((self.rng.random_range(0..self.n), len));
            taken += len;
        }
        blocks
    }
}

/// Prefix sums of a series laid twice end to end, so that any circular block's sum is one
/// subtraction.
pub struct CircularSums(Vec<f64>);

impl CircularSums {
    pub fn new(values: &[f64]) -> Self {
        let mut prefix = Vec::with_capacity(2 * values.len() + 1);
        prefix.push(0.0);
        for v in values.iter().chain(values) {
            prefix.push(prefix.last().copied().unwrap_or(0.0) + v);
        }
        Self(prefix)
    }

    /// Sum over a resample's blocks.
    pub fn sum(&self, blocks: &[(usize, usize)]) -> f64 {
        blocks
            .iter()
            .map(|&(start, len)| self.0[start + len] - self.0[start])
            .sum()
    }
}

/// Skill `1 - Σ|a| / Σ|b|` (MAE of `a` against the MAE of `b`) with a circular block bootstrap
/// 95% percentile interval: blocks of [`block_length`] windows for horizon `h`,
/// `BOOTSTRAP_RESAMPLES` resamples from a fixed seed.
pub fn skill_interval(errors_a: &[f64], errors_b: &[f64], h: usize) -> Option<SkillInterval> {
    let n = errors_a.len().min(errors_b.len());
    skill_interval_with(
        &errors_a[..n],
        &errors_b[..n],
        block_length(n, h),
        BOOTSTRAP_RESAMPLES,
    )
}

fn skill_interval_with(
    errors_a: &[f64],
    errors_b: &[f64],
    block: usize,
    resamples: usize,
) -> Option<SkillInterval> {
    let n = errors_a.len();
    if n < 3 {
        return None;
    }
    let abs_a: Vec<f64> = errors_a.iter().map(|e| e.abs()).collect();
    let abs_b: Vec<f64> = errors_b.iter().map(|e| e.abs()).collect();
    let skill = |sa: f64, sb: f64| if sb > 0.0 { 1.0 - sa / sb } else { f64::NAN };
    let point = skill(abs_a.iter().sum(), abs_b.iter().sum());
    if !point.is_finite() {
        return None;
    }
    let (sums_a, sums_b) = (CircularSums::new(&abs_a), CircularSums::new(&abs_b));
    let mut blocks = CircularBlocks::new(n, block, BOOTSTRAP_SEED);
    let mut draws = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        let resample = blocks.next_resample();
        let k = skill(sums_a.sum(&resample), sums_b.sum(&resample));
        if k.is_finite() {
            draws.push(k);
        }
    }
    if draws.len() < resamples / 2 {
        return None;
    }
    draws.sort_by(f64::total_cmp);
    let at = |q: f64| draws[((q * draws.len() as f64) as usize).min(draws.len() - 1)];
    Some(SkillInterval {
        skill: point,
        lower: at(0.025),
        upper: at(0.975),
        block_length: blocks.block,
        resamples: draws.len(),
    })
}

/// P(Z > z) for a standard normal Z (erfc by Numerical Recipes' Chebyshev fit, |error| < 1.2e-7).
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// P(Z <= z) for a standard normal Z.
pub fn normal_cdf(z: f64) -> f64 {
    normal_sf(-z)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// The standard normal quantile Φ⁻¹(p) for 0 < p < 1 (Acklam's rational approximation, relative
/// error below 1.2e-9); -inf and +inf at 0 and 1.
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    if !(p > 0.0) {
        return f64::NEG_INFINITY;
    }
    if !(p < 1.0) {
        return f64::INFINITY;
    }
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    const LOW: f64 = 0.024_25;
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
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

/// Solves A w = b for symmetric positive definite A (row-major d x d) by Cholesky; `None` when A
/// is not positive definite.
pub(crate) fn solve_spd(mut a: Vec<f64>, mut b: Vec<f64>, d: usize) -> Option<Vec<f64>> {
    // Lower-triangular L in place, row by row: each entry is a dot product of two row prefixes.
    for i in 0..d {
        for j in 0..=i {
            let (ri, rj) = (i * d, j * d);
            let dot: f64 = a[ri..ri + j]
                .iter()
                .zip(&a[rj..rj + j])
                .map(|(x, y)| x * y)
                .sum();
            let v = a[ri + j] - dot;
            if i == j {
                if !(v > 0.0) {
                    return None;
                }
                a[ri + i] = v.sqrt();
            } else {
                a[ri + j] = v / a[rj + j];
            }
        }
    }
    for i in 0..d {
        let dot: f64 = a[i * d..i * d + i]
            .iter()
            .zip(&b[..i])
            .map(|(x, y)| x * y)
            .sum();
        b[i] = (b[i] - dot) / a[i * d + i];
    }
    for i in (0..d).rev() {
        let mut s = b[i];
        for k in i + 1..d {
            s -= a[k * d + i] * b[k];
        }
        b[i] = s / a[i * d + i];
    }
    Some(b)
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
        // d = a² - b² = [-3, -2.25, -0.75, 1.25, -3, -2.25], mean -10/6 = -1.666667.
        // γ0 = 13.583333 / 6 = 2.263889, γ1 = -0.194444 / 6 = -0.032407 (divided by n, as R's
        // acf). Equal weights up to lag h - 1 = 1: V = γ0 + 2γ1 = 2.199074.
        // DM = mean / sqrt(V / 6) = -2.752998; HLN factor sqrt((6 + 1 - 4 + 2/6) / 6) = 0.745356;
        // statistic -2.051957, two-sided p from t(5) 0.095405 (R's forecast::dm.test and a
        // NumPy/SciPy re-implementation agree).
        let t = diebold_mariano(&a, &b, 2, Loss::Squared).unwrap();
        assert!((t.mean_loss_difference + 1.666_667).abs() < 1e-5, "{t:?}");
        assert!((t.statistic + 2.051_957).abs() < 1e-5, "{t:?}");
        assert!((t.p_value - 0.095_405).abs() < 1e-5, "{t:?}");
        assert_eq!(t.kernel, Some(VarianceKernel::Rectangular));
        assert_eq!(t.n, 6);
        // h = 1: V = γ0; statistic -2.476887, p 0.056055.
        let t = diebold_mariano(&a, &b, 1, Loss::Squared).unwrap();
        assert!((t.statistic + 2.476_887).abs() < 1e-5, "{t:?}");
        assert!((t.p_value - 0.056_055).abs() < 1e-5, "{t:?}");
        // Identical forecasts: undefined, not "significant".
        assert!(diebold_mariano(&a, &a, 1, Loss::Absolute).is_none());
    }

    #[test]
    fn clark_west_equals_the_hand_computation() {
        let y = [0.010, -0.020, 0.005, 0.015, -0.010, 0.020, 0.003, -0.004];
        let model = [0.004, -0.006, 0.001, 0.007, -0.002, 0.005, -0.001, 0.000];
        let zeros = [0.0; 8];
        // f = y² - ((y - m)² - m²), mean 9.675e-5; h = 1: statistic 2.827163, one-sided normal
        // p 0.0023481 (NumPy/SciPy).
        let t = clark_west(&y, &zeros, &model, 1).unwrap();
        assert!(
            (t.mean_adjusted_difference - 9.675e-5).abs() < 1e-12,
            "{t:?}"
        );
        assert!((t.statistic - 2.827_163).abs() < 1e-5, "{t:?}");
        assert!((t.p_value - 0.002_348_1).abs() < 1e-6, "{t:?}");
        assert_eq!(t.kernel, VarianceKernel::Rectangular);
        // h = 2: the rectangular sum is negative here, so Bartlett weights up to lag 4 are used
        // (and said): statistic 4.061339.
        let t = clark_west(&y, &zeros, &model, 2).unwrap();
        assert_eq!(t.kernel, VarianceKernel::Bartlett);
        assert!((t.statistic - 4.061_339).abs() < 1e-5, "{t:?}");
        // A model equal to the nested forecast: no variation, undefined.
        assert!(clark_west(&y, &zeros, &zeros, 1).is_none_or(|t| t.statistic.abs() < 1e-9));
    }

    #[test]
    fn normal_quantiles_match_scipy() {
        for (p, z) in [
            (1e-10, -6.361_340_902_404_056),
            (0.001, -3.090_232_306_167_813),
            (0.024_25, -1.972_961_051_311_885),
            (0.3, -0.524_400_512_708_040_9),
            (0.5, 0.0),
            (0.975, 1.959_963_984_540_054),
            (0.999, 3.090_232_306_167_813),
        ] {
            assert!(
                (normal_quantile(p) - z).abs() < 1e-8,
                "{p}: {}",
                normal_quantile(p)
            );
        }
        assert_eq!(normal_quantile(0.0), f64::NEG_INFINITY);
        assert_eq!(normal_quantile(1.0), f64::INFINITY);
    }

    #[test]
    fn bootstrap_interval_brackets_the_point_estimate() {
        let a: Vec<f64> = (0..500)
            .map(|i| ((i * 37 % 101) as f64 - 50.0) * 0.9)
            .collect();
        let b: Vec<f64> = (0..500).map(|i| (i * 53 % 103) as f64 - 51.0).collect();
        let s = skill_interval(&a, &b, 1).unwrap();
        assert!(s.lower < s.skill && s.skill < s.upper, "{s:?}");
        assert_eq!(s.block_length, 8);
        // Reproducible.
        assert_eq!(skill_interval(&a, &b, 1).unwrap(), s);
        assert!(skill_interval(&a[..2], &b[..2], 1).is_none());
        // Blocks of at least 2h.
        assert_eq!(skill_interval(&a, &b, 24).unwrap().block_length, 48);
        assert_eq!(block_length(300, 1), 7);
        assert_eq!(block_length(2669, 24), 48);
        assert_eq!(block_length(10, 24), 10);
    }

    fn normal(rng: &mut StdRng) -> f64 {
        use rand::distr::{Distribution, StandardUniform};
        // Box-Muller from two uniforms.
        let u1: f64 = StandardUniform.sample(rng);
        let u2: f64 = StandardUniform.sample(rng);
        (-2.0 * (1.0 - u1).ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Overlapping h-sums of i.i.d. normal shocks: an MA(h - 1) series with equal weights, the
    /// dependence of the errors of h-step forecasts.
    fn moving_sums(rng: &mut StdRng, n: usize, h: usize) -> Vec<f64> {
        let shocks: Vec<f64> = (0..n + h).map(|_| normal(rng)).collect();
        (0..n).map(|t| shocks[t..t + h].iter().sum()).collect()
    }

    /// Rejection rate at 5% when the loss differential is an MA(h - 1) with mean zero (what
    /// overlapping h-step targets give): equal accuracy holds, so it must be about 5%. The
    /// differential reaches the test through the public entry point: absolute errors 100 + d_t
    /// against a constant 100.
    fn dm_rejection_rate(h: usize, n: usize, replications: usize) -> f64 {
        let mut rng = StdRng::seed_from_u64(17 + h as u64);
        let baseline = vec![100.0; n];
        let mut rejected = 0;
        for _ in 0..replications {
            let model: Vec<f64> = moving_sums(&mut rng, n, h)
                .iter()
                .map(|d| 100.0 + d)
                .collect();
            if let Some(t) = diebold_mariano(&model, &baseline, h, Loss::Absolute)
                && t.p_value < 0.05
            {
                rejected += 1;
            }
        }
        rejected as f64 / replications as f64
    }

    #[test]
    fn diebold_mariano_holds_its_size_with_overlapping_targets() {
        // With Bartlett weights up to lag h - 1 (the old kernel) these reject 10-13%.
        for (h, n) in [(1, 500), (4, 500), (24, 2_000)] {
            let rate = dm_rejection_rate(h, n, 1_000);
            assert!((0.03..=0.07).contains(&rate), "h = {h}: rejects {rate}");
        }
    }

    /// Share of 95% skill intervals that contain the true skill when the loss differential is
    /// an MA(h - 1): the baseline errs by 10 + e_t (e i.i.d. standard normal), the model by the
    /// same minus 0.1 plus an overlapping h-sum of shocks scaled to unit variance, so the true
    /// skill is 1 - 9.9 / 10 = 0.01 and only blocks that span h windows keep the dependence.
    fn coverage(h: usize, n: usize, replications: usize) -> f64 {
        let mut rng = StdRng::seed_from_u64(99 + h as u64);
        let scale = 1.0 / (h as f64).sqrt();
        let mut covered = 0;
        for _ in 0..replications {
            let u = moving_sums(&mut rng, n, h);
            let b: Vec<f64> = (0..n).map(|_| 10.0 + normal(&mut rng)).collect();
            let a: Vec<f64> = b.iter().zip(&u).map(|(b, u)| b - 0.1 + scale * u).collect();
            let s = skill_interval_with(&a, &b, block_length(n, h), 500).unwrap();
            if s.lower <= 0.01 && 0.01 <= s.upper {
                covered += 1;
            }
        }
        covered as f64 / replications as f64
    }

    #[test]
    fn skill_intervals_cover_the_true_skill() {
        // With blocks of round(n^(1/3)) regardless of h (the old rule: 13 windows here) the
        // h = 24 interval covers about 77%.
        for (h, n, floor) in [(1, 600, 0.88), (4, 600, 0.88), (24, 2_400, 0.85)] {
            let rate = coverage(h, n, 300);
            assert!(
                (floor..=0.99).contains(&rate),
                "h = {h}, n = {n}: the 95% interval covers {rate}"
            );
        }
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
