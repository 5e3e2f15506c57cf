//! The whole ONNX file: graph input and output, the emitted nodes, opset and the
//! `metadata_props` that make the file self-describing (the same facts as
//! `feature_schema.json`, plus where the model came from).

use std::collections::BTreeMap;

use prost::Message;
use serde::{Deserialize, Serialize};

use super::emit::{FORECAST_NAME, INPUT_NAME, OUTPUT_NAME, emit_model};
use super::ensemble::emit_ensemble;
use super::graph::{Dim, GraphBuilder, f32_value_info};
use super::proto::{GraphProto, ModelProto, OperatorSetIdProto, StringStringEntryProto};
use super::trees::{ML_DOMAIN, ML_OPSET, emit_trees};
use crate::error::{Error, Result};
use crate::registry::metadata::{FeatureSchema, TargetDefinition};
use crate::training::TrainedModel;
use atb_protocol::registry::EnsembleRecipe;
use atb_protocol::vocab::Target;

/// The default-domain opset the emitter writes (ReduceMean/ReduceMax take `axes` as an
/// attribute here; opset 18 moved them to inputs).
pub const OPSET: i64 = 17;
/// ONNX IR version 8 goes with opsets up to 18.
const IR_VERSION: i64 = 8;
const PREFIX: &str = "atb.";

/// Everything `metadata_props` says about an exported model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnnxDocument {
    pub symbol: String,
    pub timeframe: String,
    pub version_id: String,
    pub architecture: String,
    pub variant: String,
    pub app_version: String,
    /// Feature names in input order, scaler means and standard deviations, sequence length and
    /// the target definition (horizon, log return, standardisation).
    pub schema: FeatureSchema,
    /// An ensemble's members (id, model, weights' SHA-256) and weights, as `atb.ensemble`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<EnsembleRecipe>,
}

impl OnnxDocument {
    /// The `(L, F)` of `n` windows given as `values_len` row-major floats, or why they are not
    /// `n` windows of this model's input (both runtimes check the same way).
    pub fn window_dims(&self, values_len: usize, n: usize) -> Result<(usize, usize)> {
        let (l, f) = (self.schema.sequence_length, self.schema.n_features);
        if Some(values_len) != n.checked_mul(l * f) {
            return Err(Error::InvalidRequest(format!(
                "{values_len} values are not {n} windows of [{l}, {f}]"
            )));
        }
        Ok((l, f))
    }

    /// The description of a model that is not in the registry (benchmarks, tests): identity
    /// scalers, a one-bar log-return target, placeholder names.
    #[cfg(feature = "testing")]
    pub fn standalone(
        architecture: &str,
        variant: &str,
        sequence_length: usize,
        n_features: usize,
    ) -> Self {
        Self {
            symbol: "-".into(),
            timeframe: "-".into(),
            version_id: "unregistered".into(),
            architecture: architecture.into(),
            variant: variant.into(),
            app_version: env!("CARGO_PKG_VERSION").into(),
            schema: FeatureSchema {
                feature_set: "-".into(),
                feature_names: (0..n_features).map(|i| format!("f{i}")).collect(),
                means: vec![0.0; n_features],
                stds: vec![1.0; n_features],
                sequence_length,
                n_features,
                target: TargetDefinition {
                    kind: "log_return".into(),
                    horizon: 1,
                    mean: 0.0,
                    std: 1.0,
                    lognormal_correction: 0.0,
                },
                context: None,
            },
            ensemble: None,
        }
    }

    /// The `metadata_props` entries: one key per fact, lists and the target as JSON.
    pub fn props(&self) -> Result<Vec<(String, String)>> {
        let s = &self.schema;
        let entries = vec![
            ("symbol", self.symbol.clone()),
            ("timeframe", self.timeframe.clone()),
            ("version_id", self.version_id.clone()),
            ("architecture", self.architecture.clone()),
            ("variant", self.variant.clone()),
            ("app_version", self.app_version.clone()),
            ("feature_set", s.feature_set.clone()),
            ("feature_names", json(&s.feature_names)?),
            ("feature_means", json(&s.means)?),
            ("feature_stds", json(&s.stds)?),
            ("sequence_length", s.sequence_length.to_string()),
            ("n_features", s.n_features.to_string()),
            ("target_kind", s.target.kind.clone()),
            ("target_horizon", s.target.horizon.to_string()),
            ("target_mean", s.target.mean.to_string()),
            ("target_std", s.target.std.to_string()),
            (
                "target_lognormal_correction",
                s.target.lognormal_correction.to_string(),
            ),
            (
                "input",
                format!(
                    "{INPUT_NAME}: float32 [batch, {}, {}], each feature standardised as (x - feature_means[j]) / feature_stds[j]",
                    s.sequence_length, s.n_features
                ),
            ),
            ("output", output_description(&s.target)),
            ("forecast", forecast_description(&s.target)),
        ];
        let mut entries = entries;
        if let Some(context) = &s.context {
            entries.push(("context", context.clone()));
        }
        if let Some(recipe) = &self.ensemble {
            entries.push(("ensemble", json(recipe)?));
        }
        Ok(entries
            .into_iter()
            .map(|(k, v)| (format!("{PREFIX}{k}"), v))
            .collect())
    }

