//! The training loop: Adam on MSE, early stopping on validation loss with the best weights
//! restored, learning rate halved on plateaus, optional clipping of the global gradient norm,
//! seeded shuffles, cancellation within a batch, a stop that keeps the best weights when a loss
//! turns non-finite, and a typed event stream that the CLI and the desktop app both consume.
//! Walk-forward folds are planned and checked before any training. No terminal or GUI code here.

use std::time::Instant;

use atb_models::burn::module::{Module, ModuleVisitor, Param};
use atb_models::burn::nn::loss::{MseLoss, Reduction};
use atb_models::burn::optim::GradientsParams;
use atb_models::burn::prelude::*;
use atb_models::probe::ProbeSpec;
use atb_models::{ForecastModel, ModelConfig, build_model};
use atb_protocol::backtest::BacktestSpec;
use atb_protocol::training::{
    DatasetSummary, EVALUATION_METHOD, EpochRecord, Evaluation, SplitEvaluation, SplitInfo, Spread,
    StopReason, TrainingEvent, WalkForward,
};
use atb_protocol::verdict::{VerdictKind, vs_persistence};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use sha2::{Digest, Sha256};

use crate::dataset::{ChronologicalSplit, PreparedData, Target, bar_interval_ms, gap_free_samples};
use crate::error::{Error, Result};
use crate::evaluation::{RidgeBaseline, backtest_split, evaluate_split};
use crate::features::{FeatureSet, series_features};
use crate::market::source::CandleSeries;
use crate::target_baselines::{LogisticBaseline, ridge_volatility};
use crate::targets::evaluate::{TargetWindows, evaluate_direction, evaluate_volatility};
use crate::targets::labels::log_returns;
use crate::targets::volatility::{HarSpans, smearing_correction};
use atb_protocol::targets::TargetEvaluation;

mod ensemble;
mod nonnegative;
pub mod resources;
mod trainer;
mod trees;
mod walk_forward;

use crate::gbdt::GbdtModel;
pub use atb_protocol::spec::{CheckedSpec, TrainSpec};
use atb_protocol::vocab::Architecture;
pub use ensemble::{EnsembleModel, fit_weightings, weighting_loss};
pub use nonnegative::{nnls, nonnegative_logistic};
pub use trainer::{predict_scaled, train_prepared};
pub use trees::train_trees;
use walk_forward::walk_forward;

/// Refuses nonsense before any work starts, naming the field and its valid range, then the
/// memory the run needs on this machine; what passes is the spec the engine trains on.
pub fn check_spec(spec: TrainSpec) -> Result<CheckedSpec> {
    if !spec.architecture.is_trainable() {
        // A stored ensemble's spec is a valid description of its data (re-evaluation prepares
        // from it), so this refusal belongs to training, not to `TrainSpec::check`.
        return Err(Error::InvalidSpec(atb_protocol::spec::FieldProblem::new(
            "architecture",
            "an ensemble is made from registered versions, not trained",
        )));
    }
    let checked = spec.check().map_err(Error::InvalidSpec)?;
    // Memory is checked before any data is read or model built: a batch that cannot fit is
    // refused with the figures instead of aborting the process mid-run.
    resources::check_memory(&checked)?;
    Ok(checked)
}

pub use crate::cancel::CancelToken;

/// A model of any kind: a network with the configuration it was built from, a tree model, or
/// an ensemble of registered versions.
#[derive(Debug)]
pub enum TrainedModel {
    Network {
        /// On the evaluation device, without autodiff.
        model: ForecastModel,
        config: ModelConfig,
    },
    Trees(GbdtModel),
    Ensemble(EnsembleModel),
}

impl TrainedModel {
    /// Scaled predictions for samples `ts` of `data` (`device` is the network's; trees run on
    /// the CPU).
    pub fn predict_scaled(
        &self,
        data: &PreparedData,
        ts: &[usize],
        device: &Device,
    ) -> Result<Vec<f32>> {
        match self {
            Self::Network { model, config } => {
                predict_scaled(model, data, ts, device, resources::inference_batch(config))
            }
            Self::Trees(trees) => {
                let mut out = Vec::with_capacity(ts.len());
                for chunk in ts.chunks(4_096) {
                    let (windows, _) = data.batch(chunk);
                    out.extend(trees.predict_windows(&windows, chunk.len())?);
                }
                Ok(out)
            }
            Self::Ensemble(ensemble) => {
                let outputs = ensemble
                    .members
                    .iter()
                    .map(|m| m.predict_scaled(data, ts, device))
                    .collect::<Result<Vec<_>>>()?;
                Ok(ensemble.combine(&outputs))
            }
        }
    }

