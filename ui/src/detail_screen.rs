//! Model detail screen: metadata, hashes and aliases; the attention heat map of attention models;
//! one-click ONNX export with its parity result; promote to an alias; delete with confirmation.

use atb_protocol::backtest::{BacktestReport, BacktestSettings, SignalRule, rule_label};
use atb_protocol::desktop::{AttentionMap, ExportOutcome, Forecast, ModelDetail, TargetSeries};
use atb_protocol::forward::ForwardResult;
use atb_protocol::registry::{ColumnImportance, EnsembleRecipe};
use atb_protocol::training::EpochRecord;
use atb_protocol::verdict::VerdictKind;
use atb_protocol::vocab::{Architecture, Target};
use egui::{Color32, RichText, Sense, Ui, vec2};
use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoints};

use crate::app::Outbox;
use crate::backend::{Request, RequestKind};
use crate::backtest_view::backtest_view;
use crate::store::Store;
use crate::widgets::{
    ERROR_RED, GOOD_GREEN, duration, labelled_edit, metrics_table, time, walk_forward_view,
};

/// The Model detail screen's own state: which version, and what it asked for and got back for
/// that version alone (the detail and test forecasts it shows are the [`Store`]'s).
pub struct DetailScreen {
    pub version: Option<String>,
    pub attention: Option<AttentionMap>,
    pub attention_checked: bool,
    pub exporting: bool,
    pub export: Option<ExportOutcome>,
    pub alias: String,
    pub confirm_delete: bool,
    /// The outcome of the last action, for the user to read.
    pub message: Option<String>,
    pub forecasting: bool,
    pub forecast: Option<Forecast>,
    /// The backtest with the deflated Sharpe, once asked for.
    pub backtesting: bool,
    pub backtest: Option<BacktestReport>,
    pub forward_testing: bool,
    /// A volatility or direction version's test forecasts were asked for.
    pub series_asked: bool,
    /// An ensemble's member the user clicked, for the app to open.
    pub open_member: Option<String>,
}

impl Default for DetailScreen {
    fn default() -> Self {
        Self {
            version: None,
            attention: None,
            attention_checked: false,
            exporting: false,
            export: None,
            alias: "champion".into(),
            confirm_delete: false,
            message: None,
            forecasting: false,
            forecast: None,
            backtesting: false,
            backtest: None,
            forward_testing: false,
            series_asked: false,
            open_member: None,
        }
    }
}

impl DetailScreen {
    pub fn open(&mut self, version: &str, out: &mut Outbox) {
        *self = Self {
            version: Some(version.to_string()),
            ..Self::default()
        };
        // Always reload: the stored detail may predate an export or a promotion.
        out.send(Request::ModelDetail {
            version: version.to_string(),
        });
        out.send(Request::Attention {
            version: version.to_string(),
        });
    }

    pub fn attention_loaded(&mut self, map: Option<AttentionMap>) {
        self.attention_checked = true;
        if map.as_ref().map(|m| &m.version_id) == self.version.as_ref() || map.is_none() {
            self.attention = map;
        }
    }

    pub fn exported(&mut self, outcome: Option<ExportOutcome>) {
        self.exporting = false;
        match outcome {
            Some(o) => self.export = Some(o),
            None => self.message = Some("Export cancelled: no file was chosen.".into()),
        }
    }

    pub fn backtest_arrived(&mut self, report: BacktestReport) {
        if self.version.as_deref() == Some(&report.version_id) {
            self.backtesting = false;
            self.backtest = Some(report);
        }
    }

    /// A forward test ended (its results went to the store's details).
    pub fn forward_arrived(&mut self) {
        self.forward_testing = false;
    }

    pub fn forecast_arrived(&mut self, f: Forecast) {
        if self.version.as_deref() == Some(&f.version_id) {
            self.forecasting = false;
            self.forecast = Some(f);
        }
    }

    pub fn request_failed(&mut self, request: RequestKind) {
        match request {
            RequestKind::ExportOnnx => self.exporting = false,
            RequestKind::Forecast => self.forecasting = false,
            RequestKind::Backtest => self.backtesting = false,
            RequestKind::ForwardTest => self.forward_testing = false,
            RequestKind::Attention => self.attention_checked = true,
            _ => {}
        }
    }

