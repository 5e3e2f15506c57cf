//! The training run in progress: its history so far and the UI channels listening to it. A UI
//! that attaches mid-run gets the history and every later update, none twice and none lost,
//! because both happen under one lock.

use std::sync::Mutex;

use atb_engine::training::CancelToken;
use atb_protocol::desktop::{RunSnapshot, RunUpdate, TrainRequest};

/// Where a run's updates go: a Tauri channel to a webview, or a test's collector.
pub trait RunSink: Send {
    /// False when the listener is gone (the page was closed or reloaded).
    fn send(&self, update: &RunUpdate) -> bool;
}

impl RunSink for tauri::ipc::Channel<RunUpdate> {
    fn send(&self, update: &RunUpdate) -> bool {
        tauri::ipc::Channel::send(self, update.clone()).is_ok()
    }
}

/// A run started without a page to hear it (at start-up); pages attach later.
pub struct NoListener;

impl RunSink for NoListener {
    fn send(&self, _: &RunUpdate) -> bool {
        false
    }
}

struct Run {
    id: u64,
    request: TrainRequest,
    updates: Vec<RunUpdate>,
    sinks: Vec<Box<dyn RunSink>>,
    cancel: CancelToken,
    active: bool,
}

impl Run {
    fn snapshot(&self) -> RunSnapshot {
        RunSnapshot {
            run_id: self.id,
            request: self.request.clone(),
            updates: self.updates.clone(),
            active: self.active,
        }
    }
}

/// At most one run at a time (training saturates the machine); the last one is kept after it ends
/// so a reopened UI still sees how it went.
#[derive(Default)]
pub struct Runs {
    inner: Mutex<RunsInner>,
}

#[derive(Default)]
struct RunsInner {
    next_id: u64,
    current: Option<Run>,
}

#[derive(Debug, PartialEq)]
pub enum RunsError {
    Busy(u64),
    NoRun,
}

impl std::fmt::Display for RunsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Busy(id) => write!(
                f,
                "run {id} is still training; cancel it or wait for it to finish before starting another"
            ),
            Self::NoRun => f.write_str("no training run is in progress"),
        }
    }
}

impl Runs {
    fn lock(&self) -> std::sync::MutexGuard<'_, RunsInner> {
        // A panic while holding the lock cannot leave the history half-written in a way that
        // matters more than losing the app, so keep going with what is there.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts run bookkeeping; `sink` hears every update from now on.
    pub fn begin(
        &self,
        request: TrainRequest,
        sink: Box<dyn RunSink>,
    ) -> Result<(RunSnapshot, CancelToken), RunsError> {
        let mut inner = self.lock();
        if let Some(run) = &inner.current
            && run.active
        {
            return Err(RunsError::Busy(run.id));
        }
        inner.next_id += 1;
        let run = Run {
            id: inner.next_id,
            request,
            updates: Vec::new(),
            sinks: vec![sink],
            cancel: CancelToken::new(),
            active: true,
        };
        let out = (run.snapshot(), run.cancel.clone());
        inner.current = Some(run);
        Ok(out)
    }

    /// Records an update of run `id` and passes it to every listener still there.
    pub fn publish(&self, id: u64, update: RunUpdate) {
        let mut inner = self.lock();
        let Some(run) = inner.current.as_mut().filter(|r| r.id == id) else {
            return;
        };
        if update.is_final() {
            run.active = false;
        }
        run.sinks.retain(|s| s.send(&update));
        run.updates.push(update);
    }

    /// The current (or last) run so far, and `sink` hears the rest; `None` when there was none.
    pub fn attach(&self, sink: Box<dyn RunSink>) -> Option<RunSnapshot> {
        let mut inner = self.lock();
        let run = inner.current.as_mut()?;
        if run.active {
            run.sinks.push(sink);
        }
        Some(run.snapshot())
    }

    pub fn cancel(&self) -> Result<(), RunsError> {
        let inner = self.lock();
        match &inner.current {
            Some(run) if run.active => {
                run.cancel.cancel();
                Ok(())
            }
            _ => Err(RunsError::NoRun),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[derive(Clone, Default)]
    struct Collector(Arc<Mutex<Vec<RunUpdate>>>, bool);

    impl RunSink for Collector {
        fn send(&self, u: &RunUpdate) -> bool {
            self.0.lock().unwrap().push(u.clone());
            !self.1
        }
    }

    fn loading(m: &str) -> RunUpdate {
        RunUpdate::Loading { message: m.into() }
    }

    #[test]
    fn late_listeners_get_history_then_the_rest_exactly_once() {
        let runs = Runs::default();
        let first = Collector::default();
        let (snap, cancel) = runs
            .begin(TrainRequest::default(), Box::new(first.clone()))
            .unwrap();
        assert_eq!((snap.run_id, snap.updates.len(), snap.active), (1, 0, true));
        runs.publish(1, loading("a"));
        runs.publish(1, loading("b"));
        let late = Collector::default();
        let snap = runs.attach(Box::new(late.clone())).unwrap();
        assert_eq!(snap.updates, [loading("a"), loading("b")]);
        runs.publish(1, loading("c"));
        runs.publish(
            1,
            RunUpdate::Failed {
                message: "x".into(),
            },
        );
        assert_eq!(first.0.lock().unwrap().len(), 4);
        assert_eq!(late.0.lock().unwrap().len(), 2);
        // Ended: attaching still shows it, but a second run may start.
        assert!(!runs.attach(Box::new(Collector::default())).unwrap().active);
        assert_eq!(runs.cancel(), Err(RunsError::NoRun));
        assert!(!cancel.is_cancelled());
        let (snap, _) = runs
            .begin(TrainRequest::default(), Box::new(Collector::default()))
            .unwrap();
        assert_eq!(snap.run_id, 2);
        // Updates of the old run are ignored.
        runs.publish(1, loading("stale"));
        assert!(
            runs.attach(Box::new(Collector::default()))
                .unwrap()
                .updates
                .is_empty()
        );
    }

    #[test]
    fn one_run_at_a_time_and_cancel_reaches_the_token() {
        let runs = Runs::default();
        assert!(runs.attach(Box::new(Collector::default())).is_none());
        let (_, cancel) = runs
            .begin(TrainRequest::default(), Box::new(Collector::default()))
            .unwrap();
        assert_eq!(
            runs.begin(TrainRequest::default(), Box::new(Collector::default()))
                .unwrap_err(),
            RunsError::Busy(1)
        );
        runs.cancel().unwrap();
        assert!(cancel.is_cancelled());
    }

    #[test]
    fn gone_listeners_are_dropped() {
        let runs = Runs::default();
        let gone = Collector(Arc::default(), true);
        runs.begin(TrainRequest::default(), Box::new(gone.clone()))
            .unwrap();
        runs.publish(1, loading("a"));
        runs.publish(1, loading("b"));
        assert_eq!(gone.0.lock().unwrap().len(), 1);
    }
}
