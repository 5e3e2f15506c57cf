//! `atb validate`: every (type, variant) pair trained for one epoch on a slice of the sample
//! through the same flow as `atb train model`, reloaded from a temporary registry, run, and
//! exported to ONNX with the export's parity check.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use atb_engine::market::source::{CandleSource, DateRange, load_candles};
use atb_engine::onnx::export_version;
use atb_engine::pipeline::{BurnPredictor, predict_next_close, train_and_register};
use atb_engine::registry::Registry;
use atb_engine::settings::Settings;
use atb_engine::training::{CancelToken, TrainingParams};
use atb_models::burn::prelude::Device;
use atb_models::{DeviceChoice, ModelType, Variant};
use serde::Serialize;

#[derive(Serialize)]
struct PairResult {
    model_type: String,
    variant: String,
    parameters: usize,
    seconds: f64,
    /// Largest |ONNX - Burn| of the pair's export on its test windows.
    onnx_max_abs_diff: Option<f64>,
    status: String,
}

pub async fn run(json: bool, device: DeviceChoice) -> Result<ExitCode> {
    let home = tempfile::tempdir()?;
    // A private registry: validation registers nothing permanently.
    let settings = Settings::resolve(home.path().to_path_buf(), None)?;
    let symbol = "BTCUSDT".parse()?;
    // 40 days of 1h candles: a few hundred training windows of 48 steps.
    let series = load_candles(
        &settings,
        &CandleSource::Sample,
        &symbol,
        atb_engine::market::Interval::H1,
        DateRange::LastDays(40),
        &mut |_| {},
    )
    .await?;
    let runtime = tokio::runtime::Handle::current();
    let results = tokio::task::spawn_blocking(move || {
        let mut results = Vec::new();
        for model_type in ModelType::ALL {
            for variant in Variant::ALL {
                let started = Instant::now();
                let params = TrainingParams {
                    model_type,
                    variant,
                    epochs: 1,
                    sequence_length: 48,
                    device,
                    ..TrainingParams::default()
                };
                let mut parameters = 0;
                let mut onnx_max_abs_diff = None;
                let status = (|| -> atb_engine::Result<()> {
                    let (outcome, row) = train_and_register(
                        &settings,
                        &series,
                        &params,
                        None,
                        true,
                        &mut |_| {},
                        &CancelToken::new(),
                    )?;
                    parameters = outcome.parameters;
                    let row = row.ok_or_else(|| {
                        atb_engine::Error::InvalidRequest("not registered".into())
                    })?;
                    let loaded =
                        Registry::open(&settings)?.load(&row.version_id, &Device::flex())?;
                    let device = Device::flex();
                    let burn = BurnPredictor {
                        model: &loaded.model,
                        device: &device,
                    };
                    let next = predict_next_close(&row.version_id, &loaded.schema, &burn, &series)?;
                    if !next.predicted_close.is_finite() {
                        return Err(atb_engine::Error::InvalidData(
                            "non-finite prediction".into(),
                        ));
                    }
                    // Export to ONNX, with the export's own parity check against Burn.
                    let report =
                        runtime.block_on(export_version(&settings, &row.version_id, None))?;
                    onnx_max_abs_diff = Some(report.export.max_abs_diff);
                    Ok(())
                })()
                .map_or_else(|e| e.to_string(), |_| "ok".to_string());
                results.push(PairResult {
                    model_type: model_type.to_string(),
                    variant: variant.to_string(),
                    parameters,
                    seconds: started.elapsed().as_secs_f64(),
                    onnx_max_abs_diff,
                    status,
                });
                if !json {
                    let r = results.last().map(|r: &PairResult| {
                        (
                            r.parameters,
                            r.seconds,
                            r.onnx_max_abs_diff,
                            r.status.clone(),
                        )
                    });
                    if let Some((p, s, d, st)) = r {
                        let onnx = d.map_or_else(|| "-".into(), |d| format!("onnx diff {d:.1e}"));
                        println!(
                            "{:<16} {:<12} {:>10} {:>8.1} s  {onnx:<18} {st}",
                            model_type.as_str(),
                            variant.as_str(),
                            p,
                            s
                        );
                    }
                }
            }
        }
        results
    })
    .await?;
    drop(home);
    let failed = results.iter().filter(|r| r.status != "ok").count();
    if json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        println!("{} of {} pairs ok", results.len() - failed, results.len());
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
