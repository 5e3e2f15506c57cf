//! Train screen: every option of `atb train model` as a form with inline validation, Train and
//! Cancel, and the live view of a run (losses, learning rate, progress with ETA, device), ending
//! with the test metrics beside the baselines and a link to the new model.

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

/// The batch-loss line is drawn from at most twice this many points (about one per pixel column).
const BATCH_LINE_BUCKETS: usize = 400;
/// Epoch-loss points get markers up to this many epochs.
const EPOCH_MARKERS_UP_TO: usize = 50;
const TRAIN_LOSS_COLOR: egui::Color32 = egui::Color32::from_rgb(0xd0, 0x6a, 0x3a);
const VALIDATION_LOSS_COLOR: egui::Color32 = egui::Color32::from_rgb(0x3a, 0x7c, 0xd0);

/// The form as typed: choices are typed values, numbers stay text until checked.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainForm {
    pub series: SeriesForm,
    pub architecture: Architecture,
    pub variant: Variant,
    pub epochs: String,
    pub batch_size: String,
    pub sequence_length: String,
    pub learning_rate: String,
    pub patience: String,
    pub horizon: String,
    pub target: Target,
    pub feature_set: FeatureSet,
    pub seed: String,
    pub device: DeviceChoice,
    pub grad_clip: String,
    pub folds: String,
    /// The tree options (`gbdt` only); empty means the variant's value.
    pub trees: TreeFields,
}

/// The `gbdt` options as typed; an empty field takes the variant's value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TreeFields {
    pub leaves: String,
    pub max_depth: String,
    pub rounds: String,
    pub learning_rate: String,
    pub min_rows_in_leaf: String,
    pub early_stopping_rounds: String,
}

impl TreeFields {
    fn from_overrides(o: &TreeOverrides) -> Self {
        fn text<T: ToString>(v: Option<T>) -> String {
            v.map(|v| v.to_string()).unwrap_or_default()
        }
        Self {
            leaves: text(o.leaves),
            max_depth: text(o.max_depth),
            rounds: text(o.rounds),
            learning_rate: text(o.learning_rate),
            min_rows_in_leaf: text(o.min_rows_in_leaf),
            early_stopping_rounds: text(o.early_stopping_rounds),
        }
    }

    fn overrides(&self, p: &mut Vec<FieldProblem>) -> TreeOverrides {
        let whole = "a whole number, or empty for the variant's";
        TreeOverrides {
            leaves: parse_optional(&self.leaves, "leaves", whole, p),
            max_depth: parse_optional(&self.max_depth, "max depth", whole, p),
            rounds: parse_optional(&self.rounds, "rounds", whole, p),
            learning_rate: parse_optional(
                &self.learning_rate,
                "tree learning rate",
                "a number, e.g. 0.05, or empty for the variant's",
                p,
            ),
            min_rows_in_leaf: parse_optional(&self.min_rows_in_leaf, "rows per leaf", whole, p),
            early_stopping_rounds: parse_optional(
                &self.early_stopping_rounds,
                "early-stopping rounds",
                whole,
                p,
            ),
        }
    }
}

impl Default for TrainForm {
    /// The same defaults as `atb train model` (`TrainSpec::default()`), on the bundled sample.
    fn default() -> Self {
        Self::from_request(&TrainRequest::default())
    }
}

fn parse<T: std::str::FromStr>(
    text: &str,
    field: &str,
    what: &str,
    problems: &mut Vec<FieldProblem>,
) -> Option<T> {
    match text.trim().parse() {
        Ok(v) => Some(v),
        Err(_) => {
            problems.push(FieldProblem::new(field, what));
            None
        }
    }
}

fn parse_optional<T: std::str::FromStr>(
    text: &str,
    field: &str,
    what: &str,
    problems: &mut Vec<FieldProblem>,
) -> Option<T> {
    if text.trim().is_empty() {
        None
    } else {
        parse(text, field, what, problems)
    }
}

/// "tcn lightweight, seed 42, BTCUSDT 1h from sample": what a queued run is.
fn describe(r: &TrainRequest) -> String {
    format!(
        "{} {}, seed {}, {} {} from {}",
        r.spec.architecture,
        r.spec.variant,
        r.spec.seed,
        r.series.symbol,
        r.series.timeframe,
        r.series.source
    )
}

/// A field read only when `read` (a network's option): otherwise its default, unjudged.
fn parse_if<T: std::str::FromStr>(
    read: bool,
    text: &str,
    field: &str,
    what: &str,
    problems: &mut Vec<FieldProblem>,
    default: T,
) -> Option<T> {
    if read {
        parse(text, field, what, problems)
    } else {
        Some(default)
    }
}

