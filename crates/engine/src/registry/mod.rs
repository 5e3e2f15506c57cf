//! The model registry: a SQLite index plus one immutable folder per version under
//! `ATB_HOME/models/SYMBOL/TIMEFRAME/ARCHITECTURE/VERSION_ID/` (a network's
//! `weights.safetensors` or a tree model's LightGBM `model.txt`, `metadata.json`,
//! `feature_schema.json`, and `model.onnx` once exported).
//!
//! A version is written into a temporary folder, renamed into place, and only then indexed, all
//! under the database's write lock: a crash leaves nothing, or a complete folder that `verify`
//! reports as an orphan. Loading checks the weights' SHA-256 and refuses a tampered folder.

pub mod exports;
mod import;
mod index;
mod layout;
mod load;
pub mod metadata;
mod register;
mod verify;

use std::path::{Path, PathBuf};

use crate::fsutil::{io, sha256_hex, sync_dir, write_atomic};
use atb_models::ForecastModel;
use atb_models::burn::prelude::Device;
use atb_protocol::registry::{EnsembleRecipe, ModelRow, RecoveryFailure, RecoveryReport};
use atb_protocol::rpc::Remedy;
use atb_protocol::targets::TargetEvaluation;
use atb_protocol::training::{Comparison, Evaluation};
use atb_protocol::verdict::verdict;
use atb_protocol::vocab::{Architecture, Target};
use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use self::metadata::{FeatureSchema, FrameworkVersions, ModelMetadata, TrainingRecord};
use crate::error::{Error, Result};
use crate::gbdt::GbdtModel;
use crate::settings::Settings;
use crate::store::open_database;
use crate::training::{EnsembleModel, TrainOutcome, TrainedModel};

// Shared by the sibling files (they `use super::*`).
use index::{MetricColumns, comparisons_json, scope, set_alias};
use layout::{crash_point, read_dirs};

pub use import::Imported;
pub use index::LATEST;
pub use layout::METADATA_FILE;
pub use layout::{ENSEMBLE_FILE, RECOVERY_DIR, SCHEMA_FILE, weights_file};
#[cfg(feature = "testing")]
pub use layout::{TREES_FILE, WEIGHTS_FILE};
pub use verify::{Cleared, VerifyReport};

/// The registry under one `ATB_HOME`.
pub struct Registry {
    home: PathBuf,
    db_path: PathBuf,
    conn: Connection,
    /// Folder fsyncs after renames and `synchronous=FULL`: a registered version survives a power
    /// cut, not only a killed process. Off only in the benchmark that prices it.
    durable: bool,
    /// How long a registration waits for the write lock before keeping the run for recovery.
    lock_wait: std::time::Duration,
    /// Appended to the creation stamp in place of `v1`, `v2`… (a sweep worker's job, so that
    /// versions trained apart get ids that cannot collide when imported together).
    id_suffix: Option<String>,
}

/// A version loaded for inference, hash checked.
pub struct LoadedModel {
    pub row: ModelRow,
    pub metadata: ModelMetadata,
    pub schema: FeatureSchema,
    pub model: TrainedModel,
}

impl Registry {
    pub fn open(settings: &Settings) -> Result<Self> {
        let db_path = settings.database_path();
        let conn = open_database(&db_path)?;
        // The candle store keeps WAL's `NORMAL` (a lost last page is fetched again); a registered
        // version is the result of a training run, so its commit waits for the disk.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db_err(&db_path))?;
        Ok(Self {
            home: settings.home.clone(),
            conn,
            db_path,
            durable: true,
            lock_wait: layout::REGISTER_LOCK_WAIT,
            id_suffix: None,
        })
    }

    /// Names new versions `STAMP_SUFFIX` instead of `STAMP_vN` (`STAMP_SUFFIX-N` should two
    /// share a second).
    pub fn with_id_suffix(mut self, suffix: Option<String>) -> Self {
        self.id_suffix = suffix;
        self
    }

    /// The registry without its power-loss durability (`synchronous=NORMAL`, no folder fsyncs),
    /// for the benchmark that prices that durability. Never used by atb itself.
    #[cfg(feature = "testing")]
    pub fn without_durability(mut self) -> Result<Self> {
        self.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(db_err(&self.db_path))?;
        self.durable = false;
        Ok(self)
    }

    /// Shortens how long each statement waits for another connection's lock (10 s by default),
    /// so a test of the wait beyond it holds a lock for about a second rather than ten.
    #[cfg(feature = "testing")]
    pub fn with_busy_timeout(self, timeout: std::time::Duration) -> Result<Self> {
        self.conn
            .busy_timeout(timeout)
            .map_err(db_err(&self.db_path))?;
        Ok(self)
    }

    /// Shortens the registration's wait for the write lock (tests of the recovery path).
    #[cfg(feature = "testing")]
    pub fn with_lock_wait(mut self, wait: std::time::Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    fn err(&self, source: rusqlite::Error) -> Error {
        db_err(&self.db_path)(source)
    }
}

/// Maps a SQLite error to the engine's error naming the database file.
fn db_err(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |source| Error::Store {
        path: path.to_path_buf(),
        source,
    }
}
