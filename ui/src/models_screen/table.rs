//! The registry table: sortable by any column, filtered by text, with a tick per version to
//! compare and a link to open it.

use super::*;

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

    pub(super) fn compare(self, a: &ModelRow, b: &ModelRow) -> std::cmp::Ordering {
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

impl ModelsScreen {
    pub(super) fn table(&mut self, ui: &mut Ui, store: &Store) -> Option<String> {
        let mut open = None;
        let mut sort_by = None;
        let mut toggles = Vec::new();
        let rows = self.visible(store);
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
                        if let Some(tag) = &r.tag {
                            name.push_str(&format!(" [{tag}]"));
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
}