impl TrainForm {
    /// The form showing `r` (a run the page attached to).
    pub fn from_request(r: &TrainRequest) -> Self {
        let opt = |v: Option<String>| v.unwrap_or_default();
        let spec = &r.spec;
        Self {
            series: SeriesForm {
                source: r.series.source.clone(),
                symbol: r.series.symbol.to_string(),
                timeframe: r.series.timeframe,
                days: r.series.days.map(|d| d.to_string()).unwrap_or_default(),
                start_date: opt(r.series.start_date.clone()),
                end_date: opt(r.series.end_date.clone()),
            },
            architecture: spec.architecture,
            variant: spec.variant,
            epochs: spec.epochs.to_string(),
            batch_size: spec.batch_size.to_string(),
            sequence_length: spec.sequence_length.to_string(),
            learning_rate: spec.learning_rate.to_string(),
            patience: spec.patience.to_string(),
            horizon: spec.horizon.to_string(),
            target: spec.target,
            feature_set: spec.feature_set,
            seed: spec.seed.to_string(),
            device: spec.device,
            grad_clip: spec
                .grad_clip_norm
                .map(|c| c.to_string())
                .unwrap_or_default(),
            folds: spec
                .walk_forward_folds
                .map(|k| k.to_string())
                .unwrap_or_default(),
            trees: TreeFields::from_overrides(&spec.trees),
        }
    }

    /// The request, or every reason Train is disabled.
    pub fn request(&self) -> Result<TrainRequest, Vec<FieldProblem>> {
        let (series, mut problems) = match self.series.request() {
            Ok(s) => (Some(s), Vec::new()),
            Err(p) => (None, p),
        };
        let p = &mut problems;
        let whole = "a whole number";
        let network = self.architecture.is_network();
        // The networks' options are hidden for trees: their fields are neither read nor judged.
        let defaults = TrainSpec::default();
        let epochs = parse_if(network, &self.epochs, "epochs", whole, p, defaults.epochs);
        let batch_size = parse_if(
            network,
            &self.batch_size,
            "batch size",
            whole,
            p,
            defaults.batch_size,
        );
        let sequence_length = parse(&self.sequence_length, "sequence length", whole, p);
        let learning_rate = parse_if(
            network,
            &self.learning_rate,
            "learning rate",
            "a number, e.g. 0.001",
            p,
            defaults.learning_rate,
        );
        let patience = parse_if(
            network,
            &self.patience,
            "patience",
            whole,
            p,
            defaults.patience,
        );
        let trees = if network {
            TreeOverrides::default()
        } else {
            self.trees.overrides(p)
        };
        let horizon = parse(&self.horizon, "horizon", whole, p);
        let seed = parse(&self.seed, "seed", "a whole number ≥ 0", p);
        let grad_clip = if network {
            parse_optional(&self.grad_clip, "gradient clip", "a number", p)
        } else {
            None
        };
        let folds = parse_optional(&self.folds, "walk-forward folds", whole, p);
        let (
            Some(series),
            Some(epochs),
            Some(batch_size),
            Some(sequence_length),
            Some(learning_rate),
            Some(patience),
            Some(horizon),
            Some(seed),
        ) = (
            series,
            epochs,
            batch_size,
            sequence_length,
            learning_rate,
            patience,
            horizon,
            seed,
        )
        else {
            return Err(problems);
        };
        let request = TrainRequest {
            series,
            spec: TrainSpec {
                architecture: self.architecture,
                variant: self.variant,
                epochs,
                batch_size,
                sequence_length,
                learning_rate,
                patience,
                horizon,
                target: self.target,
                feature_set: self.feature_set,
                seed,
                device: self.device,
                grad_clip_norm: grad_clip,
                walk_forward_folds: folds,
                trees,
                ..TrainSpec::default()
            },
        };
        problems.extend(request.problems());
        if problems.is_empty() {
            Ok(request)
        } else {
            Err(problems)
        }
    }

