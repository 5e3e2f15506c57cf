//! Every user-level flow the doors call, written once: the `atb` CLI and the desktop shell each
//! parse or receive a request, call one function here, and print or send the reply. Nothing in
//! a door loads candles, trains, registers or exports by itself.
//!
//! | flow | here |
//! |---|---|
//! | which candles a request means, load, fetch, import, coverage, price chart | [`data`] |
//! | train and register (GPU kernel cache set up inside) | [`train`] |
//! | the desktop's job table: one heavy job at a time, what is running, close | [`workbench`] |
//! | the desktop's training runs (start, attach, cancel) and queue | [`runs`], [`queue`] |
//! | list, show, detail, compare, promote, delete, verify, re-evaluate, export | [`models`] |
//! | make an ensemble of registered versions | [`ensemble`] |
//! | backtest after costs, deflated Sharpe, several versions judged at once | [`decision`] |
//! | next close and raw outputs, Burn or ONNX | [`predict`] |
//! | `atb validate` (every pair, end to end) | [`validate`] |
//! | `atb bench` | [`bench`] |
//! | sweeps on Slurm and Kubernetes: plan, worker, import, submit, status, report | [`sweep`] |

pub mod bench;
pub mod data;
pub mod decision;
pub mod ensemble;
pub mod models;
pub mod predict;
pub mod queue;
pub mod runs;
pub mod sweep;
pub mod train;
pub mod validate;
pub mod workbench;

pub use runs::{EndObserver, NoListener, RunSink, Runs, start_run};
pub use workbench::{Job, JobKind, JobSlot, Workbench};

use std::future::Future;
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// Runs an engine future from blocking code (a worker thread): on the multi-threaded runtime the
/// thread belongs to when there is one (a `spawn_blocking` thread of the CLI or the desktop), else
/// on a shared one started on first use. Multi-threaded either way: polars' I/O blocks in place,
/// which a current-thread runtime refuses.
pub fn block_on<T>(future: impl Future<Output = Result<T>>) -> Result<T> {
    use tokio::runtime::{Builder, Handle, Runtime, RuntimeFlavor};
    static SHARED: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();
    if let Ok(handle) = Handle::try_current()
        && handle.runtime_flavor() == RuntimeFlavor::MultiThread
    {
        return handle.block_on(future);
    }
    let shared = SHARED.get_or_init(|| {
        Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("atb-engine")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    });
    match shared {
        Ok(runtime) => runtime.block_on(future),
        Err(e) => Err(Error::InvalidRequest(format!(
            "cannot start an async runtime: {e}"
        ))),
    }
}
