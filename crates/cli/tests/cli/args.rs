//! The `atb` binary's argument surface: help, version and refusals that need no engine.
//! (The end-to-end tests beside it run the same binary against a mock exchange.)

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

/// With no adapter at all (Metal asked for on Linux), gpu-check says so, names the CPU
/// fallback, and still times the CPU.
#[cfg(target_os = "linux")]
#[test]
fn gpu_check_without_an_adapter_names_the_cpu_fallback() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_atb"))
        .args(["dev", "gpu-check", "--json"])
        .env("ATB_HOME", home.path())
        .env("WGPU_BACKEND", "metal")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["adapters"], serde_json::json!([]));
    assert!(
        report["auto_device"].as_str().unwrap().starts_with("cpu"),
        "{report}"
    );
    if report["gpu_backend_compiled"] == true {
        let why = report["gpu_device"]["Err"].as_str().unwrap();
        assert!(
            why.contains("no GPU adapter") && why.contains("cpu device"),
            "{why}"
        );
    }
    let timings = report["timings"].as_array().unwrap();
    assert_eq!(timings.len(), 1, "CPU only");
    assert!(timings[0]["step_ms"].as_f64().unwrap() > 0.0);
}

/// `atb data list | head -0`: the reader is gone before atb writes; atb stops with success and
/// says nothing on stderr.
#[test]
fn a_closed_pipe_ends_quietly_with_success() {
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_atb"))
        .args(["data", "list"])
        .env("ATB_HOME", home.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// The audit's reproduction (reliability audit 2, H1): attention at a window of 10,000 asked for
/// 51 GB per buffer and aborted the process. It is refused before any work, with the figures and
/// the largest window and batch that fit. "Before any work" is checked by what happened, not by
/// a clock: the candles come from an exchange that cannot be reached, so any attempt to load
/// them would have failed with a network error instead.
#[cfg(target_os = "linux")]
#[test]
fn a_training_batch_that_cannot_fit_in_memory_is_refused_at_once_with_the_figures() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_atb"))
        .args([
            "train",
            "model",
            "BTCUSDT",
            "--source",
            "binance",
            "--architecture",
            "attention_lstm",
            "--sequence-length",
            "10000",
            "--epochs",
            "1",
            // 64 times the default batch: beyond any machine's memory (about 13 TB).
            "--batch-size",
            "2048",
        ])
        .env("ATB_HOME", home.path())
        .env("ATB_BINANCE_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("window of 10,000")
            && err.contains("GB per training batch of 2,048")
            && err.contains("available")
            && err.contains("window of at most"),
        "{err}"
    );
    // No candle was asked for and nothing was stored.
    assert!(!err.contains("127.0.0.1"), "{err}");
    assert!(!home.path().join("atb.sqlite").exists());
}

/// The audit's reproduction (reliability audit 2, M4): a file of commas under the 2 GiB cap was
/// read whole and split into a billion fields (about 32 GB) before its column count was checked.
/// It is refused at its first line now, and the import process never holds more than a few MB
/// (measured on the child process itself, through `wait4`).
#[cfg(target_os = "linux")]
#[test]
fn a_two_gib_file_of_commas_is_refused_in_bounded_memory() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("commas.csv");
    let mut file = std::fs::File::create(&path).unwrap();
    // The first 8 MiB are commas; the rest of the 2 GiB is a hole (read as zeros, never written).
    file.write_all(&vec![b','; 8 << 20]).unwrap();
    file.set_len((2u64 << 30) - 64).unwrap();
    drop(file);
    // Reaped by `wait4` below, which also reads its peak memory.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_atb"))
        .args(["data", "import", "BTCUSDT", "--timeframe", "1h"])
        .arg(&path)
        .env("ATB_HOME", dir.path().join("home"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain syscall on our own child; `rusage` is written by the kernel.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid);
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.unwrap(), &mut err).unwrap();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 1,
        "{err}"
    );
    assert!(err.contains("longer than 1024 bytes"), "{err}");
    // ru_maxrss is in KiB on Linux.
    let peak_mb = usage.ru_maxrss as f64 / 1024.0;
    assert!(peak_mb < 200.0, "the import peaked at {peak_mb:.0} MB");
}

#[test]
fn a_day_that_does_not_exist_is_refused_in_the_forms_words() {
    let home = tempfile::tempdir().unwrap();
    let (code, _, err) =
        crate::common::run(crate::common::atb(home.path(), "http://127.0.0.1:9").args([
            "train",
            "model",
            "BTCUSDT",
            "--source",
            "sample",
            "--start-date",
            "2024-02-31",
        ]));
    assert_ne!(code, 0);
    assert!(
        err.contains("2024-02-31 is not a day: February 2024 has 29 days"),
        "{err}"
    );
}
