//! Where a planned sweep runs. atb renders what the scheduler needs and follows what it did;
//! it never schedules. Slurm: a job-array script (one task per job without a bundle,
//! `--array=…%K`, the task's resources, logs per task), submitted with `sbatch` and followed
//! with `squeue` and the bundles present. Kubernetes: an Indexed Job manifest for
//! `kubectl apply` (`JOB_COMPLETION_INDEX` is the job index; the sweep folder on a volume).
//! Local: the jobs one after another in this process.

use std::path::{Path, PathBuf};
use std::process::Command;

use atb_protocol::sweep::{
    BUNDLE_MANIFEST_FILE, BundleManifest, JobState, JobStatus, SweepJobEntry, SweepManifest,
    bundle_dir_name, failure_file_name,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::read_manifest;
use crate::error::{Error, Result};
use crate::fsutil::{io, write_atomic};

/// The schedulers atb renders for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Executor {
    Slurm,
    Kubernetes,
    Local,
}

impl std::str::FromStr for Executor {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "slurm" => Ok(Self::Slurm),
            "kubernetes" | "k8s" => Ok(Self::Kubernetes),
            "local" => Ok(Self::Local),
            other => Err(Error::InvalidRequest(format!(
                "unknown executor {other:?}: use slurm, kubernetes or local"
            ))),
        }
    }
}

/// The Slurm script, in the sweep folder.
pub const SLURM_SCRIPT: &str = "slurm/sweep.sbatch";
/// The array jobs submitted so far, in the sweep folder.
pub const SLURM_SUBMISSIONS: &str = "slurm/submissions.json";
/// The Kubernetes manifest, in the sweep folder.
pub const KUBERNETES_MANIFEST: &str = "kubernetes/job.json";
/// Where the sweep folder is mounted in a Kubernetes worker's container.
pub const KUBERNETES_MOUNT: &str = "/sweep";

/// One `sbatch` of the sweep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlurmSubmission {
    pub job_id: String,
    pub indices: Vec<usize>,
}

/// What `results` holds for one job: nothing, its bundle, or a bundle of another plan (an
/// earlier plan into the same folder). Read from `bundle.json` alone; `import` verifies files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BundleFound {
    None,
    Ours,
    Other,
}

fn bundle_found(manifest: &SweepManifest, entry: &SweepJobEntry, results: &Path) -> BundleFound {
    let path = results
        .join(bundle_dir_name(entry.index))
        .join(BUNDLE_MANIFEST_FILE);
    let Ok(bytes) = std::fs::read(&path) else {
        return BundleFound::None;
    };
    match serde_json::from_slice::<BundleManifest>(&bytes) {
        Ok(b) if b.sweep_id == manifest.sweep_id && b.job_sha256 == entry.sha256 => {
            BundleFound::Ours
        }
        _ => BundleFound::Other,
    }
}

/// Jobs with their bundle in `results`.
pub fn done_jobs(manifest: &SweepManifest, results: &Path) -> Vec<usize> {
    manifest
        .jobs
        .iter()
        .filter(|j| bundle_found(manifest, j, results) == BundleFound::Ours)
        .map(|j| j.index)
        .collect()
}

