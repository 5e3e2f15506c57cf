//! The every-pair path through the CLI, once: `atb validate --keep DIR` trains every (type,
//! variant) briefly, reloads, predicts and exports each with the parity check; then each kept
//! version runs on the same 33 windows natively (`atb predict --raw-input`: Burn, or LightGBM
//! for gbdt), in tract (`atb predict --onnx`; networks only, tract has no tree-ensemble
//! operator), in ONNX Runtime through atb, and in ONNX Runtime from Python
//! (`onnx_runtime_check.py` in the virtual environment that `scripts/setup.sh` creates), all
//! within 1e-4 of each other.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{atb, run, write_npy_f32};

const NO_NETWORK: &str = "http://127.0.0.1:9";
const TOLERANCE: f64 = 1e-4;
const PAIRS: [(&str, &str); 18] = [
    ("cnn_lstm", "lightweight"),
    ("cnn_lstm", "default"),
    ("cnn_lstm", "deep"),
    ("attention_lstm", "lightweight"),
    ("attention_lstm", "default"),
    ("attention_lstm", "deep"),
    ("tcn", "lightweight"),
    ("tcn", "default"),
    ("tcn", "deep"),
    ("tcn_attention", "lightweight"),
    ("tcn_attention", "default"),
    ("tcn_attention", "deep"),
    ("lstm", "lightweight"),
    ("lstm", "default"),
    ("lstm", "deep"),
    ("gbdt", "lightweight"),
    ("gbdt", "default"),
    ("gbdt", "deep"),
];

fn workspace_root() -> PathBuf {
    // `cargo test` sets this when it runs the test, so a test binary reused from a target
    // directory shared with a checkout elsewhere still looks in this checkout.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .ancestors()
        .nth(2)
        .expect("workspace root (crates/cli is two levels down)")
        .to_path_buf()
}

/// The Python with onnxruntime: `ATB_PYTHON`, else the setup script's `.venv`.
fn onnx_runtime_python() -> PathBuf {
    let python = std::env::var_os("ATB_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: run ./scripts/setup.sh (it creates .venv with onnxruntime), or point ATB_PYTHON at a Python that has onnxruntime and numpy",
        python.display()
    );
    python
}

fn outputs(home: &Path, args: &[&str]) -> Vec<f32> {
    let (code, out, err) = run(atb(home, NO_NETWORK).args(args).arg("--json"));
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

fn max_diff(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).abs())
        .fold(0.0, f64::max)
}

