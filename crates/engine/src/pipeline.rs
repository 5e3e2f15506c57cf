//! The flows the CLI and the desktop app share, so neither re-implements a step: train and
//! register, and predict with a registered version.

use atb_models::burn::prelude::*;
use atb_protocol::registry::ModelRow;
use atb_protocol::training::TrainingEvent;

use crate::error::{Error, Result};
use crate::features::{FeatureSet, compute_features};
use crate::market::source::CandleSeries;
use crate::registry::{LoadedModel, Registry};
use crate::settings::Settings;
use crate::training::{CancelToken, TrainOutcome, TrainingParams, train};

/// Trains on `series` and, unless cancelled, registers the result. Blocking: run it on a
/// worker thread. `set_latest` moves the series' `latest` alias.
pub fn train_and_register(
    settings: &Settings,
    series: &CandleSeries,
    params: &TrainingParams,
    tag: Option<&str>,
    set_latest: bool,
    on_event: &mut dyn FnMut(TrainingEvent),
    cancel: &CancelToken,
) -> Result<(TrainOutcome, Option<ModelRow>)> {
    let outcome = train(series, params, on_event, cancel)?;
    if outcome.evaluation.is_none() {
        return Ok((outcome, None));
    }
    let row = Registry::open(settings)?.register(&outcome, tag, set_latest)?;
    Ok((outcome, Some(row)))
}

/// Raw model outputs (standardised log returns) for windows already scaled as the version's
/// feature schema says: `values` is `[n, sequence_length, n_features]` row-major.
pub fn predict_raw(
    loaded: &LoadedModel,
    values: Vec<f32>,
    shape: [usize; 3],
    device: &Device,
) -> Result<Vec<f32>> {
    let expected = [loaded.schema.sequence_length, loaded.schema.n_features];
    if [shape[1], shape[2]] != expected {
        return Err(Error::InvalidRequest(format!(
            "input windows are [{}, {}, {}] but {} expects [N, {}, {}]",
            shape[0], shape[1], shape[2], loaded.row.version_id, expected[0], expected[1]
        )));
    }
    if shape[0] == 0 {
        return Ok(Vec::new());
    }
    let x: Tensor<3> = Tensor::from_data(TensorData::new(values, shape), device);
    loaded
        .model
        .forward(x)
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| Error::InvalidData(format!("reading predictions: {e:?}")))
}

/// The next close predicted from the latest window of `series`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NextClose {
    pub version_id: String,
    /// Open time of the last candle used.
    pub last_open_time_ms: i64,
    pub last_close: f64,
    pub horizon: usize,
    pub predicted_log_return: f64,
    pub predicted_close: f64,
}

/// Builds the latest window exactly as the version's schema says and predicts the close
/// `horizon` bars after the last candle.
pub fn predict_next_close(
    loaded: &LoadedModel,
    series: &CandleSeries,
    device: &Device,
) -> Result<NextClose> {
    let schema = &loaded.schema;
    let set: FeatureSet = schema.feature_set.parse()?;
    let matrix = compute_features(&series.candles, set)?;
    if matrix.names != schema.feature_names {
        return Err(Error::InvalidData(format!(
            "features {:?} do not match the model's {:?}",
            matrix.names, schema.feature_names
        )));
    }
    let l = schema.sequence_length;
    if matrix.rows < l {
        return Err(Error::TooLittleData(format!(
            "{} needs {} candles after a {}-candle warm-up; the source gave {}",
            loaded.row.version_id,
            l,
            matrix.warmup_rows,
            series.candles.len()
        )));
    }
    let w = matrix.width();
    let start = matrix.rows - l;
    let window: Vec<f32> = (start..matrix.rows)
        .flat_map(|r| {
            matrix
                .row(r)
                .iter()
                .enumerate()
                .map(|(j, v)| ((f64::from(*v) - schema.means[j]) / schema.stds[j]) as f32)
        })
        .collect();
    let out = predict_raw(loaded, window, [1, l, w], device)?;
    let scaled = f64::from(out[0]);
    let log_return = schema.target.mean + schema.target.std * scaled;
    let last_close = matrix.closes[matrix.rows - 1];
    Ok(NextClose {
        version_id: loaded.row.version_id.clone(),
        last_open_time_ms: matrix.open_times[matrix.rows - 1],
        last_close,
        horizon: schema.target.horizon,
        predicted_log_return: log_return,
        predicted_close: last_close * log_return.exp(),
    })
}
