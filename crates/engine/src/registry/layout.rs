//! The version folders on disk: `models/SYMBOL/TIMEFRAME/ARCHITECTURE/VERSION_ID/` with the
//! weights, `metadata.json` and `feature_schema.json`; registering writes one into a temporary
//! folder, renames it into place and only then indexes it; loading checks the weights' hash.

use super::*;

pub const WEIGHTS_FILE: &str = "weights.safetensors";
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
        let result = self.write_and_index(
            outcome,
            evaluation,
            tag,
            set_latest,
            &tmp,
            &series_dir,
            created,
        );
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn write_and_index(
        &mut self,
        o: &TrainOutcome,
        evaluation: atb_protocol::training::Evaluation,
        tag: Option<&str>,
        set_latest: bool,
        tmp: &Path,
        series_dir: &Path,
        created: chrono::DateTime<Utc>,
    ) -> Result<ModelRow> {
        let weights = o.model.to_safetensors()?;
        let weights_sha256 = sha256_hex(&weights);
        write_atomic(&tmp.join(WEIGHTS_FILE), &weights)?;
        let schema = FeatureSchema::from_outcome(o);
        write_atomic(&tmp.join(SCHEMA_FILE), &to_json(&schema)?)?;
        crash_point("after-weights");

        // 2. Under the write lock: pick a free id, rename into place, index, move `latest`. A
        // finished run is worth waiting for: another process (a long CSV import, the CLI beside
        // the app) may hold the lock for a while, so keep asking for up to REGISTER_LOCK_WAIT.
        let asked = std::time::Instant::now();
        let tx = loop {
            match self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
            {
                Ok(tx) => break tx,
                Err(e) if is_busy(&e) && asked.elapsed() < REGISTER_LOCK_WAIT => {
                    std::thread::sleep(std::time::Duration::from_millis(250));
                }
                Err(e) => return Err(db_err(&self.db_path)(e)),
            }
        };
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
        let metadata = ModelMetadata {
            symbol: o.dataset.symbol.clone(),
            timeframe: o.dataset.timeframe,
            version_id: version_id.clone(),
            created_at: created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            training_params: TrainingRecord {
                spec: o.params.clone(),
                epochs_run: o.epochs_run,
                best_epoch: o.best_epoch,
                stop_reason: o.stop,
                model_config: o.model_config.clone(),
            },
            dataset: o.dataset.clone(),
            evaluation_results: evaluation.clone(),
            training_history: o.history.clone(),
            device: o.device.clone(),
            parameter_count: o.parameters,
            train_seconds: o.train_seconds,
            weights_file: WEIGHTS_FILE.into(),
            weights_sha256: weights_sha256.clone(),
            framework: FrameworkVersions::current(),
            tag: tag.map(str::to_string),
        };
        write_atomic(&tmp.join(METADATA_FILE), &to_json(&metadata)?)?;
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
        let t = &evaluation.test;
        let comparisons = comparisons_json(&evaluation)?;
        let insert = tx.execute(
            "INSERT INTO model_versions (version_id, symbol, timeframe, architecture, variant, created_at, folder,
                weights_sha256, data_sha256, parameters, train_seconds, test_mae_usd, test_rmse_usd,
                persistence_mae_usd, skill_vs_persistence, directional_accuracy, pt_p_value, tag,
                evaluation_method, test_comparisons)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
            params![
                version_id,
                metadata.symbol.as_str(),
                metadata.timeframe.as_str(),
                metadata.training_params.spec.architecture.as_str(),
                metadata.training_params.spec.variant.as_str(),
                metadata.created_at,
                folder,
                weights_sha256,
                o.dataset.data_sha256,
                o.parameters as i64,
                o.train_seconds,
                t.model.mae_usd,
                t.model.rmse_usd,
                t.persistence.mae_usd,
                t.model.skill_vs_persistence,
                t.model.directional_accuracy,
                t.model.pt_p_value,
                tag,
                evaluation.method,
                comparisons,
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
            // Put the folder back out of sight; the caller removes it.
            let _ = std::fs::rename(&final_dir, tmp);
            return Err(self.err(e));
        }
        self.row(&version_id)
    }

    pub(super) fn folder(&self, row: &ModelRow) -> PathBuf {
        self.home.join(&row.folder)
    }

    /// Metadata of a version, read from its folder.
    pub fn metadata(&self, row: &ModelRow) -> Result<ModelMetadata> {
        let path = self.folder(row).join(METADATA_FILE);
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        serde_json::from_str(&text).map_err(|e| Error::CorruptVersion {
            version: row.version_id.clone(),
            reason: format!("{} is not valid metadata: {e}", path.display()),
        })
    }

    /// Loads a version for inference on `device`, refusing altered or truncated weights.
    pub fn load(&self, reference: &str, device: &Device) -> Result<LoadedModel> {
        let row = self.resolve(reference)?;
        let dir = self.folder(&row);
        let weights_path = dir.join(WEIGHTS_FILE);
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
        let model = ForecastModel::from_safetensors(
            &metadata.training_params.model_config,
            weights,
            device,
        )?;
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
                "{} is aliased as {aliases}; move the alias first or pass --force",
                row.version_id
            )));
        }
        for table in ["aliases", "onnx_exports", "evaluations", "model_versions"] {
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
                    "the index records the folder {:?}, not {}; refusing to touch it (run `atb models verify`)",
                    row.folder,
                    relative.display()
                ),
            });
        }
        Ok(self.home.join(relative))
    }
}

/// How long a registration keeps asking for the write lock (each ask itself waits out the
/// connection's busy timeout).
const REGISTER_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

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

/// Test hook for crash-safety tests: `ATB_CRASH_AT=after-weights|after-rename|after-onnx-rename`
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
