//! A causal maximal-overlap wavelet transform (MODWT, Percival & Walden 2000, ch. 5), computed
//! by the à trous pyramid: level j filters level j - 1's smooth with the filter's taps spaced
//! 2^(j-1) apart, looking back only. Coefficient t uses inputs t - (L_j - 1) ..= t, where
//! L_j = (2^j - 1)(L - 1) + 1; rows with fewer inputs behind them are NaN (the caller drops them
//! as warm-up).
//!
//! Written here rather than taken from a crate: the wavelet crates on crates.io transform a whole
//! series with a periodic (or symmetric) boundary, so the first coefficients wrap around to the
//! series' end and coefficients aligned by zero-phase shifts read later values; both leak the
//! future into a model's inputs. The causal filter bank is a few convolutions; a test below shows
//! the whole-series transform is not causal and this one is.

/// A wavelet filter pair (Daubechies' orthonormal filters; the MODWT rescales them by 1/√2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wavelet {
    /// Haar (length 2): the detail at level 1 is half the last change.
    Haar,
    /// Daubechies' extremal-phase filter of length 4 (two vanishing moments: linear trends
    /// leave no detail).
    Daubechies4,
}

impl Wavelet {
    /// The orthonormal scaling filter g (sums to √2).
    pub fn scaling_filter(self) -> Vec<f64> {
        match self {
            Self::Haar => vec![std::f64::consts::FRAC_1_SQRT_2; 2],
            Self::Daubechies4 => {
                let s3 = 3f64.sqrt();
                let d = 4.0 * std::f64::consts::SQRT_2;
                vec![
                    (1.0 + s3) / d,
                    (3.0 + s3) / d,
                    (3.0 - s3) / d,
                    (1.0 - s3) / d,
                ]
            }
        }
    }

    /// The wavelet filter h, the quadrature mirror of g: h_l = (-1)^l g_(L-1-l) (sums to 0).
    pub fn wavelet_filter(self) -> Vec<f64> {
        let g = self.scaling_filter();
        let n = g.len();
        (0..n)
            .map(|l| {
                if l % 2 == 0 {
                    g[n - 1 - l]
                } else {
                    -g[n - 1 - l]
                }
            })
            .collect()
    }

    /// Inputs a level-`level` coefficient spans: (2^level - 1)(L - 1) + 1.
    pub fn span(self, level: u32) -> usize {
        ((1usize << level) - 1) * (self.scaling_filter().len() - 1) + 1
    }

    /// Short name used in feature columns.
    pub fn short_name(self) -> &'static str {
        match self {
            Self::Haar => "haar",
            Self::Daubechies4 => "db4",
        }
    }
}