/// Indices as Slurm's `--array` list: runs of consecutive ones as ranges (`0-3,5,7-9`).
pub fn array_list(indices: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let start = indices[i];
        let mut end = start;
        while i + 1 < indices.len() && indices[i + 1] == end + 1 {
            i += 1;
            end = indices[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// Quotes a path or word for a POSIX shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(path).map_err(io(path))
}

/// Renders the job-array script for `indices` (`#SBATCH` lines from the sweep's resources).
pub fn slurm_script(
    manifest: &SweepManifest,
    sweep_dir: &Path,
    results: &Path,
    atb: &Path,
    indices: &[usize],
) -> String {
    let r = &manifest.resources;
    let logs = sweep_dir.join("logs");
    let mut s = String::from("#!/bin/bash\n");
    s.push_str(&format!(
        "# atb sweep {} ({}): {} job(s) of {}\n",
        manifest.name,
        atb_protocol::sweep::short_id(&manifest.sweep_id, 12),
        indices.len(),
        manifest.jobs.len()
    ));
    s.push_str(&format!(
        "#SBATCH --job-name=atb-{}\n",
        slug(&manifest.name)
    ));
    s.push_str(&format!(
        "#SBATCH --array={}%{}\n",
        array_list(indices),
        r.parallel
    ));
    s.push_str("#SBATCH --ntasks=1\n");
    s.push_str(&format!("#SBATCH --cpus-per-task={}\n", r.cpus));
    s.push_str(&format!("#SBATCH --mem={}G\n", r.memory_gb));
    s.push_str(&format!("#SBATCH --time={}\n", r.time_minutes));
    if r.gpus > 0 {
        s.push_str(&format!("#SBATCH --gres=gpu:{}\n", r.gpus));
    }
    s.push_str(&format!("#SBATCH --output={}/job-%a.log\n", logs.display()));
    s.push_str("# Exit codes: 0 done (or already done), 1 failed (the reason is in RESULTS/job-N.failed.txt),\n");
    s.push_str(
        "# 75 temporary (resubmit: `atb sweep submit` sends only the jobs without a bundle).\n",
    );
    s.push_str("set -u\n");
    s.push_str(&format!(
        "exec {} worker run {} --index \"$SLURM_ARRAY_TASK_ID\" --out {}\n",
        shell_quote(&atb.display().to_string()),
        shell_quote(&sweep_dir.display().to_string()),
        shell_quote(&results.display().to_string())
    ));
    s
}

fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_matches('-').to_string();
    if s.is_empty() {
        "sweep".into()
    } else {
        s.chars().take(40).collect()
    }
}

/// The Indexed Job manifest (JSON, which `kubectl apply -f` takes as it takes YAML).
pub fn kubernetes_manifest(
    manifest: &SweepManifest,
    image: &str,
    volume_claim: &str,
) -> serde_json::Value {
    let r = &manifest.resources;
    let n = manifest.jobs.len();
    let mut limits = json!({ "memory": format!("{}Gi", r.memory_gb) });
    if r.gpus > 0 {
        limits["nvidia.com/gpu"] = json!(r.gpus.to_string());
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": format!("atb-{}-{}", slug(&manifest.name).chars().take(30).collect::<String>(), atb_protocol::sweep::short_id(&manifest.sweep_id, 8)),
            "labels": { "app.kubernetes.io/name": "atb-sweep", "atb/sweep-id": atb_protocol::sweep::short_id(&manifest.sweep_id, 12) }
        },
        "spec": {
            "completionMode": "Indexed",
            "completions": n,
            "parallelism": r.parallel.min(n as u32).max(1),
            // Exit 75 (temporary) is retried up to twice per index; exit 1 (the job itself
            // failed) fails that index at once; the other indices go on either way.
            "backoffLimitPerIndex": 2,
            "maxFailedIndexes": n,
            "podFailurePolicy": {
                "rules": [
                    { "action": "FailIndex", "onExitCodes": { "containerName": "worker", "operator": "In", "values": [1] } },
                    { "action": "Ignore", "onPodConditions": [ { "type": "DisruptionTarget" } ] }
                ]
            },
            "template": {
                "metadata": { "labels": { "app.kubernetes.io/name": "atb-sweep" } },
                "spec": {
                    "restartPolicy": "Never",
                    // The image runs as 65532 (docker/worker.Dockerfile); the volume is made
                    // writable to it.
                    "securityContext": { "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532 },
                    "containers": [{
                        "name": "worker",
                        "image": image,
                        // No --index: the worker reads JOB_COMPLETION_INDEX, which an Indexed
                        // Job sets in every pod.
                        "command": ["atb", "worker", "run", KUBERNETES_MOUNT, "--out", format!("{KUBERNETES_MOUNT}/results")],
                        "resources": {
                            "requests": { "cpu": r.cpus.to_string(), "memory": format!("{}Gi", r.memory_gb) },
                            "limits": limits
                        },
                        "volumeMounts": [ { "name": "sweep", "mountPath": KUBERNETES_MOUNT } ]
                    }],
                    "volumes": [ { "name": "sweep", "persistentVolumeClaim": { "claimName": volume_claim } } ]
                }
            }
        }
    })
}

