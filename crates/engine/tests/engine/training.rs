//! Train-evaluate runs through the engine API on the bundled sample: event order, finite
//! metrics with all baselines, cancellation, repeatability, and every default architecture.

use crate::common::{params, sample_tail};

use std::time::{Duration, Instant};

use atb_engine::testing::training::{CancelToken, TrainSpec, train};
use atb_models::{Architecture, Variant};
use atb_protocol::training::{Metrics, StopReason, TrainingEvent};

fn finite(m: &Metrics) -> bool {
    [
        m.rmse_usd,
        m.mae_usd,
        m.mape_pct,
        m.return_rmse,
        m.return_mae,
        m.skill_vs_persistence,
        m.mase,
    ]
    .iter()
    .all(|v| v.is_finite())
}

#[test]
fn two_epochs_of_tcn_lightweight_emit_events_in_order_with_finite_metrics() {
    let series = sample_tail(2_000);
    let mut events = Vec::new();
    let outcome = train(
        &series,
        &params(Architecture::Tcn, Variant::Lightweight, 2)
            .check()
            .unwrap(),
        &mut |e| events.push(e),
        &CancelToken::new(),
    )
    .unwrap();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            TrainingEvent::RunStarted { .. } => "start",
            TrainingEvent::Batch { .. } => "batch",
            TrainingEvent::EpochEnd { .. } => "epoch",
            TrainingEvent::EarlyStopped { .. } => "early",
            TrainingEvent::Cancelled { .. } => "cancelled",
            TrainingEvent::Diverged { .. } => "diverged",
            TrainingEvent::Finished { .. } => "finished",
            TrainingEvent::Fold { .. } => "fold",
        })
        .collect();
    assert_eq!(kinds.first(), Some(&"start"));
    assert_eq!(kinds.last(), Some(&"finished"));
    assert_eq!(kinds.iter().filter(|k| **k == "epoch").count(), 2);
    let first_epoch = kinds.iter().position(|k| *k == "epoch").unwrap();
    assert!(
        kinds[1..first_epoch].iter().all(|k| *k == "batch") && first_epoch > 1,
        "{kinds:?}"
    );
    let TrainingEvent::EpochEnd { epoch, eta_s, .. } = &events[first_epoch] else {
        panic!("not an epoch end: {:?}", events[first_epoch]);
    };
    assert_eq!(*epoch, 1);
    assert!(*eta_s > 0.0);
    assert_eq!(outcome.stop, StopReason::Completed);
    assert_eq!(outcome.epochs_run, 2);
    assert_eq!(outcome.history.len(), 2);
    assert!(
        outcome
            .history
            .iter()
            .all(|h| h.train_loss.is_finite() && h.val_loss.is_finite())
    );
    let ev = outcome.evaluation.unwrap();
    for split in [ev.test.as_ref().unwrap(), ev.validation.as_ref().unwrap()] {
        for m in [&split.model, &split.persistence, &split.drift, &split.ridge] {
            assert!(finite(m), "{m:?}");
        }
        assert_eq!(split.persistence.skill_vs_persistence, 0.0);
        assert!(split.up_share > 0.0 && split.up_share < 1.0);
    }
    // The dataset summary names chronological, embargoed splits.
    let d = &outcome.dataset;
    assert!(d.train.last_target_open_ms < d.validation.first_target_open_ms);
    assert!(d.validation.last_target_open_ms < d.test.first_target_open_ms);
    assert_eq!(d.data_sha256.len(), 64);
}

#[test]
fn persistence_equals_the_hand_computation_on_the_sample() {
    let series = sample_tail(1_500);
    let outcome = train(
        &series,
        &params(Architecture::Tcn, Variant::Lightweight, 1)
            .check()
            .unwrap(),
        &mut |_| {},
        &CancelToken::new(),
    )
    .unwrap();
    let data = &outcome.data;
    let ev = outcome.evaluation.unwrap();
    // Persistence on the test split: |close_{t+1} - close_t| averaged, straight from the candles.
    let closes = &data.matrix.closes;
    let test = data.split.test.clone();
    assert_eq!(
        data.samples.test.len(),
        test.len(),
        "this tail of the sample has no gap"
    );
    let mae = test
        .clone()
        .map(|t| (closes[t + 1] - closes[t]).abs())
        .sum::<f64>()
        / test.len() as f64;
    let rmse = (test
        .clone()
        .map(|t| (closes[t + 1] - closes[t]).powi(2))
        .sum::<f64>()
        / test.len() as f64)
        .sqrt();
    assert!(
        (ev.test.as_ref().unwrap().persistence.mae_usd - mae).abs() < 1e-6 * mae,
        "{} vs {mae}",
        ev.test.as_ref().unwrap().persistence.mae_usd
    );
    assert!((ev.test.as_ref().unwrap().persistence.rmse_usd - rmse).abs() < 1e-6 * rmse);
    // And those closes are the sample's own.
    let offset = series.candles.len() - closes.len();
    assert_eq!(
        closes[test.start],
        series.candles[offset + test.start].close
    );
}

