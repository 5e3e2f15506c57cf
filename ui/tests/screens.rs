//! The UI against the fake backend, driven through accessibility names as a user (or a screen
//! reader) would: every input must have a name, or the harness fails the test.

use atb_protocol::desktop::RunUpdate;
use atb_protocol::spec::TrainSpec;
use atb_protocol::vocab::{Architecture, CandleSource, Target};
use atb_ui::backend::{Reply, Request};
use atb_ui::fake::{FakeBackend, sample_epoch, sample_finish, sample_run_started};
use atb_ui::{AtbApp, Screen};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable};

fn harness(fake: &FakeBackend) -> Harness<'static, AtbApp> {
    let app = AtbApp::new(Box::new(fake.clone()));
    Harness::builder()
        .with_size(egui::vec2(1400.0, 2400.0))
        .build_ui_state(|ui, app: &mut AtbApp| app.ui(ui), app)
}

/// The app on the fake backend, on the Model detail screen of `version`.
fn open_model(fake: &FakeBackend, version: &str) -> Harness<'static, AtbApp> {
    let mut h = harness(fake);
    h.run();
    h.get_by_label("Models").click();
    h.run();
    h.get_by_role_and_label(Role::Link, version).click();
    h.run();
    h
}

fn set_text(h: &mut Harness<'static, AtbApp>, label: &str, text: &str) {
    let field = h.get_by_role_and_label(Role::TextInput, label);
    field.focus();
    h.run();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    if text.is_empty() {
        h.key_press(egui::Key::Backspace);
    } else {
        h.get_by_role_and_label(Role::TextInput, label)
            .type_text(text);
    }
    h.run();
}

fn train_enabled(h: &Harness<'static, AtbApp>) -> bool {
    !h.get_by_role_and_label(Role::Button, "Train")
        .accesskit_node()
        .is_disabled()
}

#[test]
fn train_form_starts_a_run_streams_points_and_cancels() {
    let fake = FakeBackend::with_sample_models();
    let mut h = harness(&fake);
    h.run();
    set_text(&mut h, "Epochs", "3");
    set_text(&mut h, "Learning rate", "0.0005");
    assert_eq!(h.state().state.train.form.epochs, "3");
    assert!(train_enabled(&h));
    h.get_by_role_and_label(Role::Button, "Train").click();
    h.run();
    let Some(Request::Train(sent)) = fake
        .sent()
        .into_iter()
        .find(|r| matches!(r, Request::Train(_)))
    else {
        panic!("Train sent nothing: {:?}", fake.sent());
    };
    assert_eq!((sent.spec.epochs, sent.spec.learning_rate), (3, 0.0005));
    assert_eq!(sent.series.source, CandleSource::Sample);
    // Train is disabled while the run goes on; Cancel is offered.
    assert!(!train_enabled(&h));
    fake.push(Reply::Run(sample_run_started(3)));
    for u in sample_epoch(1, 3) {
        fake.push(Reply::Run(u));
    }
    h.run();
    let run = h.state().state.train.run.clone().expect("a run view");
    assert_eq!(run.epoch_points.len(), 1);
    assert_eq!(run.batch_points.len(), 4);
    h.get_by_label_contains("Loss per epoch (last: train 1.0000");
    h.get_by_label_contains("Batch loss (4 points)");
    // The training time so far (2 s at the first epoch's end), then the time left.
    h.get_by_label_contains("2s elapsed · ETA 4s");
    h.get_by_label_contains("Device: cpu (flex)");
    for u in sample_epoch(2, 3) {
        fake.push(Reply::Run(u));
    }
    h.run();
    h.get_by_label_contains("Batch loss (8 points)");

    h.get_by_role_and_label(Role::Button, "Cancel").click();
    h.run();
    assert!(fake.sent().contains(&Request::CancelRun { run_id: 1 }));
    let run = h.state().state.train.run.clone().expect("a run view");
    assert!(!run.active, "the run ended");
    h.get_by_label_contains("cancelled: nothing was registered");
    assert!(train_enabled(&h), "Train is offered again");
}

