//! The loop of one run: Adam on the target's loss (MSE; binary cross-entropy on logits for
//! direction) over seeded shuffles, the learning rate halved on plateaus,
//! early stopping with the best weights restored, optional clipping of the global gradient norm,
//! cancellation within a batch, and a stop that keeps the best weights when a loss turns
//! non-finite.

use super::*;
use atb_models::burn::optim::ModuleOptimizer;
use atb_models::device::SelectedDevice;
use atb_protocol::vocab::Target;

/// Every parameter's gradient scaled so that their global L2 norm is at most `max_norm`.
pub(super) fn clip_global_norm<M: Module>(model: &M, grads: &mut GradientsParams, max_norm: f64) {
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
    let mut sum = SumSquares { grads, total: 0.0 };
    model.visit(&mut sum);
    let norm = sum.total.sqrt();
    if norm > max_norm && norm.is_finite() {
        model.visit(&mut Scale {
            grads,
            factor: max_norm / norm,
        });
    }
}

pub(super) fn batch_tensors(
    data: &PreparedData,
    ts: &[usize],
    device: &Device,
) -> (Tensor<3>, Tensor<2>) {
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
    batch: usize,
) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(ts.len());
    for chunk in ts.chunks(batch.max(1)) {
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

/// The training loss of the spec's target on a batch of raw outputs and scaled labels: squared
/// error for the return and the log volatility, binary cross-entropy on logits for direction
/// (written in the stable form `max(x, 0) - x y + ln(1 + e^-|x|)`).
pub(super) fn batch_loss(kind: Target, output: Tensor<2>, labels: Tensor<2>) -> Tensor<1> {
    match kind {
        Target::Return | Target::Volatility => {
            MseLoss::new().forward(output, labels, Reduction::Mean)
        }
        Target::Direction => (output.clone().clamp_min(0.0) - output.clone() * labels
            + output.abs().neg().exp().log1p())
        .mean(),
    }
}

/// The same loss as [`batch_loss`] for one output and its scaled label, in f64.
pub(super) fn sample_loss(kind: Target, output: f64, label: f64) -> f64 {
    match kind {
        Target::Return | Target::Volatility => (output - label).powi(2),
        Target::Direction => output.max(0.0) - output * label + (-output.abs()).exp().ln_1p(),
    }
}

pub(super) fn mean_loss(
    model: &ForecastModel,
    data: &PreparedData,
    ts: &[usize],
    device: &Device,
    batch: usize,
) -> Result<f64> {
    let pred = predict_scaled(model, data, ts, device, batch)?;
    let sse: f64 = pred
        .iter()
        .zip(ts)
        .map(|(p, &t)| {
            sample_loss(
                data.target.kind,
                f64::from(*p),
                data.target.scale(data.labels[t]),
            )
        })
        .sum();
    Ok(sse / ts.len() as f64)
}

/// What the loop does after an epoch's validation loss is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AfterEpoch {
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
pub(super) struct BestSoFar<M> {
    best: Option<(usize, f64, M)>,
    since_best: usize,
    since_lr_cut: usize,
}

impl<M> BestSoFar<M> {
    pub(super) fn new() -> Self {
        Self {
            best: None,
            since_best: 0,
            since_lr_cut: 0,
        }
    }

    pub(super) fn epoch(
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
    pub(super) fn best(&self) -> Option<(usize, f64)> {
        self.best.as_ref().map(|(e, l, _)| (*e, *l))
    }

    /// The weights to keep: the best epoch's; the current ones when no epoch finished (a
    /// cancelled run); an error when the run diverged before any epoch finished.
    pub(super) fn into_kept(
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

/// The device a run trains on (`auto` measured), seeded, and the model built on it.
fn build_on_device(
    params: &TrainSpec,
    width: usize,
) -> Result<(SelectedDevice, ForecastModel, ModelConfig)> {
    // `auto` measures this very model on the GPU and the CPU (once per machine) and takes the
    // faster; the device line says which and why, with both timings.
    let selected = crate::device_probe::training_device(
        params.device,
        &ProbeSpec {
            architecture: params.architecture,
            variant: params.variant,
            overrides: params.overrides.clone(),
            input: [params.sequence_length, width],
            batch: params.batch_size,
        },
    )?;
    let train_device = selected.device.clone().autodiff();
    selected.device.seed(params.seed);
    train_device.seed(params.seed);
    // The fused CPU kernels draw dropout masks from their own generator, seeded here too.
    atb_models::kernels::random::seed(params.seed);
    let (model, config) = build_model(
        params.architecture,
        params.variant,
        [params.sequence_length, width],
        &params.overrides,
        &train_device,
    )?;
    Ok((selected, model, config))
}

/// The volatility correction set on validation, then the evaluation of every split (`train`
/// announces `Finished` once any walk-forward folds are done too).
fn calibrated_evaluation(
    model: &TrainedModel,
    data: &mut PreparedData,
    device: &Device,
) -> Result<Evaluation> {
    calibrate(model, data, device)?;
    evaluate(model, data, device)
}

/// What one epoch's training batches need besides the model and the optimiser.
struct Epoch<'a> {
    data: &'a PreparedData,
    params: &'a TrainSpec,
    /// The autodiff device the batches train on.
    device: &'a Device,
    epoch: usize,
    batches: usize,
    learning_rate: f64,
}

/// How an epoch's training batches ended.
enum BatchPass {
    /// Every batch ran: the sum of batch losses weighted by samples, and the samples seen.
    Done {
        loss_sum: f64,
        seen: usize,
    },
    Cancelled,
    /// The training loss turned non-finite: why, in words.
    Diverged(String),
}

/// One epoch's training batches over `order`, streaming batch events; returns the updated
/// model and how the pass ended.
fn train_batches(
    mut model: ForecastModel,
    optimizer: &mut ModuleOptimizer,
    run: &Epoch<'_>,
    order: &[usize],
    on_event: &mut dyn FnMut(TrainingEvent),
    cancel: &CancelToken,
) -> (ForecastModel, BatchPass) {
    let (params, epoch, batches) = (run.params, run.epoch, run.batches);
    let (mut loss_sum, mut seen) = (0.0f64, 0usize);
    let mut window_started = Instant::now();
    let mut window_samples = 0usize;
    for (b, chunk) in order.chunks(params.batch_size).enumerate() {
        if cancel.is_cancelled() {
            return (model, BatchPass::Cancelled);
        }
        let (x, y) = batch_tensors(run.data, chunk, run.device);
        let loss = batch_loss(run.data.target.kind, model.forward(x), y);
        let value = f64::from(loss.clone().into_scalar::<f32>());
        if !value.is_finite() {
            // Diverged: stop, keeping the best weights of the epochs before (if any).
            let why = format!(
                "the training loss became {value} at epoch {epoch}, batch {}",
                b + 1
            );
            return (model, BatchPass::Diverged(why));
        }
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        if let Some(max_norm) = params.grad_clip_norm {
            clip_global_norm(&model, &mut grads, max_norm);
        }
        model = optimizer.step(run.learning_rate, model, grads);
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
    (model, BatchPass::Done { loss_sum, seen })
}

/// Trains on already prepared data (the main run, or one walk-forward fold).
pub fn train_prepared(
    mut data: PreparedData,
    dataset: DatasetSummary,
    params: &TrainSpec,
    on_event: &mut dyn FnMut(TrainingEvent),
    cancel: &CancelToken,
) -> Result<TrainOutcome> {
    let (selected, mut model, config) = build_on_device(params, data.width())?;
    let eval_device = selected.device.clone();
    let train_device = eval_device.clone().autodiff();
    let parameters = model.num_params();
    // Validation batches sized so long attention windows stay within the memory available.
    let inference_batch = super::resources::inference_batch(&config);
    // Clipping is done here, by the global norm (Burn's clips each tensor on its own).
    let mut optimizer = atb_models::optim::adam();
    let batches = data.samples.train.len().div_ceil(params.batch_size);
    on_event(TrainingEvent::RunStarted {
        model_config: serde_json::to_value(&config).map_err(|e| {
            Error::InvalidData(format!("model configuration is not serialisable: {e}"))
        })?,
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
        let run = Epoch {
            data: &data,
            params,
            device: &train_device,
            epoch,
            batches,
            learning_rate: lr,
        };
        let (updated, pass) = train_batches(model, &mut optimizer, &run, &order, on_event, cancel);
        model = updated;
        let (loss_sum, seen) = match pass {
            BatchPass::Done { loss_sum, seen } => (loss_sum, seen),
            BatchPass::Cancelled => {
                stop = StopReason::Cancelled;
                break 'epochs;
            }
            BatchPass::Diverged(why) => {
                diverged = Some(why);
                stop = StopReason::Diverged;
                break 'epochs;
            }
        };
        let batches_seconds = epoch_started.elapsed().as_secs_f64();
        let evaluation_model = model.valid();
        let val_loss = mean_loss(
            &evaluation_model,
            &data,
            &val_samples,
            &eval_device,
            inference_batch,
        )?;
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
    let model = TrainedModel::Network { model, config };
    let evaluation = if stop == StopReason::Cancelled {
        on_event(TrainingEvent::Cancelled {
            epoch: epochs_run + 1,
            best_epoch,
        });
        None
    } else {
        Some(calibrated_evaluation(&model, &mut data, &eval_device)?)
    };
    Ok(TrainOutcome {
        model,
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
        let e = none.into_kept(
            Some("the training loss became NaN at epoch 1, batch 3"),
            0.5,
            || 0,
        );
        let e = e.unwrap_err().to_string();
        assert!(
            e.contains("diverged") && e.contains("learning rate (it was 0.5)"),
            "{e}"
        );
        let none: BestSoFar<u8> = BestSoFar::new();
        assert_eq!(
            none.into_kept(None, 0.5, || 7).unwrap(),
            7,
            "cancelled: current weights"
        );
    }

    #[test]
    fn the_direction_loss_is_binary_cross_entropy_on_logits_in_both_forms() {
        // By hand: -ln σ(-2) = ln(1 + e²), -ln(1 - σ(0.5)) = 0.5 + ln(1 + e^-0.5), and a
        // confident right logit of 30 costs about e^-30; the unstable form would overflow at
        // -100 (label 1: ln(1 + e^100) = 100 to double precision).
        let (outputs, labels) = ([-2.0f32, 0.5, 30.0, -100.0], [1.0f32, 0.0, 1.0, 1.0]);
        let by_hand = [
            (1.0 + 2f64.exp()).ln(),
            0.5 + (1.0 + (-0.5f64).exp()).ln(),
            (-30f64).exp(),
            100.0,
        ];
        for ((o, y), want) in outputs.iter().zip(&labels).zip(by_hand) {
            let got = sample_loss(Target::Direction, f64::from(*o), f64::from(*y));
            assert!(
                (got - want).abs() < 1e-12 * want.max(1.0),
                "{o} {y}: {got} vs {want}"
            );
        }
        let device = Device::flex();
        let mean = batch_loss(
            Target::Direction,
            Tensor::from_data(TensorData::new(outputs.to_vec(), [4, 1]), &device),
            Tensor::from_data(TensorData::new(labels.to_vec(), [4, 1]), &device),
        )
        .into_scalar::<f32>();
        let want = by_hand.iter().sum::<f64>() / 4.0;
        assert!(
            (f64::from(mean) - want).abs() < 1e-5 * want,
            "{mean} vs {want}"
        );
        // The other targets keep the squared error.
        assert_eq!(sample_loss(Target::Volatility, 1.5, -0.5), 4.0);
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
                total += f64::from(
                    g.get::<2>(id)
                        .unwrap()
                        .powi_scalar(2)
                        .sum()
                        .into_scalar::<f32>(),
                );
            }
            for id in [m.a.bias.as_ref().unwrap().id, m.b.bias.as_ref().unwrap().id] {
                total += f64::from(
                    g.get::<1>(id)
                        .unwrap()
                        .powi_scalar(2)
                        .sum()
                        .into_scalar::<f32>(),
                );
            }
            total.sqrt()
        };
        let before = norm_of(&clipped);
        let ratio_before = {
            let a = clipped
                .get::<2>(m.a.weight.id)
                .unwrap()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let b = clipped
                .get::<2>(m.b.weight.id)
                .unwrap()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            a[0] / b[0]
        };
        assert!(before > 1.0);
        clip_global_norm(&m, &mut clipped, 1.0);
        assert!(
            (norm_of(&clipped) - 1.0).abs() < 1e-4,
            "global norm is 1 after clipping"
        );
        let a = clipped
            .get::<2>(m.a.weight.id)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let b = clipped
            .get::<2>(m.b.weight.id)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(
            ((a[0] / b[0]) / ratio_before - 1.0).abs() < 1e-4,
            "direction unchanged"
        );
    }
}
