//! An ensemble of registered versions: the members' raw outputs (standardised labels, or logits
//! for direction) summed with non-negative weights chosen on the validation split, which no
//! member trained on; the test split never reaches a weight.

use atb_models::burn::prelude::Device;
use atb_protocol::registry::{EnsembleRecipe, WeightingFit};
use atb_protocol::vocab::{Target, Weighting};

use super::TrainedModel;
use super::nonnegative::{log_loss_of_logits, nnls, nonnegative_logistic};
use crate::dataset::PreparedData;
use crate::error::{Error, Result};

/// The members, loaded, and the recipe that weighs them (`ensemble.json`).
#[derive(Debug)]
pub struct EnsembleModel {
    pub members: Vec<TrainedModel>,
    pub recipe: EnsembleRecipe,
}

impl EnsembleModel {
    /// The weights in use, in member order.
    pub fn weights(&self) -> Vec<f64> {
        self.recipe.members.iter().map(|m| m.weight).collect()
    }

    /// `Σ weight·output` per window, summed in double precision; `outputs[i]` is member i's.
    pub fn combine(&self, outputs: &[Vec<f32>]) -> Vec<f32> {
        let weights = self.weights();
        let n = outputs.first().map_or(0, Vec::len);
        (0..n)
            .map(|t| {
                outputs
                    .iter()
                    .zip(&weights)
                    .map(|(o, w)| w * f64::from(o[t]))
                    .sum::<f64>() as f32
            })
            .collect()
    }
}

/// What the weightings minimise for a target, in words.
pub fn weighting_loss(target: Target) -> &'static str {
    match target {
        Target::Direction => "mean log loss of the probability of an up move",
        _ => "mean squared error of the standardised label",
    }
}

/// Equal and non-negative weights for `members` fitted on the validation split of `data`
/// (the members' raw outputs against its labels), each with its validation loss. Reads no
/// test label: what the test split holds cannot move a weight.
pub fn fit_weightings(
    members: &[&TrainedModel],
    data: &PreparedData,
    device: &Device,
) -> Result<Vec<WeightingFit>> {
    let samples: Vec<usize> = data
        .samples
        .validation
        .iter()
        .copied()
        .filter(|&t| data.labels[t].is_finite())
        .collect();
    if samples.is_empty() {
        return Err(Error::TooLittleData(
            "the validation split has no windows to weigh the members on".into(),
        ));
    }
    let columns = members
        .iter()
        .map(|m| {
            Ok(m.predict_scaled(data, &samples, device)?
                .into_iter()
                .map(f64::from)
                .collect::<Vec<f64>>())
        })
        .collect::<Result<Vec<_>>>()?;
    if columns.iter().flatten().any(|v| !v.is_finite()) {
        return Err(Error::InvalidData(
            "a member forecasts a value that is not finite on the validation split".into(),
        ));
    }
    let k = members.len();
    let equal = vec![1.0 / k as f64; k];
    let direction = data.target.kind == Target::Direction;
    let labels: Vec<f64> = samples
        .iter()
        .map(|&t| {
            if direction {
                data.labels[t]
            } else {
                data.target.scale(data.labels[t])
            }
        })
        .collect();
    let loss = |w: &[f64]| -> f64 {
        let fitted: Vec<f64> = (0..labels.len())
            .map(|t| columns.iter().zip(w).map(|(c, w)| c[t] * w).sum())
            .collect();
        if direction {
            log_loss_of_logits(&fitted, &labels)
        } else {
            fitted
                .iter()
                .zip(&labels)
                .map(|(f, y)| (f - y).powi(2))
                .sum::<f64>()
                / labels.len() as f64
        }
    };
    let fitted = if direction {
        nonnegative_logistic(&columns, &labels)
    } else {
        nnls(&columns, &labels)
    };
    Ok([(Weighting::Equal, equal), (Weighting::Nnls, fitted)]
        .into_iter()
        .map(|(weighting, weights)| WeightingFit {
            weighting,
            validation_loss: loss(&weights),
            weights,
        })
        .collect())
}
