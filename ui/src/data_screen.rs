//! Data screen: pick a series and range, fetch it from Binance with progress, see it as candles
//! with volume (zoom and pan, gaps marked, long series aggregated into OHLC buckets), preview the
//! features a model would read from it, and the table of everything stored. The default series
//! is charted as soon as the screen opens.

use atb_protocol::desktop::{CandleChart, DataOverview, FeaturePreview, SeriesRequest};
use atb_protocol::spec::FieldProblem;
use atb_protocol::vocab::{CandleSource, FeatureSet, Symbol, Timeframe};
use atb_protocol::{FetchProgress, FetchSummary, ImportSummary};
use egui::Ui;
use egui_plot::{Bar, BarChart, BoxElem, BoxPlot, BoxSpread, Line, Plot, PlotPoints, VLine};

use crate::app::Outbox;
use crate::backend::{Request, RequestKind};
use crate::widgets::{
    ERROR_RED, GOOD_GREEN, choice, date, day_axis, duration, labelled_edit, ms_to_days, num,
    problem, time, window_share,
};

/// The sources a form offers (a `csv:PATH` source shows when a run used one).
pub const FORM_SOURCES: [CandleSource; 2] = [CandleSource::Sample, CandleSource::Binance];

/// The series fields as typed: choices are typed values, text stays text until checked.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesForm {
    pub source: CandleSource,
    pub symbol: String,
    pub timeframe: Timeframe,
    pub days: String,
    pub start_date: String,
    pub end_date: String,
}

impl SeriesForm {
    /// The form showing `r` (restored from the last launch).
    pub fn from_request(r: &SeriesRequest) -> Self {
        Self {
            source: r.source.clone(),
            symbol: r.symbol.to_string(),
            timeframe: r.timeframe,
            days: r.days.map(|d| d.to_string()).unwrap_or_default(),
            start_date: r.start_date.clone().unwrap_or_default(),
            end_date: r.end_date.clone().unwrap_or_default(),
        }
    }
}

impl Default for SeriesForm {
    fn default() -> Self {
        Self {
            source: CandleSource::Sample,
            symbol: Symbol::default().to_string(),
            timeframe: Timeframe::default(),
            days: String::new(),
            start_date: String::new(),
            end_date: String::new(),
        }
    }
}

fn optional(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

impl SeriesForm {
    /// The request, or every reason it cannot be made.
    pub fn request(&self) -> Result<SeriesRequest, Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let days = match optional(&self.days) {
            None => None,
            Some(d) => match d.parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => {
                    problems.push(FieldProblem::new("days", "a whole number of days"));
                    None
                }
            },
        };
        // A bad symbol is reported and a placeholder stands in, so the range is checked too.
        let symbol = self.symbol.parse::<Symbol>().unwrap_or_else(|e| {
            problems.push(FieldProblem::new("symbol", e.expected));
            Symbol::default()
        });
        let request = SeriesRequest {
            source: self.source.clone(),
            symbol,
            timeframe: self.timeframe,
            days,
            start_date: optional(&self.start_date),
            end_date: optional(&self.end_date),
        };
        problems.extend(request.problems());
        if problems.is_empty() {
            Ok(request)
        } else {
            Err(problems)
        }
    }

    /// Draws the fields; `problems` are shown under the field they name.
    pub fn show(&mut self, ui: &mut Ui, problems: &[FieldProblem], with_source: bool) {
        let say = |ui: &mut Ui, field: &str| {
            for p in problems.iter().filter(|p| p.field == field) {
                problem(ui, &p.reason);
            }
        };
        if with_source {
            choice(ui, "Source", &mut self.source, &FORM_SOURCES);
            if self.source == CandleSource::Sample {
                ui.label("The bundled BTCUSDT 1h sample (works offline).");
            }
            say(ui, "source");
        }
        labelled_edit(ui, "Symbol", &mut self.symbol, 120.0);
        say(ui, "symbol");
        choice(ui, "Timeframe", &mut self.timeframe, &Timeframe::ALL);
        say(ui, "timeframe");
        labelled_edit(ui, "Last days", &mut self.days, 80.0);
        say(ui, "days");
        labelled_edit(ui, "Start date", &mut self.start_date, 100.0);
        say(ui, "start date");
        labelled_edit(ui, "End date", &mut self.end_date, 100.0);
        say(ui, "end date");
    }
}

