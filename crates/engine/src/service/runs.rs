//! Training runs for a long-lived host (the desktop shell): the run in progress, its history so
//! far and the listeners following it, and [`start_run`], which loads the candles, trains and
//! registers on a worker thread while every update reaches the listeners. A listener that
//! attaches mid-run gets the history and every later update, none twice and none lost, because
//! both happen under one lock.

use std::sync::{Arc, Mutex};

use atb_protocol::desktop::{RunSnapshot, RunUpdate, TrainRequest};
use atb_protocol::training::TrainingEvent;

use super::block_on;
use super::data::load_series;
use super::train::{TrainOptions, TrainResult, train_and_register};
use super::workbench::{JobKind, JobSlot, Workbench};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::settings::Settings;
use crate::training::CheckedSpec;

/// Where a run's updates go: a channel to a webview, or a test's collector.
pub trait RunSink: Send {
    /// False when the listener is gone (the page was closed or reloaded).
    fn send(&self, update: &RunUpdate) -> bool;
}

/// A run started without anyone to hear it (a desktop run at start-up); listeners attach later.
pub struct NoListener;

impl RunSink for NoListener {
    fn send(&self, _: &RunUpdate) -> bool {
        false
    }
}

/// Batch updates a run's history keeps at most: beyond it, every second one is dropped, so a very
/// long run keeps the shape of its batch-loss line in bounded memory. Every other update is kept.
pub const MAX_BATCH_UPDATES: usize = 10_000;

fn is_batch(update: &RunUpdate) -> bool {
    matches!(
        update,
        RunUpdate::Training {
            event: TrainingEvent::Batch { .. }
        }
    )
}

struct Run {
    id: u64,
    request: TrainRequest,
    updates: Vec<RunUpdate>,
    /// How many of `updates` are batch updates.
    batch_updates: usize,
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

/// Told of each run's final update, after its listeners: what the desktop shell's notifications
/// hang on, for runs started by hand and by the queue alike.
pub type EndObserver = Arc<dyn Fn(&TrainRequest, &RunUpdate) + Send + Sync>;

/// At most one run at a time (training saturates the machine); the last one is kept after it ends
/// so a reopened UI still sees how it went.
#[derive(Default)]
pub struct Runs {
    inner: Mutex<RunsInner>,
    on_end: Mutex<Option<EndObserver>>,
}

#[derive(Default)]
struct RunsInner {
    next_id: u64,
    current: Option<Run>,
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
    ) -> Result<(RunSnapshot, CancelToken)> {
        let mut inner = self.lock();
        if let Some(run) = &inner.current
            && run.active
        {
            return Err(Error::RunInProgress(run.id));
        }
        inner.next_id += 1;
        let run = Run {
            id: inner.next_id,
            request,
            updates: Vec::new(),
            batch_updates: 0,
            sinks: vec![sink],
            cancel: CancelToken::new(),
            active: true,
        };
        let out = (run.snapshot(), run.cancel.clone());
        inner.current = Some(run);
        Ok(out)
    }

    /// Sets what hears every later run's final update (one observer; a second replaces it).
    pub fn on_end(&self, observer: EndObserver) {
        *self.on_end.lock().unwrap_or_else(|p| p.into_inner()) = Some(observer);
    }

    /// Records an update of run `id` and passes it to every listener still there.
    pub fn publish(&self, id: u64, update: RunUpdate) {
        let ended = self.record(id, update);
        // Outside the run lock: the observer may take its time (a D-Bus call) or look at the run.
        if let Some((request, update)) = ended {
            let observer = self
                .on_end
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            if let Some(observer) = observer {
                observer(&request, &update);
            }
        }
    }