    pub fn show(&mut self, ui: &mut Ui, store: &Store, out: &mut Outbox) {
        let Some(version) = self.version.clone() else {
            ui.label("Open a model from the Models screen (click its version).");
            return;
        };
        ui.heading(format!("Model {version}"));
        let Some(d) = store.details.get(&version).cloned() else {
            ui.label("loading…");
            return;
        };
        self.actions(ui, out, &version, d.row.target);
        self.forecast_view(ui);
        ui.separator();
        let r = &d.row;
        egui::Grid::new("detail_meta").striped(true).show(ui, |ui| {
            let mut row = |k: &str, v: String| {
                ui.label(k);
                ui.label(v);
                ui.end_row();
            };
            row("Architecture", format!("{} {}", r.architecture, r.variant));
            row(
                "Series",
                format!("{} {} from {}", r.symbol, r.timeframe, d.dataset.source),
            );
            row(
                "Candles",
                format!(
                    "{} from {} to {}",
                    d.dataset.candles,
                    time(d.dataset.first_candle_open_ms),
                    time(d.dataset.last_candle_open_ms)
                ),
            );
            row(
                "Windows (train / validation / test)",
                format!(
                    "{} / {} / {} (embargo {}, sequence {}, horizon {})",
                    d.dataset.train.samples,
                    d.dataset.validation.samples,
                    d.dataset.test.samples,
                    d.dataset.embargo,
                    d.dataset.sequence_length,
                    d.dataset.horizon
                ),
            );
            row("Created", r.created_at.clone());
            row(
                match r.architecture {
                    Architecture::Gbdt => "Leaves (all trees)",
                    Architecture::Ensemble => "Parameters (all members)",
                    _ => "Parameters",
                },
                r.parameters.to_string(),
            );
            row(
                "Trained on",
                format!("{} in {}", d.device, duration(r.train_seconds)),
            );
            row(
                "Aliases",
                if r.aliases.is_empty() {
                    "none".into()
                } else {
                    r.aliases.join(", ")
                },
            );
            if let Some(t) = &r.tag {
                row("Tag", t.clone());
            }
            row("Folder", d.folder.clone());
            row("Weights SHA-256", r.weights_sha256.clone());
            row("Data SHA-256", r.data_sha256.clone());
            row(
                "ONNX SHA-256",
                r.onnx_sha256
                    .clone()
                    .unwrap_or_else(|| "not exported".into()),
            );
        });
        ui.separator();
        metrics_table(ui, "detail_metrics", &d.evaluation);
        if r.target != Target::Return {
            self.series_view(ui, out, store.target_series(&version), &version, r.target);
        }
        // Forward tests score forecasts of the close.
        if r.target == Target::Return {
            self.forward_view(ui, out, &version, d.forward.as_ref());
        }
        if let Some(wf) = &d.evaluation.walk_forward {
            walk_forward_view(ui, "detail_folds", wf);
        }
        if let Some(b) = &d.evaluation.backtest {
            ui.separator();
            backtest_view(ui, "detail_backtest", b);
            self.deflated_view(ui, out, &version);
        }
        ui.separator();
        match &d.ensemble {
            Some(recipe) => self.open_member = ensemble_view(ui, recipe),
            None => curves_view(ui, &d),
        }
        self.attention_view(ui, r.architecture);
        importance_view(ui, &d.importance);
        ui.collapsing("Training parameters (metadata.json)", |ui| {
            ui.monospace(serde_json::to_string_pretty(&d.training_params).unwrap_or_default());
        });
    }

    /// "Deflate the Sharpe ratio": the backtest again with the deflated Sharpe over every
    /// version of this series in the registry (how many were tried decides how much luck the
    /// best of them shows).
    fn deflated_view(&mut self, ui: &mut Ui, out: &mut Outbox, version: &str) {
        ui.horizontal(|ui| {
            if ui
                .add_enabled(
                    !self.backtesting,
                    egui::Button::new("Deflate the Sharpe ratio"),
                )
                .on_hover_text(
                    "The probability that this model's Sharpe beats what the best of every \
                     model tried on this series would show by luck (Bailey and López de Prado)",
                )
                .clicked()
            {
                self.backtesting = true;
                out.send(Request::Backtest {
                    version: version.to_string(),
                    settings: BacktestSettings::default(),
                });
            }
            if self.backtesting {
                ui.add(egui::Spinner::new());
            }
        });
        let Some(report) = self.backtest.as_ref().filter(|r| r.version_id == version) else {
            return;
        };
        for (positions, d) in &report.deflated {
            let rule = rule_label(SignalRule::Model, *positions);
            ui.label(match d {
                Some(d) => format!(
                    "deflated Sharpe ({rule}): {:.3} after {} trial(s) on this series",
                    d.probability, d.trials
                ),
                None => format!("deflated Sharpe ({rule}): not defined (no variation)"),
            });
        }
    }

