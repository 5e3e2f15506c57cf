//! Sweeps handed to a cluster. atb does not schedule: it plans a sweep into job files and
//! content-addressed candle snapshots ([`plan`]), a worker turns one job file into one
//! self-contained version bundle ([`worker`]), the bundles come home hash-checked under their
//! original version ids ([`import`]), Slurm and Kubernetes get a job array rendered, submitted
//! and followed ([`executor`]), and the imported versions are judged together ([`report`]).
//! The file formats are `atb_protocol::sweep`'s.

pub mod executor;
pub mod import;
pub mod plan;
pub mod report;
pub mod worker;

use std::path::{Path, PathBuf};

use atb_protocol::sweep::{SWEEP_MANIFEST_FILE, SweepJob, SweepManifest, job_file_name};

use crate::error::{Error, Result};
use crate::fsutil::{io, sha256_hex};

/// The results folder a sweep's scripts write to unless told otherwise: `DIR/results`.
pub fn default_results(sweep_dir: &Path) -> PathBuf {
    sweep_dir.join("results")
}

/// Reads `sweep.json`, naming the folder when it is not a planned sweep.
pub fn read_manifest(sweep_dir: &Path) -> Result<SweepManifest> {
    let path = sweep_dir.join(SWEEP_MANIFEST_FILE);
    let bytes = std::fs::read(&path).map_err(|e| {
        Error::InvalidRequest(format!(
            "{} is not a planned sweep ({SWEEP_MANIFEST_FILE}: {e}); plan one with `atb sweep plan SWEEP.toml --out DIR`",
            sweep_dir.display()
        ))
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::InvalidData(format!("{} is not a sweep manifest: {e}", path.display())))
}

/// Reads job `index`'s file, checked against the manifest's SHA-256; returns it with its bytes.
pub fn read_job(
    sweep_dir: &Path,
    manifest: &SweepManifest,
    index: usize,
) -> Result<(SweepJob, Vec<u8>)> {
    let Some(entry) = manifest.jobs.iter().find(|j| j.index == index) else {
        return Err(Error::InvalidRequest(format!(
            "the sweep in {} has jobs 0 to {}; there is no job {index}",
            sweep_dir.display(),
            manifest.jobs.len().saturating_sub(1)
        )));
    };
    let path = sweep_dir
        .join(atb_protocol::sweep::JOBS_DIR)
        .join(job_file_name(index));
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    if sha256_hex(&bytes) != entry.sha256 {
        return Err(Error::InvalidData(format!(
            "{} differs from the job the sweep's manifest pins (SHA-256 mismatch); plan the sweep again",
            path.display()
        )));
    }
    let job: SweepJob = serde_json::from_slice(&bytes)
        .map_err(|e| Error::InvalidData(format!("{} is not a sweep job: {e}", path.display())))?;
    if job.index != index || job.sweep_id != manifest.sweep_id {
        return Err(Error::InvalidData(format!(
            "{} belongs to another sweep or job",
            path.display()
        )));
    }
    Ok((job, bytes))
}
