//! The volatility and direction targets' charts: forecasts over the test split beside what
//! happened and the target's reference baseline (HAR-RV; climatology), and the reliability
//! diagram of a direction model's probabilities. Drawn on the Model screen for one version and
//! in Compare for several.

use atb_protocol::desktop::TargetSeries;
use atb_protocol::targets::ReliabilityRow;
use atb_protocol::vocab::Target;
use egui::{Color32, Ui};
use egui_plot::{Legend, Line, Plot, PlotPoints, Points};

use crate::widgets::{day_axis, ms_to_days};

/// Forecasts as percentages for volatility, probabilities as they are.
fn scale(target: Target) -> f64 {
    if target == Target::Volatility {
        100.0
    } else {
        1.0
    }
}

/// The chart's title for a target's series.
pub fn series_title(target: Target) -> &'static str {
    match target {
        Target::Volatility => "Forecast against realised volatility over the test split (%)",
        _ => "Probability of an up move over the test split (outcomes at 0 and 1)",
    }
}

/// One or more versions' forecasts (`(label, series, colour)`, all of one target) beside the
/// first one's realised values and baseline.
pub fn series_plot(ui: &mut Ui, id: &str, series: &[(String, &TargetSeries, Color32)]) {
    let Some((_, first, _)) = series.first() else {
        return;
    };
    let k = scale(first.target);
    let points = |s: &TargetSeries, values: &mut dyn Iterator<Item = Option<f64>>| {
        s.target_open_ms
            .iter()
            .zip(values)
            .filter_map(|(t, v)| v.filter(|v| v.is_finite()).map(|v| [ms_to_days(*t), k * v]))
            .collect::<Vec<[f64; 2]>>()
    };
    let realised = points(first, &mut first.realised.iter().map(|v| Some(*v)));
    let baseline = points(first, &mut first.baseline.iter().copied());
    Plot::new(id)
        .height(240.0)
        .legend(Legend::default())
        .x_axis_formatter(day_axis)
        .show(ui, |plot| {
            if first.target == Target::Volatility {
                plot.line(
                    Line::new("realised volatility", PlotPoints::from(realised))
                        .color(Color32::GRAY)
                        .width(1.5),
                );
            } else {
                plot.points(
                    Points::new("outcome (1 up, 0 not)", PlotPoints::from(realised))
                        .color(Color32::GRAY)
                        .radius(1.5),
                );
            }
            plot.line(
                Line::new(first.baseline_name.clone(), PlotPoints::from(baseline))
                    .color(Color32::from_rgb(200, 140, 40))
                    .width(1.5),
            );
            for (label, s, colour) in series {
                let forecast = points(s, &mut s.forecast.iter().map(|v| Some(*v)));
                plot.line(
                    Line::new(format!("forecast: {label}"), PlotPoints::from(forecast))
                        .color(*colour),
                );
            }
        });
}

/// Mean forecast against the observed share of up moves per probability bin, with the
/// diagonal a calibrated forecast lies on; bins without windows are left out.
pub fn reliability_plot(ui: &mut Ui, id: &str, table: &[ReliabilityRow]) {
    let bins: Vec<[f64; 2]> = table
        .iter()
        .filter(|r| r.windows > 0)
        .map(|r| [r.mean_forecast, r.observed])
        .collect();
    Plot::new(id)
        .height(220.0)
        .width(260.0)
        .data_aspect(1.0)
        .include_x(0.0)
        .include_x(1.0)
        .include_y(0.0)
        .include_y(1.0)
        .x_axis_label("forecast probability")
        .y_axis_label("observed share up")
        .legend(Legend::default())
        .show(ui, |plot| {
            plot.line(
                Line::new("calibrated", PlotPoints::from(vec![[0.0, 0.0], [1.0, 1.0]]))
                    .color(Color32::GRAY),
            );
            plot.points(
                Points::new("model, per bin", PlotPoints::from(bins))
                    .radius(4.0)
                    .color(Color32::from_rgb(80, 140, 220)),
            );
        });
}
