//! Benchmark screen: `atb bench` by pointing and clicking. Choose architectures, variants,
//! seeds, epochs and the series; run it with progress per model and Cancel; read the measured
//! comparison (training time, latency natively and in ONNX Runtime, accuracy with verdicts, the
//! original's promises beside them) with a time-against-skill scatter and latency bars. The last
//! report is kept by the shell and feeds the guide.

use std::collections::BTreeSet;

use atb_protocol::bench::{BenchReport, BenchSpec, BenchUpdate};
use atb_protocol::verdict::{VerdictKind, verdict_with};
use atb_protocol::vocab::{Architecture, Variant};
use egui::{RichText, Ui};
use egui_plot::{Bar, BarChart, Legend, Plot, PlotPoint, Points, Text};

use crate::app::Outbox;
use crate::backend::{Request, RequestKind};
use crate::store::Store;
use crate::widgets::{
    ERROR_RED, GOOD_GREEN, duration, labelled_edit, num, verdict_color, window_share,
};

pub struct BenchScreen {
    pub architectures: BTreeSet<Architecture>,
    pub variants: BTreeSet<Variant>,
    pub seeds: String,
    pub epochs: String,
    pub days: String,
    pub running: bool,
    pub cancel_requested: bool,
    /// The latest progress line, and (index, total) of runs.
    pub progress: Option<(String, usize, usize)>,
    /// Seconds of egui's clock when the benchmark started (for elapsed time and ETA).
    pub started_at: Option<f64>,
    pub note: Option<String>,
}

impl Default for BenchScreen {
    fn default() -> Self {
        let spec = BenchSpec::default();
        Self {
            architectures: spec.architectures.iter().copied().collect(),
            variants: spec.variants.iter().copied().collect(),
            seeds: spec.seeds.to_string(),
            epochs: spec.epochs.to_string(),
            days: spec.series.days.map(|d| d.to_string()).unwrap_or_default(),
            running: false,
            cancel_requested: false,
            progress: None,
            started_at: None,
            note: None,
        }
    }
}

impl BenchScreen {
    /// The form showing `spec` (restored from the last launch).
    pub fn restore(&mut self, spec: &BenchSpec) {
        self.architectures = spec.architectures.iter().copied().collect();
        self.variants = spec.variants.iter().copied().collect();
        self.seeds = spec.seeds.to_string();
        self.epochs = spec.epochs.to_string();
        self.days = spec.series.days.map(|d| d.to_string()).unwrap_or_default();
    }

    /// Preselects what the guide needs measured.
    pub fn choose(&mut self, pairs: &[(Architecture, Variant)]) {
        self.architectures = pairs.iter().map(|p| p.0).collect();
        self.variants = pairs.iter().map(|p| p.1).collect();
    }

    /// The spec the form describes, or why it cannot run.
    pub fn spec(&self) -> Result<BenchSpec, String> {
        let whole = |text: &str, what: &str| {
            text.trim()
                .parse::<usize>()
                .map_err(|_| format!("{what}: a whole number"))
        };
        let mut spec = BenchSpec {
            architectures: self.architectures.iter().copied().collect(),
            variants: self.variants.iter().copied().collect(),
            seeds: whole(&self.seeds, "seeds")?,
            epochs: whole(&self.epochs, "epochs")?,
            ..BenchSpec::default()
        };
        spec.series.days = if self.days.trim().is_empty() {
            None
        } else {
            Some(whole(&self.days, "last days")? as u32)
        };
        match spec.problems().into_iter().next() {
            Some(p) => Err(p),
            None => Ok(spec),
        }
    }

    pub fn update(&mut self, u: BenchUpdate) {
        match u {
            BenchUpdate::Started {
                architecture,
                variant,
                seed,
                index,
                total,
            } => {
                self.progress = Some((
                    format!("training {architecture} {variant} (seed {seed})"),
                    index,
                    total,
                ))
            }
            BenchUpdate::Epoch { epoch, epochs } => {
                if let Some((line, _, _)) = &mut self.progress {
                    let base = line.split(" · ").next().unwrap_or_default().to_string();
                    *line = format!("{base} · epoch {epoch} of at most {epochs}");
                }
            }
            BenchUpdate::Measuring {
                architecture,
                variant,
            } => {
                if let Some((line, _, _)) = &mut self.progress {
                    *line = format!(
                        "exporting {architecture} {variant} to ONNX and timing its inference"
                    );
                }
            }
            BenchUpdate::Measured(_) => {}
        }
    }

    /// The benchmark ended (its report went to the store).
    pub fn finished(&mut self) {
        self.running = false;
        self.cancel_requested = false;
        self.progress = None;
    }

    pub fn request_failed(&mut self, request: RequestKind) {
        if request == RequestKind::Bench {
            self.running = false;
            self.cancel_requested = false;
            self.progress = None;
        }
    }

