//! Every metric of one forecast on a window: price and return errors, skill against
//! persistence, MASE, and the direction figures where they mean something.

use super::direction::directional;
use super::*;

/// Positions of the windows the direction metrics use: every h-th (so targets do not overlap)
/// whose actual move is not exactly zero.
pub fn direction_positions(actual: &[f64], horizon: usize) -> Vec<usize> {
    (0..actual.len())
        .step_by(horizon.max(1))
        .filter(|&i| actual[i] != 0.0)
        .collect()
}

/// All metrics of `forecast` on `window`.
pub fn metrics(forecast: &Forecast<'_>, w: &EvaluationWindow<'_>) -> Metrics {
    let n = w.actual.len();
    let pairs = || {
        forecast
            .returns
            .iter()
            .zip(w.actual)
            .zip(w.closes)
            .map(|((p, a), c)| (*p, *a, *c))
    };
    let price_err = || pairs().map(|(p, a, c)| c * p.exp() - c * a.exp());
    let mae = mean(price_err().map(f64::abs));
    let rmse = mean(price_err().map(|e| e * e)).sqrt();
    let mape =
        mean(pairs().map(|(p, a, c)| ((c * p.exp() - c * a.exp()) / (c * a.exp())).abs())) * 100.0;
    let return_mae = mean(pairs().map(|(p, a, _)| (p - a).abs()));
    let sse: f64 = pairs().map(|(p, a, _)| (p - a).powi(2)).sum();
    let actual_mean = mean(w.actual.iter().copied());
    let sst: f64 = w.actual.iter().map(|a| (a - actual_mean).powi(2)).sum();
    let positions = direction_positions(w.actual, w.horizon);
    let withheld = direction_withheld(forecast.returns, &positions);
    let direction = match withheld {
        None => directional(forecast.returns, w.actual, &positions),
        Some(_) => None,
    };
    let pers = persistence_mae(w);
    Metrics {
        rmse_usd: rmse,
        mae_usd: mae,
        mape_pct: mape,
        return_rmse: (sse / n as f64).sqrt(),
        return_mae,
        return_r2: if sst > 0.0 { 1.0 - sse / sst } else { f64::NAN },
        directional_accuracy: direction.map(|d| d.0),
        pt_statistic: direction.and_then(|d| d.1).map(|pt| pt.0),
        pt_p_value: direction.and_then(|d| d.1).map(|pt| pt.1),
        skill_vs_persistence: if pers > 0.0 {
            1.0 - mae / pers
        } else {
            f64::NAN
        },
        mase: if w.naive_train_mae_return > 0.0 {
            return_mae / w.naive_train_mae_return
        } else {
            f64::NAN
        },
        direction_withheld: withheld,
    }
}
