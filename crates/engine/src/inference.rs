//! Inference with a trained model: the window predictors (Burn weights, LightGBM trees or an
//! exported ONNX file),
//! the next close from the latest candles, a version's test windows rebuilt from its recorded
//! candles, test-window predictions, attention maps, and re-evaluation with this build's method.

use atb_models::ForecastModel;
use atb_models::burn::prelude::*;
use atb_protocol::desktop::ATTENTION_MAP_MAX_CELLS;
use atb_protocol::desktop::{AttentionMap, TestPredictions};
use atb_protocol::registry::ModelRow;
use atb_protocol::targets::Prediction;
use atb_protocol::training::Evaluation;
use atb_protocol::vocab::Target;

use crate::dataset::{FeatureScaler, PreparedData, bar_interval_ms, gap_free_samples};
use crate::error::{Error, Result};
use crate::features::{FeatureMatrix, series_features};
use crate::gbdt::GbdtModel;
use crate::market::source::{CandleSeries, DateRange, load_candles, with_context};
use crate::registry::metadata::FeatureSchema;
use crate::registry::{LoadedModel, Registry};
use crate::settings::Settings;
use crate::targets::direction::climatology;
use crate::targets::labels::{direction_label, log_returns, realised_volatility};
use crate::targets::volatility::{HarRv, HarSpans, SquaredSums};
use crate::training::{TrainSpec, TrainedModel, candles_sha256, evaluate, prepare};
use atb_protocol::desktop::TargetSeries;
use atb_protocol::training::{DatasetSummary, SplitInfo};

/// Anything that maps scaled windows to raw outputs: Burn weights or an exported ONNX file.
pub trait WindowPredictor {
    /// Raw outputs (standardised log returns) for `shape[0]` windows, `values` being
    /// `[n, sequence_length, n_features]` row-major.
    fn predict_windows(&self, values: Vec<f32>, shape: [usize; 3]) -> Result<Vec<f32>>;
}

/// A Burn model on a device.
pub struct BurnPredictor<'a> {
    pub model: &'a ForecastModel,
    pub device: &'a Device,
}

impl WindowPredictor for BurnPredictor<'_> {
    fn predict_windows(&self, values: Vec<f32>, shape: [usize; 3]) -> Result<Vec<f32>> {
        let x: Tensor<3> = Tensor::from_data(TensorData::new(values, shape), self.device);
        self.model
            .forward(x)
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| Error::InvalidData(format!("reading predictions: {e:?}")))
    }
}

impl WindowPredictor for GbdtModel {
    fn predict_windows(&self, values: Vec<f32>, shape: [usize; 3]) -> Result<Vec<f32>> {
        GbdtModel::predict_windows(self, &values, shape[0])
    }
}

/// A registered model of either kind in its native form: Burn weights on a device, or the
/// LightGBM booster (which runs on the CPU).
pub struct NativePredictor<'a> {
    pub model: &'a TrainedModel,
    pub device: &'a Device,
}

