//! The run queue of a long-lived host (the desktop shell): training requests waiting their turn,
//! run one after another by a driver thread through the same [`start_run`] as a clicked Train,
//! each one's outcome (registered version and verdict, or why not) kept for the UI. The queue
//! belongs to the host, not the page, so it survives a page reload and runs unattended. The
//! driver starts a run only when the workbench has no heavy job (a clicked run, a benchmark, a
//! validation), and starts nothing once the queue is paused (on close).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use atb_protocol::desktop::{FinishedRun, QueueSnapshot, QueuedRun, RunUpdate, TrainRequest};

use super::runs::{NoListener, start_run};
use super::workbench::Workbench;
use crate::error::{Error, Result};
use crate::settings::Settings;

/// Runs waiting at most (a queue is for a few dozen experiments, not an unbounded backlog).
pub const MAX_QUEUED: usize = 100;
/// Finished runs remembered for the UI, newest last.
pub const MAX_FINISHED: usize = 200;
/// How long the driver waits for a run to end: no run trains for a year, so in effect until
/// it ends (a finite bound keeps `Instant + Duration` far from overflowing).
const RUN_WAIT: Duration = Duration::from_secs(365 * 24 * 3_600);

#[derive(Default)]
struct QueueInner {
    next_id: u64,
    pending: Vec<QueuedRun>,
    running: Option<(QueuedRun, u64)>,
    finished: Vec<FinishedRun>,
    /// A driver thread is working through `pending`.
    driving: bool,
}

/// The queue: what waits, what runs, what finished.
#[derive(Default)]
pub struct RunQueue {
    inner: Mutex<QueueInner>,
}

impl RunQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What the UI shows.
    pub fn snapshot(&self) -> QueueSnapshot {
        let inner = self.lock();
        QueueSnapshot {
            pending: inner.pending.clone(),
            running: inner
                .running
                .as_ref()
                .map(|(q, run_id)| (q.clone(), *run_id)),
            finished: inner.finished.clone(),
        }
    }

    /// Moves queued run `queue_id` one place earlier (`up`) or later; refused when it is not
    /// waiting (it started, finished or was removed).
    pub fn shift(&self, queue_id: u64, up: bool) -> Result<QueueSnapshot> {
        {
            let mut inner = self.lock();
            let i = inner
                .pending
                .iter()
                .position(|q| q.queue_id == queue_id)
                .ok_or(Error::NotQueued(queue_id))?;
            let j = if up {
                i.saturating_sub(1)
            } else {
                (i + 1).min(inner.pending.len() - 1)
            };
            inner.pending.swap(i, j);
        }
        Ok(self.snapshot())
    }

    /// Takes a waiting run out of the queue.
    pub fn remove(&self, queue_id: u64) -> Result<QueueSnapshot> {
        {
            let mut inner = self.lock();
            let before = inner.pending.len();
            inner.pending.retain(|q| q.queue_id != queue_id);
            if inner.pending.len() == before {
                return Err(Error::NotQueued(queue_id));
            }
        }
        Ok(self.snapshot())
    }
}

/// Adds `requests` to the end of the queue (each checked first: a request with a problem is
/// refused with it and nothing is queued) and starts the driver if it is idle.
pub fn enqueue(
    settings: &Settings,
    workbench: &Arc<Workbench>,
    requests: Vec<TrainRequest>,
) -> Result<QueueSnapshot> {
    for r in &requests {
        if let Some(problem) = r.problems().into_iter().next() {
            return Err(Error::InvalidSpec(problem));
        }
    }
    let queue = &workbench.queue;
    let start_driver = {
        let mut inner = queue.lock();
        if inner.pending.len() + requests.len() > MAX_QUEUED {
            return Err(Error::InvalidRequest(format!(
                "the queue holds at most {MAX_QUEUED} runs; {} are waiting",
                inner.pending.len()
            )));
        }
        for request in requests {
            inner.next_id += 1;
            let queue_id = inner.next_id;
            inner.pending.push(QueuedRun { queue_id, request });
        }
        !std::mem::replace(&mut inner.driving, true)
    };
    if start_driver {
        let (settings, driven) = (settings.clone(), Arc::clone(workbench));
        let spawned = std::thread::Builder::new()
            .name("atb-queue".into())
            .spawn(move || drive(&settings, &driven));
        if let Err(e) = spawned {
            queue.lock().driving = false;
            return Err(Error::InvalidRequest(format!(
                "cannot start the queue's thread: {e}"
            )));
        }
    }
    Ok(queue.snapshot())
}

/// Works through the queue until it is empty or paused: starts the first waiting run once the
/// machine is free (a clicked run, a benchmark or a validation goes first), waits for its end,
/// records the outcome.
fn drive(settings: &Settings, workbench: &Arc<Workbench>) {
    let (runs, queue) = (&workbench.runs, &workbench.queue);
    loop {
        let free = workbench.wait_for_machine();
        let next = {
            let mut inner = queue.lock();
            if !free || inner.pending.is_empty() {
                inner.driving = false;
                return;
            }
            inner.pending.remove(0)
        };
        let started = start_run(
            settings,
            workbench,
            next.request.clone(),
            Box::new(NoListener),
        );
        let outcome = match started {
            Ok(snapshot) => {
                queue.lock().running = Some((next.clone(), snapshot.run_id));
                runs.wait_until_ended(snapshot.run_id, RUN_WAIT);
                runs.attach(Box::new(NoListener))
                    .filter(|s| s.run_id == snapshot.run_id)
                    .and_then(|s| s.updates.last().cloned())
                    .unwrap_or(RunUpdate::Failed {
                        message: "the run ended without a final update".into(),
                    })
            }
            // Another heavy job took the machine between the wait and the start: put it back
            // and wait again.
            Err(Error::Busy { .. } | Error::RunInProgress(_)) => {
                queue.lock().pending.insert(0, next);
                continue;
            }
            Err(e) => RunUpdate::Failed {
                message: e.to_string(),
            },
        };
        let mut inner = queue.lock();
        inner.running = None;
        inner.finished.push(FinishedRun {
            queue_id: next.queue_id,
            request: next.request,
            outcome,
        });
        let excess = inner.finished.len().saturating_sub(MAX_FINISHED);
        inner.finished.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(ids: &[u64]) -> RunQueue {
        let q = RunQueue::default();
        {
            let mut inner = q.lock();
            for &queue_id in ids {
                inner.pending.push(QueuedRun {
                    queue_id,
                    request: TrainRequest::default(),
                });
            }
        }
        q
    }

    fn order(q: &RunQueue) -> Vec<u64> {
        q.snapshot().pending.iter().map(|r| r.queue_id).collect()
    }

    #[test]
    fn waiting_runs_move_and_leave_but_others_are_refused() {
        let q = queued(&[1, 2, 3]);
        q.shift(3, true).unwrap();
        assert_eq!(order(&q), [1, 3, 2]);
        q.shift(1, true).unwrap();
        assert_eq!(order(&q), [1, 3, 2], "the first stays first");
        q.shift(1, false).unwrap();
        assert_eq!(order(&q), [3, 1, 2]);
        q.shift(2, false).unwrap();
        assert_eq!(order(&q), [3, 1, 2], "the last stays last");
        q.remove(1).unwrap();
        assert_eq!(order(&q), [3, 2]);
        assert!(matches!(q.remove(1), Err(Error::NotQueued(1))));
        assert!(matches!(q.shift(9, true), Err(Error::NotQueued(9))));
    }
}
