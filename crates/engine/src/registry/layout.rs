//! The version folders on disk: `models/SYMBOL/TIMEFRAME/ARCHITECTURE/VERSION_ID/` with the
//! weights, `metadata.json` and `feature_schema.json`; registering writes one into a temporary
//! folder, renames it into place and only then indexes it; loading checks the weights' hash.

use super::*;

/// A network's weights.
pub const WEIGHTS_FILE: &str = "weights.safetensors";
/// A tree model's LightGBM model file (loadable in LightGBM itself).
pub const TREES_FILE: &str = "model.txt";

/// The file that holds a version's learned values: weights for a network, LightGBM's model
/// file for trees.
pub fn weights_file(architecture: atb_protocol::vocab::Architecture) -> &'static str {
    if architecture.is_network() {
        WEIGHTS_FILE
    } else {
        TREES_FILE
    }
}
pub const METADATA_FILE: &str = "metadata.json";
pub const SCHEMA_FILE: &str = "feature_schema.json";

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
    fn keep_for_recovery(&self, tmp: &Path, cause: Error) -> Error {
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
    fn recover_one(&mut self, dir: &Path) -> Result<ModelRow> {
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
    fn adopt_unindexed_versions(&mut self) -> Result<()> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err(e))?;
        let adopted = self.move_unindexed_versions();
        // Read-only as far as the database goes: the transaction only held the lock.
        let ended = self.conn.execute_batch("COMMIT").map_err(|e| self.err(e));
        adopted.and(ended)
    }

    fn move_unindexed_versions(&self) -> Result<()> {
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

    /// `path` relative to `ATB_HOME`, as reports show it.
    pub(super) fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.home)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// Indexes a staged folder: under the write lock, picks a free id, writes `metadata.json`,
    /// renames the folder into place, inserts the row and moves `latest`.
    fn index_staged(
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
            let id = format!("{stamp}_v{n}");
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

    pub(super) fn folder(&self, row: &ModelRow) -> PathBuf {
        self.home.join(&row.folder)
    }

    /// One of a version's JSON files, refused when its hash differs from the one recorded at
    /// registration (versions registered before hashing record none).
    pub(super) fn read_recorded(&self, row: &ModelRow, file: &str) -> Result<(PathBuf, Vec<u8>)> {
        let column = match file {
            METADATA_FILE => "metadata_sha256",
            SCHEMA_FILE => "schema_sha256",
            other => {
                return Err(Error::InvalidRequest(format!(
                    "{other} has no recorded hash"
                )));
            }
        };
        let path = self.folder(row).join(file);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let recorded: Option<String> = self
            .conn
            .query_row(
                &format!("SELECT {column} FROM model_versions WHERE version_id = ?1"),
                [&row.version_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?
            .flatten();
        if let Some(recorded) = recorded {
            let actual = sha256_hex(&bytes);
            if actual != recorded {
                return Err(Error::CorruptVersion {
                    version: row.version_id.clone(),
                    reason: format!(
                        "{} has SHA-256 {actual}, but the registry recorded {recorded}: the file was modified or truncated",
                        path.display()
                    ),
                });
            }
        }
        Ok((path, bytes))
    }

    /// Metadata of a version, read from its folder and checked against its recorded hash.
    pub fn metadata(&self, row: &ModelRow) -> Result<ModelMetadata> {
        let (path, bytes) = self.read_recorded(row, METADATA_FILE)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::CorruptVersion {
            version: row.version_id.clone(),
            reason: format!("{} is not valid metadata: {e}", path.display()),
        })
    }

    /// Loads a version for inference on `device`, refusing altered or truncated weights.
    pub fn load(&self, reference: &str, device: &Device) -> Result<LoadedModel> {
        let row = self.resolve(reference)?;
        let dir = self.folder(&row);
        let weights_path = dir.join(weights_file(row.architecture));
        let weights = std::fs::read(&weights_path).map_err(|e| Error::CorruptVersion {
            version: row.version_id.clone(),
            reason: format!("cannot read {}: {e}", weights_path.display()),
        })?;
        let actual = sha256_hex(&weights);
        if actual != row.weights_sha256 {
            return Err(Error::CorruptVersion {
                version: row.version_id.clone(),
                reason: format!(
                    "{} has SHA-256 {actual}, but the registry recorded {}: the file was modified or truncated",
                    weights_path.display(),
                    row.weights_sha256
                ),
            });
        }
        let metadata = self.metadata(&row)?;
        let schema = self.schema(&row)?;
        let model = match (&metadata.training_params.model_config, row.architecture) {
            (Some(config), a) if a.is_network() => TrainedModel::Network {
                model: ForecastModel::from_safetensors(config, weights, device)?,
                config: config.clone(),
            },
            (None, a) if !a.is_network() => {
                let text = String::from_utf8(weights).map_err(|_| Error::CorruptVersion {
                    version: row.version_id.clone(),
                    reason: format!("{} is not text", weights_path.display()),
                })?;
                TrainedModel::Trees(GbdtModel::from_text(
                    &text,
                    schema.sequence_length,
                    schema.n_features,
                )?)
            }
            _ => {
                return Err(Error::CorruptVersion {
                    version: row.version_id.clone(),
                    reason: format!(
                        "metadata.json's model configuration does not fit a {} model",
                        row.architecture
                    ),
                });
            }
        };
        Ok(LoadedModel {
            row,
            metadata,
            schema,
            model,
        })
    }

    /// Deletes a version (its row, then its folder). Refuses an aliased version unless `force`.
    pub fn delete(&mut self, reference: &str, force: bool) -> Result<ModelRow> {
        let row = self.resolve(reference)?;
        // Only ever the folder the version's identity names under `models/`, whatever path the
        // index row holds (a hand-edited or damaged index must not point the removal elsewhere).
        let dir = self.version_dir(&row)?;
        let db_path = self.db_path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err(&db_path))?;
        // Aliases are read inside the write transaction: one set between `resolve` and here is
        // seen.
        let aliases: Option<String> = tx
            .query_row(
                "SELECT group_concat(name, ', ') FROM aliases WHERE version_id = ?1",
                [&row.version_id],
                |r| r.get(0),
            )
            .map_err(db_err(&db_path))?;
        if let Some(aliases) = aliases.filter(|_| !force) {
            return Err(Error::InvalidRequest(format!(
                "{} is aliased as {aliases}; move the alias first, or force the deletion",
                row.version_id
            )));
        }
        for table in [
            "aliases",
            "onnx_exports",
            "evaluations",
            "forward_tests",
            "model_versions",
        ] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE version_id = ?1"),
                [&row.version_id],
            )
            .map_err(db_err(&db_path))?;
        }
        tx.commit().map_err(db_err(&db_path))?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        Ok(row)
    }

    /// The folder a version's identity names, `models/SYMBOL/TIMEFRAME/ARCHITECTURE/VERSION_ID`;
    /// refused when the index row records another path or the id is not a plain name.
    pub(super) fn version_dir(&self, row: &ModelRow) -> Result<PathBuf> {
        let plain = !row.version_id.is_empty()
            && row
                .version_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
        let relative = Path::new("models")
            .join(row.symbol.as_str())
            .join(row.timeframe.as_str())
            .join(row.architecture.as_str())
            .join(&row.version_id);
        if !plain || Path::new(&row.folder) != relative {
            return Err(Error::CorruptVersion {
                version: row.version_id.clone(),
                reason: format!(
                    "the index records the folder {:?}, not {}; refusing to touch it",
                    row.folder,
                    relative.display()
                ),
            }
            .with_remedy(Remedy::VerifyRegistry));
        }
        Ok(self.home.join(relative))
    }
}