impl WindowPredictor for NativePredictor<'_> {
    fn predict_windows(&self, values: Vec<f32>, shape: [usize; 3]) -> Result<Vec<f32>> {
        match self.model {
            TrainedModel::Network { model, .. } => BurnPredictor {
                model,
                device: self.device,
            }
            .predict_windows(values, shape),
            TrainedModel::Trees(trees) => WindowPredictor::predict_windows(trees, values, shape),
            TrainedModel::Ensemble(ensemble) => {
                let outputs = ensemble
                    .members
                    .iter()
                    .map(|model| {
                        NativePredictor {
                            model,
                            device: self.device,
                        }
                        .predict_windows(values.clone(), shape)
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(ensemble.combine(&outputs))
            }
        }
    }
}

/// A native model that owns its device (what a door holds between calls).
pub struct OwnedNativePredictor {
    pub model: TrainedModel,
    pub device: Device,
}

impl WindowPredictor for OwnedNativePredictor {
    fn predict_windows(&self, values: Vec<f32>, shape: [usize; 3]) -> Result<Vec<f32>> {
        NativePredictor {
            model: &self.model,
            device: &self.device,
        }
        .predict_windows(values, shape)
    }
}

/// Raw model outputs (standardised log returns) for windows already scaled as the version's
/// feature schema says: `values` is `[n, sequence_length, n_features]` row-major.
pub fn predict_raw(
    version_id: &str,
    schema: &FeatureSchema,
    predictor: &dyn WindowPredictor,
    values: Vec<f32>,
    shape: [usize; 3],
) -> Result<Vec<f32>> {
    let expected = [schema.sequence_length, schema.n_features];
    if [shape[1], shape[2]] != expected {
        return Err(Error::InvalidRequest(format!(
            "input windows are [{}, {}, {}] but {version_id} expects [N, {}, {}]",
            shape[0], shape[1], shape[2], expected[0], expected[1]
        )));
    }
    if shape[0] == 0 {
        return Ok(Vec::new());
    }
    predictor.predict_windows(values, shape)
}

/// The next close predicted from the latest window of `series`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NextClose {
    pub version_id: String,
    /// Open time of the last candle used.
    pub last_open_time_ms: i64,
    pub last_close: f64,
    pub horizon: usize,
    /// The forecast in the target's units (`predicted_close` for the return target).
    #[serde(flatten)]
    pub prediction: Prediction,
}

/// Scales rows `[end + 1 - L, end]` of `matrix` with the schema's scaler: `[L * F]` row-major.
fn scaled_window(matrix: &FeatureMatrix, schema: &FeatureSchema, end: usize, out: &mut Vec<f32>) {
    for r in end + 1 - schema.sequence_length..=end {
        out.extend(
            matrix
                .row(r)
                .iter()
                .enumerate()
                .map(|(j, v)| ((f64::from(*v) - schema.means[j]) / schema.stds[j]) as f32),
        );
    }
}

fn schema_features(
    version_id: &str,
    schema: &FeatureSchema,
    series: &CandleSeries,
) -> Result<FeatureMatrix> {
    let matrix = series_features(series, schema.feature_set.parse()?)?;
    if matrix.names != schema.feature_names {
        return Err(Error::InvalidData(format!(
            "features {:?} do not match {version_id}'s {:?}",
            matrix.names, schema.feature_names
        )));
    }
    Ok(matrix)
}

/// Builds the latest window exactly as the version's schema says and predicts what its target
/// says about the `horizon` bars after the last candle (the close, the realised volatility, or
/// the probability of an up move).
pub fn predict_next_close(
    version_id: &str,
    schema: &FeatureSchema,
    predictor: &dyn WindowPredictor,
    series: &CandleSeries,
) -> Result<NextClose> {
    let matrix = schema_features(version_id, schema, series)?;
    let l = schema.sequence_length;
    if matrix.rows < l {
        return Err(Error::TooLittleData(format!(
            "{version_id} needs {l} candles after a {}-candle warm-up; the source gave {}",
            matrix.warmup_rows,
            series.candles.len()
        )));
    }
    let mut window = Vec::with_capacity(l * matrix.width());
    scaled_window(&matrix, schema, matrix.rows - 1, &mut window);
    let out = predict_raw(
        version_id,
        schema,
        predictor,
        window,
        [1, l, matrix.width()],
    )?;
    let scaler = schema.target.scaler();
    let last_close = matrix.closes[matrix.rows - 1];
    Ok(NextClose {
        version_id: version_id.to_string(),
        last_open_time_ms: matrix.open_times[matrix.rows - 1],
        last_close,
        horizon: schema.target.horizon,
        prediction: Prediction::from_output(
            scaler.kind,
            scaler.unscale(f64::from(out[0])),
            last_close,
        ),
    })
}

/// Scaled windows from a version's own test split.
#[derive(Debug, Clone)]
pub struct TestWindows {
    /// `[count, sequence_length, n_features]` row-major.
    pub values: Vec<f32>,
    pub count: usize,
    pub shape: [usize; 3],
}

