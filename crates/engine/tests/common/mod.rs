//! Helpers shared by the engine's integration tests.

use atb_engine::market::sample::sample_candles;
use atb_engine::market::source::{CandleSeries, CandleSource};
use atb_engine::market::{Interval, Symbol};
use atb_engine::training::TrainingParams;
use atb_models::{DeviceChoice, ModelType, Variant};

/// The last `n` candles of the bundled sample.
pub fn sample_tail(n: usize) -> CandleSeries {
    let all = sample_candles().unwrap();
    CandleSeries {
        symbol: "BTCUSDT".parse::<Symbol>().unwrap(),
        interval: Interval::H1,
        source: CandleSource::Sample,
        candles: all[all.len() - n..].to_vec(),
    }
}

/// CPU training parameters for one pair.
pub fn params(model_type: ModelType, variant: Variant, epochs: usize) -> TrainingParams {
    TrainingParams {
        model_type,
        variant,
        epochs,
        device: DeviceChoice::Cpu,
        ..TrainingParams::default()
    }
}