    /// The forward test: candles that closed after the data ended, which no choice has seen;
    /// shown apart from the test split's figures above.
    fn forward_view(
        &mut self,
        ui: &mut Ui,
        out: &mut Outbox,
        version: &str,
        forward: Option<&ForwardResult>,
    ) {
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!self.forward_testing, egui::Button::new("Forward test"))
                .on_hover_text(
                    "Score this model on candles that closed after its data ended (new \
                     Binance candles are fetched first), with the same baselines and tests",
                )
                .clicked()
            {
                self.forward_testing = true;
                out.send(Request::ForwardTest {
                    versions: vec![version.to_string()],
                });
            }
            if self.forward_testing {
                ui.add(egui::Spinner::new());
            }
            match forward {
                Some(f) => {
                    let kind = f.evaluation.as_ref().map_or(VerdictKind::NotComputed, |e| {
                        atb_protocol::verdict::verdict("persistence", Some(&e.vs_persistence)).kind
                    });
                    ui.label(
                        RichText::new(format!("{} (tested {})", f.sentence(), f.tested_at))
                            .color(crate::widgets::verdict_color(kind)),
                    );
                }
                None => {
                    ui.label("Not forward-tested yet.");
                }
            }
        });
    }

    fn actions(&mut self, ui: &mut Ui, out: &mut Outbox, version: &str, target: Target) {
        let (button, what) = match target {
            Target::Return => ("Forecast next close", "the next close"),
            Target::Volatility => ("Forecast volatility", "the realised volatility ahead"),
            Target::Direction => ("Forecast direction", "the probability of an up move"),
        };
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!self.forecasting, egui::Button::new(button))
                .on_hover_text(format!(
                    "Predict {what} from the latest candles of the source this model was \
                     trained on (Binance is asked for new candles first)"
                ))
                .clicked()
            {
                self.forecasting = true;
                self.forecast = None;
                out.send(Request::Forecast {
                    version: version.to_string(),
                });
            }
            ui.separator();
            let export = ui
                .add_enabled(!self.exporting, egui::Button::new("Export ONNX"))
                .on_hover_text(
                    "Write model.onnx, check it against the native model, then save a copy",
                );
            if export.clicked() {
                self.exporting = true;
                self.export = None;
                self.message = None;
                out.send(Request::ExportOnnx {
                    version: version.to_string(),
                });
            }
            ui.separator();
            labelled_edit(ui, "Alias", &mut self.alias, 100.0);
            let alias_ok = !self.alias.trim().is_empty()
                && self
                    .alias
                    .trim()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
            if ui
                .add_enabled(alias_ok, egui::Button::new("Promote"))
                .on_disabled_hover_text("An alias is letters, digits, '-' and '_'")
                .clicked()
            {
                out.send(Request::Promote {
                    version: version.to_string(),
                    alias: self.alias.trim().to_string(),
                });
            }
            ui.separator();
            if ui.button("Delete…").clicked() {
                self.confirm_delete = true;
            }
        });
        if self.exporting {
            ui.label("Exporting and checking parity against the native model…");
        }
        if let Some(o) = &self.export {
            let e = &o.export;
            let ok = e.max_abs_diff <= e.tolerance;
            ui.label(
                RichText::new(format!(
                    "Parity {}: max |ONNX − native| = {:.2e} over {} test windows (tolerance {:.0e}), re-run in {}.",
                    if ok { "passed" } else { "FAILED" },
                    e.max_abs_diff,
                    e.windows,
                    e.tolerance,
                    e.runtime
                ))
                .color(if ok { GOOD_GREEN } else { ERROR_RED }),
            );
            ui.label(format!(
                "model.onnx: {} bytes, opset {}, SHA-256 {}{}",
                e.bytes,
                e.opset,
                e.sha256,
                o.copied_to
                    .as_ref()
                    .map(|p| format!("; copy saved to {p}"))
                    .unwrap_or_default()
            ));
            if let Some(why) = &o.copy_failed {
                ui.label(
                    RichText::new(format!(
                        "The export succeeded, but the copy could not be saved: {why}"
                    ))
                    .color(ERROR_RED),
                );
            }
        }
        if let Some(m) = &self.message {
            ui.label(m);
        }
        if self.confirm_delete {
            ui.horizontal(|ui| {
                ui.label(
                    RichText::new(format!(
                        "Delete {version} and its folder? This cannot be undone."
                    ))
                    .color(ERROR_RED),
                );
                if ui.button("Delete permanently").clicked() {
                    self.confirm_delete = false;
                    out.send(Request::Delete {
                        version: version.to_string(),
                    });
                }
                if ui.button("Keep it").clicked() {
                    self.confirm_delete = false;
                }
            });
        }
    }

    /// The forecast, never without the model's verdict: a model no better than persistence
    /// forecasts no better than "the next close is this close".
    fn forecast_view(&self, ui: &mut Ui) {
        if self.forecasting {
            ui.horizontal(|ui| {
                ui.add(egui::Spinner::new());
                ui.label("forecasting from the latest candles…");
            });
        }
        let Some(f) = &self.forecast else { return };
        ui.label(
            RichText::new(format!(
                "Forecast over the {} {} after {}: {} (from {})",
                f.horizon,
                if f.horizon == 1 { "bar" } else { "bars" },
                time(f.last_open_ms),
                f.prediction.sentence(f.last_close),
                f.source
            ))
            .strong(),
        );
        if f.verdicts.is_empty() {
            ui.label(
                "This model's verdicts against its baselines were never computed: re-evaluate \
                 it before trusting the forecast.",
            );
            return;
        }
        for v in &f.verdicts {
            let color = match v.kind {
                VerdictKind::Better => GOOD_GREEN,
                VerdictKind::Worse => ERROR_RED,
                _ => ui.visuals().text_color(),
            };
            ui.label(
                RichText::new(format!("This model on its test split: {}.", v.text)).color(color),
            );
        }
        if !f.verdicts.iter().any(|v| v.kind == VerdictKind::Better) {
            ui.label(match f.prediction.target() {
                Target::Return => {
                    "It has not been shown to beat \"the next close is this close\": read this \
                     forecast as no better than that."
                }
                Target::Volatility => {
                    "It has not been shown to beat any volatility baseline: read this forecast as \
                     no better than the recent realised volatility."
                }
                Target::Direction => {
                    "It has not been shown to beat the up-share of its training data: read this \
                     probability as no better than that."
                }
            });
        }
    }

    /// The test split's forecasts beside what happened and the target's baseline, asked for
    /// once per opened version.
    fn series_view(
        &mut self,
        ui: &mut Ui,
        out: &mut Outbox,
        series: Option<&TargetSeries>,
        version: &str,
        target: Target,
    ) {
        ui.separator();
        ui.strong(crate::target_charts::series_title(target));
        // Asked once per opening: the stored forecasts may predate a re-evaluation.
        if !self.series_asked {
            self.series_asked = true;
            out.send(Request::Predictions {
                version: version.to_string(),
            });
        }
        match series {
            Some(s) => crate::target_charts::series_plot(
                ui,
                "detail_target_series",
                &[("this model".into(), s, Color32::from_rgb(80, 140, 220))],
            ),
            None => {
                ui.label("predicting the test split…");
            }
        }
    }

    fn attention_view(&self, ui: &mut Ui, architecture: Architecture) {
        if !architecture.has_attention() {
            return;
        }
        ui.separator();
        let Some(map) = &self.attention else {
            ui.label(if self.attention_checked {
                "No attention weights available for this model."
            } else {
                "loading attention weights…"
            });
            return;
        };
        ui.strong(format!(
            "Attention on the last test window (mean over {} heads): row = query step, column = key step",
            map.heads
        ));
        let n = map.size;
        let max = map
            .weights
            .iter()
            .copied()
            .fold(f32::MIN_POSITIVE, f32::max);
        let cell = (360.0 / n.max(1) as f32).clamp(1.0, 24.0);
        let (rect, _) =
            ui.allocate_exact_size(vec2(cell * n as f32, cell * n as f32), Sense::hover());
        let painter = ui.painter_at(rect);
        for q in 0..n {
            for k in 0..n {
                let w = map.weights[q * n + k] / max;
                let shade = (255.0 * (1.0 - w.clamp(0.0, 1.0))) as u8;
                let min = rect.min + vec2(k as f32 * cell, q as f32 * cell);
                painter.rect_filled(
                    egui::Rect::from_min_size(min, vec2(cell, cell)),
                    0.0,
                    Color32::from_rgb(shade, shade, 255),
                );
            }
        }
        if map.window > n {
            ui.label(format!(
                "darker = more weight; largest weight {max:.3}; each cell averages a block of about {} × {} steps of the {}-step window",
                map.window.div_ceil(n),
                map.window.div_ceil(n),
                map.window
            ));
        } else {
            ui.label(format!("darker = more weight; largest weight {max:.3}"));
        }
    }
}