fn evenly_spaced(n: usize, count: usize) -> impl Iterator<Item = usize> {
    // First and last included.
    (0..count).map(move |i| {
        if count == 1 {
            0
        } else {
            i * (n - 1) / (count - 1)
        }
    })
}

/// Up to `max` windows spread evenly over the test split of prepared data (what a run that
/// just trained holds).
pub fn test_windows_of(data: &PreparedData, max: usize) -> Result<TestWindows> {
    let tests: &[usize] = &data.samples.test;
    if tests.is_empty() {
        return Err(Error::TooLittleData("the test split is empty".into()));
    }
    let count = tests.len().min(max);
    let mut values = Vec::with_capacity(count * data.sequence_length * data.width());
    for pick in evenly_spaced(tests.len(), count) {
        data.window_into(tests[pick], &mut values);
    }
    Ok(TestWindows {
        values,
        count,
        shape: [count, data.sequence_length, data.width()],
    })
}

/// The reloaded feature matrix of a version and the rows whose targets fall in its test split.
struct TestRows {
    matrix: FeatureMatrix,
    rows: Vec<usize>,
}

/// The candles a version was trained on: same source and range, refused unless their SHA-256
/// matches the recorded one.
async fn recorded_series(settings: &Settings, loaded: &LoadedModel) -> Result<CandleSeries> {
    let d = &loaded.metadata.dataset;
    let version = &loaded.row.version_id;
    let (source, symbol, timeframe) = (&d.source, &d.symbol, d.timeframe);
    let range = DateRange::Between {
        start_ms: d.first_candle_open_ms,
        end_ms: d.last_candle_open_ms + timeframe.millis(),
    };
    let series = load_candles(settings, source, symbol, timeframe, range, &mut |_| {}).await?;
    let spec = &loaded.metadata.training_params.spec;
    let series = with_context(settings, series, spec.context.as_ref()).await?;
    let set = spec.feature_set;
    if candles_sha256(&series, set) != d.data_sha256 {
        return Err(Error::InvalidData(format!(
            "the {} candles of {symbol} {timeframe} from {} to {} no longer match the ones {version} was trained on (their SHA-256 differs), so its test windows cannot be rebuilt",
            source,
            crate::market::format_ms(d.first_candle_open_ms),
            crate::market::format_ms(d.last_candle_open_ms),
        )));
    }
    Ok(series)
}

/// The rows of `matrix` whose windows are gap-free and whose target falls in `split` (one of
/// the version's recorded splits).
fn split_rows(matrix: &FeatureMatrix, loaded: &LoadedModel, split: &SplitInfo) -> Vec<usize> {
    let h = loaded.schema.target.horizon;
    let l = loaded.schema.sequence_length;
    let usable = gap_free_samples(matrix, l, h);
    (l.saturating_sub(1)..matrix.rows.saturating_sub(h))
        .filter(|&t| {
            let target = matrix.open_times[t + h];
            usable[t] && (split.first_target_open_ms..=split.last_target_open_ms).contains(&target)
        })
        .collect()
}

/// Reloads the candles a version was trained on and finds its test rows (gap-free windows whose
/// target falls in its test split).
async fn test_rows(settings: &Settings, loaded: &LoadedModel) -> Result<TestRows> {
    let version = &loaded.row.version_id;
    let series = recorded_series(settings, loaded).await?;
    let matrix = schema_features(version, &loaded.schema, &series)?;
    let rows = split_rows(&matrix, loaded, &loaded.metadata.dataset.test);
    if rows.is_empty() {
        return Err(Error::TooLittleData(format!(
            "{version}'s test split has no windows in the reloaded candles"
        )));
    }
    Ok(TestRows { matrix, rows })
}

/// Reloads the candles a version was trained on (same source and range, checked against the
/// recorded SHA-256) and returns up to `max` windows spread evenly over its test split.
pub async fn load_test_windows(
    settings: &Settings,
    loaded: &LoadedModel,
    max: usize,
) -> Result<TestWindows> {
    let TestRows { matrix, rows } = test_rows(settings, loaded).await?;
    let l = loaded.schema.sequence_length;
    let count = rows.len().min(max);
    let mut values = Vec::with_capacity(count * l * matrix.width());
    for pick in evenly_spaced(rows.len(), count) {
        scaled_window(&matrix, &loaded.schema, rows[pick], &mut values);
    }
    Ok(TestWindows {
        values,
        count,
        shape: [count, l, matrix.width()],
    })
}

