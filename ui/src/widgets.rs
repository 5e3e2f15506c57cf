//! Small pieces every screen uses: labelled inputs (so each widget has an accessible name),
//! number and time formatting without a date library, and the metrics-beside-baselines table.

use atb_protocol::targets::TargetEvaluation;
use atb_protocol::training::{Evaluation, SplitEvaluation};
use atb_protocol::verdict::{VerdictKind, vs_drift, vs_persistence, vs_ridge};
use egui::{Color32, Response, RichText, Ui};

pub const ERROR_RED: Color32 = Color32::from_rgb(0xd0, 0x40, 0x40);
pub const GOOD_GREEN: Color32 = Color32::from_rgb(0x3c, 0xa0, 0x5a);

/// A single-line text field tied to its label, so screen readers and tests find it by name.
pub fn labelled_edit(ui: &mut Ui, label: &str, value: &mut String, width: f32) -> Response {
    ui.horizontal(|ui| {
        let l = ui.label(label);
        ui.add(egui::TextEdit::singleline(value).desired_width(width))
            .labelled_by(l.id)
    })
    .inner
}

/// A drop-down of fixed choices, named by `label`.
pub fn choice<T: Clone + PartialEq + std::fmt::Display>(
    ui: &mut Ui,
    label: &str,
    value: &mut T,
    options: &[T],
) -> bool {
    let before = value.clone();
    egui::ComboBox::from_label(label)
        .selected_text(value.to_string())
        .show_ui(ui, |ui| {
            for o in options {
                ui.selectable_value(value, o.clone(), o.to_string());
            }
        });
    *value != before
}

/// A problem with a field, in red, under it.
pub fn problem(ui: &mut Ui, reason: &str) {
    ui.label(RichText::new(reason).color(ERROR_RED).small());
}

pub fn num(v: f64, digits: usize) -> String {
    if v.is_finite() {
        format!("{v:.digits$}")
    } else {
        "-".into()
    }
}

pub fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| num(v, digits))
}

/// A chart height that grows with the window: `share` of the visible height of the panel it is
/// drawn in (its scroll area's viewport, so scrolling does not change it), never under `min`
/// (a small window scrolls rather than squashing the chart).
pub fn window_share(ui: &Ui, share: f32, min: f32) -> f32 {
    (ui.clip_rect().height() * share).max(min)
}

/// `1h 02m`, `3m 20s`, `12s`.
pub fn duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "-".into();
    }
    let s = secs.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// `YYYY-MM-DD HH:MM` UTC from epoch milliseconds (no date library in the wasm build).
