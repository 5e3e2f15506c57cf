//! `atb models verify`: every indexed version's files against their hashes, and the folders and
//! rows that have lost their other half. Reports; deletes nothing.

use super::*;
use atb_protocol::registry::{Finding, FindingKind, RegistryCheck};

/// What `verify` found; nothing is deleted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub checked: usize,
    /// Versions whose files are present and match their hashes.
    pub ok: Vec<String>,
    /// (version, what is wrong) for indexed versions with missing or altered files.
    pub damaged: Vec<(String, String)>,
    /// Folders under `models/` that no index row names (e.g. a crash before the commit).
    pub orphan_folders: Vec<String>,
    /// Index rows whose folder is gone.
    pub orphan_rows: Vec<String>,
    /// Temporary folders of registrations whose process is gone (never indexed; safe to delete).
    pub incomplete_writes: Vec<String>,
    /// Temporary folders of registrations whose process is still running, or whose process
    /// cannot be checked on this platform: possibly a registration in progress, so never
    /// called safe to delete.
    pub registrations_in_progress: Vec<String>,
    /// What SQLite's `quick_check` found wrong in the database file (empty: nothing).
    pub database_problems: Vec<String>,
    /// Finished runs kept under `recovery/` because the index could not take them; `atb models
    /// recover` registers them.
    pub awaiting_recovery: Vec<String>,
    /// Files inside version folders that are none of a version's files (left by an interrupted
    /// export or registration, or put there by hand).
    pub stray_files: Vec<String>,
}

impl VerifyReport {
    /// The report as findings, each with the fix in the desktop's words (buttons, not flags).
    pub fn check(&self) -> RegistryCheck {
        let mut findings = Vec::new();
        let mut add = |kind, subject: &str, problem: &str, fix: &str| {
            findings.push(Finding {
                kind,
                subject: subject.to_string(),
                problem: problem.to_string(),
                fix: fix.to_string(),
            })
        };
        for (version, why) in &self.damaged {
            add(
                FindingKind::Damaged,
                version,
                why,
                "Its files no longer match what was registered, so atb refuses to load it. \
                 Delete it on its Model screen and train it again (or restore the folder from a \
                 backup).",
            );
        }
        for row in &self.orphan_rows {
            add(
                FindingKind::OrphanRow,
                row,
                "the registry lists this version but its folder is gone",
                "Delete it on its Model screen: nothing of it is left to load.",
            );
        }
        for folder in &self.orphan_folders {
            add(
                FindingKind::OrphanFolder,
                folder,
                "a version folder that the registry does not list (a run killed before it was \
                 indexed)",
                "atb ignores it; delete the folder by hand if you do not need it.",
            );
        }
        for folder in &self.incomplete_writes {
            add(
                FindingKind::InterruptedRegistration,
                folder,
                "a registration interrupted while writing (its process is gone)",
                "Safe to delete; atb also clears it the next time a run starts or the app opens.",
            );
        }
        for folder in &self.registrations_in_progress {
            add(
                FindingKind::RegistrationInProgress,
                folder,
                "a registration still being written by a running process",
                "Nothing to do: leave it until that run finishes.",
            );
        }
        for problem in &self.database_problems {
            add(
                FindingKind::Database,
                "atb.sqlite",
                problem,
                "The index database is damaged: close atb, copy atb.sqlite aside and restore a \
                 backup of it; the version folders are not affected.",
            );
        }
        for file in &self.stray_files {
            let fix = if file.ends_with(layout::PENDING_FILE) {
                "Left by a registration killed just after it was indexed; the version is \
                 complete. Press Recover (or start a run) to clear it."
            } else if file.ends_with(".previous") {
                "An export was interrupted; the model.onnx in place is valid. Check the version \
                 again after exporting it once more, then delete the set-aside file."
            } else {
                "Not one of the version's files: move it out of the version folder."
            };
            add(
                FindingKind::StrayFile,
                file,
                "a file that is none of the version's files",
                fix,
            );
        }
        for run in &self.awaiting_recovery {
            add(
                FindingKind::AwaitingRecovery,
                run,
                "a finished run that is not yet registered (the registry was locked, or the \
                 registration was interrupted)",
                "Press Recover to register it.",
            );
        }
        RegistryCheck {
            checked: self.checked,
            ok: self.ok.len(),
            findings,
        }
    }
}