    /// Records `update` for run `id`; the run's request and this update when it ended the run.
    fn record(&self, id: u64, update: RunUpdate) -> Option<(TrainRequest, RunUpdate)> {
        let mut inner = self.lock();
        let run = inner.current.as_mut().filter(|r| r.id == id)?;
        let ended =
            (update.is_final() && run.active).then(|| (run.request.clone(), update.clone()));
        if update.is_final() {
            run.active = false;
        }
        run.sinks.retain(|s| s.send(&update));
        if is_batch(&update) {
            run.batch_updates += 1;
            if run.batch_updates > MAX_BATCH_UPDATES {
                let mut nth = 0usize;
                run.updates.retain(|u| {
                    if !is_batch(u) {
                        return true;
                    }
                    nth += 1;
                    nth.is_multiple_of(2)
                });
                // The kept half, and the update about to be pushed.
                run.batch_updates = nth / 2 + 1;
            }
        }
        run.updates.push(update);
        ended
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

    /// The id of the run in progress, if one is.
    pub fn active_run(&self) -> Option<u64> {
        self.lock()
            .current
            .as_ref()
            .filter(|r| r.active)
            .map(|r| r.id)
    }

    /// Waits until run `id` has published its final update, or `timeout` passes; true when it
    /// ended (or was never the run in progress).
    pub fn wait_until_ended(&self, id: u64, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if self.active_run() != Some(id) {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Asks run `id` to stop after its current batch; refused when that run is not the one in
    /// progress (a stale page must not cancel a newer run).
    pub fn cancel(&self, id: u64) -> Result<()> {
        let inner = self.lock();
        match &inner.current {
            Some(run) if run.active && run.id == id => {
                run.cancel.cancel();
                Ok(())
            }
            _ => Err(Error::RunNotInProgress(id)),
        }
    }
}

/// Checks `request`, takes the workbench's heavy-job place for it (refused while a benchmark, a
/// validation or another run has it), registers the run in the run table and, on a worker
/// thread, loads its candles, trains and registers the model; `sink` hears every update, ending
/// with `Registered`, `NotRegistered` or `Failed`. Returns at once with the run's first
/// snapshot. The place is given back only after the final update, so a queued run never starts
/// beside the end of this one.
pub fn start_run(
    settings: &Settings,
    workbench: &Arc<Workbench>,
    request: TrainRequest,
    sink: Box<dyn RunSink>,
) -> Result<RunSnapshot> {
    if let Some(problem) = request.problems().into_iter().next() {
        return Err(Error::InvalidSpec(problem));
    }
    // The memory check too, before the run's candles are loaded or fetched.
    let spec = super::train::check(&request.spec)?;
    let s = &request.series;
    let mut slot = workbench.begin(
        JobKind::Training,
        format!(
            "training {} {} on {} {}",
            request.spec.architecture, request.spec.variant, s.symbol, s.timeframe
        ),
    )?;
    let runs = &workbench.runs;
    let (snapshot, cancel) = runs.begin(request.clone(), sink)?;
    slot.adopt(cancel.clone());
    let id = snapshot.run_id;
    let settings = settings.clone();
    spawn_run(runs, id, slot, move |runs, slot| {
        run(&settings, runs, id, &request, &spec, &cancel, slot)
    })?;
    Ok(snapshot)
}

/// Runs `body` for run `id` on its own thread and publishes what it returns as the final update.
/// Whatever happens inside (a panic while loading candles, in training or in registration), the
/// run ends with a final update, so it never stays "active" and the next Train is accepted.
/// `held` (the run's job place) is dropped only after that final update.
fn spawn_run<H: Send + 'static>(
    runs: &Arc<Runs>,
    id: u64,
    held: H,
    body: impl FnOnce(&Runs, &H) -> RunUpdate + Send + 'static,
) -> Result<()> {
    let worker = std::thread::Builder::new()
        .name(format!("atb-run-{id}"))
        .spawn({
            let runs = Arc::clone(runs);
            move || {
                let last =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&runs, &held)))
                        .unwrap_or_else(|_| RunUpdate::Failed {
                            message: "the training thread panicked; see the app's log".into(),
                        });
                runs.publish(id, last);
                drop(held);
            }
        });
    if let Err(e) = worker {
        let message = format!("cannot start a training thread: {e}");
        runs.publish(
            id,
            RunUpdate::Failed {
                message: message.clone(),
            },
        );
        return Err(Error::InvalidRequest(message));
    }
    Ok(())
}

