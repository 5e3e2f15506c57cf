//! Helpers for the CLI's end-to-end tests: they run the `atb` binary cargo built for this very
//! test run (`CARGO_BIN_EXE_atb`) against a private `ATB_HOME` and a local mock exchange.
#![allow(dead_code)] // each test file uses its own share of these

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `atb` binary cargo built for this test run (never a stale one from elsewhere).
pub fn atb_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_atb"))
}

/// `atb` with a private `ATB_HOME` and exchange URL, no inherited settings.
pub fn atb(home: &Path, binance_url: &str) -> Command {
    let mut cmd = Command::new(atb_binary());
    cmd.env("ATB_HOME", home)
        .env("ATB_BINANCE_URL", binance_url)
        .env_remove("RUST_LOG");
    cmd
}

/// Runs and returns (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run atb");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// Writes a little-endian float32 `.npy` (format 1.0) of `shape` holding `values`.
pub fn write_npy_f32(path: &Path, shape: &[usize], values: &[f32]) {
    assert_eq!(shape.iter().product::<usize>(), values.len());
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}",
        dims.join(", ")
    );
    let pad = (64 - (10 + header.len() + 1) % 64) % 64;
    header.push_str(&" ".repeat(pad));
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, bytes).expect("write .npy");
}
