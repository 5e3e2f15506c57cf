//! Vector-friendly maths for the fused kernels and the CPU dispatch that compiles each hot loop
//! for AVX-512, AVX2+FMA and the baseline, picking one at run time.
//!
//! `f32::exp` is a library call the compiler cannot vectorise, and an LSTM step takes four
//! activations per unit, so the activations here use a branch-free exponential (Cephes' `expf`:
//! range reduction by ln 2, a degree-5 polynomial, the power of two built in the exponent bits).
//! Its relative error is below 2e-7 over the range that matters, well inside the 1e-4 parity and
//! gradient tolerances.

/// Instruction sets a hot loop is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Baseline,
    /// AVX2 + FMA (x86-64-v3).
    V3,
    /// AVX-512 F/BW/DQ/VL (x86-64-v4).
    V4,
}

/// The best level this CPU supports (detected once; the standard library caches the answer).
#[inline]
pub fn level() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("fma")
        {
            return Level::V4;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Level::V3;
        }
    }
    Level::Baseline
}

/// Defines `pub fn $name(args)` whose body is compiled three times (AVX-512, AVX2+FMA, baseline)
/// and dispatched on `level()`. The body must be safe code; helpers it calls must be
/// `#[inline(always)]` to be compiled for the same level.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,bmi1,bmi2,lzcnt")]
                fn v4($($arg: $ty),*) { body($($arg),*) }
                #[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt")]
                fn v3($($arg: $ty),*) { body($($arg),*) }
                match $crate::kernels::simd::level() {
                    // SAFETY: `level()` confirmed the CPU has these instruction sets.
                    $crate::kernels::simd::Level::V4 => return unsafe { v4($($arg),*) },
                    $crate::kernels::simd::Level::V3 => return unsafe { v3($($arg),*) },
                    $crate::kernels::simd::Level::Baseline => {}
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use multiversion;

/// e^x for f32, branch-free (Cephes `expf`); inputs are clamped to about ±88 so the result
/// stays finite. Rounding and the power of two use the 1.5·2^23 trick instead of `floor` and
/// `as i32` (whose saturating semantics keep the compiler from vectorising the loop).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer in the low bits.
    // max/min, not clamp: a NaN input maps to the lower bound instead of staying NaN.
    #[allow(clippy::manual_clamp)]
    let x = x.max(-87.3).min(88.3);
    // n = round(x / ln 2), r = x - n ln 2 in two steps for precision.
    let shifted = x * LOG2E + MAGIC;
    let n = shifted - MAGIC;
    let r = x - n * C1 - n * C2;
    let r2 = r * r;
    let p = ((((1.987_569_1e-4 * r + 1.398_2e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 5e-1;
    let y = p * r2 + r + 1.0;
    // 2^n through the exponent bits: the low bits of `shifted` hold n (in [-126, 127]).
    let n_bits = shifted.to_bits().wrapping_sub(MAGIC.to_bits());
    let pow2 = f32::from_bits(n_bits.wrapping_add(127) << 23);
    y * pow2
}

/// The logistic function 1 / (1 + e^-x).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// tanh(x) = 1 - 2 / (e^2x + 1); exact to about 1e-7 absolute.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activations_match_the_standard_library() {
        let mut worst = (0.0f32, 0.0f32, 0.0f32);
        for i in -20_000..=20_000 {
            let x = i as f32 * 0.002;
            let e = (exp(x) - x.exp()).abs() / x.exp();
            let s = (sigmoid(x) - 1.0 / (1.0 + (-x).exp())).abs();
            let t = (tanh(x) - x.tanh()).abs();
            worst = (worst.0.max(e), worst.1.max(s), worst.2.max(t));
        }
        assert!(worst.0 < 3e-7, "exp relative error {}", worst.0);
        assert!(worst.1 < 2e-7, "sigmoid error {}", worst.1);
        assert!(worst.2 < 3e-7, "tanh error {}", worst.2);
        // Far tails stay finite and saturate.
        assert_eq!(sigmoid(-200.0), 0.0f32.max(sigmoid(-200.0)));
        assert!(sigmoid(-200.0) < 1e-30 && (sigmoid(200.0) - 1.0).abs() < 1e-7);
        assert!((tanh(50.0) - 1.0).abs() < 1e-7 && (tanh(-50.0) + 1.0).abs() < 1e-7);
        assert!(exp(1000.0).is_finite() && exp(-1000.0) >= 0.0);
    }
}
