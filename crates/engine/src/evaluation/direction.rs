//! Direction figures on non-overlapping windows: the hit rate and the Pesaran-Timmermann test,
//! withheld (with the reason) when there are too few windows or the forecast (almost) never
//! changes sign.

use super::*;

/// Why the direction figures of `predicted` on `positions` (non-overlapping windows) would mean
/// nothing, if they would: no call at all, fewer than `DIRECTION_MIN_WINDOWS` windows, or a
/// forecast whose rarer sign falls on under `DIRECTION_MIN_SIGN_SHARE` of them (its hit rate
/// is then the share of moves in its usual direction, not a skill).
pub fn direction_withheld(predicted: &[f64], positions: &[usize]) -> Option<DirectionWithheld> {
    if positions.iter().all(|&i| predicted[i] == 0.0) {
        return Some(DirectionWithheld::NoCalls);
    }
    if positions.len() < DIRECTION_MIN_WINDOWS {
        return Some(DirectionWithheld::TooFewWindows {
            windows: positions.len(),
            needed: DIRECTION_MIN_WINDOWS,
        });
    }
    let count = |up: bool| {
        positions
            .iter()
            .filter(|&&i| {
                if up {
                    predicted[i] > 0.0
                } else {
                    predicted[i] < 0.0
                }
            })
            .count()
    };
    let minority_share = count(true).min(count(false)) as f64 / positions.len() as f64;
    (minority_share < DIRECTION_MIN_SIGN_SHARE).then_some(DirectionWithheld::OneSided {
        minority_share,
        needed: DIRECTION_MIN_SIGN_SHARE,
    })
}

/// Hit rate on `positions` and, when defined, the Pesaran-Timmermann (statistic, one-sided
/// p-value). `None` when the predictor never calls a direction (all zero) or no window is left.
pub(super) fn directional(
    predicted: &[f64],
    actual: &[f64],
    positions: &[usize],
) -> Option<(f64, Option<(f64, f64)>)> {
    if positions.is_empty() || positions.iter().all(|&i| predicted[i] == 0.0) {
        return None;
    }
    let pred_up: Vec<bool> = positions.iter().map(|&i| predicted[i] > 0.0).collect();
    let act_up: Vec<bool> = positions.iter().map(|&i| actual[i] > 0.0).collect();
    let hits = pred_up.iter().zip(&act_up).filter(|(p, a)| p == a).count();
    let hit_rate = hits as f64 / positions.len() as f64;
    Some((hit_rate, pesaran_timmermann(&pred_up, &act_up)))
}

/// Pesaran & Timmermann (1992) test of independence between predicted and actual directions:
/// (statistic, one-sided p-value). `None` when undefined: fewer than two calls, or the forecasts
/// or the outcomes all one way (decided by counting, not by a variance that cancels to 1e-19).
pub fn pesaran_timmermann(pred_up: &[bool], act_up: &[bool]) -> Option<(f64, f64)> {
    let count = pred_up.len();
    if count < 2 {
        return None;
    }
    let ups = |v: &[bool]| v.iter().filter(|b| **b).count();
    let (pred_ups, act_ups) = (ups(pred_up), ups(act_up));
    if pred_ups == 0 || pred_ups == count || act_ups == 0 || act_ups == count {
        return None;
    }
    let n = count as f64;
    let (px, py) = (pred_ups as f64 / n, act_ups as f64 / n);
    let p = pred_up.iter().zip(act_up).filter(|(a, b)| a == b).count() as f64 / n;
    let p_star = py * px + (1.0 - py) * (1.0 - px);
    let var_p = p_star * (1.0 - p_star) / n;
    let var_p_star = (2.0 * py - 1.0).powi(2) * px * (1.0 - px) / n
        + (2.0 * px - 1.0).powi(2) * py * (1.0 - py) / n
        + 4.0 * py * px * (1.0 - py) * (1.0 - px) / (n * n);
    let var = var_p - var_p_star;
    if !(var > 1e-12) {
        return None;
    }
    let stat = (p - p_star) / var.sqrt();
    Some((stat, normal_sf(stat)))
}
