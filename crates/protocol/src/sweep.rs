//! Sweeps handed to a cluster: the files of a planned sweep (its manifest, one job file per
//! training, the candle snapshots they read), the version bundle a worker writes for one job,
//! and what importing bundles into a registry reports. The contract between atb and a
//! scheduler is these files: a job file in, a bundle out.
//!
//! A sweep folder holds `sweep.json` ([`SweepManifest`]), `jobs/NNNNNN.json` ([`SweepJob`]) and
//! `candles/SHA256.csv` (content-addressed snapshots, so workers never call the exchange). A
//! results folder holds one `job-NNNNNN/` bundle per finished job ([`BundleManifest`] in its
//! `bundle.json`), or a `job-NNNNNN.failed.txt` with the reason a job failed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::desktop::SeriesRequest;
use crate::registry::ModelRow;
use crate::spec::TrainSpec;

/// The sweep's manifest, in the sweep folder.
pub const SWEEP_MANIFEST_FILE: &str = "sweep.json";
/// The folder of job files, in the sweep folder.
pub const JOBS_DIR: &str = "jobs";
/// The folder of candle snapshots, in the sweep folder.
pub const CANDLES_DIR: &str = "candles";
/// A bundle's manifest, in the bundle's folder.
pub const BUNDLE_MANIFEST_FILE: &str = "bundle.json";
/// The exit code of a worker whose job failed for a reason worth retrying (sysexits' EX_TEMPFAIL).
pub const EXIT_TEMPORARY: u8 = 75;
/// The tag of every version a sweep registered.
pub const SWEEP_TAG: &str = "sweep";

/// The first `n` characters of a sweep id, as names and tables show it (the whole id when a
/// damaged manifest holds a shorter one).
pub fn short_id(id: &str, n: usize) -> &str {
    id.get(..n).unwrap_or(id)
}

/// A job file's name in `jobs/`.
pub fn job_file_name(index: usize) -> String {
    format!("{index:06}.json")
}

/// A job's bundle folder in a results folder.
pub fn bundle_dir_name(index: usize) -> String {
    format!("job-{index:06}")
}

/// The file beside a bundle that says why its job failed.
pub fn failure_file_name(index: usize) -> String {
    format!("job-{index:06}.failed.txt")
}

/// What a sweep asks of each cluster task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepResources {
    pub cpus: u32,
    pub memory_gb: u32,
    pub gpus: u32,
    /// The wall-time limit of one task.
    pub time_minutes: u32,
    /// Tasks running at once (Slurm's `%K`, Kubernetes' `parallelism`).
    pub parallel: u32,
}

impl Default for SweepResources {
    fn default() -> Self {
        Self {
            cpus: 2,
            memory_gb: 8,
            gpus: 0,
            time_minutes: 120,
            parallel: 4,
        }
    }
}

/// A candle snapshot: a CSV file in atb's own format, named by its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandleSnapshot {
    /// Relative to the sweep folder, e.g. `candles/ab12….csv`.
    pub file: String,
    /// SHA-256 of the file's bytes (also its name).
    pub sha256: String,
    pub candles: usize,
    pub first_open_ms: i64,
    pub last_open_ms: i64,
}

/// One fold of a walk-forward study: the job trains on the first `candles` candles of the
/// snapshot, so its test split ends where the next fold's test split starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepFold {
    /// From 1.
    pub fold: usize,
    pub folds: usize,
    pub candles: usize,
}

/// One training of a sweep: everything a worker needs besides the snapshot it names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepJob {
    pub sweep_id: String,
    pub index: usize,
    /// The atb version that planned it; a worker of another version refuses it.
    pub atb_version: String,
    /// The series as the sweep asked for it (the registered version records this source).
    pub series: SeriesRequest,
    pub spec: TrainSpec,
    pub candles: CandleSnapshot,
    /// The context market's candles, when the spec reads one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<CandleSnapshot>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fold: Option<SweepFold>,
    /// SHA-256 of the candle rows the job trains on (`training::candles_sha256`): the worker
    /// refuses a snapshot that reads back to other rows.
    pub data_sha256: String,
    /// This job's values of the sweep's grid, by field name (for the reports).
    #[serde(default)]
    pub grid: BTreeMap<String, serde_json::Value>,
}

