//! atb-engine: everything atb does, with no terminal or GUI code. The `atb` CLI and the desktop
//! shell are two thin doors onto [`service`], which holds every user-level flow once.
//!
//! Data flows one way: market → features → dataset → training → evaluation → registry → export
//! (onnx), with inference beside the registry. The modules are private; what the doors may use is
//! listed below. Tests and benchmarks reach the internals through [`testing`] (the `testing`
//! feature).

/// Declares the internal modules: private, or public under the `testing` feature so the
/// engine's own integration tests and benchmarks can reach them.
macro_rules! internal_modules {
    ($($name:ident),* $(,)?) => {
        $(
            #[cfg(feature = "testing")]
            pub mod $name;
            #[cfg(not(feature = "testing"))]
            mod $name;
        )*
    };
}

internal_modules!(
    benchmark, dataset, evaluation, features, fsutil, gbdt, inference, market, onnx, registry,
    stats, store, training,
);
mod error;
mod gpu_check;
mod npy;
mod settings;

pub mod service;

pub use atb_protocol::spec::TrainSpec;
pub use atb_protocol::vocab::{
    Architecture, CandleSource, DeviceChoice, FeatureSet, Symbol, Timeframe, Variant,
};
pub use benchmark::inference::TimingPlan;
pub use benchmark::{BENCH_TAG, BenchProgress, BenchRequest};
pub use error::{Error, Result};
pub use fsutil::write_atomic;
pub use gpu_check::{DeviceTiming, GpuCheckReport, gpu_check};
pub use inference::NextClose;
pub use market::format_ms;
pub use market::source::{CandleSeries, DateRange};
pub use npy::{NpyF32, read_npy_f32};
pub use onnx::{ExportReport, PARITY_TOLERANCE};
pub use registry::VerifyReport;
pub use registry::metadata::{FeatureSchema, ModelMetadata, TrainingRecord};
pub use settings::Settings;
pub use training::{CancelToken, TrainOutcome};

/// The engine's internals, for its own integration tests and benchmarks (and nothing else).
#[cfg(feature = "testing")]
pub mod testing {
    pub use crate::{
        benchmark, dataset, evaluation, features, fsutil, gbdt, inference, market, onnx, registry,
        stats, store, training,
    };
}
