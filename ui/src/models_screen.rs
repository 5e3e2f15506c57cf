//! Models screen: the registry as a sortable, filterable table, and the comparison of two or more
//! selected versions (grouped bars per metric with the persistence line, overlaid training curves,
//! predicted against actual closes over the test window).

use std::collections::{BTreeSet, HashMap};

use atb_protocol::backtest::{Backtest, Positions, SignalRule, StrategyResult};
use atb_protocol::desktop::{ModelDetail, PairedComparison, TestPredictions};
use atb_protocol::forward::ForwardReport;
use atb_protocol::registry::ModelRow;
use atb_protocol::selection::JudgedComparison;
use egui::{RichText, Ui};
use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoints};

use crate::app::Outbox;
use crate::backend::Request;
use atb_protocol::verdict::{vs_persistence, vs_ridge};

use crate::widgets::verdict_color;
use crate::widgets::{ERROR_RED, day_axis, labelled_edit, ms_to_days, num, opt};

/// A button that asks the engine for something slow: disabled and beside a spinner while
/// `busy`; true (and `busy` set) when clicked.
fn ask_button(ui: &mut Ui, busy: &mut bool, label: &str, hover: &str) -> bool {
    let clicked = ui
        .horizontal(|ui| {
            let clicked = ui
                .add_enabled(!*busy, egui::Button::new(label))
                .on_hover_text(hover)
                .clicked();
            if *busy {
                ui.add(egui::Spinner::new());
            }
            clicked
        })
        .inner;
    if clicked {
        *busy = true;
    }
    clicked
}

/// Colours of the compared models, in selection order.
const PALETTE: [egui::Color32; 6] = [
    egui::Color32::from_rgb(0x4c, 0x8e, 0xda),
    egui::Color32::from_rgb(0xe0, 0x9a, 0x3e),
    egui::Color32::from_rgb(0x59, 0xb3, 0x6b),
    egui::Color32::from_rgb(0xa7, 0x6d, 0xd4),
    egui::Color32::from_rgb(0x3e, 0xb8, 0xc0),
    egui::Color32::from_rgb(0xc9, 0x5b, 0x8f),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Symbol,
    Timeframe,
    Architecture,
    Variant,
    Target,
    Created,
    Mae,
    Rmse,
    Skill,
    Direction,
    PValue,
    TrainTime,
    Parameters,
}

impl Column {
    const ALL: [(Column, &'static str); 13] = [
        (Column::Symbol, "Symbol"),
        (Column::Timeframe, "TF"),
        (Column::Architecture, "Architecture"),
        (Column::Variant, "Variant"),
        (Column::Target, "Target"),
        (Column::Created, "Created"),
        (Column::Mae, "Test MAE $"),
        (Column::Rmse, "Test RMSE $"),
        (Column::Skill, "Skill vs persistence"),
        (Column::Direction, "Direction"),
        (Column::PValue, "p-value"),
        (Column::TrainTime, "Train s"),
        (Column::Parameters, "Parameters"),
    ];

    fn compare(self, a: &ModelRow, b: &ModelRow) -> std::cmp::Ordering {
        let f = |x: Option<f64>, y: Option<f64>| {
            // Missing numbers sort last whichever way.
            x.unwrap_or(f64::INFINITY)
                .total_cmp(&y.unwrap_or(f64::INFINITY))
        };
        match self {
            Column::Symbol => a.symbol.cmp(&b.symbol),
            Column::Timeframe => a.timeframe.cmp(&b.timeframe),
            Column::Architecture => a.architecture.as_str().cmp(b.architecture.as_str()),
            Column::Variant => a.variant.as_str().cmp(b.variant.as_str()),
            Column::Target => a.target.as_str().cmp(b.target.as_str()),
            Column::Created => a.created_at.cmp(&b.created_at),
            Column::Mae => f(a.test_mae_usd, b.test_mae_usd),
            Column::Rmse => f(a.test_rmse_usd, b.test_rmse_usd),
            Column::Skill => f(a.skill_vs_persistence, b.skill_vs_persistence),
            Column::Direction => f(a.directional_accuracy, b.directional_accuracy),
            Column::PValue => f(a.pt_p_value, b.pt_p_value),
            Column::TrainTime => a.train_seconds.total_cmp(&b.train_seconds),
            Column::Parameters => a.parameters.cmp(&b.parameters),
        }
    }
}

pub struct ModelsScreen {
    pub rows: Vec<ModelRow>,
    pub loaded: bool,
    pub filter: String,
    pub show_bench: bool,
    pub sort: Column,
    pub descending: bool,
    pub selected: BTreeSet<String>,
    pub comparing: bool,
    pub details: HashMap<String, ModelDetail>,
    pub predictions: HashMap<String, TestPredictions>,
    /// The paired test of the first two selected versions, once asked for.
    pub paired: Option<PairedComparison>,
    pub pairing: bool,
    /// The selected versions judged together (model confidence set, Holm-adjusted verdicts),
    /// once asked for.
    pub judged: Option<JudgedComparison>,
    pub judging: bool,
    /// The selected versions forward-tested together, once asked for.
    pub forward: Option<ForwardReport>,
    pub forward_testing: bool,
}

impl Default for ModelsScreen {
    fn default() -> Self {
        Self {
            rows: Vec::new(),
            loaded: false,
            filter: String::new(),
            show_bench: true,
            sort: Column::Created,
            descending: true,
            selected: BTreeSet::new(),
            comparing: false,
            details: HashMap::new(),
            predictions: HashMap::new(),
            paired: None,
            pairing: false,
            judged: None,
            judging: false,
            forward: None,
            forward_testing: false,
        }
    }
}

impl ModelsScreen {
    pub fn set_rows(&mut self, rows: Vec<ModelRow>) {
        self.loaded = true;
        self.selected
            .retain(|v| rows.iter().any(|r| &r.version_id == v));
        // Details carry the ONNX state, which may have changed.
        self.details.retain(|v, d| {
            rows.iter()
                .find(|r| &r.version_id == v)
                .is_some_and(|r| *r == d.row)
        });
        self.rows = rows;
    }

