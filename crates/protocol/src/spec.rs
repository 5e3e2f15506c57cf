//! The training specification, declared once: its defaults (the CLI's flags read them, the
//! desktop form starts from them), its valid ranges (per-field problems for a form, one error for
//! the CLI and the engine), and its serde form, which is exactly what `metadata.json` stores under
//! `training_params` (keys `architecture`, `architecture_variant`, `epochs`, `batch_size`, ...).

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::vocab::{Architecture, DeviceChoice, FeatureSet, Variant};

/// Share of samples per split, in chronological order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SplitFractions {
    pub train: f64,
    pub validation: f64,
    pub test: f64,
}

impl Default for SplitFractions {
    fn default() -> Self {
        Self {
            train: 0.70,
            validation: 0.15,
            test: 0.15,
        }
    }
}

/// Optional replacements for a variant's widths.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelOverrides {
    pub conv_filters: Option<Vec<usize>>,
    pub lstm_units: Option<Vec<usize>>,
    pub tcn_filters: Option<usize>,
    pub kernel_size: Option<usize>,
    pub blocks: Option<usize>,
    pub heads: Option<usize>,
    pub key_dim: Option<usize>,
    pub dense_units: Option<usize>,
    pub dropout: Option<f64>,
}

impl ModelOverrides {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The valid ranges, in one place.
pub mod ranges {
    use super::RangeInclusive;

    pub const EPOCHS: RangeInclusive<usize> = 1..=100_000;
    pub const BATCH_SIZE: RangeInclusive<usize> = 1..=65_536;
    pub const SEQUENCE_LENGTH: RangeInclusive<usize> = 2..=10_000;
    /// Learning rates are in (0, LEARNING_RATE_MAX].
    pub const LEARNING_RATE_MAX: f64 = 1.0;
    pub const HORIZON: RangeInclusive<usize> = 1..=1_000;
    pub const FOLDS: RangeInclusive<usize> = 2..=20;
}

/// Everything a training run is asked to do (besides which candles). `Default` is the CLI's
/// defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainSpec {
    pub architecture: Architecture,
    #[serde(rename = "architecture_variant")]
    pub variant: Variant,
    #[serde(skip_serializing_if = "ModelOverrides::is_empty")]
    pub overrides: ModelOverrides,
    /// Epochs requested.
    pub epochs: usize,
    pub batch_size: usize,
    /// Candles per input window (L).
    pub sequence_length: usize,
    pub learning_rate: f64,
    /// Epochs without validation improvement before stopping.
    pub patience: usize,
    /// Epochs without improvement before the learning rate is halved.
    pub lr_patience: usize,
    pub min_learning_rate: f64,
    /// Clip the global gradient norm (the L2 norm over every parameter's gradient together) to
    /// this value, scaling all gradients by the same factor.
    pub grad_clip_norm: Option<f64>,
    /// Bars ahead the target is (h).
    pub horizon: usize,
    pub feature_set: FeatureSet,
    pub seed: u64,
    #[serde(rename = "device_choice")]
    pub device: DeviceChoice,
    pub fractions: SplitFractions,
    /// Also evaluate by walk-forward over this many expanding-window folds (scalers refit and a
    /// model trained per fold).
    pub walk_forward_folds: Option<usize>,
    /// Emit a `Batch` event every this many batches (and at each epoch's last); not stored.
    #[serde(skip, default = "default_batch_event_every")]
    pub batch_event_every: usize,
}

fn default_batch_event_every() -> usize {
    10
}

impl Default for TrainSpec {
    fn default() -> Self {
        Self {
            architecture: Architecture::CnnLstm,
            variant: Variant::Default,
            overrides: ModelOverrides::default(),
            epochs: 100,
            batch_size: 32,
            sequence_length: 120,
            learning_rate: 1e-3,
            patience: 15,
            lr_patience: 5,
            min_learning_rate: 1e-6,
            grad_clip_norm: None,
            horizon: 1,
            feature_set: FeatureSet::Price,
            seed: 42,
            device: DeviceChoice::Auto,
            fractions: SplitFractions::default(),
            walk_forward_folds: None,
            batch_event_every: default_batch_event_every(),
        }
    }
}

/// Why one field of a form (or one flag) cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldProblem {
    /// The field's name as forms label it, e.g. `batch size`.
    pub field: String,
    pub reason: String,
}