#[test]
fn a_finished_run_shows_metrics_beside_baselines_and_links_the_model() {
    let fake = FakeBackend::with_sample_models();
    let mut h = harness(&fake);
    h.run();
    h.get_by_role_and_label(Role::Button, "Train").click();
    h.run();
    fake.push(Reply::Run(sample_run_started(1)));
    for u in sample_epoch(1, 1).into_iter().chain(sample_finish(1)) {
        fake.push(Reply::Run(u));
    }
    h.run();
    h.get_by_label("persistence");
    // The engine's verdict words, from the paired test (not the sign of the skill).
    h.get_by_label_contains("better than persistence (DM p = 0.004; skill +1.2%");
    h.get_by_label_contains("better than ridge (DM p");
    let link = h.get_by_label_contains("Open model BTCUSDT_1h_20240104_120000");
    link.click();
    h.run();
    assert_eq!(h.state().state.screen, Screen::Detail);
    // The list was refreshed after the registration.
    assert!(
        fake.sent()
            .iter()
            .filter(|r| **r == Request::ListModels)
            .count()
            >= 2
    );
}

#[test]
fn an_invalid_value_disables_train_and_says_why() {
    let fake = FakeBackend::with_sample_models();
    let mut h = harness(&fake);
    h.run();
    set_text(&mut h, "Batch size", "0");
    assert!(!train_enabled(&h));
    h.get_by_label("Train is disabled: batch size: 0 is not between 1 and 65536");
    set_text(&mut h, "Batch size", "lots");
    h.get_by_label("Train is disabled: batch size: a whole number");
    set_text(&mut h, "Batch size", "64");
    set_text(&mut h, "Start date", "2024-02-30x");
    h.get_by_label(
        "Train is disabled: start date: \"2024-02-30x\" is not a date of the form YYYY-MM-DD",
    );
    // A day that does not exist is caught in the form, with the engine's own words.
    set_text(&mut h, "Start date", "2024-02-31");
    h.get_by_label(
        "Train is disabled: start date: 2024-02-31 is not a day: February 2024 has 29 days",
    );
    set_text(&mut h, "Start date", "");
    assert!(train_enabled(&h));
    assert!(!fake.sent().iter().any(|r| matches!(r, Request::Train(_))));
}

#[test]
fn a_context_market_is_checked_in_the_form_and_sent_with_the_run() {
    let fake = FakeBackend::with_sample_models();
    let mut h = harness(&fake);
    h.run();
    let field = "Context market (empty: none)";
    set_text(&mut h, field, "not a symbol!");
    assert!(!train_enabled(&h));
    h.get_by_label_contains("Train is disabled: context:");
    // The sample holds one market: refused inline, naming the source that has both.
    set_text(&mut h, field, "ETHUSDT");
    assert!(!train_enabled(&h));
    // Under the field and on the disabled Train button's line.
    assert_eq!(
        h.query_all_by_label_contains("sample holds one market (use source binance)")
            .count(),
        2
    );
    h.state_mut().state.train.form.series.source = CandleSource::Binance;
    h.run();
    assert!(train_enabled(&h));
    h.get_by_role_and_label(Role::Button, "Train").click();
    h.run();
    let Some(Request::Train(sent)) = fake
        .sent()
        .into_iter()
        .find(|r| matches!(r, Request::Train(_)))
    else {
        panic!("Train sent nothing: {:?}", fake.sent());
    };
    assert_eq!(
        sent.spec.context.as_ref().map(|c| c.as_str()),
        Some("ETHUSDT")
    );
}

