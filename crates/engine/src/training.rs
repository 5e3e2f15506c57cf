//! The training loop: Adam on MSE, early stopping on validation loss with the best weights
//! restored, learning rate halved on plateaus, optional gradient-norm clipping, seeded shuffles,
//! cancellation within a batch, and a typed event stream that the CLI and the desktop app both
//! consume. No terminal or GUI code here.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use atb_models::burn::grad_clipping::GradientClippingConfig;
use atb_models::burn::module::Module;
use atb_models::burn::nn::loss::{MseLoss, Reduction};
use atb_models::burn::optim::{AdamConfig, GradientsParams};
use atb_models::burn::prelude::*;
use atb_models::device::{DeviceChoice, select_device};
use atb_models::{ForecastModel, ModelConfig, ModelOverrides, ModelType, Variant, build_model};
use atb_protocol::training::{
    DatasetSummary, EpochRecord, Evaluation, SplitInfo, Spread, StopReason, TrainingEvent,
    WalkForward,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dataset::{ChronologicalSplit, PreparedData, SplitFractions};
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
    /// Clip the global gradient norm to this value.
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

/// Features, split and scalers for `series` as `params` ask, with the summary users see.
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
    let matrix = compute_features(&series.candles, params.feature_set)?;
    let data = PreparedData::new(
        matrix,
        params.sequence_length,
        params.horizon,
        params.fractions,
    )
    .map_err(|e| match e {
        Error::TooLittleData(m) => Error::TooLittleData(format!(
            "{m} ({} candles loaded, {} used to warm up the {} features)",
            series.candles.len(),
            params.feature_set.warmup_rows(),
            params.feature_set
        )),
        other => other,
    })?;
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
    };
    Ok((data, summary))
}

fn split_infos(data: &PreparedData) -> (SplitInfo, SplitInfo, SplitInfo) {
    let info = |r: &std::ops::Range<usize>| SplitInfo {
        samples: r.len(),
        first_target_open_ms: data.target_open_time(r.start),
        last_target_open_ms: data.target_open_time(r.end - 1),
    };
    (
        info(&data.split.train),
        info(&data.split.validation),
        info(&data.split.test),
    )
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
    if let (Some(folds), Some(evaluation)) =
        (params.walk_forward_folds, outcome.evaluation.as_mut())
    {
        match walk_forward(&outcome.data, &outcome.dataset, params, folds, cancel) {
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

/// Walk-forward evaluation: a fresh model per expanding-window fold, scalers refit per fold.
fn walk_forward(
    data: &PreparedData,
    base: &DatasetSummary,
    params: &TrainingParams,
    folds: usize,
    cancel: &CancelToken,
) -> Result<WalkForward> {
    let splits = ChronologicalSplit::walk_forward(
        data.matrix.rows,
        params.sequence_length,
        params.horizon,
        folds,
    )?;
    let mut per_fold: Vec<[f64; 5]> = Vec::with_capacity(folds);
    for split in splits {
        let fold_data = PreparedData::with_split(
            data.matrix.clone(),
            params.sequence_length,
            params.horizon,
            split,
        );
        let (train, validation, test) = split_infos(&fold_data);
        let summary = DatasetSummary {
            train,
            validation,
            test,
            ..base.clone()
        };
        let fold_params = TrainingParams {
            walk_forward_folds: None,
            ..params.clone()
        };
        let outcome = train_prepared(fold_data, summary, &fold_params, &mut |_| {}, cancel)?;
        let Some(ev) = outcome.evaluation else {
            return Err(Error::Cancelled);
        };
        let t = &ev.test;
        per_fold.push([
            t.model.mae_usd,
            t.model.rmse_usd,
            t.persistence.mae_usd,
            t.model.skill_vs_persistence,
            t.model.directional_accuracy.unwrap_or(f64::NAN),
        ]);
    }
    let spread = |i: usize| {
        let xs: Vec<f64> = per_fold.iter().map(|f| f[i]).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let std = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64).sqrt();
        Spread { mean, std }
    };
    Ok(WalkForward {
        folds,
        model_mae_usd: spread(0),
        model_rmse_usd: spread(1),
        persistence_mae_usd: spread(2),
        skill_vs_persistence: spread(3),
        directional_accuracy: spread(4),
    })
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
    let mut optimizer = AdamConfig::new()
        .with_grad_clipping(
            params
                .grad_clip_norm
                .map(|c| GradientClippingConfig::Norm(c as f32)),
        )
        .init();
    let batches = data.split.train.len().div_ceil(params.batch_size);
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
    let mut order: Vec<usize> = data.split.train.clone().collect();
    let val_samples: Vec<usize> = data.split.validation.clone().collect();
    let mut lr = params.learning_rate;
    let mut history = Vec::new();
    let mut best: Option<(usize, f64, ForecastModel)> = None;
    let (mut since_best, mut since_lr_cut) = (0usize, 0usize);
    let mut stop = StopReason::Completed;
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
                return Err(Error::InvalidData(format!(
                    "training diverged (loss {value}) at epoch {epoch}, batch {}: lower the learning rate or clip gradients",
                    b + 1
                )));
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model);
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
        let improved = best.as_ref().is_none_or(|(_, b, _)| val_loss < *b);
        if improved {
            best = Some((epoch, val_loss, evaluation_model));
            since_best = 0;
            since_lr_cut = 0;
        } else {
            since_best += 1;
            since_lr_cut += 1;
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
        let (best_epoch, best_val) = best
            .as_ref()
            .map(|(e, l, _)| (*e, *l))
            .unwrap_or((epoch, val_loss));
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
        if since_best >= params.patience {
            stop = StopReason::EarlyStopped;
            on_event(TrainingEvent::EarlyStopped { epoch, best_epoch });
            break;
        }
        if since_lr_cut >= params.lr_patience {
            lr = (lr * 0.5).max(params.min_learning_rate);
            since_lr_cut = 0;
        }
    }
    let epochs_run = history.len();
    let best_epoch = best.as_ref().map(|(e, _, _)| *e);
    let model = match best {
        Some((_, _, m)) => m,
        None => model.valid(),
    };
    let train_seconds = started.elapsed().as_secs_f64();
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
    let split_eval = |range: std::ops::Range<usize>| -> Result<_> {
        let ts: Vec<usize> = range.clone().collect();
        let returns: Vec<f64> = predict_scaled(model, data, &ts, device)?
            .iter()
            .map(|p| data.target.unscale(f64::from(*p)))
            .collect();
        Ok(evaluate_split(data, range, &returns, &ridge))
    };
    Ok(Evaluation {
        test: split_eval(data.split.test.clone())?,
        validation: split_eval(data.split.validation.clone())?,
        walk_forward: None,
    })
}
