//! Train screen: every option of `atb train model` as a form with inline validation
//! ([`form`]), Train and Cancel, the run queue ([`queue`]), and the live view of a run
//! ([`run_view`], [`charts`]: losses, learning rate, progress with ETA, device), ending with the
//! test metrics beside the baselines and a link to the new model. This file holds the screen's
//! state and the side and main panels.

mod charts;
mod form;
mod queue;
mod run_view;

use self::charts::*;
pub use self::form::{TrainForm, TreeFields};
pub use self::run_view::RunView;
use self::run_view::*;

use atb_protocol::desktop::{QueueSnapshot, RunSnapshot, RunUpdate, TrainRequest};
use atb_protocol::registry::ModelRow;
use atb_protocol::spec::{FieldProblem, TrainSpec, TreeBudget, TreeOverrides};
use atb_protocol::training::{Evaluation, StopReason, TrainingEvent};
use atb_protocol::vocab::{Architecture, DeviceChoice, FeatureSet, Target, Variant};
use egui::{RichText, Ui};
use egui_plot::{Legend, Line, Plot, PlotPoints, Points};

use crate::app::Outbox;
use crate::backend::{Request, RequestKind};
use crate::data_screen::SeriesForm;
use crate::widgets::{
    ERROR_RED, GOOD_GREEN, choice, duration, envelope, labelled_edit, metrics_table, num, problem,
    verdict_color,
};

#[derive(Default)]
pub struct TrainScreen {
    pub form: TrainForm,
    pub run: Option<RunView>,
    /// Train was pressed and the shell has not answered yet.
    pub starting: bool,
    pub cancel_requested: bool,
    /// Updates that arrived before the snapshot of their run (the channel and the answer travel
    /// separately, so either may come first); applied after it.
    pending: Vec<RunUpdate>,
    /// The run queue, as last read from the shell.
    pub queue: QueueSnapshot,
}

impl TrainScreen {
    pub fn attach(&mut self, snapshot: Option<RunSnapshot>) {
        self.starting = false;
        let pending = std::mem::take(&mut self.pending);
        let Some(s) = snapshot else { return };
        let mut view = RunView {
            run_id: s.run_id,
            active: true,
            trees: !s.request.spec.architecture.is_network(),
            ..RunView::default()
        };
        let ended = !s.active;
        for u in s.updates.into_iter().chain(pending) {
            view.apply(u);
        }
        view.active = !ended && view.active;
        // Show what the run was asked for, not whatever the form held.
        self.form = TrainForm::from_request(&s.request);
        self.cancel_requested = false;
        self.run = Some(view);
    }

    pub fn update(&mut self, u: RunUpdate) {
        match &mut self.run {
            Some(run) if !self.starting => run.apply(u),
            // The snapshot of this run is still on its way.
            _ => self.pending.push(u),
        }
    }

    pub fn request_failed(&mut self, request: RequestKind) {
        match request {
            RequestKind::Train => {
                self.starting = false;
                self.pending.clear();
            }
            RequestKind::CancelRun => self.cancel_requested = false,
            _ => {}
        }
    }

    pub(super) fn running(&self) -> bool {
        self.starting || self.run.as_ref().is_some_and(|r| r.active)
    }

    /// The side panel: the form, Train / Cancel and the queue.
    pub fn show_side(&mut self, ui: &mut Ui, out: &mut Outbox) {
        ui.heading("Train a model");
        let request = self.form.request();
        let problems = request.as_ref().err().cloned().unwrap_or_default();
        ui.add_enabled_ui(!self.running(), |ui| self.form.show(ui, &problems));
        // Ctrl+Enter trains, Esc cancels the run shown (the buttons' own conditions apply).
        let (train_key, cancel_key) = ui.input_mut(|i| {
            (
                i.consume_key(egui::Modifiers::COMMAND, egui::Key::Enter),
                i.consume_key(egui::Modifiers::NONE, egui::Key::Escape),
            )
        });
        ui.horizontal(|ui| {
            let why = problems
                .first()
                .map(|p| format!("{}: {}", p.field, p.reason));
            let train = ui.add_enabled(
                request.is_ok() && !self.running(),
                egui::Button::new("Train"),
            );
            let train = match &why {
                Some(w) => train.on_disabled_hover_text(w),
                None => train,
            };
            if (train.clicked() || (train_key && request.is_ok() && !self.running()))
                && let Ok(r) = &request
            {
                self.starting = true;
                self.run = None;
                out.send(Request::Train(r.clone()));
            }
            // Cancel names the run it shows, so it waits for the run's snapshot.
            let shown = self
                .run
                .as_ref()
                .filter(|r| r.active && !self.starting)
                .map(|r| r.run_id);
            let cancel = ui.add_enabled(
                shown.is_some() && !self.cancel_requested,
                egui::Button::new("Cancel"),
            );
            let cancel_now = cancel.clicked() || (cancel_key && !self.cancel_requested);
            if let (true, Some(run_id)) = (cancel_now, shown) {
                self.cancel_requested = true;
                out.send(Request::CancelRun { run_id });
            }
            if let Some(w) = why {
                ui.label(RichText::new(format!("Train is disabled: {w}")).color(ERROR_RED));
            }
        });
        self.queue_buttons(ui, out, request.as_ref().ok());
        self.queue_view(ui, out);
    }

    /// The main area: the run's live charts, then its metrics and verdicts; returns a version
    /// to open when its link was clicked.
    pub fn show_main(&mut self, ui: &mut Ui) -> Option<String> {
        let Some(run) = self.run.as_ref() else {
            ui.label(
                "Fill in the form on the left and press Train (Ctrl+Enter); the run's curves, \
                 progress and final metrics appear here.",
            );
            return None;
        };
        show_run(ui, run)
    }
}