#[test]
fn selecting_two_models_shows_the_comparison() {
    let fake = FakeBackend::with_sample_models();
    let mut h = harness(&fake);
    h.run();
    h.get_by_label("Models").click();
    h.run();
    let compare = h.get_by_role_and_label(Role::Button, "Compare selected (0)");
    assert!(compare.accesskit_node().is_disabled());
    h.get_by_label("Select BTCUSDT_1h_20240101_120000").click();
    h.run();
    h.get_by_label("Select BTCUSDT_1h_20240102_120000").click();
    h.run();
    h.get_by_role_and_label(Role::Button, "Compare selected (2)")
        .click();
    h.run();
    h.get_by_label("Comparison of 2 models");
    let s = &h.state().state.store;
    assert_eq!(s.details.len(), 2);
    assert_eq!(s.predictions.len(), 2);
    h.get_by_label("Validation loss per epoch");
    h.get_by_label("Predicted vs actual close over the test window");
    // Same windows: no warning, and the paired test of the two is one click away.
    assert!(
        h.query_by_label_contains("tested on different windows")
            .is_none()
    );
    h.get_by_role_and_label(Role::Button, "Paired test of [1] against [2]")
        .click();
    h.run();
    h.get_by_label_contains("[1] against [2] on 300 common test windows");
    // Judged together: the confidence set and Holm-adjusted verdicts; forward-tested together;
    // the equity curves after costs overlaid.
    h.get_by_role_and_label(Role::Button, "Judge together")
        .click();
    h.run();
    h.get_by_label_contains("90% model confidence set (T_max, 300 windows");
    assert_eq!(h.query_all_by_label_contains("Holm-adjusted").count(), 4);
    h.get_by_role_and_label(Role::Button, "Forward test together")
        .click();
    h.run();
    h.get_by_label_contains("[2] forward test: 12 window(s) after the data ended so far");
    h.get_by_label("Value after costs: long/flat equity over the test split (10 bp per side)");
    // Made into an ensemble with the chosen weights, which the table then lists.
    h.get_by_role_and_label(Role::Button, "Make ensemble")
        .click();
    h.run();
    h.get_by_label_contains("Registered the ensemble BTCUSDT_1h_ensemble_");
    h.get_by_label_contains("(nnls weights)");
    // Its detail lists the members with their weights and both weightings' validation loss.
    let mut detail = open_model(&fake, "BTCUSDT_1h_ensemble_3 (latest)");
    detail.get_by_label("Ensemble of 2 members, nnls weights chosen on the validation split");
    detail.get_by_label("equal: 1.020000 with weights [0.500, 0.500]");
    detail.get_by_label("Parameters (all members)");
    // A member's id opens that member.
    detail
        .get_by_role_and_label(Role::Link, "BTCUSDT_1h_20240101_120000")
        .click();
    detail.run();
    assert_eq!(
        detail.state().state.detail.version.as_deref(),
        Some("BTCUSDT_1h_20240101_120000")
    );
    assert!(
        h.state()
            .state
            .store
            .rows
            .iter()
            .any(|r| r.architecture == Architecture::Ensemble)
    );
    // Another test window: warned, and no paired test offered.
    h.state_mut()
        .state
        .store
        .details
        .get_mut("BTCUSDT_1h_20240102_120000")
        .unwrap()
        .dataset
        .test
        .samples = 250;
    h.run();
    h.get_by_label_contains("these versions were tested on different windows");
    assert!(h.query_by_label("Paired test of [1] against [2]").is_none());
    assert!(h.query_by_label("Judge together").is_none());
    assert!(h.query_by_label("Make ensemble").is_none());
    // Sorting by MAE puts the attention model (790) first, then the ensemble (its first
    // member's 800 less 1%).
    h.get_by_label_contains("Test MAE $").click();
    h.run();
    let state = &h.state().state;
    let order: Vec<Architecture> = state
        .models
        .visible(&state.store)
        .iter()
        .map(|r| r.architecture)
        .collect();
    assert_eq!(
        order,
        [
            Architecture::AttentionLstm,
            Architecture::Ensemble,
            Architecture::CnnLstm,
            Architecture::Tcn
        ]
    );
}

