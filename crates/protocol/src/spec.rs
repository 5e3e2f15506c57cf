//! The training specification, declared once: its defaults (the CLI's flags read them, the
//! desktop form starts from them), its valid ranges (per-field problems for a form, one error for
//! the CLI and the engine), and its serde form, which is exactly what `metadata.json` stores under
//! `training_params` (keys `architecture`, `architecture_variant`, `epochs`, `batch_size`, ...).

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::vocab::{Architecture, DeviceChoice, FeatureSet, Symbol, Target, Variant};

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

/// How much tree a `gbdt` variant may grow: the tree model's counterpart of the networks'
/// widths and depths. [`TreeBudget::for_variant`] is the variant table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TreeBudget {
    /// Leaves per tree.
    pub leaves: u32,
    /// Depth limit per tree.
    pub max_depth: u32,
    /// Boosting rounds at most (trees).
    pub rounds: u32,
    /// Shrinkage of each tree's contribution (LightGBM's `learning_rate`).
    pub learning_rate: f64,
    /// Fewest training rows a leaf may hold.
    pub min_rows_in_leaf: u32,
    /// Rounds without a better validation loss before stopping.
    pub early_stopping_rounds: u32,
}

impl TreeBudget {
    /// The variant table (smaller trees and fewer, faster rounds for `lightweight`).
    pub fn for_variant(variant: Variant) -> Self {
        match variant {
            Variant::Lightweight => Self {
                leaves: 15,
                max_depth: 4,
                rounds: 200,
                learning_rate: 0.1,
                min_rows_in_leaf: 50,
                early_stopping_rounds: 20,
            },
            Variant::Default => Self {
                leaves: 31,
                max_depth: 6,
                rounds: 500,
                learning_rate: 0.05,
                min_rows_in_leaf: 40,
                early_stopping_rounds: 50,
            },
            Variant::Deep => Self {
                leaves: 63,
                max_depth: 8,
                rounds: 1_000,
                learning_rate: 0.03,
                min_rows_in_leaf: 30,
                early_stopping_rounds: 100,
            },
        }
    }

    /// The variant's budget with `overrides` applied.
    pub fn resolve(variant: Variant, overrides: &TreeOverrides) -> Self {
        let base = Self::for_variant(variant);
        Self {
            leaves: overrides.leaves.unwrap_or(base.leaves),
            max_depth: overrides.max_depth.unwrap_or(base.max_depth),
            rounds: overrides.rounds.unwrap_or(base.rounds),
            learning_rate: overrides.learning_rate.unwrap_or(base.learning_rate),
            min_rows_in_leaf: overrides.min_rows_in_leaf.unwrap_or(base.min_rows_in_leaf),
            early_stopping_rounds: overrides
                .early_stopping_rounds
                .unwrap_or(base.early_stopping_rounds),
        }
    }

    /// What is wrong with the budget, field by field, named as forms label them (empty: it
    /// can be trained).
    pub fn problems(&self) -> Vec<FieldProblem> {
        use ranges::*;
        let mut out = Vec::new();
        let mut check = |ok: bool, field: &str, reason: String| {
            if !ok {
                out.push(FieldProblem::new(field, reason));
            }
        };
        check(
            LEAVES.contains(&self.leaves),
            "leaves",
            format!(
                "{} is not between {} and {}",
                self.leaves,
                LEAVES.start(),
                LEAVES.end()
            ),
        );
        check(
            MAX_DEPTH.contains(&self.max_depth),
            "max depth",
            format!(
                "{} is not between {} and {}",
                self.max_depth,
                MAX_DEPTH.start(),
                MAX_DEPTH.end()
            ),
        );
        check(
            ROUNDS.contains(&self.rounds),
            "rounds",
            format!(
                "{} is not between {} and {}",
                self.rounds,
                ROUNDS.start(),
                ROUNDS.end()
            ),
        );
        check(
            self.learning_rate.is_finite() && self.learning_rate > 0.0 && self.learning_rate <= 1.0,
            "tree learning rate",
            format!("{} is not greater than 0 and at most 1", self.learning_rate),
        );
        check(
            self.min_rows_in_leaf >= 1,
            "rows per leaf",
            "a leaf must hold at least 1 training row".into(),
        );
        check(
            self.early_stopping_rounds >= 1,
            "early-stopping rounds",
            "at least 1 round".into(),
        );
        out
    }
}

/// Optional replacements for a `gbdt` variant's tree budget.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TreeOverrides {
    pub leaves: Option<u32>,
    pub max_depth: Option<u32>,
    pub rounds: Option<u32>,
    pub learning_rate: Option<f64>,
    pub min_rows_in_leaf: Option<u32>,
    pub early_stopping_rounds: Option<u32>,
}

