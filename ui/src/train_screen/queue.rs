//! The run queue beside the form: add the form's run, all variants or several seeds, and the
//! queued runs to reorder or remove.

use super::form::describe;
use super::*;

impl TrainScreen {
    /// The queue as the shell holds it: follow its running run live (attach when it is not the
    /// one shown), and refresh the model list when a queued run has finished.
    pub fn queue_arrived(&mut self, q: QueueSnapshot, out: &mut Outbox) {
        if let Some((_, run_id)) = &q.running
            && !self.starting
            && self.run.as_ref().is_none_or(|r| r.run_id != *run_id)
        {
            out.send(Request::AttachRun);
        }
        if q.finished.len() != self.queue.finished.len() {
            out.send(Request::ListModels);
        }
        self.queue = q;
    }

    /// Adds runs to the queue.
    pub(super) fn enqueue(&mut self, requests: Vec<TrainRequest>, out: &mut Outbox) {
        out.send(Request::Enqueue { requests });
    }

    pub(super) fn queue_buttons(
        &mut self,
        ui: &mut Ui,
        out: &mut Outbox,
        request: Option<&TrainRequest>,
    ) {
        ui.horizontal(|ui| {
            let ok = request.is_some();
            let add = ui
                .add_enabled(ok, egui::Button::new("Add to queue"))
                .on_hover_text("Queued runs train one after another, unattended");
            if add.clicked()
                && let Some(r) = request
            {
                self.enqueue(vec![r.clone()], out);
            }
            let architecture = self.form.architecture;
            let variants = ui.add_enabled(
                ok,
                egui::Button::new(format!("Queue all 3 variants of {architecture}")),
            );
            if variants.clicked()
                && let Some(r) = request
            {
                let runs = Variant::ALL
                    .iter()
                    .map(|&variant| {
                        let mut r = r.clone();
                        r.spec.variant = variant;
                        r
                    })
                    .collect();
                self.enqueue(runs, out);
            }
            let seeds = ui.add_enabled(ok, egui::Button::new("Queue 3 seeds"));
            if seeds.clicked()
                && let Some(r) = request
            {
                let runs = (0..3)
                    .map(|k| {
                        let mut r = r.clone();
                        r.spec.seed = r.spec.seed.wrapping_add(k);
                        r
                    })
                    .collect();
                self.enqueue(runs, out);
            }
        });
    }

    pub(super) fn queue_view(&mut self, ui: &mut Ui, out: &mut Outbox) {
        let q = &self.queue;
        if !q.busy() && q.finished.is_empty() {
            return;
        }
        ui.strong(format!(
            "Queue: {} waiting{}, {} finished",
            q.pending.len(),
            if q.running.is_some() {
                ", 1 training"
            } else {
                ""
            },
            q.finished.len()
        ));
        if let Some((run, _)) = &q.running {
            ui.label(format!(
                "#{} training now: {}",
                run.queue_id,
                describe(&run.request)
            ));
        }
        let mut action = None;
        for (i, run) in q.pending.iter().enumerate() {
            ui.horizontal(|ui| {
                ui.label(format!(
                    "#{} waiting: {}",
                    run.queue_id,
                    describe(&run.request)
                ));
                if ui
                    .add_enabled(
                        i > 0,
                        egui::Button::new(format!("Move #{} up", run.queue_id)),
                    )
                    .clicked()
                {
                    action = Some(Request::QueueShift {
                        queue_id: run.queue_id,
                        up: true,
                    });
                }
                if ui
                    .add_enabled(
                        i + 1 < q.pending.len(),
                        egui::Button::new(format!("Move #{} down", run.queue_id)),
                    )
                    .clicked()
                {
                    action = Some(Request::QueueShift {
                        queue_id: run.queue_id,
                        up: false,
                    });
                }
                if ui.button(format!("Remove #{}", run.queue_id)).clicked() {
                    action = Some(Request::QueueRemove {
                        queue_id: run.queue_id,
                    });
                }
            });
        }
        for run in q.finished.iter().rev() {
            let (text, color) = match &run.outcome {
                RunUpdate::Registered { row } => {
                    let verdict = row
                        .verdict_vs_persistence
                        .as_ref()
                        .map_or_else(|| "verdict not computed".to_string(), |v| v.text.clone());
                    (
                        format!("registered {}: {verdict}", row.version_id),
                        row.verdict_vs_persistence
                            .as_ref()
                            .map_or(ui.visuals().text_color(), |v| verdict_color(v.kind)),
                    )
                }
                RunUpdate::NotRegistered { reason } => (
                    format!("not registered: {reason}"),
                    ui.visuals().text_color(),
                ),
                RunUpdate::Failed { message } => (format!("failed: {message}"), ERROR_RED),
                other => (format!("{other:?}"), ui.visuals().text_color()),
            };
            ui.label(
                RichText::new(format!(
                    "#{} {}: {text}",
                    run.queue_id,
                    describe(&run.request)
                ))
                .color(color),
            );
        }
        if let Some(a) = action {
            out.send(a);
        }
    }
}