#[test]
fn export_shows_the_parity_result_and_promote_and_delete_work() {
    let fake = FakeBackend::with_sample_models();
    let mut h = open_model(&fake, "BTCUSDT_1h_20240102_120000");
    assert_eq!(h.state().state.screen, Screen::Detail);
    h.get_by_label_contains("Attention on the last test window (mean over 4 heads)");
    h.get_by_role_and_label(Role::Button, "Export ONNX").click();
    h.run();
    h.get_by_label_contains("Parity passed: max |ONNX − native| = 1.20e-7 over 64 test windows");
    h.get_by_label_contains("copy saved to /tmp/BTCUSDT_1h_20240102_120000.onnx");

    set_text(&mut h, "Alias", "champion");
    h.get_by_role_and_label(Role::Button, "Promote").click();
    h.run();
    h.get_by_label_contains("is now champion");

    h.get_by_role_and_label(Role::Button, "Delete…").click();
    h.run();
    h.get_by_role_and_label(Role::Button, "Keep it").click();
    h.run();
    assert!(
        !fake
            .sent()
            .iter()
            .any(|r| matches!(r, Request::Delete { .. }))
    );
    h.get_by_role_and_label(Role::Button, "Delete…").click();
    h.run();
    h.get_by_role_and_label(Role::Button, "Delete permanently")
        .click();
    h.run();
    assert_eq!(h.state().state.screen, Screen::Models);
    assert_eq!(fake.state().models.len(), 2);
}

#[test]
fn a_failing_backend_shows_a_banner_and_the_ui_stays_usable() {
    let fake = FakeBackend::with_sample_models();
    fake.state().fail_with = Some("the registry at /nowhere cannot be opened".into());
    let mut h = harness(&fake);
    h.run();
    h.get_by_label("Listing models failed: the registry at /nowhere cannot be opened");
    h.get_by_role_and_label(Role::Button, "Train").click();
    h.run();
    h.get_by_label("Train failed: the registry at /nowhere cannot be opened");
    // Not stuck in "starting": Train can be pressed again once the backend recovers.
    assert!(train_enabled(&h));
    let banners = h.state().state.errors.len();
    h.get_all_by_label("Dismiss")
        .next()
        .expect("a dismiss button")
        .click();
    h.run();
    assert_eq!(h.state().state.errors.len(), banners - 1);
    fake.state().fail_with = None;
    h.get_by_label("Models").click();
    h.run();
    h.get_by_role_and_label(Role::Button, "Refresh").click();
    h.run();
    h.get_by_role_and_label(Role::Link, "BTCUSDT_1h_20240101_120000 (latest)");
}

#[test]
fn a_reopened_ui_catches_up_with_the_run_in_progress() {
    let fake = FakeBackend::with_sample_models();
    let request = atb_protocol::desktop::TrainRequest {
        spec: TrainSpec {
            architecture: Architecture::Tcn,
            epochs: 5,
            grad_clip_norm: Some(1.5),
            ..TrainSpec::default()
        },
        ..Default::default()
    };
    let mut snapshot_updates = vec![sample_run_started(5)];
    snapshot_updates.extend(sample_epoch(1, 5));
    snapshot_updates.extend(sample_epoch(2, 5));
    fake.state().run = Some(atb_protocol::desktop::RunSnapshot {
        run_id: 7,
        request: request.clone(),
        updates: snapshot_updates,
        active: true,
    });
    let mut h = harness(&fake);
    h.run();
    assert!(fake.sent().contains(&Request::AttachRun));
    let run = h.state().state.train.run.clone().expect("attached");
    assert_eq!(
        (run.run_id, run.epoch_points.len(), run.active),
        (7, 2, true)
    );
    assert!(!train_enabled(&h));
    fake.push(Reply::Run(RunUpdate::Failed {
        message: "out of memory".into(),
    }));
    h.run();
    h.get_by_label("Training failed: out of memory");
    assert!(train_enabled(&h));
}