impl SweepJob {
    /// A short name for tables and logs, e.g. `BTCUSDT 1h lstm/default seed 1 fold 2/3`.
    pub fn label(&self) -> String {
        let mut out = format!(
            "{} {} {}/{} {} seed {}",
            self.series.symbol,
            self.series.timeframe,
            self.spec.architecture,
            self.spec.variant,
            self.spec.target,
            self.spec.seed
        );
        for (field, value) in &self.grid {
            out.push_str(&format!(" {field}={value}"));
        }
        if let Some(f) = &self.fold {
            out.push_str(&format!(" fold {}/{}", f.fold, f.folds));
        }
        out
    }
}

/// A job as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepJobEntry {
    pub index: usize,
    /// SHA-256 of the job file's bytes.
    pub sha256: String,
    pub label: String,
}

/// `sweep.json`: what was planned, pinned by hashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepManifest {
    pub name: String,
    /// SHA-256 over the sweep's declaration and its snapshots: the same sweep file over the same
    /// candles plans the same id.
    pub sweep_id: String,
    pub atb_version: String,
    pub created_at: String,
    pub resources: SweepResources,
    pub jobs: Vec<SweepJobEntry>,
    /// Combinations left out because an earlier job trains the same model (a `gbdt` job
    /// differs from another only in fields the networks alone read, e.g. a learning-rate grid).
    #[serde(default)]
    pub duplicates_dropped: usize,
    /// Every snapshot, by file, with its SHA-256.
    pub snapshots: Vec<CandleSnapshot>,
}

/// One file of a bundle, relative to the bundle's folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleFile {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

/// `bundle.json`: one job's registered version, self-contained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleManifest {
    pub sweep_id: String,
    pub job_index: usize,
    /// SHA-256 of the job file the worker ran.
    pub job_sha256: String,
    pub atb_version: String,
    pub version_id: String,
    /// The version folder's files (`version/…`) and the job file (`job.json`).
    pub files: Vec<BundleFile>,
    pub train_seconds: f64,
}

/// A bundle that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRefusal {
    pub bundle: String,
    pub reason: String,
}

/// What importing result folders did: each bundle is imported, found already there, or refused
/// with the reason, on its own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportReport {
    pub imported: Vec<ModelRow>,
    /// Version ids already in the registry with the same weights.
    pub already_present: Vec<String>,
    pub refused: Vec<ImportRefusal>,
}

/// One job's state, as `atb sweep status` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// A bundle is in the results folder.
    Done,
    /// A `.failed.txt` is there and no bundle.
    Failed,
    /// The scheduler has it running.
    Running,
    /// The scheduler has it waiting.
    Pending,
    /// Neither a bundle nor the scheduler knows of it.
    Missing,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Running => "running",
            Self::Pending => "pending",
            Self::Missing => "missing",
        }
    }
}

/// One job in a status report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStatus {
    pub index: usize,
    pub label: String,
    pub state: JobState,
    /// The failure's first line, for a failed job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One job in a sweep's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepReportRow {
    pub index: usize,
    pub label: String,
    /// `None` until the job's bundle is imported.
    pub version_id: Option<String>,
    pub test_mae_usd: Option<f64>,
    pub skill_vs_persistence: Option<f64>,
    /// Holm-adjusted across the group when it was judged together, else the version's own.
    pub vs_persistence: Option<crate::verdict::Verdict>,
    /// In the group's 90% model confidence set (`None` when the group was not judged).
    pub in_confidence_set: Option<bool>,
}

/// Jobs tested on the same windows (one symbol, fold, target, horizon and split), judged together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepReportGroup {
    pub title: String,
    pub rows: Vec<SweepReportRow>,
    /// The judgement over the group's imported versions, when two or more were imported.
    pub judged: Option<crate::selection::JudgedComparison>,
    /// Why the group was not judged, when it was not.
    pub note: Option<String>,
}

/// One model of a walk-forward study over its folds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalkForwardRow {
    /// The job's label without its fold.
    pub label: String,
    /// Folds imported, of `folds`.
    pub imported: usize,
    pub folds: usize,
    /// Means over the imported folds (each fold's test split follows the previous one's).
    pub mean_test_mae_usd: Option<f64>,
    pub mean_skill_vs_persistence: Option<f64>,
    /// Folds whose (Holm-adjusted, where judged) verdict against persistence is "better".
    pub folds_better: usize,
    pub folds_worse: usize,
}

/// `atb sweep report`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    pub name: String,
    pub sweep_id: String,
    pub jobs: usize,
    pub imported: usize,
    pub groups: Vec<SweepReportGroup>,
    /// For a walk-forward sweep: each model over its folds.
    #[serde(default)]
    pub walk_forward: Vec<WalkForwardRow>,
}
