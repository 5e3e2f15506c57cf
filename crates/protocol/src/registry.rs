//! Registry rows as the CLI's `--json` output and the desktop UI's model table see them.

use serde::{Deserialize, Serialize};

use crate::vocab::{Architecture, Symbol, Target, Timeframe, Variant, Weighting};

use crate::training::Comparison;
use crate::verdict::Verdict;

/// One registered model version, with its headline test metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRow {
    pub version_id: String,
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    pub architecture: Architecture,
    pub variant: Variant,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// Version folder, relative to `ATB_HOME`.
    pub folder: String,
    pub parameters: u64,
    pub train_seconds: f64,
    pub test_mae_usd: Option<f64>,
    pub test_rmse_usd: Option<f64>,
    pub persistence_mae_usd: Option<f64>,
    pub skill_vs_persistence: Option<f64>,
    pub directional_accuracy: Option<f64>,
    pub pt_p_value: Option<f64>,
    pub weights_sha256: String,
    pub data_sha256: String,
    /// Aliases pointing here, e.g. `latest`, `champion`.
    pub aliases: Vec<String>,
    /// `bench` for benchmark runs; `None` for ordinary ones.
    pub tag: Option<String>,
    /// SHA-256 of the exported `model.onnx`; `None` until the version is exported.
    #[serde(default)]
    pub onnx_sha256: Option<String>,
    /// Largest |ONNX - Burn| measured on the test windows when the file was exported.
    #[serde(default)]
    pub onnx_max_abs_diff: Option<f64>,
    /// `Evaluation::method` of the evaluation these metrics come from (1: before paired tests).
    #[serde(default = "legacy_method")]
    pub evaluation_method: u32,
    /// The test split's paired comparisons (`None` before they were computed).
    #[serde(default)]
    pub vs_persistence: Option<Comparison>,
    #[serde(default)]
    pub vs_ridge: Option<Comparison>,
    /// The verdicts those comparisons give, in the words every screen uses.
    #[serde(default)]
    pub verdict_vs_persistence: Option<Verdict>,
    #[serde(default)]
    pub verdict_vs_ridge: Option<Verdict>,
    /// What the version forecasts; the price metrics and the two verdicts above are the return
    /// target's (`None` for the others).
    #[serde(default)]
    pub target: Target,
    /// The volatility or direction target's verdicts against its baselines (Holm-adjusted
    /// together), empty for the return target.
    #[serde(default)]
    pub target_verdicts: Vec<Verdict>,
}

/// How much a tree model leans on one input column (`gbdt`; stored in `metadata.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnImportance {
    /// A column of the tabular row, e.g. `close_ret[t-1]` or `volume_z:std`.
    pub column: String,
    /// Total loss reduction of the splits on the column, over the kept trees.
    pub gain: f64,
    /// How many splits use the column.
    pub splits: u64,
}

/// What a registry check found about one thing, with the fix in the words of the door that shows
/// it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// The version id, folder or file concerned.
    pub subject: String,
    pub problem: String,
    pub fix: String,
}

/// The kinds of things `atb models verify` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// An indexed version whose files are missing or do not match their hashes.
    Damaged,
    /// A folder under `models/` that no index row names.
    OrphanFolder,
    /// An index row whose folder is gone.
    OrphanRow,
    /// The temporary folder of a registration whose process is gone.
    InterruptedRegistration,
    /// The temporary folder of a registration still being written.
    RegistrationInProgress,
    /// What SQLite's integrity check found.
    Database,
    /// A file in a version folder that is none of the version's files.
    StrayFile,
    /// A finished run kept for recovery.
    AwaitingRecovery,
}

/// How much a finding matters, the one rule every door uses: a check fails on a `Failure`,
/// counts a `Warning` as a problem to act on, and only reports `Info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Failure,
}

impl FindingKind {
    /// Damaged versions, rows without their folder and a damaged database fail the check
    /// (something registered cannot be used); leftovers and waiting runs are warnings; a
    /// registration in progress is information.
    pub fn severity(self) -> Severity {
        match self {
            Self::Damaged | Self::OrphanRow | Self::Database => Severity::Failure,
            Self::OrphanFolder
            | Self::InterruptedRegistration
            | Self::StrayFile
            | Self::AwaitingRecovery => Severity::Warning,
            Self::RegistrationInProgress => Severity::Info,
        }
    }

    /// Whether the finding needs the user to act (a registration in progress does not).
    pub fn is_problem(self) -> bool {
        self.severity() >= Severity::Warning
    }
}

impl RegistryCheck {
    /// Whether the check fails (a door exits non-zero, shows it in red).
    pub fn fails(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.kind.severity() == Severity::Failure)
    }
}

