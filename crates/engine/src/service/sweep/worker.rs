//! `atb worker run`: one job of a planned sweep, trained from its snapshot alone in a private
//! temporary home, evaluated like any run, and written as a self-contained bundle
//! (`job-NNNNNN/`: the version folder, the job file, `bundle.json` with every file's SHA-256).
//! The bundle appears by one rename, so a killed worker leaves none; a bundle already there is
//! left alone. A failure writes its reason beside where the bundle would be.

use std::path::{Path, PathBuf};

use atb_protocol::sweep::{
    BUNDLE_MANIFEST_FILE, BundleFile, BundleManifest, SWEEP_TAG, bundle_dir_name, failure_file_name,
};
use atb_protocol::training::TrainingEvent;

use super::plan::job_series;
use super::{read_job, read_manifest};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::fsutil::{io, sha256_hex, write_atomic};
use crate::market::csv::read_csv_file;
use crate::service::train::{TrainOptions, TrainResult, train_and_register};
use crate::settings::Settings;

/// What a worker did.
#[derive(Debug)]
pub struct WorkerRun {
    pub bundle: PathBuf,
    pub version_id: String,
    /// The bundle was already there and verified: nothing was trained.
    pub already_done: bool,
}

/// Why a job did not produce a bundle, and whether running it again may help.
#[derive(Debug)]
pub struct WorkerFailure {
    pub reason: String,
    /// A fault of the moment (I/O, a busy database, a cancelled run): exit 75, retry.
    pub temporary: bool,
}

impl std::fmt::Display for WorkerFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// Errors that say nothing about the job itself: the disk, the network file system, a lock.
fn is_temporary(e: &Error) -> bool {
    matches!(
        e,
        Error::Io { .. }
            | Error::Store { .. }
            | Error::RegistrationDeferred { .. }
            | Error::Busy { .. }
            | Error::Cancelled
    )
}

/// Runs job `index` of the sweep in `sweep_dir` into `out`; on failure writes
/// `job-NNNNNN.failed.txt` there with the reason (removed again by a later success).
pub fn run_job(
    sweep_dir: &Path,
    index: usize,
    out: &Path,
    on_event: &mut dyn FnMut(TrainingEvent),
    cancel: &CancelToken,
) -> std::result::Result<WorkerRun, WorkerFailure> {
    let failure_path = out.join(failure_file_name(index));
    match run(sweep_dir, index, out, on_event, cancel) {
        Ok(run) => {
            let _ = std::fs::remove_file(&failure_path);
            Ok(run)
        }
        Err(e) => {
            let failure = WorkerFailure {
                temporary: is_temporary(&e),
                reason: e.to_string(),
            };
            let kind = if failure.temporary {
                "temporary"
            } else {
                "failed"
            };
            let text = format!("{kind}: {}\n", failure.reason);
            if std::fs::create_dir_all(out).is_ok() {
                let _ = write_atomic(&failure_path, text.as_bytes());
            }
            Err(failure)
        }
    }
}