    /// Rebuilds the document from `metadata_props` (the inverse of `props`).
    pub fn from_props(props: &BTreeMap<String, String>) -> Result<Self> {
        let get = |key: &str| -> Result<&String> {
            props.get(&format!("{PREFIX}{key}")).ok_or_else(|| {
                Error::InvalidData(format!(
                    "the ONNX file has no metadata property {PREFIX}{key}; it was not written by atb"
                ))
            })
        };
        let bad = |key: &str, e: &dyn std::fmt::Display| {
            Error::InvalidData(format!("ONNX metadata property {PREFIX}{key}: {e}"))
        };
        let number = |key: &str| -> Result<f64> {
            get(key)?.trim().parse::<f64>().map_err(|e| bad(key, &e))
        };
        let count = |key: &str| -> Result<usize> {
            get(key)?.trim().parse::<usize>().map_err(|e| bad(key, &e))
        };
        // Numbers are parsed by Rust's correctly rounded parser, so they round-trip exactly.
        let numbers = |key: &str| -> Result<Vec<f64>> {
            let text = get(key)?.trim();
            let inner = text
                .strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .ok_or_else(|| bad(key, &"not a JSON list"))?;
            inner
                .split(',')
                .filter(|v| !v.trim().is_empty())
                .map(|v| v.trim().parse::<f64>().map_err(|e| bad(key, &e)))
                .collect()
        };
        let schema = FeatureSchema {
            feature_set: get("feature_set")?.clone(),
            feature_names: serde_json::from_str(get("feature_names")?)
                .map_err(|e| bad("feature_names", &e))?,
            means: numbers("feature_means")?,
            stds: numbers("feature_stds")?,
            sequence_length: count("sequence_length")?,
            n_features: count("n_features")?,
            target: TargetDefinition {
                kind: get("target_kind")?.clone(),
                horizon: count("target_horizon")?,
                mean: number("target_mean")?,
                std: number("target_std")?,
                // Files written before the correction existed have none.
                lognormal_correction: match props
                    .get(&format!("{PREFIX}target_lognormal_correction"))
                {
                    Some(_) => number("target_lognormal_correction")?,
                    None => 0.0,
                },
            },
            context: props.get(&format!("{PREFIX}context")).cloned(),
        };
        Ok(Self {
            symbol: get("symbol")?.clone(),
            timeframe: get("timeframe")?.clone(),
            version_id: get("version_id")?.clone(),
            architecture: get("architecture")?.clone(),
            variant: get("variant")?.clone(),
            app_version: get("app_version")?.clone(),
            schema,
            ensemble: props
                .get(&format!("{PREFIX}ensemble"))
                .map(|text| serde_json::from_str(text).map_err(|e| bad("ensemble", &e)))
                .transpose()?,
        })
    }
}

fn output_description(t: &TargetDefinition) -> String {
    let h = t.horizon;
    match t.target() {
        Some(Target::Volatility) => format!(
            "{OUTPUT_NAME}: float32 [batch, 1], the standardised log realised volatility of the next {h} bars; realised volatility = exp(target.mean + target.lognormal_correction + target.std * {OUTPUT_NAME})"
        ),
        Some(Target::Direction) => format!(
            "{OUTPUT_NAME}: float32 [batch, 1], the logit of the close {h} bars ahead being above close[t]"
        ),
        _ => format!(
            "{OUTPUT_NAME}: float32 [batch, 1], the standardised {h}-bar log return; predicted close = close[t] * exp(target.mean + target.std * {OUTPUT_NAME})"
        ),
    }
}

fn forecast_description(t: &TargetDefinition) -> String {
    let h = t.horizon;
    match t.target() {
        Some(Target::Volatility) => format!(
            "{FORECAST_NAME}: float32 [batch, 1], the realised volatility of the next {h} bars in log-return units (times close[t]: in price)"
        ),
        Some(Target::Direction) => format!(
            "{FORECAST_NAME}: float32 [batch, 1], the probability that the close {h} bars ahead is above close[t]"
        ),
        _ => format!(
            "{FORECAST_NAME}: float32 [batch, 1], the {h}-bar log return; predicted close = close[t] * exp({FORECAST_NAME})"
        ),
    }
}