    pub fn forget(&mut self, version: &str) {
        self.selected.remove(version);
        self.details.remove(version);
        self.predictions.remove(version);
        self.rows.retain(|r| r.version_id != version);
    }

    /// Rows after the filter, in the chosen order.
    pub fn visible(&self) -> Vec<&ModelRow> {
        let needle = self.filter.trim().to_lowercase();
        let mut rows: Vec<&ModelRow> = self
            .rows
            .iter()
            .filter(|r| self.show_bench || r.tag.is_none())
            .filter(|r| {
                needle.is_empty()
                    || [
                        r.version_id.as_str(),
                        r.symbol.as_str(),
                        r.timeframe.as_str(),
                        r.architecture.as_str(),
                        r.variant.as_str(),
                    ]
                    .iter()
                    .any(|f| f.to_lowercase().contains(&needle))
                    || r.aliases.iter().any(|a| a.to_lowercase().contains(&needle))
            })
            .collect();
        rows.sort_by(|a, b| {
            let o = self.sort.compare(a, b);
            if self.descending { o.reverse() } else { o }
        });
        rows
    }

    /// Draws the screen; returns a version to open.
    pub fn show(&mut self, ui: &mut Ui, out: &mut Outbox) -> Option<String> {
        ui.heading("Registered models");
        ui.horizontal(|ui| {
            labelled_edit(ui, "Filter", &mut self.filter, 160.0);
            ui.checkbox(&mut self.show_bench, "Show benchmark runs");
            if ui.button("Refresh").clicked() {
                out.send(Request::ListModels);
            }
        });
        if !self.loaded {
            ui.label("loading…");
            return None;
        }
        if self.rows.is_empty() {
            ui.label(
                "No models yet: train one on the Train screen (the bundled sample works offline).",
            );
            return None;
        }
        let open = ui.scope(|ui| self.table(ui)).inner;
        ui.horizontal(|ui| {
            let n = self.selected.len();
            let compare = ui
                .add_enabled(n >= 2, egui::Button::new(format!("Compare selected ({n})")))
                .on_disabled_hover_text("Tick two or more models to compare them");
            if compare.clicked() {
                self.comparing = true;
                for v in &self.selected {
                    if !self.details.contains_key(v) {
                        out.send(Request::ModelDetail { version: v.clone() });
                    }
                    if !self.predictions.contains_key(v) {
                        out.send(Request::Predictions { version: v.clone() });
                    }
                }
            }
            if self.comparing && ui.button("Close comparison").clicked() {
                self.comparing = false;
            }
        });
        if self.comparing && self.selected.len() >= 2 {
            ui.separator();
            self.comparison(ui, out);
        }
        open
    }

