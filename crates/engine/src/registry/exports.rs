//! A version's `model.onnx`: installed into the version folder together with its index row
//! (under the write lock, file renamed into place before the commit), looked up, and loaded for
//! inference with its hash checked.

use std::path::{Path, PathBuf};

use atb_protocol::registry::{ModelRow, OnnxExport, PARITY_TOLERANCE};
use atb_protocol::rpc::Remedy;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::metadata::FeatureSchema;
use super::{Registry, SCHEMA_FILE, db_err};
use crate::error::{Error, Result};
use crate::fsutil::{io, sha256_hex, sync_dir};

pub const ONNX_FILE: &str = "model.onnx";
/// How an export's file being checked is named in the version folder (`PREFIX{pid}-{n}`).
pub const STAGED_ONNX_PREFIX: &str = ".model.onnx.staged-";
/// The recorded export, kept beside the new one while a re-export commits.
pub const PREVIOUS_ONNX_FILE: &str = "model.onnx.previous";

impl Registry {
    /// Path of a version's `model.onnx` (present only once exported).
    pub fn onnx_path(&self, row: &ModelRow) -> PathBuf {
        self.folder(row).join(ONNX_FILE)
    }

    /// Moves the checked file `staged` to the version's `model.onnx` and records `export`, both
    /// or neither: the rename happens inside the transaction, and is undone (the previous export
    /// restored) if the commit fails.
    pub fn install_onnx(&mut self, staged: &Path, export: &OnnxExport) -> Result<()> {
        let row = self.row(&export.version_id)?;
        let target = self.onnx_path(&row);
        let db_path = self.db_path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err(&db_path))?;
        tx.execute(
            "INSERT INTO onnx_exports (version_id, exported_at, sha256, bytes, opset, max_abs_diff,
                windows, runtime, atb_version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (version_id) DO UPDATE SET exported_at = excluded.exported_at,
                sha256 = excluded.sha256, bytes = excluded.bytes, opset = excluded.opset,
                max_abs_diff = excluded.max_abs_diff, windows = excluded.windows,
                runtime = excluded.runtime, atb_version = excluded.atb_version",
            params![
                export.version_id,
                export.exported_at,
                export.sha256,
                export.bytes as i64,
                export.opset,
                export.max_abs_diff,
                export.windows as i64,
                export.runtime,
                export.atb_version,
            ],
        )
        .map_err(db_err(&db_path))?;
        // The recorded export is copied aside (a second name for the same file), and the new
        // one then replaces `model.onnx` in one rename: at every instant `model.onnx` is a whole,
        // checked export, and the recorded one survives under `.previous` until the commit.
        let folder = target.parent().unwrap_or(Path::new(".")).to_path_buf();
        let previous = folder.join(PREVIOUS_ONNX_FILE);
        let had_previous = target.is_file();
        if had_previous {
            set_aside(&target, &previous)?;
        }
        super::crash_point("after-onnx-aside");
        if let Err(e) = std::fs::rename(staged, &target) {
            if had_previous {
                let _ = std::fs::remove_file(&previous);
            }
            return Err(Error::io(&target, e));
        }
        if self.durable {
            sync_dir(&folder)?;
        }
        super::crash_point("after-onnx-rename");
        if let Err(e) = tx.commit() {
            if had_previous {
                let _ = std::fs::rename(&previous, &target);
            } else {
                let _ = std::fs::remove_file(&target);
            }
            return Err(db_err(&db_path)(e));
        }
        if had_previous {
            let _ = std::fs::remove_file(&previous);
        }
        Ok(())
    }

    /// Settles a re-export killed between its rename and its commit (the folder holds
    /// `model.onnx.previous`): when `model.onnx` is not the recorded file and the set-aside copy
    /// is, the copy is renamed back; when `model.onnx` is the recorded file, the copy is
    /// removed. Returns the version whose export was put back. Anything else is left for
    /// `verify` to report.
    pub(super) fn settle_interrupted_export(&self, folder: &Path) -> Result<Option<String>> {
        let Some(row) = self
            .list(None)?
            .into_iter()
            .find(|r| self.folder(r) == folder)
        else {
            return Ok(None);
        };
        let Some(export) = self.onnx_export(&row)? else {
            return Ok(None);
        };
        let target = folder.join(ONNX_FILE);
        let previous = folder.join(PREVIOUS_ONNX_FILE);
        let is_recorded =
            |p: &Path| std::fs::read(p).is_ok_and(|b| sha256_hex(&b) == export.sha256);
        if is_recorded(&target) {
            std::fs::remove_file(&previous).map_err(io(&previous))?;
            return Ok(None);
        }
        if !is_recorded(&previous) {
            return Ok(None);
        }
        std::fs::rename(&previous, &target).map_err(io(&target))?;
        if self.durable {
            sync_dir(folder)?;
        }
        Ok(Some(row.version_id))
    }

    /// The recorded export of a version, if any.
    pub fn onnx_export(&self, row: &ModelRow) -> Result<Option<OnnxExport>> {
        self.conn
            .query_row(
                "SELECT exported_at, sha256, bytes, opset, max_abs_diff, windows, runtime, atb_version
                 FROM onnx_exports WHERE version_id = ?1",
                [&row.version_id],
                |r| {
                    Ok(OnnxExport {
                        version_id: row.version_id.clone(),
                        exported_at: r.get(0)?,
                        file: format!("{}/{ONNX_FILE}", row.folder),
                        sha256: r.get(1)?,
                        bytes: r.get::<_, i64>(2)? as u64,
                        opset: r.get(3)?,
                        max_abs_diff: r.get(4)?,
                        tolerance: PARITY_TOLERANCE,
                        windows: r.get::<_, i64>(5)? as usize,
                        runtime: r.get(6)?,
                        atb_version: r.get(7)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The feature schema of a version, read from its folder.
    pub fn schema(&self, row: &ModelRow) -> Result<FeatureSchema> {
        let (path, bytes) = self.read_recorded(row, SCHEMA_FILE)?;
        let schema: FeatureSchema =
            serde_json::from_slice(&bytes).map_err(|e| Error::CorruptVersion {
                version: row.version_id.clone(),
                reason: format!("{} is not a valid feature schema: {e}", path.display()),
            })?;
        match schema.problem() {
            Some(problem) => Err(Error::CorruptVersion {
                version: row.version_id.clone(),
                reason: format!("{} is damaged: {problem}", path.display()),
            }),
            None => Ok(schema),
        }
    }

    /// A version's exported `model.onnx`, refusing a file that is missing, altered, or not the one
    /// recorded.
    pub(crate) fn onnx_bytes(&self, reference: &str) -> Result<(ModelRow, OnnxExport, Vec<u8>)> {
        let row = self.resolve(reference)?;
        let export = self.onnx_export(&row)?.ok_or_else(|| {
            Error::InvalidRequest(format!("{} has no ONNX export yet", row.version_id)).with_remedy(
                Remedy::ExportOnnx {
                    version: row.version_id.clone(),
                },
            )
        })?;
        let path = self.onnx_path(&row);
        let bytes = std::fs::read(&path).map_err(|e| Error::CorruptVersion {
            version: row.version_id.clone(),
            reason: format!("cannot read {}: {e}", path.display()),
        })?;
        let actual = sha256_hex(&bytes);
        if actual != export.sha256 {
            return Err(Error::CorruptVersion {
                version: row.version_id.clone(),
                reason: format!(
                    "{} has SHA-256 {actual}, but the registry recorded {}: the file was modified; export it again",
                    path.display(),
                    export.sha256
                ),
            });
        }
        Ok((row, export, bytes))
    }

    /// What is wrong with a version's ONNX file, if anything (for `verify`).
    pub(super) fn onnx_problem(&self, row: &ModelRow) -> Result<Option<String>> {
        let path = self.onnx_path(row);
        Ok(match (self.onnx_export(row)?, path.is_file()) {
            (None, false) => None,
            (None, true) => Some(format!(
                "{ONNX_FILE} is not recorded (an interrupted export?): export it again"
            )),
            (Some(_), false) if path.with_file_name(PREVIOUS_ONNX_FILE).is_file() => Some(format!(
                "{ONNX_FILE} is missing but {PREVIOUS_ONNX_FILE} is beside it (an interrupted \
                 re-export); Recover puts it back"
            )),
            (Some(_), false) => Some(format!("{ONNX_FILE} recorded but missing")),
            (Some(e), true) => match std::fs::read(&path) {
                Err(err) => Some(format!("{ONNX_FILE} unreadable: {err}")),
                Ok(bytes) if sha256_hex(&bytes) != e.sha256 => {
                    // A re-export killed between its swap and its commit leaves the recorded
                    // file set aside beside the new one.
                    let previous = path.with_file_name(PREVIOUS_ONNX_FILE);
                    let recorded_aside =
                        std::fs::read(&previous).is_ok_and(|b| sha256_hex(&b) == e.sha256);
                    Some(if recorded_aside {
                        format!(
                            "a re-export was interrupted: {} is the recorded export; recovering puts it back",
                            previous.display()
                        )
                    } else {
                        format!("{ONNX_FILE} hash mismatch")
                    })
                }
                Ok(_) => None,
            },
        })
    }
}

/// A second name for the recorded export: a hard link where the filesystem has them, else a
/// synced copy.
fn set_aside(target: &Path, previous: &Path) -> Result<()> {
    let _ = std::fs::remove_file(previous);
    if std::fs::hard_link(target, previous).is_ok() {
        return Ok(());
    }
    let bytes = std::fs::read(target).map_err(io(target))?;
    crate::fsutil::write_atomic(previous, &bytes)
}
