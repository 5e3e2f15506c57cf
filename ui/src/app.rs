//! The application: screen state, the reply dispatcher and the frame loop. Screens draw from state
//! and queue requests; replies from the backend are the only thing that changes loaded data.

use atb_protocol::desktop::{AppInfo, UiPrefs};
use egui::{RichText, Ui};

use crate::backend::{Backend, ErrorKind, Failure, Reply, Request, RequestKind};
use crate::bench_screen::BenchScreen;
use crate::data_screen::DataScreen;
use crate::detail_screen::DetailScreen;
use crate::models_screen::ModelsScreen;
use crate::registry_screen::RegistryScreen;
use crate::store::Store;
use crate::train_screen::TrainScreen;
use crate::widgets::ERROR_RED;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Screen {
    Data,
    Train,
    Models,
    Detail,
    Guide,
    Registry,
    Bench,
}

/// Screens a launch can reopen, by their saved names (the model detail reopens as Models: the
/// version it showed may be gone).
const SCREENS: [(Screen, &str); 6] = [
    (Screen::Data, "data"),
    (Screen::Train, "train"),
    (Screen::Models, "models"),
    (Screen::Guide, "guide"),
    (Screen::Bench, "bench"),
    (Screen::Registry, "registry"),
];

fn screen_name(s: Screen) -> &'static str {
    match s {
        Screen::Detail => "models",
        other => SCREENS
            .iter()
            .find(|(screen, _)| *screen == other)
            .map_or("train", |(_, name)| name),
    }
}

/// Requests a frame wants sent; the app sends them after drawing.
#[derive(Default)]
pub struct Outbox(pub Vec<Request>);

impl Outbox {
    pub fn send(&mut self, r: Request) {
        self.0.push(r);
    }
}

/// Everything the UI shows. Public so tests can assert on it.
pub struct UiState {
    pub screen: Screen,
    pub info: Option<AppInfo>,
    /// What the shell said about shared things (rows, details, predictions, benchmarks), once
    /// for every screen; the screens below keep their own view state.
    pub store: Store,
    /// Errors not yet dismissed, newest last.
    pub errors: Vec<String>,
    pub data: DataScreen,
    pub train: TrainScreen,
    pub models: ModelsScreen,
    pub detail: DetailScreen,
    pub registry: RegistryScreen,
    pub bench: BenchScreen,
    /// The saved screen and forms were read back (or there were none).
    pub prefs_loaded: bool,
}

pub struct AtbApp {
    backend: Box<dyn Backend>,
    pub state: UiState,
    started: bool,
    /// When the queue was last asked for (seconds of egui's clock).
    queue_polled: f64,
    /// What was last saved of the screen and forms, and since when they differ from it.
    saved_prefs: Option<UiPrefs>,
    prefs_changed_at: Option<f64>,
}

/// How long the screen and forms must stay unchanged before they are saved.
const PREFS_SAVE_AFTER_SECONDS: f64 = 1.0;

/// Default width of the Training screen's form panel (two columns of fields).
const TRAIN_SIDE_WIDTH: f32 = 560.0;
/// The Data screen's form: its widest row is the three buttons.
const DATA_SIDE_WIDTH: f32 = 330.0;

/// How often a busy queue is looked at.
const QUEUE_POLL_SECONDS: f64 = 1.0;

impl AtbApp {
    pub fn new(backend: Box<dyn Backend>) -> Self {
        Self {
            backend,
            state: UiState {
                screen: Screen::Train,
                info: None,
                store: Store::default(),
                errors: Vec::new(),
                data: DataScreen::default(),
                train: TrainScreen::default(),
                models: ModelsScreen::default(),
                detail: DetailScreen::default(),
                registry: RegistryScreen::default(),
                bench: BenchScreen::default(),
                prefs_loaded: false,
            },
            started: false,
            queue_polled: f64::NEG_INFINITY,
            saved_prefs: None,
            prefs_changed_at: None,
        }
    }

