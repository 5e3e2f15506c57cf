//! The run's charts: losses per epoch (or boosting round), batch losses thinned to the
//! pixels they cover, and the learning rate.

use super::*;

/// The batch-loss line is drawn from at most twice this many points (about one per pixel column).
pub(super) const BATCH_LINE_BUCKETS: usize = 400;
/// Epoch-loss points get markers up to this many epochs.
pub(super) const EPOCH_MARKERS_UP_TO: usize = 50;
pub(super) const TRAIN_LOSS_COLOR: egui::Color32 = egui::Color32::from_rgb(0xd0, 0x6a, 0x3a);
pub(super) const VALIDATION_LOSS_COLOR: egui::Color32 = egui::Color32::from_rgb(0x3a, 0x7c, 0xd0);

/// A tree model's curve: training and validation loss after every boosting round (the trees
/// kept end at the lowest validation point).
pub(super) fn round_chart(ui: &mut Ui, run: &RunView) {
    let best = run
        .epoch_points
        .iter()
        .min_by(|a, b| a.2.total_cmp(&b.2))
        .map(|p| (p.0, p.2));
    ui.label(format!(
        "Loss per boosting round (last: train {}, validation {}; best validation {} at round {})",
        run.epoch_points.last().map_or("-".into(), |p| num(p.1, 4)),
        run.epoch_points.last().map_or("-".into(), |p| num(p.2, 4)),
        best.map_or("-".into(), |b| num(b.1, 4)),
        best.map_or("-".into(), |b| format!("{}", b.0)),
    ));
    let train: Vec<[f64; 2]> = run.epoch_points.iter().map(|p| [p.0, p.1]).collect();
    let val: Vec<[f64; 2]> = run.epoch_points.iter().map(|p| [p.0, p.2]).collect();
    Plot::new("round_loss")
        .height(220.0)
        .legend(Legend::default())
        .x_axis_label("boosting round")
        .show(ui, |plot| {
            for (name, color, points) in [
                ("train loss", TRAIN_LOSS_COLOR, train),
                ("validation loss", VALIDATION_LOSS_COLOR, val),
            ] {
                plot.line(Line::new(name, points).color(color));
            }
            if let Some((round, loss)) = best {
                plot.points(
                    Points::new("best round", vec![[round, loss]])
                        .color(VALIDATION_LOSS_COLOR)
                        .radius(4.0),
                );
            }
        });
}

pub(super) fn loss_charts(ui: &mut Ui, run: &RunView) {
    if run.epoch_points.is_empty() && run.batch_points.is_empty() {
        return;
    }
    if run.trees {
        round_chart(ui, run);
        return;
    }
    ui.columns(2, |cols| {
        cols[0].label(format!(
            "Loss per epoch (last: train {}, validation {})",
            run.epoch_points.last().map_or("-".into(), |p| num(p.1, 4)),
            run.epoch_points.last().map_or("-".into(), |p| num(p.2, 4)),
        ));
        let train: Vec<[f64; 2]> = run.epoch_points.iter().map(|p| [p.0, p.1]).collect();
        let val: Vec<[f64; 2]> = run.epoch_points.iter().map(|p| [p.0, p.2]).collect();
        // Markers while epochs are few: a line through one point draws nothing, and slow first
        // epochs would otherwise leave the chart empty.
        let markers = run.epoch_points.len() <= EPOCH_MARKERS_UP_TO;
        Plot::new("epoch_loss")
            .height(170.0)
            .legend(Legend::default())
            .x_axis_label("epoch")
            .show(&mut cols[0], |plot| {
                for (name, color, points) in [
                    ("train loss", TRAIN_LOSS_COLOR, train),
                    ("validation loss", VALIDATION_LOSS_COLOR, val),
                ] {
                    if markers {
                        plot.points(Points::new(name, points.clone()).color(color).radius(2.5));
                    }
                    plot.line(Line::new(name, points).color(color));
                }
            });
        cols[1].label(format!("Batch loss ({} points)", run.batch_points.len()));
        Plot::new("batch_loss")
            .height(170.0)
            .x_axis_label("epoch")
            .show(&mut cols[1], |plot| {
                plot.line(Line::new(
                    "batch loss",
                    PlotPoints::from(envelope(&run.batch_points, BATCH_LINE_BUCKETS)),
                ));
            });
    });
    ui.label(format!(
        "Learning rate, log10 (now {})",
        run.epoch_points
            .last()
            .map_or_else(|| "-".into(), |p| format!("{:.1e}", p.3))
    ));
    // Log scale: plateau halvings are steps, not a flat line near zero.
    let lr: PlotPoints<'_> = run
        .epoch_points
        .iter()
        .map(|p| [p.0, p.3.max(1e-12).log10()])
        .collect();
    Plot::new("learning_rate")
        .height(80.0)
        .x_axis_label("epoch")
        .show(ui, |plot| plot.line(Line::new("learning rate", lr)));
}
