//! A run as the screen follows it: the events folded into curves, progress and the final
//! evaluation, and its view (device, progress with ETA, charts, metrics beside the baselines).

use super::*;

/// A run as the UI has seen it so far.
#[derive(Debug, Clone, Default)]
pub struct RunView {
    pub run_id: u64,
    pub active: bool,
    /// A tree model's run: its epochs are boosting rounds, with no batches or learning-rate
    /// schedule.
    pub trees: bool,
    pub loading: Option<String>,
    pub device: Option<String>,
    pub device_reason: String,
    pub parameters: usize,
    pub epochs: usize,
    pub windows: (usize, usize, usize),
    /// (epoch, train loss, validation loss, learning rate)
    pub epoch_points: Vec<(f64, f64, f64, f64)>,
    /// (fractional epoch, batch loss)
    pub batch_points: Vec<[f64; 2]>,
    pub epoch: usize,
    pub batch: usize,
    pub batches: usize,
    pub eta_s: Option<f64>,
    /// Training seconds at the last epoch's end (0 before it).
    pub elapsed_s: f64,
    /// (`elapsed_s`, egui's clock) when this view first drew after it: the elapsed time shown
    /// keeps counting between epochs from there.
    pub elapsed_anchor: std::cell::Cell<Option<(f64, f64)>>,
    pub samples_per_second: f64,
    pub note: Option<String>,
    pub evaluation: Option<Evaluation>,
    pub stop: Option<StopReason>,
    pub train_seconds: f64,
    pub registered: Option<ModelRow>,
    pub failed: Option<String>,
}

impl RunView {
    pub(super) fn apply(&mut self, u: RunUpdate) {
        match u {
            RunUpdate::Loading { message } => self.loading = Some(message),
            RunUpdate::Training { event } => self.event(event),
            RunUpdate::Registered { row } => {
                self.registered = Some(*row);
                self.active = false;
            }
            RunUpdate::NotRegistered { reason } => {
                self.note = Some(reason);
                self.active = false;
            }
            RunUpdate::Failed { message } => {
                self.failed = Some(message);
                self.active = false;
            }
        }
    }

    pub(super) fn event(&mut self, e: TrainingEvent) {
        match e {
            TrainingEvent::RunStarted {
                device,
                device_reason,
                parameters,
                dataset,
                epochs,
                batches_per_epoch,
                ..
            } => {
                self.loading = None;
                self.device = Some(device);
                self.device_reason = device_reason;
                self.parameters = parameters;
                self.epochs = epochs;
                self.batches = batches_per_epoch;
                self.windows = (
                    dataset.train.samples,
                    dataset.validation.samples,
                    dataset.test.samples,
                );
            }
            TrainingEvent::Batch {
                epoch,
                batch,
                batches,
                loss,
                samples_per_second,
            } => {
                self.epoch = epoch;
                self.batch = batch;
                self.batches = batches;
                self.samples_per_second = samples_per_second;
                let x = (epoch - 1) as f64 + batch as f64 / batches.max(1) as f64;
                self.batch_points.push([x, loss]);
            }
            TrainingEvent::EpochEnd {
                epoch,
                train_loss,
                val_loss,
                learning_rate,
                eta_s,
                elapsed_s,
                ..
            } => {
                self.epoch = epoch;
                self.batch = self.batches;
                self.eta_s = Some(eta_s);
                self.elapsed_s = elapsed_s;
                self.elapsed_anchor.set(None);
                self.epoch_points
                    .push((epoch as f64, train_loss, val_loss, learning_rate));
            }
            TrainingEvent::EarlyStopped { epoch, best_epoch } => {
                self.note = Some(if self.trees {
                    format!(
                        "early stop at round {epoch}; keeping the trees up to round {best_epoch}"
                    )
                } else {
                    format!(
                        "early stop at epoch {epoch}; keeping the weights of epoch {best_epoch}"
                    )
                });
            }
            TrainingEvent::Cancelled { epoch, .. } => {
                self.note = Some(format!("cancelled during epoch {epoch}"));
            }
            TrainingEvent::Diverged {
                reason, best_epoch, ..
            } => {
                self.note = Some(match best_epoch {
                    Some(b) => format!("stopped: {reason}; keeping the weights of epoch {b}"),
                    None => format!("stopped: {reason}"),
                });
            }
            TrainingEvent::Fold { fold, folds, inner } => {
                // Walk-forward folds train after the main run; show where they are.
                if let TrainingEvent::EpochEnd { epoch, epochs, .. } = *inner {
                    self.loading = Some(format!(
                        "walk-forward fold {fold} of {folds}: epoch {epoch}/{epochs}"
                    ));
                } else if let TrainingEvent::RunStarted { .. } = *inner {
                    self.loading = Some(format!("walk-forward fold {fold} of {folds}: starting"));
                }
            }
            TrainingEvent::Finished {
                stop,
                train_seconds,
                evaluation,
                ..
            } => {
                self.loading = None;
                self.stop = Some(stop);
                self.train_seconds = train_seconds;
                self.evaluation = Some(*evaluation);
            }
        }
    }