    /// Learned values: a network's parameters, a tree model's leaves, an ensemble's members'
    /// together.
    pub fn parameters(&self) -> usize {
        match self {
            Self::Network { model, .. } => model.num_params(),
            Self::Trees(trees) => trees.leaves(),
            Self::Ensemble(e) => e.members.iter().map(TrainedModel::parameters).sum(),
        }
    }

    /// The network, if it is one.
    pub fn network(&self) -> Option<&ForecastModel> {
        match self {
            Self::Network { model, .. } => Some(model),
            Self::Trees(_) | Self::Ensemble(_) => None,
        }
    }

    /// Windows predicted at once when sweeping many: a network's memory-bounded inference
    /// batch, the smallest of an ensemble's members', `sweep` for trees.
    pub fn inference_batch(&self, sweep: usize) -> usize {
        match self {
            Self::Network { config, .. } => resources::inference_batch(config).min(sweep),
            Self::Trees(_) => sweep,
            Self::Ensemble(e) => e
                .members
                .iter()
                .map(|m| m.inference_batch(sweep))
                .min()
                .unwrap_or(sweep),
        }
    }

    /// Whether a tree model is part of it (its ONNX file then needs the `ai.onnx.ml` domain).
    pub fn has_trees(&self) -> bool {
        match self {
            Self::Network { .. } => false,
            Self::Trees(_) => true,
            Self::Ensemble(e) => e.members.iter().any(TrainedModel::has_trees),
        }
    }
}

/// Trains on already prepared data with the trainer of the spec's model type.
pub fn fit_prepared(
    data: PreparedData,
    dataset: DatasetSummary,
    params: &TrainSpec,
    on_event: &mut dyn FnMut(TrainingEvent),
    cancel: &CancelToken,
) -> Result<TrainOutcome> {
    match params.architecture {
        a if a.is_network() => train_prepared(data, dataset, params, on_event, cancel),
        Architecture::Gbdt => train_trees(data, dataset, params, on_event, cancel),
        a => Err(Error::InvalidRequest(format!(
            "{a} is made from registered versions, not trained"
        ))),
    }
}

/// A finished (or cancelled) run: the best model, everything needed to reproduce its inputs,
/// and how it went.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The best model (lowest validation loss).
    pub model: TrainedModel,
    pub params: TrainSpec,
    pub dataset: DatasetSummary,
    pub history: Vec<EpochRecord>,
    pub stop: StopReason,
    pub epochs_run: usize,
    pub best_epoch: Option<usize>,
    /// `None` when cancelled (a cancelled run is not worth evaluating).
    pub evaluation: Option<Evaluation>,
    pub device: String,
    pub parameters: usize,
    pub train_seconds: f64,
    /// The prepared data: features, split, and the train-fitted feature and target scalers.
    pub data: PreparedData,
}

