//! Train and register: the one training flow both doors (and `atb bench`, `atb validate`) run.
//! The GPU kernel cache is set up here, so no door has to remember it.

use atb_protocol::registry::ModelRow;
use atb_protocol::training::{StopReason, TrainingEvent};

use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::gpu_check::use_home_kernel_cache;
use crate::market::source::CandleSeries;
use crate::registry::Registry;
use crate::settings::Settings;
use crate::training::{CheckedSpec, TrainOutcome, TrainSpec, train};

/// How a finished run is registered.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// `bench` for benchmark runs; `None` for ordinary ones.
    pub tag: Option<String>,
    /// Move the series' `latest` alias to the new version.
    pub set_latest: bool,
    /// Ids `STAMP_SUFFIX` instead of `STAMP_vN` ([`Registry::with_id_suffix`]).
    pub id_suffix: Option<String>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            tag: None,
            set_latest: true,
            id_suffix: None,
        }
    }
}

/// What became of a run.
#[derive(Debug)]
pub enum TrainResult {
    /// Trained, evaluated and registered.
    Registered {
        row: Box<ModelRow>,
        outcome: Box<TrainOutcome>,
    },
    /// Cancelled: nothing was registered.
    Cancelled { epochs_run: usize },
}

impl TrainResult {
    /// The sentence a door shows for a cancelled run.
    pub fn cancelled_message(epochs_run: usize) -> String {
        format!("cancelled after {epochs_run} epoch(s): nothing was registered")
    }
}

/// Refuses a spec before any candle is loaded: its fields, then the memory its training batch
/// needs on this machine (`training::resources`). Every door calls it before loading, so a run
/// that cannot fit never fetches a year of candles first.
pub fn check(spec: &TrainSpec) -> Result<CheckedSpec> {
    crate::training::check_spec(spec.clone())
}

/// Trains on `series` and, unless cancelled, registers the result. Blocking: run it on a
/// worker thread.
pub fn train_and_register(
    settings: &Settings,
    series: &CandleSeries,
    spec: &CheckedSpec,
    options: &TrainOptions,
    on_event: &mut dyn FnMut(TrainingEvent),
    cancel: &CancelToken,
) -> Result<TrainResult> {
    use_home_kernel_cache(settings);
    // Leftovers of registrations killed mid-write (their process is gone) are cleared first.
    Registry::open(settings)?.clear_interrupted()?;
    // A context market is loaded here, beside the series every door loaded, over its range.
    let with_context;
    let series = match (&spec.context, &series.context) {
        (Some(context), None) => {
            with_context = super::block_on(crate::market::source::with_context(
                settings,
                series.clone(),
                Some(context),
            ))?;
            &with_context
        }
        _ => series,
    };
    let outcome = match train(series, spec, on_event, cancel) {
        Ok(outcome) => outcome,
        // A tree run cancelled before its first tree has no model at all.
        Err(Error::Cancelled) => return Ok(TrainResult::Cancelled { epochs_run: 0 }),
        Err(e) => return Err(e),
    };
    // A Cancel that arrived during evaluation (after the last batch) still means "do not keep it".
    if outcome.stop == StopReason::Cancelled
        || outcome.evaluation.is_none()
        || cancel.is_cancelled()
    {
        return Ok(TrainResult::Cancelled {
            epochs_run: outcome.epochs_run,
        });
    }
    let row = Registry::open(settings)?
        .with_id_suffix(options.id_suffix.clone())
        .register(&outcome, options.tag.as_deref(), options.set_latest)?;
    Ok(TrainResult::Registered {
        row: Box::new(row),
        outcome: Box::new(outcome),
    })
}
