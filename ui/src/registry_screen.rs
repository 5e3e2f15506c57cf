//! Registry screen: the registry check (`atb models verify`: every finding with its fix, and
//! Recover for finished runs kept aside), Import results (a sweep's bundles, `atb models
//! import`), and the validation of every (architecture, variant) pair (`atb validate`) with a
//! progress list and Cancel.

use atb_protocol::registry::{FindingKind, RecoveryReport, RegistryCheck};
use atb_protocol::sweep::ImportReport;
use atb_protocol::training::PairResult;
use atb_protocol::vocab::{Architecture, Variant};
use egui::{RichText, Ui};

use crate::app::Outbox;
use crate::backend::{Request, RequestKind};
use crate::widgets::{ERROR_RED, GOOD_GREEN, duration};

#[derive(Default)]
pub struct RegistryScreen {
    pub checking: bool,
    pub check: Option<RegistryCheck>,
    pub recovering: bool,
    /// What the last Recover registered, put right and could not take.
    pub recovered: Option<RecoveryReport>,
    pub importing: bool,
    /// What the last Import results did (`None` also when the dialog was closed).
    pub imported: Option<ImportReport>,
    pub validating: bool,
    pub cancel_requested: bool,
    /// Pairs as they finish, in order.
    pub pairs: Vec<PairResult>,
    /// Set when the whole validation ended (every pair's result).
    pub validated: bool,
    /// How the last validation ended when it did not finish.
    pub note: Option<String>,
}

/// Pairs a validation goes through: every architecture in every variant.
pub fn pair_count() -> usize {
    Architecture::TRAINABLE.len() * Variant::ALL.len()
}

impl RegistryScreen {
    pub fn checked(&mut self, check: RegistryCheck) {
        self.checking = false;
        self.check = Some(check);
    }

    pub fn recovered(&mut self, report: RecoveryReport, out: &mut Outbox) {
        self.recovering = false;
        self.recovered = Some(report);
        // What was waiting is indexed now: check again so the finding goes away.
        self.checking = true;
        out.send(Request::CheckRegistry);
    }

    pub fn results_imported(&mut self, report: Option<ImportReport>) {
        self.importing = false;
        if report.is_some() {
            self.imported = report;
        }
    }

    pub fn validation_progress(&mut self, pair: PairResult) {
        self.pairs.push(pair);
    }

    pub fn validated(&mut self, pairs: Vec<PairResult>) {
        self.validating = false;
        self.cancel_requested = false;
        self.pairs = pairs;
        self.validated = true;
    }

    pub fn request_failed(&mut self, request: RequestKind) {
        match request {
            RequestKind::CheckRegistry => self.checking = false,
            RequestKind::Recover => self.recovering = false,
            RequestKind::ImportResults => self.importing = false,
            RequestKind::Validate => {
                self.validating = false;
                self.cancel_requested = false;
            }
            _ => {}
        }
    }

    pub fn show(&mut self, ui: &mut Ui, out: &mut Outbox) {
        ui.heading("Registry check");
        ui.label(
            "Checks every version's files against the hashes recorded when it was registered, \
             and finds folders and index rows that lost their other half. Nothing is deleted.",
        );
        if ui
            .add_enabled(!self.checking, egui::Button::new("Check registry"))
            .clicked()
        {
            self.checking = true;
            out.send(Request::CheckRegistry);
        }
        if self.checking {
            ui.add(egui::Spinner::new());
        }
        if let Some(check) = &self.check {
            self.show_check(ui, check, out);
        }
        if let Some(report) = &self.recovered {
            show_recovery(ui, report);
        }
        ui.separator();
        self.show_import(ui, out);
        ui.separator();
        self.show_validation(ui, out);
    }