    pub fn paired_arrived(&mut self, p: PairedComparison) {
        self.pairing = false;
        self.paired = Some(p);
    }

    pub fn forward_arrived(&mut self, report: ForwardReport) {
        self.forward_testing = false;
        self.forward = Some(report);
    }

    /// Each selected version's long/flat equity after costs over its test split, on one chart
    /// with buy and hold of the first (versions of one series share it).
    fn equity_overlay(
        ui: &mut Ui,
        details: &[&ModelDetail],
        label: &dyn Fn(&ModelDetail) -> String,
    ) {
        let curves: Vec<(usize, &ModelDetail, &Backtest)> = details
            .iter()
            .enumerate()
            .filter_map(|(j, d)| d.evaluation.backtest.as_ref().map(|b| (j, *d, b)))
            .collect();
        if curves.is_empty() {
            return;
        }
        ui.strong("Value after costs: long/flat equity over the test split (10 bp per side)");
        Plot::new("compare_equity")
            .height(180.0)
            .legend(Legend::default())
            .x_axis_formatter(day_axis)
            .show(ui, |plot| {
                let points = |b: &Backtest, s: &StrategyResult| -> PlotPoints<'_> {
                    b.equity_times_ms
                        .iter()
                        .zip(&s.equity)
                        .map(|(t, e)| [ms_to_days(*t), *e])
                        .collect()
                };
                for (j, d, b) in &curves {
                    if let Some(s) = b.model(Positions::LongFlat) {
                        plot.line(
                            Line::new(label(d), points(b, s)).color(PALETTE[j % PALETTE.len()]),
                        );
                    }
                }
                let (_, _, first) = curves[0];
                if let Some(s) = first
                    .strategies
                    .iter()
                    .find(|s| s.rule == SignalRule::BuyAndHold)
                {
                    plot.line(
                        Line::new("buy and hold", points(first, s)).color(egui::Color32::GRAY),
                    );
                }
            });
    }

    /// "Forward test together": every selected version on candles after its data ended, and
    /// the first against the second on the forward windows they share.
    fn forward_view(
        forward_testing: &mut bool,
        forward: Option<&ForwardReport>,
        ui: &mut Ui,
        out: &mut Outbox,
        details: &[&ModelDetail],
    ) {
        let versions: Vec<String> = details.iter().map(|d| d.row.version_id.clone()).collect();
        if ask_button(
            ui,
            forward_testing,
            "Forward test together",
            "Score the selected versions on candles that closed after their data ended, and [1] \
             (champion) against [2] (challenger) on the windows they share",
        ) {
            out.send(Request::ForwardTest {
                versions: versions.clone(),
            });
        }
        let Some(f) =
            forward.filter(|f| f.results.iter().map(|r| &r.version_id).eq(versions.iter()))
        else {
            return;
        };
        for (k, r) in f.results.iter().enumerate() {
            ui.label(format!("[{}] {}", k + 1, r.sentence()));
        }
        if let Some(p) = &f.pair {
            ui.label(
                RichText::new(format!(
                    "[1] against [2] on {} common forward windows: [1] is {}",
                    p.windows, p.verdict.text
                ))
                .color(verdict_color(p.verdict.kind)),
            );
        }
    }

    pub fn judged_arrived(&mut self, j: JudgedComparison) {
        self.judging = false;
        self.judged = Some(j);
    }

    /// "Judge together": the model confidence set over the selected versions, persistence and
    /// drift, and each version's verdicts with Holm's adjustment across all of them. What picks
    /// a winner here is that test, never the bars below.
    fn judged_view(
        judging: &mut bool,
        judged: Option<&JudgedComparison>,
        ui: &mut Ui,
        out: &mut Outbox,
        details: &[&ModelDetail],
    ) {
        let versions: Vec<String> = details.iter().map(|d| d.row.version_id.clone()).collect();
        if ask_button(
            ui,
            judging,
            "Judge together",
            "The 90% model confidence set (Hansen, Lunde and Nason) over these versions, \
             persistence and drift, and each verdict with Holm's adjustment across every \
             comparison on screen",
        ) {
            out.send(Request::Judge {
                versions: versions.clone(),
            });
        }
        let Some(j) =
            judged.filter(|j| j.verdicts.iter().map(|v| &v.version_id).eq(versions.iter()))
        else {
            return;
        };
        if let Some(set) = &j.model_confidence_set {
            ui.label(RichText::new(set.sentence()).strong());
        }
        for (k, v) in j.verdicts.iter().enumerate() {
            for verdict in [&v.vs_persistence, &v.vs_drift] {
                ui.label(
                    RichText::new(format!("[{}] {}", k + 1, verdict.text))
                        .color(verdict_color(verdict.kind)),
                );
            }
        }
    }

