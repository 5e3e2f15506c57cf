//! The model registry: a SQLite index plus one immutable folder per version under
//! `ATB_HOME/models/SYMBOL/TIMEFRAME/ARCHITECTURE/VERSION_ID/` (weights, `metadata.json`,
//! `feature_schema.json`, and `model.onnx` once exported).
//!
//! A version is written into a temporary folder, renamed into place, and only then indexed, all
//! under the database's write lock: a crash leaves nothing, or a complete folder that `verify`
//! reports as an orphan. Loading checks the weights' SHA-256 and refuses a tampered folder.

pub mod exports;
pub mod metadata;

use std::path::{Path, PathBuf};

use atb_models::ForecastModel;
use atb_models::burn::prelude::Device;
use atb_protocol::registry::ModelRow;
use atb_protocol::training::{Comparison, Evaluation};
use atb_protocol::verdict::verdict;
use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use self::metadata::{FeatureSchema, FrameworkVersions, ModelMetadata, TrainingParamsRecord};
use crate::error::{Error, Result};
use crate::settings::Settings;
use crate::store::open_database;
use crate::training::TrainOutcome;

pub const WEIGHTS_FILE: &str = "weights.safetensors";
pub const METADATA_FILE: &str = "metadata.json";
pub const SCHEMA_FILE: &str = "feature_schema.json";
pub const LATEST: &str = "latest";

/// The registry under one `ATB_HOME`.
pub struct Registry {
    home: PathBuf,
    db_path: PathBuf,
    conn: Connection,
}

/// A version loaded for inference, hash checked.
pub struct LoadedModel {
    pub row: ModelRow,
    pub metadata: ModelMetadata,
    pub schema: FeatureSchema,
    pub model: ForecastModel,
}

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
    /// Temporary folders of registrations that died before their rename (never indexed).
    pub incomplete_writes: Vec<String>,
}

/// The test split's paired comparisons as the index keeps them.
#[derive(serde::Deserialize, Serialize)]
struct TestComparisons {
    vs_persistence: Option<Comparison>,
    vs_ridge: Option<Comparison>,
}

fn comparisons_json(e: &Evaluation) -> Result<String> {
    serde_json::to_string(&TestComparisons {
        vs_persistence: e.test.vs_persistence,
        vs_ridge: e.test.vs_ridge,
    })
    .map_err(|e| Error::InvalidData(format!("comparisons are not serialisable: {e}")))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io(path, e)
}

/// Writes `bytes` to `path` through a temporary sibling and a rename, so readers never see a
/// partial file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    let file = std::fs::File::open(&tmp).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

impl Registry {
    pub fn open(settings: &Settings) -> Result<Self> {
        let db_path = settings.database_path();
        Ok(Self {
            home: settings.home.clone(),
            conn: open_database(&db_path)?,
            db_path,
        })
    }

