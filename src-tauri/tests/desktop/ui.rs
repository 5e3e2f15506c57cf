//! The real UI against the real shell, natively (no webview): egui_kittest drives the screens
//! through their accessibility names while every request goes through [`shell::handle`] on a
//! temporary `ATB_HOME`. A user trains on the bundled sample, sees the run end registered, opens
//! the model and exports it to ONNX with a parity check.

use std::time::{Duration, Instant};

use atb_engine::Settings;
use atb_protocol::vocab::{Architecture, DeviceChoice, Variant};
use atb_ui::Screen;
use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;

use crate::common::{open_app, set_text, settle, wait_until};

#[test]
fn import_a_csv_with_a_bad_row_then_a_good_one() {
    let home = tempfile::tempdir().unwrap();
    let dialog_path = home.path().join("chosen");
    let csv = dialog_path.with_extension("csv");
    let settings = Settings::resolve(home.path().join("atb"), None).unwrap();
    let mut h = open_app(settings, dialog_path, 1200.0);
    h.state_mut().state.screen = Screen::Data;
    settle(&mut h);
    set_text(&mut h, "Symbol", "ETHUSDT");
    assert_eq!(h.state().state.data.form.symbol, "ETHUSDT");
    let header = "open_time_ms,open,high,low,close,volume\n";
    let row = |hour: i64, close: &str| {
        format!(
            "{},100,110,90,{close},5\n",
            1_704_067_200_000 + hour * 3_600_000
        )
    };
    std::fs::write(
        &csv,
        format!("{header}{}{}", row(0, "101"), row(1, "not-a-price")),
    )
    .unwrap();
    h.get_by_role_and_label(Role::Button, "Import CSV…").click();
    let started = Instant::now();
    while h.state().state.errors.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no error shown"
        );
        std::thread::sleep(Duration::from_millis(20));
        h.step();
    }
    let error = h.state().state.errors[0].clone();
    assert!(
        error.contains("line 3") && error.contains("not-a-price"),
        "{error}"
    );
    assert!(!h.state().state.data.importing);
    h.state_mut().state.errors.clear();
    settle(&mut h);

    std::fs::write(&csv, format!("{header}{}{}", row(0, "101"), row(1, "102"))).unwrap();
    h.get_by_role_and_label(Role::Button, "Import CSV…").click();
    wait_until(&mut h, "the import", |a| a.state.data.last_import.is_some());
    let said = h.state().state.data.last_import.clone().unwrap();
    assert!(said.contains("Imported 2 candles (2 new)"), "{said}");
    wait_until(&mut h, "the stored series", |a| {
        a.state.data.overview.as_ref().is_some_and(|o| {
            o.coverage
                .iter()
                .any(|c| c.symbol.as_str() == "ETHUSDT" && c.rows == 2)
        })
    });
}

#[test]
fn train_on_the_sample_open_the_model_and_export_it() {
    let home = tempfile::tempdir().unwrap();
    let saved = home.path().join("exported.onnx");
    let settings = Settings::resolve(home.path().join("atb"), None).unwrap();
    let mut h = open_app(settings, saved.clone(), 2400.0);

    // A small run on the bundled sample (the form's default source).
    {
        let form = &mut h.state_mut().state.train.form;
        form.architecture = Architecture::Tcn;
        form.variant = Variant::Lightweight;
        form.device = DeviceChoice::Cpu;
    }
    set_text(&mut h, "Epochs", "1");
    set_text(&mut h, "Sequence length", "24");
    set_text(&mut h, "Last days", "40");
    h.get_by_role_and_label(Role::Button, "Train").click();
    wait_until(&mut h, "the run to end", |a| {
        a.state.train.run.as_ref().is_some_and(|r| !r.active)
    });
    let run = h.state().state.train.run.clone().unwrap();
    assert!(run.failed.is_none(), "{:?}", run.failed);
    assert_eq!(run.epoch_points.len(), 1);
    assert!(run.evaluation.is_some());
    let version = run.registered.expect("registered").version_id;
    // The Models list was refreshed when the run registered.
    wait_until(&mut h, "the model list", |a| {
        a.state.store.rows.iter().any(|r| r.version_id == version)
    });

    // Open it from the run and export it.
    h.get_by_label(&format!("Open model {version}")).click();
    wait_until(&mut h, "the model detail", |a| {
        a.state.shown_detail().is_some()
    });
    assert_eq!(h.state().state.screen, Screen::Detail);
    h.get_by_role_and_label(Role::Button, "Export ONNX").click();
    wait_until(&mut h, "the export", |a| a.state.detail.export.is_some());
    let outcome = h.state().state.detail.export.clone().unwrap();
    assert!(outcome.export.max_abs_diff <= outcome.export.tolerance);
    assert_eq!(outcome.copied_to, Some(saved.display().to_string()));
    assert!(std::fs::metadata(&saved).unwrap().len() > 1000);
    assert!(
        h.state().state.errors.is_empty(),
        "{:?}",
        h.state().state.errors
    );
}