/// The target's head after the raw output: unscale (volatility: plus the log-normal correction),
/// then the exponential (volatility) or the logistic (direction), into `FORECAST_NAME`.
fn emit_head(g: &mut GraphBuilder, target: &TargetDefinition) {
    let std = g.f32_tensor("target_std", &[], vec![target.std as f32]);
    let mean = g.f32_tensor(
        "target_mean",
        &[],
        vec![(target.mean + target.lognormal_correction) as f32],
    );
    let scaled = g.node("Mul", &[OUTPUT_NAME, &std], vec![]);
    let unscaled = g.node("Add", &[&scaled, &mean], vec![]);
    let op = match target.target() {
        Some(Target::Volatility) => "Exp",
        Some(Target::Direction) => "Sigmoid",
        _ => "Identity",
    };
    g.node_into(op, &[&unscaled], &[FORECAST_NAME], vec![]);
}

/// JSON for the list-valued properties (shortest round-trip float representations).
fn json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Export(format!("metadata: {e}")))
}

/// The forward pass of any model, from `INPUT_NAME` to `OUTPUT_NAME`.
pub fn emit_body(g: &mut GraphBuilder, model: &TrainedModel, steps: usize) -> Result<()> {
    match model {
        TrainedModel::Network { model, .. } => emit_model(g, model, steps),
        TrainedModel::Trees(trees) => emit_trees(g, trees),
        TrainedModel::Ensemble(ensemble) => emit_ensemble(g, ensemble, steps),
    }
}

/// Whether an ONNX file uses the `ai.onnx.ml` domain (a tree model, alone or in an ensemble),
/// which tract cannot run.
pub fn uses_ml_domain(bytes: &[u8]) -> bool {
    ModelProto::decode(bytes).is_ok_and(|m| {
        m.opset_import
            .iter()
            .any(|o| o.domain.as_deref() == Some(ML_DOMAIN))
    })
}

/// The serialised ONNX model of `model` described by `doc`.
pub fn model_document(model: &TrainedModel, doc: &OnnxDocument) -> Result<Vec<u8>> {
    let steps = doc.schema.sequence_length;
    let mut g = GraphBuilder::default();
    let mut opset_import = vec![OperatorSetIdProto {
        domain: Some(String::new()),
        version: Some(OPSET),
    }];
    emit_body(&mut g, model, steps)?;
    if model.has_trees() {
        opset_import.push(OperatorSetIdProto {
            domain: Some(ML_DOMAIN.into()),
            version: Some(ML_OPSET),
        });
    }
    emit_head(&mut g, &doc.schema.target);
    let graph = GraphProto {
        name: Some(format!("{}_{}", doc.architecture, doc.variant)),
        node: g.nodes,
        initializer: g.initializers,
        input: vec![f32_value_info(
            INPUT_NAME,
            &[
                Dim::Named("batch"),
                Dim::Fixed(steps),
                Dim::Fixed(doc.schema.n_features),
            ],
        )],
        output: [OUTPUT_NAME, FORECAST_NAME]
            .map(|name| f32_value_info(name, &[Dim::Named("batch"), Dim::Fixed(1)]))
            .into(),
        doc_string: Some(format!(
            "atb {} {} for {} {} (version {})",
            doc.architecture, doc.variant, doc.symbol, doc.timeframe, doc.version_id
        )),
        ..GraphProto::default()
    };
    let model = ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import,
        producer_name: Some("atb".into()),
        producer_version: Some(doc.app_version.clone()),
        model_version: Some(1),
        graph: Some(graph),
        metadata_props: doc
            .props()?
            .into_iter()
            .map(|(key, value)| StringStringEntryProto {
                key: Some(key),
                value: Some(value),
            })
            .collect(),
        ..ModelProto::default()
    };
    Ok(model.encode_to_vec())
}

/// The `metadata_props` of an ONNX file.
pub fn read_metadata(bytes: &[u8]) -> Result<BTreeMap<String, String>> {
    let model = ModelProto::decode(bytes)
        .map_err(|e| Error::InvalidData(format!("not an ONNX model: {e}")))?;
    Ok(model
        .metadata_props
        .into_iter()
        .filter_map(|p| Some((p.key?, p.value.unwrap_or_default())))
        .collect())
}