    /// Whether the chosen versions were tested on the same windows: same series and source,
    /// same test targets. A comparison across different windows ranks nothing.
    fn same_windows(details: &[&ModelDetail]) -> bool {
        details
            .windows(2)
            .all(|w| w[0].dataset.same_test_windows(&w[1].dataset))
    }

    fn paired_view(
        pairing: &mut bool,
        paired: Option<&PairedComparison>,
        ui: &mut Ui,
        out: &mut Outbox,
        details: &[&ModelDetail],
    ) {
        let [a, b, ..] = details else { return };
        let (first, second) = (a.row.version_id.clone(), b.row.version_id.clone());
        if ask_button(
            ui,
            pairing,
            "Paired test of [1] against [2]",
            "Diebold-Mariano test on the two models' absolute errors over their common test \
             windows",
        ) {
            out.send(Request::PairedTest {
                first: first.clone(),
                second: second.clone(),
            });
        }
        if let Some(p) = paired.filter(|p| p.first == first && p.second == second) {
            ui.label(
                RichText::new(format!(
                    "[1] against [2] on {} common test windows: MAE {:.2} vs {:.2} USD; [1] is {}",
                    p.windows, p.first_mae_usd, p.second_mae_usd, p.verdict.text
                ))
                .color(verdict_color(p.verdict.kind)),
            );
        }
    }

    fn table(&mut self, ui: &mut Ui) -> Option<String> {
        let mut open = None;
        let mut sort_by = None;
        let mut toggles = Vec::new();
        let rows = self.visible();
        // A solid scroll bar below the rows: egui's floating one grows over the last row while
        // the pointer is near, covering the link of a registry's only version.
        ui.spacing_mut().scroll = egui::style::ScrollStyle::solid();
        egui::ScrollArea::horizontal().show(ui, |ui| {
            egui::Grid::new("models_table")
                .striped(true)
                .show(ui, |ui| {
                    ui.label("");
                    ui.strong("Version");
                    for (col, name) in Column::ALL {
                        let arrow = match (self.sort == col, self.descending) {
                            (true, true) => " (desc)",
                            (true, false) => " (asc)",
                            _ => "",
                        };
                        if ui
                            .button(format!("{name}{arrow}"))
                            .on_hover_text(format!("Sort by {name}"))
                            .clicked()
                        {
                            sort_by = Some(col);
                        }
                    }
                    ui.strong("ONNX");
                    ui.end_row();
                    for r in &rows {
                        let mut ticked = self.selected.contains(&r.version_id);
                        if ui
                            .checkbox(&mut ticked, "")
                            .on_hover_text(format!("Select {}", r.version_id))
                            .changed()
                        {
                            toggles.push(r.version_id.clone());
                        }
                        let mut name = r.version_id.clone();
                        if !r.aliases.is_empty() {
                            name.push_str(&format!(" ({})", r.aliases.join(", ")));
                        }
                        if r.tag.is_some() {
                            name.push_str(" [bench]");
                        }
                        if ui.link(name).clicked() {
                            open = Some(r.version_id.clone());
                        }
                        ui.label(r.symbol.as_str());
                        ui.label(r.timeframe.as_str());
                        ui.label(r.architecture.as_str());
                        ui.label(r.variant.as_str());
                        ui.label(r.target.as_str())
                            .on_hover_text(r.target.description());
                        ui.label(
                            r.created_at
                                .get(..16)
                                .unwrap_or(&r.created_at)
                                .replace('T', " "),
                        );
                        ui.label(opt(r.test_mae_usd, 2));
                        ui.label(opt(r.test_rmse_usd, 2));
                        // Coloured by the paired test's verdict, never by the sign of the skill.
                        let skill = opt(r.skill_vs_persistence, 4);
                        match &r.verdict_vs_persistence {
                            Some(v) => {
                                ui.label(RichText::new(skill).color(verdict_color(v.kind)))
                                    .on_hover_text(&v.text);
                            }
                            None => {
                                ui.label(skill);
                            }
                        }
                        ui.label(opt(r.directional_accuracy, 3));
                        ui.label(opt(r.pt_p_value, 3));
                        ui.label(num(r.train_seconds, 1));
                        ui.label(r.parameters.to_string());
                        ui.label(if r.onnx_sha256.is_some() { "yes" } else { "-" });
                        ui.end_row();
                    }
                });
        });
        for v in toggles {
            if !self.selected.remove(&v) {
                self.selected.insert(v);
            }
        }
        if let Some(col) = sort_by {
            if self.sort == col {
                self.descending = !self.descending;
            } else {
                self.sort = col;
                self.descending = false;
            }
        }
        open
    }

