//! The Phase 2 feature sets end to end: `wavelet` trains on the sample, `flow` on candles fetched
//! from the mock exchange (which serve trade counts and taker-buy volume), and is refused on
//! the sample, naming the command that fixes it; each predicts and exports with parity.

use crate::common::{atb, run};
use atb_mock_binance::{MockBinance, MockConfig};

const NO_NETWORK: &str = "http://127.0.0.1:9";

/// Trains, predicts and exports one version; returns its id.
fn train_predict_export(home: &std::path::Path, url: &str, source: &str, extra: &[&str]) -> String {
    let (code, out, err) = run(atb(home, url)
        .args([
            "train",
            "model",
            "BTCUSDT",
            "--source",
            source,
            "--days",
            "60",
            "--epochs",
            "1",
            "--sequence-length",
            "48",
            "--device",
            "cpu",
            "--json",
        ])
        .args(extra));
    assert_eq!(code, 0, "train {extra:?} failed: {err}");
    let result: serde_json::Value = serde_json::from_str(&out).unwrap();
    let version = result["version_id"].as_str().unwrap().to_string();
    let (code, out, err) =
        run(atb(home, url).args(["predict", &version, "--source", source, "--json"]));
    assert_eq!(code, 0, "predict {extra:?}: {err}");
    assert!(out.contains("predicted_close"), "{out}");
    // The export runs the graph against the Burn/LightGBM model on real windows (parity).
    let (code, _, err) = run(atb(home, url).args(["models", "export-onnx", &version]));
    assert_eq!(code, 0, "export {extra:?}: {err}");
    version
}

#[test]
fn wavelet_sets_train_predict_and_export_on_the_sample() {
    let home = tempfile::tempdir().unwrap();
    for set in ["wavelet", "wavelet_haar"] {
        let version = train_predict_export(
            home.path(),
            NO_NETWORK,
            "sample",
            &[
                "--architecture",
                "cnn_lstm",
                "--variant",
                "lightweight",
                "--feature-set",
                set,
            ],
        );
        let (code, out, err) =
            run(atb(home.path(), NO_NETWORK).args(["models", "show", &version, "--json"]));
        assert_eq!(code, 0, "{err}");
        let filter = if set == "wavelet" { "db4" } else { "haar" };
        assert!(out.contains(&format!("{filter}_return_d4")), "{out}");
    }
}

