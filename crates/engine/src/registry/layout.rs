//! The version folders on disk: `models/SYMBOL/TIMEFRAME/ARCHITECTURE/VERSION_ID/` with the
//! weights, `metadata.json` and `feature_schema.json`: the file names, staging a run's files,
//! `pending.json` and the helpers registration ([`super::register`]) and loading
//! ([`super::load`]) share.

use super::*;

/// A network's weights.
pub const WEIGHTS_FILE: &str = "weights.safetensors";
/// A tree model's LightGBM model file (loadable in LightGBM itself).
pub const TREES_FILE: &str = "model.txt";
/// An ensemble's members, pinned by their weights' hashes, and its weights.
pub const ENSEMBLE_FILE: &str = "ensemble.json";

/// The file that holds a version's learned values: weights for a network, LightGBM's model
/// file for trees, the recipe for an ensemble.
pub fn weights_file(architecture: atb_protocol::vocab::Architecture) -> &'static str {
    use atb_protocol::vocab::Architecture;
    match architecture {
        Architecture::Gbdt => TREES_FILE,
        Architecture::Ensemble => ENSEMBLE_FILE,
        _ => WEIGHTS_FILE,
    }
}
pub const METADATA_FILE: &str = "metadata.json";
pub const SCHEMA_FILE: &str = "feature_schema.json";

impl Registry {
    /// `path` relative to `ATB_HOME`, as reports show it.
    pub(super) fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.home)
            .unwrap_or(path)
            .display()
            .to_string()
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
pub(super) struct Staged {
    /// Complete but for the version id, picked under the write lock.
    pub(super) metadata: ModelMetadata,
    pub(super) schema_sha256: String,
}

#[derive(Serialize, serde::Deserialize)]
pub(super) struct PendingRegistration {
    pub(super) metadata: ModelMetadata,
    pub(super) schema_sha256: String,
    pub(super) set_latest: bool,
}

/// Writes the weights, the feature schema and `pending.json` into `tmp` and describes the
/// version.
pub(super) fn stage(
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
        TrainedModel::Ensemble(ensemble) => (to_json(&ensemble.recipe)?, None, Vec::new()),
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
            tree_budget: (architecture == atb_protocol::vocab::Architecture::Gbdt)
                .then(|| o.params.tree_budget()),
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

pub(super) fn is_busy(e: &rusqlite::Error) -> bool {
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
