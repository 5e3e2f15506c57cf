//! Value after costs: forecasts traded as a signal on non-overlapping windows (every h-th, each
//! held h bars), with fees and slippage charged on every unit of position changed, the final
//! exit included; beside buy-and-hold and the last move's sign on the same periods. The
//! Sharpe ratio comes with its standard error (Mertens 2002) and the probabilistic and
//! deflated Sharpe ratios of Bailey and López de Prado (2012, 2014). Pure functions; no I/O.

use atb_protocol::backtest::{
    Backtest, BacktestSpec, DeflatedSharpe, EQUITY_POINTS, Positions, ReturnMoments, SignalRule,
    StrategyResult,
};

use crate::stats::{normal_cdf, normal_quantile};

/// What a backtest trades on: one entry per evaluation window, in time order.
pub struct Signals<'a> {
    /// Forecast log return over the next h bars.
    pub forecast: &'a [f64],
    /// Realised log return over those h bars.
    pub actual: &'a [f64],
    /// Log return of the h bars that ended when the window closed (known at decision time).
    pub last_move: &'a [f64],
    /// Open time of the window's last candle (entry) and of its target candle (exit).
    pub entry_ms: &'a [i64],
    pub exit_ms: &'a [i64],
}

/// Milliseconds in a year of round-the-clock trading (crypto markets never close).
const YEAR_MS: f64 = 365.25 * 24.0 * 3600.0 * 1000.0;

/// Trades the model's forecasts and the two reference rules on every h-th window of `signals`
/// with `spec`'s costs. `None` with fewer than two periods.
pub fn backtest(
    signals: &Signals<'_>,
    horizon: usize,
    bar_ms: i64,
    spec: &BacktestSpec,
) -> Option<Backtest> {
    let h = horizon.max(1);
    let picks: Vec<usize> = (0..signals.actual.len()).step_by(h).collect();
    if picks.len() < 2 {
        return None;
    }
    let cost = spec.cost_per_side();
    let round_trip = 2.0 * cost;
    let simple: Vec<f64> = picks.iter().map(|&i| signals.actual[i].exp_m1()).collect();
    let side = |x: f64, positions: Positions| match positions {
        _ if x > 0.0 => 1.0,
        Positions::LongShort if x < 0.0 => -1.0,
        _ => 0.0,
    };
    let threshold = spec.settings().threshold;
    let mut strategies = Vec::new();
    for positions in spec.positions() {
        let model: Vec<f64> = picks
            .iter()
            .map(|&i| {
                let f = signals.forecast[i];
                // log(1 + round trip) ≈ round trip: the move must at least pay for the trade.
                if threshold && f.abs() <= round_trip {
                    0.0
                } else {
                    side(f, positions)
                }
            })
            .collect();
        let last: Vec<f64> = picks
            .iter()
            .map(|&i| side(signals.last_move[i], positions))
            .collect();
        strategies.push(run(SignalRule::Model, positions, &model, &simple, cost));
        strategies.push(run(
            SignalRule::LastMoveSign,
            positions,
            &last,
            &simple,
            cost,
        ));
    }
    let always = vec![1.0; picks.len()];
    strategies.push(run(
        SignalRule::BuyAndHold,
        Positions::LongFlat,
        &always,
        &simple,
        cost,
    ));
    let keep = thinned(picks.len());
    for s in &mut strategies {
        s.equity = keep.iter().map(|&k| s.equity[k]).collect();
    }
    Some(Backtest {
        spec: *spec,
        horizon: h,
        periods: picks.len(),
        periods_per_year: YEAR_MS / (h as f64 * bar_ms as f64),
        first_open_ms: signals.entry_ms[picks[0]],
        last_open_ms: signals.exit_ms[*picks.last()?],
        equity_times_ms: keep.iter().map(|&k| signals.exit_ms[picks[k]]).collect(),
        strategies: strategies
            .into_iter()
            .map(|s| annualise(s, YEAR_MS / (h as f64 * bar_ms as f64)))
            .collect(),
    })
}

/// At most `EQUITY_POINTS` indices of `n`, evenly spaced, the last always kept.
fn thinned(n: usize) -> Vec<usize> {
    if n <= EQUITY_POINTS {
        return (0..n).collect();
    }
    (0..EQUITY_POINTS)
        .map(|k| k * (n - 1) / (EQUITY_POINTS - 1))
        .collect()
}