#[test]
fn flow_trains_on_fetched_candles_and_is_refused_on_the_sample_naming_the_fix() {
    let home = tempfile::tempdir().unwrap();
    let (code, _, err) = run(atb(home.path(), NO_NETWORK).args([
        "train",
        "model",
        "BTCUSDT",
        "--source",
        "sample",
        "--days",
        "60",
        "--feature-set",
        "flow",
        "--epochs",
        "1",
        "--device",
        "cpu",
    ]));
    assert_ne!(code, 0);
    assert!(
        err.contains("carry none") && err.contains("order flow"),
        "{err}"
    );
    assert!(
        err.contains("atb data fetch BTCUSDT --timeframe 1h --start-date")
            && err.contains("--refresh"),
        "the fix, as a command: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let mock = MockBinance::start(MockConfig::default()).unwrap();
    let (code, _, err) = run(atb(home.path(), &mock.url()).args([
        "data",
        "fetch",
        "BTCUSDT",
        "--timeframe",
        "1h",
        "--days",
        "60",
    ]));
    assert_eq!(code, 0, "{err}");
    for architecture in ["gbdt", "lstm"] {
        train_predict_export(
            home.path(),
            &mock.url(),
            "binance",
            &[
                "--architecture",
                architecture,
                "--variant",
                "lightweight",
                "--feature-set",
                "flow",
            ],
        );
    }
}

#[test]
fn a_context_market_trains_beside_the_series_and_is_refused_where_it_cannot_be() {
    let home = tempfile::tempdir().unwrap();
    let mock = MockBinance::start(MockConfig::default()).unwrap();
    // Refused before anything loads: the series itself, and a source holding one market.
    for (source, symbol, context, says) in [
        ("binance", "ETHUSDT", "ETHUSDT", "is the series itself"),
        ("sample", "BTCUSDT", "ETHUSDT", "use source binance"),
    ] {
        let (code, _, err) = run(atb(home.path(), &mock.url()).args([
            "train",
            "model",
            symbol,
            "--source",
            source,
            "--days",
            "60",
            "--context",
            context,
            "--epochs",
            "1",
            "--device",
            "cpu",
        ]));
        assert_ne!(code, 0);
        assert!(err.contains(says), "{source} {context}: {err}");
    }
    assert_eq!(
        mock.kline_requests(),
        0,
        "nothing was fetched for a refused run"
    );

    // ETHUSDT with BTCUSDT as its context: the context is fetched beside it, its columns close
    // every row, and prediction and export load it again.
    let (code, out, err) = run(atb(home.path(), &mock.url()).args([
        "train",
        "model",
        "ETHUSDT",
        "--source",
        "binance",
        "--days",
        "60",
        "--context",
        "BTCUSDT",
        "--architecture",
        "gbdt",
        "--variant",
        "lightweight",
        "--sequence-length",
        "48",
        "--device",
        "cpu",
        "--json",
    ]));
    assert_eq!(code, 0, "{err}");
    let result: serde_json::Value = serde_json::from_str(&out).unwrap();
    let version = result["version_id"].as_str().unwrap();
    let (code, shown, err) =
        run(atb(home.path(), &mock.url()).args(["models", "show", version, "--json"]));
    assert_eq!(code, 0, "{err}");
    assert!(shown.contains("context_log_return"), "{shown}");
    assert!(
        shown.contains("\"context\": \"BTCUSDT\"") || shown.contains("\"context\":\"BTCUSDT\""),
        "{shown}"
    );
    let (code, out, err) =
        run(atb(home.path(), &mock.url())
            .args(["predict", version, "--source", "binance", "--json"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("predicted_close"), "{out}");
    let (code, _, err) =
        run(atb(home.path(), &mock.url()).args(["models", "export-onnx", version]));
    assert_eq!(code, 0, "{err}");
    // Both markets are stored.
    let (_, listed, _) = run(atb(home.path(), &mock.url()).args(["data", "list", "--json"]));
    assert!(
        listed.contains("BTCUSDT") && listed.contains("ETHUSDT"),
        "{listed}"
    );
}

#[test]
fn the_feature_benchmark_pairs_each_set_with_its_plain_twin_and_refuses_flow_on_the_sample() {
    let home = tempfile::tempdir().unwrap();
    let (code, _, err) = run(atb(home.path(), NO_NETWORK).args([
        "bench",
        "--feature-sets",
        "flow",
        "--models",
        "gbdt",
        "--days",
        "40",
        "--device",
        "cpu",
    ]));
    assert_ne!(code, 0);
    assert!(
        err.contains("carry none") && err.contains("--refresh"),
        "{err}"
    );
    assert!(!err.contains("training"), "refused before any run: {err}");

    let json = home.path().join("features.json");
    let (code, out, err) = run(atb(home.path(), NO_NETWORK)
        .args([
            "bench",
            "--feature-sets",
            "wavelet_haar",
            "--models",
            "gbdt",
            "--variants",
            "lightweight",
            "--days",
            "40",
            "--sequence-length",
            "24",
            "--device",
            "cpu",
            "--json",
        ])
        .arg(&json));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("| gbdt lightweight | 42 | wavelet_haar |"),
        "{out}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let run = &report["runs"][0];
    assert_ne!(run["version_id"], run["plain_version_id"]);
    assert!(run["windows"].as_u64().unwrap() > 50, "{run}");
    assert!(run["test"]["p_value"].as_f64().is_some(), "{run}");
}

#[test]
fn the_feature_benchmark_pairs_a_context_market_with_the_plain_model() {
    // ETHUSDT from the mock exchange, with and without BTCUSDT's columns beside it.
    let mock = MockBinance::start(MockConfig::default()).unwrap();
    let home = tempfile::tempdir().unwrap();
    let json = home.path().join("context.json");
    let (code, out, err) = run(atb(home.path(), &mock.url())
        .args([
            "bench",
            "--context",
            "BTCUSDT",
            "--source",
            "binance",
            "--symbol",
            "ETHUSDT",
            "--models",
            "gbdt",
            "--variants",
            "lightweight",
            "--days",
            "40",
            "--sequence-length",
            "24",
            "--device",
            "cpu",
            "--json",
        ])
        .arg(&json));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("on price + BTCUSDT context"), "{err}");
    assert!(
        out.contains("| gbdt lightweight | 42 | price + BTCUSDT context |"),
        "{out}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{report}");
    assert_eq!(runs[0]["context"], "BTCUSDT");
    assert_eq!(runs[0]["feature_set"], "price");
    assert!(runs[0]["test"]["p_value"].as_f64().is_some(), "{report}");
    // The series itself is no context.
    let (code, _, err) = run(atb(home.path(), &mock.url()).args([
        "bench",
        "--context",
        "ETHUSDT",
        "--source",
        "binance",
        "--symbol",
        "ETHUSDT",
    ]));
    assert_ne!(code, 0);
    assert!(err.contains("is the series itself"), "{err}");
}
