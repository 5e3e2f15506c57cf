//! Helpers shared by the engine's integration tests.

use atb_engine::CandleSource;
use atb_engine::testing::market::sample::sample_candles;
use atb_engine::testing::market::source::CandleSeries;
use atb_engine::testing::market::{Symbol, Timeframe};
use atb_engine::testing::training::{CancelToken, TrainOutcome, TrainSpec, train};
use atb_models::{Architecture, DeviceChoice, Variant};

/// The last `n` candles of the bundled sample.
pub fn sample_tail(n: usize) -> CandleSeries {
    let all = sample_candles().unwrap();
    CandleSeries {
        symbol: "BTCUSDT".parse::<Symbol>().unwrap(),
        timeframe: Timeframe::H1,
        source: CandleSource::Sample,
        candles: all[all.len() - n..].to_vec(),
        context: None,
    }
}

/// CPU training parameters for one pair.
pub fn params(architecture: Architecture, variant: Variant, epochs: usize) -> TrainSpec {
    TrainSpec {
        architecture,
        variant,
        epochs,
        device: DeviceChoice::Cpu,
        ..TrainSpec::default()
    }
}

/// A quickly trained `lstm lightweight`: one epoch on the last 1,200 sample candles.
#[allow(dead_code)] // not every test file registers a version
pub fn quick_outcome() -> TrainOutcome {
    train(
        &sample_tail(1_200),
        &params(Architecture::Lstm, Variant::Lightweight, 1)
            .check()
            .unwrap(),
        &mut |_| {},
        &CancelToken::new(),
    )
    .unwrap()
}

/// Runs the ignored test `name` (a path such as `evaluation::run`) of this test binary alone in
/// a child process and returns that process's peak resident memory in KiB; fails when the child
/// test fails.
#[allow(dead_code)] // Used by the merged binary's memory test only.
pub fn child_peak_kib(name: &str) -> u64 {
    // Reaped by `wait4` below, which also reads its peak memory.
    #[allow(clippy::zombie_processes)]
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--ignored", "--test-threads=1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain syscall on our own child; `rusage` is written by the kernel.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.unwrap(), &mut out).unwrap();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the child test {name} failed: {out}"
    );
    assert!(
        out.contains("1 passed"),
        "the child ran no test {name}: {out}"
    );
    // ru_maxrss is in KiB on Linux.
    usage.ru_maxrss as u64
}