    /// One frame: take in what arrived, draw, send what the frame asked for.
    pub fn ui(&mut self, ui: &mut Ui) {
        let mut out = Outbox::default();
        if !self.started {
            self.started = true;
            for r in [
                Request::AppInfo,
                Request::DataOverview,
                Request::ListModels,
                Request::AttachRun,
                Request::QueueState,
                Request::LastBench,
                Request::LastFeatureBench,
                Request::LoadPrefs,
            ] {
                out.send(r);
            }
        }
        // While the queue works and no run streams, look at it once a second: its runs start
        // without the page. A streaming run needs no polling (its end asks at once), and each
        // poll would cost a repaint of its charts.
        let streaming = self.state.train.run.as_ref().is_some_and(|r| r.active);
        if self.state.train.queue.busy() && !streaming {
            let now = ui.input(|i| i.time);
            if now - self.queue_polled >= QUEUE_POLL_SECONDS {
                self.queue_polled = now;
                out.send(Request::QueueState);
            }
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_secs_f64(QUEUE_POLL_SECONDS));
        }
        for received in self.backend.poll() {
            match received {
                Ok(reply) => self.state.apply(reply, &mut out),
                Err(failure) => self.state.failed(failure, &mut out),
            }
        }
        self.state.draw(ui, &mut out);
        self.save_prefs(ui, &mut out);
        for r in out.0 {
            self.backend.send(r, ui.ctx());
        }
    }
}

impl AtbApp {
    /// Saves the screen and forms once they have stayed changed for a second (never before the
    /// saved ones were read back, which would overwrite them with the defaults).
    fn save_prefs(&mut self, ui: &Ui, out: &mut Outbox) {
        if !self.state.prefs_loaded {
            return;
        }
        let current = self.state.prefs();
        if self.saved_prefs.as_ref() == Some(&current) {
            self.prefs_changed_at = None;
            return;
        }
        let now = ui.input(|i| i.time);
        let since = *self.prefs_changed_at.get_or_insert(now);
        if now - since >= PREFS_SAVE_AFTER_SECONDS {
            out.send(Request::SavePrefs(current.clone()));
            self.saved_prefs = Some(current);
            self.prefs_changed_at = None;
        } else {
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_secs_f64(
                    PREFS_SAVE_AFTER_SECONDS,
                ));
        }
    }
}

/// A resizable left panel of `width` (at least `min`) that scrolls its contents.
fn side_panel(ui: &mut Ui, id: &'static str, width: f32, min: f32, add: impl FnOnce(&mut Ui)) {
    egui::Panel::left(id)
        .resizable(true)
        .default_size(width)
        .min_size(min)
        .show(ui, |ui| {
            egui::ScrollArea::vertical().id_salt(id).show(ui, add);
        });
}

#[cfg(target_arch = "wasm32")]
impl eframe::App for AtbApp {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        AtbApp::ui(self, ui);
    }
}

impl UiState {
    /// The detail of the version the Model detail screen shows, once it has arrived.
    pub fn shown_detail(&self) -> Option<&atb_protocol::desktop::ModelDetail> {
        self.store.details.get(self.detail.version.as_deref()?)
    }

