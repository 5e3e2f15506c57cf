//! The training loop: Adam on MSE, early stopping on validation loss with the best weights
//! restored, learning rate halved on plateaus, optional clipping of the global gradient norm,
//! seeded shuffles, cancellation within a batch, a stop that keeps the best weights when a loss
//! turns non-finite, and a typed event stream that the CLI and the desktop app both consume.
//! Walk-forward folds are planned and checked before any training. No terminal or GUI code here.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use atb_models::burn::module::{Module, ModuleVisitor, Param};
use atb_models::burn::nn::loss::{MseLoss, Reduction};
use atb_models::burn::optim::{AdamConfig, GradientsParams};
use atb_models::burn::prelude::*;
use atb_models::device::{DeviceChoice, select_device};
use atb_models::{ForecastModel, ModelConfig, ModelOverrides, ModelType, Variant, build_model};
use atb_protocol::training::{
    DatasetSummary, EVALUATION_METHOD, EpochRecord, Evaluation, SplitEvaluation, SplitInfo, Spread,
    StopReason, TrainingEvent, WalkForward,
};
use atb_protocol::verdict::{VerdictKind, vs_persistence};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dataset::{ChronologicalSplit, PreparedData, SplitFractions, gap_free_samples};
use crate::error::{Error, Result};
use crate::evaluation::{RidgeBaseline, evaluate_split};
use crate::features::{FeatureSet, compute_features};
use crate::market::source::CandleSeries;

/// Everything a training run is asked to do (besides which candles).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingParams {
    pub model_type: ModelType,
    pub variant: Variant,
    pub overrides: ModelOverrides,
    pub epochs: usize,
    pub batch_size: usize,
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
    pub horizon: usize,
    pub feature_set: FeatureSet,
    pub seed: u64,
    pub device: DeviceChoice,
    pub fractions: SplitFractions,
    /// Emit a `Batch` event every this many batches (and at each epoch's last).
    pub batch_event_every: usize,
    /// Also evaluate by walk-forward over this many expanding-window folds (scalers refit and a
    /// model trained per fold).
    pub walk_forward_folds: Option<usize>,
}

impl Default for TrainingParams {
    fn default() -> Self {
        Self {
            model_type: ModelType::CnnLstm,
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
            batch_event_every: 10,
            walk_forward_folds: None,
        }
    }
}

impl TrainingParams {
    /// Refuses nonsense before any work starts, naming the value and the valid range.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidRequest(m));
        if !(1..=100_000).contains(&self.epochs) {
            return bad(format!(
                "epochs {} must be between 1 and 100000",
                self.epochs
            ));
        }
        if !(1..=65_536).contains(&self.batch_size) {
            return bad(format!(
                "batch size {} must be between 1 and 65536",
                self.batch_size
            ));
        }
        if !(2..=10_000).contains(&self.sequence_length) {
            return bad(format!(
                "sequence length {} must be between 2 and 10000",
                self.sequence_length
            ));
        }
        if !(self.learning_rate.is_finite()
            && self.learning_rate > 0.0
            && self.learning_rate <= 1.0)
        {
            return bad(format!(
                "learning rate {} must be in (0, 1]",
                self.learning_rate
            ));
        }
        if !(self.min_learning_rate >= 0.0 && self.min_learning_rate <= self.learning_rate) {
            return bad(format!(
                "minimum learning rate {} must be in [0, learning rate]",
                self.min_learning_rate
            ));
        }
        if self.patience == 0 || self.lr_patience == 0 {
            return bad("patience must be at least 1".into());
        }
        if !(1..=1_000).contains(&self.horizon) {
            return bad(format!(
                "horizon {} must be between 1 and 1000 bars",
                self.horizon
            ));
        }
        if let Some(c) = self.grad_clip_norm {
            if !(c.is_finite() && c > 0.0) {
                return bad(format!("gradient clip norm {c} must be positive"));
            }
        }
        if let Some(k) = self.walk_forward_folds {
            if !(2..=20).contains(&k) {
                return bad(format!("walk-forward folds {k} must be between 2 and 20"));
            }
        }
        if self.batch_event_every == 0 {
            return bad("batch_event_every must be at least 1".into());
        }
        Ok(())
    }
}

