//! File helpers every writer shares: atomic writes (a temporary sibling, fsync, rename) and
//! SHA-256 in hex.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Maps an I/O error on `path` to the engine's error.
pub(crate) fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io(path, e)
}

/// Writes `bytes` to `path` through a temporary sibling, an fsync and a rename, so readers never
/// see a partial file. (The new name is durable once the folder is synced: [`sync_dir`].)
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    // Unique per process and per call, so two threads writing the same file never share a
    // temporary name.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp-{}-{n}", std::process::id()));
    // Errors name the file the caller asked for, not the temporary sibling.
    std::fs::write(&tmp, bytes).map_err(io(path))?;
    let file = std::fs::File::open(&tmp).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Flushes a folder's entries (new names, renames) to disk: a file's own fsync does not make its
/// name durable. A no-op where folders cannot be opened for syncing (Windows).
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let handle = std::fs::File::open(dir).map_err(io(dir))?;
        handle.sync_all().map_err(io(dir))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::write_atomic;

    #[test]
    fn concurrent_writers_of_one_file_never_share_a_temporary_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        std::thread::scope(|scope| {
            for t in 0..4u8 {
                let path = &path;
                scope.spawn(move || {
                    for _ in 0..50 {
                        write_atomic(path, &[t; 4096]).unwrap();
                    }
                });
            }
        });
        // Whole content from one writer, and no temporary left behind.
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() == 4096 && bytes.iter().all(|b| *b == bytes[0]));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