#[test]
fn the_data_screen_plots_closes_with_gaps_and_fetches_with_progress() {
    let fake = FakeBackend::with_sample_models();
    let mut h = harness(&fake);
    h.run();
    h.get_by_label("Data").click();
    h.run();
    h.get_by_role_and_label(Role::Button, "Show chart").click();
    h.run();
    h.get_by_label_contains("498 candles, 1 gap(s) (2 missing candles, marked in red)");
    // The features of the same range, with what each column means.
    h.get_by_label_contains("price features of BTCUSDT 1h: 474 rows from 498 candles");
    h.get_by_label("log(1 + volume)");
    assert!(
        h.query_by_label("RSI(14), Wilder smoothing, 0..1")
            .is_none()
    );
    h.state_mut().state.data.feature_set = atb_protocol::vocab::FeatureSet::Technical;
    h.get_by_role_and_label(Role::Button, "Show chart").click();
    h.run();
    h.get_by_label_contains("technical features of BTCUSDT 1h: 438 rows");
    h.get_by_label("RSI(14), Wilder smoothing, 0..1");
    h.get_by_label("rsi14").click();
    h.run();
    assert_eq!(h.state().state.data.feature_column, "rsi14");
    let fetch = h.get_by_role_and_label(Role::Button, "Fetch from Binance");
    assert!(
        fetch.accesskit_node().is_disabled(),
        "the sample is not fetched"
    );
    h.state_mut().state.data.form.source = CandleSource::Binance;
    h.run();
    set_text(&mut h, "Last days", "30");
    h.get_by_role_and_label(Role::Button, "Fetch from Binance")
        .click();
    h.run();
    h.get_by_label_contains("Fetched BTCUSDT 1h: 498 candles stored in range, 498 new");
    h.get_by_label("Plot BTCUSDT 1h");
    // The fetched series is charted at once.
    let sent = fake.sent();
    let fetched_at = sent
        .iter()
        .position(|r| matches!(r, Request::Fetch(_)))
        .unwrap();
    assert!(
        sent[fetched_at..]
            .iter()
            .any(|r| matches!(r, Request::Candles(s) if s.source == CandleSource::Binance)),
        "{sent:?}"
    );

    // A series that cannot be charted (nothing stored yet) says so where the chart would be,
    // not in a banner, and no older chart stays in its place.
    fake.state().fail_with = Some("too little data: no ETHUSDT 1h candles are stored yet".into());
    h.get_by_role_and_label(Role::Button, "Show chart").click();
    h.run();
    assert_eq!(
        h.query_all_by_label_contains("no ETHUSDT 1h candles are stored yet")
            .count(),
        2,
        "chart and preview each say why"
    );
    assert!(
        h.state().state.errors.is_empty(),
        "{:?}",
        h.state().state.errors
    );
    assert!(h.state().state.data.chart.is_none());
    fake.state().fail_with = None;
    h.get_by_role_and_label(Role::Button, "Show chart").click();
    h.run();
    assert!(h.query_by_label_contains("no ETHUSDT 1h candles").is_none());
    h.get_by_label_contains("498 candles, 1 gap(s)");

    // A slow fetch shows its progress with elapsed time and ETA, and Cancel fetch stops it,
    // saying what was kept (not as an error).
    fake.state().hold_fetch = true;
    h.get_by_role_and_label(Role::Button, "Fetch from Binance")
        .click();
    h.run();
    h.get_by_label_contains("fetching: 250 of 500 candles");
    h.get_by_label_contains("elapsed · ETA");
    assert!(
        h.get_by_role_and_label(Role::Button, "Fetch from Binance")
            .accesskit_node()
            .is_disabled(),
        "one fetch at a time"
    );
    h.get_by_role_and_label(Role::Button, "Cancel fetch")
        .click();
    h.run();
    assert!(fake.sent().contains(&Request::CancelFetch));
    h.get_by_label_contains("the 250 of 500 candles fetched before it stopped are stored");
    assert!(h.query_by_label_contains("fetching:").is_none());
    assert!(
        h.state().state.errors.is_empty(),
        "{:?}",
        h.state().state.errors
    );
    assert!(
        !h.get_by_role_and_label(Role::Button, "Fetch from Binance")
            .accesskit_node()
            .is_disabled()
    );
}

#[test]
fn the_guide_judges_claims_by_the_registry() {
    let fake = FakeBackend::with_sample_models();
    let mut h = harness(&fake);
    h.run();
    h.get_by_label("Guide").click();
    h.run();
    h.get_by_label_contains("1 of 3 tested models are better than persistence");
    h.get_by_label_contains("after Holm's adjustment across the 3 tests");
    h.get_by_label("Maximum accuracy: not measured yet");
}

