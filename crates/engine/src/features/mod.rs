//! Causal features with polars: row t is computed from candles 0..=t only (shifts look back,
//! rolling windows trail, exponential averages run forward without adjustment).
//!
//! `price` (5 features): log return of close, log(high / close), log(low / close),
//! log1p(volume), and log of (1 + volume) over (1 + its trailing 24-bar mean) — relative volume;
//! the ones keep zero-volume halts finite. Not log(open / previous close): on Binance the open
//! equals the previous close, so that is rounding noise.
//! `technical` adds close / SMA(7, 14, 30) - 1, RSI(14) with Wilder smoothing (0..1), 24-bar
//! realised volatility of log returns, ATR(14) / close (Wilder) and the MACD(12, 26, 9)
//! histogram / close.
//!
//! `wavelet` and `wavelet_haar` add a causal wavelet decomposition of log returns and log
//! volume ([`wavelet`]: four levels of details and the smooth). `flow` adds Binance's order
//! flow ([`flow`]): the taker-buy share of volume, its deviation from its 24-bar mean, and trades
//! per unit of volume; candles without order flow are refused, naming the fix. A cross-asset
//! context ([`context`]) appends another market's return and relative volume to any set.
//!
//! Rows are consecutive candles; a gap in the data makes the next return span it (the gaps are
//! reported with the data, never filled).

pub mod context;
pub mod flow;
pub mod wavelet;

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::market::Candle;

pub use atb_protocol::vocab::{FeatureSet, WAVELET_LEVELS};
/// The features of `set` over a loaded series, with its context market's columns when it
/// carries one: a set that reads order flow is refused before any work when a candle lacks
/// it, naming the fix (see [`flow::require_order_flow`]).
pub fn series_features(
    series: &crate::market::source::CandleSeries,
    set: FeatureSet,
) -> Result<FeatureMatrix> {
    flow::require_order_flow(series, set)?;
    let matrix = compute_features(&series.candles, set)?;
    match &series.context {
        Some(context) => context::join_context(matrix, context),
        None => Ok(matrix),
    }
}

/// Raw (unscaled) features, one row per candle after the warm-up, row-major.
#[derive(Debug, Clone)]
pub struct FeatureMatrix {
    pub names: Vec<String>,
    pub values: Vec<f32>,
    pub rows: usize,
    /// Open time and close of the candle of each row (for targets and price metrics).
    pub open_times: Vec<i64>,
    pub closes: Vec<f64>,
    /// Candles dropped at the start.
    pub warmup_rows: usize,
    /// Rows left out because the context market had no candle there (0 without a context).
    pub context_rows_dropped: usize,
}

impl FeatureMatrix {
    pub fn width(&self) -> usize {
        self.names.len()
    }

    pub fn row(&self, r: usize) -> &[f32] {
        &self.values[r * self.width()..(r + 1) * self.width()]
    }
}

fn rolling(window: usize) -> RollingOptionsFixedWindow {
    RollingOptionsFixedWindow {
        window_size: window,
        min_periods: window,
        ..Default::default()
    }
}

fn wilder(period: usize) -> EWMOptions {
    EWMOptions {
        alpha: 1.0 / period as f64,
        adjust: false,
        bias: false,
        min_periods: 1,
        ignore_nulls: true,
    }
}

fn ema(span: usize) -> EWMOptions {
    EWMOptions {
        alpha: 2.0 / (span as f64 + 1.0),
        adjust: false,
        bias: false,
        min_periods: 1,
        ignore_nulls: true,
    }
}

fn ln(e: Expr) -> Expr {
    e.log(lit(std::f64::consts::E))
}

fn positive_part(e: Expr) -> Expr {
    when(e.clone().gt(lit(0.0))).then(e).otherwise(lit(0.0))
}

fn max(a: Expr, b: Expr) -> Expr {
    when(a.clone().gt_eq(b.clone())).then(a).otherwise(b)
}

