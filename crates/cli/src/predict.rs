//! `atb predict`: the next close from a registered version, or raw outputs for given windows,
//! with its Burn weights or (`--onnx`) its exported ONNX file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use atb_engine::service::predict::{self, PredictWith};
use atb_engine::{CandleSource, Settings, read_npy_f32};
use clap::Args;

use crate::output::time;

#[derive(Args)]
pub struct PredictArgs {
    /// Version id or alias.
    #[arg(value_name = "VERSION")]
    reference: String,
    /// Predict the next close from the latest window of this source (`binance`, `sample`, `csv:PATH`).
    #[arg(long, conflicts_with = "raw_input")]
    source: Option<CandleSource>,
    /// A float32 `.npy` of already-scaled windows `[N, L, F]`: print the N raw model outputs.
    #[arg(long)]
    raw_input: Option<PathBuf>,
    /// Run the version's exported `model.onnx` (in tract) instead of its Burn weights.
    #[arg(long)]
    onnx: bool,
    /// Run the exported `model.onnx` in ONNX Runtime (the library from `ATB_ONNXRUNTIME` or the
    /// setup script's `.venv`).
    #[arg(long, conflicts_with = "onnx")]
    onnxruntime: bool,
    #[arg(long)]
    json: bool,
}

pub async fn run(args: PredictArgs) -> Result<ExitCode> {
    let settings = Settings::from_env()?;
    // Either runtime behind one interface; both check their file's hash on load.
    let with = match (args.onnx, args.onnxruntime) {
        (true, _) => PredictWith::Onnx,
        (_, true) => PredictWith::OnnxRuntime,
        _ => PredictWith::Native,
    };
    let predictor = predict::open(&settings, &args.reference, with)?;
    match (args.source, args.raw_input) {
        (_, Some(path)) => {
            let array = read_npy_f32(&path)?;
            let [n, l, f] = array.shape[..] else {
                bail!(
                    "{}: expected a 3-d array [N, L, F], got shape {:?}",
                    path.display(),
                    array.shape
                )
            };
            let out = predictor.raw(array.values, [n, l, f])?;
            if args.json {
                println!("{}", serde_json::to_string(&out)?);
            } else {
                for v in out {
                    println!("{v:.9}");
                }
            }
        }
        (Some(source), None) => {
            let next = predictor.next_close(&settings, &source).await?;
            let (symbol, timeframe) = (&predictor.row.symbol, predictor.row.timeframe);
            if args.json {
                println!("{}", serde_json::to_string_pretty(&next)?);
            } else {
                println!(
                    "{} {} {}: last close {:.2} at {}; over the next {} bar(s): {}",
                    next.version_id,
                    symbol,
                    timeframe,
                    next.last_close,
                    time(next.last_open_time_ms),
                    next.horizon,
                    next.prediction.sentence(next.last_close)
                );
            }
        }
        (None, None) => {
            bail!("give --source SOURCE (next close) or --raw-input FILE.npy (raw outputs)")
        }
    }
    Ok(ExitCode::SUCCESS)
}