/// One rule's per-period accounting: position `pos[k]` held over period k earns
/// `pos[k] * simple[k]`; every change of position costs `cost` per unit, and so does the exit
/// after the last period. Sharpe figures are per period here (see `annualise`).
fn run(
    rule: SignalRule,
    positions: Positions,
    pos: &[f64],
    simple: &[f64],
    cost: f64,
) -> StrategyResult {
    let n = pos.len();
    let mut net = Vec::with_capacity(n);
    let (mut equity, mut gross_equity) = (Vec::with_capacity(n), 1.0f64);
    let (mut value, mut peak, mut max_drawdown) = (1.0f64, 1.0f64, 0.0f64);
    let (mut traded, mut trades) = (0.0f64, 0usize);
    let (mut in_market, mut hits) = (0usize, 0usize);
    let mut previous = 0.0;
    for k in 0..n {
        let mut change = (pos[k] - previous).abs();
        if k + 1 == n {
            change += pos[k].abs();
        }
        if (pos[k] - previous).abs() > 0.0 {
            trades += 1;
        }
        if k + 1 == n && pos[k] != 0.0 {
            trades += 1;
        }
        traded += change;
        let gross = pos[k] * simple[k];
        if pos[k] != 0.0 {
            in_market += 1;
            if gross > 0.0 {
                hits += 1;
            }
        }
        let r = gross - cost * change;
        net.push(r);
        value *= 1.0 + r;
        gross_equity *= 1.0 + gross;
        peak = peak.max(value);
        max_drawdown = max_drawdown.max(1.0 - value / peak);
        equity.push(value);
        previous = pos[k];
    }
    let moments = moments(&net);
    StrategyResult {
        rule,
        positions,
        total_return: value - 1.0,
        gross_return: gross_equity - 1.0,
        sharpe: sharpe(&moments),
        sharpe_se: sharpe_standard_error(&moments),
        max_drawdown,
        turnover: traded / n as f64,
        exposure: in_market as f64 / n as f64,
        hit_rate: (in_market > 0).then(|| hits as f64 / in_market as f64),
        trades,
        probabilistic_sharpe: probabilistic_sharpe(&moments, 0.0),
        moments,
        equity,
    }
}

/// Per-period Sharpe and its standard error scaled to a year.
fn annualise(mut s: StrategyResult, periods_per_year: f64) -> StrategyResult {
    let k = periods_per_year.sqrt();
    s.sharpe *= k;
    s.sharpe_se *= k;
    s
}

/// Mean, sample standard deviation, skewness and kurtosis (not excess) of `x`.
pub fn moments(x: &[f64]) -> ReturnMoments {
    let n = x.len();
    let nf = n as f64;
    let mean = x.iter().sum::<f64>() / nf;
    let central = |p: i32| x.iter().map(|v| (v - mean).powi(p)).sum::<f64>() / nf;
    let m2 = central(2);
    let std = if n > 1 {
        (m2 * nf / (nf - 1.0)).sqrt()
    } else {
        0.0
    };
    let (skewness, kurtosis) = if m2 > 0.0 {
        (central(3) / m2.powf(1.5), central(4) / (m2 * m2))
    } else {
        (0.0, 3.0)
    };
    ReturnMoments {
        periods: n,
        mean,
        std,
        skewness,
        kurtosis,
    }
}

/// Per-period Sharpe ratio (0 when the returns do not vary).
pub fn sharpe(m: &ReturnMoments) -> f64 {
    if m.std > 0.0 { m.mean / m.std } else { 0.0 }
}

/// The variance factor of an estimated Sharpe ratio under skewness and kurtosis:
/// 1 - γ3 SR + (γ4 - 1) / 4 SR² (Mertens 2002; Bailey and López de Prado 2012, eq. 3).
fn sharpe_variance_factor(m: &ReturnMoments) -> f64 {
    let sr = sharpe(m);
    1.0 - m.skewness * sr + (m.kurtosis - 1.0) / 4.0 * sr * sr
}

/// Standard error of the per-period Sharpe ratio.
pub fn sharpe_standard_error(m: &ReturnMoments) -> f64 {
    (sharpe_variance_factor(m).max(0.0) / m.periods.max(1) as f64).sqrt()
}

/// PSR(SR*): the probability that the true per-period Sharpe exceeds `threshold`, given the
/// estimate, its length, skewness and kurtosis (Bailey and López de Prado 2012). `None` when
/// the returns do not vary or there are fewer than two.
pub fn probabilistic_sharpe(m: &ReturnMoments, threshold: f64) -> Option<f64> {
    let factor = sharpe_variance_factor(m);
    if !(m.std > 0.0) || m.periods < 2 || !(factor > 0.0) {
        return None;
    }
    let z = (sharpe(m) - threshold) * ((m.periods - 1) as f64).sqrt() / factor.sqrt();
    Some(normal_cdf(z))
}