/// A network's loss per epoch, or a tree model's per boosting round.
fn curves_view(ui: &mut Ui, d: &ModelDetail) {
    let network = d.row.architecture.is_network();
    ui.strong(if network {
        "Training curves"
    } else {
        "Loss per boosting round"
    });
    Plot::new("detail_curves")
        .height(180.0)
        .legend(Legend::default())
        .x_axis_label(if network { "epoch" } else { "boosting round" })
        .show(ui, |plot| {
            let points = |loss: fn(&EpochRecord) -> f64| -> PlotPoints<'_> {
                d.history
                    .iter()
                    .map(|e| [e.epoch as f64, loss(e)])
                    .collect()
            };
            plot.line(Line::new("train loss", points(|e| e.train_loss)));
            plot.line(Line::new("validation loss", points(|e| e.val_loss)));
        });
}

/// An ensemble's members with their weights, and each weighting's loss on the validation split.
/// Returns the member clicked, to open.
fn ensemble_view(ui: &mut Ui, recipe: &EnsembleRecipe) -> Option<String> {
    let mut open = None;
    ui.strong(format!(
        "Ensemble of {} members, {} weights chosen on the validation split",
        recipe.members.len(),
        recipe.weighting
    ));
    egui::Grid::new("ensemble_members")
        .striped(true)
        .show(ui, |ui| {
            ui.strong("Weight");
            ui.strong("Member");
            ui.strong("Model");
            ui.end_row();
            for m in &recipe.members {
                ui.label(format!("{:.4}", m.weight));
                if ui
                    .link(&m.version_id)
                    .on_hover_text("Open this member")
                    .clicked()
                {
                    open = Some(m.version_id.clone());
                }
                ui.label(format!("{} {}", m.architecture, m.variant));
                ui.end_row();
            }
        });
    ui.label(format!("Validation {}:", recipe.loss));
    for f in &recipe.fits {
        let weights: Vec<String> = f.weights.iter().map(|w| format!("{w:.3}")).collect();
        ui.label(format!(
            "{}: {:.6} with weights [{}]",
            f.weighting,
            f.validation_loss,
            weights.join(", ")
        ));
    }
    open
}

