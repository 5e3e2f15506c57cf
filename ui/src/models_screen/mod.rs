//! Models screen: the registry as a sortable, filterable table ([`table`]), and the comparison of
//! two or more selected versions ([`compare`]: grouped bars per metric with the persistence line,
//! overlaid training curves, predicted against actual closes over the test window). This file
//! holds the screen's view state and the replies only it keeps (paired, judged, forward tests);
//! the rows, details and predictions it shows are the [`Store`]'s.

mod compare;
mod table;

pub use table::Column;

use std::collections::BTreeSet;

use atb_protocol::backtest::{Backtest, Positions, SignalRule, StrategyResult};
use atb_protocol::desktop::{ModelDetail, PairedComparison, TestPredictions};

use crate::store::Store;
use atb_protocol::forward::ForwardReport;
use atb_protocol::registry::ModelRow;
use atb_protocol::selection::JudgedComparison;
use atb_protocol::vocab::Weighting;
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

/// The Models screen's own state: what is selected, sorted, filtered and asked for (the rows,
/// details and predictions it shows are the [`Store`]'s).
pub struct ModelsScreen {
    pub filter: String,
    pub show_bench: bool,
    pub sort: Column,
    pub descending: bool,
    pub selected: BTreeSet<String>,
    pub comparing: bool,
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
    /// How "Make ensemble" weighs the selected versions.
    pub ensemble_weighting: Weighting,
    pub making_ensemble: bool,
    /// The ensemble made last, once registered.
    pub made_ensemble: Option<ModelRow>,
}

impl Default for ModelsScreen {
    fn default() -> Self {
        Self {
            filter: String::new(),
            show_bench: true,
            sort: Column::Created,
            descending: true,
            selected: BTreeSet::new(),
            comparing: false,
            paired: None,
            pairing: false,
            judged: None,
            judging: false,
            forward: None,
            forward_testing: false,
            ensemble_weighting: Weighting::default(),
            making_ensemble: false,
            made_ensemble: None,
        }
    }
}

impl ModelsScreen {
    /// A new listing: versions no longer there leave the selection.
    pub fn rows_changed(&mut self, rows: &[ModelRow]) {
        self.selected
            .retain(|v| rows.iter().any(|r| &r.version_id == v));
    }

    pub fn forget(&mut self, version: &str) {
        self.selected.remove(version);
    }

    /// The store's rows after the filter, in the chosen order.
    pub fn visible<'a>(&self, store: &'a Store) -> Vec<&'a ModelRow> {
        let needle = self.filter.trim().to_lowercase();
        let mut rows: Vec<&ModelRow> = store
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
    pub fn show(&mut self, ui: &mut Ui, store: &Store, out: &mut Outbox) -> Option<String> {
        ui.heading("Registered models");
        ui.horizontal(|ui| {
            labelled_edit(ui, "Filter", &mut self.filter, 160.0);
            ui.checkbox(&mut self.show_bench, "Show benchmark runs");
            if ui.button("Refresh").clicked() {
                out.send(Request::ListModels);
            }
        });
        if !store.rows_loaded {
            ui.label("loading…");
            return None;
        }
        if store.rows.is_empty() {
            ui.label(
                "No models yet: train one on the Train screen (the bundled sample works offline).",
            );
            return None;
        }
        let open = ui.scope(|ui| self.table(ui, store)).inner;
        ui.horizontal(|ui| {
            let n = self.selected.len();
            let compare = ui
                .add_enabled(n >= 2, egui::Button::new(format!("Compare selected ({n})")))
                .on_disabled_hover_text("Tick two or more models to compare them");
            if compare.clicked() {
                self.comparing = true;
                for v in &self.selected {
                    if !store.details.contains_key(v) {
                        out.send(Request::ModelDetail { version: v.clone() });
                    }
                    if !store.predictions.contains_key(v) {
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
            self.comparison(ui, store, out);
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

    pub fn ensemble_made(&mut self, row: ModelRow) {
        self.making_ensemble = false;
        self.made_ensemble = Some(row);
    }

    pub fn judged_arrived(&mut self, j: JudgedComparison) {
        self.judging = false;
        self.judged = Some(j);
    }
}
