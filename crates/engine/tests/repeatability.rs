//! A seed makes a CPU run repeatable. Alone in its own test binary: Burn's CPU random source is
//! shared by the whole process, so concurrent runs (other tests) would draw from it in between.

use atb_engine::market::sample::sample_candles;
use atb_engine::market::source::{CandleSeries, CandleSource};
use atb_engine::market::{Interval, Symbol};
use atb_engine::training::{CancelToken, TrainingParams, train};
use atb_models::{DeviceChoice, ModelType, Variant};

fn sample_tail(n: usize) -> CandleSeries {
    let all = sample_candles().unwrap();
    CandleSeries {
        symbol: "BTCUSDT".parse::<Symbol>().unwrap(),
        interval: Interval::H1,
        source: CandleSource::Sample,
        candles: all[all.len() - n..].to_vec(),
    }
}

fn params(model_type: ModelType, variant: Variant, epochs: usize) -> TrainingParams {
    TrainingParams {
        model_type,
        variant,
        epochs,
        device: DeviceChoice::Cpu,
        ..TrainingParams::default()
    }
}

#[test]
fn the_same_seed_gives_the_same_cpu_run() {
    let series = sample_tail(1_200);
    let run = |seed| {
        let p = TrainingParams {
            seed,
            ..params(ModelType::Tcn, Variant::Lightweight, 2)
        };
        train(&series, &p, &mut |_| {}, &CancelToken::new())
            .unwrap()
            .history
    };
    let (a, b, c) = (run(7), run(7), run(8));
    let losses = |h: &Vec<atb_protocol::training::EpochRecord>| {
        h.iter()
            .map(|e| (e.train_loss, e.val_loss))
            .collect::<Vec<_>>()
    };
    assert_eq!(losses(&a), losses(&b));
    assert_ne!(losses(&a), losses(&c));
}
