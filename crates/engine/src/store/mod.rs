//! The SQLite database under `ATB_HOME`: connection set-up and embedded migrations.
//!
//! One file (`atb.sqlite`) holds the candle store now and the registry index later; each later
//! issue adds a numbered `.sql` file to `MIGRATIONS`.

pub mod candles;

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::error::{Error, Result};

/// Numbered schema migrations, applied in order and recorded in `PRAGMA user_version`.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_candles.sql"),
    include_str!("migrations/0002_registry.sql"),
    include_str!("migrations/0003_onnx_exports.sql"),
    include_str!("migrations/0004_evaluations.sql"),
    include_str!("migrations/0005_file_hashes.sql"),
    include_str!("migrations/0006_forward_tests.sql"),
    include_str!("migrations/0007_targets.sql"),
    include_str!("migrations/0008_order_flow.sql"),
];

/// How long a statement waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens (creating if needed) the database at `path`, with WAL, foreign keys and a busy timeout,
/// and brings its schema up to date.
pub fn open_database(path: &Path) -> Result<Connection> {
    let store_err = |source| Error::Store {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        crate::settings::create_private_dir(dir)?;
    }
    let mut conn = Connection::open(path).map_err(store_err)?;
    // Another atb process (the CLI beside the desktop app) may hold the write lock briefly.
    conn.busy_timeout(BUSY_TIMEOUT).map_err(store_err)?;
    // Turning a new file to WAL takes an exclusive lock, and SQLite answers "database is locked"
    // at once (no busy handler) when another connection opens the same new file meanwhile: the
    // desktop's first requests on a fresh ATB_HOME do. Ask again for as long as the busy timeout.
    let asked = std::time::Instant::now();
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Ok(()) => break,
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && asked.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(store_err(e)),
        }
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(store_err)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(store_err)?;
    // A copied or shared database must not run code hidden in its schema (views, triggers).
    conn.pragma_update(None, "trusted_schema", "OFF")
        .map_err(store_err)?;
    migrate(&mut conn).map_err(|e| match e {
        MigrateError::Sql(source) => store_err(source),
        MigrateError::TooNew(found) => Error::StoreTooNew {
            path: path.to_path_buf(),
            found,
            known: MIGRATIONS.len() as i64,
        },
    })?;
    Ok(conn)
}

enum MigrateError {
    Sql(rusqlite::Error),
    TooNew(i64),
}

impl From<rusqlite::Error> for MigrateError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

fn migrate(conn: &mut Connection) -> std::result::Result<(), MigrateError> {
    // The common case, an up-to-date schema, is checked without the write lock, so opening the
    // database never queues behind a writer (a long import, a registration).
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current == MIGRATIONS.len() as i64 {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > MIGRATIONS.len() as i64 {
        return Err(MigrateError::TooNew(version));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_up_to_date_database_opens_while_another_connection_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("atb.sqlite");
        drop(super::open_database(&path).unwrap());
        let writer = rusqlite::Connection::open(&path).unwrap();
        writer.execute_batch("BEGIN IMMEDIATE").unwrap();
        // Before, opening took the write lock to check migrations and failed after the busy
        // timeout here.
        let reader = super::open_database(&path).unwrap();
        let version: i64 = reader
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, super::MIGRATIONS.len() as i64);
        writer.execute_batch("ROLLBACK").unwrap();
    }

    use super::*;

    #[test]
    fn many_connections_opening_a_new_file_at_once_all_open_it() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("atb.sqlite");
            let barrier = std::sync::Barrier::new(6);
            std::thread::scope(|scope| {
                for _ in 0..6 {
                    scope.spawn(|| {
                        barrier.wait();
                        open_database(&path).unwrap();
                    });
                }
            });
        }
    }

    #[test]
    fn migrates_once_and_refuses_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/atb.sqlite");
        drop(open_database(&path).unwrap());
        let conn = open_database(&path).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = open_database(&path).unwrap_err().to_string();
        assert!(err.contains("newer atb"), "{err}");
    }
}