/// A folder at a version's depth under `models/`.
pub(super) struct VersionLevelFolder {
    pub(super) path: PathBuf,
    /// Its own name (`VERSION_ID`, or `.tmp-PID-NANOS` for a registration being written).
    pub(super) name: String,
    /// Its path relative to `ATB_HOME`, as reports show it.
    pub(super) shown: String,
}

/// Whether the process that named a temporary folder `.tmp-PID-NANOS` still runs: `None` when
/// the name has no process id or the platform has no `/proc` to ask.
fn writer_alive(folder_name: &str) -> Option<bool> {
    process_alive(folder_name.strip_prefix(".tmp-")?)
}

/// Whether the process whose id starts `pid_and_rest` (`PID-...`) still runs; `None` as for
/// [`writer_alive`].
fn process_alive(pid_and_rest: &str) -> Option<bool> {
    let pid: u32 = pid_and_rest.split('-').next()?.parse().ok()?;
    let proc = Path::new("/proc");
    proc.join("self")
        .exists()
        .then(|| proc.join(pid.to_string()).exists())
}

/// What [`Registry::clear_interrupted`] put right.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cleared {
    /// Temporary folders of dead registrations that held no finished run (deleted).
    pub removed: Vec<String>,
    /// Temporary folders of dead registrations that held a finished run (moved to `recovery/`).
    pub kept_for_recovery: Vec<String>,
    /// Versions whose recorded `model.onnx` was put back after an interrupted re-export.
    pub restored_exports: Vec<String>,
}