    fn show_import(&mut self, ui: &mut Ui, out: &mut Outbox) {
        ui.heading("Sweep results");
        ui.label(
            "Brings home the version bundles a sweep's workers wrote on a cluster \
             (`atb sweep plan`, `atb worker run`): each bundle's files are checked against its \
             hashes and its job against the sweep's manifest, then registered under its \
             original version id. Bundles already here are not copied again.",
        );
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!self.importing, egui::Button::new("Import results…"))
                .clicked()
            {
                self.importing = true;
                out.send(Request::ImportResults);
            }
            if self.importing {
                ui.add(egui::Spinner::new());
            }
        });
        let Some(report) = &self.imported else { return };
        let color = if report.refused.is_empty() {
            GOOD_GREEN
        } else {
            ERROR_RED
        };
        ui.label(
            RichText::new(format!(
                "{} imported, {} already here, {} refused",
                report.imported.len(),
                report.already_present.len(),
                report.refused.len()
            ))
            .color(color),
        );
        for row in &report.imported {
            ui.label(format!(
                "Imported {} ({} {} {} {})",
                row.version_id, row.symbol, row.timeframe, row.architecture, row.variant
            ));
        }
        for refusal in &report.refused {
            ui.label(
                RichText::new(format!("Refused {}: {}", refusal.bundle, refusal.reason))
                    .color(ERROR_RED),
            );
        }
    }

    fn show_check(&self, ui: &mut Ui, check: &RegistryCheck, out: &mut Outbox) {
        let problems = check
            .findings
            .iter()
            .filter(|f| f.kind.is_problem())
            .count();
        let summary = format!(
            "{} version(s) checked, {} sound, {problems} problem(s) found",
            check.checked, check.ok
        );
        ui.label(RichText::new(summary).color(if problems == 0 { GOOD_GREEN } else { ERROR_RED }));
        if check.findings.is_empty() {
            return;
        }
        egui::Grid::new("findings")
            .striped(true)
            .num_columns(3)
            .show(ui, |ui| {
                ui.strong("what");
                ui.strong("problem");
                ui.strong("fix");
                ui.end_row();
                for f in &check.findings {
                    ui.label(&f.subject);
                    ui.label(&f.problem);
                    ui.label(&f.fix);
                    ui.end_row();
                }
            });
        let waiting = check
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::AwaitingRecovery);
        if waiting && ui.button("Recover").clicked() {
            out.send(Request::Recover);
        }
    }

    fn show_validation(&mut self, ui: &mut Ui, out: &mut Outbox) {
        ui.heading("Validate every model type");
        ui.label(format!(
            "Trains each of the {} (architecture, variant) pairs briefly on 40 days of the \
             sample in a private registry, reloads it, forecasts with it and exports it to ONNX \
             with the parity check. Nothing is kept.",
            pair_count()
        ));
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!self.validating, egui::Button::new("Validate all"))
                .clicked()
            {
                self.validating = true;
                self.validated = false;
                self.note = None;
                self.pairs.clear();
                out.send(Request::Validate);
            }
            if self.validating
                && ui
                    .add_enabled(
                        !self.cancel_requested,
                        egui::Button::new("Cancel validation"),
                    )
                    .clicked()
            {
                self.cancel_requested = true;
                out.send(Request::CancelValidation);
            }
        });
        if self.validating {
            let done = self.pairs.len();
            let elapsed: f64 = self.pairs.iter().map(|p| p.seconds).sum();
            let eta = (done > 0).then(|| elapsed / done as f64 * (pair_count() - done) as f64);
            ui.add(
                egui::ProgressBar::new(done as f32 / pair_count() as f32).text(format!(
                    "{done} of {} pairs · {} so far · ETA {}",
                    pair_count(),
                    duration(elapsed),
                    eta.map_or_else(|| "after the first pair".into(), duration)
                )),
            );
        }
        if let Some(n) = &self.note {
            ui.label(n);
        }
        if self.pairs.is_empty() {
            return;
        }
        egui::Grid::new("validation")
            .striped(true)
            .num_columns(5)
            .show(ui, |ui| {
                for h in ["model", "size", "time", "ONNX diff", "result"] {
                    ui.strong(h);
                }
                ui.end_row();
                for p in &self.pairs {
                    ui.label(format!("{} {}", p.architecture, p.variant));
                    ui.label(if p.architecture.is_network() {
                        format!("{} parameters", p.parameters)
                    } else {
                        format!("{} leaves", p.parameters)
                    });
                    ui.label(duration(p.seconds));
                    ui.label(
                        p.onnx_max_abs_diff
                            .map_or_else(|| "-".into(), |d| format!("{d:.1e}")),
                    );
                    if p.ok() {
                        ui.label(RichText::new("ok").color(GOOD_GREEN));
                    } else {
                        ui.label(RichText::new(&p.status).color(ERROR_RED));
                    }
                    ui.end_row();
                }
            });
        if self.validated {
            let failed = self.pairs.iter().filter(|p| !p.ok()).count();
            ui.label(format!(
                "{} of {} pairs ok",
                self.pairs.len() - failed,
                self.pairs.len()
            ));
        }
    }
}

/// What the last Recover did: each registered version, each export put back, and each folder
/// it could not take with the reason.
fn show_recovery(ui: &mut Ui, report: &RecoveryReport) {
    if report.is_empty() {
        ui.label("Recover: nothing was waiting.");
        return;
    }
    if !report.registered.is_empty() {
        ui.label(format!(
            "Recovered and registered: {}",
            report
                .registered
                .iter()
                .map(|r| r.version_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for version in &report.restored_exports {
        ui.label(format!(
            "Put back the recorded model.onnx of {version} (a re-export was interrupted)."
        ));
    }
    for failure in &report.failed {
        ui.label(
            RichText::new(format!(
                "Not recovered: {} — {}. It was left where it is; the others were recovered.",
                failure.folder, failure.reason
            ))
            .color(ERROR_RED),
        );
    }
}