/// What a submission did.
#[derive(Debug)]
pub enum Submitted {
    /// Every job already has a bundle.
    NothingToDo {
        jobs: usize,
    },
    Slurm {
        job_id: String,
        script: PathBuf,
        indices: Vec<usize>,
    },
    Kubernetes {
        manifest: PathBuf,
        jobs: usize,
    },
}

/// How to submit.
#[derive(Debug, Clone)]
pub struct SubmitOptions {
    pub results: PathBuf,
    /// The `atb` binary the cluster's nodes run (Slurm): this one unless told.
    pub atb: PathBuf,
    /// The worker image (Kubernetes).
    pub image: String,
    /// The claim of the volume holding the sweep folder (Kubernetes).
    pub volume_claim: String,
}

/// Renders and submits the jobs without a bundle (and, for Slurm, not already queued).
pub fn submit(sweep_dir: &Path, executor: Executor, options: &SubmitOptions) -> Result<Submitted> {
    let manifest = read_manifest(sweep_dir)?;
    match executor {
        Executor::Slurm => submit_slurm(sweep_dir, &manifest, options),
        Executor::Kubernetes => {
            let value = kubernetes_manifest(&manifest, &options.image, &options.volume_claim);
            let path = sweep_dir.join(KUBERNETES_MANIFEST);
            std::fs::create_dir_all(sweep_dir.join("kubernetes")).map_err(io(sweep_dir))?;
            let bytes = serde_json::to_vec_pretty(&value)
                .map_err(|e| Error::InvalidData(format!("cannot serialise the manifest: {e}")))?;
            write_atomic(&path, &bytes)?;
            Ok(Submitted::Kubernetes {
                manifest: path,
                jobs: manifest.jobs.len(),
            })
        }
        Executor::Local => Err(Error::InvalidRequest(
            "the local executor runs the jobs in this process; call `run_local`".into(),
        )),
    }
}