    fn show(&mut self, ui: &mut Ui, problems: &[FieldProblem]) {
        let say = |ui: &mut Ui, field: &str| {
            for p in problems.iter().filter(|p| p.field == field) {
                problem(ui, &p.reason);
            }
        };
        ui.columns(2, |cols| {
            let ui = &mut cols[0];
            ui.strong("Candles");
            self.series.show(ui, problems, true);
            ui.strong("Model");
            choice(
                ui,
                "Architecture",
                &mut self.architecture,
                &Architecture::ALL,
            );
            choice(ui, "Variant", &mut self.variant, &Variant::ALL);
            choice(ui, "Target", &mut self.target, &Target::ALL);
            ui.label(RichText::new(format!("Predicts {}.", self.target.description())).weak());
            choice(ui, "Feature set", &mut self.feature_set, &FeatureSet::ALL);
            choice(ui, "Device", &mut self.device, &DeviceChoice::ALL);

            let ui = &mut cols[1];
            if !self.architecture.is_network() {
                self.show_trees(ui, problems);
                return;
            }
            ui.strong("Training");
            for (label, field, value) in [
                ("Epochs", "epochs", &mut self.epochs),
                ("Batch size", "batch size", &mut self.batch_size),
                (
                    "Sequence length",
                    "sequence length",
                    &mut self.sequence_length,
                ),
                ("Learning rate", "learning rate", &mut self.learning_rate),
                ("Early-stop patience", "patience", &mut self.patience),
                ("Horizon (bars)", "horizon", &mut self.horizon),
                ("Seed", "seed", &mut self.seed),
                (
                    "Gradient clip (empty: none)",
                    "gradient clip",
                    &mut self.grad_clip,
                ),
                (
                    "Walk-forward folds (empty: none)",
                    "walk-forward folds",
                    &mut self.folds,
                ),
            ] {
                labelled_edit(ui, label, value, 90.0);
                say(ui, field);
            }
        });
    }
}

impl TrainForm {
    /// The `gbdt` column: what a tree model is asked for (the networks' epochs, batch size,
    /// learning rate, patience and clipping do not apply to it). Empty fields show the
    /// variant's value as a hint.
    fn show_trees(&mut self, ui: &mut Ui, problems: &[FieldProblem]) {
        let budget = TreeBudget::for_variant(self.variant);
        ui.strong("Trees (LightGBM, on the CPU)");
        let t = &mut self.trees;
        for (label, field, value, hint) in [
            (
                "Leaves per tree",
                "leaves",
                &mut t.leaves,
                budget.leaves.to_string(),
            ),
            (
                "Max depth",
                "max depth",
                &mut t.max_depth,
                budget.max_depth.to_string(),
            ),
            (
                "Boosting rounds",
                "rounds",
                &mut t.rounds,
                budget.rounds.to_string(),
            ),
            (
                "Tree learning rate",
                "tree learning rate",
                &mut t.learning_rate,
                budget.learning_rate.to_string(),
            ),
            (
                "Rows per leaf (min)",
                "rows per leaf",
                &mut t.min_rows_in_leaf,
                budget.min_rows_in_leaf.to_string(),
            ),
            (
                "Early-stop rounds",
                "early-stopping rounds",
                &mut t.early_stopping_rounds,
                budget.early_stopping_rounds.to_string(),
            ),
        ] {
            ui.horizontal(|ui| {
                let l = ui.label(label);
                ui.add(
                    egui::TextEdit::singleline(value)
                        .desired_width(90.0)
                        .hint_text(hint),
                )
                .labelled_by(l.id);
            });
            for p in problems.iter().filter(|p| p.field == field) {
                problem(ui, &p.reason);
            }
        }
        for (label, field, value) in [
            (
                "Sequence length",
                "sequence length",
                &mut self.sequence_length,
            ),
            ("Horizon (bars)", "horizon", &mut self.horizon),
            ("Seed", "seed", &mut self.seed),
            (
                "Walk-forward folds (empty: none)",
                "walk-forward folds",
                &mut self.folds,
            ),
        ] {
            labelled_edit(ui, label, value, 90.0);
            for p in problems.iter().filter(|p| p.field == field) {
                problem(ui, &p.reason);
            }
        }
    }
}

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
    fn apply(&mut self, u: RunUpdate) {
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

    fn event(&mut self, e: TrainingEvent) {
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

    fn running(&self) -> bool {
        self.starting || self.run.as_ref().is_some_and(|r| r.active)
    }

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
    fn enqueue(&mut self, requests: Vec<TrainRequest>, out: &mut Outbox) {
        out.send(Request::Enqueue { requests });
    }

    fn queue_buttons(&mut self, ui: &mut Ui, out: &mut Outbox, request: Option<&TrainRequest>) {
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

    fn queue_view(&mut self, ui: &mut Ui, out: &mut Outbox) {
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

fn show_run(ui: &mut Ui, run: &RunView) -> Option<String> {
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

/// A tree model's curve: training and validation loss after every boosting round (the trees
/// kept end at the lowest validation point).
fn round_chart(ui: &mut Ui, run: &RunView) {
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

fn loss_charts(ui: &mut Ui, run: &RunView) {
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
