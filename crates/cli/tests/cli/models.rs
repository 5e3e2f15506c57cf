//! `atb train model` and `atb models ...` end to end on the bundled sample: the version folder
//! and its metadata, aliases, hash refusal, crash safety and concurrent registrations.

use std::path::Path;

use atb_protocol::spec::TrainSpec;
use atb_protocol::vocab::{Architecture, DeviceChoice, Variant};

use crate::common::{atb, run, write_npy_f32};

const NO_NETWORK: &str = "http://127.0.0.1:9";

/// A quick training on the sample (CPU, one epoch, 60 days, 48-step windows).
const QUICK_TRAIN: [&str; 17] = [
    "train",
    "model",
    "BTCUSDT",
    "--source",
    "sample",
    "--architecture",
    "tcn",
    "--variant",
    "lightweight",
    "--epochs",
    "1",
    "--days",
    "60",
    "--sequence-length",
    "48",
    "--device",
    "cpu",
];

/// A quick training on the sample; returns the final JSON object.
fn train(home: &Path, extra: &[&str]) -> serde_json::Value {
    let mut cmd = atb(home, NO_NETWORK);
    cmd.args(QUICK_TRAIN).arg("--json").args(extra);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "train failed: {err}");
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {out}"))
}

#[test]
fn training_registers_a_complete_version_folder() {
    let home = tempfile::tempdir().unwrap();
    let result = train(home.path(), &[]);
    let version = result["version_id"].as_str().unwrap();
    assert!(
        version.len() == "2026-01-01_00h00m00s_v1".len() && version.ends_with("_v1"),
        "{version}"
    );
    let folder = Path::new(result["path"].as_str().unwrap());
    assert!(
        folder.ends_with(format!("models/BTCUSDT/1h/tcn/{version}")),
        "{}",
        folder.display()
    );
    for file in [
        "weights.safetensors",
        "metadata.json",
        "feature_schema.json",
    ] {
        assert!(folder.join(file).is_file(), "{file} missing");
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("metadata.json")).unwrap()).unwrap();
    for key in [
        "symbol",
        "timeframe",
        "version_id",
        "created_at",
        "training_params",
        "dataset",
        "evaluation_results",
        "training_history",
        "device",
        "parameter_count",
        "train_seconds",
        "framework",
    ] {
        assert!(meta.get(key).is_some(), "metadata.json lacks {key}");
    }
    let p = &meta["training_params"];
    for key in [
        "architecture",
        "architecture_variant",
        "epochs",
        "epochs_run",
        "batch_size",
        "sequence_length",
        "learning_rate",
        "patience",
        "seed",
        "horizon",
        "feature_set",
        "model_config",
    ] {
        assert!(p.get(key).is_some(), "training_params lacks {key}");
    }
    assert_eq!(p["architecture"], "tcn");
    // The stored record is the spec itself: the flags given, the shared defaults for the rest.
    let stored: TrainSpec = serde_json::from_value(p.clone()).unwrap();
    assert_eq!(
        stored,
        TrainSpec {
            architecture: Architecture::Tcn,
            variant: Variant::Lightweight,
            epochs: 1,
            sequence_length: 48,
            device: DeviceChoice::Cpu,
            ..TrainSpec::default()
        }
    );
    assert_eq!(meta["dataset"]["data_sha256"].as_str().unwrap().len(), 64);
    for baseline in ["model", "persistence", "drift", "ridge"] {
        assert!(
            meta["evaluation_results"]["test"][baseline]["mae_usd"]
                .as_f64()
                .unwrap()
                .is_finite()
        );
    }
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("feature_schema.json")).unwrap())
            .unwrap();
    assert_eq!(schema["feature_names"].as_array().unwrap().len(), 5);
    assert_eq!(schema["means"].as_array().unwrap().len(), 5);
    assert_eq!(schema["sequence_length"], 48);
    assert_eq!(schema["target"]["kind"], "log_return");

    let (code, out, _) = run(atb(home.path(), NO_NETWORK).args(["models", "list", "--json"]));
    assert_eq!(code, 0);
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["aliases"], serde_json::json!(["latest"]));
    let (code, out, _) =
        run(atb(home.path(), NO_NETWORK).args(["models", "show", "latest", "--json"]));
    assert_eq!(code, 0);
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["row"]["version_id"], version);
    assert_eq!(shown["metadata"]["version_id"], version);
}

