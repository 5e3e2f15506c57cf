//! `atb dev ...`: developer diagnostics (GPU adapters and device timings).

use std::process::ExitCode;

use anyhow::Result;
use atb_engine::{Settings, gpu_check};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum DevCommand {
    /// List GPU adapters, say which device training would use and why, time a matmul and
    /// `tcn default` training steps on the GPU and the CPU, and count every default model's GPU
    /// kernel dispatches per training step and per single-window forecast.
    GpuCheck {
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: DevCommand) -> Result<ExitCode> {
    let settings = Settings::from_env()?;
    match cmd {
        DevCommand::GpuCheck { json } => {
            eprintln!(
                "checking devices (a GPU's first use compiles kernels; that can take minutes once)..."
            );
            let report = gpu_check(&settings)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
                return Ok(ExitCode::SUCCESS);
            }
            if !report.gpu_backend_compiled {
                println!(
                    "GPU backend: not compiled into this build (rebuild with the `gpu` feature)"
                );
            } else if report.adapters.is_empty() {
                println!(
                    "GPU adapters: none found (no Vulkan/Metal/DX12 driver); training falls back to the CPU"
                );
            } else {
                println!("GPU adapters:");
                for a in &report.adapters {
                    let kind = if a.hardware {
                        "hardware"
                    } else {
                        "software/virtual"
                    };
                    println!("  {} ({}, {}, {kind})", a.name, a.backend, a.device_type);
                }
            }
            println!(
                "training with --device auto uses: {} ({})",
                report.auto_device, report.auto_reason
            );
            match &report.gpu_device {
                Ok(name) => println!("training with --device gpu uses: {name}"),
                Err(e) => println!("training with --device gpu fails: {e}"),
            }
            println!();
            println!(
                "{:<48} {:>14} {:>16} {:>12} {:>14}",
                "device", "matmul 1024²", "first step", "step", "one window"
            );
            for t in &report.timings {
                println!(
                    "{:<48} {:>11.1} ms {:>13.1} ms {:>9.1} ms {:>11.2} ms",
                    t.device, t.matmul_ms, t.first_step_ms, t.step_ms, t.single_window_ms
                );
            }
            println!("(step = one training step of tcn default, batch 32 x 120 x 5, Adam)");
            if !report.dispatches.is_empty() {
                println!();
                println!(
                    "GPU kernel dispatches (default models, window 120, batch 32; budget {} per training step):",
                    report.dispatch_budget
                );
                println!(
                    "{:<16} {:>14} {:>20}  most frequent",
                    "model", "training step", "single window"
                );
                for d in &report.dispatches {
                    let top: Vec<String> = d
                        .training_step
                        .by_kernel
                        .iter()
                        .take(3)
                        .map(|(k, n)| format!("{n} {k}"))
                        .collect();
                    let over = if d.training_step.total > report.dispatch_budget {
                        " OVER BUDGET"
                    } else {
                        ""
                    };
                    println!(
                        "{:<16} {:>14} {:>20}  {}{over}",
                        d.architecture.to_string(),
                        d.training_step.total,
                        d.single_window_forward.total,
                        top.join(", ")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