    fn apply(&mut self, reply: Reply, out: &mut Outbox) {
        match reply {
            Reply::AppInfo(info) => {
                self.errors.extend(info.warnings.iter().cloned());
                self.info = Some(info);
            }
            Reply::DataOverview(o) => self.data.overview = Some(o),
            Reply::Candles(c) => self.data.set_chart(c),
            Reply::FeaturePreview(p) => self.data.set_features(p),
            Reply::FetchProgress(p) => self.data.fetch_progress = Some(p),
            Reply::FetchCancelRequested => self.data.cancel_fetch_requested = true,
            Reply::Fetched(summary) => {
                self.data.fetched(summary);
                out.send(Request::DataOverview);
                // What was fetched is what the form names: show it.
                self.data.chart_form_series(out);
            }
            Reply::RunSnapshot(snapshot) => self.train.attach(snapshot),
            Reply::Run(update) => {
                let registered =
                    matches!(update, atb_protocol::desktop::RunUpdate::Registered { .. });
                if update.is_final() && self.train.queue.busy() {
                    // The queue's next run may start now: look without waiting for the poll.
                    out.send(Request::QueueState);
                }
                self.train.update(update);
                if registered {
                    out.send(Request::ListModels);
                }
            }
            Reply::CancelRequested => self.train.cancel_requested = true,
            Reply::Models(rows) => {
                self.models.rows_changed(&rows);
                for version in self.store.set_rows(rows) {
                    out.send(Request::ModelDetail { version });
                }
            }
            Reply::Detail(d) => {
                self.store.details.insert(d.row.version_id.clone(), *d);
            }
            Reply::Predictions(p) => {
                self.store.predictions.insert(p.version_id.clone(), p);
            }
            Reply::Attention(map) => self.detail.attention_loaded(map),
            Reply::Exported(outcome) => {
                self.detail.exported(outcome);
                out.send(Request::ListModels);
            }
            Reply::EnsembleMade(row) => {
                self.models.ensemble_made(*row);
                out.send(Request::ListModels);
            }
            Reply::Promoted(row) => {
                self.detail.message = Some(format!(
                    "{} is now {}",
                    row.version_id,
                    row.aliases.join(", ")
                ));
                out.send(Request::ListModels);
            }
            Reply::Imported(summary) => {
                self.data.imported(summary);
                out.send(Request::DataOverview);
            }
            Reply::RegistryChecked(check) => self.registry.checked(check),
            Reply::ResultsImported(report) => {
                self.registry.results_imported(report);
                out.send(Request::ListModels);
            }
            Reply::Recovered(rows) => {
                self.registry.recovered(rows, out);
                out.send(Request::ListModels);
            }
            Reply::Forecast(f) => self.detail.forecast_arrived(f),
            Reply::ValidationProgress(pair) => self.registry.validation_progress(pair),
            Reply::Validated(pairs) => self.registry.validated(pairs),
            Reply::ValidationCancelRequested => self.registry.cancel_requested = true,
            Reply::Paired(p) => self.models.paired_arrived(p),
            Reply::Judged(j) => self.models.judged_arrived(j),
            Reply::Backtested(report) => self.detail.backtest_arrived(*report),
            Reply::ForwardTested(report) => {
                self.store.forward_arrived(&report);
                self.detail.forward_arrived();
                self.models.forward_arrived(report);
            }
            Reply::Queue(q) => self.train.queue_arrived(q, out),
            Reply::BenchProgress(u) => {
                if let atb_protocol::bench::BenchUpdate::Measured(_) = &u {
                    // A benchmarked model was registered.
                    out.send(Request::ListModels);
                }
                self.bench.update(u);
            }
            Reply::Benched(report) => {
                self.bench.finished();
                self.store.bench = Some(*report);
                out.send(Request::ListModels);
            }
            Reply::BenchCancelRequested => self.bench.cancel_requested = true,
            Reply::Prefs(prefs) => {
                if let Some(p) = prefs {
                    self.restore(&p);
                }
                self.prefs_loaded = true;
            }
            Reply::PrefsSaved => {}
            Reply::LastFeatureBench(report) => self.store.feature_bench = report.map(|r| *r),
            Reply::LastBench(report) => {
                // This session's benchmark, if one finished first, is the newer one.
                if self.store.bench.is_none() {
                    self.store.bench = report.map(|r| *r);
                }
            }
            Reply::Deleted(version) => {
                self.store.forget(&version);
                self.models.forget(&version);
                if self.detail.version.as_deref() == Some(&version) {
                    self.detail = DetailScreen::default();
                    self.screen = Screen::Models;
                }
                out.send(Request::ListModels);
            }
        }
    }

    /// The screen and forms as they would be restored at the next launch.
    pub fn prefs(&self) -> UiPrefs {
        UiPrefs {
            screen: screen_name(self.screen).into(),
            train: self.train.form.request().ok(),
            data: self.data.form.request().ok(),
            bench: self.bench.spec().ok(),
        }
    }

    /// Restores what the last launch saved (a run the page attached to keeps its own form).
    fn restore(&mut self, p: &UiPrefs) {
        if let Some(screen) = SCREENS.iter().find(|(_, n)| *n == p.screen) {
            self.screen = screen.0;
        }
        if let Some(r) = &p.train
            && self.train.run.is_none()
        {
            self.train.form = crate::train_screen::TrainForm::from_request(r);
        }
        if let Some(d) = &p.data {
            self.data.form = crate::data_screen::SeriesForm::from_request(d);
        }
        if let Some(b) = &p.bench {
            self.bench.restore(b);
        }
    }

