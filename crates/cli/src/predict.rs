//! `atb predict`: the next close from a registered version, or raw outputs for given windows,
//! with its Burn weights or (`--onnx`) its exported ONNX file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use atb_engine::market::source::{CandleSource, DateRange, load_candles};
use atb_engine::market::{Interval, Symbol};
use atb_engine::npy::read_npy_f32;
use atb_engine::pipeline::{BurnPredictor, WindowPredictor, predict_next_close, predict_raw};
use atb_engine::registry::Registry;
use atb_engine::settings::Settings;
use atb_models::burn::prelude::Device;
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
    #[arg(long)]
    json: bool,
}

pub async fn run(args: PredictArgs) -> Result<ExitCode> {
    let settings = Settings::from_env()?;
    let registry = Registry::open(&settings)?;
    let device = Device::flex();
    // Either runtime behind one interface; both check their file's hash on load.
    let (row, schema, predictor): (_, _, Box<dyn WindowPredictor>) = if args.onnx {
        let loaded = registry.load_onnx(&args.reference)?;
        // The file describes its own inputs; use exactly what it says.
        let schema = loaded.model.document.schema.clone();
        (loaded.row, schema, Box::new(loaded.model))
    } else {
        let loaded = registry.load(&args.reference, &device)?;
        (
            loaded.row,
            loaded.schema,
            Box::new(OwnedBurn(loaded.model, device)),
        )
    };
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
            let out = predict_raw(
                &row.version_id,
                &schema,
                predictor.as_ref(),
                array.values,
                [n, l, f],
            )?;
            if args.json {
                println!("{}", serde_json::to_string(&out)?);
            } else {
                for v in out {
                    println!("{v:.9}");
                }
            }
        }
        (Some(source), None) => {
            let symbol: Symbol = row.symbol.parse()?;
            let interval: Interval = row.timeframe.parse()?;
            // Enough candles for the warm-up and one window, with room for gaps.
            let candles_needed = (schema.sequence_length + 100) as i64 * interval.millis();
            let days = (candles_needed / 86_400_000 + 2) as u32;
            let series = load_candles(
                &settings,
                &source,
                &symbol,
                interval,
                DateRange::LastDays(days),
                &mut |_| {},
            )
            .await?;
            let next = predict_next_close(&row.version_id, &schema, predictor.as_ref(), &series)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&next)?);
            } else {
                println!(
                    "{} {} {}: last close {:.2} at {}; predicted close {} bar(s) later: {:.2} (log return {:+.6})",
                    next.version_id,
                    symbol,
                    interval,
                    next.last_close,
                    time(next.last_open_time_ms),
                    next.horizon,
                    next.predicted_close,
                    next.predicted_log_return
                );
            }
        }
        (None, None) => {
            bail!("give --source SOURCE (next close) or --raw-input FILE.npy (raw outputs)")
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A loaded Burn model that owns its device (the registry's `LoadedModel` is split up above).
struct OwnedBurn(atb_models::ForecastModel, Device);

impl WindowPredictor for OwnedBurn {
    fn predict_windows(&self, values: Vec<f32>, shape: [usize; 3]) -> atb_engine::Result<Vec<f32>> {
        BurnPredictor {
            model: &self.0,
            device: &self.1,
        }
        .predict_windows(values, shape)
    }
}