    /// Share of the run done, from epochs and batches.
    pub fn fraction(&self) -> f32 {
        if self.epochs == 0 {
            return 0.0;
        }
        let within = self.batch as f64 / self.batches.max(1) as f64;
        let done = if self.batch >= self.batches
            && self
                .epoch_points
                .last()
                .is_some_and(|p| p.0 as usize == self.epoch)
        {
            self.epoch as f64
        } else {
            self.epoch.saturating_sub(1) as f64 + within
        };
        (done / self.epochs as f64).clamp(0.0, 1.0) as f32
    }

    /// Seconds the run has trained, as of egui's clock `now`.
    pub fn elapsed(&self, now: f64) -> f64 {
        let (at, clock) = self.elapsed_anchor.get().unwrap_or((self.elapsed_s, now));
        self.elapsed_anchor.set(Some((at, clock)));
        at + (now - clock).max(0.0)
    }

    pub fn status_line(&self) -> String {
        if let Some(m) = &self.loading {
            return format!("Training: {m}");
        }
        let eta = self
            .eta_s
            .map(|s| format!(", ETA {}", duration(s)))
            .unwrap_or_default();
        if self.trees {
            return format!("Training: round {}/{}{eta}", self.epoch.max(1), self.epochs);
        }
        format!(
            "Training: epoch {}/{}, batch {}/{}{eta}",
            self.epoch.max(1),
            self.epochs,
            self.batch,
            self.batches,
        )
    }
}

pub(super) fn show_run(ui: &mut Ui, run: &RunView) -> Option<String> {
    if let Some(device) = &run.device {
        let size = if run.trees {
            "tree model".to_string()
        } else {
            format!("{} parameters", run.parameters)
        };
        ui.label(format!(
            "Device: {device} ({}) · {size} · {} / {} / {} train / validation / test windows",
            run.device_reason, run.windows.0, run.windows.1, run.windows.2
        ));
    }
    if run.active {
        let elapsed = duration(run.elapsed(ui.input(|i| i.time)));
        let text = match &run.loading {
            Some(m) => m.clone(),
            None if run.trees => format!(
                "round {}/{} (stops early once validation stops improving) · {elapsed} elapsed · ETA at most {}",
                run.epoch.max(1),
                run.epochs,
                run.eta_s
                    .map_or_else(|| "after the first round".into(), duration)
            ),
            None => format!(
                "epoch {}/{} · batch {}/{} · {:.0} samples/s · {elapsed} elapsed · ETA {}",
                run.epoch.max(1),
                run.epochs,
                run.batch,
                run.batches,
                run.samples_per_second,
                run.eta_s
                    .map_or_else(|| "after the first epoch".into(), duration)
            ),
        };
        ui.add(egui::ProgressBar::new(run.fraction()).text(text));
    }
    if let Some(n) = &run.note {
        ui.label(n);
    }
    if let Some(f) = &run.failed {
        ui.label(RichText::new(format!("Training failed: {f}")).color(ERROR_RED));
    }
    loss_charts(ui, run);
    let mut open = None;
    if let Some(e) = &run.evaluation {
        ui.label(format!(
            "Finished ({}) in {}.",
            match run.stop {
                Some(StopReason::EarlyStopped) => "early stop",
                Some(StopReason::Cancelled) => "cancelled",
                Some(StopReason::Diverged) => "diverged: the best weights before it are kept",
                _ if run.trees => "all rounds",
                _ => "all epochs",
            },
            duration(run.train_seconds)
        ));
        metrics_table(ui, "run_metrics", e);
        if let Some(wf) = &e.walk_forward {
            crate::widgets::walk_forward_view(ui, "run_folds", wf);
        }
    }
    if let Some(row) = &run.registered {
        ui.horizontal(|ui| {
            ui.label(RichText::new("Registered:").color(GOOD_GREEN));
            if ui.link(format!("Open model {}", row.version_id)).clicked() {
                open = Some(row.version_id.clone());
            }
        });
    }
    open
}