/// The Euler-Mascheroni constant.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// The expected maximum per-period Sharpe of `trials` strategies without skill whose estimated
/// Sharpe ratios vary with `variance` (Bailey and López de Prado 2014, eq. 2); 0 for one trial.
pub fn expected_max_sharpe(trials: usize, variance: f64) -> f64 {
    if trials < 2 {
        return 0.0;
    }
    let n = trials as f64;
    variance.max(0.0).sqrt()
        * ((1.0 - EULER_GAMMA) * normal_quantile(1.0 - 1.0 / n)
            + EULER_GAMMA * normal_quantile(1.0 - 1.0 / (n * std::f64::consts::E)))
}

/// The deflated Sharpe ratio of returns with moments `m` after `trials` trials. The variance
/// of the Sharpe ratio across trials comes from `trial_sharpes` (per period) when two or more
/// are known, else it is the estimator's variance under the null, 1 / (periods - 1).
pub fn deflated_sharpe(
    m: &ReturnMoments,
    trials: usize,
    trial_sharpes: &[f64],
) -> Option<DeflatedSharpe> {
    let known: Vec<f64> = trial_sharpes
        .iter()
        .copied()
        .filter(|s| s.is_finite())
        .collect();
    let (variance, from_trials) = if known.len() >= 2 {
        let mean = known.iter().sum::<f64>() / known.len() as f64;
        let v = known.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (known.len() - 1) as f64;
        (v, true)
    } else {
        (1.0 / (m.periods.max(2) - 1) as f64, false)
    };
    let threshold = expected_max_sharpe(trials, variance);
    Some(DeflatedSharpe {
        trials,
        sharpe_variance: variance,
        variance_from_trials: from_trials,
        threshold,
        probability: probabilistic_sharpe(m, threshold)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use atb_protocol::backtest::BacktestSettings;

    fn spec(fee_bps: f64, long_only: bool) -> BacktestSpec {
        BacktestSettings {
            fee_bps,
            slippage_bps: 0.0,
            long_only,
            threshold: false,
        }
        .check()
        .unwrap()
    }

    fn series(forecast: &[f64], simple: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<i64>, Vec<i64>) {
        let actual: Vec<f64> = simple.iter().map(|r| r.ln_1p()).collect();
        let last = forecast.to_vec();
        let entry: Vec<i64> = (0..simple.len() as i64).map(|k| k * 3_600_000).collect();
        let exit: Vec<i64> = entry.iter().map(|t| t + 3_600_000).collect();
        (actual, last, entry, exit)
    }

    #[test]
    fn three_trades_with_fees_on_both_sides_by_hand() {
        // Long, long, short on moves of +1%, -2%, +3%, 10 bp per side.
        let forecast = [0.004, 0.001, -0.002];
        let simple = [0.01, -0.02, 0.03];
        let (actual, last, entry, exit) = series(&forecast, &simple);
        let signals = Signals {
            forecast: &forecast,
            actual: &actual,
            last_move: &last,
            entry_ms: &entry,
            exit_ms: &exit,
        };
        let b = backtest(&signals, 1, 3_600_000, &spec(10.0, false)).unwrap();
        let ls = b.model(Positions::LongShort).unwrap();
        // Period 1: +0.01 - 0.001 (buy 1) = 0.009. Period 2: -0.02. Period 3: short earns
        // -0.03, pays 2 units to flip (0.002) and 1 to close at the end (0.001): -0.033.
        let expected = 1.009 * 0.98 * 0.967 - 1.0;
        assert!((ls.total_return - expected).abs() < 1e-12, "{ls:?}");
        assert!((ls.gross_return - (1.01 * 0.98 * 0.97 - 1.0)).abs() < 1e-12);
        assert_eq!(ls.trades, 3);
        assert!((ls.turnover - 4.0 / 3.0).abs() < 1e-12);
        assert_eq!(ls.exposure, 1.0);
        assert_eq!(ls.hit_rate, Some(1.0 / 3.0));
        // Peak 1.009, then 1.009·0.98 and 1.009·0.98·0.967: drawdown 1 - 0.98·0.967.
        assert!((ls.max_drawdown - (1.0 - 0.98 * 0.967)).abs() < 1e-12);
        // Long/flat: in, in, out: 0.009, -0.02, then selling costs 0.001 on the last period.
        let lf = b.model(Positions::LongFlat).unwrap();
        let expected = 1.009 * 0.98 * 0.999 - 1.0;
        assert!((lf.total_return - expected).abs() < 1e-12, "{lf:?}");
        assert_eq!(lf.trades, 2);
        assert!((lf.exposure - 2.0 / 3.0).abs() < 1e-12);
        // Buy and hold pays one buy and one sell.
        let bh = b
            .strategies
            .iter()
            .find(|s| s.rule == SignalRule::BuyAndHold)
            .unwrap();
        let expected = 1.009 * 0.98 * 1.029 - 1.0;
        assert!((bh.total_return - expected).abs() < 1e-12, "{bh:?}");
        assert_eq!(b.periods, 3);
        assert!((b.periods_per_year - 8_766.0).abs() < 1e-9);
    }

    #[test]
    fn a_perfect_forecast_makes_money_before_costs_and_h_steps_do_not_overlap() {
        let simple: Vec<f64> = (0..40)
            .map(|k| ((k * 7 % 11) as f64 - 5.0) / 500.0)
            .collect();
        let (actual, _, entry, exit) = series(&simple, &simple);
        let last = vec![0.0; simple.len()];
        let signals = Signals {
            forecast: &actual,
            actual: &actual,
            last_move: &last,
            entry_ms: &entry,
            exit_ms: &exit,
        };
        let b = backtest(&signals, 4, 3_600_000, &spec(0.0, false)).unwrap();
        assert_eq!(b.periods, 10, "every 4th window");
        let m = b.model(Positions::LongShort).unwrap();
        assert!(m.total_return > 0.0 && m.hit_rate.unwrap() > 0.99, "{m:?}");
        assert!(m.sharpe > 0.0);
        assert_eq!(b.equity_times_ms.len(), 10);
        // The long-only spec reports long/flat rules only.
        let b = backtest(&signals, 4, 3_600_000, &spec(10.0, true)).unwrap();
        assert!(b.model(Positions::LongShort).is_none());
        assert_eq!(b.strategies.len(), 3);
    }

    #[test]
    fn deflated_sharpe_reproduces_the_papers_example() {
        // Bailey and López de Prado (2014), §4: 100 trials whose annualised Sharpe ratios vary
        // with variance 1/2, the best one 2.5 annualised over 1,250 daily returns with skewness
        // -3 and kurtosis 10: SR0 = 0.1132 per day and DSR = 0.9004.
        let m = ReturnMoments {
            periods: 1_250,
            mean: 2.5 / 250f64.sqrt(),
            std: 1.0,
            skewness: -3.0,
            kurtosis: 10.0,
        };
        let threshold = expected_max_sharpe(100, 0.5 / 250.0);
        assert!((threshold - 0.113_172).abs() < 1e-5, "{threshold}");
        let dsr = probabilistic_sharpe(&m, threshold).unwrap();
        assert!((dsr - 0.900_397).abs() < 1e-4, "{dsr}");
        // One trial: nothing to deflate, DSR = PSR(0).
        let d = deflated_sharpe(&m, 1, &[]).unwrap();
        assert_eq!(d.threshold, 0.0);
        assert!(!d.variance_from_trials);
        assert!((d.probability - probabilistic_sharpe(&m, 0.0).unwrap()).abs() < 1e-15);
        // The standard error of a per-period Sharpe of 0.1 over 1,250 periods with skewness -3
        // and kurtosis 10 (Mertens 2002): sqrt((1 + 3 * 0.1 + 9 / 4 * 0.01) / 1250) = 0.032527.
        let m01 = ReturnMoments { mean: 0.1, ..m };
        assert!((sharpe_standard_error(&m01) - 0.032_527).abs() < 1e-6);
        // From the trials' own Sharpe ratios when two or more are known.
        let d = deflated_sharpe(&m, 3, &[0.1, 0.2, 0.3]).unwrap();
        assert!(d.variance_from_trials && (d.sharpe_variance - 0.01).abs() < 1e-12);
    }

    #[test]
    fn moments_by_hand() {
        let m = moments(&[1.0, 2.0, 3.0, 6.0]);
        // mean 3, deviations -2 -1 0 3: m2 = 14/4, m3 = (-8 - 1 + 27)/4 = 4.5, m4 = (16 + 1 + 81)/4.
        assert_eq!(m.mean, 3.0);
        assert!((m.std - (14.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((m.skewness - 4.5 / 3.5f64.powf(1.5)).abs() < 1e-12);
        assert!((m.kurtosis - 24.5 / 12.25).abs() < 1e-12);
    }
}