/// Candles loaded before a window so that the rolling features have warmed up, with room for
/// gaps (the longest feature window is 30 bars).
pub const WARMUP_MARGIN_BARS: usize = 100;

/// Windows predicted at once when sweeping a whole test split.
const SWEEP_BATCH: usize = 256;

/// Predicted log returns of `loaded` for the windows ending at `rows` of `matrix`, in order.
fn predict_rows(
    loaded: &LoadedModel,
    device: &Device,
    matrix: &FeatureMatrix,
    rows: &[usize],
) -> Result<Vec<f64>> {
    let schema = &loaded.schema;
    let (l, w) = (schema.sequence_length, matrix.width());
    let predictor = NativePredictor {
        model: &loaded.model,
        device,
    };
    let batch = loaded.model.inference_batch(SWEEP_BATCH);
    let mut out = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(batch) {
        let mut values = Vec::with_capacity(chunk.len() * l * w);
        for &t in chunk {
            scaled_window(matrix, schema, t, &mut values);
        }
        let raw = predictor.predict_windows(values, [chunk.len(), l, w])?;
        out.extend(
            raw.into_iter()
                .map(|y| schema.target.mean + schema.target.std * f64::from(y)),
        );
    }
    Ok(out)
}

/// Refuses a version whose target is not the return where `what` needs forecasts of the close
/// (price errors, trading signals): a volatility or direction model is measured beside its own
/// baselines instead.
pub fn require_return_target(loaded: &LoadedModel, what: &str) -> Result<()> {
    let target = loaded.metadata.training_params.spec.target;
    if target == Target::Return {
        return Ok(());
    }
    Err(Error::InvalidRequest(format!(
        "{} forecasts {target} ({}), not the close: {what} needs forecasts of the close, so it \
         takes return-target versions only; this version's evaluation beside its own baselines \
         is stored with it",
        loaded.row.version_id,
        target.description()
    )))
}

/// Predicted against actual closes over a version's whole test split (thinned evenly to at most
/// `max_points`), with its own weights on `device`.
pub async fn test_predictions(
    settings: &Settings,
    loaded: &LoadedModel,
    device: &Device,
    max_points: usize,
) -> Result<TestPredictions> {
    let TestRows { matrix, rows } = test_rows(settings, loaded).await?;
    let h = loaded.schema.target.horizon;
    let picks: Vec<usize> = evenly_spaced(rows.len(), rows.len().min(max_points.max(1)))
        .map(|i| rows[i])
        .collect();
    let predicted = predict_rows(loaded, device, &matrix, &picks)?;
    let target_open_ms: Vec<i64> = picks.iter().map(|&t| matrix.open_times[t + h]).collect();
    let scaler = loaded.schema.target.scaler();
    if scaler.kind != Target::Return {
        let forecast = predicted
            .iter()
            .map(|u| {
                scaler
                    .kind
                    .forecast_of_output(u + scaler.lognormal_correction)
            })
            .collect();
        let train = split_rows(&matrix, loaded, &loaded.metadata.dataset.train);
        return Ok(TestPredictions {
            version_id: loaded.row.version_id.clone(),
            target_open_ms: Vec::new(),
            actual_close: Vec::new(),
            predicted_close: Vec::new(),
            target_series: Some(target_series(
                scaler.kind,
                &matrix,
                &train,
                &picks,
                h,
                target_open_ms,
                forecast,
            )),
        });
    }
    Ok(TestPredictions {
        version_id: loaded.row.version_id.clone(),
        target_open_ms,
        actual_close: picks.iter().map(|&t| matrix.closes[t + h]).collect(),
        predicted_close: picks
            .iter()
            .zip(&predicted)
            .map(|(&t, r)| matrix.closes[t] * r.exp())
            .collect(),
        target_series: None,
    })
}

