//! The engine's one error type: every failure a user can cause or meet, with its cause and its fix.

use std::path::PathBuf;

use atb_protocol::rpc::{ErrorKind, ErrorReply, Remedy};

/// Result alias for engine calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Vocab(#[from] atb_protocol::vocab::VocabError),

    #[error("invalid {0}")]
    InvalidSpec(atb_protocol::spec::FieldProblem),

    #[error("invalid date range: {0}")]
    InvalidRange(String),

    #[error(
        "Binance does not know the symbol {0} (code -1121 Invalid symbol); check the spelling, e.g. BTCUSDT"
    )]
    UnknownSymbol(String),

    #[error("Binance rejected the request (HTTP {status}, code {code}): {message}")]
    Rejected {
        status: u16,
        code: i64,
        message: String,
    },

    #[error(
        "Binance has banned this IP for {retry_after_secs} s (HTTP 418) after too many requests; wait and retry later"
    )]
    Banned { retry_after_secs: u64 },

    #[error(
        "Binance asks atb to wait {retry_after_secs} s before the next request (HTTP {status}), longer than a fetch waits by itself; the candles stored so far are kept: fetch the same range again after that"
    )]
    AskedToWait { status: u16, retry_after_secs: u64 },

    #[error(
        "cannot reach Binance at {url} after {attempts} attempts: {cause}. Check the network or set ATB_BINANCE_URL"
    )]
    Network {
        url: String,
        attempts: u32,
        cause: String,
    },

    #[error(
        "the sample holds only BTCUSDT 1h candles, not {symbol} {timeframe}; choose the Binance source or a CSV file"
    )]
    SampleMismatch { symbol: String, timeframe: String },

    #[error("{path}: line {line}: {reason}")]
    Csv {
        path: String,
        line: usize,
        reason: String,
    },

    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("database {path}: {source}{hint}", hint = store_hint(.source))]
    Store {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error(
        "candle store {path} was written by a newer atb (schema {found}, this build knows {known}); upgrade atb"
    )]
    StoreTooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },

    #[error("cannot find a data directory: set ATB_HOME to a writable folder")]
    NoHome,

    #[error("too little data: {0}")]
    TooLittleData(String),

    #[error("unusable data: {0}")]
    InvalidData(String),

    #[error("invalid request: {0}")]
    InvalidRequest(String),

    #[error("no model version or alias {0:?} in the registry")]
    UnknownVersion(String),

    /// Another error with what the user can do about it, as data ([`Error::remedy`]).
    #[error("{error}")]
    Remedied { error: Box<Error>, remedy: Remedy },

    #[error(
        "the trained model could not be registered ({cause}); it is kept in {} to be registered",
        folder.display()
    )]
    RegistrationDeferred {
        folder: std::path::PathBuf,
        cause: String,
    },

    #[error("model version {version} is damaged: {reason}")]
    CorruptVersion { version: String, reason: String },

    #[error("LightGBM: {0}")]
    Gbdt(String),

    #[error("ONNX export: {0}")]
    Export(String),

    #[error("ONNX runtime: {0}")]
    OnnxRuntime(String),

    #[error("training diverged: {0}")]
    Diverged(String),

    #[error(
        "the ONNX export of {version} failed its parity check: max |ONNX - native| = {max_abs_diff:.3e} over {windows} test windows exceeds {tolerance:e}; the file was not kept (please report this as a bug)"
    )]
    ParityFailed {
        version: String,
        max_abs_diff: f64,
        windows: usize,
        tolerance: f64,
    },

    #[error("cancelled")]
    Cancelled,

    #[error("a validation is already running; wait for it or cancel it")]
    ValidationInProgress,

    #[error(
        "fetch cancelled: the {done} of {wanted} candles fetched before it stopped are stored; fetch the same range again to resume"
    )]
    FetchCancelled { done: u64, wanted: u64 },

    #[error("a fetch is already running; wait for it or cancel it")]
    FetchInProgress,

    #[error("no fetch is running")]
    NoFetch,

    #[error("no validation is running")]
    NoValidation,

    #[error("queued run {0} is not waiting (it started, ended or was removed)")]
    NotQueued(u64),

    #[error("a benchmark is already running; wait for it or cancel it")]
    BenchInProgress,

    #[error("no benchmark is running")]
    NoBench,

    #[error(
        "run {0} is still training; cancel it or wait for it to finish before starting another"
    )]
    RunInProgress(u64),

    #[error("run {0} is not in progress (it has ended, or another run replaced it)")]
    RunNotInProgress(u64),

    #[error(
        "cannot start {asked}: {running} is running, and atb runs one training, benchmark or validation at a time so that each has the machine to itself (its timings and memory are its own); wait for it to end or cancel it (Add to queue starts a run once the machine is free)"
    )]
    Busy { asked: String, running: String },

    #[error(transparent)]
    Model(#[from] atb_models::ModelError),

    #[error("settings file {path}: {reason}")]
    Settings { path: PathBuf, reason: String },

    #[error(
        "ATB_HOME {path} belongs to another user (uid {owner}): atb keeps its settings, candles and models there and would trust whatever they hold; set ATB_HOME to a folder of your own (atb creates it private to you)"
    )]
    ForeignHome { path: PathBuf, owner: u32 },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

