//! What a version folder says about itself: `metadata.json` (how the model was made and how it
//! did) and `feature_schema.json` (exactly how to build its inputs and read its output).

use atb_models::ModelConfig;
use atb_protocol::registry::ColumnImportance;
use atb_protocol::spec::{TrainSpec, TreeBudget};
use atb_protocol::training::{DatasetSummary, EpochRecord, Evaluation, StopReason};
use atb_protocol::vocab::{Symbol, Target, Timeframe};
use serde::{Deserialize, Serialize};

use crate::dataset::TargetScaler;
use crate::training::TrainOutcome;

/// `metadata.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetadata {
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    pub version_id: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub training_params: TrainingRecord,
    pub dataset: DatasetSummary,
    pub evaluation_results: Evaluation,
    pub training_history: Vec<EpochRecord>,
    pub device: String,
    pub parameter_count: usize,
    pub train_seconds: f64,
    pub weights_file: String,
    pub weights_sha256: String,
    pub framework: FrameworkVersions,
    pub tag: Option<String>,
    /// Gain and split count per input column (tree models only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub importance: Vec<ColumnImportance>,
}

/// The request as it was made (`TrainSpec`, stored as-is: `architecture`, `architecture_variant`,
/// `epochs`, `batch_size`, ...) and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    #[serde(flatten)]
    pub spec: TrainSpec,
    pub epochs_run: usize,
    pub best_epoch: Option<usize>,
    pub stop_reason: StopReason,
    /// Exactly what was built (rebuilds a network; `None` for trees).
    pub model_config: Option<ModelConfig>,
    /// The tree budget a `gbdt` model was boosted with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree_budget: Option<TreeBudget>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameworkVersions {
    pub atb: String,
    pub burn: String,
    pub polars: String,
}

impl FrameworkVersions {
    pub fn current() -> Self {
        Self {
            atb: env!("CARGO_PKG_VERSION").into(),
            burn: "0.22.1".into(),
            polars: "0.55".into(),
        }
    }
}

/// `feature_schema.json`: everything needed to feed the model outside atb.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSchema {
    /// `price` or `technical` (`-` in a standalone ONNX file's description).
    pub feature_set: String,
    /// Column order of the input's last axis.
    pub feature_names: Vec<String>,
    /// Standardisation fitted on the training split: (x - mean) / std per feature.
    pub means: Vec<f64>,
    pub stds: Vec<f64>,
    pub sequence_length: usize,
    /// Input shape `[batch, sequence_length, n_features]`, float32.
    pub n_features: usize,
    pub target: TargetDefinition,
    /// The context market whose columns close each row (`context_log_return`, ...), which a
    /// forecast loads beside the series; none for most versions and every older one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

impl FeatureSchema {
    /// What makes the schema unusable, if anything: lengths that disagree, a standard deviation
    /// that is not a positive finite number, an empty window. A damaged file must be refused
    /// here, not panic or divide by zero in the predictor.
    pub fn problem(&self) -> Option<String> {
        let n = self.n_features;
        if n == 0 || self.sequence_length == 0 {
            return Some("no features or an empty window".into());
        }
        if self.feature_names.len() != n || self.means.len() != n || self.stds.len() != n {
            return Some(format!(
                "{} feature names, {} means and {} standard deviations for {n} features",
                self.feature_names.len(),
                self.means.len(),
                self.stds.len()
            ));
        }
        let bad_std = |s: f64| !(s.is_finite() && s > 0.0);
        if self.means.iter().any(|m| !m.is_finite()) || self.stds.iter().any(|&s| bad_std(s)) {
            return Some(
                "a mean that is not finite or a standard deviation that is not positive".into(),
            );
        }
        if self.target.target().is_none() {
            return Some(format!(
                "the target kind `{}` is not one this atb knows ({})",
                self.target.kind,
                Target::ALL.map(TargetDefinition::kind_of).join(", ")
            ));
        }
        if !self.target.mean.is_finite()
            || bad_std(self.target.std)
            || self.target.horizon == 0
            || !self.target.lognormal_correction.is_finite()
        {
            return Some("the target's mean, standard deviation or horizon is invalid".into());
        }
        None
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetDefinition {
    /// What the raw output is, before scaling: `log_return` (ln(close[t + h] / close[t])),
    /// `log_realised_volatility` (the log of the realised volatility of bars t + 1 ..= t + h) or
    /// `up_logit` (the logit of close[t + h] > close[t]).
    pub kind: String,
    pub horizon: usize,
    /// The model outputs (label - mean) / std: predicted close = close[t] * exp(mean + std *
    /// output); predicted volatility = exp(mean + std * output); probability = sigmoid(output).
    pub mean: f64,
    pub std: f64,
    /// Volatility only: s², added to the unscaled output before the exponential (see
    /// `TargetScaler::lognormal_correction`); 0 otherwise and in versions before it existed.
    #[serde(default)]
    pub lognormal_correction: f64,
}

impl TargetDefinition {
    /// The `kind` a target's outputs are stored as.
    pub fn kind_of(target: Target) -> &'static str {
        match target {
            Target::Return => "log_return",
            Target::Volatility => "log_realised_volatility",
            Target::Direction => "up_logit",
        }
    }

    /// The target of a stored `kind`; `None` for a kind this atb does not know.
    pub fn target(&self) -> Option<Target> {
        Target::ALL
            .into_iter()
            .find(|t| Self::kind_of(*t) == self.kind)
    }

    /// The scaler that turns the model's raw outputs into forecasts.
    pub fn scaler(&self) -> TargetScaler {
        TargetScaler {
            kind: self.target().unwrap_or_default(),
            horizon: self.horizon,
            mean: self.mean,
            std: self.std,
            lognormal_correction: self.lognormal_correction,
        }
    }
}

impl FeatureSchema {
    pub fn from_outcome(o: &TrainOutcome) -> Self {
        Self {
            feature_set: o.params.feature_set.to_string(),
            feature_names: o.dataset.feature_names.clone(),
            means: o.data.scaler.means.clone(),
            stds: o.data.scaler.stds.clone(),
            sequence_length: o.params.sequence_length,
            n_features: o.dataset.feature_names.len(),
            target: TargetDefinition {
                kind: TargetDefinition::kind_of(o.data.target.kind).into(),
                horizon: o.data.target.horizon,
                mean: o.data.target.mean,
                std: o.data.target.std,
                lognormal_correction: o.data.target.lognormal_correction,
            },
            context: o.params.context.as_ref().map(ToString::to_string),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_written_before_targets_reads_as_the_return_target() {
        // A target definition as every version before targets wrote it.
        let old: TargetDefinition = serde_json::from_str(
            r#"{"kind": "log_return", "horizon": 1, "mean": 1.5e-5, "std": 0.0071}"#,
        )
        .unwrap();
        assert_eq!(old.target(), Some(Target::Return));
        assert_eq!(old.lognormal_correction, 0.0);
        let scaler = old.scaler();
        assert_eq!(scaler.kind, Target::Return);
        assert!((scaler.forecast(1.0) - (1.5e-5 + 0.0071)).abs() < 1e-15);
        for target in Target::ALL {
            let kind = TargetDefinition::kind_of(target);
            let def = TargetDefinition {
                kind: kind.into(),
                ..old.clone()
            };
            assert_eq!(def.target(), Some(target), "{kind}");
        }
        let unknown = TargetDefinition {
            kind: "log_range".into(),
            ..old
        };
        assert_eq!(unknown.target(), None);
    }
}