/// What happened over each picked span and the target's reference baseline (HAR-RV fitted on
/// the training rows; the training rows' up-share), beside the version's `forecast`.
fn target_series(
    target: Target,
    matrix: &FeatureMatrix,
    train: &[usize],
    picks: &[usize],
    h: usize,
    target_open_ms: Vec<i64>,
    forecast: Vec<f64>,
) -> TargetSeries {
    let returns = log_returns(&matrix.closes);
    let (realised, baseline_name, baseline): (Vec<f64>, &str, Vec<Option<f64>>) = match target {
        Target::Volatility => {
            let spans = HarSpans::for_interval_ms(bar_interval_ms(&matrix.open_times));
            let har = HarRv::fit(&returns, train, h, spans);
            let sums = SquaredSums::new(&returns);
            (
                picks
                    .iter()
                    .map(|&t| realised_volatility(&returns, t, h).unwrap_or(f64::NAN))
                    .collect(),
                "HAR-RV",
                picks
                    .iter()
                    .map(|&t| har.as_ref().and_then(|m| m.forecast(&sums, t, h)))
                    .collect(),
            )
        }
        _ => {
            let labels: Vec<f64> = train
                .iter()
                .filter_map(|&t| direction_label(&matrix.closes, t, h))
                .collect();
            let share = climatology(&labels);
            (
                picks
                    .iter()
                    .map(|&t| direction_label(&matrix.closes, t, h).unwrap_or(f64::NAN))
                    .collect(),
                "climatology",
                picks.iter().map(|_| share).collect(),
            )
        }
    };
    TargetSeries {
        target,
        target_open_ms,
        forecast,
        realised,
        baseline_name: baseline_name.into(),
        baseline,
    }
}

/// Every test window of a version with what the paired tests, the model confidence set and
/// the backtest need: entry close and times, the forecast and realised log returns, the last
/// h-bar move, and the version's drift (its training mean return).
#[derive(Debug, Clone)]
pub struct TestForecasts {
    pub version_id: String,
    pub horizon: usize,
    pub bar_ms: i64,
    pub entry_ms: Vec<i64>,
    pub exit_ms: Vec<i64>,
    pub entry_close: Vec<f64>,
    pub forecast: Vec<f64>,
    pub actual: Vec<f64>,
    pub last_move: Vec<f64>,
    pub drift: f64,
}

impl TestForecasts {
    /// Price errors (predicted close - actual close) of log-return forecasts `returns`.
    pub fn price_errors(&self, returns: impl Fn(usize) -> f64) -> Vec<f64> {
        (0..self.actual.len())
            .map(|i| self.entry_close[i] * (returns(i).exp() - self.actual[i].exp()))
            .collect()
    }
}

/// Every test window of `loaded`, rebuilt from its recorded candles and predicted on `device`.
pub async fn test_forecasts(
    settings: &Settings,
    loaded: &LoadedModel,
    device: &Device,
) -> Result<TestForecasts> {
    require_return_target(
        loaded,
        "a paired test of price errors, a backtest or a judgement across versions",
    )?;
    let TestRows { matrix, rows } = test_rows(settings, loaded).await?;
    forecasts_at(loaded, device, &matrix, &rows)
}

/// The windows of `loaded` whose target candle opened after its data ended (the forward
/// windows no training or selection has seen), from candles of its source up to now (Binance
/// is asked for the new ones; the look-back before the data end feeds the first windows and
/// the feature warm-up). Empty when no candle has closed since.
pub async fn forward_forecasts(
    settings: &Settings,
    loaded: &LoadedModel,
    device: &Device,
) -> Result<TestForecasts> {
    require_return_target(loaded, "a forward test of price errors")?;
    let d = &loaded.metadata.dataset;
    let schema = &loaded.schema;
    let (l, h) = (schema.sequence_length, schema.target.horizon);
    let bar = d.timeframe.millis();
    // The window, the features' warm-up (as a forecast loads) and the horizon.
    let look_back = (l + WARMUP_MARGIN_BARS + h) as i64 * bar;
    let now = chrono::Utc::now().timestamp_millis();
    let series = load_candles(
        settings,
        &d.source,
        &d.symbol,
        d.timeframe,
        DateRange::Between {
            start_ms: d.last_candle_open_ms - look_back,
            end_ms: now.max(d.last_candle_open_ms + bar),
        },
        &mut |_| {},
    )
    .await?;
    let context = loaded.metadata.training_params.spec.context.as_ref();
    let series = with_context(settings, series, context).await?;
    let matrix = schema_features(&loaded.row.version_id, schema, &series)?;
    let usable = gap_free_samples(&matrix, l, h);
    let rows: Vec<usize> = (l.saturating_sub(1)..matrix.rows.saturating_sub(h))
        .filter(|&t| usable[t] && matrix.open_times[t + h] > d.last_candle_open_ms)
        .collect();
    forecasts_at(loaded, device, &matrix, &rows)
}