#[test]
fn every_pair_exported_matches_burn_in_tract_and_onnx_runtime() {
    let python = onnx_runtime_python();
    let checker = workspace_root().join("crates/cli/tests/onnx_runtime_check.py");
    let home = tempfile::tempdir().unwrap();
    let out_dir = home.path().join("exports");
    std::fs::create_dir_all(&out_dir).unwrap();
    // 33 windows of [48, 5] in the standardised range, varied but reproducible.
    let (n, l, f) = (33, 48, 5);
    let values: Vec<f32> = (0..n * l * f)
        .map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 4.0)
        .collect();
    let windows = home.path().join("windows.npy");
    write_npy_f32(&windows, &[n, l, f], &values);
    let windows_arg = windows.to_str().unwrap();

    // Every pair, trained, reloaded, predicted and exported once, in a kept registry.
    let kept = home.path().join("validated");
    let (code, out, err) = run(atb(home.path(), NO_NETWORK)
        .args(["validate", "--json", "--device", "cpu", "--keep"])
        .arg(&kept));
    assert_eq!(code, 0, "{err}\n{out}");
    let validated: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(validated.len(), PAIRS.len());
    for r in &validated {
        for key in ["architecture", "variant", "parameters", "seconds", "status"] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
        assert_eq!(r["status"], "ok", "{r}");
        assert!(r["onnx_max_abs_diff"].as_f64().unwrap() <= TOLERANCE, "{r}");
    }
    // Nothing went into the user's registry; a second validation will not overwrite the first.
    assert!(!home.path().join("models").exists());
    let (code, _, err) = run(atb(home.path(), NO_NETWORK)
        .args(["validate", "--keep"])
        .arg(&kept));
    assert_ne!(code, 0);
    assert!(err.contains("is not empty"), "{err}");
    let (code, out, err) = run(atb(&kept, NO_NETWORK).args(["models", "list", "--json"]));
    assert_eq!(code, 0, "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();

    for (architecture, variant) in PAIRS {
        let row = rows
            .iter()
            .find(|r| r["architecture"] == architecture && r["variant"] == variant)
            .unwrap_or_else(|| panic!("{architecture} {variant} not kept"));
        let version = row["version_id"].as_str().unwrap().to_string();
        let home = kept.as_path();
        let pair = validated
            .iter()
            .find(|r| r["architecture"] == architecture && r["variant"] == variant)
            .unwrap();
        let export_diff = pair["onnx_max_abs_diff"].as_f64().unwrap();
        let mut copy = home
            .join(row["folder"].as_str().unwrap())
            .join("model.onnx");
        let mut runtime = String::new();
        if (architecture, variant) == PAIRS[0] || (architecture, variant) == PAIRS[15] {
            // A network's and a tree model's file through `export-onnx --output` again: the
            // copy and its report.
            copy = out_dir.join(format!("{architecture}-{variant}.onnx"));
            let (code, out, err) = run(atb(home, NO_NETWORK)
                .args(["models", "export-onnx", &version, "--output"])
                .arg(&copy)
                .arg("--json"));
            assert_eq!(code, 0, "{architecture} {variant}: export: {err}");
            let report: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert!(
                report["export"]["max_abs_diff"].as_f64().unwrap() <= TOLERANCE,
                "{report}"
            );
            assert_eq!(report["export"]["windows"], 64, "{report}");
            runtime = report["export"]["runtime"].as_str().unwrap().to_string();
        }
        assert!(copy.is_file(), "{}", copy.display());

        let burn = outputs(home, &["predict", &version, "--raw-input", windows_arg]);
        assert_eq!(burn.len(), n);
        let tract_diff = if architecture == "gbdt" {
            // tract has no tree-ensemble operator: refused with the runtime that can run it.
            let (code, _, err) = run(atb(home, NO_NETWORK).args([
                "predict",
                &version,
                "--onnx",
                "--raw-input",
                windows_arg,
            ]));
            assert_ne!(code, 0);
            assert!(err.contains("--onnxruntime"), "{err}");
            assert!(
                runtime.is_empty() || runtime.starts_with("ONNX Runtime"),
                "{runtime}"
            );
            f64::NAN
        } else {
            let tract = outputs(
                home,
                &["predict", &version, "--onnx", "--raw-input", windows_arg],
            );
            let tract_diff = max_diff(&burn, &tract);
            assert!(
                tract_diff <= TOLERANCE,
                "{architecture} {variant}: tract {tract_diff:e}"
            );
            tract_diff
        };

        // The same file in ONNX Runtime through atb itself.
        let onnxruntime = outputs(
            home,
            &[
                "predict",
                &version,
                "--onnxruntime",
                "--raw-input",
                windows_arg,
            ],
        );
        let onnxruntime_diff = max_diff(&burn, &onnxruntime);
        assert!(
            onnxruntime_diff <= TOLERANCE,
            "{architecture} {variant}: atb's ONNX Runtime path {onnxruntime_diff:e}"
        );

        let expected = out_dir.join(format!("{architecture}-{variant}.json"));
        std::fs::write(&expected, serde_json::to_string(&burn).unwrap()).unwrap();
        let ort = Command::new(&python)
            .arg(&checker)
            .arg(&copy)
            .arg(&windows)
            .arg(&expected)
            .output()
            .expect("run the ONNX Runtime check");
        let ort_out = String::from_utf8_lossy(&ort.stdout);
        assert!(
            ort.status.success(),
            "{architecture} {variant}: ONNX Runtime check failed: {ort_out}{}",
            String::from_utf8_lossy(&ort.stderr)
        );
        println!(
            "{architecture:<15} {variant:<12} export {export_diff:.1e}  tract {tract_diff:.1e}  onnxruntime {}",
            ort_out.trim()
        );
    }
}

#[test]
fn export_of_an_unknown_version_fails_in_one_line() {
    let home = tempfile::tempdir().unwrap();
    let (code, _, err) = run(atb(home.path(), NO_NETWORK).args(["models", "export-onnx", "nope"]));
    assert_eq!(code, 1);
    assert!(err.contains("no model version or alias \"nope\""), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (code, _, err) = run(atb(home.path(), NO_NETWORK).args([
        "predict",
        "nope",
        "--onnx",
        "--raw-input",
        "x.npy",
    ]));
    assert_eq!(code, 1);
    assert!(err.contains("nope"), "{err}");
}
