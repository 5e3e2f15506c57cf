//! Two or more selected versions side by side: grouped bars per metric with each one's own
//! persistence mark, the verdicts, judging together, forward tests, paired tests, equity after
//! costs, and forecasts over the test window (the target's own chart for volatility and
//! direction).

use super::*;

/// The "Make ensemble" controls' state, borrowed apart from the details the view reads.
struct EnsembleForm<'a> {
    weighting: &'a mut Weighting,
    making: &'a mut bool,
    made: &'a mut Option<ModelRow>,
}

impl ModelsScreen {
    /// Each selected version's long/flat equity after costs over its test split, on one chart
    /// with buy and hold of the first (versions of one series share it).
    fn equity_overlay(
        ui: &mut Ui,
        details: &[&ModelDetail],
        label: &dyn Fn(&ModelDetail) -> String,
    ) {
        let curves: Vec<(usize, &ModelDetail, &Backtest)> = details
            .iter()
            .enumerate()
            .filter_map(|(j, d)| d.evaluation.backtest.as_ref().map(|b| (j, *d, b)))
            .collect();
        if curves.is_empty() {
            return;
        }
        ui.strong("Value after costs: long/flat equity over the test split (10 bp per side)");
        Plot::new("compare_equity")
            .height(180.0)
            .legend(Legend::default())
            .x_axis_formatter(day_axis)
            .show(ui, |plot| {
                let points = |b: &Backtest, s: &StrategyResult| -> PlotPoints<'_> {
                    b.equity_times_ms
                        .iter()
                        .zip(&s.equity)
                        .map(|(t, e)| [ms_to_days(*t), *e])
                        .collect()
                };
                for (j, d, b) in &curves {
                    if let Some(s) = b.model(Positions::LongFlat) {
                        plot.line(
                            Line::new(label(d), points(b, s)).color(PALETTE[j % PALETTE.len()]),
                        );
                    }
                }
                let (_, _, first) = curves[0];
                if let Some(s) = first
                    .strategies
                    .iter()
                    .find(|s| s.rule == SignalRule::BuyAndHold)
                {
                    plot.line(
                        Line::new("buy and hold", points(first, s)).color(egui::Color32::GRAY),
                    );
                }
            });
    }

    /// "Forward test together": every selected version on candles after its data ended, and
    /// the first against the second on the forward windows they share.
    fn forward_view(
        forward_testing: &mut bool,
        forward: Option<&ForwardReport>,
        ui: &mut Ui,
        out: &mut Outbox,
        details: &[&ModelDetail],
    ) {
        let versions: Vec<String> = details.iter().map(|d| d.row.version_id.clone()).collect();
        if ask_button(
            ui,
            forward_testing,
            "Forward test together",
            "Score the selected versions on candles that closed after their data ended, and [1] \
             (champion) against [2] (challenger) on the windows they share",
        ) {
            out.send(Request::ForwardTest {
                versions: versions.clone(),
            });
        }
        let Some(f) =
            forward.filter(|f| f.results.iter().map(|r| &r.version_id).eq(versions.iter()))
        else {
            return;
        };
        for (k, r) in f.results.iter().enumerate() {
            ui.label(format!("[{}] {}", k + 1, r.sentence()));
        }
        if let Some(p) = &f.pair {
            ui.label(
                RichText::new(format!(
                    "[1] against [2] on {} common forward windows: [1] is {}",
                    p.windows, p.verdict.text
                ))
                .color(verdict_color(p.verdict.kind)),
            );
        }
    }

    /// "Judge together": the model confidence set over the selected versions, persistence and
    /// drift, and each version's verdicts with Holm's adjustment across all of them. What picks
    /// a winner here is that test, never the bars below.
    fn judged_view(
        judging: &mut bool,
        judged: Option<&JudgedComparison>,
        ui: &mut Ui,
        out: &mut Outbox,
        details: &[&ModelDetail],
    ) {
        let versions: Vec<String> = details.iter().map(|d| d.row.version_id.clone()).collect();
        if ask_button(
            ui,
            judging,
            "Judge together",
            "The 90% model confidence set (Hansen, Lunde and Nason) over these versions, \
             persistence and drift, and each verdict with Holm's adjustment across every \
             comparison on screen",
        ) {
            out.send(Request::Judge {
                versions: versions.clone(),
            });
        }
        let Some(j) =
            judged.filter(|j| j.verdicts.iter().map(|v| &v.version_id).eq(versions.iter()))
        else {
            return;
        };
        if let Some(set) = &j.model_confidence_set {
            ui.label(RichText::new(set.sentence()).strong());
        }
        for (k, v) in j.verdicts.iter().enumerate() {
            for verdict in [&v.vs_persistence, &v.vs_drift] {
                ui.label(
                    RichText::new(format!("[{}] {}", k + 1, verdict.text))
                        .color(verdict_color(verdict.kind)),
                );
            }
        }
    }

    /// "Make ensemble": the selected versions weighed on their validation forecasts (equal or
    /// non-negative), evaluated on the test split like any model and registered.
    fn ensemble_view(
        form: EnsembleForm<'_>,
        ui: &mut Ui,
        out: &mut Outbox,
        details: &[&ModelDetail],
    ) {
        let EnsembleForm {
            weighting,
            making,
            made,
        } = form;
        use atb_protocol::vocab::Architecture;
        if details
            .iter()
            .any(|d| d.row.architecture == Architecture::Ensemble)
        {
            ui.label("An ensemble is made of plain versions: untick the ensembles to make one.");
            return;
        }
        let versions: Vec<String> = details.iter().map(|d| d.row.version_id.clone()).collect();
        ui.horizontal(|ui| {
            egui::ComboBox::from_label("Ensemble weights")
                .selected_text(weighting.as_str())
                .show_ui(ui, |ui| {
                    for w in Weighting::ALL {
                        ui.selectable_value(weighting, w, w.as_str())
                            .on_hover_text(w.description());
                    }
                });
            if ask_button(
                ui,
                making,
                "Make ensemble",
                "Weigh the selected versions on their validation forecasts (never the test \
                 split), evaluate the sum beside the same baselines and register it",
            ) {
                *made = None;
                out.send(Request::MakeEnsemble {
                    versions,
                    weighting: *weighting,
                });
            }
        });
        if let Some(row) = made.as_ref() {
            let verdict = row
                .verdict_vs_persistence
                .as_ref()
                .or(row.target_verdicts.first())
                .map(|v| format!(": {}", v.text))
                .unwrap_or_default();
            ui.label(format!(
                "Registered the ensemble {} ({weighting} weights){verdict}",
                row.version_id,
            ));
        }
    }

    /// Whether the chosen versions were tested on the same windows: same series and source,
    /// same test targets. A comparison across different windows ranks nothing.
    fn same_windows(details: &[&ModelDetail]) -> bool {
        details
            .windows(2)
            .all(|w| w[0].dataset.same_test_windows(&w[1].dataset))
    }

    fn paired_view(
        pairing: &mut bool,
        paired: Option<&PairedComparison>,
        ui: &mut Ui,
        out: &mut Outbox,
        details: &[&ModelDetail],
    ) {
        let [a, b, ..] = details else { return };
        let (first, second) = (a.row.version_id.clone(), b.row.version_id.clone());
        if ask_button(
            ui,
            pairing,
            "Paired test of [1] against [2]",
            "Diebold-Mariano test on the two models' absolute errors over their common test \
             windows",
        ) {
            out.send(Request::PairedTest {
                first: first.clone(),
                second: second.clone(),
            });
        }
        if let Some(p) = paired.filter(|p| p.first == first && p.second == second) {
            ui.label(
                RichText::new(format!(
                    "[1] against [2] on {} common test windows: MAE {:.2} vs {:.2} USD; [1] is {}",
                    p.windows, p.first_mae_usd, p.second_mae_usd, p.verdict.text
                ))
                .color(verdict_color(p.verdict.kind)),
            );
        }
    }

    pub(super) fn comparison(&mut self, ui: &mut Ui, store: &Store, out: &mut Outbox) {
        let chosen: Vec<&ModelRow> = store
            .rows
            .iter()
            .filter(|r| self.selected.contains(&r.version_id))
            .collect();
        ui.heading(format!("Comparison of {} models", chosen.len()));
        let details: Vec<&ModelDetail> = chosen
            .iter()
            .filter_map(|r| store.details.get(&r.version_id))
            .collect();
        if details.len() < chosen.len() {
            ui.label(format!(
                "loading {} of {}…",
                chosen.len() - details.len(),
                chosen.len()
            ));
        }
        let label = short_label;
        ui.horizontal_wrapped(|ui| {
            for (j, d) in details.iter().enumerate() {
                ui.label(
                    RichText::new(format!("[{}] {}", j + 1, label(d)))
                        .color(PALETTE[j % PALETTE.len()]),
                );
            }
        });
        Self::verdict_lines(ui, &details);
        if details.len() >= 2 && !Self::same_windows(&details) {
            ui.label(
                RichText::new(
                    "Warning: these versions were tested on different windows (another series, \
                     range, split or horizon). Their numbers are not comparable, so they are not \
                     ranked; compare each against its own persistence line.",
                )
                .color(ERROR_RED)
                .strong(),
            );
        } else if details.len() >= 2 {
            Self::judged_view(&mut self.judging, self.judged.as_ref(), ui, out, &details);
            Self::forward_view(
                &mut self.forward_testing,
                self.forward.as_ref(),
                ui,
                out,
                &details,
            );
            Self::paired_view(&mut self.pairing, self.paired.as_ref(), ui, out, &details);
            Self::ensemble_view(
                EnsembleForm {
                    weighting: &mut self.ensemble_weighting,
                    making: &mut self.making_ensemble,
                    made: &mut self.made_ensemble,
                },
                ui,
                out,
                &details,
            );
        }
        ui.label(
            "Red marks: each model's own persistence on its own test windows (for direction: the \
             majority-class rate; for skill: zero).",
        );
        Self::metric_bars(ui, &details);
        ui.strong("Validation loss per epoch");
        Plot::new("compare_curves")
            .height(200.0)
            .legend(Legend::default())
            .x_axis_label("epoch")
            .show(ui, |plot| {
                for (j, d) in details.iter().enumerate() {
                    let pts: PlotPoints<'_> = d
                        .history
                        .iter()
                        .map(|e| [e.epoch as f64, e.val_loss])
                        .collect();
                    plot.line(Line::new(label(d), pts).color(PALETTE[j % PALETTE.len()]));
                }
            });
        ui.label(
            details
                .iter()
                .enumerate()
                .map(|(j, d)| format!("bar {}: {}", j + 1, label(d)))
                .collect::<Vec<_>>()
                .join(" · "),
        );
        Self::equity_overlay(ui, &details, &label);
        Self::predictions_view(ui, store, &details);
    }

    /// Each model's verdicts, in the engine's words and colours.
    fn verdict_lines(ui: &mut Ui, details: &[&ModelDetail]) {
        // Each model's verdicts, in the engine's words and colours: each its own test, which
        // "Judge together" below adjusts for the comparisons on screen.
        if details.len() >= 2 {
            ui.label("Each on its own test split, not adjusted for the comparisons on screen:");
        }
        for (j, d) in details.iter().enumerate() {
            let verdicts = match (&d.evaluation.test, &d.evaluation.target) {
                (_, Some(target)) => target.verdicts(),
                (Some(t), None) => vec![vs_persistence(t), vs_ridge(t)],
                (None, None) => Vec::new(),
            };
            for v in verdicts {
                ui.label(
                    RichText::new(format!("[{}] {}", j + 1, v.text)).color(verdict_color(v.kind)),
                );
            }
        }
    }

    /// One bar chart per metric, each model's own baseline over its bar.
    fn metric_bars(ui: &mut Ui, details: &[&ModelDetail]) {
        let label = short_label;
        type Metric = (&'static str, fn(&ModelDetail) -> (f64, Option<f64>));
        let metrics: [Metric; 4] = [
            ("Test MAE (USD)", |d| match &d.evaluation.test {
                Some(t) => (t.model.mae_usd, Some(t.persistence.mae_usd)),
                None => (f64::NAN, None),
            }),
            ("Test RMSE (USD)", |d| match &d.evaluation.test {
                Some(t) => (t.model.rmse_usd, Some(t.persistence.rmse_usd)),
                None => (f64::NAN, None),
            }),
            // The coin to beat: always guessing the majority direction.
            ("Directional accuracy", |d| match &d.evaluation.test {
                Some(t) => (
                    t.model.directional_accuracy.unwrap_or(f64::NAN),
                    Some(t.up_share.max(1.0 - t.up_share)),
                ),
                None => (f64::NAN, None),
            }),
            ("Skill vs persistence", |d| match &d.evaluation.test {
                Some(t) => (t.model.skill_vs_persistence, Some(0.0)),
                None => (f64::NAN, None),
            }),
        ];
        ui.columns(metrics.len(), |cols| {
            for (i, (name, f)) in metrics.iter().enumerate() {
                let ui = &mut cols[i];
                ui.strong(*name);
                Plot::new(format!("compare_{i}"))
                    .height(180.0)
                    .show_x(false)
                    .show_axes([false, true])
                    .show(ui, |plot| {
                        // One chart per model, so each keeps its colour across the metrics.
                        for (j, d) in details.iter().enumerate() {
                            let bar = Bar::new(j as f64, f(d).0).width(0.7);
                            plot.bar_chart(
                                BarChart::new(label(d), vec![bar])
                                    .color(PALETTE[j % PALETTE.len()]),
                            );
                        }
                        // Each model's own baseline over its own bar: versions tested on
                        // different windows have different persistence errors.
                        for (j, d) in details.iter().enumerate() {
                            if let Some(b) = f(d).1 {
                                let x = j as f64;
                                plot.line(
                                    Line::new(
                                        format!("persistence [{}]", j + 1),
                                        vec![[x - 0.45, b], [x + 0.45, b]],
                                    )
                                    .color(ERROR_RED)
                                    .width(2.5),
                                );
                            }
                        }
                    });
            }
        });
    }

    /// The test window's forecasts against what happened (the target's series, or closes).
    fn predictions_view(ui: &mut Ui, store: &Store, details: &[&ModelDetail]) {
        let label = short_label;
        let preds: Vec<(&ModelDetail, &TestPredictions)> = details
            .iter()
            .filter_map(|d| store.predictions.get(&d.row.version_id).map(|p| (*d, p)))
            .collect();
        let series: Vec<_> = preds
            .iter()
            .enumerate()
            .filter_map(|(j, (d, p))| {
                let s = p.target_series.as_ref()?;
                Some((label(d), s, PALETTE[j % PALETTE.len()]))
            })
            .collect();
        if let Some((_, first, _)) = series.first() {
            ui.strong(crate::target_charts::series_title(first.target));
            crate::target_charts::series_plot(ui, "compare_target_series", &series);
            return;
        }
        ui.strong("Predicted vs actual close over the test window");
        if preds.is_empty() {
            ui.label("loading predictions…");
            return;
        }
        Plot::new("compare_predictions")
            .height(260.0)
            .legend(Legend::default())
            .x_axis_formatter(day_axis)
            .show(ui, |plot| {
                let (_, first) = preds[0];
                let actual: PlotPoints<'_> = first
                    .target_open_ms
                    .iter()
                    .zip(&first.actual_close)
                    .map(|(t, c)| [ms_to_days(*t), *c])
                    .collect();
                plot.line(
                    Line::new("actual close", actual)
                        .width(2.0)
                        .color(egui::Color32::GRAY),
                );
                for (j, (d, p)) in preds.iter().enumerate() {
                    let pts: PlotPoints<'_> = p
                        .target_open_ms
                        .iter()
                        .zip(&p.predicted_close)
                        .map(|(t, c)| [ms_to_days(*t), *c])
                        .collect();
                    plot.line(
                        Line::new(format!("predicted: {}", label(d)), pts)
                            .color(PALETTE[j % PALETTE.len()]),
                    );
                }
            });
    }
}

/// A version's short label: type, variant and the version's time and number.
fn short_label(d: &ModelDetail) -> String {
    format!(
        "{} {} ({})",
        d.row.architecture,
        d.row.variant,
        d.row
            .version_id
            .splitn(3, '_')
            .nth(2)
            .unwrap_or(&d.row.version_id)
    )
}