/// `loaded`'s forecasts for the windows ending at `rows` of `matrix`, with what the tests and
/// the backtest need.
fn forecasts_at(
    loaded: &LoadedModel,
    device: &Device,
    matrix: &FeatureMatrix,
    rows: &[usize],
) -> Result<TestForecasts> {
    let h = loaded.schema.target.horizon;
    let forecast = predict_rows(loaded, device, matrix, rows)?;
    let log = |a: usize, b: usize| (matrix.closes[b] / matrix.closes[a]).ln();
    Ok(TestForecasts {
        version_id: loaded.row.version_id.clone(),
        horizon: h,
        bar_ms: loaded.metadata.dataset.timeframe.millis(),
        entry_ms: rows.iter().map(|&t| matrix.open_times[t]).collect(),
        exit_ms: rows.iter().map(|&t| matrix.open_times[t + h]).collect(),
        entry_close: rows.iter().map(|&t| matrix.closes[t]).collect(),
        actual: rows.iter().map(|&t| log(t, t + h)).collect(),
        last_move: rows
            .iter()
            .map(|&t| if t >= h { log(t - h, t) } else { 0.0 })
            .collect(),
        forecast,
        drift: loaded.schema.target.mean,
    })
}

/// Attention weights of an attention model on the last window of its test split, averaged over
/// heads; `None` for architectures without attention.
pub async fn attention_map(
    settings: &Settings,
    loaded: &LoadedModel,
    device: &Device,
) -> Result<Option<AttentionMap>> {
    if !loaded.row.architecture.has_attention() {
        return Ok(None);
    }
    let TestRows { matrix, rows } = test_rows(settings, loaded).await?;
    let schema = &loaded.schema;
    let last = *rows
        .last()
        .ok_or_else(|| Error::TooLittleData("empty test split".into()))?;
    let mut window = Vec::with_capacity(schema.sequence_length * matrix.width());
    scaled_window(&matrix, schema, last, &mut window);
    let x: Tensor<3> = Tensor::from_data(
        TensorData::new(window, [1, schema.sequence_length, matrix.width()]),
        device,
    );
    let Some(weights) = loaded.model.network().and_then(|m| m.attention_weights(x)) else {
        return Ok(None);
    };
    let [_, heads, size, keys] = weights.dims();
    let mean = weights.mean_dim(1).reshape([size * keys]);
    let values = mean
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| Error::InvalidData(format!("reading attention weights: {e:?}")))?;
    let (cells, weights) = block_means(&values, size, ATTENTION_MAP_MAX_CELLS);
    Ok(Some(AttentionMap {
        version_id: loaded.row.version_id.clone(),
        size: cells,
        heads,
        weights,
        window: size,
    }))
}

