//! `atb sweep plan|submit|status|report`, `atb worker run` and `atb models import`: the doors
//! onto `service::sweep`. A worker's exit code is what a scheduler acts on: 0 done (or already
//! done), 1 failed (the reason is in the results folder), 75 temporary (run it again).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use atb_engine::Settings;
use atb_engine::service::sweep::{self, executor};
use atb_protocol::sweep::{EXIT_TEMPORARY, ImportReport, JobState, SweepReport};
use atb_protocol::training::TrainingEvent;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum SweepCommand {
    /// Check every combination a sweep declaration (TOML) names as training checks it, all
    /// problems listed before anything is written; snapshot the candles into DIR/candles
    /// (content-addressed) and write one job file per training and a manifest.
    Plan {
        #[arg(value_name = "SWEEP.toml")]
        sweep: PathBuf,
        /// A new or empty folder (or an earlier plan of it, replaced).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Send the jobs that have no bundle yet to a scheduler: `slurm` writes DIR/slurm/sweep.sbatch
    /// (a job array) and submits it with sbatch; `kubernetes` writes DIR/kubernetes/job.json (an
    /// Indexed Job) for `kubectl apply -f`; `local` runs them here, one after another.
    Submit {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        #[arg(long, value_parser = ["slurm", "kubernetes", "local"])]
        executor: String,
        /// Where the bundles go (default DIR/results).
        #[arg(long, value_name = "RESULTS")]
        results: Option<PathBuf>,
        /// The atb binary the Slurm nodes run (default: this one).
        #[arg(long, value_name = "PATH")]
        atb: Option<PathBuf>,
        /// The worker image (Kubernetes; built from docker/worker.Dockerfile).
        #[arg(long, default_value = "atb-worker:latest")]
        image: String,
        /// The persistent volume claim holding the sweep folder (Kubernetes; mounted at /sweep).
        #[arg(long, default_value = "atb-sweep")]
        volume_claim: String,
    },
    /// Each job's state: done (a bundle), failed (with the reason), running or pending in
    /// Slurm's queue, or missing.
    Status {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        #[arg(long, value_name = "RESULTS")]
        results: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// The jobs as tables from the imported versions, grouped by the test windows they share,
    /// each group judged together (90% model confidence set, Holm-adjusted verdicts).
    Report {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        #[arg(long, value_name = "RESULTS")]
        results: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum WorkerCommand {
    /// Train job N of a planned sweep from its snapshot alone, in a private temporary home, and
    /// write its version bundle into OUT (left alone when already there).
    Run {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// The job (default: $JOB_COMPLETION_INDEX on Kubernetes, $SLURM_ARRAY_TASK_ID on Slurm).
        #[arg(long)]
        index: Option<usize>,
        #[arg(long, value_name = "OUT")]
        out: PathBuf,
    },
}

fn results_of(dir: &Path, results: Option<PathBuf>) -> PathBuf {
    results.unwrap_or_else(|| sweep::default_results(dir))
}

pub async fn run(cmd: SweepCommand) -> Result<ExitCode> {
    let settings = Settings::from_env()?;
    match cmd {
        SweepCommand::Plan {
            sweep: file,
            out,
            json,
        } => {
            let manifest = sweep::plan::plan(&settings, &file, &out).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&manifest)?);
            } else {
                println!(
                    "planned sweep {} ({}): {} job(s), {} candle snapshot(s) in {}",
                    manifest.name,
                    atb_protocol::sweep::short_id(&manifest.sweep_id, 12),
                    manifest.jobs.len(),
                    manifest.snapshots.len(),
                    out.display()
                );
                for job in &manifest.jobs {
                    println!("  {:>4}  {}", job.index, job.label);
                }
                if manifest.duplicates_dropped > 0 {
                    println!(
                        "{} combination(s) left out: gbdt reads none of the networks' fields ({}), so they would train the same trees again",
                        manifest.duplicates_dropped,
                        atb_engine::TrainSpec::NETWORK_ONLY_FIELDS.join(", ")
                    );
                }
                println!(
                    "next: atb sweep submit {} --executor slurm|kubernetes|local",
                    out.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        SweepCommand::Submit {
            dir,
            executor,
            results,
            atb,
            image,
            volume_claim,
        } => {
            let results = results_of(&dir, results);
            let executor: executor::Executor = executor.parse()?;
            if executor == executor::Executor::Local {
                return run_local(dir, results).await;
            }
            let options = executor::SubmitOptions {
                results,
                atb: match atb {
                    Some(p) => p,
                    None => std::env::current_exe()?,
                },
                image,
                volume_claim,
            };
            match executor::submit(&dir, executor, &options)? {
                executor::Submitted::NothingToDo { jobs } => {
                    println!("nothing to submit: all {jobs} job(s) have a bundle or are queued")
                }
                executor::Submitted::Slurm {
                    job_id,
                    script,
                    indices,
                } => println!(
                    "submitted Slurm array job {job_id}: {} task(s) ({}); script {}\nfollow: atb sweep status {}",
                    indices.len(),
                    executor::array_list(&indices),
                    script.display(),
                    dir.display()
                ),
                executor::Submitted::Kubernetes { manifest, jobs } => println!(
                    "wrote an Indexed Job of {jobs} completion(s) to {}\nwith the sweep folder on the volume claim {}, run: kubectl apply -f {}",
                    manifest.display(),
                    options.volume_claim,
                    manifest.display()
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        SweepCommand::Status { dir, results, json } => {
            let statuses = executor::status(&dir, &results_of(&dir, results))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&statuses)?);
                return Ok(ExitCode::SUCCESS);
            }
            for s in &statuses {
                match &s.reason {
                    Some(r) => {
                        println!("{:>4}  {:<8} {}  ({r})", s.index, s.state.as_str(), s.label)
                    }
                    None => println!("{:>4}  {:<8} {}", s.index, s.state.as_str(), s.label),
                }
            }
            let count = |state| statuses.iter().filter(|s| s.state == state).count();
            println!(
                "{} job(s): {} done, {} failed, {} running, {} pending, {} missing",
                statuses.len(),
                count(JobState::Done),
                count(JobState::Failed),
                count(JobState::Running),
                count(JobState::Pending),
                count(JobState::Missing)
            );
            Ok(ExitCode::SUCCESS)
        }
        SweepCommand::Report { dir, results, json } => {
            let report = sweep::report::report(&settings, &dir, &results_of(&dir, results)).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_report(&report);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn run_local(dir: PathBuf, results: PathBuf) -> Result<ExitCode> {
    let cancel = crate::output::cancel_on_ctrl_c();
    let ran = tokio::task::spawn_blocking(move || {
        executor::run_local(
            &dir,
            &results,
            &mut |(index, result), total| match result {
                Ok(run) => eprintln!(
                    "job {index} of {total}: {} in {}",
                    run.version_id,
                    run.bundle.display()
                ),
                Err(f) => eprintln!("job {index} of {total}: failed: {}", f.reason),
            },
            &cancel,
        )
    })
    .await??;
    let failed = ran.iter().filter(|(_, r)| r.is_err()).count();
    println!(
        "ran {} job(s) here: {} bundle(s), {failed} failed",
        ran.len(),
        ran.len() - failed
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_report(report: &SweepReport) {
    println!(
        "sweep {} ({}): {} job(s), {} imported",
        report.name,
        atb_protocol::sweep::short_id(&report.sweep_id, 12),
        report.jobs,
        report.imported
    );
    for group in &report.groups {
        println!("\n{}", group.title);
        println!(
            "  {:>4}  {:<40} {:>10} {:>8}  {:<6} vs persistence",
            "job", "version", "MAE (USD)", "skill", "in MCS"
        );
        for row in &group.rows {
            println!(
                "  {:>4}  {:<40} {:>10} {:>8}  {:<6} {}",
                row.index,
                row.version_id.as_deref().unwrap_or("-"),
                row.test_mae_usd.map_or("-".into(), |v| format!("{v:.2}")),
                row.skill_vs_persistence
                    .map_or("-".into(), |v| format!("{:+.2}%", v * 100.0)),
                row.in_confidence_set
                    .map_or("-", |b| if b { "yes" } else { "no" }),
                row.vs_persistence
                    .as_ref()
                    .map_or("not imported", |v| v.text.as_str())
            );
            println!("        {}", row.label);
        }
        if let Some(j) = &group.judged {
            println!(
                "  judged on {} common test windows; Holm across {} paired tests",
                j.windows, j.tests_adjusted
            );
        }
        if let Some(note) = &group.note {
            println!("  {note}");
        }
    }
    if !report.walk_forward.is_empty() {
        println!("\nwalk-forward: each model over its folds (test splits one after another)");
        println!(
            "  {:>10} {:>8}  {:>6}  {:>6} {:>5}  model",
            "mean MAE", "skill", "folds", "better", "worse"
        );
        for r in &report.walk_forward {
            println!(
                "  {:>10} {:>8}  {:>6}  {:>6} {:>5}  {}",
                r.mean_test_mae_usd
                    .map_or("-".into(), |v| format!("{v:.2}")),
                r.mean_skill_vs_persistence
                    .map_or("-".into(), |v| format!("{:+.2}%", v * 100.0)),
                format!("{}/{}", r.imported, r.folds),
                r.folds_better,
                r.folds_worse,
                r.label
            );
        }
    }
}

/// `atb models import`.
pub async fn import(
    settings: Settings,
    paths: Vec<PathBuf>,
    sweep: Option<PathBuf>,
    json: bool,
) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let report: ImportReport = tokio::task::spawn_blocking(move || {
        sweep::import::import(&settings, &paths, sweep.as_deref())
    })
    .await??;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for row in &report.imported {
            println!(
                "imported {} ({} {} {})",
                row.version_id, row.symbol, row.timeframe, row.architecture
            );
        }
        for id in &report.already_present {
            println!("already there: {id}");
        }
        for r in &report.refused {
            println!("refused {}: {}", r.bundle, r.reason);
        }
        println!(
            "{} imported, {} already there, {} refused ({:.2} s)",
            report.imported.len(),
            report.already_present.len(),
            report.refused.len(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(if report.refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `atb worker run`: exit 0, 1 or 75.
pub async fn worker(cmd: WorkerCommand) -> Result<ExitCode> {
    let WorkerCommand::Run { dir, index, out } = cmd;
    let index = match index {
        Some(i) => i,
        None => match ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"]
            .iter()
            .find_map(|v| {
                std::env::var(v)
                    .ok()
                    .and_then(|s| s.trim().parse::<usize>().ok())
            }) {
            Some(i) => i,
            None => anyhow::bail!(
                "no job index: give --index N (or run under a Slurm array or a Kubernetes Indexed Job, which set it)"
            ),
        },
    };
    let cancel = crate::output::cancel_on_ctrl_c();
    let outcome = tokio::task::spawn_blocking(move || {
        sweep::worker::run_job(
            &dir,
            index,
            &out,
            &mut |event| match event {
                TrainingEvent::EpochEnd {
                    epoch,
                    epochs,
                    val_loss,
                    ..
                } => {
                    eprintln!("job {index}: epoch {epoch}/{epochs}, validation loss {val_loss:.6}")
                }
                TrainingEvent::Finished { .. } => {
                    eprintln!("job {index}: trained; evaluating and registering")
                }
                _ => {}
            },
            &cancel,
        )
    })
    .await?;
    match outcome {
        Ok(run) if run.already_done => {
            println!(
                "job {index}: already done ({} in {})",
                run.version_id,
                run.bundle.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(run) => {
            println!(
                "job {index}: {} in {}",
                run.version_id,
                run.bundle.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(f) => {
            eprintln!("error: job {index}: {}", f.reason);
            Ok(if f.temporary {
                ExitCode::from(EXIT_TEMPORARY)
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