fn feature_exprs(set: FeatureSet) -> Vec<Expr> {
    let prev_close = col("close").shift(lit(1));
    let log_return = ln(col("close") / prev_close.clone());
    let mut exprs = vec![
        log_return.clone().alias("log_return"),
        ln(col("high") / col("close")).alias("log_high_close"),
        ln(col("low") / col("close")).alias("log_low_close"),
        col("volume").log1p().alias("log1p_volume"),
        (col("volume").log1p() - col("volume").rolling_mean(rolling(24)).log1p())
            .alias("log_relative_volume_24"),
    ];
    if set == FeatureSet::Technical {
        let change = col("close") - prev_close.clone();
        let gain = positive_part(change.clone()).ewm_mean(wilder(14));
        let loss = positive_part(-change).ewm_mean(wilder(14));
        // A flat stretch (no gains, no losses) is neutral: 0.5.
        let rsi = when((gain.clone() + loss.clone()).gt(lit(0.0)))
            .then(gain.clone() / (gain + loss))
            .otherwise(lit(0.5));
        let true_range = max(
            col("high") - col("low"),
            max(
                (col("high") - prev_close.clone()).abs(),
                (col("low") - prev_close).abs(),
            ),
        );
        let macd = col("close").ewm_mean(ema(12)) - col("close").ewm_mean(ema(26));
        exprs.extend([
            (col("close") / col("close").rolling_mean(rolling(7)) - lit(1.0)).alias("close_sma7"),
            (col("close") / col("close").rolling_mean(rolling(14)) - lit(1.0)).alias("close_sma14"),
            (col("close") / col("close").rolling_mean(rolling(30)) - lit(1.0)).alias("close_sma30"),
            rsi.alias("rsi14"),
            log_return.rolling_std(rolling(24)).alias("volatility24"),
            (true_range.ewm_mean(wilder(14)) / col("close")).alias("atr14_close"),
            ((macd.clone() - macd.ewm_mean(ema(9))) / col("close")).alias("macd_hist_close"),
        ]);
    }
    exprs
}

/// Computes `set` over `candles` (chronological) and drops the warm-up rows.
pub fn compute_features(candles: &[Candle], set: FeatureSet) -> Result<FeatureMatrix> {
    let warmup = set.warmup_rows();
    if candles.len() <= warmup {
        return Err(Error::TooLittleData(format!(
            "the {set} features need more than {warmup} candles to warm up; got {}",
            candles.len()
        )));
    }
    let column = |name: &str, f: fn(&Candle) -> f64| {
        Column::new(name.into(), candles.iter().map(f).collect::<Vec<f64>>())
    };
    let df = DataFrame::new_infer_height(vec![
        column("open", |c| c.open),
        column("high", |c| c.high),
        column("low", |c| c.low),
        column("close", |c| c.close),
        column("volume", |c| c.volume),
    ])
    .map_err(polars_error)?;
    let exprs = feature_exprs(set);
    let computed_by_polars = exprs.len();
    let out = df.lazy().select(exprs).collect().map_err(polars_error)?;
    let names = set.feature_names();
    let mut columns = Vec::with_capacity(names.len());
    for name in &names[..computed_by_polars] {
        let series = out
            .column(name)
            .map_err(polars_error)?
            .as_materialized_series()
            .f64()
            .map_err(polars_error)?
            .clone();
        columns.push(
            series
                .to_vec()
                .into_iter()
                .map(|v| v.unwrap_or(f64::NAN))
                .collect::<Vec<f64>>(),
        );
    }
    columns.extend(extra_columns(candles, set)?);
    debug_assert_eq!(columns.len(), names.len(), "{set}: a column per name");
    let rows = candles.len() - warmup;
    let mut values = vec![0f32; rows * names.len()];
    for (j, (name, column)) in names.iter().zip(&columns).enumerate() {
        for (r, &v) in column.iter().skip(warmup).enumerate() {
            let v = Some(v).filter(|v| v.is_finite()).ok_or_else(|| {
                Error::InvalidData(format!(
                    "feature {name} is not finite at candle {} (open time {}): check the candles for zero prices",
                    r + warmup,
                    candles[r + warmup].open_time
                ))
            })?;
            values[r * names.len() + j] = v as f32;
        }
    }
    Ok(FeatureMatrix {
        names,
        values,
        rows,
        open_times: candles[warmup..].iter().map(|c| c.open_time).collect(),
        closes: candles[warmup..].iter().map(|c| c.close).collect(),
        warmup_rows: warmup,
        context_rows_dropped: 0,
    })
}

/// The columns after the polars-computed ones, in the order of the set's names: the wavelet
/// decompositions, or the order-flow features.
fn extra_columns(candles: &[Candle], set: FeatureSet) -> Result<Vec<Vec<f64>>> {
    let filter = match set {
        FeatureSet::Price | FeatureSet::Technical => return Ok(Vec::new()),
        FeatureSet::Flow => return flow::flow_columns(candles),
        FeatureSet::Wavelet => wavelet::Wavelet::Daubechies4,
        FeatureSet::WaveletHaar => wavelet::Wavelet::Haar,
    };
    let log_returns: Vec<f64> = std::iter::once(f64::NAN)
        .chain(candles.windows(2).map(|w| (w[1].close / w[0].close).ln()))
        .collect();
    let log_volume: Vec<f64> = candles.iter().map(|c| c.volume.ln_1p()).collect();
    let mut columns = Vec::new();
    for input in [log_returns, log_volume] {
        let (details, smooth) = wavelet::causal_modwt(&input, filter, WAVELET_LEVELS);
        columns.extend(details);
        columns.push(smooth);
    }
    Ok(columns)
}

