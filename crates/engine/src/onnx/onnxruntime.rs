//! ONNX Runtime as a second runtime for exported files, loaded at run time from its shared
//! library (`libonnxruntime.so`), never linked or downloaded at build time. tract stays the
//! pure-Rust runtime that is always there; ONNX Runtime is about twice as fast on the recurrent
//! models' single windows (docs/benchmarks.md) and runs operators tract lacks.
//!
//! The library is found at `ATB_ONNXRUNTIME` (a file path), else where the desktop app's Debian
//! package installs it (`../lib/atb/` from the executable: `/usr/lib/atb/`), else in the `.venv`
//! of the checkout atb was built from, where `scripts/setup.sh` installs it. Absent, every use
//! says so and how to fix it; nothing falls back silently.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use atb_protocol::rpc::Remedy;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;

use super::document::{OnnxDocument, read_metadata};
use crate::error::{Error, Result};

/// The environment variable naming the library file.
pub const LIBRARY_ENV: &str = "ATB_ONNXRUNTIME";

fn runtime_err(e: impl std::fmt::Display) -> Error {
    Error::OnnxRuntime(format!("ONNX Runtime: {e}"))
}

/// The folder, relative to the executable's, where the Debian package puts the library.
pub const PACKAGED_DIR: &str = "../lib/atb";

/// The newest `libonnxruntime.so*` file in `dir`.
fn find_in_dir(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("libonnxruntime.so"))
        })
        .collect();
    found.sort();
    found.pop()
}

/// `libonnxruntime.so*` under a `.venv`'s site-packages.
fn find_in_venv(venv: &Path) -> Option<PathBuf> {
    let lib = venv.join("lib");
    std::fs::read_dir(&lib)
        .ok()?
        .flatten()
        .find_map(|python| find_in_dir(&python.path().join("site-packages/onnxruntime/capi")))
}

/// The packaged library beside the running executable, if this is an installed atb.
fn find_packaged() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    find_in_dir(&exe.parent()?.join(PACKAGED_DIR))
}

/// Where the library is, or why it was not found.
pub fn library_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(LIBRARY_ENV) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(Error::OnnxRuntime(format!(
                "{LIBRARY_ENV}={} is not a file; point it at libonnxruntime.so",
                p.display()
            )))
        };
    }
    if let Some(p) = find_packaged() {
        return Ok(p);
    }
    let checkout_venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv");
    find_in_venv(&checkout_venv).ok_or_else(|| {
        Error::OnnxRuntime(format!(
            "ONNX Runtime's library was not found (not in {LIBRARY_ENV}, beside atb, or in {})",
            checkout_venv.display()
        ))
        .with_remedy(Remedy::InstallOnnxRuntime)
    })
}

/// Loads the library once per process; later calls return the same answer.
pub fn ensure_loaded() -> Result<&'static Path> {
    static LOADED: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let path = library_path().map_err(|e| e.to_string())?;
            let builder = ort::init_from(&path)
                .map_err(|e| format!("ONNX Runtime: loading {} failed: {e}", path.display()))?;
            builder.with_name("atb").commit();
            Ok(path)
        })
        .as_ref()
        .map(|p| p.as_path())
        .map_err(|e| Error::OnnxRuntime(e.clone()))
}

/// An ONNX forecast model in an ONNX Runtime session (full graph optimisation, one intra-op
/// thread: the setting for single-window latency).
pub struct OrtModel {
    session: Mutex<Session>,
    input: String,
    pub document: OnnxDocument,
}

impl std::fmt::Debug for OrtModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtModel")
            .field("document", &self.document)
            .finish_non_exhaustive()
    }
}

impl OrtModel {
    /// Checks the atb metadata of the file and opens a session on it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let document = OnnxDocument::from_props(&read_metadata(bytes)?)?;
        Self::from_bytes_unchecked(bytes, document)
    }

    /// A session on any file whose input is `[batch, L, F]` float32 and output `[batch, 1]`.
    pub(crate) fn from_bytes_unchecked(bytes: &[u8], document: OnnxDocument) -> Result<Self> {
        ensure_loaded()?;
        let session = Session::builder()
            .and_then(|b| b.with_optimization_level(GraphOptimizationLevel::Level3))
            .and_then(|b| b.with_intra_threads(1))
            .and_then(|b| b.with_inter_threads(1))
            .and_then(|b| b.commit_from_memory(bytes))
            .map_err(runtime_err)?;
        let input = session
            .inputs()
            .first()
            .map(|i| i.name().to_string())
            .ok_or_else(|| Error::OnnxRuntime("the model has no input".into()))?;
        Ok(Self {
            session: Mutex::new(session),
            input,
            document,
        })
    }

    /// Raw outputs `[n]` for `n` windows `values` (`[n, L, F]` row-major, already scaled).
    pub fn predict(&self, values: &[f32], n: usize) -> Result<Vec<f32>> {
        self.run(values, n, 0)
    }

    /// The forecasts (the second output, after the target's head) for `n` windows.
    pub fn forecasts(&self, values: &[f32], n: usize) -> Result<Vec<f32>> {
        self.run(values, n, 1)
    }

    fn run(&self, values: &[f32], n: usize, index: usize) -> Result<Vec<f32>> {
        let (l, f) = self.document.window_dims(values.len(), n)?;
        if n == 0 {
            return Ok(Vec::new());
        }
        let input = Tensor::from_array(([n, l, f], values.to_vec())).map_err(runtime_err)?;
        // A poisoned lock only means an earlier call panicked; the session itself is intact.
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let outputs = session
            .run(ort::inputs![self.input.as_str() => input])
            .map_err(runtime_err)?;
        if outputs.len() <= index {
            return Err(Error::OnnxRuntime(format!(
                "the model returned no output {}",
                index + 1
            )));
        }
        let (shape, data) = outputs[index]
            .try_extract_tensor::<f32>()
            .map_err(runtime_err)?;
        if shape.iter().product::<i64>() != n as i64 || shape.first() != Some(&(n as i64)) {
            return Err(Error::OnnxRuntime(format!(
                "output shape {:?}, expected [{n}, 1]",
                &shape[..]
            )));
        }
        Ok(data.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_is_the_newest_libonnxruntime_file_of_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(find_in_dir(dir.path()), None);
        for name in [
            "libonnxruntime.so.1.22.0",
            "libonnxruntime.so.1.23.2",
            "libother.so",
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        // A folder of that name is not a library.
        std::fs::create_dir(dir.path().join("libonnxruntime.so.9")).unwrap();
        assert_eq!(
            find_in_dir(dir.path()),
            Some(dir.path().join("libonnxruntime.so.1.23.2"))
        );
        assert_eq!(find_in_dir(&dir.path().join("missing")), None);
    }
}