/// Input columns drawn in the importance chart; the rest are summed in the caption.
const IMPORTANCE_BARS: usize = 20;

/// A tree model's importance per input column: gain share as horizontal bars, largest on top,
/// with each column's split count in its label.
fn importance_view(ui: &mut Ui, importance: &[ColumnImportance]) {
    if importance.is_empty() {
        return;
    }
    ui.separator();
    let total: f64 = importance.iter().map(|c| c.gain).sum();
    let mut sorted: Vec<&ColumnImportance> = importance.iter().collect();
    sorted.sort_by(|a, b| b.gain.total_cmp(&a.gain));
    let shown = &sorted[..sorted.len().min(IMPORTANCE_BARS)];
    let rest: f64 = sorted[shown.len()..].iter().map(|c| c.gain).sum();
    ui.strong(format!(
        "Feature importance: share of the trees' total gain, top {} of {} columns",
        shown.len(),
        sorted.len()
    ));
    let share = |g: f64| if total > 0.0 { 100.0 * g / total } else { 0.0 };
    let bars: Vec<Bar> = shown
        .iter()
        .enumerate()
        .map(|(i, c)| {
            // Largest at the top: y counts down from the number of bars.
            Bar::new((shown.len() - i) as f64, share(c.gain))
                .name(format!("{} ({} splits)", c.column, c.splits))
                .width(0.7)
        })
        .collect();
    let labels: Vec<String> = shown.iter().map(|c| c.column.clone()).collect();
    let count = shown.len();
    Plot::new("importance")
        .height(18.0 * count as f32 + 40.0)
        .x_axis_label("% of gain")
        .y_axis_formatter(move |mark, _| {
            let i = mark.value.round() as usize;
            if (1..=count).contains(&i) && (mark.value - i as f64).abs() < 1e-6 {
                labels[count - i].clone()
            } else {
                String::new()
            }
        })
        .allow_scroll(false)
        .show(ui, |plot| {
            plot.bar_chart(BarChart::new("gain share", bars).horizontal());
        });
    ui.label(format!(
        "The other {} columns: {:.1}% of the gain. Columns are the tabular rule's: a feature's \
         last 3 bars ([t], [t-1], [t-2]) and its mean, std, min and max over the window.",
        sorted.len() - shown.len(),
        share(rest)
    ));
}
