//! Criterion benchmarks of the hot paths: kline JSON parsing (1,000 candles), the feature
//! pipeline (500,000 candles), window batching (one epoch of the sample), one training step per
//! default architecture (batch 32 x 120 x 5, CPU), single-window inference (Burn and tract), and
//! the "worth deploying" statistics on the whole sample's test split: the model confidence set
//! over 18 versions and the two baselines, and one backtest.
//!
//! Run: `cargo bench -p atb-engine --bench hot_paths` (add `-- PATTERN` to pick some).

use std::time::Duration;

use atb_engine::Timeframe;
use atb_engine::TrainedModel;
use atb_engine::testing::benchmark::inference::synthetic_windows;
use atb_engine::testing::dataset::{PreparedData, SplitFractions, Target};
use atb_engine::testing::features::{FeatureSet, compute_features};
use atb_engine::testing::inference::{BurnPredictor, WindowPredictor};
use atb_engine::testing::market::Candle;
use atb_engine::testing::market::binance::parse_klines;
use atb_engine::testing::market::sample::sample_candles;
use atb_engine::testing::onnx::{OnnxDocument, OnnxModel, model_document};
use atb_models::burn::nn::loss::{MseLoss, Reduction};
use atb_models::burn::optim::GradientsParams;
use atb_models::burn::prelude::*;
use atb_models::{Architecture, ModelOverrides, Variant, build_model};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const L: usize = 120;
const F: usize = 5;

fn klines_body(candles: &[Candle]) -> Vec<u8> {
    let rows: Vec<String> = candles
        .iter()
        .map(|c| {
            format!(
                "[{},\"{}\",\"{}\",\"{}\",\"{}\",\"{}\",{},\"0\",100,\"0\",\"0\",\"0\"]",
                c.open_time,
                c.open,
                c.high,
                c.low,
                c.close,
                c.volume,
                c.open_time + 3_599_999
            )
        })
        .collect();
    format!("[{}]", rows.join(",")).into_bytes()
}

fn parsing_and_features(c: &mut Criterion) {
    let sample = sample_candles().expect("sample");
    let body = klines_body(&sample[..1_000]);
    let mut g = c.benchmark_group("data");
    g.throughput(Throughput::Elements(1_000));
    g.bench_function("parse_klines_1000", |b| {
        b.iter(|| parse_klines(&body, Timeframe::H1, i64::MAX).expect("parse"))
    });
    let big: Vec<Candle> = (0..500_000)
        .map(|i| Candle {
            open_time: i as i64 * 3_600_000,
            ..sample[i % sample.len()]
        })
        .collect();
    g.throughput(Throughput::Elements(500_000));
    g.sample_size(10);
    for set in [FeatureSet::Price, FeatureSet::Technical] {
        g.bench_function(BenchmarkId::new("features_500k", set.as_str()), |b| {
            b.iter(|| compute_features(&big, set).expect("features"))
        });
    }
    let matrix = compute_features(sample, FeatureSet::Price).expect("features");
    let data =
        PreparedData::new(matrix, L, 1, Target::Return, SplitFractions::default()).expect("data");
    let train: Vec<usize> = data.split.train.clone().collect();
    g.throughput(Throughput::Elements(train.len() as u64));
    g.bench_function("batch_one_epoch_of_the_sample", |b| {
        b.iter(|| {
            // black_box keeps the copies from being optimised away.
            for chunk in train.chunks(32) {
                std::hint::black_box(data.batch(chunk));
            }
        })
    });
    g.finish();
}

fn training_steps(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let mut g = c.benchmark_group("train_step_batch32");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for architecture in Architecture::NETWORKS {
        let (model, _) = build_model(
            architecture,
            Variant::Default,
            [L, F],
            &ModelOverrides::default(),
            &device,
        )
        .expect("model");
        let x: Tensor<3> = Tensor::from_data(
            TensorData::new(synthetic_windows(32, L, F), [32, L, F]),
            &device,
        );
        let y: Tensor<2> = Tensor::zeros([32, 1], &device);
        let mut optimizer = atb_models::optim::adam();
        let mut model = Some(model);
        g.bench_function(architecture.as_str(), |b| {
            b.iter(|| {
                let Some(m) = model.take() else { return };
                let loss = MseLoss::new().forward(m.forward(x.clone()), y.clone(), Reduction::Mean);
                let grads = GradientsParams::from_grads(loss.backward(), &m);
                model = Some(optimizer.step(1e-4, m, grads));
            })
        });
    }
    g.finish();
}

