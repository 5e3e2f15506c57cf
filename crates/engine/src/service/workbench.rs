//! The desktop's one job table: every long job a host starts (a training run, queued or clicked,
//! a benchmark, a validation, a fetch, a CSV import, an ONNX export, a recovery, an ensemble
//! being made) takes a place in
//! it for as long as it runs, under one compatibility rule, and the table is the one answer to
//! "what is running?" (the close guard's question, the refusals' wording).
//!
//! The rule: at most one **heavy** job at a time (training, benchmark, validation: each saturates
//! the cores or the GPU, a benchmark's timings are only its own when nothing else trains, and
//! Burn's CPU random source is process-wide, so two trainings at once would also break seed
//! reproducibility); at most one job of each kind; light jobs (fetch, import, export, recovery,
//! making an ensemble: forecasts of trained models, no training) run beside anything. The queue's driver waits here for the machine to be free rather than for
//! a run only, so it never starts a run beside a benchmark, and it stops taking runs once the
//! queue is paused (on close).
//!
//! The CLI runs one command per process and needs no table.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::queue::RunQueue;
use super::runs::Runs;
use crate::cancel::CancelToken;
use crate::error::{Error, Result};

/// What a job is, for the compatibility rule and for the words that name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Training,
    Benchmark,
    Validation,
    Fetch,
    Import,
    Export,
    Recovery,
    Ensemble,
}

impl JobKind {
    /// Jobs that take the whole machine: one of them at a time.
    pub fn is_heavy(self) -> bool {
        matches!(self, Self::Training | Self::Benchmark | Self::Validation)
    }
}

/// A job in the table, as the close guard and the refusals describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: u64,
    pub kind: JobKind,
    /// What it is, e.g. "a benchmark" or "training tcn default on BTCUSDT 1h".
    pub what: String,
    /// How far it is, e.g. "3 of 10 runs done", once it has said.
    pub progress: Option<String>,
}

impl Job {
    /// "a benchmark, 3 of 10 runs done".
    pub fn describe(&self) -> String {
        match &self.progress {
            Some(p) => format!("{}, {p}", self.what),
            None => self.what.clone(),
        }
    }
}

struct Entry {
    job: Job,
    cancel: CancelToken,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    entries: Vec<Entry>,
    /// Set on close: the queue starts nothing more.
    queue_paused: bool,
}

/// The job table, with the run table and the queue it governs.
#[derive(Default)]
pub struct Workbench {
    table: Mutex<Table>,
    /// Signalled whenever a job leaves the table or the queue is paused.
    changed: Condvar,
    pub runs: Arc<Runs>,
    pub queue: Arc<RunQueue>,
}

/// A job's place in the table: its cancel token and its progress line. The job leaves the table
/// when this is dropped, whatever ended it (a panic included), so a slot is never left taken.
pub struct JobSlot {
    workbench: Arc<Workbench>,
    id: u64,
    cancel: CancelToken,
}

impl JobSlot {
    pub fn token(&self) -> &CancelToken {
        &self.cancel
    }

    /// Says how far the job is (shown by the close guard).
    pub fn progress(&self, progress: impl Into<String>) {
        let progress = progress.into();
        let mut table = self.workbench.lock();
        if let Some(entry) = table.entries.iter_mut().find(|e| e.job.id == self.id) {
            entry.job.progress = Some(progress);
        }
    }

    /// Makes `cancel` the job's token (a run's token is made by the run table).
    pub(crate) fn adopt(&mut self, cancel: CancelToken) {
        let mut table = self.workbench.lock();
        if let Some(entry) = table.entries.iter_mut().find(|e| e.job.id == self.id) {
            entry.cancel = cancel.clone();
        }
        self.cancel = cancel;
    }
}

impl Drop for JobSlot {
    fn drop(&mut self) {
        self.workbench
            .lock()
            .entries
            .retain(|e| e.job.id != self.id);
        self.workbench.changed.notify_all();
    }
}

impl Workbench {
    fn lock(&self) -> MutexGuard<'_, Table> {
        // The table stays consistent under every panic (each change is one push or retain).
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a place for a new job of `kind`, or the refusal that names what is in the way.
    pub fn begin(self: &Arc<Self>, kind: JobKind, what: impl Into<String>) -> Result<JobSlot> {
        let what = what.into();
        let mut table = self.lock();
        if let Some(other) = table.entries.iter().find(|e| e.job.kind == kind) {
            return Err(match kind {
                JobKind::Fetch => Error::FetchInProgress,
                JobKind::Validation => Error::ValidationInProgress,
                JobKind::Benchmark => Error::BenchInProgress,
                _ => busy(&what, &other.job),
            });
        }
        if kind.is_heavy()
            && let Some(other) = table.entries.iter().find(|e| e.job.kind.is_heavy())
        {
            return Err(busy(&what, &other.job));
        }
        table.next_id += 1;
        let id = table.next_id;
        let cancel = CancelToken::new();
        table.entries.push(Entry {
            job: Job {
                id,
                kind,
                what,
                progress: None,
            },
            cancel: cancel.clone(),
        });
        Ok(JobSlot {
            workbench: Arc::clone(self),
            id,
            cancel,
        })
    }