impl FieldProblem {
    pub fn new(field: &str, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

fn range_text(r: &RangeInclusive<usize>) -> String {
    format!("between {} and {}", r.start(), r.end())
}

impl TrainSpec {
    /// Every problem, in form order; empty when the spec can be trained.
    pub fn problems(&self) -> Vec<FieldProblem> {
        use ranges::*;
        let mut out = Vec::new();
        let mut check = |ok: bool, field: &str, reason: String| {
            if !ok {
                out.push(FieldProblem::new(field, reason));
            }
        };
        check(
            EPOCHS.contains(&self.epochs),
            "epochs",
            format!("{} is not {}", self.epochs, range_text(&EPOCHS)),
        );
        check(
            BATCH_SIZE.contains(&self.batch_size),
            "batch size",
            format!("{} is not {}", self.batch_size, range_text(&BATCH_SIZE)),
        );
        check(
            SEQUENCE_LENGTH.contains(&self.sequence_length),
            "sequence length",
            format!(
                "{} is not {}",
                self.sequence_length,
                range_text(&SEQUENCE_LENGTH)
            ),
        );
        check(
            self.learning_rate.is_finite()
                && self.learning_rate > 0.0
                && self.learning_rate <= LEARNING_RATE_MAX,
            "learning rate",
            format!(
                "{} is not greater than 0 and at most {LEARNING_RATE_MAX}",
                self.learning_rate
            ),
        );
        check(
            self.min_learning_rate >= 0.0 && self.min_learning_rate <= self.learning_rate,
            "minimum learning rate",
            format!(
                "{} is not between 0 and the learning rate",
                self.min_learning_rate
            ),
        );
        check(self.patience >= 1, "patience", "at least 1 epoch".into());
        check(
            self.lr_patience >= 1,
            "learning-rate patience",
            "at least 1 epoch".into(),
        );
        check(
            HORIZON.contains(&self.horizon),
            "horizon",
            format!("{} bars is not {}", self.horizon, range_text(&HORIZON)),
        );
        check(
            self.grad_clip_norm.is_none_or(|c| c.is_finite() && c > 0.0),
            "gradient clip",
            "a positive number, or empty for none".into(),
        );
        check(
            self.walk_forward_folds.is_none_or(|k| FOLDS.contains(&k)),
            "walk-forward folds",
            format!("{}, or empty for none", range_text(&FOLDS)),
        );
        let f = self.fractions;
        let fr = [f.train, f.validation, f.test];
        check(
            fr.iter().all(|v| v.is_finite() && *v > 0.0)
                && (fr.iter().sum::<f64>() - 1.0).abs() < 1e-9,
            "split fractions",
            format!(
                "{} / {} / {} must be positive and add up to 1",
                f.train, f.validation, f.test
            ),
        );
        check(
            self.batch_event_every >= 1,
            "batch events",
            "at least every batch".into(),
        );
        out
    }

    /// The first problem as one message (`epochs: 0 is not between 1 and 100000`).
    pub fn validate(&self) -> Result<(), FieldProblem> {
        match self.problems().into_iter().next() {
            Some(p) => Err(p),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_each_bad_field_is_named() {
        assert!(TrainSpec::default().problems().is_empty());
        let s = TrainSpec {
            epochs: 0,
            learning_rate: f64::NAN,
            grad_clip_norm: Some(-1.0),
            walk_forward_folds: Some(1),
            ..TrainSpec::default()
        };
        let fields: Vec<String> = s.problems().into_iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            [
                "epochs",
                "learning rate",
                "minimum learning rate",
                "gradient clip",
                "walk-forward folds"
            ]
        );
        assert_eq!(
            s.validate().unwrap_err().to_string(),
            "epochs: 0 is not between 1 and 100000"
        );
    }

    #[test]
    fn the_stored_form_keeps_the_metadata_keys_and_reads_old_records() {
        let json = serde_json::to_value(TrainSpec::default()).unwrap();
        for key in [
            "architecture",
            "architecture_variant",
            "epochs",
            "batch_size",
            "sequence_length",
            "learning_rate",
            "patience",
            "lr_patience",
            "min_learning_rate",
            "grad_clip_norm",
            "seed",
            "horizon",
            "feature_set",
            "device_choice",
        ] {
            assert!(json.get(key).is_some(), "{key} missing from {json}");
        }
        assert!(json.get("batch_event_every").is_none());
        // A record written by the first atb (no fractions, folds or overrides).
        let old = r#"{"architecture":"tcn","architecture_variant":"lightweight","epochs":3,
            "epochs_run":3,"best_epoch":2,"stop_reason":"completed","batch_size":32,
            "sequence_length":120,"learning_rate":0.001,"patience":15,"lr_patience":5,
            "min_learning_rate":1e-6,"grad_clip_norm":null,"seed":42,"horizon":1,
            "feature_set":"price","device_choice":"auto"}"#;
        let s: TrainSpec = serde_json::from_str(old).unwrap();
        assert_eq!(
            (s.architecture, s.variant, s.epochs),
            (Architecture::Tcn, Variant::Lightweight, 3)
        );
        assert_eq!(s.fractions, SplitFractions::default());
        assert_eq!(s.batch_event_every, 10);
    }
}