/// A whole registry check: how many versions were checked, how many are sound, and every
/// finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryCheck {
    pub checked: usize,
    pub ok: usize,
    pub findings: Vec<Finding>,
}

/// What `atb models recover` did: the runs it registered, the interrupted work it put right,
/// and each folder it could not take, with the reason (one bad folder never stops the others).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecoveryReport {
    /// The versions registered from `recovery/`, oldest first.
    pub registered: Vec<ModelRow>,
    /// Folders left where they are, each with why it could not be registered.
    pub failed: Vec<RecoveryFailure>,
    /// Versions whose recorded `model.onnx` was put back after an interrupted re-export.
    pub restored_exports: Vec<String>,
}

impl RecoveryReport {
    /// Nothing was waiting and nothing needed putting right.
    pub fn is_empty(&self) -> bool {
        self.registered.is_empty() && self.failed.is_empty() && self.restored_exports.is_empty()
    }
}

/// A folder under `recovery/` that could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryFailure {
    /// Relative to `ATB_HOME`.
    pub folder: String,
    pub reason: String,
}

fn legacy_method() -> u32 {
    1
}

/// The largest |ONNX - native| an export may show on its test windows to be kept.
pub const PARITY_TOLERANCE: f64 = 1e-4;

/// A version's ONNX export and the parity check that let it be kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnnxExport {
    pub version_id: String,
    /// RFC 3339, UTC.
    pub exported_at: String,
    /// `model.onnx` in the version folder, relative to `ATB_HOME`.
    pub file: String,
    pub sha256: String,
    pub bytes: u64,
    pub opset: i64,
    /// Largest |ONNX - Burn| over `windows` real test windows.
    pub max_abs_diff: f64,
    /// The bound the export had to meet.
    pub tolerance: f64,
    pub windows: usize,
    /// The runtime that re-loaded and ran the file, e.g. `tract-onnx 0.23`.
    pub runtime: String,
    pub atb_version: String,
}

#[cfg(test)]
mod severity_tests {
    use super::*;

    fn check(kinds: &[FindingKind]) -> RegistryCheck {
        RegistryCheck {
            checked: 1,
            ok: 0,
            findings: kinds
                .iter()
                .map(|&kind| Finding {
                    kind,
                    subject: "x".into(),
                    problem: "y".into(),
                    fix: "z".into(),
                })
                .collect(),
        }
    }

    #[test]
    fn only_what_makes_a_registered_version_unusable_fails_a_check() {
        assert!(!check(&[]).fails());
        assert!(
            !check(&[
                FindingKind::OrphanFolder,
                FindingKind::StrayFile,
                FindingKind::AwaitingRecovery,
                FindingKind::InterruptedRegistration,
                FindingKind::RegistrationInProgress,
            ])
            .fails()
        );
        for kind in [
            FindingKind::Damaged,
            FindingKind::OrphanRow,
            FindingKind::Database,
        ] {
            assert!(check(&[FindingKind::StrayFile, kind]).fails(), "{kind:?}");
        }
        assert!(FindingKind::StrayFile.is_problem());
        assert!(!FindingKind::RegistrationInProgress.is_problem());
    }
}

/// Fewest members an ensemble has.
pub const ENSEMBLE_MIN_MEMBERS: usize = 2;
/// Most members an ensemble has (each one is loaded and run for every forecast).
pub const ENSEMBLE_MAX_MEMBERS: usize = 16;

/// A registered version inside an ensemble, named by id and pinned by the SHA-256 of its
/// weights (an ensemble refuses to load when a member's weights are not the ones it was made of).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleMember {
    pub version_id: String,
    pub architecture: Architecture,
    pub variant: Variant,
    pub weights_sha256: String,
    /// Its weight in the chosen weighting.
    pub weight: f64,
}

/// One weighting's weights (in member order) and its loss on the validation split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightingFit {
    pub weighting: Weighting,
    pub weights: Vec<f64>,
    pub validation_loss: f64,
}

/// An ensemble's `ensemble.json`: its members and how they are weighed. The ensemble forecasts
/// `Σ weight·output` of the members' raw outputs (standardised labels, or logits for
/// direction), read through the members' shared target scaler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleRecipe {
    /// The weighting in use.
    pub weighting: Weighting,
    pub members: Vec<EnsembleMember>,
    /// Every weighting fitted on the validation split (equal and nnls), for comparison.
    pub fits: Vec<WeightingFit>,
    /// The loss the fits report, e.g. "mean squared error of the standardised label".
    pub loss: String,
}