/// Where finished runs that could not be indexed wait for `atb models recover`.
pub const RECOVERY_DIR: &str = "recovery";
/// What indexing a staged run needs, beside its weights and schema. Written as the run is
/// staged and removed only once the index has committed it: a folder that holds a valid one is
/// a finished run, never a leftover.
pub(super) const PENDING_FILE: &str = "pending.json";

/// A folder's `pending.json`, if it holds a readable one.
pub(super) fn read_pending(dir: &Path) -> Result<PendingRegistration> {
    let path = dir.join(PENDING_FILE);
    let text = std::fs::read(&path).map_err(|e| {
        Error::InvalidData(format!(
            "{} holds no pending registration ({PENDING_FILE}: {e})",
            dir.display()
        ))
    })?;
    serde_json::from_slice(&text).map_err(|e| {
        Error::InvalidData(format!(
            "{} is not a pending registration: {e}",
            path.display()
        ))
    })
}

/// The folders the index names, as paths under `home`.
pub(super) fn indexed_folders(
    conn: &Connection,
    home: &Path,
) -> rusqlite::Result<std::collections::HashSet<PathBuf>> {
    let mut stmt = conn.prepare("SELECT folder FROM model_versions")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    rows.map(|r| r.map(|folder| home.join(folder))).collect()
}

