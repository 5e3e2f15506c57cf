//! Walk-forward evaluation: a fresh model per planned expanding-window fold, scalers refit per
//! fold, and the folds summarised as mean and spread.

use super::*;
use atb_protocol::spec::FieldProblem;

/// Mean and sample standard deviation (0 for a single value).
pub(super) fn spread(values: &[f64]) -> Spread {
    let present: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let n = present.len();
    let mean = present.iter().sum::<f64>() / n.max(1) as f64;
    let std = if n > 1 {
        (present.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    Spread {
        mean: if n == 0 { f64::NAN } else { mean },
        std,
    }
}

/// Walk-forward evaluation over the planned folds: a fresh model per expanding-window fold,
/// scalers refit per fold, each fold's events forwarded tagged with its number.
pub(super) fn walk_forward(
    data: &PreparedData,
    base: &DatasetSummary,
    params: &TrainSpec,
    folds: &[ChronologicalSplit],
    on_event: &mut dyn FnMut(TrainingEvent),
    cancel: &CancelToken,
) -> Result<WalkForward> {
    let count = folds.len();
    let mut per_fold: Vec<SplitEvaluation> = Vec::with_capacity(count);
    for (k, split) in folds.iter().enumerate() {
        let fold_data = PreparedData::with_split(
            data.matrix.clone(),
            params.sequence_length,
            params.horizon,
            params.target,
            split.clone(),
        )?;
        let (train, validation, test) = split_infos(&fold_data);
        let summary = DatasetSummary {
            train,
            validation,
            test,
            gap_windows_dropped: fold_data.gap_windows_dropped,
            embargo: split.embargo,
            ..base.clone()
        };
        let fold_params = TrainSpec {
            walk_forward_folds: None,
            ..params.clone()
        };
        let mut forward = |event: TrainingEvent| {
            on_event(TrainingEvent::Fold {
                fold: k + 1,
                folds: count,
                inner: Box::new(event),
            })
        };
        let outcome = fit_prepared(fold_data, summary, &fold_params, &mut forward, cancel)?;
        let Some(ev) = outcome.evaluation else {
            return Err(Error::Cancelled);
        };
        // `TrainSpec::check` refuses walk-forward for the other targets.
        let Some(test) = ev.test else {
            return Err(Error::InvalidSpec(FieldProblem::new(
                "walk-forward folds",
                "walk-forward is measured for the return target only",
            )));
        };
        per_fold.push(test);
    }
    let pick = |f: fn(&SplitEvaluation) -> f64| -> Vec<f64> { per_fold.iter().map(f).collect() };
    let verdicts: Vec<VerdictKind> = per_fold.iter().map(|f| vs_persistence(f).kind).collect();
    Ok(WalkForward {
        folds: count,
        model_mae_usd: spread(&pick(|f| f.model.mae_usd)),
        model_rmse_usd: spread(&pick(|f| f.model.rmse_usd)),
        persistence_mae_usd: spread(&pick(|f| f.persistence.mae_usd)),
        skill_vs_persistence: spread(&pick(|f| f.model.skill_vs_persistence)),
        directional_accuracy: spread(&pick(|f| f.model.directional_accuracy.unwrap_or(f64::NAN))),
        drift_mae_usd: Some(spread(&pick(|f| f.drift.mae_usd))),
        ridge_mae_usd: Some(spread(&pick(|f| f.ridge.mae_usd))),
        mase: Some(spread(&pick(|f| f.model.mase))),
        better_than_persistence: Some(
            verdicts
                .iter()
                .filter(|v| **v == VerdictKind::Better)
                .count(),
        ),
        worse_than_persistence: Some(
            verdicts
                .iter()
                .filter(|v| **v == VerdictKind::Worse)
                .count(),
        ),
        per_fold,
    })
}
