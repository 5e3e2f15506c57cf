//! A `gbdt` run: LightGBM boosted round by round on the prepared data's tabular rows, each round
//! reported as an "epoch" (its validation loss is the curve), stopped early on the validation
//! split, then evaluated exactly like a network.

use super::*;
use crate::gbdt::{RoundLoss, boost};

/// What a `gbdt` run reports as its device: LightGBM runs on the CPU whatever was asked.
fn tree_device(choice: atb_protocol::vocab::DeviceChoice) -> (String, String) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let reason = match choice {
        atb_protocol::vocab::DeviceChoice::Cpu => "asked for the CPU".to_string(),
        other => format!(
            "{other} asked, but LightGBM trains on the CPU; the device choice applies to networks"
        ),
    };
    (format!("cpu: LightGBM, {threads} threads"), reason)
}

/// Boosts trees on already prepared data (the main run, or one walk-forward fold).
pub fn train_trees(
    mut data: PreparedData,
    dataset: DatasetSummary,
    params: &TrainSpec,
    on_event: &mut dyn FnMut(TrainingEvent),
    cancel: &CancelToken,
) -> Result<TrainOutcome> {
    let budget = params.tree_budget();
    let (device, device_reason) = tree_device(params.device);
    let budget_json = serde_json::to_value(budget)
        .map_err(|e| Error::InvalidData(format!("tree budget is not serialisable: {e}")))?;
    on_event(TrainingEvent::RunStarted {
        model_config: budget_json,
        device: device.clone(),
        device_reason,
        parameters: 0,
        dataset: dataset.clone(),
        epochs: budget.rounds as usize,
        batches_per_epoch: 1,
    });
    let started = Instant::now();
    let mut history = Vec::new();
    let mut best: Option<(usize, f64)> = None;
    let mut last = Instant::now();
    let mut on_round = |r: RoundLoss| {
        let seconds = last.elapsed().as_secs_f64();
        last = Instant::now();
        if best.is_none_or(|(_, b)| r.validation_loss < b) {
            best = Some((r.round, r.validation_loss));
        }
        let (best_epoch, best_val_loss) = best.unwrap_or((r.round, r.validation_loss));
        history.push(EpochRecord {
            epoch: r.round,
            train_loss: r.train_loss,
            val_loss: r.validation_loss,
            learning_rate: budget.learning_rate,
            seconds,
            train_seconds: seconds,
        });
        let elapsed = started.elapsed().as_secs_f64();
        on_event(TrainingEvent::EpochEnd {
            epoch: r.round,
            epochs: budget.rounds as usize,
            train_loss: r.train_loss,
            val_loss: r.validation_loss,
            learning_rate: budget.learning_rate,
            elapsed_s: elapsed,
            eta_s: elapsed / r.round as f64 * (budget.rounds as usize - r.round) as f64,
            best_epoch,
            best_val_loss,
        });
    };
    let boosted = boost(&data, &budget, params.seed, &mut on_round, cancel);
    let train_seconds = started.elapsed().as_secs_f64();
    let epochs_run = history.len();
    let best_epoch = best.map(|(e, _)| e);
    let boosted = match boosted {
        Ok(b) => b,
        // Cancelled before the first tree: a cancelled run with nothing to keep.
        Err(Error::Gbdt(_)) if cancel.is_cancelled() => {
            on_event(TrainingEvent::Cancelled {
                epoch: epochs_run + 1,
                best_epoch,
            });
            return Err(Error::Cancelled);
        }
        Err(e) => return Err(e),
    };
    // Every round the booster ran was heard; its own count is the one recorded.
    let epochs_run = boosted.rounds.len();
    let stop = if boosted.cancelled {
        on_event(TrainingEvent::Cancelled {
            epoch: epochs_run + 1,
            best_epoch,
        });
        StopReason::Cancelled
    } else if boosted.stopped_early {
        on_event(TrainingEvent::EarlyStopped {
            epoch: epochs_run,
            best_epoch: best_epoch.unwrap_or(epochs_run),
        });
        StopReason::EarlyStopped
    } else {
        StopReason::Completed
    };
    let model = TrainedModel::Trees(boosted.model);
    let evaluation = if stop == StopReason::Cancelled {
        None
    } else {
        calibrate(&model, &mut data, &Device::flex())?;
        Some(evaluate(&model, &data, &Device::flex())?)
    };
    Ok(TrainOutcome {
        parameters: model.parameters(),
        model,
        params: params.clone(),
        dataset,
        history,
        stop,
        epochs_run,
        best_epoch,
        evaluation,
        device,
        train_seconds,
        data,
    })
}
