//! Making an ensemble (`atb models ensemble`, the desktop's "Make ensemble"): registered versions
//! of one series, horizon, target, features and windows, loaded with their hashes checked,
//! weighed on their validation forecasts (equal and non-negative, both reported), evaluated on
//! the test split beside the same baselines and paired tests as any model, and registered as a
//! version of the `ensemble` model type.

use std::time::Instant;

use atb_models::burn::prelude::Device;
use atb_protocol::registry::{
    ENSEMBLE_MAX_MEMBERS, ENSEMBLE_MIN_MEMBERS, EnsembleMember, EnsembleRecipe, ModelRow,
};
use atb_protocol::training::{Evaluation, StopReason};
use atb_protocol::vocab::{Architecture, Variant, Weighting};

use crate::error::{Error, Result};
use crate::inference::recorded_data;
use crate::registry::{LoadedModel, Registry};
use crate::settings::Settings;
use crate::training::{
    EnsembleModel, TrainOutcome, TrainSpec, TrainedModel, calibrate, evaluate, fit_weightings,
    weighting_loss,
};

/// The ensemble just registered, with its recipe (members, both weightings' fits) and its
/// evaluation on the test split.
#[derive(Debug, serde::Serialize)]
pub struct MadeEnsemble {
    pub row: ModelRow,
    pub recipe: EnsembleRecipe,
    pub evaluation: Evaluation,
}

/// Makes, evaluates and registers an ensemble of `references` weighed by `weighting` (and
/// moves its series' `latest` to it). Blocking: run it on a worker thread.
pub fn make_ensemble(
    settings: &Settings,
    references: &[String],
    weighting: Weighting,
) -> Result<MadeEnsemble> {
    let (outcome, recipe) = build_ensemble(settings, references, weighting)?;
    let row = Registry::open(settings)?.register(&outcome, None, true)?;
    let evaluation = outcome
        .evaluation
        .ok_or_else(|| Error::InvalidData("an ensemble was made without an evaluation".into()))?;
    Ok(MadeEnsemble {
        row,
        recipe,
        evaluation,
    })
}

/// An ensemble of `references` weighed by `weighting` and evaluated, as a finished run that
/// [`Registry::register`] takes (with its recipe); nothing is registered yet.
pub fn build_ensemble(
    settings: &Settings,
    references: &[String],
    weighting: Weighting,
) -> Result<(TrainOutcome, EnsembleRecipe)> {
    let started = Instant::now();
    if !(ENSEMBLE_MIN_MEMBERS..=ENSEMBLE_MAX_MEMBERS).contains(&references.len()) {
        return Err(Error::InvalidRequest(format!(
            "an ensemble has {ENSEMBLE_MIN_MEMBERS} to {ENSEMBLE_MAX_MEMBERS} members; {} given",
            references.len()
        )));
    }
    let device = Device::flex();
    let registry = Registry::open(settings)?;
    let mut members: Vec<LoadedModel> = Vec::with_capacity(references.len());
    for reference in references {
        let loaded = registry.load(reference, &device)?;
        if loaded.row.architecture == Architecture::Ensemble {
            return Err(Error::InvalidRequest(format!(
                "{} is itself an ensemble; make one ensemble of its members and the others",
                loaded.row.version_id
            )));
        }
        if let Some(same) = members
            .iter()
            .find(|m| m.row.version_id == loaded.row.version_id)
        {
            return Err(Error::InvalidRequest(format!(
                "{reference} names {} twice; each member is one version",
                same.row.version_id
            )));
        }
        members.push(loaded);
    }
    for other in &members[1..] {
        check_compatible(&members[0], other)?;
    }
    let first = &members[0];
    let (mut data, dataset) = super::block_on(recorded_data(settings, first))?;
    let fits = fit_weightings(
        &members.iter().map(|m| &m.model).collect::<Vec<_>>(),
        &data,
        &device,
    )?;
    let chosen = fits
        .iter()
        .find(|f| f.weighting == weighting)
        .ok_or_else(|| Error::InvalidRequest(format!("no {weighting} fit")))?
        .weights
        .clone();
    let recipe = EnsembleRecipe {
        weighting,
        members: members
            .iter()
            .zip(&chosen)
            .map(|(m, &weight)| EnsembleMember {
                version_id: m.row.version_id.clone(),
                architecture: m.row.architecture,
                variant: m.row.variant,
                weights_sha256: m.row.weights_sha256.clone(),
                weight,
            })
            .collect(),
        fits,
        loss: weighting_loss(data.target.kind).into(),
    };
    let params = TrainSpec {
        architecture: Architecture::Ensemble,
        variant: Variant::Default,
        overrides: Default::default(),
        trees: Default::default(),
        walk_forward_folds: None,
        ..first.metadata.training_params.spec.clone()
    };
    let member_device = format!("{} (the members')", first.metadata.device);
    // What the ensemble cost: its members' training, then its own weighing and evaluation.
    let members_seconds: f64 = members.iter().map(|m| m.metadata.train_seconds).sum();
    let model = TrainedModel::Ensemble(EnsembleModel {
        members: members.into_iter().map(|m| m.model).collect(),
        recipe: recipe.clone(),
    });
    // Volatility: the ensemble's own retransformation correction, from its validation errors.
    calibrate(&model, &mut data, &device)?;
    let evaluation = evaluate(&model, &data, &device)?;
    let outcome = TrainOutcome {
        parameters: model.parameters(),
        model,
        params,
        dataset,
        history: Vec::new(),
        stop: StopReason::Completed,
        epochs_run: 0,
        best_epoch: None,
        evaluation: Some(evaluation),
        device: member_device,
        train_seconds: members_seconds + started.elapsed().as_secs_f64(),
        data,
    };
    Ok((outcome, recipe))
}