    fn err(&self, source: rusqlite::Error) -> Error {
        db_err(&self.db_path)(source)
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

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
        let timeframe = outcome.dataset.timeframe.clone();
        let architecture = outcome.params.model_type.to_string();
        let series_dir = self
            .home
            .join("models")
            .join(&symbol)
            .join(&timeframe)
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
    fn write_and_index(
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

        // 2. Under the write lock: pick a free id, rename into place, index, move `latest`.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err(&self.db_path))?;
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
            timeframe: o.dataset.timeframe.clone(),
            version_id: version_id.clone(),
            created_at: created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            training_params: TrainingParamsRecord {
                architecture: o.params.model_type.to_string(),
                architecture_variant: o.params.variant.to_string(),
                epochs: o.params.epochs,
                epochs_run: o.epochs_run,
                best_epoch: o.best_epoch,
                stop_reason: o.stop,
                batch_size: o.params.batch_size,
                sequence_length: o.params.sequence_length,
                learning_rate: o.params.learning_rate,
                patience: o.params.patience,
                lr_patience: o.params.lr_patience,
                min_learning_rate: o.params.min_learning_rate,
                grad_clip_norm: o.params.grad_clip_norm,
                seed: o.params.seed,
                horizon: o.params.horizon,
                feature_set: o.params.feature_set.to_string(),
                device_choice: o.params.device.to_string(),
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
                metadata.symbol,
                metadata.timeframe,
                metadata.training_params.architecture,
                metadata.training_params.architecture_variant,
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
            &metadata.symbol,
            &metadata.timeframe,
            &metadata.training_params.architecture,
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

    fn row(&self, version_id: &str) -> Result<ModelRow> {
        self.rows("WHERE v.version_id = ?1", params![version_id])?
            .pop()
            .ok_or_else(|| Error::UnknownVersion(version_id.to_string()))
    }

    fn rows(&self, filter: &str, args: impl rusqlite::Params) -> Result<Vec<ModelRow>> {
        let sql = format!(
            "SELECT v.version_id, v.symbol, v.timeframe, v.architecture, v.variant, v.created_at, v.folder,
                    v.parameters, v.train_seconds, v.test_mae_usd, v.test_rmse_usd, v.persistence_mae_usd,
                    v.skill_vs_persistence, v.directional_accuracy, v.pt_p_value, v.weights_sha256, v.data_sha256,
                    v.tag, (SELECT group_concat(name, ',') FROM aliases a WHERE a.version_id = v.version_id),
                    e.sha256, e.max_abs_diff, v.evaluation_method, v.test_comparisons
             FROM model_versions v LEFT JOIN onnx_exports e ON e.version_id = v.version_id {filter} ORDER BY v.created_at, v.version_id"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        stmt.query_map(args, |r| {
            let aliases: Option<String> = r.get(18)?;
            let method: Option<u32> = r.get(21)?;
            // Unreadable comparisons (a hand-edited index) show as "not computed".
            let comparisons: Option<TestComparisons> = r
                .get::<_, Option<String>>(22)?
                .and_then(|j| serde_json::from_str(&j).ok());
            let (vs_persistence, vs_ridge) = comparisons
                .map(|c| (c.vs_persistence, c.vs_ridge))
                .unwrap_or((None, None));
            Ok(ModelRow {
                version_id: r.get(0)?,
                symbol: r.get(1)?,
                timeframe: r.get(2)?,
                architecture: r.get(3)?,
                variant: r.get(4)?,
                created_at: r.get(5)?,
                folder: r.get(6)?,
                parameters: r.get::<_, i64>(7)? as u64,
                train_seconds: r.get(8)?,
                test_mae_usd: r.get(9)?,
                test_rmse_usd: r.get(10)?,
                persistence_mae_usd: r.get(11)?,
                skill_vs_persistence: r.get(12)?,
                directional_accuracy: r.get(13)?,
                pt_p_value: r.get(14)?,
                weights_sha256: r.get(15)?,
                data_sha256: r.get(16)?,
                tag: r.get(17)?,
                aliases: aliases
                    .map(|a| a.split(',').map(str::to_string).collect())
                    .unwrap_or_default(),
                onnx_sha256: r.get(19)?,
                onnx_max_abs_diff: r.get(20)?,
                evaluation_method: method.unwrap_or(1),
                verdict_vs_persistence: Some(verdict("persistence", vs_persistence.as_ref())),
                verdict_vs_ridge: Some(verdict("ridge", vs_ridge.as_ref())),
                vs_persistence,
                vs_ridge,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.err(e))
    }

    /// Every version, oldest first, optionally of one symbol.
    pub fn list(&self, symbol: Option<&str>) -> Result<Vec<ModelRow>> {
        match symbol {
            Some(s) => self.rows("WHERE v.symbol = ?1", params![s.to_ascii_uppercase()]),
            None => self.rows("", []),
        }
    }

    /// A version id, or an alias name (`latest`, `champion`) when it names exactly one version.
    pub fn resolve(&self, reference: &str) -> Result<ModelRow> {
        if let Some(row) = self
            .rows("WHERE v.version_id = ?1", params![reference])?
            .pop()
        {
            return Ok(row);
        }
        let targets: Vec<(String, String)> = {
            let mut stmt = self
                .conn
                .prepare("SELECT scope, version_id FROM aliases WHERE name = ?1 ORDER BY scope")
                .map_err(|e| self.err(e))?;
            stmt.query_map([reference], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|rows| rows.collect())
                .map_err(|e| self.err(e))?
        };
        match targets.as_slice() {
            [] => Err(Error::UnknownVersion(reference.to_string())),
            [(_, id)] => self.row(id),
            many => Err(Error::InvalidRequest(format!(
                "alias {reference:?} names {} versions ({}); give a version id",
                many.len(),
                many.iter()
                    .map(|(s, id)| format!("{s}: {id}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    fn folder(&self, row: &ModelRow) -> PathBuf {
        self.home.join(&row.folder)
    }

    /// The newest evaluation of a version: a re-evaluation stored in the index, else the one in
    /// its folder's metadata.
    pub fn evaluation(&self, row: &ModelRow, metadata: &ModelMetadata) -> Result<Evaluation> {
        let stored: Option<String> = self
            .conn
            .query_row(
                "SELECT evaluation FROM evaluations WHERE version_id = ?1",
                [&row.version_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        match stored {
            Some(json) => serde_json::from_str(&json).map_err(|e| Error::CorruptVersion {
                version: row.version_id.clone(),
                reason: format!("its stored re-evaluation is not readable: {e}"),
            }),
            None => Ok(metadata.evaluation_results.clone()),
        }
    }

    /// Stores a recomputed evaluation of a version beside it in the index (the folder stays as
    /// it was) and points the listing's metric columns at it, in one transaction.
    pub fn store_evaluation(&mut self, version_id: &str, evaluation: &Evaluation) -> Result<ModelRow> {
        let json = serde_json::to_string(evaluation)
            .map_err(|e| Error::InvalidData(format!("evaluation is not serialisable: {e}")))?;
        let comparisons = comparisons_json(evaluation)?;
        let t = &evaluation.test;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err(&self.db_path))?;
        let updated = tx
            .execute(
                "UPDATE model_versions SET test_mae_usd = ?2, test_rmse_usd = ?3, persistence_mae_usd = ?4,
                    skill_vs_persistence = ?5, directional_accuracy = ?6, pt_p_value = ?7,
                    evaluation_method = ?8, test_comparisons = ?9
                 WHERE version_id = ?1",
                params![
                    version_id,
                    t.model.mae_usd,
                    t.model.rmse_usd,
                    t.persistence.mae_usd,
                    t.model.skill_vs_persistence,
                    t.model.directional_accuracy,
                    t.model.pt_p_value,
                    evaluation.method,
                    comparisons,
                ],
            )
            .map_err(db_err(&self.db_path))?;
        if updated == 0 {
            return Err(Error::UnknownVersion(version_id.to_string()));
        }
        tx.execute(
            "INSERT INTO evaluations (version_id, computed_at, method, evaluation) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (version_id) DO UPDATE SET computed_at = excluded.computed_at,
                method = excluded.method, evaluation = excluded.evaluation",
            params![
                version_id,
                Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                evaluation.method,
                json
            ],
        )
        .and_then(|_| tx.commit())
        .map_err(db_err(&self.db_path))?;
        self.row(version_id)
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

    /// Moves (or creates) `alias` to point at a version, atomically.
    pub fn promote(&mut self, reference: &str, alias: &str) -> Result<ModelRow> {
        if alias.is_empty()
            || !alias
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::InvalidRequest(format!(
                "alias {alias:?} must be letters, digits, '-' or '_'"
            )));
        }
        let row = self.resolve(reference)?;
        let tx = self.conn.transaction().map_err(db_err(&self.db_path))?;
        set_alias(
            &tx,
            &scope(&row.symbol, &row.timeframe, &row.architecture),
            alias,
            &row.version_id,
        )
        .and_then(|_| tx.commit())
        .map_err(db_err(&self.db_path))?;
        self.row(&row.version_id)
    }

    /// Deletes a version (its row, then its folder). Refuses an aliased version unless `force`.
    pub fn delete(&mut self, reference: &str, force: bool) -> Result<ModelRow> {
        let row = self.resolve(reference)?;
        if !row.aliases.is_empty() && !force {
            return Err(Error::InvalidRequest(format!(
                "{} is aliased as {}; move the alias first or pass --force",
                row.version_id,
                row.aliases.join(", ")
            )));
        }
        let tx = self.conn.transaction().map_err(db_err(&self.db_path))?;
        tx.execute(
            "DELETE FROM aliases WHERE version_id = ?1",
            [&row.version_id],
        )
        .and_then(|_| {
            tx.execute(
                "DELETE FROM onnx_exports WHERE version_id = ?1",
                [&row.version_id],
            )
        })
        .and_then(|_| {
            tx.execute(
                "DELETE FROM evaluations WHERE version_id = ?1",
                [&row.version_id],
            )
        })
        .and_then(|_| {
            tx.execute(
                "DELETE FROM model_versions WHERE version_id = ?1",
                [&row.version_id],
            )
        })
        .and_then(|_| tx.commit())
        .map_err(db_err(&self.db_path))?;
        let dir = self.folder(&row);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        Ok(row)
    }

    /// Checks every version's files and hashes and finds orphans; deletes nothing.
    pub fn verify(&self) -> Result<VerifyReport> {
        let rows = self.list(None)?;
        let mut report = VerifyReport {
            checked: rows.len(),
            ..VerifyReport::default()
        };
        for row in &rows {
            let dir = self.folder(row);
            if !dir.is_dir() {
                report.orphan_rows.push(row.version_id.clone());
                continue;
            }
            let problem = match std::fs::read(dir.join(WEIGHTS_FILE)) {
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
                    Ok(_) => self.onnx_problem(row)?,
                },
            };
            match problem {
                Some(p) => report.damaged.push((row.version_id.clone(), p)),
                None => report.ok.push(row.version_id.clone()),
            }
        }
        let indexed: std::collections::HashSet<PathBuf> =
            rows.iter().map(|r| self.folder(r)).collect();
        let models = self.home.join("models");
        for symbol in read_dirs(&models) {
            for timeframe in read_dirs(&symbol) {
                for arch in read_dirs(&timeframe) {
                    for version in read_dirs(&arch) {
                        let shown = version
                            .strip_prefix(&self.home)
                            .unwrap_or(&version)
                            .display()
                            .to_string();
                        let temporary = version
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with(".tmp-"));
                        if temporary {
                            report.incomplete_writes.push(shown);
                        } else if !indexed.contains(&version) {
                            report.orphan_folders.push(shown);
                        }
                    }
                }
            }
        }
        Ok(report)
    }
}

/// Maps a SQLite error to the engine's error naming the database file.
fn db_err(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |source| Error::Store {
        path: path.to_path_buf(),
        source,
    }
}

fn read_dirs(dir: &Path) -> Vec<PathBuf> {
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

fn scope(symbol: &str, timeframe: &str, architecture: &str) -> String {
    format!("{symbol}/{timeframe}/{architecture}")
}

fn set_alias(
    tx: &rusqlite::Transaction<'_>,
    scope: &str,
    name: &str,
    version_id: &str,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO aliases (scope, name, version_id) VALUES (?1, ?2, ?3)
         ON CONFLICT (scope, name) DO UPDATE SET version_id = excluded.version_id",
        params![scope, name, version_id],
    )?;
    Ok(())
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(value)
        .map_err(|e| Error::InvalidData(format!("cannot serialise: {e}")))
}

/// Test hook for crash-safety tests: `ATB_CRASH_AT=after-weights|after-rename` aborts the
/// process there, as a power cut or `kill -9` would.
fn crash_point(name: &str) {
    if std::env::var("ATB_CRASH_AT").is_ok_and(|v| v == name) {
        std::process::abort();
    }
}