pub fn time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// `YYYY-MM-DD` UTC.
pub fn date(ms: i64) -> String {
    time(ms)[..10].to_string()
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days since the epoch, the x axis of time plots.
pub fn ms_to_days(ms: i64) -> f64 {
    ms as f64 / 86_400_000.0
}

/// Formats a time-axis mark (days since the epoch) as a date.
pub fn day_axis(mark: egui_plot::GridMark, _range: &std::ops::RangeInclusive<f64>) -> String {
    date((mark.value * 86_400_000.0) as i64)
}

/// At most `2 * buckets` points that draw the same outline as `points` (sorted by x): each run
/// of consecutive points keeps its lowest and highest, in x order. A long run's batch-loss line
/// has tens of thousands of points; drawing them all costs far more than the pixels can show,
/// most of all where the webview renders in software.
pub fn envelope(points: &[[f64; 2]], buckets: usize) -> Vec<[f64; 2]> {
    let buckets = buckets.max(1);
    if points.len() <= 2 * buckets {
        return points.to_vec();
    }
    let mut out = Vec::with_capacity(2 * buckets);
    let mut start = 0;
    for b in 1..=buckets {
        let end = points.len() * b / buckets;
        let run = &points[start..end];
        start = end;
        let lowest = run
            .iter()
            .enumerate()
            .min_by(|a, b| a.1[1].total_cmp(&b.1[1]));
        let highest = run
            .iter()
            .enumerate()
            .max_by(|a, b| a.1[1].total_cmp(&b.1[1]));
        if let (Some((lo_at, lo)), Some((hi_at, hi))) = (lowest, highest) {
            if lo_at == hi_at {
                out.push(*lo);
            } else if lo_at < hi_at {
                out.extend([*lo, *hi]);
            } else {
                out.extend([*hi, *lo]);
            }
        }
    }
    out
}

/// The model's test metrics beside the baselines: for the return target one row per metric of
/// the shared table ([`atb_protocol::training::METRIC_ROWS`]; "-" where a value is not
/// available), for volatility and direction the target's own table
/// ([`TargetEvaluation::table`]).
pub fn metrics_table(ui: &mut Ui, id: &str, evaluation: &Evaluation) {
    if let Some(target) = &evaluation.target {
        target_table(ui, id, target);
        return;
    }
    let Some(test) = &evaluation.test else {
        ui.label("This record holds no test metrics.");
        return;
    };
    let cols = test.columns();
    egui::Grid::new(id).striped(true).show(ui, |ui| {
        ui.strong("test metric");
        for (name, _) in &cols {
            ui.strong(*name);
        }
        ui.end_row();
        for row in &atb_protocol::training::METRIC_ROWS {
            ui.label(row.label);
            for (_, m) in &cols {
                ui.label(opt(evaluation.metric(row, m), row.digits));
            }
            ui.end_row();
        }
    });
    verdict_lines(ui, test);
}

/// A volatility or direction evaluation: its scores beside its baselines and the verdicts on
/// the target's own loss, judged together.
pub fn target_table(ui: &mut Ui, id: &str, target: &TargetEvaluation) {
    let table = target.table();
    egui::Grid::new(id).striped(true).show(ui, |ui| {
        ui.strong("test score");
        for name in &table.columns {
            ui.strong(name.as_str());
        }
        ui.end_row();
        for row in &table.rows {
            ui.label(row.label);
            for v in &row.values {
                ui.label(opt(*v, row.digits));
            }
            ui.end_row();
        }
    });
    for v in target.verdicts() {
        ui.label(
            RichText::new(format!("{} on {} test windows", v.text, target.windows()))
                .color(verdict_color(v.kind)),
        );
    }
    if let TargetEvaluation::Direction(d) = target {
        ui.label(format!(
            "Reliability: {:.1}% of the test windows moved up; a calibrated model's points lie on \
             the diagonal.",
            100.0 * d.up_share
        ));
        crate::target_charts::reliability_plot(
            ui,
            &format!("{id}_reliability"),
            &d.reliability_table,
        );
    }
}

/// The colour of a verdict: green only for a significant improvement, red only for a
/// significant loss; never from the sign of a point estimate.
pub fn verdict_color(kind: VerdictKind) -> Color32 {
    match kind {
        VerdictKind::Better => GOOD_GREEN,
        VerdictKind::Worse => ERROR_RED,
        VerdictKind::NoDifference | VerdictKind::NotComputed => Color32::GRAY,
    }
}

/// The verdicts against persistence, ridge and (from evaluation method 3) drift, in the
/// engine's words, and why the direction figures are withheld when they are.
pub fn verdict_lines(ui: &mut Ui, split: &SplitEvaluation) {
    if let Some(why) = &split.model.direction_withheld {
        ui.label(format!("directional accuracy: {}", why.sentence()));
    }
    let drift = split.vs_drift.is_some().then(|| vs_drift(split));
    for v in [vs_persistence(split), vs_ridge(split)]
        .into_iter()
        .chain(drift)
    {
        let text = if v.kind == VerdictKind::NotComputed {
            format!(
                "{} (this version was evaluated before atb ran paired tests)",
                v.text
            )
        } else {
            format!("{} on {} test windows", v.text, split.samples)
        };
        ui.label(RichText::new(text).color(verdict_color(v.kind)));
    }
}

/// Walk-forward results: the summary over folds, then each fold's test metrics and verdict
/// against persistence, in time order.
pub fn walk_forward_view(ui: &mut Ui, id: &str, wf: &atb_protocol::training::WalkForward) {
    ui.label(format!(
        "Walk-forward over {} folds: MAE {:.2} ± {:.2} USD vs persistence {:.2} ± {:.2}; \
         better than persistence in {} fold(s), worse in {}",
        wf.folds,
        wf.model_mae_usd.mean,
        wf.model_mae_usd.std,
        wf.persistence_mae_usd.mean,
        wf.persistence_mae_usd.std,
        wf.better_than_persistence
            .map_or_else(|| "-".into(), |n| n.to_string()),
        wf.worse_than_persistence
            .map_or_else(|| "-".into(), |n| n.to_string()),
    ));
    if wf.per_fold.is_empty() {
        return;
    }
    egui::Grid::new(id)
        .striped(true)
        .num_columns(6)
        .show(ui, |ui| {
            for h in [
                "fold",
                "test windows",
                "MAE (USD)",
                "persistence MAE",
                "skill",
                "verdict",
            ] {
                ui.strong(h);
            }
            ui.end_row();
            for (k, f) in wf.per_fold.iter().enumerate() {
                let v = atb_protocol::verdict::vs_persistence(f);
                ui.label(format!("{} of {}", k + 1, wf.per_fold.len()));
                ui.label(f.samples.to_string());
                ui.label(format!("{:.2}", f.model.mae_usd));
                ui.label(format!("{:.2}", f.persistence.mae_usd));
                ui.label(num(f.model.skill_vs_persistence, 4));
                ui.label(RichText::new(v.text).color(verdict_color(v.kind)));
                ui.end_row();
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times_like_the_cli() {
        assert_eq!(time(0), "1970-01-01 00:00");
        assert_eq!(time(1_704_067_200_000 + 90 * 60_000), "2024-01-01 01:30");
        assert_eq!(date(951_782_400_000), "2000-02-29");
        assert_eq!(duration(3725.0), "1h 02m");
        assert_eq!(duration(200.0), "3m 20s");
        assert_eq!(num(f64::NAN, 2), "-");
    }

    #[test]
    fn envelope_keeps_the_outline_of_long_series() {
        let short: Vec<[f64; 2]> = (0..10).map(|i| [i as f64, i as f64]).collect();
        assert_eq!(envelope(&short, 5), short);

        // A spike and a dip in a long flat series must survive thinning.
        let mut long: Vec<[f64; 2]> = (0..10_000).map(|i| [i as f64, 1.0]).collect();
        long[1234][1] = 9.0;
        long[8765][1] = -3.0;
        let thin = envelope(&long, 100);
        assert!(thin.len() <= 200, "{} points", thin.len());
        assert!(thin.contains(&[1234.0, 9.0]));
        assert!(thin.contains(&[8765.0, -3.0]));
        assert!(
            thin.windows(2).all(|w| w[0][0] < w[1][0]),
            "x stays in order"
        );
        assert_eq!(thin.first(), Some(&[0.0, 1.0]));
    }
}