impl Error {
    /// This error with what the user can do about it (each door words the remedy).
    pub fn with_remedy(self, remedy: Remedy) -> Self {
        Self::Remedied {
            error: Box::new(self),
            remedy,
        }
    }

    /// The error itself, without a remedy attached.
    pub fn inner(&self) -> &Error {
        match self {
            Self::Remedied { error, .. } => error.inner(),
            other => other,
        }
    }

    /// What the user can do about this error, if there is one thing to do.
    pub fn remedy(&self) -> Option<Remedy> {
        match self {
            Self::Remedied { remedy, .. } => Some(remedy.clone()),
            Self::UnknownVersion(_) => Some(Remedy::ListVersions),
            Self::RegistrationDeferred { .. } => Some(Remedy::Recover),
            _ => None,
        }
    }

    /// What kind of failure this is, for a UI that acts on it (see `atb_protocol::rpc`).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Remedied { error, .. } => error.kind(),
            Self::Vocab(_)
            | Self::InvalidSpec(_)
            | Self::InvalidRange(_)
            | Self::InvalidRequest(_)
            | Self::TooLittleData(_)
            | Self::InvalidData(_)
            | Self::SampleMismatch { .. }
            | Self::Csv { .. }
            | Self::UnknownSymbol(_)
            | Self::Diverged(_)
            | Self::Model(_)
            | Self::Settings { .. }
            | Self::ForeignHome { .. } => ErrorKind::InvalidInput,
            Self::Rejected { .. }
            | Self::Banned { .. }
            | Self::AskedToWait { .. }
            | Self::Network { .. } => ErrorKind::Network,
            Self::UnknownVersion(_) => ErrorKind::NotFound,
            Self::CorruptVersion { .. } | Self::ParityFailed { .. } | Self::StoreTooNew { .. } => {
                ErrorKind::Integrity
            }
            Self::Store { source, .. } => match source.sqlite_error_code() {
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                    ErrorKind::Busy
                }
                Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => {
                    ErrorKind::Integrity
                }
                _ => ErrorKind::Internal,
            },
            Self::Cancelled | Self::FetchCancelled { .. } => ErrorKind::Cancelled,
            Self::RunInProgress(_) | Self::RegistrationDeferred { .. } | Self::Busy { .. } => {
                ErrorKind::Busy
            }
            Self::RunNotInProgress(_)
            | Self::NoValidation
            | Self::NoFetch
            | Self::NotQueued(_)
            | Self::NoBench => ErrorKind::NotFound,
            Self::BenchInProgress => ErrorKind::Busy,
            Self::ValidationInProgress | Self::FetchInProgress => ErrorKind::Busy,
            Self::Io { .. }
            | Self::NoHome
            | Self::Export(_)
            | Self::OnnxRuntime(_)
            | Self::Gbdt(_) => ErrorKind::Internal,
        }
    }

    /// This error as the desktop contract carries it.
    pub fn to_reply(&self) -> ErrorReply {
        ErrorReply {
            remedy: self.remedy(),
            ..ErrorReply::new(self.kind(), self.to_string())
        }
    }
}

/// What a SQLite error most likely means for the user, by its code: only a busy or locked
/// database is blamed on another atb process.
fn store_hint(source: &rusqlite::Error) -> &'static str {
    use rusqlite::ErrorCode as C;
    match source.sqlite_error_code() {
        Some(C::DatabaseBusy | C::DatabaseLocked) => {
            " (another atb process holds it; retry when it finishes)"
        }
        Some(C::DiskFull) => " (the disk is full; free some space and retry)",
        Some(C::DatabaseCorrupt | C::NotADatabase) => {
            " (the file is damaged; close atb, set it aside and restore a backup)"
        }
        Some(C::ReadOnly | C::PermissionDenied | C::CannotOpen) => {
            " (atb cannot write it: check the folder's permissions and free space)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_errors_name_their_likely_cause_and_only_a_lock_blames_another_process() {
        let home = tempfile::tempdir().unwrap();
        let path = home.path().join("atb.sqlite");
        // A file that is not a database.
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();
        let source = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap_err();
        let message = Error::Store {
            path: path.clone(),
            source,
        }
        .to_string();
        assert!(message.contains("damaged"), "{message}");
        assert!(!message.contains("another atb process"), "{message}");
        // A write lock held by another connection past the busy timeout.
        std::fs::remove_file(&path).unwrap();
        let holder = rusqlite::Connection::open(&path).unwrap();
        holder
            .execute_batch("CREATE TABLE t (x); BEGIN IMMEDIATE; INSERT INTO t VALUES (1);")
            .unwrap();
        let other = rusqlite::Connection::open(&path).unwrap();
        other
            .busy_timeout(std::time::Duration::from_millis(10))
            .unwrap();
        let source = other.execute("INSERT INTO t VALUES (2)", []).unwrap_err();
        let message = Error::Store { path, source }.to_string();
        assert!(message.contains("another atb process"), "{message}");
    }
}