/// Models better than others only by point estimate are "not distinguishable", never
/// "supported": the guide reads the corrected tests of the last benchmark.
#[test]
fn the_guide_calls_point_estimate_winners_not_distinguishable() {
    let fake = FakeBackend::with_sample_models();
    fake.state().last_bench = Some(atb_ui::fake::sample_bench());
    let mut h = harness(&fake);
    h.run();
    h.get_by_label("Guide").click();
    h.run();
    // lstm default has the best skill in that report and gbdt the worst, by point estimate.
    h.get_by_label("Is a network worth it?: not distinguishable");
    h.get_by_label("A balanced default: not distinguishable");
    h.get_by_label("Trading on direction: not distinguishable");
    assert!(
        h.query_all_by_label_contains("Measured: lstm default")
            .next()
            .is_none()
    );
}

/// The form's defaults are the CLI's (`TrainSpec::default()`), on the bundled sample.
#[test]
fn the_train_form_starts_from_the_shared_spec() {
    let request = atb_ui::train_screen::TrainForm::default()
        .request()
        .unwrap();
    assert_eq!(request.spec, TrainSpec::default());
    assert_eq!(request.series.source, CandleSource::Sample);
}

#[test]
fn volatility_and_direction_versions_show_their_own_scores_charts_and_verdicts() {
    let fake = FakeBackend::with_target_models();
    let volatility = fake.state().models[0].version_id.clone();
    let direction = fake.state().models[1].version_id.clone();
    let mut h = open_model(&fake, &volatility);
    h.run();
    for said in ["QLIKE", "HAR-RV", "RV persistence", "Mincer-Zarnowitz R²"] {
        assert!(h.query_all_by_label(said).next().is_some(), "no {said}");
    }
    h.get_by_label_contains("better than RV persistence");
    h.get_by_label_contains("no significant difference from HAR-RV");
    h.get_by_label("Forecast against realised volatility over the test split (%)");
    assert!(
        fake.sent().contains(&Request::Predictions {
            version: volatility.clone()
        }),
        "the chart asks for the test split's forecasts"
    );
    assert!(h.state().state.store.target_series(&volatility).is_some());
    // No price metrics, backtest or forward test for a volatility model.
    assert!(h.query_by_label("MAE (USD)").is_none());
    assert!(h.query_by_label("Forward test").is_none());
    h.get_by_role_and_label(Role::Button, "Forecast volatility")
        .click();
    h.run();
    h.get_by_label_contains("realised volatility 0.850% (357.00 in price");
    h.get_by_label_contains("This model on its test split: better than RV persistence");

    h.get_by_label("Models").click();
    h.run();
    h.get_by_role_and_label(Role::Link, &direction).click();
    h.run();
    h.run();
    for said in [
        "log loss",
        "Brier score",
        "climatology",
        "last move",
        "accuracy at 0.5",
    ] {
        assert!(h.query_all_by_label(said).next().is_some(), "no {said}");
    }
    h.get_by_label_contains("Reliability: 51.9% of the test windows moved up");
    h.get_by_label("Probability of an up move over the test split (outcomes at 0 and 1)");
    // The list names each version's target.
    h.get_by_label("Models").click();
    h.run();
    h.get_by_label("volatility");
    h.get_by_label("direction");
    // The guide judges them per target, apart from the return headline.
    h.get_by_label("Guide").click();
    h.run();
    h.get_by_label("volatility: 1 registered version(s)");
    h.get_by_label_contains(
        "Better than every baseline of the target in 0 of 1; better than RV persistence in 1",
    );
}

#[test]
fn the_train_form_sends_the_chosen_target() {
    let fake = FakeBackend::with_sample_models();
    let mut h = harness(&fake);
    h.run();
    h.get_by_label("Target").click();
    h.run();
    h.get_by_label("volatility").click();
    h.run();
    h.get_by_label_contains("Predicts the realised volatility of the next h bars");
    assert_eq!(h.state().state.train.form.target, Target::Volatility);
    let request = h.state().state.train.form.request().unwrap();
    assert_eq!(request.spec.target, Target::Volatility);
}

#[test]
fn a_forecast_is_shown_with_its_models_verdict() {
    let fake = FakeBackend::with_sample_models();
    let mut h = open_model(&fake, "BTCUSDT_1h_20240102_120000");
    h.get_by_role_and_label(Role::Button, "Forecast next close")
        .click();
    h.run();
    h.get_by_label_contains("Forecast over the 1 bar after");
    h.get_by_label_contains("close 42010.50");
    h.get_by_label_contains("This model on its test split:");
}

