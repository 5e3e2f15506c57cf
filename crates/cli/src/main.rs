//! `atb`: the command line door onto the atb engine. Parses arguments, calls the engine, prints
//! progress on stderr and results on stdout; every error is one clear line and a non-zero exit.

mod backtest;
mod bench;
mod data;
mod dev;
mod models;
mod output;
mod predict;
mod sweep;
mod train;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Train, compare and ship crypto price-forecasting networks.
#[derive(Parser)]
#[command(name = "atb", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Market data: fetch from Binance, import CSV, list and inspect stored candles.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Train a model, evaluate it against the baselines and register it.
    #[command(subcommand)]
    Train(train::TrainCommand),
    /// The model registry: list, show, compare, promote, delete, verify, export to ONNX.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Predict with a registered version: the next close from a source, or raw outputs for windows.
    Predict(predict::PredictArgs),
    /// Train every (architecture, variant) pair for one epoch on the sample, reload, predict and export
    /// to ONNX (parity-checked); exit non-zero if any fails. Uses a temporary registry.
    Validate {
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = atb_engine::service::validate::DEFAULT_DEVICE)]
        device: atb_engine::DeviceChoice,
        /// Keep the validation's registry (its versions and ONNX files) in this new or empty
        /// folder instead of removing it; `ATB_HOME=DIR atb models list` shows them.
        #[arg(long, value_name = "DIR")]
        keep: Option<std::path::PathBuf>,
    },
    /// The original's comparison table, measured: train the chosen models on the same data and
    /// seeds, export and time them, print the table and write it as JSON and markdown.
    Bench(bench::BenchArgs),
    /// Value after costs: a version's test-split forecasts traded as a signal, beside
    /// buy-and-hold and the last move's sign, with the deflated Sharpe ratio.
    Backtest(backtest::BacktestArgs),
    /// Sweeps for a cluster: plan one from a TOML declaration, submit it to Slurm or
    /// Kubernetes (or run it here), follow it, and report on the imported versions.
    #[command(subcommand)]
    Sweep(sweep::SweepCommand),
    /// What a cluster task runs: one job of a planned sweep, into a version bundle.
    #[command(subcommand)]
    Worker(sweep::WorkerCommand),
    /// Developer diagnostics.
    #[command(subcommand)]
    Dev(dev::DevCommand),
}

/// Mesa's Vulkan and GL drivers complain on every adapter probe when `XDG_RUNTIME_DIR` is unset
/// (headless servers, CI); give them a private one so GPU checks print only what matters.
///
/// The folder is created by `tempfile` (a random name, mode 0700, so no other user can predict or
/// pre-create it) and removed when the returned guard drops at the end of `main`.
fn quiet_graphics_runtime_dir() -> Option<tempfile::TempDir> {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return None;
    }
    let dir = tempfile::Builder::new()
        .prefix("atb-runtime-")
        .tempdir()
        .ok()?;
    // SAFETY: called first thing in `main`, before the runtime or any other thread exists.
    unsafe { std::env::set_var("XDG_RUNTIME_DIR", dir.path()) };
    Some(dir)
}

/// Exit code for a run stopped by Ctrl-C (128 + SIGINT), as shells report it.
pub const EXIT_INTERRUPTED: u8 = 130;

/// A reader that went away (`atb models list | head -1`) is not an error: stop quietly with
/// success, as other command-line tools do. Rust ignores SIGPIPE, so the first write after the
/// reader closed panics in `println!`; that panic, and only that one, ends the process here.
fn exit_quietly_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    exit_quietly_on_closed_stdout();
    let cli = Cli::parse();
    // Training reuses large buffers; keep freed memory instead of faulting fresh pages in.
    atb_models::kernels::memory::hold_freed_memory();
    let _runtime_dir = quiet_graphics_runtime_dir();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Data(cmd) => data::run(cmd).await,
            Command::Dev(cmd) => dev::run(cmd),
            Command::Backtest(args) => backtest::run(args).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Train(cmd) => train::run(cmd).await,
            Command::Models(cmd) => models::run(cmd).await,
            Command::Predict(args) => predict::run(args).await,
            Command::Validate { json, device, keep } => validate::run(json, device, keep).await,
            Command::Sweep(cmd) => sweep::run(cmd).await,
            Command::Worker(cmd) => sweep::worker(cmd).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            // The engine says what is wrong; the remedy, as data, is worded here for a shell.
            match e
                .downcast_ref::<atb_engine::Error>()
                .and_then(atb_engine::Error::remedy)
            {
                Some(remedy) => eprintln!("error: {e:#}; {}", remedy.cli()),
                None => eprintln!("error: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use atb_engine::TrainSpec;
    use atb_protocol::desktop::TrainRequest;
    use clap::Parser;

    use super::{Cli, Command};
    use crate::train::TrainCommand;

    fn train_request(args: &[&str]) -> TrainRequest {
        let argv = ["atb", "train", "model", "BTCUSDT"].iter().chain(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Train(TrainCommand::Model(a)) => a.request(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn train_flags_default_to_the_one_spec_the_desktop_starts_from() {
        let request = train_request(&[]);
        assert_eq!(request.spec, TrainSpec::default());
        assert_eq!(request.spec, TrainRequest::default().spec);
    }

    #[test]
    fn old_flag_names_still_work() {
        let old = train_request(&[
            "--model-type",
            "tcn",
            "--model-variant",
            "deep",
            "--grad-clip",
            "1.5",
            "--folds",
            "3",
        ]);
        let new = train_request(&[
            "--architecture",
            "tcn",
            "--variant",
            "deep",
            "--grad-clip-norm",
            "1.5",
            "--walk-forward-folds",
            "3",
        ]);
        assert_eq!(old, new);
        assert_eq!(new.spec.walk_forward_folds, Some(3));
    }
}