    /// Runs `body` as a job of `kind`: its place is taken first (or the refusal returned) and
    /// given back when it ends.
    pub fn run<T>(
        self: &Arc<Self>,
        kind: JobKind,
        what: impl Into<String>,
        body: impl FnOnce(&JobSlot) -> Result<T>,
    ) -> Result<T> {
        let slot = self.begin(kind, what)?;
        body(&slot)
    }

    /// Every job in the table, oldest first.
    pub fn jobs(&self) -> Vec<Job> {
        self.lock().entries.iter().map(|e| e.job.clone()).collect()
    }

    /// Asks the job of `kind` to stop; `none` when there is no such job.
    pub fn cancel(&self, kind: JobKind, none: Error) -> Result<()> {
        let table = self.lock();
        let entry = table
            .entries
            .iter()
            .find(|e| e.job.kind == kind)
            .ok_or(none)?;
        entry.cancel.cancel();
        Ok(())
    }

    /// What closing the app now would lose, in words: each job in the table, and the queued runs
    /// that would never start. Empty: nothing.
    pub fn would_lose(&self) -> Vec<String> {
        let mut lost: Vec<String> = self.jobs().iter().map(Job::describe).collect();
        let waiting = self.queue.snapshot().pending.len();
        if waiting > 0 {
            lost.push(format!(
                "{waiting} queued run{} that would not start",
                if waiting == 1 { "" } else { "s" }
            ));
        }
        lost
    }

    /// Stops the queue from starting anything more (runs stay listed as waiting).
    pub fn pause_queue(&self) {
        self.lock().queue_paused = true;
        self.changed.notify_all();
    }

    /// Closing: pauses the queue, asks every job to stop, and waits up to `timeout` for the
    /// table to empty; true when it did.
    pub fn cancel_all_and_wait(&self, timeout: Duration) -> bool {
        self.pause_queue();
        for entry in &self.lock().entries {
            entry.cancel.cancel();
        }
        let table = self.lock();
        let (table, _) = self
            .changed
            .wait_timeout_while(table, timeout, |t| !t.entries.is_empty())
            .unwrap_or_else(|p| p.into_inner());
        table.entries.is_empty()
    }

    /// For the queue's driver: waits until no heavy job runs; false when the queue was paused
    /// (then it must start nothing).
    pub(crate) fn wait_for_machine(&self) -> bool {
        let mut table = self.lock();
        loop {
            if table.queue_paused {
                return false;
            }
            if !table.entries.iter().any(|e| e.job.kind.is_heavy()) {
                return true;
            }
            // A bounded wait: a missed signal costs a second, never a stuck queue.
            table = self
                .changed
                .wait_timeout(table, Duration::from_secs(1))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

fn busy(asked: &str, running: &Job) -> Error {
    Error::Busy {
        asked: asked.to_string(),
        running: running.describe(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_heavy_job_at_a_time_light_ones_beside_it_and_each_slot_comes_back() {
        let bench = Arc::new(Workbench::default());
        let benchmark = bench.begin(JobKind::Benchmark, "a benchmark").unwrap();
        benchmark.progress("3 of 10 runs done");
        // Training and validation refused while it runs, naming it and how far it is.
        let err = bench
            .begin(JobKind::Training, "training tcn default on BTCUSDT 1h")
            .err()
            .unwrap();
        assert!(
            matches!(&err, Error::Busy { running, .. } if running == "a benchmark, 3 of 10 runs done"),
            "{err}"
        );
        assert!(err.to_string().contains("training tcn default"), "{err}");
        assert!(bench.begin(JobKind::Validation, "a validation").is_err());
        assert!(matches!(
            bench.begin(JobKind::Benchmark, "a benchmark"),
            Err(Error::BenchInProgress)
        ));
        // A fetch and an export go beside it, one fetch at a time.
        let fetch = bench.begin(JobKind::Fetch, "a fetch").unwrap();
        assert!(matches!(
            bench.begin(JobKind::Fetch, "a fetch"),
            Err(Error::FetchInProgress)
        ));
        let export = bench.begin(JobKind::Export, "an export").unwrap();
        assert_eq!(bench.jobs().len(), 3);
        bench
            .cancel(JobKind::Benchmark, Error::NoBench)
            .expect("the benchmark is there");
        assert!(benchmark.token().is_cancelled());
        assert!(!fetch.token().is_cancelled());
        drop((benchmark, fetch, export));
        assert!(bench.jobs().is_empty());
        // A job whose body panics gives its place back too.
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            bench.run(JobKind::Validation, "a validation", |_| -> Result<()> {
                panic!("the engine panicked")
            })
        }));
        assert!(caught.is_err());
        bench.begin(JobKind::Training, "training").unwrap();
    }

    #[test]
    fn closing_cancels_every_job_waits_for_them_and_pauses_the_queue() {
        let bench = Arc::new(Workbench::default());
        let slot = bench.begin(JobKind::Validation, "a validation").unwrap();
        slot.progress("4 of 15 pairs done");
        assert_eq!(bench.would_lose(), ["a validation, 4 of 15 pairs done"]);
        let worker = std::thread::spawn(move || {
            // The job notices its cancellation a little later, as a run between batches does.
            while !slot.token().is_cancelled() {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(50));
            drop(slot);
        });
        assert!(bench.cancel_all_and_wait(Duration::from_secs(10)));
        worker.join().unwrap();
        assert!(bench.would_lose().is_empty());
        // Paused: the driver would start nothing more.
        assert!(!bench.wait_for_machine());
    }
}
