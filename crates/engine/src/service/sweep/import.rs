//! `atb models import`: bundles come home. Each bundle's files are checked against its
//! manifest, its job against the sweep's manifest (the job file's SHA-256 and the atb version
//! that planned and ran it), and its version registered under its original id. Each bundle is
//! handled on its own: a corrupt one is refused and named while the others import; importing
//! again finds them there.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use atb_protocol::sweep::{
    BUNDLE_MANIFEST_FILE, ImportRefusal, ImportReport, SWEEP_MANIFEST_FILE, SweepManifest, short_id,
};

use super::read_manifest;
use super::worker::verify_bundle;
use crate::error::{Error, Result};
use crate::registry::{Imported, Registry};
use crate::settings::Settings;

/// The bundles a given path means: itself when it is one, else the bundles directly inside it
/// (a sweep folder means its default results folder).
fn bundles_in(path: &Path) -> Result<Vec<PathBuf>> {
    if path.join(BUNDLE_MANIFEST_FILE).exists() {
        return Ok(vec![path.to_path_buf()]);
    }
    if path.join(SWEEP_MANIFEST_FILE).exists() {
        return bundles_in(&super::default_results(path));
    }
    let entries = std::fs::read_dir(path).map_err(|e| {
        Error::InvalidRequest(format!(
            "{} is neither a bundle nor a results folder: {e}",
            path.display()
        ))
    })?;
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join(BUNDLE_MANIFEST_FILE).exists())
        .collect();
    out.sort();
    Ok(out)
}

/// The sweep folder a bundle's job is checked against: `sweep` when given, else the first of
/// the results folder's parent and the results folder itself that holds a `sweep.json`.
fn sweep_dir_for(bundle: &Path, sweep: Option<&Path>) -> Option<PathBuf> {
    if let Some(s) = sweep {
        return Some(s.to_path_buf());
    }
    let results = bundle.parent()?;
    [results.parent(), Some(results)]
        .into_iter()
        .flatten()
        .find(|d| d.join(SWEEP_MANIFEST_FILE).exists())
        .map(Path::to_path_buf)
}

/// Imports every bundle in `paths` (bundles or results folders) into the registry.
pub fn import(
    settings: &Settings,
    paths: &[PathBuf],
    sweep: Option<&Path>,
) -> Result<ImportReport> {
    if paths.is_empty() {
        return Err(Error::InvalidRequest(
            "name at least one results folder or bundle".into(),
        ));
    }
    let mut registry = Registry::open(settings)?;
    registry.clear_interrupted()?;
    let mut report = ImportReport::default();
    // Each sweep's manifest read once, however many of its bundles are imported.
    let mut manifests = HashMap::new();
    for path in paths {
        let bundles = match bundles_in(path) {
            Ok(b) if b.is_empty() => {
                report.refused.push(ImportRefusal {
                    bundle: path.display().to_string(),
                    reason: "holds no bundles (folders with a bundle.json)".into(),
                });
                continue;
            }
            Ok(b) => b,
            Err(e) => {
                report.refused.push(ImportRefusal {
                    bundle: path.display().to_string(),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        for bundle in bundles {
            match import_one(&mut registry, &mut manifests, &bundle, sweep) {
                Ok(Imported::New(row)) => report.imported.push(row),
                Ok(Imported::AlreadyPresent(row)) => report.already_present.push(row.version_id),
                Err(e) => report.refused.push(ImportRefusal {
                    bundle: bundle.display().to_string(),
                    reason: e.to_string(),
                }),
            }
        }
    }
    Ok(report)
}

fn import_one(
    registry: &mut Registry,
    manifests: &mut HashMap<PathBuf, SweepManifest>,
    bundle: &Path,
    sweep: Option<&Path>,
) -> Result<Imported> {
    let manifest = verify_bundle(bundle)?;
    let Some(sweep_dir) = sweep_dir_for(bundle, sweep) else {
        return Err(Error::InvalidRequest(
            "no sweep manifest found for it (looked beside and above its results folder); name the sweep folder `atb sweep plan` wrote with --sweep DIR".into(),
        ));
    };
    if !manifests.contains_key(&sweep_dir) {
        let read = read_manifest(&sweep_dir)?;
        manifests.insert(sweep_dir.clone(), read);
    }
    let sweep = &manifests[&sweep_dir];
    if sweep.sweep_id != manifest.sweep_id {
        return Err(Error::InvalidData(format!(
            "it belongs to sweep {}, not to the sweep in {} ({})",
            short_id(&manifest.sweep_id, 12),
            sweep_dir.display(),
            short_id(&sweep.sweep_id, 12)
        )));
    }
    let Some(entry) = sweep.jobs.iter().find(|j| j.index == manifest.job_index) else {
        return Err(Error::InvalidData(format!(
            "it names job {}, which the sweep does not have",
            manifest.job_index
        )));
    };
    if entry.sha256 != manifest.job_sha256 {
        return Err(Error::InvalidData(format!(
            "its job {} differs from the one the sweep's manifest pins (SHA-256 mismatch)",
            manifest.job_index
        )));
    }
    if manifest.atb_version != sweep.atb_version {
        return Err(Error::InvalidData(format!(
            "it was trained by atb {} and the sweep planned by atb {}",
            manifest.atb_version, sweep.atb_version
        )));
    }
    registry.import_version(&bundle.join("version"))
}