impl Registry {
    /// Puts right what killed registrations and re-exports left, without touching anything a
    /// live process may still be writing:
    /// - a temporary folder of a dead process holding a valid `pending.json` (a run killed after
    ///   staging, or while recovery waited for the lock) is moved to `recovery/`; one without is
    ///   a half-written folder and is deleted;
    /// - a `pending.json` left in an indexed version (killed just after the commit) is removed;
    /// - an interrupted re-export is settled: the recorded `model.onnx` is put back from
    ///   `model.onnx.previous` when the file in place is not it, and the set-aside copy is
    ///   removed when it is.
    ///
    /// Run when a training starts, when the app opens and by `recover`.
    pub fn clear_interrupted(&self) -> Result<Cleared> {
        let mut cleared = Cleared::default();
        let indexed = layout::indexed_folders(&self.conn, &self.home).map_err(|e| self.err(e))?;
        for folder in self.version_level_folders() {
            if folder.name.starts_with(".tmp-") {
                if writer_alive(&folder.name) != Some(false) {
                    continue;
                }
                if layout::read_pending(&folder.path).is_ok() {
                    let parent = self.home.join(RECOVERY_DIR);
                    std::fs::create_dir_all(&parent).map_err(io(&parent))?;
                    let to = parent.join(folder.name.trim_start_matches(".tmp-"));
                    std::fs::rename(&folder.path, &to).map_err(io(&to))?;
                    self.sync_moved(&to, &folder.path)?;
                    cleared.kept_for_recovery.push(self.shown(&to));
                } else {
                    std::fs::remove_dir_all(&folder.path).map_err(io(&folder.path))?;
                    cleared.removed.push(folder.shown);
                }
            } else if indexed.contains(&folder.path) {
                let pending = folder.path.join(layout::PENDING_FILE);
                if pending.is_file() {
                    std::fs::remove_file(&pending).map_err(io(&pending))?;
                }
                // An export's staged file whose process is gone (killed before its rename).
                for entry in std::fs::read_dir(&folder.path)
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if name
                        .strip_prefix(exports::STAGED_ONNX_PREFIX)
                        .and_then(process_alive)
                        == Some(false)
                    {
                        std::fs::remove_file(entry.path()).map_err(io(&entry.path()))?;
                    }
                }
                if folder.path.join(exports::PREVIOUS_ONNX_FILE).is_file()
                    && let Some(version) = self.settle_interrupted_export(&folder.path)?
                {
                    cleared.restored_exports.push(version);
                }
            }
        }
        Ok(cleared)
    }

    /// Every folder at the depth of a version (`models/SYMBOL/TIMEFRAME/ARCHITECTURE/*`),
    /// versions and temporary folders alike, in order.
    pub(super) fn version_level_folders(&self) -> Vec<VersionLevelFolder> {
        let models = self.home.join("models");
        read_dirs(&models)
            .iter()
            .flat_map(|symbol| read_dirs(symbol))
            .flat_map(|timeframe| read_dirs(&timeframe))
            .flat_map(|architecture| read_dirs(&architecture))
            .map(|path| VersionLevelFolder {
                name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                shown: path
                    .strip_prefix(&self.home)
                    .unwrap_or(&path)
                    .display()
                    .to_string(),
                path,
            })
            .collect()
    }

    /// Checks every version's files and hashes and finds orphans; deletes nothing.
    /// What keeps an ensemble from loading: a member no longer registered, or one whose weights
    /// are not the ones the ensemble was made of (`None` for other models).
    fn ensemble_problem(&self, row: &ModelRow, rows: &[ModelRow]) -> Option<String> {
        let recipe = match self.ensemble_recipe(row) {
            Ok(recipe) => recipe?,
            Err(e) => return Some(e.to_string()),
        };
        recipe.members.iter().find_map(|m| {
            match rows.iter().find(|r| r.version_id == m.version_id) {
                None => Some(format!("its member {} is not registered", m.version_id)),
                Some(r) if r.weights_sha256 != m.weights_sha256 => Some(format!(
                    "its member {} holds other weights than it was made of",
                    m.version_id
                )),
                Some(_) => None,
            }
        })
    }

    pub fn verify(&self) -> Result<VerifyReport> {
        let rows = self.list(None)?;
        let mut report = VerifyReport {
            checked: rows.len(),
            ..VerifyReport::default()
        };
        let mut check = self
            .conn
            .prepare("PRAGMA quick_check")
            .map_err(|e| self.err(e))?;
        report.database_problems = check
            .query_map([], |r| r.get::<_, String>(0))
            .and_then(|lines| lines.collect::<rusqlite::Result<Vec<String>>>())
            .map_err(|e| self.err(e))?
            .into_iter()
            .filter(|line| line != "ok")
            .collect();
        for row in &rows {
            let dir = self.folder(row);
            if !dir.is_dir() {
                report.orphan_rows.push(row.version_id.clone());
                continue;
            }
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if ![
                    weights_file(row.architecture),
                    layout::METADATA_FILE,
                    SCHEMA_FILE,
                    exports::ONNX_FILE,
                ]
                .contains(&name.as_str())
                {
                    report.stray_files.push(format!("{}/{name}", row.folder));
                }
            }
            let problem = match std::fs::read(dir.join(weights_file(row.architecture))) {
                Err(e) => Some(format!("weights unreadable: {e}")),
                Ok(bytes) if sha256_hex(&bytes) != row.weights_sha256 => {
                    Some("weights hash mismatch".into())
                }
                Ok(_) => match self.metadata(row) {
                    Err(e) => Some(e.to_string()),
                    Ok(m) if m.weights_sha256 != row.weights_sha256 => {
                        Some("metadata names other weights".into())
                    }
                    Ok(_) if !dir.join(SCHEMA_FILE).is_file() => {
                        Some("feature_schema.json missing".into())
                    }
                    Ok(_) => match self.schema(row) {
                        Err(e) => Some(e.to_string()),
                        Ok(_) => self.onnx_problem(row)?,
                    },
                },
            };
            let problem = problem.or_else(|| self.ensemble_problem(row, &rows));
            match problem {
                Some(p) => report.damaged.push((row.version_id.clone(), p)),
                None => report.ok.push(row.version_id.clone()),
            }
        }
        report.awaiting_recovery = read_dirs(&self.home.join(RECOVERY_DIR))
            .iter()
            .map(|p| self.shown(p))
            .collect();
        let mut unindexed = Vec::new();
        for folder in self.version_level_folders() {
            let finished_run = layout::read_pending(&folder.path).is_ok();
            if folder.name.starts_with(".tmp-") {
                match writer_alive(&folder.name) {
                    Some(false) if finished_run => report.awaiting_recovery.push(folder.shown),
                    Some(false) => report.incomplete_writes.push(folder.shown),
                    _ => report.registrations_in_progress.push(folder.shown),
                }
            } else {
                unindexed.push((folder, finished_run));
            }
        }
        // The folders are read after the rows (and after hashing every version): a version
        // registered in between is not an orphan, so the index is asked again about the folders
        // it did not name the first time.
        let indexed = layout::indexed_folders(&self.conn, &self.home).map_err(|e| self.err(e))?;
        for (folder, finished_run) in unindexed {
            if indexed.contains(&folder.path) {
                continue;
            }
            if finished_run {
                report.awaiting_recovery.push(folder.shown);
            } else {
                report.orphan_folders.push(folder.shown);
            }
        }
        Ok(report)
    }
}
