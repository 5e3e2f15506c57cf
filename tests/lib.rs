//! Helpers for the end-to-end tests beside this file: they run the real `atb` binary, built by
//! the same `cargo test --workspace` (the CLI crate's own tests make cargo build it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Path of the `atb` binary in the target directory these tests were built into.
pub fn atb_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/atb
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir");
    let bin = profile_dir.join(format!("atb{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (or `cargo build -p atb-cli` first)",
        bin.display()
    );
    bin
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