#[derive(Default)]
pub struct DataScreen {
    pub form: SeriesForm,
    pub overview: Option<DataOverview>,
    pub chart: Option<CandleChart>,
    pub chart_loading: bool,
    /// Why the last chart asked for could not be drawn (shown in its place).
    pub chart_error: Option<String>,
    pub fetching: bool,
    pub fetch_progress: Option<FetchProgress>,
    /// Seconds of egui's clock when the fetch started (for elapsed time and ETA).
    pub fetch_started_at: Option<f64>,
    /// Cancel fetch was pressed and the shell took it.
    pub cancel_fetch_requested: bool,
    /// How the last fetch ended when it did not finish (cancelled).
    pub fetch_note: Option<String>,
    pub last_fetch: Option<FetchSummary>,
    pub importing: bool,
    /// What the last import said (or that the dialog was closed).
    pub last_import: Option<String>,
    /// The default series was asked for when the screen first opened.
    pub first_chart_requested: bool,
    /// Which features the preview computes.
    pub feature_set: FeatureSet,
    pub features: Option<FeaturePreview>,
    pub features_loading: bool,
    /// Why the last preview asked for could not be computed (shown in its place).
    pub features_error: Option<String>,
    /// The column charted in the preview (by name, so it survives a new preview).
    pub feature_column: String,
}

impl DataScreen {
    /// Asks for the chart of `series` and the preview of its features.
    fn ask_chart(&mut self, series: SeriesRequest, out: &mut Outbox) {
        self.chart_loading = true;
        self.chart_error = None;
        self.ask_features(series.clone(), out);
        out.send(Request::Candles(series));
    }

    /// Asks for the chart of the form's series, when the form is valid.
    pub fn chart_form_series(&mut self, out: &mut Outbox) {
        if let Ok(r) = self.form.request() {
            self.ask_chart(r, out);
        }
    }

    fn ask_features(&mut self, series: SeriesRequest, out: &mut Outbox) {
        self.features_loading = true;
        self.features_error = None;
        out.send(Request::FeaturePreview {
            series,
            feature_set: self.feature_set,
        });
    }

    pub fn set_features(&mut self, preview: FeaturePreview) {
        self.features_loading = false;
        if !preview
            .columns
            .iter()
            .any(|c| c.name == self.feature_column)
        {
            self.feature_column = preview
                .columns
                .first()
                .map(|c| c.name.clone())
                .unwrap_or_default();
        }
        self.features = Some(preview);
    }

    pub fn set_chart(&mut self, chart: CandleChart) {
        self.chart_loading = false;
        self.chart = Some(chart);
    }

    pub fn fetched(&mut self, summary: FetchSummary) {
        self.fetch_ended();
        self.last_fetch = Some(summary);
    }

    fn fetch_ended(&mut self) {
        self.fetching = false;
        self.fetch_progress = None;
        self.fetch_started_at = None;
        self.cancel_fetch_requested = false;
    }

    /// The fetch stopped because Cancel fetch asked it to: `message` says what was kept.
    pub fn fetch_cancelled(&mut self, message: String) {
        self.fetch_ended();
        self.fetch_note = Some(message);
    }

    pub fn imported(&mut self, summary: Option<ImportSummary>) {
        self.importing = false;
        self.last_import = Some(match summary {
            None => "No file chosen: nothing was imported.".into(),
            Some(s) => {
                let mut text = format!(
                    "Imported {} candles ({} new), {} gap(s).",
                    s.candles,
                    s.inserted,
                    s.gaps.len()
                );
                if s.conflicts > 0 {
                    text.push_str(&format!(
                        " {} candle(s) differ from the ones already stored and were left as stored.",
                        s.conflicts
                    ));
                }
                text
            }
        });
    }

    pub fn request_failed(&mut self, request: RequestKind) {
        match request {
            RequestKind::ImportCsv => self.importing = false,
            RequestKind::Fetch | RequestKind::Refetch => self.fetch_ended(),
            RequestKind::CancelFetch => self.cancel_fetch_requested = false,
            RequestKind::Candles => self.chart_loading = false,
            RequestKind::FeaturePreview => {
                self.features_loading = false;
                self.features = None;
            }
            _ => {}
        }
    }

    /// The chart or the feature preview could not be made (no candles stored for the series,
    /// a bad range): says why where it would be, instead of an older series' chart.
    pub fn view_failed(&mut self, request: RequestKind, message: String) {
        match request {
            RequestKind::Candles => {
                self.chart = None;
                self.chart_error = Some(message);
            }
            RequestKind::FeaturePreview => self.features_error = Some(message),
            _ => {}
        }
    }