fn polars_error(e: PolarsError) -> Error {
    Error::InvalidData(format!("feature computation failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::sample::sample_candles;

    #[test]
    fn price_features_match_hand_computation() {
        let c = &sample_candles().unwrap()[..200];
        let m = compute_features(c, FeatureSet::Price).unwrap();
        assert_eq!(m.width(), 5);
        assert_eq!(m.rows, 200 - 24);
        let t = 24; // first kept candle
        let row = m.row(0);
        let close_ratio = (c[t].close / c[t - 1].close).ln();
        assert!((f64::from(row[0]) - close_ratio).abs() < 1e-6);
        assert!((f64::from(row[1]) - (c[t].high / c[t].close).ln()).abs() < 1e-6);
        assert!((f64::from(row[2]) - (c[t].low / c[t].close).ln()).abs() < 1e-6);
        assert!((f64::from(row[3]) - c[t].volume.ln_1p()).abs() < 1e-5);
        let mean24: f64 = c[t - 23..=t].iter().map(|c| c.volume).sum::<f64>() / 24.0;
        assert!((f64::from(row[4]) - (c[t].volume.ln_1p() - mean24.ln_1p())).abs() < 1e-5);
        assert_eq!(m.open_times[0], c[t].open_time);
    }

    #[test]
    fn features_are_causal() {
        let c = sample_candles().unwrap()[..400].to_vec();
        let without_flow = FeatureSet::ALL.iter().filter(|s| !s.needs_order_flow());
        for &set in without_flow {
            let base = compute_features(&c, set).unwrap();
            let mut future = c.clone();
            for candle in &mut future[300..] {
                candle.close *= 1.5;
                candle.high *= 1.6;
                candle.open *= 1.5;
                candle.low *= 1.4;
                candle.volume *= 10.0;
            }
            let changed = compute_features(&future, set).unwrap();
            let cut = 300 - set.warmup_rows(); // rows before candle 300
            for r in 0..cut {
                assert_eq!(base.row(r), changed.row(r), "{set}: row {r} saw the future");
            }
            assert_ne!(
                base.row(cut),
                changed.row(cut),
                "{set}: the perturbation had no effect"
            );
        }
    }

    #[test]
    fn wavelet_sets_drop_exactly_the_rows_their_filters_need() {
        for (set, filter) in [
            (FeatureSet::Wavelet, wavelet::Wavelet::Daubechies4),
            (FeatureSet::WaveletHaar, wavelet::Wavelet::Haar),
        ] {
            // The first log return needs the candle before it.
            let first_full = filter.span(WAVELET_LEVELS);
            assert_eq!(set.warmup_rows(), first_full.max(24), "{set}");
            let c = &sample_candles().unwrap()[..300];
            let m = compute_features(c, set).unwrap();
            assert_eq!(m.width(), 15);
            // The detail columns are the filter bank's, row for row.
            let returns: Vec<f64> = std::iter::once(f64::NAN)
                .chain(c.windows(2).map(|w| (w[1].close / w[0].close).ln()))
                .collect();
            let (details, smooth) = wavelet::causal_modwt(&returns, filter, WAVELET_LEVELS);
            let t = 200;
            let row = m.row(t - m.warmup_rows);
            for (j, d) in details.iter().enumerate() {
                assert!(
                    (f64::from(row[5 + j]) - d[t]).abs() < 1e-6,
                    "{set} d{}",
                    j + 1
                );
            }
            assert!((f64::from(row[9]) - smooth[t]).abs() < 1e-6);
            // One row earlier would have reached before the first return.
            assert!(details[3][set.warmup_rows() - 1].is_nan() || set.warmup_rows() > first_full);
        }
    }

    #[test]
    fn technical_features_are_finite_and_bounded() {
        let m = compute_features(sample_candles().unwrap(), FeatureSet::Technical).unwrap();
        assert_eq!(m.width(), 12);
        let rsi = m.names.iter().position(|n| n == "rsi14").unwrap();
        for r in 0..m.rows {
            assert!((0.0..=1.0).contains(&m.row(r)[rsi]));
        }
    }

    #[test]
    fn too_few_candles_is_a_clear_error() {
        let e = compute_features(&sample_candles().unwrap()[..10], FeatureSet::Price).unwrap_err();
        assert!(e.to_string().contains("more than 24 candles"), "{e}");
        assert!("candles".parse::<FeatureSet>().is_err());
    }
}