#[test]
fn the_model_screen_forward_tests_and_deflates_the_sharpe_ratio() {
    let fake = FakeBackend::with_sample_models();
    let mut h = open_model(&fake, "BTCUSDT_1h_20240102_120000");
    h.get_by_label("Not forward-tested yet.");
    h.get_by_role_and_label(Role::Button, "Forward test")
        .click();
    h.run();
    h.get_by_label_contains("12 window(s) after the data ended so far; 30 needed (18 more)");
    h.get_by_label("Value after costs");
    h.get_by_role_and_label(Role::Button, "Deflate the Sharpe ratio")
        .click();
    h.run();
    h.get_by_label("deflated Sharpe (model long/short): 0.120 after 4 trial(s) on this series");
    assert!(
        fake.sent()
            .iter()
            .any(|r| matches!(r, Request::ForwardTest { .. }))
    );
}

#[test]
fn the_registry_screen_checks_recovers_and_validates_with_a_progress_list() {
    use atb_protocol::registry::{Finding, FindingKind};
    let fake = FakeBackend::with_sample_models();
    fake.state().findings = vec![Finding {
        kind: FindingKind::AwaitingRecovery,
        subject: "recovery/run-1".into(),
        problem: "a finished run that could not be registered".into(),
        fix: "Press Recover to register it.".into(),
    }];
    let mut h = harness(&fake);
    h.run();
    h.get_by_label("Registry").click();
    h.run();
    h.get_by_role_and_label(Role::Button, "Check registry")
        .click();
    h.run();
    h.get_by_label("3 version(s) checked, 3 sound, 1 problem(s) found");
    h.get_by_label("Press Recover to register it.");
    h.get_by_role_and_label(Role::Button, "Recover").click();
    h.run();
    h.run();
    h.get_by_label("Recover: nothing was waiting.");
    h.get_by_label("3 version(s) checked, 3 sound, 0 problem(s) found");

    h.get_by_role_and_label(Role::Button, "Validate all")
        .click();
    h.run();
    h.get_by_label("gbdt lightweight");
    h.get_by_label("cnn_lstm lightweight");
    h.get_by_label("2 of 2 pairs ok");
    assert!(fake.sent().iter().any(|r| matches!(r, Request::Validate)));
}

#[test]
fn import_results_registers_a_sweeps_bundles_and_names_the_refused_ones() {
    use atb_protocol::sweep::{ImportRefusal, ImportReport};
    let fake = FakeBackend::with_sample_models();
    let mut row = fake.state().models[0].clone();
    row.version_id = "2026-12-06_05h00m00s_sweep-1a2b3c4d-0".into();
    row.tag = Some("sweep".into());
    row.aliases.clear();
    fake.state().results_import = Some(ImportReport {
        imported: vec![row],
        already_present: vec!["2026-12-06_05h00m01s_sweep-1a2b3c4d-1".into()],
        refused: vec![ImportRefusal {
            bundle: "results/job-000002".into(),
            reason: "weights.safetensors differs from its manifest".into(),
        }],
    });
    let mut h = harness(&fake);
    h.run();
    h.get_by_label("Registry").click();
    h.run();
    h.get_by_role_and_label(Role::Button, "Import results…")
        .click();
    h.run();
    h.run();
    h.get_by_label("1 imported, 1 already here, 1 refused");
    h.get_by_label("Imported 2026-12-06_05h00m00s_sweep-1a2b3c4d-0 (BTCUSDT 1h cnn_lstm default)");
    h.get_by_label("Refused results/job-000002: weights.safetensors differs from its manifest");
    assert!(
        fake.sent()
            .iter()
            .any(|r| matches!(r, Request::ImportResults))
    );
    // The registry's table was asked for again and holds the imported version.
    h.get_by_label("Models").click();
    h.run();
    assert!(
        h.query_all_by_label_contains("2026-12-06_05h00m00s_sweep-1a2b3c4d-0")
            .next()
            .is_some()
    );
}