    pub fn show(&mut self, ui: &mut Ui, store: &Store, out: &mut Outbox) {
        ui.heading("Benchmark");
        ui.label(
            "Trains every chosen model on the same candles, split, seeds and epochs, registers \
             each under the tag bench, exports it to ONNX with the parity check and times its \
             inference: the original's comparison table, measured on this machine.",
        );
        ui.add_enabled_ui(!self.running, |ui| self.form(ui));
        let spec = self.spec();
        // As on the Training screen: Ctrl+Enter runs, Esc cancels.
        let (run_key, cancel_key) = ui.input_mut(|i| {
            (
                i.consume_key(egui::Modifiers::COMMAND, egui::Key::Enter),
                i.consume_key(egui::Modifiers::NONE, egui::Key::Escape),
            )
        });
        ui.horizontal(|ui| {
            let run = ui
                .add_enabled(
                    spec.is_ok() && !self.running,
                    egui::Button::new("Run benchmark"),
                )
                .on_hover_text("Ctrl+Enter");
            if (run.clicked() || (run_key && !self.running))
                && let Ok(s) = &spec
            {
                self.running = true;
                self.note = None;
                self.progress = None;
                self.started_at = Some(ui.input(|i| i.time));
                out.send(Request::Bench(s.clone()));
            }
            if self.running
                && (ui
                    .add_enabled(
                        !self.cancel_requested,
                        egui::Button::new("Cancel benchmark"),
                    )
                    .on_hover_text("Esc")
                    .clicked()
                    || (cancel_key && !self.cancel_requested))
            {
                self.cancel_requested = true;
                out.send(Request::CancelBench);
            }
            if let Err(why) = &spec {
                ui.label(RichText::new(format!("Run is disabled: {why}")).color(ERROR_RED));
            }
        });
        if self.running {
            let elapsed = self.started_at.map_or(0.0, |t| ui.input(|i| i.time) - t);
            let (line, index, total) = self
                .progress
                .clone()
                .unwrap_or_else(|| ("loading candles".into(), 0, 0));
            let done = index.saturating_sub(1);
            let eta =
                (done > 0 && total > 0).then(|| elapsed / done as f64 * (total - done) as f64);
            ui.add(
                egui::ProgressBar::new(if total == 0 {
                    0.0
                } else {
                    done as f32 / total as f32
                })
                .text(format!(
                    "run {index} of {total}: {line} · {} so far · ETA {}",
                    duration(elapsed),
                    eta.map_or_else(|| "after the first run".into(), duration)
                )),
            );
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_secs(1));
        }
        if let Some(n) = &self.note {
            ui.label(n);
        }
        ui.separator();
        match &store.bench {
            Some(r) => report_view(ui, r),
            None => {
                ui.label("No benchmark measured yet.");
            }
        }
    }

    fn form(&mut self, ui: &mut Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.label("Models:");
            for a in Architecture::ALL {
                let mut on = self.architectures.contains(&a);
                if ui.checkbox(&mut on, a.as_str()).changed() {
                    if on {
                        self.architectures.insert(a);
                    } else {
                        self.architectures.remove(&a);
                    }
                }
            }
        });
        ui.horizontal(|ui| {
            ui.label("Variants:");
            for v in Variant::ALL {
                let mut on = self.variants.contains(&v);
                if ui.checkbox(&mut on, v.as_str()).changed() {
                    if on {
                        self.variants.insert(v);
                    } else {
                        self.variants.remove(&v);
                    }
                }
            }
        });
        ui.horizontal(|ui| {
            labelled_edit(ui, "Seeds", &mut self.seeds, 40.0);
            labelled_edit(ui, "Epochs", &mut self.epochs, 40.0);
            labelled_edit(ui, "Last days of the sample", &mut self.days, 60.0);
        });
    }
}

/// The measured table and its two charts.
pub fn report_view(ui: &mut Ui, r: &BenchReport) {
    ui.label(format!(
        "{} {} from {}, {} epoch(s), {} seed(s), L = {}, {} test windows, on {}; {}",
        r.symbol,
        r.timeframe,
        r.source,
        r.epochs,
        r.seeds,
        r.sequence_length,
        r.test_windows,
        r.device,
        r.created_at
    ));
    results_table(ui, r);
    if r.tests_adjusted > 0 {
        ui.label(format!(
            "Verdicts on p-values adjusted with Holm's method across the {} paired tests of this \
             report.",
            r.tests_adjusted
        ));
    }
    if let Some(set) = &r.model_confidence_set {
        ui.label(RichText::new(set.sentence()).strong());
    }
    ui.columns(2, |cols| {
        cols[0].strong("Training time against skill (up and left is better)");
        // The two charts take the window's height below the table.
        let height = window_share(&cols[0], 0.45, 220.0);
        skill_scatter(&mut cols[0], r, height);
        cols[1].strong("Single-window latency p50 (ms): native, then ONNX Runtime");
        latency_bars(&mut cols[1], r, height);
    });
    ui.label(
        r.results
            .iter()
            .enumerate()
            .map(|(i, b)| format!("{i}: {} {}", b.architecture, b.variant))
            .collect::<Vec<_>>()
            .join(" · "),
    );
}