#[test]
fn train_a_tree_model_by_clicks_see_its_importance_and_export_it() {
    let home = tempfile::tempdir().unwrap();
    let saved = home.path().join("trees.onnx");
    let settings = Settings::resolve(home.path().join("atb"), None).unwrap();
    let mut h = open_app(settings, saved.clone(), 2400.0);
    {
        let form = &mut h.state_mut().state.train.form;
        form.architecture = Architecture::Gbdt;
        form.variant = Variant::Lightweight;
    }
    settle(&mut h);
    // The tree options replace the networks' (no epochs field), each refused inline.
    assert!(h.query_by_label("Epochs").is_none());
    set_text(&mut h, "Leaves per tree", "0");
    h.get_by_label("Train is disabled: leaves: 0 is not between 2 and 4096");
    set_text(&mut h, "Leaves per tree", "7");
    set_text(&mut h, "Tree learning rate", "-0.1");
    h.get_by_label(
        "Train is disabled: tree learning rate: -0.1 is not greater than 0 and at most 1",
    );
    set_text(&mut h, "Tree learning rate", "0.1");
    set_text(&mut h, "Sequence length", "24");
    set_text(&mut h, "Last days", "60");
    h.get_by_role_and_label(Role::Button, "Train").click();
    wait_until(&mut h, "the run to end", |a| {
        a.state.train.run.as_ref().is_some_and(|r| !r.active)
    });
    let run = h.state().state.train.run.clone().unwrap();
    assert!(run.failed.is_none(), "{:?}", run.failed);
    assert!(run.trees && run.epoch_points.len() >= 2, "{run:?}");
    assert!(run.evaluation.is_some());
    let version = run.registered.expect("registered").version_id;
    wait_until(&mut h, "the model list", |a| {
        a.state.store.rows.iter().any(|r| r.version_id == version)
    });
    h.get_by_label(&format!("Open model {version}")).click();
    wait_until(&mut h, "the model detail", |a| {
        a.state.shown_detail().is_some()
    });
    let detail = h.state().state.shown_detail().cloned().unwrap();
    assert!(!detail.importance.is_empty());
    h.get_by_label_contains("Feature importance: share of the trees' total gain");
    h.get_by_role_and_label(Role::Button, "Export ONNX").click();
    wait_until(&mut h, "the export", |a| a.state.detail.export.is_some());
    let outcome = h.state().state.detail.export.clone().unwrap();
    assert!(outcome.export.runtime.starts_with("ONNX Runtime"));
    assert!(outcome.export.max_abs_diff <= outcome.export.tolerance);
    assert_eq!(outcome.copied_to, Some(saved.display().to_string()));
}