fn submit_slurm(
    sweep_dir: &Path,
    manifest: &SweepManifest,
    options: &SubmitOptions,
) -> Result<Submitted> {
    std::fs::create_dir_all(&options.results).map_err(io(&options.results))?;
    let sweep_dir = absolute(sweep_dir)?;
    let results = absolute(&options.results)?;
    let statuses = status(&sweep_dir, &results)?;
    let indices: Vec<usize> = statuses
        .iter()
        .filter(|s| matches!(s.state, JobState::Missing | JobState::Failed))
        .map(|s| s.index)
        .collect();
    if indices.is_empty() {
        return Ok(Submitted::NothingToDo {
            jobs: manifest.jobs.len(),
        });
    }
    for dir in [sweep_dir.join("slurm"), sweep_dir.join("logs")] {
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    }
    let script_path = sweep_dir.join(SLURM_SCRIPT);
    let script = slurm_script(manifest, &sweep_dir, &results, &options.atb, &indices);
    write_atomic(&script_path, script.as_bytes())?;
    let output = Command::new("sbatch")
        .arg("--parsable")
        .arg(&script_path)
        .output()
        .map_err(|e| {
            Error::InvalidRequest(format!(
                "cannot run sbatch ({e}): submit from a Slurm login node, or run {} there yourself",
                script_path.display()
            ))
        })?;
    if !output.status.success() {
        return Err(Error::InvalidRequest(format!(
            "sbatch refused {}: {}",
            script_path.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    // `--parsable` prints `JOBID` or `JOBID;CLUSTER`.
    let job_id = String::from_utf8_lossy(&output.stdout)
        .trim()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    let mut submissions = read_submissions(&sweep_dir);
    submissions.push(SlurmSubmission {
        job_id: job_id.clone(),
        indices: indices.clone(),
    });
    let bytes = serde_json::to_vec_pretty(&submissions)
        .map_err(|e| Error::InvalidData(format!("cannot serialise the submissions: {e}")))?;
    write_atomic(&sweep_dir.join(SLURM_SUBMISSIONS), &bytes)?;
    Ok(Submitted::Slurm {
        job_id,
        script: script_path,
        indices,
    })
}

fn read_submissions(sweep_dir: &Path) -> Vec<SlurmSubmission> {
    std::fs::read(sweep_dir.join(SLURM_SUBMISSIONS))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// The array tasks Slurm still holds, by job index: `squeue` for each submission (a job Slurm
/// no longer knows has ended, and its bundle or failure file says how).
fn slurm_queue(sweep_dir: &Path) -> Vec<(usize, JobState)> {
    let mut out = Vec::new();
    for submission in read_submissions(sweep_dir) {
        let Ok(output) = Command::new("squeue")
            .args(["-h", "-r", "-j", &submission.job_id, "-o", "%i|%T"])
            .output()
        else {
            continue;
        };
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let Some((id, state)) = line.trim().split_once('|') else {
                continue;
            };
            let Some(task) = id
                .rsplit_once('_')
                .and_then(|(_, t)| t.parse::<usize>().ok())
            else {
                continue;
            };
            let state = match state {
                "RUNNING" | "COMPLETING" | "CONFIGURING" => JobState::Running,
                "PENDING" | "REQUEUED" | "SUSPENDED" => JobState::Pending,
                _ => continue,
            };
            out.push((task, state));
        }
    }
    out
}

/// Every job's state: a bundle, a failure file, the scheduler's queue, or nothing yet.
pub fn status(sweep_dir: &Path, results: &Path) -> Result<Vec<JobStatus>> {
    let manifest = read_manifest(sweep_dir)?;
    let queue = slurm_queue(sweep_dir);
    Ok(manifest
        .jobs
        .iter()
        .map(|j| {
            let failure = std::fs::read_to_string(results.join(failure_file_name(j.index))).ok();
            let queued = queue.iter().find(|(i, _)| *i == j.index).map(|(_, s)| *s);
            let found = bundle_found(&manifest, j, results);
            let (state, reason) = if found == BundleFound::Ours {
                (JobState::Done, None)
            } else if found == BundleFound::Other {
                let folder = results.join(bundle_dir_name(j.index));
                let why = format!(
                    "{} holds a bundle of another plan: move it away to run this job",
                    folder.display()
                );
                (JobState::Failed, Some(why))
            } else if let Some(state) = queued {
                (state, None)
            } else if let Some(text) = failure {
                (JobState::Failed, text.lines().next().map(str::to_string))
            } else {
                (JobState::Missing, None)
            };
            JobStatus {
                index: j.index,
                label: j.label.clone(),
                state,
                reason,
            }
        })
        .collect())
}

/// One job the local executor ran.
pub type LocalResult = (
    usize,
    std::result::Result<super::worker::WorkerRun, super::worker::WorkerFailure>,
);

/// The local executor: every job without a bundle, one after another in this process (each
/// in its own private home, like a cluster task), `on_job` told of each as it ends.
pub fn run_local(
    sweep_dir: &Path,
    results: &Path,
    on_job: &mut dyn FnMut(&LocalResult, usize),
    cancel: &crate::cancel::CancelToken,
) -> Result<Vec<LocalResult>> {
    let manifest = read_manifest(sweep_dir)?;
    let done = done_jobs(&manifest, results);
    let todo: Vec<usize> = manifest
        .jobs
        .iter()
        .map(|j| j.index)
        .filter(|i| !done.contains(i))
        .collect();
    let mut out = Vec::with_capacity(todo.len());
    for index in todo {
        if cancel.is_cancelled() {
            break;
        }
        let result = super::worker::run_job(sweep_dir, index, results, &mut |_| {}, cancel);
        let item = (index, result);
        on_job(&item, manifest.jobs.len());
        out.push(item);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_lists_compress_runs() {
        assert_eq!(array_list(&[0, 1, 2, 3]), "0-3");
        assert_eq!(array_list(&[0, 2, 3, 4, 7]), "0,2-4,7");
        assert_eq!(array_list(&[5]), "5");
        assert_eq!(array_list(&[]), "");
    }

    #[test]
    fn shell_quoting_survives_quotes_and_spaces() {
        assert_eq!(shell_quote("/a b/it's"), r"'/a b/it'\''s'");
    }
}
