//! `atb bench` end to end on two small networks and the tree model: the JSON has every promised field, finite and
//! consistent (ratios are the quotients of the raw figures), the markdown has the table with the
//! baselines, and the runs are registered under the `bench` tag without moving `latest`.

use crate::common::{atb, run};

const NO_NETWORK: &str = "http://127.0.0.1:9";

#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one benchmark run checked field by field"
)]
fn bench_on_two_small_models_writes_consistent_json_and_markdown() {
    let home = tempfile::tempdir().unwrap();
    let json_path = home.path().join("bench.json");
    let md_path = home.path().join("bench.md");
    let (code, out, err) = run(atb(home.path(), NO_NETWORK)
        .args([
            "bench",
            "--models",
            "cnn_lstm,tcn,gbdt,ensemble",
            "--variants",
            "lightweight",
            "--epochs",
            "1",
            "--days",
            "40",
            "--sequence-length",
            "48",
            "--device",
            "cpu",
            "--latency-calls",
            "20",
            "--json",
        ])
        .arg(&json_path)
        .arg("--markdown")
        .arg(&md_path));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("| cnn_lstm | lightweight |"), "{out}");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    for key in ["device", "source", "epochs", "results", "baselines"] {
        assert!(report.get(key).is_some(), "missing {key}: {report}");
    }
    assert_eq!(report["source"], "sample");
    assert_eq!(report["epochs"], 1);
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    let numeric = [
        "parameters",
        "seconds_per_epoch",
        "samples_per_second",
        "latency_p50_ms",
        "latency_p99_ms",
        "onnx_latency_p50_ms",
        "test_rmse_usd",
        "test_mae_usd",
        "skill_vs_persistence",
        "train_time_vs_cnn_lstm",
        "mae_vs_cnn_lstm",
        "train_seconds",
        "weight_bytes",
        "onnx_bytes",
        "batch256_windows_per_s",
        "onnx_batch256_windows_per_s",
    ];
    for r in results {
        for key in numeric {
            let v = r[key]
                .as_f64()
                .unwrap_or_else(|| panic!("{key} is not a number: {r}"));
            assert!(v.is_finite(), "{key} = {v}");
        }
        // A number, or null with the reason in the evaluation (too few non-overlapping
        // windows, or a forecast that (almost) never changes sign).
        let da = &r["directional_accuracy"];
        assert!(
            da.is_null() || da.as_f64().is_some_and(|d| (0.0..=1.0).contains(&d)),
            "{da}"
        );
        // Holm-adjusted p-values beside the raw ones, and the run's value after costs.
        let run = &r["runs"][0];
        let raw = run["vs_persistence"]["p_value"].as_f64().unwrap();
        let adjusted = run["adjusted_p"]["vs_persistence"].as_f64().unwrap();
        assert!(adjusted >= raw && adjusted <= 1.0, "{run}");
        assert!(
            run["net_return"].as_f64().is_some_and(f64::is_finite),
            "{run}"
        );
        assert!(r["onnx_max_abs_diff"].as_f64().unwrap() <= 1e-4);
        assert!(r["latency_p99_ms"].as_f64().unwrap() >= r["latency_p50_ms"].as_f64().unwrap());
        assert_eq!(r["variant"], "lightweight");
        let seconds = r["seconds_per_epoch"].as_f64().unwrap();
        let samples = r["samples_per_second"].as_f64().unwrap();
        if r["architecture"] == "ensemble" {
            // The two networks weighed together: nothing trained, judged like the others.
            assert_eq!(r["epochs_run"], 0.0);
            assert!(seconds == 0.0 && samples == 0.0, "{r}");
            assert!(r["vs_cnn_lstm"].is_object(), "{r}");
            continue;
        }
        if r["architecture"] == "gbdt" {
            // Its own budget of boosting rounds, stopped early on validation.
            assert!(r["epochs_run"].as_f64().unwrap() >= 1.0, "{r}");
        } else {
            assert_eq!(r["epochs_run"], 1.0);
        }
        assert!(seconds > 0.0 && samples > 0.0);
    }
    assert!(out.contains("| ensemble | lightweight |"), "{out}");
    let (cnn, tcn) = (&results[0], &results[1]);
    assert_eq!(cnn["architecture"], "cnn_lstm");
    assert_eq!(tcn["architecture"], "tcn");
    let f = |r: &serde_json::Value, k: &str| r[k].as_f64().unwrap();
    assert_eq!(f(cnn, "train_time_vs_cnn_lstm"), 1.0);
    assert_eq!(f(cnn, "mae_vs_cnn_lstm"), 1.0);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1.0);
    assert!(close(
        f(tcn, "train_time_vs_cnn_lstm"),
        f(tcn, "train_seconds") / f(cnn, "train_seconds")
    ));
    assert!(close(
        f(tcn, "mae_vs_cnn_lstm"),
        f(tcn, "test_mae_usd") / f(cnn, "test_mae_usd")
    ));
    // One seed: no spreads claimed.
    assert!(tcn["test_mae_usd_std"].is_null());
    // The paired test against cnn_lstm on the same windows, per seed; p-values never averaged.
    let vs = &tcn["runs"][0]["vs_cnn_lstm"];
    assert!(
        vs["p_value"]
            .as_f64()
            .is_some_and(|p| (0.0..=1.0).contains(&p)),
        "{vs}"
    );
    assert_eq!(tcn["vs_cnn_lstm"]["seeds"].as_u64(), Some(1));
    let baselines: Vec<&str> = report["baselines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(baselines, ["persistence", "ridge"]);
    // Persistence is the yardstick of the skill column.
    assert_eq!(report["baselines"][0]["skill_vs_persistence"], 0.0);
    // Every test of the table in one Holm family: 4 runs (the ensemble's included) against
    // persistence and ridge, 3 against cnn_lstm.
    assert_eq!(report["tests_adjusted"], 11, "{report}");
    // The confidence set over the four runs and persistence, drift and ridge.
    let set = &report["model_confidence_set"];
    assert_eq!(set["members"].as_array().unwrap().len(), 7, "{set}");
    assert!(
        set["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["in_set"] == true)
    );
    assert!(report["buy_and_hold_return"].as_f64().is_some());

    let markdown = std::fs::read_to_string(&md_path).unwrap();
    assert!(
        markdown.contains("| model | variant | RMSE (USD)"),
        "{markdown}"
    );
    assert!(markdown.contains("| *persistence* |"), "{markdown}");
    assert!(markdown.contains("| *buy and hold* |"), "{markdown}");
    // Every verdict cell carries its skill interval, "no significant difference" included.
    let tcn_row = markdown
        .lines()
        .find(|l| l.starts_with("| tcn | lightweight |") && l.contains("persistence"))
        .unwrap_or_else(|| panic!("{markdown}"));
    assert_eq!(tcn_row.matches("95% CI").count(), 3, "{tcn_row}");
    assert!(
        markdown.contains("adjusted with Holm's method across the 11 paired tests"),
        "{markdown}"
    );
    assert!(
        markdown.contains("90% model confidence set (T_max"),
        "{markdown}"
    );
    assert!(markdown.contains("| tcn | lightweight |"), "{markdown}");
    // The tree model's row: its ONNX file timed in ONNX Runtime, tract marked as unable.
    let trees = markdown
        .lines()
        .find(|l| l.starts_with("| gbdt | lightweight |") && l.contains("ms |"))
        .unwrap_or_else(|| panic!("{markdown}"));
    assert!(trees.contains(" / – / "), "{trees}");
    let gbdt = &results[2];
    assert_eq!(gbdt["architecture"], "gbdt");
    assert!(
        gbdt["onnxruntime"]["latency_p50_ms"].as_f64().is_some(),
        "{gbdt}"
    );

    // Registered under `bench`, and `latest` left alone (no alias at all here).
    let (code, out, err) = run(atb(home.path(), NO_NETWORK).args(["models", "list", "--json"]));
    assert_eq!(code, 0, "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.len(), 4, "three trained runs and the ensemble");
    for row in &rows {
        assert_eq!(row["tag"], "bench");
        assert_eq!(row["aliases"].as_array().unwrap().len(), 0, "{row}");
        assert!(row["onnx_sha256"].is_string(), "exported: {row}");
    }
}

#[test]
fn bench_refuses_nonsense_before_training() {
    let home = tempfile::tempdir().unwrap();
    for (args, word) in [
        (vec!["bench", "--seeds", "0"], "seeds"),
        (vec!["bench", "--models", "transformer"], "transformer"),
        (vec!["bench", "--epochs", "0"], "epochs"),
        (
            vec!["bench", "--models", "tcn,gbdt,ensemble"],
            "choose at least two networks",
        ),
    ] {
        let (code, _, err) = run(atb(home.path(), NO_NETWORK).args(&args));
        assert_ne!(code, 0, "{args:?}");
        assert!(err.contains(word), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn bench_targets_judges_each_model_against_its_targets_baselines() {
    let home = tempfile::tempdir().unwrap();
    let json_path = home.path().join("targets.json");
    let (code, out, err) = run(atb(home.path(), NO_NETWORK)
        .args([
            "bench",
            "--targets",
            "all",
            "--models",
            "gbdt",
            "--variants",
            "lightweight",
            "--days",
            "120",
            "--sequence-length",
            "48",
            "--horizon",
            "4",
            "--device",
            "cpu",
            "--json",
        ])
        .arg(&json_path));
    assert_eq!(code, 0, "{err}");
    for said in [
        "horizon 4 bar(s)",
        "### volatility: QLIKE",
        "| gbdt lightweight | 42 |",
        "skill vs HAR-RV",
        "The baselines' QLIKE: RV persistence",
        "### direction: log loss",
        "climatology",
        "Holm-adjusted",
    ] {
        assert!(out.contains(said), "no {said:?} in {out}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert!(
        runs[0]["evaluation"]["volatility"]["har"]["qlike"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(
        runs[1]["evaluation"]["direction"]["model"]["log_loss"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    // Registered under the bench tag, `latest` left alone.
    let (_, out, _) = run(atb(home.path(), NO_NETWORK).args(["models", "list", "--json"]));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|r| r["tag"] == "bench" && r["aliases"].as_array().unwrap().is_empty())
    );
    // The return target is the ordinary benchmark.
    let (code, _, err) = run(atb(home.path(), NO_NETWORK).args(["bench", "--targets", "return"]));
    assert_ne!(code, 0);
    assert!(err.contains("return"), "{err}");
}