#[test]
fn aliases_move_and_protect_versions() {
    let home = tempfile::tempdir().unwrap();
    let first = train(home.path(), &[])["version_id"]
        .as_str()
        .unwrap()
        .to_string();
    let second = train(home.path(), &["--seed", "7"])["version_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(first, second);
    let list = || -> serde_json::Value {
        serde_json::from_str(
            &run(atb(home.path(), NO_NETWORK).args(["models", "list", "--json"])).1,
        )
        .unwrap()
    };
    let rows = list();
    assert_eq!(
        rows[1]["aliases"],
        serde_json::json!(["latest"]),
        "latest moved to the newer version"
    );
    assert_eq!(rows[0]["aliases"], serde_json::json!([]));
    let (code, _, err) = run(
        atb(home.path(), NO_NETWORK).args(["models", "promote", &first, "--alias", "champion"])
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(atb(home.path(), NO_NETWORK).args(["models", "delete", &first]));
    assert_ne!(code, 0);
    assert!(
        err.contains("champion") && err.contains("force the deletion"),
        "{err}"
    );
    let (code, _, err) =
        run(atb(home.path(), NO_NETWORK).args(["models", "delete", &first, "--force"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(list().as_array().unwrap().len(), 1);
    let (code, _, err) = run(atb(home.path(), NO_NETWORK).args(["models", "show", "nope"]));
    assert_ne!(code, 0);
    assert!(
        err.contains("nope") && err.trim().lines().count() == 1,
        "{err}"
    );
}

#[test]
fn a_modified_weight_file_is_reported_and_refused() {
    let home = tempfile::tempdir().unwrap();
    let result = train(home.path(), &[]);
    let weights = Path::new(result["path"].as_str().unwrap()).join("weights.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&weights, bytes).unwrap();
    let (code, out, _) = run(atb(home.path(), NO_NETWORK).args(["models", "verify"]));
    assert_ne!(code, 0);
    assert!(out.contains("damaged") && out.contains("hash"), "{out}");
    // Loading it for inference is refused, naming the file and the reason.
    let (code, _, err) =
        run(atb(home.path(), NO_NETWORK).args(["predict", "latest", "--source", "sample"]));
    assert_ne!(code, 0);
    assert!(
        err.contains("weights.safetensors") && err.contains("modified or truncated"),
        "{err}"
    );
}

#[test]
fn a_kill_at_any_step_of_registration_recovery_or_re_export_loses_no_finished_run() {
    let home = tempfile::tempdir().unwrap();
    let with_crash = |point: Option<&str>, args: &[&str]| {
        let mut cmd = atb(home.path(), NO_NETWORK);
        if let Some(point) = point {
            cmd.env("ATB_CRASH_AT", point);
        }
        let (code, out, err) = run(cmd.args(args));
        if point.is_some() {
            assert_ne!(code, 0, "the process was meant to die at {point:?}: {err}");
        }
        (code, out, err)
    };
    let verify = || {
        let (code, out, err) =
            run(atb(home.path(), NO_NETWORK).args(["models", "verify", "--json"]));
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    let count = |report: &serde_json::Value, key: &str| report[key].as_array().unwrap().len();
    let clean = |report: &serde_json::Value, versions: usize| {
        assert_eq!(count(report, "ok"), versions, "{report}");
        for key in [
            "damaged",
            "orphan_folders",
            "orphan_rows",
            "incomplete_writes",
            "registrations_in_progress",
            "awaiting_recovery",
            "stray_files",
        ] {
            assert_eq!(count(report, key), 0, "{key}: {report}");
        }
    };
    let recover = |point: Option<&str>| with_crash(point, &["models", "recover"]);

    // Killed after staging: a temporary folder of a dead process, but with its pending.json it
    // is a finished run waiting for recovery, not a leftover to delete.
    with_crash(Some("after-weights"), &QUICK_TRAIN);
    let report = verify();
    assert_eq!(count(&report, "awaiting_recovery"), 1, "{report}");
    assert_eq!(count(&report, "incomplete_writes"), 0, "{report}");
    // Recovery killed at each of its steps, one after the other: after moving the run back to
    // its series, after renaming it into place, after the commit.
    recover(Some("recover-after-move"));
    assert_eq!(count(&verify(), "awaiting_recovery"), 1);
    recover(Some("after-rename"));
    let report = verify();
    assert_eq!(count(&report, "awaiting_recovery"), 1, "{report}");
    assert_eq!(count(&report, "orphan_folders"), 0, "{report}");
    recover(Some("after-commit"));
    let report = verify();
    assert_eq!(count(&report, "ok"), 1, "{report}");
    assert_eq!(count(&report, "stray_files"), 1, "{report}");
    // A folder that is no run sits in recovery/ before the next one: it is reported, left in
    // place, and does not stop the others.
    let junk = home.path().join("recovery").join("0-junk");
    std::fs::create_dir_all(&junk).unwrap();
    // Killed after the rename of a training's own registration: an unindexed version folder
    // holding its pending.json, which recovery adopts.
    with_crash(Some("after-rename"), &QUICK_TRAIN);
    let report = verify();
    assert_eq!(count(&report, "awaiting_recovery"), 2, "{report}");
    let (code, out, err) = recover(None);
    assert_ne!(code, 0, "a folder it could not take is a failure: {out}");
    assert!(out.contains("registered "), "{out}");
    assert!(
        err.contains("0-junk") && err.contains("pending registration"),
        "{err}"
    );
    assert!(junk.is_dir());
    std::fs::remove_dir(&junk).unwrap();
    clean(&verify(), 2);
    let (_, out, _) = run(atb(home.path(), NO_NETWORK).args(["models", "list", "--json"]));
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    let version = listed[1]["version_id"].as_str().unwrap().to_string();

    // A re-export killed after setting the recorded model.onnx aside, or after the new file
    // replaced it and before the commit: model.onnx is a whole export at every instant, the next
    // recovery settles the set-aside copy, verify is clean and the version predicts through it.
    let (code, _, err) = with_crash(None, &["models", "export-onnx", &version]);
    assert_eq!(code, 0, "{err}");
    for point in ["after-onnx-aside", "after-onnx-rename"] {
        with_crash(Some(point), &["models", "export-onnx", &version]);
        let onnx = home
            .path()
            .join(listed[1]["folder"].as_str().unwrap())
            .join("model.onnx");
        assert!(onnx.is_file(), "no model.onnx after a kill at {point}");
        let report = verify();
        let stray = report["stray_files"].as_array().unwrap();
        assert!(
            stray
                .iter()
                .any(|f| f.as_str().unwrap().ends_with("model.onnx.previous")),
            "{report}"
        );
        let (code, _, err) = recover(None);
        assert_eq!(code, 0, "{err}");
        clean(&verify(), 2);
    }
    let (code, out, err) = run(atb(home.path(), NO_NETWORK).args([
        "predict", &version, "--onnx", "--source", "sample", "--json",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("predicted_close"), "{out}");
}

#[test]
fn two_trainings_at_once_both_register() {
    let home = tempfile::tempdir().unwrap();
    let spawn = |seed: &str| {
        let mut cmd = atb(home.path(), NO_NETWORK);
        cmd.args(QUICK_TRAIN).args(["--json", "--seed", seed]);
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("1"), spawn("2"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(
        a.status.success() && b.status.success(),
        "{}",
        String::from_utf8_lossy(&b.stderr)
    );
    let (_, out, _) = run(atb(home.path(), NO_NETWORK).args(["models", "list", "--json"]));
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2);
    assert_ne!(rows[0]["version_id"], rows[1]["version_id"]);
}

#[test]
fn bad_training_requests_are_one_clear_line() {
    let home = tempfile::tempdir().unwrap();
    for (args, word) in [
        (vec!["--model-type", "transformer"], "transformer"),
        (vec!["--model-variant", "huge"], "huge"),
        (vec!["--epochs", "0"], "epochs"),
        (vec!["--learning-rate=-1"], "learning rate"),
        (vec!["--sequence-length", "5000"], "needs at least"),
        (
            vec!["--model-type", "gbdt", "--leaves", "0"],
            "leaves: 0 is not between 2 and 4096",
        ),
        (
            vec!["--model-type", "gbdt", "--tree-learning-rate=-0.1"],
            "tree learning rate: -0.1 is not greater than 0",
        ),
        (vec!["--rounds", "10"], "tree options apply to gbdt only"),
    ] {
        let mut cmd = atb(home.path(), NO_NETWORK);
        cmd.args([
            "train", "model", "BTCUSDT", "--source", "sample", "--days", "30", "--device", "cpu",
        ])
        .args(&args);
        let (code, _, err) = run(&mut cmd);
        assert_ne!(code, 0, "{args:?}");
        assert!(err.contains(word), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// Writes a float32 `.npy` of shape [n, l, f] with a ramp of values.
fn write_npy(path: &Path, n: usize, l: usize, f: usize) {
    let values: Vec<f32> = (0..n * l * f)
        .map(|i| ((i % 17) as f32 - 8.0) / 8.0)
        .collect();
    write_npy_f32(path, &[n, l, f], &values);
}

#[test]
fn predict_runs_raw_windows_and_the_latest_window() {
    let home = tempfile::tempdir().unwrap();
    let version = train(home.path(), &[])["version_id"]
        .as_str()
        .unwrap()
        .to_string();
    let npy = home.path().join("x.npy");
    write_npy(&npy, 3, 48, 5);
    let (code, out, err) = run(atb(home.path(), NO_NETWORK)
        .args(["predict", &version, "--raw-input"])
        .arg(&npy)
        .arg("--json"));
    assert_eq!(code, 0, "{err}");
    let outputs: Vec<f64> = serde_json::from_str(&out).unwrap();
    assert_eq!(outputs.len(), 3);
    assert!(outputs.iter().all(|v| v.is_finite()));
    // The same windows give the same outputs (deterministic inference).
    let (_, again, _) = run(atb(home.path(), NO_NETWORK)
        .args(["predict", &version, "--raw-input"])
        .arg(&npy)
        .arg("--json"));
    assert_eq!(out, again);
    // A window of the wrong shape is refused with the expected one.
    write_npy(&npy, 2, 10, 5);
    let (code, _, err) = run(atb(home.path(), NO_NETWORK)
        .args(["predict", &version, "--raw-input"])
        .arg(&npy));
    assert_ne!(code, 0);
    assert!(err.contains("[N, 48, 5]"), "{err}");
    let (code, out, err) =
        run(atb(home.path(), NO_NETWORK)
            .args(["predict", "latest", "--source", "sample", "--json"]));
    assert_eq!(code, 0, "{err}");
    let next: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(next["last_close"], 99_794.51, "the sample's last close");
    assert!(next["predicted_close"].as_f64().unwrap() > 50_000.0);
}

#[test]
fn compare_judges_versions_together_and_backtest_prices_them_after_costs() {
    let home = tempfile::tempdir().unwrap();
    let a = train(home.path(), &[])["version_id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = train(home.path(), &["--seed", "3"])["version_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, out, err) =
        run(atb(home.path(), NO_NETWORK).args(["models", "compare", &a, &b, "--json"]));
    assert_eq!(code, 0, "{err}");
    let out: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = out["versions"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (row, id) in rows.iter().zip([&a, &b]) {
        assert_eq!(&row["version_id"], id);
        for who in ["model", "persistence", "drift", "ridge"] {
            assert!(row["test"][who]["mae_usd"].as_f64().unwrap() > 0.0);
        }
    }
    // The two versions, persistence and drift in the model confidence set's test; four DM
    // tests adjusted together.
    let set = &out["judged"]["model_confidence_set"];
    assert_eq!(set["members"].as_array().unwrap().len(), 4, "{out}");
    assert_eq!(set["statistic"], "max");
    assert_eq!(out["judged"]["tests_adjusted"], 4);
    let (code, out, _) = run(atb(home.path(), NO_NETWORK).args(["models", "compare", &a, &b]));
    assert_eq!(code, 0);
    assert!(
        out.contains("persistence MAE")
            && out.contains("90% model confidence set (T_max")
            && out.contains("Holm-adjusted"),
        "{out}"
    );
    // No "best" star on a point estimate.
    assert!(!out.contains('*'), "{out}");

    // Value after costs.
    let (code, out, err) = run(atb(home.path(), NO_NETWORK).args(["backtest", &a]));
    assert_eq!(code, 0, "{err}");
    for expected in [
        "fee 10 bp + slippage 0 bp per side",
        "model long/flat",
        "model long/short",
        "last move's sign long/flat",
        "buy and hold long/flat",
        "deflated Sharpe (model long/short)",
        "after 2 trial(s)",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in {out}");
    }
    let (code, out, err) = run(atb(home.path(), NO_NETWORK).args([
        "backtest",
        &a,
        "--long-only",
        "--slippage-bps",
        "5",
        "--json",
    ]));
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["backtest"]["strategies"].as_array().unwrap().len(),
        3
    );
    assert_eq!(report["backtest"]["spec"]["settings"]["slippage_bps"], 5.0);
    let (code, _, err) = run(atb(home.path(), NO_NETWORK).args(["backtest", &a, "--fee-bps=-1"]));
    assert_ne!(code, 0);
    assert!(err.contains("fee per side must be between 0 and"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_gbdt_model_trains_in_seconds_registers_its_lightgbm_file_and_shows_its_importance() {
    let home = tempfile::tempdir().unwrap();
    let (code, out, err) = run(atb(home.path(), NO_NETWORK).args([
        "train",
        "model",
        "BTCUSDT",
        "--source",
        "sample",
        "--model-type",
        "gbdt",
        "--days",
        "120",
        "--sequence-length",
        "48",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("boosting rounds"), "{out}");
    assert!(out.contains("verdict:"), "{out}");
    assert!(err.contains("LightGBM trains on the CPU"), "{err}");
    let (code, out, err) = run(atb(home.path(), NO_NETWORK).args(["models", "show", "latest"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("model.txt sha256"), "{out}");
    assert!(out.contains("boosting rounds"), "{out}");
    assert!(
        out.contains("feature importance (gain share, splits)"),
        "{out}"
    );
    let (code, out, _) =
        run(atb(home.path(), NO_NETWORK).args(["models", "show", "latest", "--json"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let importance = v["metadata"]["importance"].as_array().unwrap();
    assert_eq!(importance.len(), 5 * 7, "5 price features, 7 columns each");
    let folder = home.path().join(v["row"]["folder"].as_str().unwrap());
    let text = std::fs::read_to_string(folder.join("model.txt")).unwrap();
    assert!(text.starts_with("tree\n"), "LightGBM's own model file");
    let (code, out, err) =
        run(atb(home.path(), NO_NETWORK).args(["models", "export-onnx", "latest"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("in ONNX Runtime"), "{out}");
    let (code, _, err) = run(atb(home.path(), NO_NETWORK).args(["models", "verify"]));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn ctrl_c_cancels_cleanly_and_registers_nothing() {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = atb(home.path(), NO_NETWORK);
    cmd.args([
        "train",
        "model",
        "BTCUSDT",
        "--source",
        "sample",
        "--model-type",
        "lstm",
        "--epochs",
        "500",
        "--days",
        "200",
        "--device",
        "cpu",
    ]);
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once training has begun (its first line on stderr), not after a guessed delay;
    // the rest of stderr is collected for the assertions below.
    let stderr = child.stderr.take().unwrap();
    let (began, rest) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut text = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.starts_with("training on") {
                let _ = began.send(());
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    rest.recv_timeout(std::time::Duration::from_secs(120))
        .expect("training began");
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let started = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "took {:?} to stop",
        started.elapsed()
    );
    let stderr = reader.join().unwrap();
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("nothing was registered"), "{stderr}");
    let (_, list, _) = run(atb(home.path(), NO_NETWORK).args(["models", "list", "--json"]));
    assert_eq!(list.trim(), "[]");
}

#[test]
fn volatility_and_direction_models_train_show_list_predict_and_export_from_the_command_line() {
    let home = tempfile::tempdir().unwrap();
    let quick = |target: &str, kind: &str| {
        let (code, out, err) = run(atb(home.path(), NO_NETWORK).args([
            "train",
            "model",
            "BTCUSDT",
            "--source",
            "sample",
            "--model-type",
            kind,
            "--variant",
            "lightweight",
            "--epochs",
            "1",
            "--days",
            "120",
            "--sequence-length",
            "48",
            "--device",
            "cpu",
            "--target",
            target,
        ]));
        assert_eq!(code, 0, "{target} {kind}: {err}");
        let version = out
            .split("registered ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no version registered in {out}"))
            .to_string();
        (out, version)
    };
    let (out, volatility) = quick("volatility", "gbdt");
    for said in [
        "target: volatility",
        "QLIKE",
        "HAR-RV",
        "RV persistence",
        "verdict:",
    ] {
        assert!(out.contains(said), "no {said:?} in {out}");
    }
    let (code, out, err) =
        run(atb(home.path(), NO_NETWORK).args(["predict", &volatility, "--source", "sample"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("realised volatility"), "{out}");

    let (out, direction) = quick("direction", "tcn");
    for said in [
        "log loss",
        "Brier score",
        "climatology",
        "last move",
        "reliability",
    ] {
        assert!(out.contains(said), "no {said:?} in {out}");
    }
    let (code, out, err) =
        run(atb(home.path(), NO_NETWORK)
            .args(["predict", &direction, "--source", "sample", "--json"]));
    assert_eq!(code, 0, "{err}");
    let next: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(next["target"], "direction", "{out}");
    let p = next["up_probability"].as_f64().unwrap();
    assert!(p > 0.0 && p < 1.0, "{out}");

    let (code, out, _) = run(atb(home.path(), NO_NETWORK).args(["models", "list"]));
    assert_eq!(code, 0);
    assert!(
        out.contains("volatility") && out.contains("direction"),
        "{out}"
    );
    assert!(out.contains("beats "), "{out}");
    let (code, out, err) = run(atb(home.path(), NO_NETWORK).args(["models", "show", &direction]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("target:    direction"), "{out}");
    let (code, out, err) =
        run(atb(home.path(), NO_NETWORK).args(["models", "export-onnx", &direction]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("max |ONNX"), "{out}");
    // A paired test of price errors is refused, naming why.
    let (code, _, err) = run(atb(home.path(), NO_NETWORK).args(["backtest", &direction]));
    assert_ne!(code, 0);
    assert!(err.contains("forecasts direction"), "{err}");
    // And walk-forward is refused before any work.
    let (code, _, err) = run(atb(home.path(), NO_NETWORK).args([
        "train",
        "model",
        "BTCUSDT",
        "--source",
        "sample",
        "--target",
        "direction",
        "--walk-forward-folds",
        "3",
    ]));
    assert_ne!(code, 0);
    assert!(
        err.contains("walk-forward is measured for the return target only"),
        "{err}"
    );
}

#[test]
fn an_ensemble_is_made_shown_exported_and_keeps_its_members_from_the_command_line() {
    let home = tempfile::tempdir().unwrap();
    let tcn = train(home.path(), &[]);
    let mut gbdt_args = QUICK_TRAIN.to_vec();
    gbdt_args[6] = "gbdt";
    let (code, out, err) = run(atb(home.path(), NO_NETWORK).args(&gbdt_args).arg("--json"));
    assert_eq!(code, 0, "{err}");
    let gbdt: serde_json::Value = serde_json::from_str(&out).unwrap();
    let members = [
        tcn["version_id"].as_str().unwrap(),
        gbdt["version_id"].as_str().unwrap(),
    ];
    let (code, out, err) = run(atb(home.path(), NO_NETWORK)
        .args(["models", "ensemble"])
        .args(members)
        .args(["--weights", "equal"]));
    assert_eq!(code, 0, "{err}");
    for needle in [
        "registered the ensemble",
        "2 members (equal weights)",
        "validation mean squared error of the standardised label",
        "nnls",
        "verdict:",
    ] {
        assert!(out.contains(needle), "{needle}: {out}");
    }
    let (code, out, err) = run(atb(home.path(), NO_NETWORK).args(["models", "list", "--json"]));
    assert_eq!(code, 0, "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let ensemble = rows
        .iter()
        .find(|r| r["architecture"] == "ensemble")
        .unwrap_or_else(|| panic!("no ensemble listed: {out}"));
    let id = ensemble["version_id"].as_str().unwrap();
    let (code, out, err) = run(atb(home.path(), NO_NETWORK).args(["models", "show", id]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ensemble.json sha256"), "{out}");
    assert!(out.contains("ensemble:  2 members, equal weights"), "{out}");
    assert!(
        out.contains(members[0]) && out.contains(members[1]),
        "{out}"
    );
    let (code, out, err) = run(atb(home.path(), NO_NETWORK).args(["models", "export-onnx", id]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("in ONNX Runtime"), "{out}");
    // Its members stay while it exists; an ensemble is never trained.
    let (code, _, err) =
        run(atb(home.path(), NO_NETWORK).args(["models", "delete", members[0], "--force"]));
    assert_eq!(code, 1);
    assert!(err.contains("delete the ensemble first"), "{err}");
    let mut ensemble_args = QUICK_TRAIN.to_vec();
    ensemble_args[6] = "ensemble";
    let (code, _, err) = run(atb(home.path(), NO_NETWORK).args(&ensemble_args));
    assert_eq!(code, 1);
    assert!(err.contains("made from registered versions"), "{err}");
    let (code, _, err) = run(atb(home.path(), NO_NETWORK).args(["models", "verify"]));
    assert_eq!(code, 0, "{err}");
}
