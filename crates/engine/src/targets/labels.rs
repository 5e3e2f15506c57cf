//! The labels of the new targets, from closes: realised volatility of the next h bars (modelled
//! in logs) and whether the close h bars ahead is above this close. A label of the window ending
//! at bar `t` uses bars `t + 1 ..= t + h` only, and no input of that window does (the windows'
//! inputs end at `t`), so labels never leak into inputs.

use super::RV_FLOOR;

/// Log returns of `closes`: `r[i] = ln(closes[i] / closes[i - 1])`, with `r[0] = 0` (bar 0 has
/// no previous close; no label or baseline reads it).
pub fn log_returns(closes: &[f64]) -> Vec<f64> {
    let mut r = vec![0.0; closes.len()];
    for i in 1..closes.len() {
        r[i] = (closes[i] / closes[i - 1]).ln();
    }
    r
}

/// Realised volatility of bars `t + 1 ..= t + h`: the square root of the sum of their squared
/// log returns, at least [`RV_FLOOR`]; `None` when those bars are not all there.
pub fn realised_volatility(returns: &[f64], t: usize, h: usize) -> Option<f64> {
    let end = t.checked_add(h)?;
    if h == 0 || end >= returns.len() {
        return None;
    }
    let sum: f64 = returns[t + 1..=end].iter().map(|r| r * r).sum();
    Some(sum.sqrt().max(RV_FLOOR))
}

/// The volatility target as networks learn it: the log of [`realised_volatility`].
pub fn log_volatility_label(returns: &[f64], t: usize, h: usize) -> Option<f64> {
    realised_volatility(returns, t, h).map(f64::ln)
}

/// The direction label: 1 when the close `h` bars after bar `t` is above bar `t`'s close, else 0
/// (an unchanged close is not "above"); `None` when that close is not there.
pub fn direction_label(closes: &[f64], t: usize, h: usize) -> Option<f64> {
    let ahead = *closes.get(t.checked_add(h)?)?;
    (h > 0).then(|| f64::from(u8::from(ahead > closes[t])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_match_a_hand_computation_on_a_tiny_series() {
        let closes = [100.0, 101.0, 99.0, 99.0, 102.0];
        let r = log_returns(&closes);
        // By hand: r1 = ln(1.01), r2 = ln(99/101), r3 = 0, r4 = ln(102/99).
        let (r1, r2, r4) = (1.01f64.ln(), (99.0f64 / 101.0).ln(), (102.0f64 / 99.0).ln());
        assert!((r[1] - r1).abs() < 1e-15 && (r[2] - r2).abs() < 1e-15);
        assert_eq!(r[3], 0.0);
        // Window ending at bar 1, h = 3: bars 2, 3, 4.
        let rv = realised_volatility(&r, 1, 3).unwrap();
        assert!((rv - (r2 * r2 + r4 * r4).sqrt()).abs() < 1e-15, "{rv}");
        assert!((log_volatility_label(&r, 1, 3).unwrap() - rv.ln()).abs() < 1e-15);
        // Not enough bars ahead, and a flat span floored instead of a log of zero.
        assert_eq!(realised_volatility(&r, 2, 3), None);
        assert_eq!(realised_volatility(&r, 2, 1), Some(RV_FLOOR));
        // Direction: 102 > 101 (t = 1, h = 3); 99 is not above 99 (t = 2, h = 1).
        assert_eq!(direction_label(&closes, 1, 3), Some(1.0));
        assert_eq!(direction_label(&closes, 2, 1), Some(0.0));
        assert_eq!(direction_label(&closes, 0, 2), Some(0.0));
        assert_eq!(direction_label(&closes, 3, 2), None);
    }

    #[test]
    fn a_label_reads_only_the_bars_after_its_window() {
        let closes: Vec<f64> = (0..50).map(|i| 100.0 + (i as f64 * 0.7).sin()).collect();
        let r = log_returns(&closes);
        let (t, h) = (20, 4);
        let rv = realised_volatility(&r, t, h).unwrap();
        let up = direction_label(&closes, t, h).unwrap();
        // Changing any bar up to t (the window's inputs) leaves the RV label as it was; the
        // bars after t + h never matter.
        let mut before = closes.clone();
        for c in &mut before[..t] {
            *c *= 1.5;
        }
        let rb = log_returns(&before);
        assert_eq!(realised_volatility(&rb, t, h), Some(rv));
        let mut after = closes.clone();
        for c in &mut after[t + h + 1..] {
            *c *= 3.0;
        }
        let ra = log_returns(&after);
        assert_eq!(realised_volatility(&ra, t, h), Some(rv));
        assert_eq!(direction_label(&after, t, h), Some(up));
    }
}