impl TreeOverrides {
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
    /// Tree budgets (`gbdt`).
    pub const LEAVES: RangeInclusive<u32> = 2..=4_096;
    pub const MAX_DEPTH: RangeInclusive<u32> = 1..=32;
    pub const ROUNDS: RangeInclusive<u32> = 1..=20_000;
    /// The tree model's row keeps the last 3 bars of each feature.
    pub const GBDT_MIN_SEQUENCE_LENGTH: usize = 3;
    /// Network width overrides: filters, units, key size and dense width (one LSTM of 200,000
    /// units was 640 GB of weights, an abort when the model was built).
    pub const WIDTH: RangeInclusive<usize> = 1..=4_096;
    pub const HEADS: RangeInclusive<usize> = 1..=64;
    pub const KERNEL_SIZE: RangeInclusive<usize> = 1..=64;
    pub const BLOCKS: RangeInclusive<usize> = 1..=16;
    /// Stacked layers in a `conv_filters` or `lstm_units` override.
    pub const LAYERS: RangeInclusive<usize> = 1..=8;
}

impl ModelOverrides {
    /// Each override outside its range (`ranges`), as form problems.
    pub fn problems(&self) -> Vec<FieldProblem> {
        use ranges::*;
        let mut out = Vec::new();
        let mut one = |value: Option<usize>, field: &str, range: RangeInclusive<usize>| {
            if let Some(v) = value
                && !range.contains(&v)
            {
                out.push(FieldProblem::new(
                    field,
                    format!("{v} is not {}", range_text(&range)),
                ));
            }
        };
        one(self.tcn_filters, "tcn filters", WIDTH);
        one(self.kernel_size, "kernel size", KERNEL_SIZE);
        one(self.blocks, "blocks", BLOCKS);
        one(self.heads, "heads", HEADS);
        one(self.key_dim, "key size", WIDTH);
        one(self.dense_units, "dense units", WIDTH);
        for (field, list) in [
            ("convolution filters", &self.conv_filters),
            ("lstm units", &self.lstm_units),
        ] {
            if let Some(list) = list {
                if !LAYERS.contains(&list.len()) {
                    out.push(FieldProblem::new(
                        field,
                        format!("{} layers is not {}", list.len(), range_text(&LAYERS)),
                    ));
                }
                if let Some(v) = list.iter().find(|v| !WIDTH.contains(v)) {
                    out.push(FieldProblem::new(
                        field,
                        format!("{v} is not {}", range_text(&WIDTH)),
                    ));
                }
            }
        }
        out
    }
}

/// Everything a training run is asked to do (besides which candles). `Default` is the CLI's
/// defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainSpec {
    pub architecture: Architecture,
    #[serde(rename = "architecture_variant")]
    pub variant: Variant,
    /// Network widths (networks only).
    #[serde(skip_serializing_if = "ModelOverrides::is_empty")]
    pub overrides: ModelOverrides,
    /// Tree budget changes (`gbdt` only; the networks' epochs, batch size, learning rate and
    /// patience do not apply to it).
    #[serde(skip_serializing_if = "TreeOverrides::is_empty")]
    pub trees: TreeOverrides,
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
    /// What the model forecasts about those h bars; versions registered before targets
    /// existed forecast the return.
    #[serde(default)]
    pub target: Target,
    pub feature_set: FeatureSet,
    /// Another market's returns and relative volume as inputs (cross-asset context), aligned on
    /// open time: the same source and timeframe as the series, fetched beside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Symbol>,
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
            trees: TreeOverrides::default(),
            epochs: 100,
            batch_size: 32,
            sequence_length: 120,
            learning_rate: 1e-3,
            patience: 15,
            lr_patience: 5,
            min_learning_rate: 1e-6,
            grad_clip_norm: None,
            horizon: 1,
            target: Target::default(),
            feature_set: FeatureSet::default(),
            context: None,
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
        check(
            self.walk_forward_folds.is_none() || self.target == Target::Return,
            "walk-forward folds",
            format!(
                "walk-forward is measured for the return target only; train a {} model on one split",
                self.target
            ),
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
        if self.architecture == Architecture::Gbdt {
            check(
                self.sequence_length >= GBDT_MIN_SEQUENCE_LENGTH,
                "sequence length",
                format!(
                    "gbdt keeps the last {GBDT_MIN_SEQUENCE_LENGTH} bars of every feature, so \
                     windows need at least {GBDT_MIN_SEQUENCE_LENGTH} candles"
                ),
            );
            check(
                self.overrides.is_empty(),
                "network widths",
                "gbdt is a tree model: set leaves, depth and rounds instead".into(),
            );
            out.extend(self.tree_budget().problems());
        } else {
            check(
                self.trees.is_empty(),
                "tree budget",
                format!(
                    "{} is a network: tree options apply to gbdt only",
                    self.architecture
                ),
            );
            out.extend(self.overrides.problems());
        }
        out
    }

    /// The fields (as a spec serialises them) that only the networks read: two `gbdt` specs
    /// that differ only in these train the same model.
    pub const NETWORK_ONLY_FIELDS: &'static [&'static str] = &[
        "epochs",
        "batch_size",
        "learning_rate",
        "patience",
        "lr_patience",
        "min_learning_rate",
        "grad_clip_norm",
        "overrides",
    ];

    /// The tree budget a `gbdt` run uses: the variant's with the overrides applied.
    pub fn tree_budget(&self) -> TreeBudget {
        TreeBudget::resolve(self.variant, &self.trees)
    }

    /// The first problem as one message (`epochs: 0 is not between 1 and 100000`).
    pub fn validate(&self) -> Result<(), FieldProblem> {
        match self.problems().into_iter().next() {
            Some(p) => Err(p),
            None => Ok(()),
        }
    }

    /// The spec as one that has passed every field check: the only way to make a
    /// [`CheckedSpec`], which is what the engine trains on.
    pub fn check(self) -> Result<CheckedSpec, FieldProblem> {
        self.validate()?;
        Ok(CheckedSpec(self))
    }
}