#[test]
fn cancellation_stops_within_a_second_and_keeps_a_consistent_result() {
    let series = sample_tail(3_000);
    let cancel = CancelToken::new();
    let mut cancelled_at = None;
    let mut events = Vec::new();
    let p = TrainSpec {
        batch_event_every: 1,
        ..params(Architecture::Lstm, Variant::Lightweight, 50)
    };
    let outcome = train(
        &series,
        &p.check().unwrap(),
        &mut |e| {
            if matches!(
                e,
                TrainingEvent::Batch {
                    epoch: 2,
                    batch: 3,
                    ..
                }
            ) {
                cancel.cancel();
                cancelled_at = Some(Instant::now());
            }
            events.push(e);
        },
        &cancel,
    )
    .unwrap();
    let stopped_after = cancelled_at.expect("cancelled").elapsed();
    assert!(
        stopped_after < Duration::from_secs(1),
        "took {stopped_after:?} to stop"
    );
    assert_eq!(outcome.stop, StopReason::Cancelled);
    assert!(outcome.evaluation.is_none());
    assert_eq!(
        outcome.best_epoch,
        Some(1),
        "the best weights so far are kept"
    );
    assert!(matches!(
        events.last(),
        Some(TrainingEvent::Cancelled { .. })
    ));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, TrainingEvent::Finished { .. }))
    );
}

#[test]
fn every_default_architecture_trains_and_evaluates_with_all_baselines() {
    let series = sample_tail(1_100);
    for architecture in Architecture::TRAINABLE {
        let p = TrainSpec {
            batch_size: 64,
            ..params(architecture, Variant::Default, 1)
        };
        let outcome = train(
            &series,
            &p.clone().check().unwrap(),
            &mut |_| {},
            &CancelToken::new(),
        )
        .unwrap_or_else(|e| panic!("{architecture}: {e}"));
        let ev = outcome.evaluation.unwrap();
        for m in [
            &ev.test.as_ref().unwrap().model,
            &ev.test.as_ref().unwrap().persistence,
            &ev.test.as_ref().unwrap().drift,
            &ev.test.as_ref().unwrap().ridge,
        ] {
            assert!(finite(m), "{architecture}: {m:?}");
        }
    }
}

#[test]
fn nonsense_requests_and_too_little_data_are_clear_errors() {
    let cases = [
        (
            TrainSpec {
                epochs: 0,
                ..TrainSpec::default()
            },
            "epochs",
        ),
        (
            TrainSpec {
                batch_size: 0,
                ..TrainSpec::default()
            },
            "batch size",
        ),
        (
            TrainSpec {
                learning_rate: -1.0,
                ..TrainSpec::default()
            },
            "learning rate",
        ),
        (
            TrainSpec {
                horizon: 0,
                ..TrainSpec::default()
            },
            "horizon",
        ),
        (
            TrainSpec {
                grad_clip_norm: Some(f64::NAN),
                ..TrainSpec::default()
            },
            "clip",
        ),
    ];
    for (p, word) in cases {
        // Refused by the check that makes the spec the engine trains on.
        let e = atb_engine::training::check_spec(p).unwrap_err().to_string();
        assert!(e.contains(word), "{word}: {e}");
    }
    let tiny = sample_tail(150);
    let e = train(
        &tiny,
        &params(Architecture::Tcn, Variant::Lightweight, 1)
            .check()
            .unwrap(),
        &mut |_| {},
        &CancelToken::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("needs at least") && e.contains("150 candles"),
        "{e}"
    );
}

