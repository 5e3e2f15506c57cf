//! Predictions with a registered version, through its own model (Burn weights or LightGBM trees)
//! or its exported ONNX file:
//! the next close from the latest candles of a source (with the look-back that needs), or raw
//! outputs for windows the caller already scaled.

use atb_models::burn::prelude::Device;
use atb_models::probe::ProbeSpec;
use atb_protocol::desktop::Forecast;
use atb_protocol::registry::ModelRow;
use atb_protocol::vocab::{CandleSource, Target};

use crate::error::Result;
use crate::inference::{
    NextClose, OwnedNativePredictor, WindowPredictor, predict_next_close, predict_raw,
};
use crate::market::source::{DateRange, load_candles, with_context};
use crate::registry::Registry;
use crate::registry::metadata::FeatureSchema;
use crate::settings::Settings;

/// Which copy of a version runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PredictWith {
    /// Its own model on the CPU: Burn weights, or LightGBM's booster for trees.
    Native,
    /// Its exported `model.onnx` in tract (pure Rust, always there).
    Onnx,
    /// Its exported `model.onnx` in ONNX Runtime (the shared library from `ATB_ONNXRUNTIME` or
    /// the setup script's `.venv`; about twice as fast as tract on one window).
    OnnxRuntime,
}

/// A version ready to predict, its hash checked on load.
pub struct Predictor {
    pub row: ModelRow,
    /// How to build its inputs and read its output (for ONNX, what the file itself says).
    pub schema: FeatureSchema,
    runner: Box<dyn WindowPredictor>,
}

/// Where a network forecasts one window: the faster device for this model by its own measured
/// single-window latency where a hardware GPU exists (`device_probe`), else the CPU. Trees and
/// versions without a stored model configuration run on the CPU.
fn forecast_device(settings: &Settings, registry: &Registry, reference: &str) -> Result<Device> {
    if !crate::device_probe::hardware_gpu_present() {
        // Nothing to measure against: skip reading the version's records twice.
        return Ok(Device::flex());
    }
    let row = registry.resolve(reference)?;
    let metadata = registry.metadata(&row)?;
    let record = &metadata.training_params;
    let params = &record.spec;
    if !row.architecture.is_network() || record.model_config.is_none() {
        return Ok(Device::flex());
    }
    crate::gpu_check::use_home_kernel_cache(settings);
    let spec = ProbeSpec {
        architecture: row.architecture,
        variant: params.variant,
        overrides: params.overrides.clone(),
        input: [params.sequence_length, registry.schema(&row)?.n_features],
        batch: params.batch_size,
    };
    Ok(crate::device_probe::forecast_device(&spec)?.device)
}

/// Loads a version for prediction.
pub fn open(settings: &Settings, reference: &str, with: PredictWith) -> Result<Predictor> {
    let registry = Registry::open(settings)?;
    Ok(match with {
        PredictWith::Onnx => {
            let loaded = crate::onnx::load_registered(&registry, reference)?;
            Predictor {
                row: loaded.row,
                schema: loaded.model.document.schema.clone(),
                runner: Box::new(loaded.model),
            }
        }
        PredictWith::OnnxRuntime => {
            let (row, model) = crate::onnx::load_registered_ort(&registry, reference)?;
            Predictor {
                row,
                schema: model.document.schema.clone(),
                runner: Box::new(model),
            }
        }
        PredictWith::Native => {
            let device = forecast_device(settings, &registry, reference)?;
            let loaded = registry.load(reference, &device)?;
            Predictor {
                row: loaded.row,
                schema: loaded.schema,
                runner: Box::new(OwnedNativePredictor {
                    model: loaded.model,
                    device,
                }),
            }
        }
    })
}

/// The forecast of `reference` from the latest candles of the source it was trained on, with
/// its verdicts beside it (what the desktop's Forecast shows).
pub async fn forecast(settings: &Settings, reference: &str) -> Result<Forecast> {
    let predictor = open(settings, reference, PredictWith::Native)?;
    let metadata = Registry::open(settings)?.metadata(&predictor.row)?;
    let source = metadata.dataset.source;
    let next = predictor.next_close(settings, &source).await?;
    Ok(Forecast {
        version_id: next.version_id,
        source,
        last_open_ms: next.last_open_time_ms,
        last_close: next.last_close,
        horizon: next.horizon,
        prediction: next.prediction,
        verdicts: match predictor.row.target {
            Target::Return => predictor
                .row
                .verdict_vs_persistence
                .iter()
                .cloned()
                .collect(),
            _ => predictor.row.target_verdicts.clone(),
        },
    })
}

/// Days of candles to load so that the feature warm-up and one window fit, with room for gaps.
pub fn look_back_days(schema: &FeatureSchema, timeframe_ms: i64) -> u32 {
    let candles_needed =
        (schema.sequence_length + crate::inference::WARMUP_MARGIN_BARS) as i64 * timeframe_ms;
    (candles_needed / 86_400_000 + 2) as u32
}

impl Predictor {
    /// The next close after the latest candle `source` holds for the version's series.
    pub async fn next_close(
        &self,
        settings: &Settings,
        source: &CandleSource,
    ) -> Result<NextClose> {
        let timeframe = self.row.timeframe;
        let days = look_back_days(&self.schema, timeframe.millis());
        let series = load_candles(
            settings,
            source,
            &self.row.symbol,
            timeframe,
            DateRange::LastDays(days),
            &mut |_| {},
        )
        .await?;
        let context = self
            .schema
            .context
            .as_deref()
            .map(str::parse::<atb_protocol::vocab::Symbol>)
            .transpose()?;
        let series = with_context(settings, series, context.as_ref()).await?;
        predict_next_close(
            &self.row.version_id,
            &self.schema,
            self.runner.as_ref(),
            &series,
        )
    }

    /// Raw outputs (standardised log returns) for already-scaled windows `[n, L, F]`.
    pub fn raw(&self, values: Vec<f32>, shape: [usize; 3]) -> Result<Vec<f32>> {
        predict_raw(
            &self.row.version_id,
            &self.schema,
            self.runner.as_ref(),
            values,
            shape,
        )
    }
}