/// A `size × size` map averaged into at most `max_cells × max_cells` blocks of (nearly) equal
/// steps: the cells per side and their means, row-major.
fn block_means(values: &[f32], size: usize, max_cells: usize) -> (usize, Vec<f32>) {
    if size <= max_cells {
        return (size, values.to_vec());
    }
    let cells = max_cells.max(1);
    // Block i covers steps [i·size/cells, (i+1)·size/cells).
    let edge = |i: usize| i * size / cells;
    let mut out = Vec::with_capacity(cells * cells);
    for r in 0..cells {
        for c in 0..cells {
            let (r0, r1, c0, c1) = (edge(r), edge(r + 1), edge(c), edge(c + 1));
            let mut sum = 0.0f64;
            for q in r0..r1 {
                sum += values[q * size + c0..q * size + c1]
                    .iter()
                    .map(|v| f64::from(*v))
                    .sum::<f64>();
            }
            out.push((sum / ((r1 - r0) * (c1 - c0)) as f64) as f32);
        }
    }
    (cells, out)
}

/// Recomputes the evaluation of a registered version with this build's evaluation method, from
/// its recorded candles (checked against their SHA-256), its own weights and its own scalers,
/// and stores it beside the version in the index: the version folder is not touched.
/// Walk-forward results, which would need K models retrained, are kept as they were.
pub async fn reevaluate(settings: &Settings, reference: &str) -> Result<(ModelRow, Evaluation)> {
    let device = Device::flex();
    let mut registry = Registry::open(settings)?;
    let loaded = registry.load(reference, &device)?;
    let (data, _) = recorded_data(settings, &loaded).await?;
    let previous = registry.evaluation(&loaded.row, &loaded.metadata)?;
    let mut evaluation = evaluate(&loaded.model, &data, &device)?;
    evaluation.walk_forward = previous.walk_forward;
    let row = registry.store_evaluation(&loaded.row.version_id, &evaluation)?;
    Ok((row, evaluation))
}

/// A version's prepared data as it was trained: its recorded candles (checked against their
/// SHA-256), its features and split, and its own feature and target scalers; with the summary
/// of that data.
pub async fn recorded_data(
    settings: &Settings,
    loaded: &LoadedModel,
) -> Result<(PreparedData, DatasetSummary)> {
    let series = recorded_series(settings, loaded).await?;
    let schema = &loaded.schema;
    // As it was trained (a record from before fractions were stored reads the defaults, which
    // were the only fractions then), without walk-forward: that would retrain K models.
    let params = TrainSpec {
        sequence_length: schema.sequence_length,
        horizon: schema.target.horizon,
        feature_set: schema.feature_set.parse()?,
        walk_forward_folds: None,
        ..loaded.metadata.training_params.spec.clone()
    };
    let (mut data, summary) = prepare(&series, &params.check().map_err(Error::InvalidSpec)?)?;
    if data.matrix.names != schema.feature_names {
        return Err(Error::InvalidData(format!(
            "features {:?} do not match {}'s {:?}",
            data.matrix.names, loaded.row.version_id, schema.feature_names
        )));
    }
    // The version's own scalers, exactly as it was trained with.
    data.scaler = FeatureScaler {
        means: schema.means.clone(),
        stds: schema.stds.clone(),
    };
    data.scaled = data.scaler.transform(&data.matrix);
    data.target = schema.target.scaler();
    Ok((data, summary))
}

#[cfg(test)]
mod attention_map_tests {
    use super::block_means;

    #[test]
    fn a_long_window_is_averaged_into_at_most_the_cell_limit() {
        // 1,500 steps: each row sums to 1, as attention weights do.
        let size = 1_500;
        let values: Vec<f32> = (0..size * size)
            .map(|i| if i % size == i / size { 1.0 } else { 0.0 })
            .collect();
        let (cells, w) = block_means(&values, size, 200);
        assert_eq!((cells, w.len()), (200, 40_000));
        // The first block row covers query steps 0..7, whose ones all fall in key block 0.
        let row_sum: f32 = w[..200].iter().sum();
        assert!((row_sum - 1.0 / 7.0).abs() < 1e-6, "{row_sum}");
        assert!(w[0] > 0.0 && w[1] == 0.0);
        // Hand value: block (0, 0) covers 7 × 7 steps with 7 ones on its diagonal.
        assert!((w[0] - 7.0 / 49.0).abs() < 1e-6, "{}", w[0]);
        // A short window is passed through.
        assert_eq!(block_means(&values[..4], 2, 200), (2, values[..4].to_vec()));
    }
}
