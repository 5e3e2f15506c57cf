//! `atb validate`: every (architecture, variant) pair trained for one epoch on a slice of the
//! sample, reloaded, run and exported to ONNX with the parity check
//! ([`atb_engine::service::validate`]); exits non-zero if any fails.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use atb_engine::DeviceChoice;
use atb_engine::service::validate::{PairResult, validate_all};

use crate::EXIT_INTERRUPTED;
use crate::output::cancel_on_ctrl_c;

pub async fn run(json: bool, device: DeviceChoice, keep: Option<PathBuf>) -> Result<ExitCode> {
    let cancel = cancel_on_ctrl_c();
    let worker_cancel = cancel.clone();
    let kept = keep.clone();
    let results = tokio::task::spawn_blocking(move || {
        validate_all(
            device,
            keep.as_deref(),
            &mut |r: &PairResult| {
                if !json {
                    let onnx = r
                        .onnx_max_abs_diff
                        .map_or_else(|| "-".into(), |d| format!("onnx diff {d:.1e}"));
                    println!(
                        "{:<16} {:<12} {:>10} {:>8.1} s  {onnx:<18} {}",
                        r.architecture.as_str(),
                        r.variant.as_str(),
                        r.parameters,
                        r.seconds,
                        r.status
                    );
                }
            },
            &worker_cancel,
        )
    })
    .await?;
    let results = match results {
        Err(atb_engine::Error::Cancelled) => {
            eprintln!("validate: cancelled; nothing was kept");
            return Ok(ExitCode::from(EXIT_INTERRUPTED));
        }
        other => other?,
    };
    let failed = results.iter().filter(|r| !r.ok()).count();
    if let Some(dir) = &kept {
        eprintln!(
            "validate: the registry is kept in {} (ATB_HOME={} atb models list)",
            dir.display(),
            dir.display()
        );
    }
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
