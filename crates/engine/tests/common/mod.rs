//! Helpers shared by the engine's integration tests.

use atb_engine::CandleSource;
use atb_engine::testing::market::sample::sample_candles;
use atb_engine::testing::market::source::CandleSeries;
use atb_engine::testing::market::{Symbol, Timeframe};
use atb_engine::testing::training::{CancelToken, TrainOutcome, TrainSpec, train};
use atb_models::{Architecture, DeviceChoice, Variant};

/// The last `n` candles of the bundled sample.
pub fn sample_tail(n: usize) -> CandleSeries {
    let all = sample_candles().unwrap();
    CandleSeries {
        symbol: "BTCUSDT".parse::<Symbol>().unwrap(),
        timeframe: Timeframe::H1,
        source: CandleSource::Sample,
        candles: all[all.len() - n..].to_vec(),
    }
}

/// CPU training parameters for one pair.
pub fn params(architecture: Architecture, variant: Variant, epochs: usize) -> TrainSpec {
    TrainSpec {
        architecture,
        variant,
        epochs,
        device: DeviceChoice::Cpu,
        ..TrainSpec::default()
    }
}

/// A quickly trained `lstm lightweight`: one epoch on the last 1,200 sample candles.
#[allow(dead_code)] // not every test file registers a version
pub fn quick_outcome() -> TrainOutcome {
    train(
        &sample_tail(1_200),
        &params(Architecture::Lstm, Variant::Lightweight, 1),
        &mut |_| {},
        &CancelToken::new(),
    )
    .unwrap()
}