/// Refuses two members that cannot be summed window by window, naming what differs.
fn check_compatible(a: &LoadedModel, b: &LoadedModel) -> Result<()> {
    let (da, db) = (&a.metadata.dataset, &b.metadata.dataset);
    let (sa, sb) = (&a.schema, &b.schema);
    let differ = |what: &str, x: String, y: String| -> Result<()> {
        if x == y {
            return Ok(());
        }
        Err(Error::InvalidRequest(format!(
            "{} and {} cannot make one ensemble: their {what} differ ({x} and {y}); an \
             ensemble's members share the series, horizon, target, features and windows",
            a.row.version_id, b.row.version_id
        )))
    };
    let series = |r: &ModelRow, d: &atb_protocol::training::DatasetSummary| {
        format!("{} {} from {}", r.symbol, r.timeframe, d.source)
    };
    differ("series", series(&a.row, da), series(&b.row, db))?;
    differ(
        "targets",
        a.row.target.to_string(),
        b.row.target.to_string(),
    )?;
    differ(
        "horizons",
        sa.target.horizon.to_string(),
        sb.target.horizon.to_string(),
    )?;
    differ(
        "candles (SHA-256)",
        da.data_sha256.clone(),
        db.data_sha256.clone(),
    )?;
    differ(
        "feature sets",
        format!("{} {:?}", sa.feature_set, sa.context),
        format!("{} {:?}", sb.feature_set, sb.context),
    )?;
    differ(
        "sequence lengths",
        sa.sequence_length.to_string(),
        sb.sequence_length.to_string(),
    )?;
    if sa.means != sb.means || sa.stds != sb.stds {
        differ(
            "feature scalers",
            format!("{}'s", a.row.version_id),
            format!("{}'s", b.row.version_id),
        )?;
    }
    differ(
        "target scalers",
        format!("{} {}", sa.target.mean, sa.target.std),
        format!("{} {}", sb.target.mean, sb.target.std),
    )?;
    let windows = |d: &atb_protocol::training::DatasetSummary| {
        format!("{:?} {:?} {:?}", d.train, d.validation, d.test)
    };
    differ(
        "training, validation and test windows",
        windows(da),
        windows(db),
    )
}