fn document(architecture: Architecture) -> OnnxDocument {
    OnnxDocument::standalone(architecture.as_str(), "default", L, F)
}

fn single_window_inference(c: &mut Criterion) {
    let device = Device::flex();
    let window = synthetic_windows(1, L, F);
    let mut g = c.benchmark_group("single_window");
    g.sample_size(20);
    for architecture in Architecture::NETWORKS {
        let (model, config) = build_model(
            architecture,
            Variant::Default,
            [L, F],
            &ModelOverrides::default(),
            &device,
        )
        .expect("model");
        let burn = BurnPredictor {
            model: &model,
            device: &device,
        };
        g.bench_function(BenchmarkId::new("burn_cpu", architecture.as_str()), |b| {
            b.iter(|| {
                burn.predict_windows(window.clone(), [1, L, F])
                    .expect("burn")
            })
        });
        let onnx = OnnxModel::from_bytes(
            &model_document(
                &TrainedModel::Network {
                    model: model.clone(),
                    config,
                },
                &document(architecture),
            )
            .expect("export"),
        )
        .expect("tract");
        g.bench_function(BenchmarkId::new("onnx_tract", architecture.as_str()), |b| {
            b.iter(|| onnx.predict(&window, 1).expect("tract"))
        });
    }
    g.finish();
}

/// The model confidence set over 18 forecasts plus persistence and drift on the sample's last
/// 15% (about 2,700 hourly windows, the size of the default test split), and one backtest of them. The
/// forecasts are the realised return shrunk towards zero with noise, each differently, so the
/// set has something to separate; what is timed is the statistics, not the models.
fn worth_deploying(c: &mut Criterion) {
    use atb_engine::testing::backtest::{Signals, backtest};
    use atb_engine::testing::selection::model_confidence_set;
    use atb_protocol::backtest::BacktestSpec;
    use atb_protocol::selection::{MCS_ALPHA, McsStatistic};

    let sample = sample_candles().expect("sample");
    let closes: Vec<f64> = sample.iter().map(|c| c.close).collect();
    let start = closes.len() * 85 / 100;
    let n = closes.len() - 1 - start;
    let actual: Vec<f64> = (start..start + n)
        .map(|t| (closes[t + 1] / closes[t]).ln())
        .collect();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut noise = move || {
        // xorshift: reproducible noise without another dependency.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let forecasts: Vec<Vec<f64>> = (0..18)
        .map(|k| {
            actual
                .iter()
                .map(|a| 0.02 * k as f64 * a + 0.004 * noise())
                .collect()
        })
        .collect();
    let price_loss = |f: &[f64]| -> Vec<f64> {
        (0..n)
            .map(|i| (closes[start + i] * (f[i].exp() - actual[i].exp())).abs())
            .collect()
    };
    let mut names: Vec<String> = (0..18).map(|k| format!("version {k}")).collect();
    let mut losses: Vec<Vec<f64>> = forecasts.iter().map(|f| price_loss(f)).collect();
    names.push("persistence".into());
    losses.push(price_loss(&vec![0.0; n]));
    names.push("drift".into());
    losses.push(price_loss(&vec![1e-5; n]));
    let mut g = c.benchmark_group("worth_deploying");
    g.sample_size(10);
    g.bench_function(format!("mcs_tmax_20_models_{n}_windows"), |b| {
        b.iter(|| {
            model_confidence_set(&names, &losses, 1, McsStatistic::Max, MCS_ALPHA, "abs")
                .expect("mcs")
        })
    });
    let last: Vec<f64> = (start..start + n)
        .map(|t| (closes[t] / closes[t - 1]).ln())
        .collect();
    let times: Vec<i64> = (0..n as i64).map(|i| i * 3_600_000).collect();
    let exits: Vec<i64> = times.iter().map(|t| t + 3_600_000).collect();
    let spec = BacktestSpec::default();
    g.bench_function(format!("backtest_{n}_windows"), |b| {
        b.iter(|| {
            backtest(
                &Signals {
                    forecast: &forecasts[3],
                    actual: &actual,
                    last_move: &last,
                    entry_ms: &times,
                    exit_ms: &exits,
                },
                1,
                3_600_000,
                &spec,
            )
            .expect("backtest")
        })
    });
    g.finish();
}

criterion_group!(
    hot_paths,
    parsing_and_features,
    training_steps,
    single_window_inference,
    worth_deploying
);
criterion_main!(hot_paths);