/// A version's files written to its temporary folder, with what indexing it needs.
#[derive(Clone)]
struct Staged {
    /// Complete but for the version id, picked under the write lock.
    metadata: ModelMetadata,
    schema_sha256: String,
}

#[derive(Serialize, serde::Deserialize)]
pub(super) struct PendingRegistration {
    metadata: ModelMetadata,
    schema_sha256: String,
    set_latest: bool,
}

/// Writes the weights, the feature schema and `pending.json` into `tmp` and describes the
/// version.
fn stage(
    o: &TrainOutcome,
    evaluation: atb_protocol::training::Evaluation,
    tag: Option<&str>,
    created: chrono::DateTime<Utc>,
    set_latest: bool,
    tmp: &Path,
) -> Result<Staged> {
    let architecture = o.params.architecture;
    let (weights, model_config, importance) = match &o.model {
        TrainedModel::Network { model, config } => {
            (model.to_safetensors()?, Some(config.clone()), Vec::new())
        }
        TrainedModel::Trees(trees) => (
            trees.text.clone().into_bytes(),
            None,
            trees.importance(&o.dataset.feature_names)?,
        ),
    };
    let weights_sha256 = sha256_hex(&weights);
    write_atomic(&tmp.join(weights_file(architecture)), &weights)?;
    let schema = to_json(&FeatureSchema::from_outcome(o))?;
    let schema_sha256 = sha256_hex(&schema);
    write_atomic(&tmp.join(SCHEMA_FILE), &schema)?;
    let metadata = ModelMetadata {
        symbol: o.dataset.symbol.clone(),
        timeframe: o.dataset.timeframe,
        version_id: String::new(),
        created_at: created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        training_params: TrainingRecord {
            spec: o.params.clone(),
            epochs_run: o.epochs_run,
            best_epoch: o.best_epoch,
            stop_reason: o.stop,
            model_config,
            tree_budget: (!architecture.is_network()).then(|| o.params.tree_budget()),
        },
        dataset: o.dataset.clone(),
        evaluation_results: evaluation,
        training_history: o.history.clone(),
        device: o.device.clone(),
        parameter_count: o.parameters,
        train_seconds: o.train_seconds,
        weights_file: weights_file(architecture).into(),
        weights_sha256,
        framework: FrameworkVersions::current(),
        tag: tag.map(str::to_string),
        importance,
    };
    let pending = PendingRegistration {
        metadata,
        schema_sha256,
        set_latest,
    };
    write_atomic(&tmp.join(PENDING_FILE), &to_json(&pending)?)?;
    Ok(Staged {
        metadata: pending.metadata,
        schema_sha256: pending.schema_sha256,
    })
}

/// How long a registration keeps asking for the write lock (each ask itself waits out the
/// connection's busy timeout).
pub(super) const REGISTER_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

pub(super) fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(value)
        .map_err(|e| Error::InvalidData(format!("cannot serialise: {e}")))
}

/// Test hook for crash-safety tests: `ATB_CRASH_AT=after-weights|after-rename|after-commit|
/// recover-after-move|after-onnx-aside|after-onnx-rename`
/// aborts the process there, as a power cut or `kill -9` would. Only in builds with debug
/// assertions (the dev profile the tests use): a release build has no such switch.
pub(super) fn crash_point(name: &str) {
    if cfg!(debug_assertions) && std::env::var("ATB_CRASH_AT").is_ok_and(|v| v == name) {
        std::process::abort();
    }
}

pub(super) fn read_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}
