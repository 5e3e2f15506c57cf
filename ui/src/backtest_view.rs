//! Value after costs on the model screens: the stored backtest of a version's test-split
//! forecasts (default costs) as a table of rules beside buy-and-hold and the last move's sign,
//! and their equity curves over time.

use atb_protocol::backtest::{Backtest, rule_label};
use atb_protocol::verdict::format_signed_pct;
use egui::Ui;
use egui_plot::{Legend, Line, Plot, PlotPoints};

use crate::widgets::{day_axis, ms_to_days, time};

/// The table and the equity curves of `b`; `id` keeps several on one screen apart.
pub fn backtest_view(ui: &mut Ui, id: &str, b: &Backtest) {
    let s = b.spec.settings();
    ui.strong("Value after costs");
    ui.label(format!(
        "The forecasts traded on {} non-overlapping periods of {} bar(s), {} to {}, fee {} bp \
         and slippage {} bp per side.",
        b.periods,
        b.horizon,
        time(b.first_open_ms),
        time(b.last_open_ms),
        s.fee_bps,
        s.slippage_bps
    ));
    egui::Grid::new(format!("{id}_table"))
        .striped(true)
        .show(ui, |ui| {
            for h in [
                "rule",
                "net",
                "gross",
                "Sharpe (± se)",
                "P(Sharpe > 0)",
                "max drawdown",
                "in market",
            ] {
                ui.strong(h);
            }
            ui.end_row();
            for st in &b.strategies {
                ui.label(rule_label(st.rule, st.positions));
                ui.label(format_signed_pct(st.total_return));
                ui.label(format_signed_pct(st.gross_return));
                ui.label(format!("{:.2} ± {:.2}", st.sharpe, st.sharpe_se));
                ui.label(
                    st.probabilistic_sharpe
                        .map_or_else(|| "–".into(), |p| format!("{p:.3}")),
                );
                ui.label(format!("{:.1}%", 100.0 * st.max_drawdown));
                ui.label(format!("{:.0}%", 100.0 * st.exposure));
                ui.end_row();
            }
        });
    Plot::new(format!("{id}_equity"))
        .height(180.0)
        .legend(Legend::default())
        .x_axis_formatter(day_axis)
        .y_axis_label("equity (start = 1)")
        .show(ui, |plot| {
            for st in &b.strategies {
                let points: PlotPoints<'_> = b
                    .equity_times_ms
                    .iter()
                    .zip(&st.equity)
                    .map(|(t, e)| [ms_to_days(*t), *e])
                    .collect();
                plot.line(Line::new(rule_label(st.rule, st.positions), points));
            }
        });
}