/// A training spec whose every field is within its range (in the spirit of linfa's
/// `ParamGuard`): only [`TrainSpec::check`] makes one, so no door can hand the engine a spec
/// that skipped the checks. It reads as the spec it wraps.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct CheckedSpec(TrainSpec);

impl CheckedSpec {
    /// The spec, as checked.
    pub fn spec(&self) -> &TrainSpec {
        &self.0
    }

    /// The spec, to change and check again.
    pub fn into_spec(self) -> TrainSpec {
        self.0
    }
}

impl std::ops::Deref for CheckedSpec {
    type Target = TrainSpec;

    fn deref(&self) -> &TrainSpec {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_recorded_before_targets_reads_as_the_return_target() {
        let mut stored = serde_json::to_value(TrainSpec::default()).unwrap();
        assert_eq!(stored["target"], "return");
        stored.as_object_mut().unwrap().remove("target");
        let read: TrainSpec = serde_json::from_value(stored).unwrap();
        assert_eq!(read.target, Target::Return);
        assert_eq!(read, TrainSpec::default());
        // Walk-forward is the return target's only.
        let s = TrainSpec {
            target: Target::Volatility,
            walk_forward_folds: Some(3),
            ..TrainSpec::default()
        };
        assert_eq!(s.validate().unwrap_err().field, "walk-forward folds");
    }

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
    fn gbdt_budgets_are_checked_field_by_field() {
        for v in Variant::ALL {
            assert!(TreeBudget::for_variant(v).problems().is_empty(), "{v}");
        }
        let s = TrainSpec {
            architecture: Architecture::Gbdt,
            trees: TreeOverrides {
                leaves: Some(0),
                learning_rate: Some(-0.1),
                ..TreeOverrides::default()
            },
            ..TrainSpec::default()
        };
        let problems: Vec<String> = s.problems().iter().map(|p| p.to_string()).collect();
        assert_eq!(
            problems,
            [
                "leaves: 0 is not between 2 and 4096",
                "tree learning rate: -0.1 is not greater than 0 and at most 1"
            ]
        );
        let net = TrainSpec {
            trees: TreeOverrides {
                rounds: Some(10),
                ..TreeOverrides::default()
            },
            ..TrainSpec::default()
        };
        assert_eq!(net.validate().unwrap_err().field, "tree budget");
        let short = TrainSpec {
            architecture: Architecture::Gbdt,
            sequence_length: 2,
            ..TrainSpec::default()
        };
        assert_eq!(short.validate().unwrap_err().field, "sequence length");
        assert_eq!(short.check().unwrap_err().field, "sequence length");
        assert_eq!(
            TrainSpec {
                architecture: Architecture::Gbdt,
                variant: Variant::Deep,
                ..TrainSpec::default()
            }
            .tree_budget(),
            TreeBudget::for_variant(Variant::Deep)
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

    #[test]
    fn network_widths_have_upper_bounds() {
        // Reliability audit 2, L8: one LSTM of 200,000 units aborted the process when built.
        let spec = TrainSpec {
            architecture: Architecture::Lstm,
            overrides: ModelOverrides {
                lstm_units: Some(vec![200_000]),
                heads: Some(65),
                ..ModelOverrides::default()
            },
            ..TrainSpec::default()
        };
        let problems = spec.problems();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|p| p.contains("lstm units: 200000 is not between 1 and 4096")),
            "{text:?}"
        );
        assert!(text.iter().any(|p| p.starts_with("heads: 65")), "{text:?}");
        let ok = TrainSpec {
            overrides: ModelOverrides {
                lstm_units: Some(vec![4_096, 64]),
                ..ModelOverrides::default()
            },
            ..TrainSpec::default()
        };
        assert!(ok.problems().is_empty(), "{:?}", ok.problems());
    }
}
