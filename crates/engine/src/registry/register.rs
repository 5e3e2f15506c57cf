//! Registering a finished run: staged into a temporary folder with its `pending.json`, renamed
//! into place, and only then indexed; a run that cannot be indexed is kept for recovery, and
//! recovery registers what was kept.

use super::layout::*;
use super::*;

impl Registry {
    /// Registers a finished run. `set_latest` moves the series' `latest` alias (benchmarks
    /// register with a tag and leave it alone). Refuses cancelled runs.
    pub fn register(
        &mut self,
        outcome: &TrainOutcome,
        tag: Option<&str>,
        set_latest: bool,
    ) -> Result<ModelRow> {
        let evaluation = outcome.evaluation.clone().ok_or_else(|| {
            Error::InvalidRequest("a cancelled run has no evaluation and is not registered".into())
        })?;
        let symbol = outcome.dataset.symbol.clone();
        let timeframe = outcome.dataset.timeframe;
        let architecture = outcome.params.architecture.to_string();
        let series_dir = self
            .home
            .join("models")
            .join(symbol.as_str())
            .join(timeframe.as_str())
            .join(&architecture);
        std::fs::create_dir_all(&series_dir).map_err(io(&series_dir))?;

        // 1. Everything into a private temporary folder.
        let created = Utc::now();
        let tmp = series_dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            created.timestamp_nanos_opt().unwrap_or(0)
        ));
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        let staged = match stage(outcome, evaluation, tag, created, set_latest, &tmp) {
            Ok(staged) => staged,
            Err(e) => {
                // Nothing recoverable was written (no `pending.json` yet).
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        crash_point("after-weights");
        // 2. Indexed under the write lock. A finished run is not thrown away because the index
        // could not take it: it is kept under `recovery/` for `atb models recover`.
        match self.index_staged(&tmp, &series_dir, staged.clone(), set_latest) {
            Ok(row) => Ok(row),
            Err(e) => Err(self.keep_for_recovery(&tmp, e)),
        }
    }

    /// Moves a staged folder (its `pending.json` already written) that could not be indexed to
    /// `recovery/`, and returns the error that says where it is. If even the move fails the
    /// folder stays where it is: it holds `pending.json`, so it is never deleted as a leftover,
    /// and the next start moves it to `recovery/` once this process is gone.
    pub(super) fn keep_for_recovery(&self, tmp: &Path, cause: Error) -> Error {
        let parent = self.home.join(RECOVERY_DIR);
        let dir = parent.join(
            tmp.file_name()
                .map(|n| n.to_string_lossy().trim_start_matches(".tmp-").to_string())
                .unwrap_or_default(),
        );
        let moved = std::fs::create_dir_all(&parent)
            .map_err(io(&parent))
            .and_then(|()| std::fs::rename(tmp, &dir).map_err(io(&dir)))
            .and_then(|()| self.sync_moved(&dir, tmp));
        Error::RegistrationDeferred {
            folder: if moved.is_ok() {
                dir
            } else {
                tmp.to_path_buf()
            },
            cause: match moved {
                Ok(()) => cause.to_string(),
                Err(e) => format!(
                    "{cause}; moving it to {} also failed: {e}",
                    parent.display()
                ),
            },
        }
    }

    /// Makes a folder's move durable: its own entries, its new parent and its old parent.
    pub(super) fn sync_moved(&self, moved_to: &Path, moved_from: &Path) -> Result<()> {
        if !self.durable {
            return Ok(());
        }
        sync_dir(moved_to)?;
        for parent in [moved_to.parent(), moved_from.parent()]
            .into_iter()
            .flatten()
        {
            sync_dir(parent)?;
        }
        sync_dir(&self.home)
    }

    /// Registers the finished runs kept under `recovery/`, oldest first, after putting right
    /// what an interrupted registration or re-export left (see [`Registry::clear_interrupted`])
    /// and adopting version folders killed between their rename and their commit. Each folder is
    /// handled on its own: one that cannot be registered is left in place and reported with the
    /// reason, and the others are still registered.
    pub fn recover(&mut self) -> Result<RecoveryReport> {
        let cleared = self.clear_interrupted()?;
        let mut report = RecoveryReport {
            restored_exports: cleared.restored_exports,
            ..RecoveryReport::default()
        };
        if let Err(e) = self.adopt_unindexed_versions() {
            report.failed.push(RecoveryFailure {
                folder: "models".into(),
                reason: format!("version folders without an index row were not checked: {e}"),
            });
        }
        for dir in read_dirs(&self.home.join(RECOVERY_DIR)) {
            match self.recover_one(&dir) {
                Ok(row) => report.registered.push(row),
                Err(e) => report.failed.push(RecoveryFailure {
                    folder: self.shown(&dir),
                    reason: e.to_string(),
                }),
            }
        }
        Ok(report)
    }

    /// Registers one folder of `recovery/`; on any error before the move the folder is left
    /// untouched, and after it the run is back under `recovery/` (or, failing that, in its
    /// series folder with its `pending.json`).
    pub(super) fn recover_one(&mut self, dir: &Path) -> Result<ModelRow> {
        let pending = read_pending(dir)?;
        let weights_path = dir.join(weights_file(
            pending.metadata.training_params.spec.architecture,
        ));
        let weights = std::fs::read(&weights_path).map_err(io(&weights_path))?;
        let schema_path = dir.join(SCHEMA_FILE);
        let schema = std::fs::read(&schema_path).map_err(io(&schema_path))?;
        if sha256_hex(&weights) != pending.metadata.weights_sha256
            || sha256_hex(&schema) != pending.schema_sha256
        {
            return Err(Error::InvalidData(format!(
                "{} holds files that differ from the ones its run wrote; it was not registered",
                dir.display()
            )));
        }
        let m = &pending.metadata;
        let series_dir = self
            .home
            .join("models")
            .join(m.symbol.as_str())
            .join(m.timeframe.as_str())
            .join(m.training_params.spec.architecture.as_str());
        std::fs::create_dir_all(&series_dir).map_err(io(&series_dir))?;
        // Back under a temporary name in its series, `pending.json` and all: a kill from here on
        // leaves a temporary folder of a dead process with a valid `pending.json`, which the next
        // start moves back to `recovery/` instead of deleting.
        let tmp = series_dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or(0)
        ));
        std::fs::rename(dir, &tmp).map_err(io(&tmp))?;
        self.sync_moved(&tmp, dir)?;
        crash_point("recover-after-move");
        let staged = Staged {
            metadata: pending.metadata,
            schema_sha256: pending.schema_sha256,
        };
        self.index_staged(&tmp, &series_dir, staged, pending.set_latest)
            .map_err(|e| self.keep_for_recovery(&tmp, e))
    }

    /// Moves version folders that no index row names but that hold a valid `pending.json` (a
    /// registration killed between its rename and its commit) to `recovery/`. Done under the
    /// write lock, so a registration of another process that is between those two steps (it
    /// holds the lock) is never taken for one.
    pub(super) fn adopt_unindexed_versions(&mut self) -> Result<()> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err(e))?;
        let adopted = self.move_unindexed_versions();
        // Read-only as far as the database goes: the transaction only held the lock.
        let ended = self.conn.execute_batch("COMMIT").map_err(|e| self.err(e));
        adopted.and(ended)
    }

    pub(super) fn move_unindexed_versions(&self) -> Result<()> {
        let indexed = indexed_folders(&self.conn, &self.home).map_err(|e| self.err(e))?;
        for folder in self.version_level_folders() {
            if folder.name.starts_with(".tmp-")
                || indexed.contains(&folder.path)
                || read_pending(&folder.path).is_err()
            {
                continue;
            }
            let parent = self.home.join(RECOVERY_DIR);
            std::fs::create_dir_all(&parent).map_err(io(&parent))?;
            let to = parent.join(format!("unindexed-{}", folder.name));
            std::fs::rename(&folder.path, &to).map_err(io(&to))?;
            self.sync_moved(&to, &folder.path)?;
        }
        Ok(())
    }

    /// Indexes a staged folder: under the write lock, picks a free id, writes `metadata.json`,
    /// renames the folder into place, inserts the row and moves `latest`.
    pub(super) fn index_staged(
        &mut self,
        tmp: &Path,
        series_dir: &Path,
        staged: Staged,
        set_latest: bool,
    ) -> Result<ModelRow> {
        let Staged {
            mut metadata,
            schema_sha256,
        } = staged;
        // A finished run is worth waiting for: another process (a long CSV import, the CLI
        // beside the app) may hold the lock for a while, so keep asking for up to `lock_wait`.
        let asked = std::time::Instant::now();
        let tx = loop {
            match self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
            {
                Ok(tx) => break tx,
                Err(e) if is_busy(&e) && asked.elapsed() < self.lock_wait => {
                    std::thread::sleep(std::time::Duration::from_millis(250));
                }
                Err(e) => return Err(db_err(&self.db_path)(e)),
            }
        };
        let created = chrono::DateTime::parse_from_rfc3339(&metadata.created_at)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_else(|_| Utc::now());
        let stamp = created.format("%Y-%m-%d_%Hh%Mm%Ss").to_string();
        let mut n = 1;
        let (version_id, final_dir) = loop {
            // A preset id (an imported bundle's) is kept or refused, never renumbered.
            let id = match (metadata.version_id.as_str(), &self.id_suffix) {
                ("", None) => format!("{stamp}_v{n}"),
                ("", Some(suffix)) if n == 1 => format!("{stamp}_{suffix}"),
                ("", Some(suffix)) => format!("{stamp}_{suffix}-{n}"),
                (preset, _) => preset.to_string(),
            };
            let taken: bool = tx
                .query_row(
                    "SELECT 1 FROM model_versions WHERE version_id = ?1",
                    [&id],
                    |_| Ok(true),
                )
                .optional()
                .map_err(db_err(&self.db_path))?
                .unwrap_or(false);
            let dir = series_dir.join(&id);
            if !taken && !dir.exists() {
                break (id, dir);
            }
            if !metadata.version_id.is_empty() {
                return Err(Error::InvalidRequest(format!(
                    "version {id} is already in this registry with other files; it was not imported over them"
                )));
            }
            n += 1;
        };
        metadata.version_id = version_id.clone();
        let metadata_json = to_json(&metadata)?;
        let metadata_sha256 = sha256_hex(&metadata_json);
        write_atomic(&tmp.join(METADATA_FILE), &metadata_json)?;
        std::fs::rename(tmp, &final_dir).map_err(io(&final_dir))?;
        // The version's files, its folder's new name and the series folders `create_dir_all`
        // may have made reach the disk before the index names the version.
        if self.durable {
            let models = self.home.join("models");
            for dir in final_dir.ancestors() {
                sync_dir(dir)?;
                if dir == models {
                    break;
                }
            }
        }
        crash_point("after-rename");
        let folder = final_dir
            .strip_prefix(&self.home)
            .unwrap_or(&final_dir)
            .to_string_lossy()
            .into_owned();
        let evaluation = &metadata.evaluation_results;
        let t = MetricColumns::of(evaluation);
        let comparisons = comparisons_json(evaluation)?;
        let insert = tx.execute(
            "INSERT INTO model_versions (version_id, symbol, timeframe, architecture, variant, created_at, folder,
                weights_sha256, data_sha256, parameters, train_seconds, test_mae_usd, test_rmse_usd,
                persistence_mae_usd, skill_vs_persistence, directional_accuracy, pt_p_value, tag,
                evaluation_method, test_comparisons, metadata_sha256, schema_sha256, target)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
                ?21, ?22, ?23)",
            params![
                version_id,
                metadata.symbol.as_str(),
                metadata.timeframe.as_str(),
                metadata.training_params.spec.architecture.as_str(),
                metadata.training_params.spec.variant.as_str(),
                metadata.created_at,
                folder,
                metadata.weights_sha256,
                metadata.dataset.data_sha256,
                metadata.parameter_count as i64,
                metadata.train_seconds,
                t.mae_usd,
                t.rmse_usd,
                t.persistence_mae_usd,
                t.skill_vs_persistence,
                t.directional_accuracy,
                t.pt_p_value,
                metadata.tag,
                evaluation.method,
                comparisons,
                metadata_sha256,
                schema_sha256,
                metadata.training_params.spec.target.as_str(),
            ],
        );
        let scope = scope(
            metadata.symbol.as_str(),
            metadata.timeframe.as_str(),
            metadata.training_params.spec.architecture.as_str(),
        );
        let committed = insert
            .and_then(|_| {
                if set_latest {
                    set_alias(&tx, &scope, LATEST, &version_id)?;
                }
                Ok(())
            })
            .and_then(|_| tx.commit());
        if let Err(e) = committed {
            // Put the folder back out of sight for the caller (its `pending.json` stays).
            let _ = std::fs::rename(&final_dir, tmp);
            let _ = std::fs::remove_file(tmp.join(METADATA_FILE));
            return Err(self.err(e));
        }
        crash_point("after-commit");
        // Indexed: `pending.json` has done its job. A kill before this line leaves it in an
        // indexed folder, where `clear_interrupted` removes it.
        let _ = std::fs::remove_file(final_dir.join(PENDING_FILE));
        self.row(&version_id)
    }
}
