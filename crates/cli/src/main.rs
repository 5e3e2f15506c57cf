//! `atb`: the command line door onto the atb engine. Parses arguments, calls the engine, prints
//! progress on stderr and results on stdout; every error is one clear line and a non-zero exit.

mod data;
mod output;

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
}

/// Exit code for a run stopped by Ctrl-C (128 + SIGINT), as shells report it.
pub const EXIT_INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Data(cmd) => data::run(cmd).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