#[test]
fn a_tampered_version_is_found_by_the_registry_check_with_its_fix() {
    use atb_engine::service::data::load_series;
    use atb_engine::service::train::{TrainOptions, TrainResult, train_and_register};
    use atb_engine::{CancelToken, TrainSpec};
    use atb_protocol::desktop::SeriesRequest;

    let home = tempfile::tempdir().unwrap();
    let settings = Settings::resolve(home.path().join("atb"), None).unwrap();
    // One quickly trained tree model, registered through the engine the app uses.
    let series = atb_engine::service::block_on(load_series(
        &settings,
        &SeriesRequest {
            days: Some(60),
            ..SeriesRequest::default()
        },
        &mut |_| {},
    ))
    .unwrap();
    let spec = TrainSpec {
        architecture: Architecture::Gbdt,
        variant: Variant::Lightweight,
        sequence_length: 24,
        ..TrainSpec::default()
    };
    let TrainResult::Registered { row, .. } = train_and_register(
        &settings,
        &series,
        &spec.clone().check().unwrap(),
        &TrainOptions::default(),
        &mut |_| {},
        &CancelToken::new(),
    )
    .unwrap() else {
        panic!("not registered")
    };
    let tree_file = settings.home.join(&row.folder).join("model.txt");
    let mut text = std::fs::read(&tree_file).unwrap();
    text.extend_from_slice(b"\n# edited by hand\n");
    std::fs::write(&tree_file, text).unwrap();

    let mut h = open_app(settings, home.path().join("unused.onnx"), 1200.0);
    h.get_by_label("Registry").click();
    settle(&mut h);
    h.get_by_role_and_label(Role::Button, "Check registry")
        .click();
    wait_until(&mut h, "the registry check", |a| {
        a.state.registry.check.is_some()
    });
    h.get_by_label("1 version(s) checked, 0 sound, 1 problem(s) found");
    h.get_by_label(&row.version_id);
    h.get_by_label_contains("Delete it on its Model screen and train it again");
}

#[test]
fn three_queued_runs_train_unattended_and_register_in_order() {
    let home = tempfile::tempdir().unwrap();
    let settings = Settings::resolve(home.path().join("atb"), None).unwrap();
    let mut h = open_app(settings, home.path().join("unused.onnx"), 2400.0);
    {
        let form = &mut h.state_mut().state.train.form;
        form.architecture = Architecture::Gbdt;
        form.variant = Variant::Lightweight;
    }
    settle(&mut h);
    set_text(&mut h, "Sequence length", "24");
    set_text(&mut h, "Last days", "60");
    h.get_by_role_and_label(Role::Button, "Queue 3 seeds")
        .click();
    wait_until(&mut h, "three queued runs to finish", |a| {
        a.state.train.queue.finished.len() == 3 && !a.state.train.queue.busy()
    });
    let q = h.state().state.train.queue.clone();
    let seeds: Vec<u64> = q.finished.iter().map(|r| r.request.spec.seed).collect();
    assert_eq!(seeds, [42, 43, 44]);
    let versions: Vec<String> = q
        .finished
        .iter()
        .map(|r| match &r.outcome {
            atb_protocol::desktop::RunUpdate::Registered { row } => row.version_id.clone(),
            other => panic!("not registered: {other:?}"),
        })
        .collect();
    wait_until(&mut h, "the model list", |a| {
        versions
            .iter()
            .all(|v| a.state.store.rows.iter().any(|r| &r.version_id == v))
    });
    // Each run's outcome and verdict is on the screen.
    for v in &versions {
        h.get_by_label_contains(&format!("registered {v}:"));
    }
}

#[test]
fn bench_two_small_models_and_a_guide_claim_becomes_measured() {
    let home = tempfile::tempdir().unwrap();
    let settings = Settings::resolve(home.path().join("atb"), None).unwrap();
    let mut h = open_app(settings, home.path().join("unused.onnx"), 2400.0);
    h.state_mut().state.screen = Screen::Guide;
    settle(&mut h);
    h.get_by_label("Fastest training: not measured yet");
    h.get_by_role_and_label(Role::Button, "Measure now: Fastest training")
        .click();
    settle(&mut h);
    assert_eq!(h.state().state.screen, Screen::Bench);
    set_text(&mut h, "Epochs", "1");
    set_text(&mut h, "Last days of the sample", "40");
    h.get_by_role_and_label(Role::Button, "Run benchmark")
        .click();
    wait_until(&mut h, "the benchmark", |a| {
        a.state.store.bench.is_some() && !a.state.bench.running
    });
    let report = h.state().state.store.bench.clone().unwrap();
    let models: Vec<Architecture> = report.results.iter().map(|r| r.architecture).collect();
    assert_eq!(models, [Architecture::CnnLstm, Architecture::Gbdt]);
    assert!(h.query_all_by_label("gbdt default").next().is_some());
    wait_until(&mut h, "the benchmarked models in the list", |a| {
        a.state.store.rows.len() == 2
    });
    h.state_mut().state.screen = Screen::Guide;
    settle(&mut h);
    assert!(
        h.query_by_label("Fastest training: not measured yet")
            .is_none()
    );
    h.get_by_label_contains("Inference latency measured by the last benchmark");
}