#[test]
fn walk_forward_reports_mean_and_spread_over_folds() {
    let series = sample_tail(1_500);
    let p = TrainSpec {
        walk_forward_folds: Some(3),
        sequence_length: 48,
        ..params(Architecture::Tcn, Variant::Lightweight, 1)
    };
    let mut finished = 0;
    let mut fold_epochs = Vec::new();
    let outcome = train(
        &series,
        &p.check().unwrap(),
        &mut |e| match e {
            TrainingEvent::Finished { .. } => finished += 1,
            TrainingEvent::Fold { fold, folds, inner } => {
                assert_eq!(folds, 3);
                if let TrainingEvent::EpochEnd { .. } = *inner {
                    fold_epochs.push(fold);
                }
            }
            _ => {}
        },
        &CancelToken::new(),
    )
    .unwrap();
    assert_eq!(finished, 1, "one Finished event, after the folds");
    assert_eq!(
        fold_epochs,
        vec![1, 2, 3],
        "each fold's epoch, tagged with its number"
    );
    let wf = outcome
        .evaluation
        .unwrap()
        .walk_forward
        .expect("walk-forward was asked for");
    assert_eq!(wf.folds, 3);
    for s in [
        &wf.model_mae_usd,
        &wf.model_rmse_usd,
        &wf.persistence_mae_usd,
        &wf.skill_vs_persistence,
    ] {
        assert!(
            s.mean.is_finite() && s.std.is_finite() && s.std >= 0.0,
            "{s:?}"
        );
    }
    assert!(
        wf.persistence_mae_usd.std > 0.0,
        "folds cover different windows"
    );
    // Every metric of every fold, and the baselines aggregated too.
    assert_eq!(wf.per_fold.len(), 3);
    let ridge = wf.ridge_mae_usd.expect("ridge aggregated");
    assert!(ridge.mean.is_finite() && ridge.std >= 0.0);
    // Sample standard deviation (divided by K - 1).
    let maes: Vec<f64> = wf.per_fold.iter().map(|f| f.model.mae_usd).collect();
    let mean = maes.iter().sum::<f64>() / 3.0;
    let sample_std = (maes.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
    assert!((wf.model_mae_usd.std - sample_std).abs() < 1e-9 * (1.0 + sample_std));
    let counted = wf.better_than_persistence.unwrap() + wf.worse_than_persistence.unwrap();
    assert!(counted <= 3);
}

/// `auto` by measurement on this machine's only adapter forced as the candidate (in CI Mesa's
/// lavapipe, a software GPU): it takes whichever device its own timing found faster (lavapipe
/// loses to the CPU), says why with both timings, reuses the measurement on the next run and
/// measures again when the atb version changes.
#[test]
fn auto_takes_the_device_its_own_measurement_found_faster_and_remembers_it() {
    use atb_engine::testing::device_probe::{Objective, ProbeSource, measured_choice};
    use atb_models::probe::ProbeSpec;
    if atb_models::device::skip_without_gpu() {
        return;
    }
    let adapter = atb_models::list_adapters().into_iter().next().unwrap();
    atb_models::device::set_gpu_kernel_cache(&std::env::temp_dir().join("atb-test-gpu-cache"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("device-probes.json");
    let spec = ProbeSpec {
        input: [60, 5],
        batch: 16,
        ..ProbeSpec::default_model(Architecture::Tcn)
    };
    let choose = |version: &str| {
        measured_choice(
            &adapter,
            &spec,
            Some(&file),
            version,
            Objective::TrainingStep,
        )
        .unwrap()
    };
    let first = choose("1.0.0");
    assert_eq!(first.source, ProbeSource::Measured);
    let (gpu, cpu) = (first.record.gpu.step_ms, first.record.cpu.step_ms);
    println!("{}: {}", first.selected.name, first.selected.reason);
    assert_eq!(
        first.selected.is_gpu,
        gpu < cpu,
        "{}",
        first.selected.reason
    );
    if !adapter.hardware {
        assert!(
            !first.selected.is_gpu,
            "a software adapter beat the CPU: {}",
            first.selected.reason
        );
    }
    assert!(
        first.selected.reason.contains(&format!("{gpu:.2} ms"))
            && first.selected.reason.contains(&format!("{cpu:.2} ms")),
        "{}",
        first.selected.reason
    );
    let again = choose("1.0.0");
    assert_eq!(again.source, ProbeSource::Cached);
    assert_eq!(again.record.key, first.record.key);
    assert!(
        (again.record.gpu.step_ms - gpu).abs() < 1e-6
            && (again.record.cpu.step_ms - cpu).abs() < 1e-6
    );
    assert!(
        again.selected.reason.contains("earlier"),
        "{}",
        again.selected.reason
    );
    let upgraded = choose("1.0.1");
    assert_eq!(upgraded.source, ProbeSource::Measured);
    let kept: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let kept = kept.as_array().unwrap();
    assert_eq!(kept.len(), 1, "the old version's measurement is replaced");
    assert_eq!(kept[0]["key"]["atb_version"], "1.0.1");
}
