//! The cancel token every long job watches (training between batches, boosting between rounds,
//! fetches between requests, benchmark and validation between runs): below every other module,
//! so none of them needs the trainer to be cancellable.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Stops a run from another thread; the trainer checks it before every batch.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    /// Resolves once the token is cancelled (it looks every 50 ms): to race work that can be
    /// dropped at any await, such as a fetch between or inside its requests.
    pub async fn cancelled(&self) {
        while !self.is_cancelled() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