fn run(
    sweep_dir: &Path,
    index: usize,
    out: &Path,
    on_event: &mut dyn FnMut(TrainingEvent),
    cancel: &CancelToken,
) -> Result<WorkerRun> {
    let manifest = read_manifest(sweep_dir)?;
    let (job, job_bytes) = read_job(sweep_dir, &manifest, index)?;
    let bundle = out.join(bundle_dir_name(index));
    if bundle.join(BUNDLE_MANIFEST_FILE).exists() {
        let found = verify_bundle(&bundle).map_err(|e| {
            Error::InvalidData(format!(
                "{e}; a bundle that does not verify is never overwritten: move it away to run the job again"
            ))
        })?;
        if found.job_sha256 != sha256_hex(&job_bytes) {
            return Err(Error::InvalidData(format!(
                "{} holds a bundle of another job; move it away to run this one",
                bundle.display()
            )));
        }
        return Ok(WorkerRun {
            bundle,
            version_id: found.version_id,
            already_done: true,
        });
    }
    if job.atb_version != env!("CARGO_PKG_VERSION") {
        return Err(Error::InvalidRequest(format!(
            "job {index} was planned by atb {} and this worker is atb {}; run the same atb on the cluster as planned it",
            job.atb_version,
            env!("CARGO_PKG_VERSION")
        )));
    }
    let read_snapshot = |file: &str, sha: &str| -> Result<Vec<crate::candles::Candle>> {
        let path = sweep_dir.join(file);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        if sha256_hex(&bytes) != sha {
            return Err(Error::InvalidData(format!(
                "{} differs from the snapshot the job pins (SHA-256 mismatch)",
                path.display()
            )));
        }
        read_csv_file(&path, job.series.timeframe)
    };
    let candles = read_snapshot(&job.candles.file, &job.candles.sha256)?;
    let context = match (&job.context, &job.spec.context) {
        (Some(snap), Some(symbol)) => {
            Some((symbol.clone(), read_snapshot(&snap.file, &snap.sha256)?))
        }
        _ => None,
    };
    let series = job_series(
        &job.series,
        &candles,
        context.as_ref().map(|(s, rows)| (s, rows.as_slice())),
        job.fold.as_ref(),
    );
    let data_sha256 = crate::training::candles_sha256(&series, job.spec.feature_set);
    if data_sha256 != job.data_sha256 {
        return Err(Error::InvalidData(format!(
            "the snapshot reads back to other candles than were planned (data SHA-256 {data_sha256}, planned {})",
            job.data_sha256
        )));
    }
    let spec = crate::training::check_spec(job.spec.clone())?;
    std::fs::create_dir_all(out).map_err(io(out))?;
    // A private home inside the results folder: its candle store and registry are this job's
    // alone, and the rename of the finished bundle stays on one file system.
    let home = tempfile::Builder::new()
        .prefix(&format!(".work-{index:06}-"))
        .tempdir_in(out)
        .map_err(io(out))?;
    let settings = Settings::resolve(home.path().to_path_buf(), None)?;
    let options = TrainOptions {
        tag: Some(SWEEP_TAG.into()),
        set_latest: false,
        id_suffix: Some(format!(
            "sweep-{}-{index}",
            atb_protocol::sweep::short_id(&manifest.sweep_id, 8)
        )),
    };
    let (row, train_seconds) =
        match train_and_register(&settings, &series, &spec, &options, on_event, cancel)? {
            TrainResult::Registered { row, outcome } => (row, outcome.train_seconds),
            TrainResult::Cancelled { .. } => return Err(Error::Cancelled),
        };
    // The bundle, staged beside its final name and renamed into place whole.
    let staging = home.path().join("bundle");
    let version = staging.join("version");
    std::fs::create_dir_all(&version).map_err(io(&version))?;
    let registered = settings.home.join(&row.folder);
    for entry in std::fs::read_dir(&registered).map_err(io(&registered))? {
        let entry = entry.map_err(io(&registered))?;
        let name = entry.file_name();
        std::fs::copy(entry.path(), version.join(&name)).map_err(io(&version))?;
    }
    write_atomic(&staging.join("job.json"), &job_bytes)?;
    let manifest = BundleManifest {
        sweep_id: manifest.sweep_id.clone(),
        job_index: index,
        job_sha256: sha256_hex(&job_bytes),
        atb_version: env!("CARGO_PKG_VERSION").into(),
        version_id: row.version_id.clone(),
        files: hash_files(&staging)?,
        train_seconds,
    };
    let bytes = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| Error::InvalidData(format!("cannot serialise the bundle manifest: {e}")))?;
    write_atomic(&staging.join(BUNDLE_MANIFEST_FILE), &bytes)?;
    std::fs::rename(&staging, &bundle).map_err(io(&bundle))?;
    crate::fsutil::sync_dir(out)?;
    Ok(WorkerRun {
        bundle,
        version_id: row.version_id.clone(),
        already_done: false,
    })
}

/// Every file under `dir` (relative paths, sorted), with its SHA-256 and size.
fn hash_files(dir: &Path) -> Result<Vec<BundleFile>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(io(&d))? {
            let path = entry.map_err(io(&d))?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            let relative = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            if relative == BUNDLE_MANIFEST_FILE {
                continue;
            }
            out.push(BundleFile {
                path: relative,
                sha256: sha256_hex(&bytes),
                bytes: bytes.len() as u64,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Reads a bundle's manifest and checks every file against it: present, the same size and
/// SHA-256, no file more; the version's metadata names the manifest's version id.
pub fn verify_bundle(bundle: &Path) -> Result<BundleManifest> {
    let path = bundle.join(BUNDLE_MANIFEST_FILE);
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    let manifest: BundleManifest = serde_json::from_slice(&bytes).map_err(|e| {
        Error::InvalidData(format!("{} is not a bundle manifest: {e}", path.display()))
    })?;
    let found = hash_files(bundle)?;
    for file in &manifest.files {
        if file.path.contains("..") || file.path.starts_with('/') {
            return Err(Error::InvalidData(format!(
                "{} names a file outside the bundle ({})",
                path.display(),
                file.path
            )));
        }
        match found.iter().find(|f| f.path == file.path) {
            None => {
                return Err(Error::InvalidData(format!(
                    "bundle {} lacks {}",
                    bundle.display(),
                    file.path
                )));
            }
            Some(f) if f.sha256 != file.sha256 || f.bytes != file.bytes => {
                return Err(Error::InvalidData(format!(
                    "bundle {}: {} differs from its manifest (SHA-256 mismatch)",
                    bundle.display(),
                    file.path
                )));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = found
        .iter()
        .find(|f| !manifest.files.iter().any(|m| m.path == f.path))
    {
        return Err(Error::InvalidData(format!(
            "bundle {} holds {}, which its manifest does not name",
            bundle.display(),
            extra.path
        )));
    }
    if !manifest
        .files
        .iter()
        .any(|f| f.path == "job.json" && f.sha256 == manifest.job_sha256)
    {
        return Err(Error::InvalidData(format!(
            "bundle {}: its job.json is not the job its manifest names",
            bundle.display()
        )));
    }
    let metadata_path = bundle.join("version").join(crate::registry::METADATA_FILE);
    let metadata: crate::registry::metadata::ModelMetadata =
        serde_json::from_slice(&std::fs::read(&metadata_path).map_err(io(&metadata_path))?)
            .map_err(|e| {
                Error::InvalidData(format!(
                    "{} is not a version's metadata: {e}",
                    metadata_path.display()
                ))
            })?;
    if metadata.version_id != manifest.version_id {
        return Err(Error::InvalidData(format!(
            "bundle {} names version {} and holds version {}",
            bundle.display(),
            manifest.version_id,
            metadata.version_id
        )));
    }
    Ok(manifest)
}
