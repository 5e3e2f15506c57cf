//! `atb backtest VERSION`: a version's test-split forecasts traded as a signal after fees and
//! slippage, beside buy-and-hold and the last move's sign, with the deflated Sharpe ratio over
//! the registry's trials on the same series.

use std::process::ExitCode;

use anyhow::{Result, anyhow};
use atb_engine::Settings;
use atb_engine::service::decision;
use atb_protocol::backtest::{
    Backtest, BacktestSettings, DEFAULT_FEE_BPS, DEFAULT_SLIPPAGE_BPS, DeflatedSharpe, Positions,
    SignalRule, rule_label,
};
use atb_protocol::verdict::format_signed_pct;
use clap::Args;

#[derive(Args)]
pub struct BacktestArgs {
    /// Version id or alias.
    #[arg(value_name = "VERSION")]
    pub reference: String,
    /// Fee per side in basis points (10 = 0.10%, Binance spot's taker fee).
    #[arg(long, default_value_t = DEFAULT_FEE_BPS)]
    pub fee_bps: f64,
    /// Slippage per side in basis points.
    #[arg(long, default_value_t = DEFAULT_SLIPPAGE_BPS)]
    pub slippage_bps: f64,
    /// Long or flat only (spot without borrowing); otherwise long/short is reported too.
    #[arg(long)]
    pub long_only: bool,
    /// Trade only when the forecast move exceeds the round-trip cost.
    #[arg(long)]
    pub threshold: bool,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: BacktestArgs) -> Result<ExitCode> {
    let settings = Settings::from_env()?;
    let spec = BacktestSettings {
        fee_bps: args.fee_bps,
        slippage_bps: args.slippage_bps,
        long_only: args.long_only,
        threshold: args.threshold,
    }
    .check()
    .map_err(|e| anyhow!(e))?;
    let report = decision::backtest(&settings, &args.reference, &spec).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", report.version_id);
    print_backtest(&report.backtest, &report.deflated);
    Ok(ExitCode::SUCCESS)
}

/// The strategies' table and the deflated Sharpe lines (`deflated` may be empty: a stored
/// evaluation's backtest, before trials are counted).
pub fn print_backtest(b: &Backtest, deflated: &[(Positions, Option<DeflatedSharpe>)]) {
    let s = b.spec.settings();
    println!(
        "backtest on {} non-overlapping periods of {} bar(s) ({} to {}), fee {} bp + slippage \
         {} bp per side{}:",
        b.periods,
        b.horizon,
        atb_engine::format_ms(b.first_open_ms),
        atb_engine::format_ms(b.last_open_ms),
        s.fee_bps,
        s.slippage_bps,
        if s.threshold {
            ", trading only when the forecast exceeds the round-trip cost"
        } else {
            ""
        }
    );
    println!(
        "{:<30} {:>10} {:>10} {:>16} {:>9} {:>9} {:>9} {:>8} {:>7}",
        "rule", "net", "gross", "Sharpe (± se)", "P(SR>0)", "max DD", "turnover", "in mkt", "hits"
    );
    for st in &b.strategies {
        println!(
            "{:<30} {:>10} {:>10} {:>16} {:>9} {:>9} {:>9.3} {:>7.0}% {:>7}",
            rule_label(st.rule, st.positions),
            format_signed_pct(st.total_return),
            format_signed_pct(st.gross_return),
            format!("{:.2} ± {:.2}", st.sharpe, st.sharpe_se),
            st.probabilistic_sharpe
                .map_or_else(|| "-".into(), |p| format!("{p:.3}")),
            format!("{:.1}%", 100.0 * st.max_drawdown),
            st.turnover,
            100.0 * st.exposure,
            st.hit_rate
                .map_or_else(|| "-".into(), |h| format!("{:.1}%", 100.0 * h)),
        );
    }
    for (positions, d) in deflated {
        let rule = rule_label(SignalRule::Model, *positions);
        match d {
            Some(d) => println!(
                "deflated Sharpe ({rule}): {:.3} after {} trial(s) on this series (the best of \
                 them by luck alone would show {:.3} per period; variance {}",
                d.probability,
                d.trials,
                d.threshold,
                if d.variance_from_trials {
                    "from the trials' own backtests)"
                } else {
                    "of the estimator under no skill)"
                }
            ),
            None => println!("deflated Sharpe ({rule}): not defined (the returns do not vary)"),
        }
    }
}