#[test]
fn runs_are_queued_reordered_and_removed_and_keys_train_and_cancel() {
    let fake = FakeBackend::with_sample_models();
    let mut h = harness(&fake);
    h.run();
    h.get_by_role_and_label(Role::Button, "Queue all 3 variants of cnn_lstm")
        .click();
    h.run();
    h.get_by_label_contains("Queue: 3 waiting");
    let variants: Vec<String> = fake
        .state()
        .queue
        .pending
        .iter()
        .map(|q| q.request.spec.variant.to_string())
        .collect();
    assert_eq!(variants, ["lightweight", "default", "deep"]);
    h.get_by_role_and_label(Role::Button, "Move #3 up").click();
    h.run();
    h.get_by_role_and_label(Role::Button, "Remove #1").click();
    h.run();
    let order: Vec<u64> = fake
        .state()
        .queue
        .pending
        .iter()
        .map(|q| q.queue_id)
        .collect();
    assert_eq!(order, [3, 2]);
    h.get_by_label_contains("Queue: 2 waiting");

    // Ctrl+Enter trains the form; Esc cancels the run shown.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Enter);
    h.run();
    assert!(fake.sent().iter().any(|r| matches!(r, Request::Train(_))));
    h.key_press(egui::Key::Escape);
    h.run();
    assert!(
        fake.sent()
            .iter()
            .any(|r| matches!(r, Request::CancelRun { .. }))
    );
}

#[test]
fn the_guide_sends_an_unmeasured_claim_to_the_benchmark_which_measures_it() {
    let fake = FakeBackend::with_sample_models();
    let mut h = harness(&fake);
    h.run();
    h.get_by_label("Guide").click();
    h.run();
    h.get_by_label("Fastest training: not measured yet");
    h.get_by_role_and_label(Role::Button, "Measure now: Fastest training")
        .click();
    h.run();
    assert_eq!(h.state().state.screen, Screen::Bench);
    let chosen: Vec<Architecture> = h
        .state()
        .state
        .bench
        .architectures
        .iter()
        .copied()
        .collect();
    assert_eq!(chosen, [Architecture::CnnLstm, Architecture::Gbdt]);
    // Ctrl+Enter runs it, as the Run benchmark button would.
    h.get_by_role_and_label(Role::Button, "Run benchmark");
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Enter);
    h.run();
    // In the table (and in the charts' legends).
    assert!(h.query_all_by_label("gbdt default").next().is_some());
    assert!(h.query_all_by_label("cnn_lstm default").next().is_some());
    assert!(
        h.query_all_by_label_contains("10–100× faster training")
            .next()
            .is_some()
    );
    // The guide cites the measured latency now.
    h.get_by_label("Guide").click();
    h.run();
    h.get_by_label_contains("Inference latency measured by the last benchmark");
    assert!(fake.sent().iter().any(|r| matches!(r, Request::Bench(_))));
}

#[test]
fn the_last_screen_and_forms_come_back_at_the_next_launch() {
    use atb_protocol::desktop::{TrainRequest, UiPrefs};
    let fake = FakeBackend::with_sample_models();
    let mut saved = TrainRequest::default();
    saved.spec.epochs = 7;
    saved.spec.architecture = Architecture::Tcn;
    fake.state().prefs = Some(UiPrefs {
        screen: "registry".into(),
        train: Some(saved),
        ..UiPrefs::default()
    });
    let mut h = harness(&fake);
    h.run();
    assert_eq!(h.state().state.screen, Screen::Registry);
    assert_eq!(h.state().state.train.form.epochs, "7");
    assert_eq!(h.state().state.train.form.architecture, Architecture::Tcn);

    // A change is saved once it has held for a second.
    h.get_by_label("Training").click();
    h.run();
    set_text(&mut h, "Epochs", "11");
    for _ in 0..600 {
        if fake
            .state()
            .prefs
            .as_ref()
            .and_then(|p| p.train.as_ref())
            .is_some_and(|t| t.spec.epochs == 11)
        {
            break;
        }
        h.step();
    }
    let prefs = fake.state().prefs.clone().unwrap();
    assert_eq!(prefs.screen, "train");
    assert_eq!(prefs.train.unwrap().spec.epochs, 11);
}
