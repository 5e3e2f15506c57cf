//! The engine's answers in the shapes the desktop UI reads (`atb_protocol::desktop`): a form's
//! series and training request turned into engine values, the price chart of a series, and the
//! full detail of a registered version. The CLI reaches the same engine calls through its flags.

use atb_models::{DeviceChoice, ModelType, Variant};
use atb_protocol::desktop::{CandleChart, ModelDetail, SeriesRequest, TrainRequest};

use crate::error::{Error, Result};
use crate::features::FeatureSet;
use crate::market::source::{CandleSeries, CandleSource, DateRange, load_candles};
use crate::market::{Interval, Symbol};
use crate::registry::Registry;
use crate::settings::Settings;
use crate::store::candles::CandleStore;
use crate::training::TrainingParams;

/// A series request resolved into engine values.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesChoice {
    pub source: CandleSource,
    pub symbol: Symbol,
    pub interval: Interval,
    pub range: DateRange,
}

impl SeriesChoice {
    /// Parses a request; with no range, Binance means the last year (as `atb train model`) and
    /// files and the sample mean everything they hold.
    pub fn from_request(r: &SeriesRequest) -> Result<Self> {
        let source: CandleSource = r.source.parse()?;
        let range =
            match DateRange::from_args(r.days, r.start_date.as_deref(), r.end_date.as_deref())? {
                DateRange::All if source == CandleSource::Binance => DateRange::LastDays(365),
                other => other,
            };
        Ok(Self {
            source,
            symbol: r.symbol.parse()?,
            interval: r.timeframe.parse()?,
            range,
        })
    }

    /// Loads the candles (fetching what Binance's store lacks).
    pub async fn load(&self, settings: &Settings) -> Result<CandleSeries> {
        load_candles(
            settings,
            &self.source,
            &self.symbol,
            self.interval,
            self.range,
            &mut |_| {},
        )
        .await
    }
}

impl TrainingParams {
    /// The engine's parameters for a desktop training request (checked by `validate`).
    pub fn from_request(r: &TrainRequest) -> Result<Self> {
        let params = Self {
            model_type: r.model_type.parse::<ModelType>()?,
            variant: r.variant.parse::<Variant>()?,
            epochs: r.epochs,
            batch_size: r.batch_size,
            sequence_length: r.sequence_length,
            learning_rate: r.learning_rate,
            patience: r.patience,
            horizon: r.horizon,
            feature_set: r.feature_set.parse::<FeatureSet>()?,
            seed: r.seed,
            device: r.device.parse::<DeviceChoice>()?,
            grad_clip_norm: r.grad_clip,
            walk_forward_folds: r.folds,
            ..Self::default()
        };
        params.validate()?;
        Ok(params)
    }
}

/// Closes of `series` thinned evenly to at most `max_points` (first and last kept), with every
/// gap of the full series.
pub fn candle_chart(series: &CandleSeries, max_points: usize) -> CandleChart {
    let n = series.candles.len();
    let step = n.div_ceil(max_points.max(2)).max(1);
    let mut picks: Vec<usize> = (0..n).step_by(step).collect();
    if n > 0 && picks.last() != Some(&(n - 1)) {
        picks.push(n - 1);
    }
    CandleChart {
        symbol: series.symbol.to_string(),
        timeframe: series.interval.to_string(),
        source: series.source.to_string(),
        candles: n,
        open_times_ms: picks.iter().map(|&i| series.candles[i].open_time).collect(),
        closes: picks.iter().map(|&i| series.candles[i].close).collect(),
        gaps: series.gaps(),
        interval_ms: series.interval.millis(),
    }
}

/// The chart of a series as stored: Binance series are read from the local store only (a chart
/// never fetches), files and the sample are read whole.
pub async fn stored_chart(
    settings: &Settings,
    choice: &SeriesChoice,
    max_points: usize,
) -> Result<CandleChart> {
    let series = match choice.source {
        CandleSource::Binance => {
            let store = CandleStore::open(&settings.database_path())?;
            let Some(last) = store.last_open_time(&choice.symbol, choice.interval)? else {
                return Err(Error::TooLittleData(format!(
                    "no {} {} candles are stored yet: fetch them first",
                    choice.symbol, choice.interval
                )));
            };
            let (start, end) = choice.range.resolve(last + choice.interval.millis());
            CandleSeries {
                symbol: choice.symbol.clone(),
                interval: choice.interval,
                source: CandleSource::Binance,
                candles: store.candles(&choice.symbol, choice.interval, start, end)?,
            }
        }
        _ => choice.load(settings).await?,
    };
    if series.candles.is_empty() {
        return Err(Error::TooLittleData(format!(
            "{} has no {} {} candles in that range",
            choice.source, choice.symbol, choice.interval
        )));
    }
    Ok(candle_chart(&series, max_points))
}

impl Registry {
    /// Everything recorded about a version: row, metadata, history, evaluation and ONNX export.
    pub fn detail(&self, reference: &str) -> Result<ModelDetail> {
        let row = self.resolve(reference)?;
        let metadata = self.metadata(&row)?;
        let evaluation = self.evaluation(&row, &metadata)?;
        let export = self.onnx_export(&row)?;
        let training_params = serde_json::to_value(&metadata.training_params)
            .map_err(|e| Error::InvalidData(format!("training parameters: {e}")))?;
        Ok(ModelDetail {
            folder: self.home().join(&row.folder).display().to_string(),
            training_params,
            dataset: metadata.dataset,
            evaluation,
            history: metadata.training_history,
            device: metadata.device,
            export,
            row,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::Candle;

    fn series(n: usize, skip: std::ops::Range<usize>) -> CandleSeries {
        let hour = 3_600_000;
        CandleSeries {
            symbol: "BTCUSDT".parse().unwrap(),
            interval: Interval::H1,
            source: CandleSource::Sample,
            candles: (0..n)
                .filter(|i| !skip.contains(i))
                .map(|i| Candle {
                    open_time: i as i64 * hour,
                    open: 1.0,
                    high: 1.0,
                    low: 1.0,
                    close: i as f64,
                    volume: 1.0,
                })
                .collect(),
        }
    }

    #[test]
    fn chart_thins_keeps_ends_and_reports_gaps() {
        let c = candle_chart(&series(1000, 10..13), 100);
        assert_eq!(c.candles, 997);
        assert!(c.closes.len() <= 101, "{}", c.closes.len());
        assert_eq!(c.closes.first(), Some(&0.0));
        assert_eq!(c.closes.last(), Some(&999.0));
        assert_eq!(c.gaps.len(), 1);
        assert_eq!(c.gaps[0].missing, 3);
        let small = candle_chart(&series(5, 0..0), 100);
        assert_eq!(small.closes, [0.0, 1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn requests_resolve_like_the_cli() {
        let binance = SeriesChoice::from_request(&SeriesRequest {
            source: "binance".into(),
            ..SeriesRequest::default()
        })
        .unwrap();
        assert_eq!(binance.range, DateRange::LastDays(365));
        let sample = SeriesChoice::from_request(&SeriesRequest::default()).unwrap();
        assert_eq!(sample.range, DateRange::All);
        let bad = SeriesChoice::from_request(&SeriesRequest {
            timeframe: "7m".into(),
            ..SeriesRequest::default()
        });
        assert!(bad.unwrap_err().to_string().contains("7m"));
        let params = TrainingParams::from_request(&TrainRequest::default()).unwrap();
        assert_eq!(params.epochs, 100);
        let nonsense = TrainRequest {
            batch_size: 0,
            ..TrainRequest::default()
        };
        assert!(TrainingParams::from_request(&nonsense).is_err());
    }
}
