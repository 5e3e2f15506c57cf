//! The `atb` binary's argument surface: help, version and refusals that need no engine.
//! (Building this test also makes cargo build `atb` for the end-to-end tests in `tests/`.)

use std::process::Command;

fn atb(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_atb"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn help_lists_the_data_commands() {
    let (code, out, _) = atb(&["data", "--help"]);
    assert_eq!(code, 0);
    for cmd in ["fetch", "list", "import", "inspect"] {
        assert!(out.contains(cmd), "{cmd} missing from:\n{out}");
    }
    let (code, out, _) = atb(&["--version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("atb "), "{out}");
}

#[test]
fn unknown_commands_and_sources_are_refused() {
    let (code, _, err) = atb(&["frobnicate"]);
    assert_eq!(code, 2);
    assert!(err.contains("frobnicate"), "{err}");
    let (code, _, err) = atb(&["data", "inspect", "BTCUSDT", "--source", "kraken"]);
    assert_eq!(code, 2);
    assert!(err.contains("binance") && err.contains("csv:PATH"), "{err}");
}