/// The causal MODWT of `x` to `levels` levels: `levels` detail series W_1..W_J and the smooth
/// V_J, each as long as `x`. A coefficient is NaN where its span reaches before the first input
/// or covers a NaN input.
pub fn causal_modwt(x: &[f64], wavelet: Wavelet, levels: u32) -> (Vec<Vec<f64>>, Vec<f64>) {
    let scale = std::f64::consts::FRAC_1_SQRT_2;
    let g: Vec<f64> = wavelet.scaling_filter().iter().map(|v| v * scale).collect();
    let h: Vec<f64> = wavelet.wavelet_filter().iter().map(|v| v * scale).collect();
    let mut smooth = x.to_vec();
    let mut details = Vec::with_capacity(levels as usize);
    for j in 1..=levels {
        let step = 1usize << (j - 1);
        let filter = |taps: &[f64], input: &[f64]| -> Vec<f64> {
            (0..input.len())
                .map(|t| {
                    // NaN where a tap falls before the first input (never wrap around).
                    let reach = step * (taps.len() - 1);
                    if t < reach {
                        return f64::NAN;
                    }
                    taps.iter()
                        .enumerate()
                        .map(|(l, c)| c * input[t - step * l])
                        .sum()
                })
                .collect()
        };
        details.push(filter(&h, &smooth));
        smooth = filter(&g, &smooth);
    }
    (details, smooth)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The standard whole-series MODWT (periodic boundary, as wavelet libraries compute it).
    fn circular_modwt(x: &[f64], wavelet: Wavelet, levels: u32) -> (Vec<Vec<f64>>, Vec<f64>) {
        let n = x.len();
        let scale = std::f64::consts::FRAC_1_SQRT_2;
        let g: Vec<f64> = wavelet.scaling_filter().iter().map(|v| v * scale).collect();
        let h: Vec<f64> = wavelet.wavelet_filter().iter().map(|v| v * scale).collect();
        let mut smooth = x.to_vec();
        let mut details = Vec::new();
        for j in 1..=levels {
            let step = 1usize << (j - 1);
            let filter = |taps: &[f64], input: &[f64]| -> Vec<f64> {
                (0..n)
                    .map(|t| {
                        taps.iter()
                            .enumerate()
                            .map(|(l, c)| c * input[(t + n * taps.len() - step * l) % n])
                            .sum()
                    })
                    .collect()
            };
            details.push(filter(&h, &smooth));
            smooth = filter(&g, &smooth);
        }
        (details, smooth)
    }

    #[test]
    fn filters_are_orthonormal_quadrature_mirrors() {
        for w in [Wavelet::Haar, Wavelet::Daubechies4] {
            let g = w.scaling_filter();
            let h = w.wavelet_filter();
            assert!((g.iter().sum::<f64>() - std::f64::consts::SQRT_2).abs() < 1e-12);
            assert!(h.iter().sum::<f64>().abs() < 1e-12);
            let energy: f64 = g.iter().map(|v| v * v).sum();
            assert!((energy - 1.0).abs() < 1e-12, "{w:?}");
            // Orthogonal to its even shifts.
            for shift in (2..g.len()).step_by(2) {
                let dot: f64 = (shift..g.len()).map(|l| g[l] * g[l - shift]).sum();
                assert!(dot.abs() < 1e-12, "{w:?} shift {shift}");
            }
        }
        // D4 by its published values (Daubechies 1992, table 6.1, scaled to sum √2).
        let g = Wavelet::Daubechies4.scaling_filter();
        let published = [
            0.482_962_913_1,
            0.836_516_303_7,
            0.224_143_868_0,
            -0.129_409_522_6,
        ];
        for (a, b) in g.iter().zip(published) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
    }

    #[test]
    fn haar_coefficients_match_a_hand_computation() {
        // x = 1, 2, 4, 8, 16, 32, 64, 128.
        let x: Vec<f64> = (0..8).map(|i| f64::from(1 << i)).collect();
        let (d, s) = causal_modwt(&x, Wavelet::Haar, 2);
        // Level 1: W = (x_t - x_(t-1)) / 2, V = (x_t + x_(t-1)) / 2 (the filters are 1/√2 scaled
        // by 1/√2 again: equal to 1/2 within rounding).
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(d[0][0].is_nan() && s[0].is_nan());
        assert!(close(d[0][1], 0.5), "{}", d[0][1]);
        assert!(close(d[0][3], 2.0), "{}", d[0][3]);
        // Level 2 (taps 2 apart): V1_t = 1.5, 3, 6, 12, 24 for t = 1..=5, so
        // W2_t = (V1_t - V1_(t-2)) / 2 and V2_t = (V1_t + V1_(t-2)) / 2.
        assert!(d[1][2].is_nan(), "level 2 needs V1 at t - 2 >= 1");
        assert!(close(d[1][3], (6.0 - 1.5) / 2.0), "{}", d[1][3]);
        assert!(close(s[3], (6.0 + 1.5) / 2.0), "{}", s[3]);
        assert!(close(d[1][5], (24.0 - 6.0) / 2.0), "{}", d[1][5]);
        assert!(close(s[5], (24.0 + 6.0) / 2.0), "{}", s[5]);
    }

    #[test]
    fn daubechies4_leaves_no_detail_in_a_linear_trend() {
        let x: Vec<f64> = (0..200).map(|t| 3.0 + 0.25 * f64::from(t)).collect();
        let (d, s) = causal_modwt(&x, Wavelet::Daubechies4, 3);
        let first = Wavelet::Daubechies4.span(3) - 1;
        for level in &d {
            for v in &level[first..] {
                assert!(v.abs() < 1e-9, "detail {v}");
            }
        }
        // The smooth of a line is the line delayed (the filter's centre of mass), finite.
        assert!(s[first..].iter().all(|v| v.is_finite()));
        // Haar's level-1 detail is half the slope.
        let (d, _) = causal_modwt(&x, Wavelet::Haar, 1);
        assert!((d[0][5] - 0.125).abs() < 1e-12);
    }

    #[test]
    fn causal_modwt_matches_the_circular_one_away_from_the_start() {
        let x: Vec<f64> = (0..300)
            .map(|t| (f64::from(t) * 0.37).sin() * 2.0 + f64::from(t % 7))
            .collect();
        for w in [Wavelet::Haar, Wavelet::Daubechies4] {
            let (dc, sc) = causal_modwt(&x, w, 4);
            let (dp, sp) = circular_modwt(&x, w, 4);
            let first = w.span(4) - 1;
            for t in first..x.len() {
                for j in 0..4 {
                    assert!((dc[j][t] - dp[j][t]).abs() < 1e-9, "{w:?} level {j} t {t}");
                }
                assert!((sc[t] - sp[t]).abs() < 1e-9);
            }
            assert!(dc[3][..first].iter().all(|v| v.is_nan()));
        }
    }

    #[test]
    fn the_whole_series_transform_sees_the_future_and_the_causal_one_does_not() {
        let x: Vec<f64> = (0..256).map(|t| (f64::from(t) * 0.21).cos()).collect();
        let mut later = x.clone();
        for v in &mut later[200..] {
            *v += 5.0;
        }
        for w in [Wavelet::Haar, Wavelet::Daubechies4] {
            // The standard transform: rows before 200 change when only later values do.
            let (a, _) = circular_modwt(&x, w, 4);
            let (b, _) = circular_modwt(&later, w, 4);
            let leaked = (0..200)
                .filter(|&t| (a[3][t] - b[3][t]).abs() > 1e-12)
                .count();
            assert!(
                leaked > 0,
                "{w:?}: the circular transform should wrap the future in"
            );
            // The causal one: every row before 200 identical (NaN warm-up rows included).
            let (a, sa) = causal_modwt(&x, w, 4);
            let (b, sb) = causal_modwt(&later, w, 4);
            for t in 0..200 {
                for j in 0..4 {
                    assert!(
                        a[j][t].to_bits() == b[j][t].to_bits(),
                        "{w:?} level {j} t {t}"
                    );
                }
                assert!(sa[t].to_bits() == sb[t].to_bits());
            }
            assert_ne!(a[0][200], b[0][200], "the perturbation had no effect");
        }
    }
}