    /// The running fetch: candles so far, elapsed time, ETA and Cancel fetch.
    fn show_fetch_progress(&mut self, ui: &mut Ui, out: &mut Outbox) {
        let (done, wanted) = self
            .fetch_progress
            .map_or((0, 0), |p| (p.candles_done, p.candles_wanted));
        let fraction = if wanted == 0 {
            0.0
        } else {
            done as f32 / wanted as f32
        };
        let now = ui.input(|i| i.time);
        let elapsed = self.fetch_started_at.map_or(0.0, |t| (now - t).max(0.0));
        let eta =
            (done > 0 && wanted > done).then(|| elapsed / done as f64 * (wanted - done) as f64);
        ui.add(egui::ProgressBar::new(fraction));
        ui.label(format!(
            "fetching: {done} of {wanted} candles · {} elapsed · ETA {}",
            duration(elapsed),
            eta.map_or_else(|| "after the first page".into(), duration)
        ));
        if ui
            .add_enabled(
                !self.cancel_fetch_requested,
                egui::Button::new("Cancel fetch"),
            )
            .on_hover_text("Stops the fetch; the candles fetched so far stay stored")
            .clicked()
        {
            self.cancel_fetch_requested = true;
            out.send(Request::CancelFetch);
        }
        // The elapsed time keeps counting between pages.
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_secs(1));
    }

    /// The side panel: which series, and what to do with it (chart, fetch, import).
    pub fn show_side(&mut self, ui: &mut Ui, out: &mut Outbox) {
        ui.heading("Market data");
        let request = self.form.request();
        let problems = request.as_ref().err().cloned().unwrap_or_default();
        self.form.show(ui, &problems, true);
        ui.horizontal_wrapped(|ui| {
            let ok = request.is_ok();
            if ui
                .add_enabled(ok && !self.chart_loading, egui::Button::new("Show chart"))
                .clicked()
                && let Ok(r) = &request
            {
                self.ask_chart(r.clone(), out);
            }
            let binance = self.form.source == CandleSource::Binance;
            let has_range = request
                .as_ref()
                .is_ok_and(|r| r.days.is_some() || r.start_date.is_some());
            let fetch = ui
                .add_enabled(
                    ok && binance && has_range && !self.fetching,
                    egui::Button::new("Fetch from Binance"),
                )
                .on_disabled_hover_text("Fetch needs source binance and a range (days or dates)");
            if fetch.clicked()
                && let Ok(r) = &request
            {
                self.fetching = true;
                self.fetch_progress = None;
                self.fetch_note = None;
                self.fetch_started_at = Some(ui.input(|i| i.time));
                out.send(Request::Fetch(r.clone()));
            }
            let refetch = ui
                .add_enabled(
                    ok && binance && has_range && !self.fetching,
                    egui::Button::new("Fetch again"),
                )
                .on_hover_text(
                    "Ask Binance for the whole range again, stored candles included: their values and order flow (trades, taker-buy volume, which the flow features read) are rewritten with the exchange's",
                );
            if refetch.clicked()
                && let Ok(r) = &request
            {
                self.fetching = true;
                self.fetch_progress = None;
                self.fetch_note = None;
                self.fetch_started_at = Some(ui.input(|i| i.time));
                out.send(Request::Refetch(r.clone()));
            }
            let import = ui
                .add_enabled(ok && !self.importing, egui::Button::new("Import CSV…"))
                .on_hover_text(
                    "Choose a candle CSV file (atb's format or Binance's archive) to store as this symbol and timeframe; then use source binance to train on it",
                );
            if import.clicked()
                && let Ok(r) = &request
            {
                self.importing = true;
                self.last_import = None;
                out.send(Request::ImportCsv {
                    symbol: r.symbol.clone(),
                    timeframe: r.timeframe,
                });
            }
        });
        if let Some(text) = &self.last_import {
            ui.label(text);
        }
        if self.fetching {
            self.show_fetch_progress(ui, out);
        }
        if let Some(n) = &self.fetch_note {
            ui.label(n);
        }
        if let Some(f) = &self.last_fetch {
            ui.label(format!(
                "Fetched {} {}: {} candles stored in range, {} new, {} requests, {} gap(s).",
                f.symbol,
                f.timeframe,
                f.stored,
                f.inserted,
                f.requests,
                f.gaps.len()
            ));
        }
        ui.separator();
        self.show_coverage(ui, out);
    }

    /// The rest of the window: the candles, the feature preview.
    pub fn show_main(&mut self, ui: &mut Ui, out: &mut Outbox) {
        let request = self.form.request();
        // Something to look at at once: the form's series (the bundled sample by default).
        if !self.first_chart_requested
            && let Ok(r) = &request
        {
            self.first_chart_requested = true;
            if self.chart.is_none() && !self.chart_loading {
                self.ask_chart(r.clone(), out);
            }
        }
        self.show_chart(ui);
        ui.separator();
        self.show_features(ui, request.ok(), out);
    }

    /// The features a model would read from the charted range, raw (training scales them with
    /// statistics of its training split only): each column's meaning and statistics, and one
    /// column's course over the range.
    fn show_features(&mut self, ui: &mut Ui, request: Option<SeriesRequest>, out: &mut Outbox) {
        ui.horizontal(|ui| {
            ui.strong("Features");
            let changed = choice(ui, "Feature set", &mut self.feature_set, &FeatureSet::ALL);
            if changed && let Some(r) = request {
                self.ask_features(r, out);
            }
            if self.features_loading {
                ui.spinner();
            }
        });
        let Some(p) = &self.features else {
            match &self.features_error {
                Some(e) if !self.features_loading => {
                    ui.label(egui::RichText::new(e).color(ERROR_RED));
                }
                _ => {
                    ui.label(if self.features_loading {
                        "computing the features…"
                    } else {
                        "Show a chart to preview the features a model reads from it."
                    });
                }
            }
            return;
        };
        ui.label(format!(
            "{} features of {} {}: {} rows from {} candles (the first {} fill the trailing \
             windows and are dropped). Raw values: a run scales them with its training split's \
             statistics only.",
            p.feature_set, p.symbol, p.timeframe, p.rows, p.candles, p.warmup_rows
        ));
        let mut pick = None;
        egui::Grid::new("feature_columns")
            .striped(true)
            .show(ui, |ui| {
                for h in ["feature", "meaning", "mean", "std", "min", "max"] {
                    ui.strong(h);
                }
                ui.end_row();
                for c in &p.columns {
                    if ui
                        .selectable_label(self.feature_column == c.name, c.name.as_str())
                        .on_hover_text("Chart this column")
                        .clicked()
                    {
                        pick = Some(c.name.clone());
                    }
                    ui.label(c.meaning.as_str());
                    for v in [c.mean, c.std, c.min, c.max] {
                        // A mean log return is ~1e-7: five decimals would show "-0.00000".
                        ui.label(if v != 0.0 && v.abs() < 1e-3 {
                            format!("{v:.2e}")
                        } else {
                            num(v, 5)
                        });
                    }
                    ui.end_row();
                }
            });
        if let Some(name) = pick {
            self.feature_column = name;
        }
        let Some(column) = p.columns.iter().find(|c| c.name == self.feature_column) else {
            return;
        };
        if p.rows_per_point > 1 {
            ui.label(format!(
                "{}: each point is the mean of {} consecutive rows (the statistics above use \
                 every row).",
                column.name, p.rows_per_point
            ));
        }
        let points: PlotPoints<'_> = p
            .open_times_ms
            .iter()
            .zip(&column.points)
            .map(|(&t, &v)| [ms_to_days(t), f64::from(v)])
            .collect();
        Plot::new("feature_chart")
            .height(window_share(ui, 0.25, 160.0))
            .x_axis_formatter(day_axis)
            .y_axis_label(column.name.as_str())
            .show(ui, |plot| {
                plot.line(Line::new(column.name.as_str(), points))
            });
    }

    fn show_chart(&self, ui: &mut Ui) {
        let Some(c) = &self.chart else {
            match &self.chart_error {
                Some(e) if !self.chart_loading => {
                    ui.label(egui::RichText::new(e).color(ERROR_RED));
                }
                _ => {
                    ui.label(if self.chart_loading {
                        "loading the chart…"
                    } else {
                        "Press Show chart to plot the series chosen on the left."
                    });
                }
            }
            return;
        };
        ui.label(format!(
            "{} {} from {}: {} candles, {} gap(s){}",
            c.symbol,
            c.timeframe,
            c.source,
            c.candles,
            c.gaps.len(),
            if c.gaps.is_empty() {
                String::new()
            } else {
                format!(
                    " ({} missing candles, marked in red)",
                    c.gaps.iter().map(|g| g.missing).sum::<u64>()
                )
            }
        ));
        let day = c.timeframe.millis() as f64 * f64::from(c.bucket_candles) / 86_400_000.0;
        let candles: Vec<BoxElem> = (0..c.closes.len())
            .map(|i| {
                let (open, close) = (c.opens[i], c.closes[i]);
                let up = close >= open;
                let color = if up { GOOD_GREEN } else { ERROR_RED };
                // Centred on the bucket's span; the box is open..close, the whiskers low..high.
                let x = ms_to_days(c.open_times_ms[i]) + day / 2.0;
                BoxElem::new(
                    x,
                    BoxSpread::new(
                        c.lows[i],
                        open.min(close),
                        close,
                        open.max(close),
                        c.highs[i],
                    ),
                )
                .box_width(day * 0.8)
                .whisker_width(0.0)
                .fill(color)
                .stroke(egui::Stroke::new(1.0, color))
            })
            .collect();
        let volumes: Vec<Bar> = (0..c.volumes.len())
            .map(|i| {
                let x = ms_to_days(c.open_times_ms[i]) + day / 2.0;
                let up = c.closes[i] >= c.opens[i];
                Bar::new(x, c.volumes[i]).width(day * 0.8).fill(if up {
                    GOOD_GREEN
                } else {
                    ERROR_RED
                })
            })
            .collect();
        if c.bucket_candles > 1 {
            ui.label(format!(
                "Each bar aggregates {} {} candles (open, high, low, close, summed volume); zoom \
                 with the wheel or a pinch, drag to pan, double-click to reset.",
                c.bucket_candles, c.timeframe
            ));
        }
        let link = ui.make_persistent_id("price_volume_x");
        // Price and volume share most of the window's height; the feature preview follows.
        Plot::new("price_chart")
            .height(window_share(ui, 0.5, 300.0))
            .x_axis_formatter(day_axis)
            .y_axis_label("price (USD)")
            .link_axis(link, [true, false])
            .link_cursor(link, [true, false])
            .show(ui, |plot| {
                plot.box_plot(BoxPlot::new("candles", candles).element_formatter(Box::new(
                    |e: &BoxElem, _| {
                        format!(
                            "open-close {:.2}..{:.2}\nhigh {:.2}\nlow {:.2}",
                            e.spread.quartile1,
                            e.spread.quartile3,
                            e.spread.upper_whisker,
                            e.spread.lower_whisker
                        )
                    },
                )));
                // Hundreds of gap lines would hide the price; the count is in the caption.
                for g in c.gaps.iter().take(200) {
                    plot.vline(VLine::new("gap", ms_to_days(g.first_missing_ms)).color(ERROR_RED));
                }
            });
        Plot::new("volume_chart")
            .height(window_share(ui, 0.13, 90.0))
            .x_axis_formatter(day_axis)
            .y_axis_label("volume")
            .link_axis(link, [true, false])
            .link_cursor(link, [true, false])
            .show(ui, |plot| plot.bar_chart(BarChart::new("volume", volumes)));
    }

    fn show_coverage(&mut self, ui: &mut Ui, out: &mut Outbox) {
        ui.strong("Stored candles (the local store the CLI shares)");
        let Some(o) = &self.overview else {
            ui.label("loading…");
            return;
        };
        if o.coverage.is_empty() {
            ui.label("Nothing stored yet: fetch a series from Binance, or train on the sample.");
            return;
        }
        // One entry a series (the side panel is narrow): its button, then what the store holds.
        let mut pick = None;
        for row in &o.coverage {
            if ui
                .button(format!("Plot {} {}", row.symbol, row.timeframe))
                .clicked()
            {
                pick = Some(row.clone());
            }
            ui.label(
                egui::RichText::new(format!(
                    "{} to {} · {} candles · {} gap(s), {} missing",
                    time(row.first_open_time_ms),
                    time(row.last_open_time_ms),
                    row.rows,
                    row.gaps,
                    row.missing_candles
                ))
                .small(),
            );
        }
        if let Some(row) = pick {
            self.form = SeriesForm {
                source: CandleSource::Binance,
                symbol: row.symbol.to_string(),
                timeframe: row.timeframe,
                days: String::new(),
                start_date: date(row.first_open_time_ms),
                end_date: date(row.last_open_time_ms),
            };
            if let Ok(r) = self.form.request() {
                self.ask_chart(r, out);
            }
        }
    }
}
