//! Training benchmark: seconds per epoch and samples per second for each default architecture
//! on the bundled sample (CPU, and the GPU when one is present), the peak memory of the process,
//! and the feature pipeline on 500,000 candles. Prints figures; asserts nothing about speed.
//!
//! Run: `cargo bench -p atb-engine --bench training` (`-- --quick` trains on the last 2,000
//! candles instead of the whole sample).

use std::time::Instant;

use atb_engine::CandleSource;
use atb_engine::testing::features::{FeatureSet, compute_features};
use atb_engine::testing::market::Candle;
use atb_engine::testing::market::sample::sample_candles;
use atb_engine::testing::market::source::CandleSeries;
use atb_engine::testing::training::{CancelToken, TrainSpec, train};
use atb_models::{Architecture, DeviceChoice, Variant, select_device};
use atb_protocol::training::TrainingEvent;

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sample = sample_candles().expect("sample");

    // Feature pipeline on 500,000 candles: the sample repeated, times shifted to stay monotonic.
    let big: Vec<Candle> = (0..500_000)
        .map(|i| {
            let c = sample[i % sample.len()];
            Candle {
                open_time: i as i64 * 3_600_000,
                ..c
            }
        })
        .collect();
    for set in [FeatureSet::Price, FeatureSet::Technical] {
        let started = Instant::now();
        let m = compute_features(&big, set).expect("features");
        println!(
            "features {:<9} 500,000 candles -> {} x {} in {:.0} ms",
            set.as_str(),
            m.rows,
            m.width(),
            started.elapsed().as_secs_f64() * 1e3
        );
    }

    let candles = if quick {
        sample[sample.len() - 2_000..].to_vec()
    } else {
        sample.to_vec()
    };
    let series = CandleSeries {
        symbol: "BTCUSDT".parse().expect("symbol"),
        timeframe: atb_engine::testing::market::Timeframe::H1,
        source: CandleSource::Sample,
        candles,
        context: None,
    };
    let mut devices = vec![DeviceChoice::Cpu];
    if select_device(DeviceChoice::Auto).is_ok_and(|d| d.is_gpu) {
        devices.push(DeviceChoice::Gpu);
    }
    println!(
        "\none epoch per model, batch 32, sequence 120, {} candles",
        series.candles.len()
    );
    println!(
        "{:<16} {:<36} {:>10} {:>12} {:>10}",
        "model", "device", "s/epoch", "samples/s", "params"
    );
    for device in devices {
        for architecture in Architecture::NETWORKS {
            let params = TrainSpec {
                architecture,
                variant: Variant::Default,
                epochs: 1,
                device,
                ..TrainSpec::default()
            };
            let mut device_name = String::new();
            let mut samples = 0usize;
            let started = Instant::now();
            let outcome = train(
                &series,
                &params.clone().check().expect("a valid spec"),
                &mut |e| {
                    if let TrainingEvent::RunStarted {
                        device, dataset, ..
                    } = e
                    {
                        device_name = device;
                        samples = dataset.train.samples;
                    }
                },
                &CancelToken::new(),
            )
            .expect("train");
            let epoch_s = outcome.history[0].seconds;
            println!(
                "{:<16} {:<36} {:>10.2} {:>12.0} {:>10}   (run incl. evaluation {:.1} s)",
                architecture.as_str(),
                device_name,
                epoch_s,
                samples as f64 / epoch_s,
                outcome.parameters,
                started.elapsed().as_secs_f64()
            );
        }
    }
    if let Some(peak) = peak_rss_mib() {
        println!("\npeak resident memory of this process: {peak:.0} MiB");
    }
}
