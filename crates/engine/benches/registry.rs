//! What power-loss durability costs a registration: one small trained model registered 15 times
//! with the registry's durability (`synchronous=FULL`, folder fsyncs after the renames) and 15
//! times without, into fresh registries on the same disk. Prints the median and the slowest;
//! asserts nothing about speed.
//!
//! Run: `cargo bench -p atb-engine --bench registry` (or `--profile dev --workspace`).

use std::time::Instant;

use atb_engine::testing::market::sample::sample_candles;
use atb_engine::testing::market::source::CandleSeries;
use atb_engine::testing::registry::Registry;
use atb_engine::testing::training::{CancelToken, TrainSpec, train};
use atb_engine::{Architecture, CandleSource, DeviceChoice, Settings, Timeframe, Variant};

const REGISTRATIONS: usize = 15;

fn main() {
    let sample = sample_candles().expect("sample");
    let series = CandleSeries {
        symbol: "BTCUSDT".parse().expect("symbol"),
        timeframe: Timeframe::H1,
        source: CandleSource::Sample,
        candles: sample[sample.len() - 1_200..].to_vec(),
        context: None,
    };
    let spec = TrainSpec {
        architecture: Architecture::Lstm,
        variant: Variant::Lightweight,
        epochs: 1,
        sequence_length: 48,
        device: DeviceChoice::Cpu,
        ..TrainSpec::default()
    };
    let outcome = train(
        &series,
        &spec.check().expect("a valid spec"),
        &mut |_| {},
        &CancelToken::new(),
    )
    .expect("train");
    println!("registering one lstm lightweight {REGISTRATIONS} times per setting");
    for durable in [false, true] {
        let home = tempfile::tempdir().expect("temp dir");
        let settings = Settings::resolve(home.path().to_path_buf(), None).expect("settings");
        let mut registry = Registry::open(&settings).expect("registry");
        if !durable {
            registry = registry.without_durability().expect("pragma");
        }
        let mut ms: Vec<f64> = (0..REGISTRATIONS)
            .map(|_| {
                let started = Instant::now();
                registry.register(&outcome, None, true).expect("register");
                started.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        println!(
            "{:<44} median {:>7.1} ms   slowest {:>7.1} ms",
            if durable {
                "durable (synchronous=FULL, folder fsyncs)"
            } else {
                "without (synchronous=NORMAL, no folder fsyncs)"
            },
            ms[ms.len() / 2],
            ms[ms.len() - 1]
        );
    }
}