/// One row per model: training time, latency, skill and the verdict against persistence.
fn results_table(ui: &mut Ui, r: &BenchReport) {
    egui::Grid::new("bench_table")
        .striped(true)
        .num_columns(8)
        .show(ui, |ui| {
            for h in [
                "model",
                "train time",
                "vs cnn_lstm",
                "p50 native",
                "p50 ONNX Runtime",
                "skill",
                "verdict vs persistence",
                "the original promised",
            ] {
                ui.strong(h);
            }
            ui.end_row();
            for b in &r.results {
                ui.label(format!("{} {}", b.architecture, b.variant));
                ui.label(duration(b.train_seconds));
                ui.label(
                    b.train_time_vs_cnn_lstm
                        .map_or_else(|| "–".into(), |v| format!("{:.0}%", 100.0 * v)),
                );
                ui.label(format!("{:.3} ms", b.latency_p50_ms));
                ui.label(
                    b.onnxruntime
                        .as_ref()
                        .map_or_else(|| "–".into(), |t| format!("{:.3} ms", t.latency_p50_ms)),
                );
                ui.label(num(b.skill_vs_persistence, 4));
                let v = persistence_verdict(b);
                ui.label(RichText::new(v.0).color(verdict_color(v.1)));
                ui.label(atb_protocol::bench::promise(b.architecture));
                ui.end_row();
            }
        });
}

/// The verdict against persistence: counted over seeds when there are several, else the
/// first run's own (on Holm-adjusted p-values when the report has them).
fn persistence_verdict(b: &atb_protocol::bench::BenchResult) -> (String, VerdictKind) {
    // On Holm-adjusted p-values when the report has them (every report from
    // evaluation method 3 on).
    match &b.vs_persistence {
        Some(t) if t.seeds > 1 => {
            let (better, worse, adjusted) = match (t.better_adjusted, t.worse_adjusted) {
                (Some(b), Some(w)) => (b, w, ", Holm-adjusted"),
                _ => (t.better, t.worse, ""),
            };
            let text = format!(
                "better in {better} of {} seeds, worse in {worse}{adjusted}",
                t.seeds
            );
            let kind = if better == t.seeds {
                VerdictKind::Better
            } else if worse > 0 {
                VerdictKind::Worse
            } else {
                VerdictKind::NoDifference
            };
            (text, kind)
        }
        _ => {
            let first = b.runs.first();
            let v = verdict_with(
                "persistence",
                first.and_then(|run| run.vs_persistence.as_ref()),
                first
                    .and_then(|run| run.skill_intervals)
                    .and_then(|s| s.vs_persistence)
                    .as_ref(),
                first
                    .and_then(|run| run.adjusted_p)
                    .and_then(|a| a.vs_persistence),
            );
            (v.text, v.kind)
        }
    }
}

/// Training seconds (log scale) against skill, each point named beside it.
fn skill_scatter(ui: &mut Ui, r: &BenchReport, height: f32) {
    // Each point carries its name beside it (a legend box would cover the points); room
    // on the right keeps the rightmost name inside the chart.
    let xs: Vec<f64> = r
        .results
        .iter()
        .map(|b| b.train_seconds.max(1e-3).log10())
        .collect();
    let (lo, hi) = xs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    let span = if hi > lo { hi - lo } else { 1.0 };
    Plot::new("bench_scatter")
        .height(height)
        .include_x(hi + 0.35 * span)
        .x_axis_label("training seconds (log10)")
        .y_axis_label("skill vs persistence")
        .show(ui, |plot| {
            for (b, &x) in r.results.iter().zip(&xs) {
                let name = format!("{} {}", b.architecture, b.variant);
                plot.points(
                    Points::new(name.clone(), vec![[x, b.skill_vs_persistence]]).radius(5.0),
                );
                plot.text(
                    Text::new(
                        name.clone(),
                        PlotPoint::new(x, b.skill_vs_persistence),
                        format!("   {name}"),
                    )
                    .anchor(egui::Align2::LEFT_CENTER),
                );
            }
            plot.hline(egui_plot::HLine::new("persistence", 0.0).color(ERROR_RED));
            plot.text(
                Text::new("persistence label", PlotPoint::new(lo, 0.0), "persistence")
                    .color(ERROR_RED)
                    .anchor(egui::Align2::LEFT_BOTTOM),
            );
        });
}

/// Single-window latency per model: native beside ONNX Runtime.
fn latency_bars(ui: &mut Ui, r: &BenchReport, height: f32) {
    Plot::new("bench_latency")
        .height(height)
        .legend(Legend::default())
        .show(ui, |plot| {
            let native: Vec<Bar> = r
                .results
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    Bar::new(i as f64 - 0.2, b.latency_p50_ms)
                        .width(0.35)
                        .name(format!("{} {}", b.architecture, b.variant))
                })
                .collect();
            let ort: Vec<Bar> = r
                .results
                .iter()
                .enumerate()
                .filter_map(|(i, b)| {
                    b.onnxruntime.as_ref().map(|t| {
                        Bar::new(i as f64 + 0.2, t.latency_p50_ms)
                            .width(0.35)
                            .name(format!("{} {}", b.architecture, b.variant))
                    })
                })
                .collect();
            plot.bar_chart(BarChart::new("native", native).color(GOOD_GREEN));
            plot.bar_chart(BarChart::new("ONNX Runtime", ort));
        });
}