    #[allow(
        clippy::too_many_lines,
        reason = "the compare view; to split into models/compare.rs (issue 32)"
    )]
    fn comparison(&mut self, ui: &mut Ui, out: &mut Outbox) {
        let chosen: Vec<&ModelRow> = self
            .rows
            .iter()
            .filter(|r| self.selected.contains(&r.version_id))
            .collect();
        ui.heading(format!("Comparison of {} models", chosen.len()));
        let details: Vec<&ModelDetail> = chosen
            .iter()
            .filter_map(|r| self.details.get(&r.version_id))
            .collect();
        if details.len() < chosen.len() {
            ui.label(format!(
                "loading {} of {}…",
                chosen.len() - details.len(),
                chosen.len()
            ));
        }
        let label = |d: &ModelDetail| {
            format!(
                "{} {} ({})",
                d.row.architecture,
                d.row.variant,
                d.row
                    .version_id
                    .splitn(3, '_')
                    .nth(2)
                    .unwrap_or(&d.row.version_id)
            )
        };
        type Metric = (&'static str, fn(&ModelDetail) -> (f64, Option<f64>));
        let metrics: [Metric; 4] = [
            ("Test MAE (USD)", |d| match &d.evaluation.test {
                Some(t) => (t.model.mae_usd, Some(t.persistence.mae_usd)),
                None => (f64::NAN, None),
            }),
            ("Test RMSE (USD)", |d| match &d.evaluation.test {
                Some(t) => (t.model.rmse_usd, Some(t.persistence.rmse_usd)),
                None => (f64::NAN, None),
            }),
            // The coin to beat: always guessing the majority direction.
            ("Directional accuracy", |d| match &d.evaluation.test {
                Some(t) => (
                    t.model.directional_accuracy.unwrap_or(f64::NAN),
                    Some(t.up_share.max(1.0 - t.up_share)),
                ),
                None => (f64::NAN, None),
            }),
            ("Skill vs persistence", |d| match &d.evaluation.test {
                Some(t) => (t.model.skill_vs_persistence, Some(0.0)),
                None => (f64::NAN, None),
            }),
        ];
        ui.horizontal_wrapped(|ui| {
            for (j, d) in details.iter().enumerate() {
                ui.label(
                    RichText::new(format!("[{}] {}", j + 1, label(d)))
                        .color(PALETTE[j % PALETTE.len()]),
                );
            }
        });
        // Each model's verdicts, in the engine's words and colours: each its own test, which
        // "Judge together" below adjusts for the comparisons on screen.
        if details.len() >= 2 {
            ui.label("Each on its own test split, not adjusted for the comparisons on screen:");
        }
        for (j, d) in details.iter().enumerate() {
            let verdicts = match (&d.evaluation.test, &d.evaluation.target) {
                (_, Some(target)) => target.verdicts(),
                (Some(t), None) => vec![vs_persistence(t), vs_ridge(t)],
                (None, None) => Vec::new(),
            };
            for v in verdicts {
                ui.label(
                    RichText::new(format!("[{}] {}", j + 1, v.text)).color(verdict_color(v.kind)),
                );
            }
        }
        if details.len() >= 2 && !Self::same_windows(&details) {
            ui.label(
                RichText::new(
                    "Warning: these versions were tested on different windows (another series, \
                     range, split or horizon). Their numbers are not comparable, so they are not \
                     ranked; compare each against its own persistence line.",
                )
                .color(ERROR_RED)
                .strong(),
            );
        } else if details.len() >= 2 {
            Self::judged_view(&mut self.judging, self.judged.as_ref(), ui, out, &details);
            Self::forward_view(
                &mut self.forward_testing,
                self.forward.as_ref(),
                ui,
                out,
                &details,
            );
            Self::paired_view(&mut self.pairing, self.paired.as_ref(), ui, out, &details);
        }
        ui.label(
            "Red marks: each model's own persistence on its own test windows (for direction: the \
             majority-class rate; for skill: zero).",
        );
        ui.columns(metrics.len(), |cols| {
            for (i, (name, f)) in metrics.iter().enumerate() {
                let ui = &mut cols[i];
                ui.strong(*name);
                Plot::new(format!("compare_{i}"))
                    .height(180.0)
                    .show_x(false)
                    .show_axes([false, true])
                    .show(ui, |plot| {
                        // One chart per model, so each keeps its colour across the metrics.
                        for (j, d) in details.iter().enumerate() {
                            let bar = Bar::new(j as f64, f(d).0).width(0.7);
                            plot.bar_chart(
                                BarChart::new(label(d), vec![bar])
                                    .color(PALETTE[j % PALETTE.len()]),
                            );
                        }
                        // Each model's own baseline over its own bar: versions tested on
                        // different windows have different persistence errors.
                        for (j, d) in details.iter().enumerate() {
                            if let Some(b) = f(d).1 {
                                let x = j as f64;
                                plot.line(
                                    Line::new(
                                        format!("persistence [{}]", j + 1),
                                        vec![[x - 0.45, b], [x + 0.45, b]],
                                    )
                                    .color(ERROR_RED)
                                    .width(2.5),
                                );
                            }
                        }
                    });
            }
        });
        ui.strong("Validation loss per epoch");
        Plot::new("compare_curves")
            .height(200.0)
            .legend(Legend::default())
            .x_axis_label("epoch")
            .show(ui, |plot| {
                for (j, d) in details.iter().enumerate() {
                    let pts: PlotPoints<'_> = d
                        .history
                        .iter()
                        .map(|e| [e.epoch as f64, e.val_loss])
                        .collect();
                    plot.line(Line::new(label(d), pts).color(PALETTE[j % PALETTE.len()]));
                }
            });
        ui.label(
            details
                .iter()
                .enumerate()
                .map(|(j, d)| format!("bar {}: {}", j + 1, label(d)))
                .collect::<Vec<_>>()
                .join(" · "),
        );
        Self::equity_overlay(ui, &details, &label);
        let preds: Vec<(&ModelDetail, &TestPredictions)> = details
            .iter()
            .filter_map(|d| self.predictions.get(&d.row.version_id).map(|p| (*d, p)))
            .collect();
        let series: Vec<_> = preds
            .iter()
            .enumerate()
            .filter_map(|(j, (d, p))| {
                let s = p.target_series.as_ref()?;
                Some((label(d), s, PALETTE[j % PALETTE.len()]))
            })
            .collect();
        if let Some((_, first, _)) = series.first() {
            ui.strong(crate::target_charts::series_title(first.target));
            crate::target_charts::series_plot(ui, "compare_target_series", &series);
            return;
        }
        ui.strong("Predicted vs actual close over the test window");
        if preds.is_empty() {
            ui.label("loading predictions…");
            return;
        }
        Plot::new("compare_predictions")
            .height(260.0)
            .legend(Legend::default())
            .x_axis_formatter(day_axis)
            .show(ui, |plot| {
                let (_, first) = preds[0];
                let actual: PlotPoints<'_> = first
                    .target_open_ms
                    .iter()
                    .zip(&first.actual_close)
                    .map(|(t, c)| [ms_to_days(*t), *c])
                    .collect();
                plot.line(
                    Line::new("actual close", actual)
                        .width(2.0)
                        .color(egui::Color32::GRAY),
                );
                for (j, (d, p)) in preds.iter().enumerate() {
                    let pts: PlotPoints<'_> = p
                        .target_open_ms
                        .iter()
                        .zip(&p.predicted_close)
                        .map(|(t, c)| [ms_to_days(*t), *c])
                        .collect();
                    plot.line(
                        Line::new(format!("predicted: {}", label(d)), pts)
                            .color(PALETTE[j % PALETTE.len()]),
                    );
                }
            });
    }
}