/// Stops a run from another thread; the trainer checks it before every batch.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A finished (or cancelled) run: the best weights, everything needed to reproduce its inputs,
/// and how it went.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The best weights (lowest validation loss), on the evaluation device, without autodiff.
    pub model: ForecastModel,
    pub model_config: ModelConfig,
    pub params: TrainingParams,
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

/// SHA-256 of candle rows: open time and OHLCV as little-endian bytes, in order.
pub fn candles_sha256(series: &CandleSeries) -> String {
    let mut h = Sha256::new();
    for c in &series.candles {
        h.update(c.open_time.to_le_bytes());
        for v in [c.open, c.high, c.low, c.close, c.volume] {
            h.update(v.to_le_bytes());
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Features, split and scalers for `series` as `params` ask, with the summary users see. When
/// walk-forward folds are asked for, they are planned and checked here, before any training.
pub fn prepare(
    series: &CandleSeries,
    params: &TrainingParams,
) -> Result<(PreparedData, DatasetSummary)> {
    params.validate()?;
    let (Some(first), Some(last)) = (series.candles.first(), series.candles.last()) else {
        return Err(Error::TooLittleData(format!(
            "no {} {} candles from {}",
            series.symbol, series.interval, series.source
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
    let matrix = compute_features(&series.candles, params.feature_set)?;
    let mut data = PreparedData::new(
        matrix,
        params.sequence_length,
        params.horizon,
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
        source: series.source.to_string(),
        symbol: series.symbol.to_string(),
        timeframe: series.interval.to_string(),
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
        data_sha256: candles_sha256(series),
        gap_windows_dropped: data.gap_windows_dropped,
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

/// Every parameter's gradient scaled so that their global L2 norm is at most `max_norm`.
fn clip_global_norm<M: Module>(model: &M, grads: &mut GradientsParams, max_norm: f64) {
    struct SumSquares<'a> {
        grads: &'a GradientsParams,
        total: f64,
    }
    impl ModuleVisitor for SumSquares<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(param.id) {
                self.total += f64::from(g.powi_scalar(2).sum().into_scalar::<f32>());
            }
        }
    }
    struct Scale<'a> {
        grads: &'a mut GradientsParams,
        factor: f64,
    }
    impl ModuleVisitor for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.remove::<D>(param.id) {
                self.grads.register(param.id, g.mul_scalar(self.factor));
            }
        }
    }
    let mut sum = SumSquares {
        grads,
        total: 0.0,
    };
    model.visit(&mut sum);
    let norm = sum.total.sqrt();
    if norm > max_norm && norm.is_finite() {
        model.visit(&mut Scale {
            grads,
            factor: max_norm / norm,
        });
    }
}

fn batch_tensors(data: &PreparedData, ts: &[usize], device: &Device) -> (Tensor<3>, Tensor<2>) {
    let (x, y) = data.batch(ts);
    let shape = [ts.len(), data.sequence_length, data.width()];
    (
        Tensor::from_data(TensorData::new(x, shape), device),
        Tensor::from_data(TensorData::new(y, [ts.len(), 1]), device),
    )
}

/// Scaled predictions of an evaluation-mode model for samples `ts`.
pub fn predict_scaled(
    model: &ForecastModel,
    data: &PreparedData,
    ts: &[usize],
    device: &Device,
) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(ts.len());
    for chunk in ts.chunks(256) {
        let (x, _) = batch_tensors(data, chunk, device);
        let values = model
            .forward(x)
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| Error::InvalidData(format!("reading predictions: {e:?}")))?;
        out.extend(values);
    }
    Ok(out)
}

fn mean_loss(
    model: &ForecastModel,
    data: &PreparedData,
    ts: &[usize],
    device: &Device,
) -> Result<f64> {
    let pred = predict_scaled(model, data, ts, device)?;
    let sse: f64 = pred
        .iter()
        .zip(ts)
        .map(|(p, &t)| (f64::from(*p) - data.target.scale(data.returns[t])).powi(2))
        .sum();
    Ok(sse / ts.len() as f64)
}

/// Trains on `series` with `params`, streaming events to `on_event`, stopping early when
/// `cancel` fires. The returned model carries the best weights.
pub fn train(
    series: &CandleSeries,
    params: &TrainingParams,
    on_event: &mut dyn FnMut(TrainingEvent),
    cancel: &CancelToken,
) -> Result<TrainOutcome> {
    let (data, dataset) = prepare(series, params)?;
    let mut outcome = train_prepared(data, dataset, params, on_event, cancel)?;
    let folds = outcome.data.walk_forward.clone();
    if let (false, Some(evaluation)) = (folds.is_empty(), outcome.evaluation.as_mut()) {
        match walk_forward(&outcome.data, &outcome.dataset, params, &folds, on_event, cancel) {
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

/// Mean and sample standard deviation (0 for a single value).
fn spread(values: &[f64]) -> Spread {
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
fn walk_forward(
    data: &PreparedData,
    base: &DatasetSummary,
    params: &TrainingParams,
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
        let fold_params = TrainingParams {
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
        let outcome = train_prepared(fold_data, summary, &fold_params, &mut forward, cancel)?;
        let Some(ev) = outcome.evaluation else {
            return Err(Error::Cancelled);
        };
        per_fold.push(ev.test);
    }
    let pick = |f: fn(&SplitEvaluation) -> f64| -> Vec<f64> { per_fold.iter().map(f).collect() };
    let verdicts: Vec<VerdictKind> = per_fold.iter().map(|f| vs_persistence(f).kind).collect();
    Ok(WalkForward {
        folds: count,
        model_mae_usd: spread(&pick(|f| f.model.mae_usd)),
        model_rmse_usd: spread(&pick(|f| f.model.rmse_usd)),
        persistence_mae_usd: spread(&pick(|f| f.persistence.mae_usd)),
        skill_vs_persistence: spread(&pick(|f| f.model.skill_vs_persistence)),
        directional_accuracy: spread(&pick(|f| {
            f.model.directional_accuracy.unwrap_or(f64::NAN)
        })),
        drift_mae_usd: Some(spread(&pick(|f| f.drift.mae_usd))),
        ridge_mae_usd: Some(spread(&pick(|f| f.ridge.mae_usd))),
        mase: Some(spread(&pick(|f| f.model.mase))),
        better_than_persistence: Some(
            verdicts.iter().filter(|v| **v == VerdictKind::Better).count(),
        ),
        worse_than_persistence: Some(
            verdicts.iter().filter(|v| **v == VerdictKind::Worse).count(),
        ),
        per_fold,
    })
}

/// What the loop does after an epoch's validation loss is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterEpoch {
    Continue,
    /// No improvement for `lr_patience` epochs: halve the learning rate.
    CutLearningRate,
    /// No improvement for `patience` epochs.
    EarlyStop,
    /// The validation loss is not finite.
    Diverged,
}

/// Best-epoch bookkeeping of a run: the best weights so far (a non-finite loss never counts),
/// the patience counters, and the weights to keep at the end.
struct BestSoFar<M> {
    best: Option<(usize, f64, M)>,
    since_best: usize,
    since_lr_cut: usize,
}

impl<M> BestSoFar<M> {
    fn new() -> Self {
        Self {
            best: None,
            since_best: 0,
            since_lr_cut: 0,
        }
    }

    fn epoch(
        &mut self,
        epoch: usize,
        val_loss: f64,
        model: M,
        patience: usize,
        lr_patience: usize,
    ) -> AfterEpoch {
        if !val_loss.is_finite() {
            return AfterEpoch::Diverged;
        }
        if self.best.as_ref().is_none_or(|(_, b, _)| val_loss < *b) {
            self.best = Some((epoch, val_loss, model));
            self.since_best = 0;
            self.since_lr_cut = 0;
            return AfterEpoch::Continue;
        }
        self.since_best += 1;
        self.since_lr_cut += 1;
        if self.since_best >= patience {
            AfterEpoch::EarlyStop
        } else if self.since_lr_cut >= lr_patience {
            self.since_lr_cut = 0;
            AfterEpoch::CutLearningRate
        } else {
            AfterEpoch::Continue
        }
    }

    /// (epoch, validation loss) of the best epoch so far.
    fn best(&self) -> Option<(usize, f64)> {
        self.best.as_ref().map(|(e, l, _)| (*e, *l))
    }

    /// The weights to keep: the best epoch's; the current ones when no epoch finished (a
    /// cancelled run); an error when the run diverged before any epoch finished.
    fn into_kept(
        self,
        diverged: Option<&str>,
        learning_rate: f64,
        current: impl FnOnce() -> M,
    ) -> Result<M> {
        match (self.best, diverged) {
            (Some((_, _, m)), _) => Ok(m),
            (None, Some(why)) => Err(Error::Diverged(format!(
                "{why}, before any epoch finished: nothing to keep. Lower the learning rate \
                 (it was {learning_rate}) or clip the gradient norm"
            ))),
            (None, None) => Ok(current()),
        }
    }
}

/// Trains on already prepared data (the main run, or one walk-forward fold).
pub fn train_prepared(
    data: PreparedData,
    dataset: DatasetSummary,
    params: &TrainingParams,
    on_event: &mut dyn FnMut(TrainingEvent),
    cancel: &CancelToken,
) -> Result<TrainOutcome> {
    let selected = select_device(params.device)?;
    let eval_device = selected.device.clone();
    let train_device = eval_device.clone().autodiff();
    eval_device.seed(params.seed);
    train_device.seed(params.seed);
    // The fused CPU kernels draw dropout masks from their own generator, seeded here too.
    atb_models::kernels::random::seed(params.seed);
    let (mut model, model_config) = build_model(
        params.model_type,
        params.variant,
        [params.sequence_length, data.width()],
        &params.overrides,
        &train_device,
    )?;
    let parameters = model.num_params();
    // Clipping is done here, by the global norm (Burn's clips each tensor on its own).
    let mut optimizer = AdamConfig::new().init();
    let batches = data.samples.train.len().div_ceil(params.batch_size);
    let model_config_json = serde_json::to_value(&model_config)
        .map_err(|e| Error::InvalidData(format!("model configuration is not serialisable: {e}")))?;
    on_event(TrainingEvent::RunStarted {
        model_config: model_config_json,
        device: selected.name.clone(),
        device_reason: selected.reason.clone(),
        parameters,
        dataset: dataset.clone(),
        epochs: params.epochs,
        batches_per_epoch: batches,
    });

    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(params.seed);
    let mut order: Vec<usize> = data.samples.train.clone();
    let val_samples: Vec<usize> = data.samples.validation.clone();
    let mut lr = params.learning_rate;
    let mut history = Vec::new();
    let mut best = BestSoFar::new();
    let mut stop = StopReason::Completed;
    let mut diverged: Option<String> = None;
    'epochs: for epoch in 1..=params.epochs {
        let epoch_started = Instant::now();
        order.shuffle(&mut rng);
        let (mut loss_sum, mut seen) = (0.0f64, 0usize);
        let mut window_started = Instant::now();
        let mut window_samples = 0usize;
        for (b, chunk) in order.chunks(params.batch_size).enumerate() {
            if cancel.is_cancelled() {
                stop = StopReason::Cancelled;
                break 'epochs;
            }
            let (x, y) = batch_tensors(&data, chunk, &train_device);
            let loss = MseLoss::new().forward(model.forward(x), y, Reduction::Mean);
            let value = f64::from(loss.clone().into_scalar::<f32>());
            if !value.is_finite() {
                // Diverged: stop, keeping the best weights of the epochs before (if any).
                diverged = Some(format!(
                    "the training loss became {value} at epoch {epoch}, batch {}",
                    b + 1
                ));
                stop = StopReason::Diverged;
                break 'epochs;
            }
            let mut grads = GradientsParams::from_grads(loss.backward(), &model);
            if let Some(max_norm) = params.grad_clip_norm {
                clip_global_norm(&model, &mut grads, max_norm);
            }
            model = optimizer.step(lr, model, grads);
            loss_sum += value * chunk.len() as f64;
            seen += chunk.len();
            window_samples += chunk.len();
            if (b + 1) % params.batch_event_every == 0 || b + 1 == batches {
                let secs = window_started.elapsed().as_secs_f64().max(1e-9);
                on_event(TrainingEvent::Batch {
                    epoch,
                    batch: b + 1,
                    batches,
                    loss: value,
                    samples_per_second: window_samples as f64 / secs,
                });
                window_started = Instant::now();
                window_samples = 0;
            }
        }
        let batches_seconds = epoch_started.elapsed().as_secs_f64();
        let evaluation_model = model.valid();
        let val_loss = mean_loss(&evaluation_model, &data, &val_samples, &eval_device)?;
        let train_loss = loss_sum / seen.max(1) as f64;
        let next = best.epoch(
            epoch,
            val_loss,
            evaluation_model,
            params.patience,
            params.lr_patience,
        );
        if next == AfterEpoch::Diverged {
            // A non-finite validation loss is never "best": stop with the weights before it.
            diverged = Some(format!(
                "the validation loss became {val_loss} at epoch {epoch}"
            ));
            stop = StopReason::Diverged;
            break 'epochs;
        }
        history.push(EpochRecord {
            epoch,
            train_loss,
            val_loss,
            learning_rate: lr,
            seconds: epoch_started.elapsed().as_secs_f64(),
            train_seconds: batches_seconds,
        });
        let elapsed = started.elapsed().as_secs_f64();
        let (best_epoch, best_val) = best.best().unwrap_or((epoch, val_loss));
        on_event(TrainingEvent::EpochEnd {
            epoch,
            epochs: params.epochs,
            train_loss,
            val_loss,
            learning_rate: lr,
            elapsed_s: elapsed,
            eta_s: elapsed / epoch as f64 * (params.epochs - epoch) as f64,
            best_epoch,
            best_val_loss: best_val,
        });
        match next {
            AfterEpoch::EarlyStop => {
                stop = StopReason::EarlyStopped;
                on_event(TrainingEvent::EarlyStopped { epoch, best_epoch });
                break;
            }
            AfterEpoch::CutLearningRate => lr = (lr * 0.5).max(params.min_learning_rate),
            AfterEpoch::Continue | AfterEpoch::Diverged => {}
        }
    }
    let epochs_run = history.len();
    let best_epoch = best.best().map(|(e, _)| e);
    let model = best.into_kept(diverged.as_deref(), params.learning_rate, || model.valid())?;
    let train_seconds = started.elapsed().as_secs_f64();
    if let Some(why) = &diverged {
        on_event(TrainingEvent::Diverged {
            epoch: epochs_run + 1,
            best_epoch,
            reason: why.clone(),
        });
    }
    let evaluation = if stop == StopReason::Cancelled {
        on_event(TrainingEvent::Cancelled {
            epoch: epochs_run + 1,
            best_epoch,
        });
        None
    } else {
        // `train` announces `Finished` once any walk-forward folds are done too.
        Some(evaluate(&model, &data, &eval_device)?)
    };
    Ok(TrainOutcome {
        model,
        model_config,
        params: params.clone(),
        dataset,
        history,
        stop,
        epochs_run,
        best_epoch,
        evaluation,
        device: selected.name,
        parameters,
        train_seconds,
        data,
    })
}

/// The model and the baselines on the validation and test splits.
pub fn evaluate(model: &ForecastModel, data: &PreparedData, device: &Device) -> Result<Evaluation> {
    let ridge = RidgeBaseline::fit(data)?;
    let split_eval = |samples: &[usize]| -> Result<_> {
        let returns: Vec<f64> = predict_scaled(model, data, samples, device)?
            .iter()
            .map(|p| data.target.unscale(f64::from(*p)))
            .collect();
        Ok(evaluate_split(data, samples, &returns, &ridge))
    };
    Ok(Evaluation {
        test: split_eval(&data.samples.test)?,
        validation: split_eval(&data.samples.validation)?,
        walk_forward: None,
        method: EVALUATION_METHOD,
        ridge: Some(ridge.choice.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_finite_validation_loss_stops_and_keeps_the_best_weights_before_it() {
        let mut b = BestSoFar::new();
        assert_eq!(b.epoch(1, 1.0, "w1", 5, 2), AfterEpoch::Continue);
        assert_eq!(b.epoch(2, 0.8, "w2", 5, 2), AfterEpoch::Continue);
        assert_eq!(b.epoch(3, 0.9, "w3", 5, 2), AfterEpoch::Continue);
        assert_eq!(b.epoch(4, 0.95, "w4", 5, 2), AfterEpoch::CutLearningRate);
        assert_eq!(b.epoch(5, f64::NAN, "w5", 5, 2), AfterEpoch::Diverged);
        assert_eq!(b.best(), Some((2, 0.8)), "NaN never becomes the best epoch");
        assert_eq!(b.into_kept(Some("NaN"), 1e-3, || "now").unwrap(), "w2");
    }

    #[test]
    fn patience_stops_and_divergence_before_any_epoch_is_an_error() {
        let mut b = BestSoFar::new();
        b.epoch(1, 1.0, 1, 2, 9);
        assert_eq!(b.epoch(2, 1.5, 2, 2, 9), AfterEpoch::Continue);
        assert_eq!(b.epoch(3, 1.2, 3, 2, 9), AfterEpoch::EarlyStop);
        let none: BestSoFar<u8> = BestSoFar::new();
        let e = none.into_kept(Some("the training loss became NaN at epoch 1, batch 3"), 0.5, || 0);
        let e = e.unwrap_err().to_string();
        assert!(e.contains("diverged") && e.contains("learning rate (it was 0.5)"), "{e}");
        let none: BestSoFar<u8> = BestSoFar::new();
        assert_eq!(none.into_kept(None, 0.5, || 7).unwrap(), 7, "cancelled: current weights");
    }

    #[test]
    fn global_norm_clipping_scales_every_gradient_by_one_factor() {
        use atb_models::burn;
        use atb_models::burn::nn::{Linear, LinearConfig};
        let device = Device::flex().autodiff();
        #[derive(Module, Debug)]
        struct Two {
            a: Linear,
            b: Linear,
        }
        let m = Two {
            a: LinearConfig::new(3, 2).init(&device),
            b: LinearConfig::new(2, 1).init(&device),
        };
        let x = Tensor::<2>::ones([4, 3], &device);
        let loss = m.b.forward(m.a.forward(x)).sum().mul_scalar(1000.0);
        let grads = loss.backward();
        let mut clipped = GradientsParams::from_grads(grads, &m);
        let norm_of = |g: &GradientsParams| {
            let mut total = 0.0f64;
            for id in [m.a.weight.id, m.b.weight.id] {
                total += f64::from(g.get::<2>(id).unwrap().powi_scalar(2).sum().into_scalar::<f32>());
            }
            for id in [m.a.bias.as_ref().unwrap().id, m.b.bias.as_ref().unwrap().id] {
                total += f64::from(g.get::<1>(id).unwrap().powi_scalar(2).sum().into_scalar::<f32>());
            }
            total.sqrt()
        };
        let before = norm_of(&clipped);
        let ratio_before = {
            let a = clipped.get::<2>(m.a.weight.id).unwrap().into_data().try_to_vec::<f32>().unwrap();
            let b = clipped.get::<2>(m.b.weight.id).unwrap().into_data().try_to_vec::<f32>().unwrap();
            a[0] / b[0]
        };
        assert!(before > 1.0);
        clip_global_norm(&m, &mut clipped, 1.0);
        assert!((norm_of(&clipped) - 1.0).abs() < 1e-4, "global norm is 1 after clipping");
        let a = clipped.get::<2>(m.a.weight.id).unwrap().into_data().try_to_vec::<f32>().unwrap();
        let b = clipped.get::<2>(m.b.weight.id).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(((a[0] / b[0]) / ratio_before - 1.0).abs() < 1e-4, "direction unchanged");
    }
}