/// The body of a run: its final update.
fn run(
    settings: &Settings,
    runs: &Runs,
    id: u64,
    request: &TrainRequest,
    spec: &CheckedSpec,
    cancel: &CancelToken,
    slot: &JobSlot,
) -> RunUpdate {
    let s = &request.series;
    runs.publish(
        id,
        RunUpdate::Loading {
            message: format!("loading {} {} from {}", s.symbol, s.timeframe, s.source),
        },
    );
    // Loading may fetch from Binance for minutes; Cancel stops it too (pages already fetched
    // stay in the store).
    let mut no_progress = |_| {};
    let loading = async {
        tokio::select! {
            loaded = load_series(settings, s, &mut no_progress) => loaded.map(Some),
            () = cancel.cancelled() => Ok(None),
        }
    };
    let series = match block_on(loading) {
        Ok(Some(series)) => series,
        Ok(None) => {
            return RunUpdate::NotRegistered {
                reason: "cancelled while loading candles: nothing was trained or registered".into(),
            };
        }
        Err(e) => {
            return RunUpdate::Failed {
                message: e.to_string(),
            };
        }
    };
    let mut on_event = |event: TrainingEvent| {
        if let TrainingEvent::EpochEnd { epoch, epochs, .. } = &event {
            slot.progress(format!("epoch {epoch} of {epochs} done"));
        }
        runs.publish(id, RunUpdate::Training { event });
    };
    match train_and_register(
        settings,
        &series,
        spec,
        &TrainOptions::default(),
        &mut on_event,
        cancel,
    ) {
        Ok(TrainResult::Registered { row, .. }) => RunUpdate::Registered { row },
        Ok(TrainResult::Cancelled { epochs_run }) => RunUpdate::NotRegistered {
            reason: TrainResult::cancelled_message(epochs_run),
        },
        Err(e) => RunUpdate::Failed {
            message: e.to_string(),
        },
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
    fn the_end_observer_hears_each_run_end_once_with_its_request() {
        let runs = Runs::default();
        let heard: Arc<Mutex<Vec<(u64, RunUpdate)>>> = Arc::default();
        let into = Arc::clone(&heard);
        runs.on_end(Arc::new(move |request, update| {
            into.lock()
                .unwrap()
                .push((request.spec.seed, update.clone()));
        }));
        let mut request = TrainRequest::default();
        request.spec.seed = 7;
        runs.begin(request, Box::new(NoListener)).unwrap();
        runs.publish(1, loading("a"));
        assert!(heard.lock().unwrap().is_empty(), "not final: nothing heard");
        let failed = RunUpdate::Failed {
            message: "x".into(),
        };
        runs.publish(1, failed.clone());
        // A second final update of an ended run (it cannot happen today) is not a second end.
        runs.publish(1, failed.clone());
        // Nor is an update of a run that is not the current one.
        runs.publish(9, failed.clone());
        assert_eq!(*heard.lock().unwrap(), [(7, failed)]);
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
        assert!(matches!(runs.cancel(1), Err(Error::RunNotInProgress(1))));
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
    fn a_run_whose_body_panics_ends_failed_and_the_next_run_starts() {
        let runs = Arc::new(Runs::default());
        let seen = Collector::default();
        let (snapshot, _) = runs
            .begin(TrainRequest::default(), Box::new(seen.clone()))
            .unwrap();
        spawn_run(&runs, snapshot.run_id, (), |runs, _| {
            runs.publish(1, loading("loading candles"));
            panic!("a loading stage that panics");
        })
        .unwrap();
        assert!(runs.wait_until_ended(1, std::time::Duration::from_secs(10)));
        let updates = seen.0.lock().unwrap().clone();
        assert!(
            matches!(updates.last(), Some(RunUpdate::Failed { message }) if message.contains("panicked"))
        );
        assert_eq!(runs.active_run(), None);
        let (next, _) = runs
            .begin(TrainRequest::default(), Box::new(NoListener))
            .unwrap();
        assert_eq!(next.run_id, 2);
        assert_eq!(runs.active_run(), Some(2));
        assert!(!runs.wait_until_ended(2, std::time::Duration::from_millis(100)));
    }

    #[test]
    fn one_run_at_a_time_and_cancel_reaches_the_token() {
        let runs = Runs::default();
        assert!(runs.attach(Box::new(Collector::default())).is_none());
        let (_, cancel) = runs
            .begin(TrainRequest::default(), Box::new(Collector::default()))
            .unwrap();
        assert!(matches!(
            runs.begin(TrainRequest::default(), Box::new(Collector::default())),
            Err(Error::RunInProgress(1))
        ));
        // Only the run named.
        assert!(matches!(runs.cancel(2), Err(Error::RunNotInProgress(2))));
        assert!(!cancel.is_cancelled());
        runs.cancel(1).unwrap();
        assert!(cancel.is_cancelled());
    }

    #[test]
    fn a_long_run_keeps_its_history_bounded_and_every_epoch() {
        let runs = Runs::default();
        runs.begin(TrainRequest::default(), Box::new(NoListener))
            .unwrap();
        let batch = |b: usize| RunUpdate::Training {
            event: TrainingEvent::Batch {
                epoch: 1,
                batch: b,
                batches: 1,
                loss: 1.0,
                samples_per_second: 1.0,
            },
        };
        for b in 0..3 * MAX_BATCH_UPDATES {
            runs.publish(1, batch(b));
            if b % 1000 == 0 {
                runs.publish(1, loading("epoch mark"));
            }
        }
        let updates = runs.attach(Box::new(NoListener)).unwrap().updates;
        let batches: Vec<usize> = updates
            .iter()
            .filter_map(|u| match u {
                RunUpdate::Training {
                    event: TrainingEvent::Batch { batch, .. },
                } => Some(*batch),
                _ => None,
            })
            .collect();
        assert!(batches.len() <= MAX_BATCH_UPDATES + 1, "{}", batches.len());
        assert!(batches.len() >= MAX_BATCH_UPDATES / 2);
        // Still in order and spanning the whole run.
        assert!(batches.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(batches.last(), Some(&(3 * MAX_BATCH_UPDATES - 1)));
        // Each thinning drops the older of each pair, so the first kept batch moves only a little.
        assert!(batches[0] < 100, "{}", batches[0]);
        let marks = updates
            .iter()
            .filter(|u| **u == loading("epoch mark"))
            .count();
        assert_eq!(marks, 3 * MAX_BATCH_UPDATES / 1000);
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