/// SHA-256 of candle rows: open time and OHLCV as little-endian bytes, in order; for a feature
/// set that reads order flow, each row's trade count and taker-buy volume too, and a context
/// market's rows after the series' (the hashes of every other version stay what they were
/// before candles carried order flow and series a context).
pub fn candles_sha256(series: &CandleSeries, set: FeatureSet) -> String {
    let mut h = Sha256::new();
    for c in &series.candles {
        h.update(c.open_time.to_le_bytes());
        for v in [c.open, c.high, c.low, c.close, c.volume] {
            h.update(v.to_le_bytes());
        }
        if set.needs_order_flow() {
            let (trades, bought) = c
                .flow
                .map_or((u64::MAX, f64::NAN), |f| (f.trades, f.taker_buy_volume));
            h.update(trades.to_le_bytes());
            h.update(bought.to_le_bytes());
        }
    }
    // A context market's rows too, after a separator and its symbol (no context: the hash every
    // version had before contexts existed).
    if let Some(context) = &series.context {
        h.update(b"\0context\0");
        h.update(context.symbol.as_str().as_bytes());
        for c in &context.candles {
            h.update(c.open_time.to_le_bytes());
            for v in [c.open, c.high, c.low, c.close, c.volume] {
                h.update(v.to_le_bytes());
            }
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Features, split and scalers for `series` as `params` ask, with the summary users see. When
/// walk-forward folds are asked for, they are planned and checked here, before any training.
pub fn prepare(
    series: &CandleSeries,
    params: &CheckedSpec,
) -> Result<(PreparedData, DatasetSummary)> {
    let (Some(first), Some(last)) = (series.candles.first(), series.candles.last()) else {
        return Err(Error::TooLittleData(format!(
            "no {} {} candles from {}",
            series.symbol, series.timeframe, series.source
        )));
    };
    let with_context = |e: Error| match e {
        Error::TooLittleData(m) => Error::TooLittleData(format!(
            "{m} ({} candles loaded, {} used to warm up the {} features)",
            series.candles.len(),
            params.feature_set.warmup_rows(),
            params.feature_set
        )),
        other => other,
    };
    let matrix = series_features(series, params.feature_set)?;
    let mut data = PreparedData::new(
        matrix,
        params.sequence_length,
        params.horizon,
        params.target,
        params.fractions,
    )
    .map_err(with_context)?;
    if let Some(folds) = params.walk_forward_folds {
        let usable = gap_free_samples(&data.matrix, params.sequence_length, params.horizon);
        data.walk_forward = ChronologicalSplit::walk_forward(
            data.matrix.rows,
            params.sequence_length,
            params.horizon,
            folds,
            &|t| usable[t],
        )
        .map_err(with_context)?;
    }
    let (train, validation, test) = split_infos(&data);
    let summary = DatasetSummary {
        source: series.source.clone(),
        symbol: series.symbol.clone(),
        timeframe: series.timeframe,
        candles: series.candles.len(),
        first_candle_open_ms: first.open_time,
        last_candle_open_ms: last.open_time,
        warmup_rows: data.matrix.warmup_rows,
        feature_names: data.matrix.names.clone(),
        sequence_length: params.sequence_length,
        horizon: params.horizon,
        embargo: data.split.embargo,
        train,
        validation,
        test,
        data_sha256: candles_sha256(series, params.feature_set),
        gap_windows_dropped: data.gap_windows_dropped,
        context_rows_dropped: data.matrix.context_rows_dropped,
    };
    Ok((data, summary))
}

fn split_infos(data: &PreparedData) -> (SplitInfo, SplitInfo, SplitInfo) {
    let info = |samples: &[usize]| SplitInfo {
        samples: samples.len(),
        first_target_open_ms: samples.first().map_or(0, |&t| data.target_open_time(t)),
        last_target_open_ms: samples.last().map_or(0, |&t| data.target_open_time(t)),
    };
    (
        info(&data.samples.train),
        info(&data.samples.validation),
        info(&data.samples.test),
    )
}

/// Trains on `series` with `params`, streaming events to `on_event`, stopping early when
/// `cancel` fires. The returned model carries the best weights.
pub fn train(
    series: &CandleSeries,
    params: &CheckedSpec,
    on_event: &mut dyn FnMut(TrainingEvent),
    cancel: &CancelToken,
) -> Result<TrainOutcome> {
    // The doors checked memory before loading candles; checked again here, where it is cheap,
    // so no caller can start a run that cannot fit.
    resources::check_memory(params)?;
    let (data, dataset) = prepare(series, params)?;
    let mut outcome = fit_prepared(data, dataset, params, on_event, cancel)?;
    let folds = outcome.data.walk_forward.clone();
    if let (false, Some(evaluation)) = (folds.is_empty(), outcome.evaluation.as_mut()) {
        match walk_forward(
            &outcome.data,
            &outcome.dataset,
            params,
            &folds,
            on_event,
            cancel,
        ) {
            Ok(wf) => evaluation.walk_forward = Some(wf),
            Err(Error::Cancelled) => {
                outcome.stop = StopReason::Cancelled;
                outcome.evaluation = None;
                on_event(TrainingEvent::Cancelled {
                    epoch: outcome.epochs_run,
                    best_epoch: outcome.best_epoch,
                });
                return Ok(outcome);
            }
            Err(e) => return Err(e),
        }
    }
    // The run's buffers are free now; hand them back to the OS (see `hold_freed_memory`).
    atb_models::kernels::memory::release_freed_memory();
    if let Some(evaluation) = &outcome.evaluation {
        on_event(TrainingEvent::Finished {
            stop: outcome.stop,
            epochs_run: outcome.epochs_run,
            train_seconds: outcome.train_seconds,
            evaluation: Box::new(evaluation.clone()),
        });
    }
    Ok(outcome)
}

/// Volatility: sets the retransformation correction from the model's log-RV errors `e` on the
/// validation split, by Duan's (1983) smearing estimate on the variance scale:
/// `c = ½ ln mean(exp(2e))`, so that `exp(log forecast + c)²` estimates the expected realised
/// variance (see `TargetScaler::lognormal_correction`); the other targets have none.
/// Validation, not training: a network fits its training windows closer than it forecasts.
pub fn calibrate(model: &TrainedModel, data: &mut PreparedData, device: &Device) -> Result<()> {
    if data.target.kind != Target::Volatility {
        return Ok(());
    }
    let samples = &data.samples.validation;
    let errors: Vec<f64> = model
        .predict_scaled(data, samples, device)?
        .iter()
        .zip(samples)
        .map(|(p, &t)| data.labels[t] - data.target.unscale(f64::from(*p)))
        .filter(|e| e.is_finite())
        .collect();
    data.target.lognormal_correction = smearing_correction(&errors);
    Ok(())
}

/// The model and the baselines on the validation and test splits (the volatility and direction
/// targets: on the test split, beside their own baselines).
pub fn evaluate(model: &TrainedModel, data: &PreparedData, device: &Device) -> Result<Evaluation> {
    if let Some(target) = target_evaluation(model, data, device)? {
        return Ok(Evaluation {
            test: None,
            validation: None,
            target: Some(target),
            walk_forward: None,
            method: EVALUATION_METHOD,
            ridge: None,
            backtest: None,
        });
    }
    let ridge = RidgeBaseline::fit(data)?;
    let predict = |samples: &[usize]| -> Result<Vec<f64>> {
        Ok(model
            .predict_scaled(data, samples, device)?
            .iter()
            .map(|p| data.target.unscale(f64::from(*p)))
            .collect())
    };
    let test_returns = predict(&data.samples.test)?;
    let validation_returns = predict(&data.samples.validation)?;
    Ok(Evaluation {
        test: Some(evaluate_split(
            data,
            &data.samples.test,
            &test_returns,
            &ridge,
        )),
        validation: Some(evaluate_split(
            data,
            &data.samples.validation,
            &validation_returns,
            &ridge,
        )),
        target: None,
        walk_forward: None,
        method: EVALUATION_METHOD,
        ridge: Some(ridge.choice.clone()),
        backtest: backtest_split(
            data,
            &data.samples.test,
            &test_returns,
            &BacktestSpec::default(),
        ),
    })
}

/// A volatility or direction model's test forecasts (realised volatility; probability of an up
/// move) scored beside the target's baselines, fitted on the training split; `None` for the
/// return target, which `evaluate` scores in price and return space.
fn target_evaluation(
    model: &TrainedModel,
    data: &PreparedData,
    device: &Device,
) -> Result<Option<TargetEvaluation>> {
    if data.target.kind == Target::Return {
        return Ok(None);
    }
    let forecasts: Vec<f64> = model
        .predict_scaled(data, &data.samples.test, device)?
        .iter()
        .map(|p| data.target.forecast(f64::from(*p)))
        .collect();
    let closes = &data.matrix.closes;
    let returns = log_returns(closes);
    let windows = TargetWindows {
        closes,
        returns: &returns,
        train: &data.samples.train,
        validation: &data.samples.validation,
        test: &data.samples.test,
        horizon: data.target.horizon,
    };
    Ok(Some(if data.target.kind == Target::Volatility {
        let spans = HarSpans::for_interval_ms(bar_interval_ms(&data.matrix.open_times));
        let ridge = ridge_volatility(data)?;
        TargetEvaluation::Volatility(Box::new(evaluate_volatility(
            &windows,
            spans,
            &forecasts,
            Some(&ridge),
        )))
    } else {
        let logistic = LogisticBaseline::fit(data)?;
        let probabilities: Vec<f64> = data
            .samples
            .test
            .iter()
            .map(|&t| logistic.probability(data, t))
            .collect();
        TargetEvaluation::Direction(Box::new(evaluate_direction(
            &windows,
            &forecasts,
            Some(&probabilities),
        )))
    }))
}