    /// A request failed: clear the busy flag of that request's kind and show the message; when
    /// the version asked about is gone, refresh the list so it disappears there too.
    fn failed(&mut self, Failure { request, error }: Failure, out: &mut Outbox) {
        self.data.request_failed(request);
        self.train.request_failed(request);
        self.detail.request_failed(request);
        self.registry.request_failed(request);
        self.bench.request_failed(request);
        if request == RequestKind::LoadPrefs {
            self.prefs_loaded = true;
        }
        if request == RequestKind::Bench && error.kind == ErrorKind::Cancelled {
            self.bench.note = Some(
                "Benchmark cancelled; the runs that finished stay registered under the tag bench."
                    .into(),
            );
            return;
        }
        if request == RequestKind::PairedTest {
            self.models.pairing = false;
        }
        if request == RequestKind::Judge {
            self.models.judging = false;
        }
        if request == RequestKind::MakeEnsemble {
            self.models.making_ensemble = false;
        }
        if request == RequestKind::ForwardTest {
            self.models.forward_testing = false;
        }
        if matches!(request, RequestKind::Candles | RequestKind::FeaturePreview) {
            // Said where the chart would be (the screen asks on its own when it opens, so a
            // series not stored yet is no error to dismiss).
            self.data.view_failed(request, error.message);
            return;
        }
        if matches!(request, RequestKind::Fetch | RequestKind::Refetch)
            && error.kind == ErrorKind::Cancelled
        {
            // Asked for: the screen says what was kept, it is no error.
            self.data.fetch_cancelled(error.message);
            return;
        }
        if request == RequestKind::Validate && error.kind == ErrorKind::Cancelled {
            // Asked for: the screen says so, it is no error.
            self.registry.note = Some("Validation cancelled; nothing was kept.".into());
            return;
        }
        if error.kind == ErrorKind::NotFound
            && matches!(
                request,
                RequestKind::ModelDetail
                    | RequestKind::Predictions
                    | RequestKind::Attention
                    | RequestKind::ExportOnnx
                    | RequestKind::Promote
                    | RequestKind::Delete
            )
        {
            out.send(Request::ListModels);
        }
        let remedy = error
            .remedy
            .as_ref()
            .map(|r| format!("; {}", r.desktop()))
            .unwrap_or_default();
        self.errors.push(format!(
            "{} failed: {}{remedy}",
            request.label(),
            error.message
        ));
    }

    fn draw(&mut self, ui: &mut Ui, out: &mut Outbox) {
        egui::Panel::top("tabs").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.heading("atb");
                ui.separator();
                for (screen, name) in [
                    (Screen::Data, "Data"),
                    (Screen::Train, "Training"),
                    (Screen::Models, "Models"),
                    (Screen::Detail, "Model detail"),
                    (Screen::Guide, "Guide"),
                    (Screen::Bench, "Benchmark"),
                    (Screen::Registry, "Registry"),
                ] {
                    if ui.selectable_label(self.screen == screen, name).clicked() {
                        self.screen = screen;
                    }
                }
                if let Some(info) = &self.info {
                    ui.separator();
                    ui.label(
                        RichText::new(format!("atb {} · {}", info.atb_version, info.home)).small(),
                    );
                }
            });
            self.draw_errors(ui);
        });
        if let Some(run) = &self.train.run
            && run.active
            && self.screen != Screen::Train
        {
            egui::Panel::bottom("run_status").show(ui, |ui| {
                ui.label(run.status_line());
            });
        }
        // The Training and Data screens' forms live in a side panel, so the charts and results
        // use the rest of the window and stay visible beside them.
        match self.screen {
            Screen::Train => side_panel(ui, "train_side", TRAIN_SIDE_WIDTH, 420.0, |ui| {
                self.train.show_side(ui, out)
            }),
            Screen::Data => side_panel(ui, "data_side", DATA_SIDE_WIDTH, 260.0, |ui| {
                self.data.show_side(ui, out)
            }),
            _ => {}
        }
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical()
                .id_salt(self.screen)
                .show(ui, |ui| match self.screen {
                    Screen::Data => self.data.show_main(ui, out),
                    Screen::Train => {
                        if let Some(version) = self.train.show_main(ui) {
                            self.open_detail(version, out);
                        }
                    }
                    Screen::Models => {
                        if let Some(version) = self.models.show(ui, &self.store, out) {
                            self.open_detail(version, out);
                        }
                    }
                    Screen::Detail => {
                        self.detail.show(ui, &self.store, out);
                        if let Some(member) = self.detail.open_member.take() {
                            self.open_detail(member, out);
                        }
                    }
                    Screen::Guide => {
                        if let Some(pairs) = crate::guide::show(
                            ui,
                            &self.store.rows,
                            self.store.bench.as_ref(),
                            self.store.feature_bench.as_ref(),
                        ) {
                            self.bench.choose(&pairs);
                            self.screen = Screen::Bench;
                        }
                    }
                    Screen::Bench => self.bench.show(ui, &self.store, out),
                    Screen::Registry => self.registry.show(ui, out),
                });
        });
    }

    fn draw_errors(&mut self, ui: &mut Ui) {
        let mut dismissed = None;
        for (i, e) in self.errors.iter().enumerate() {
            ui.horizontal(|ui| {
                ui.label(RichText::new(e).color(ERROR_RED).strong());
                if ui.button("Dismiss").clicked() {
                    dismissed = Some(i);
                }
            });
        }
        if let Some(i) = dismissed {
            self.errors.remove(i);
        }
    }

    fn open_detail(&mut self, version: String, out: &mut Outbox) {
        self.detail.open(&version, out);
        self.screen = Screen::Detail;
    }
}
