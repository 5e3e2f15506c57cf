//! From features to training samples without leaks: labels of the spec's target (the log
//! return over `h` bars, the log realised volatility of those bars, or whether the close h bars
//! ahead is up; see `targets::labels`), a
//! chronological train / validation / test split with an embargo, standardisation fitted on the
//! training rows only, and windows that are index views into one matrix, batched on the fly.
//! Windows whose inputs or target span a missing candle are left out of every split (a "1-bar"
//! return across a five-hour outage is not a 1-bar return).

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::features::FeatureMatrix;
use crate::targets::labels::{direction_label, log_returns, log_volatility_label};

pub use atb_protocol::vocab::Target;

pub use atb_protocol::spec::SplitFractions;

/// Smallest number of samples a split may have.
pub const MIN_SPLIT_SAMPLES: usize = 8;

/// Sample `t` is the window of rows `t + 1 - L ..= t` and predicts the log return from row t's
/// close to row `t + h`'s close. The splits are ranges of such `t`, in time order, with `h`
/// samples left out between them so that no training target overlaps a later split's.
#[derive(Debug, Clone, PartialEq)]
pub struct ChronologicalSplit {
    pub train: Range<usize>,
    pub validation: Range<usize>,
    pub test: Range<usize>,
    pub embargo: usize,
}

impl ChronologicalSplit {
    pub fn new(
        rows: usize,
        sequence_length: usize,
        horizon: usize,
        fractions: SplitFractions,
    ) -> Result<Self> {
        if sequence_length == 0 || horizon == 0 {
            return Err(Error::InvalidRequest(
                "sequence length and horizon must be at least 1".into(),
            ));
        }
        let fr = [fractions.train, fractions.validation, fractions.test];
        if fr.iter().any(|f| !f.is_finite() || *f <= 0.0)
            || (fr.iter().sum::<f64>() - 1.0).abs() > 1e-9
        {
            return Err(Error::InvalidRequest(format!(
                "split fractions {} / {} / {} must be positive and add up to 1",
                fractions.train, fractions.validation, fractions.test
            )));
        }
        let embargo = horizon;
        // First sample ends at row L-1; the last needs row t+h to exist.
        let first = sequence_length - 1;
        let min_rows = first + horizon + 3 * MIN_SPLIT_SAMPLES + 2 * embargo;
        let usable = (rows + 1).saturating_sub(first + horizon + 1);
        let total = usable.saturating_sub(2 * embargo);
        let n_train = (total as f64 * fractions.train).floor() as usize;
        let n_val = (total as f64 * fractions.validation).floor() as usize;
        let n_test = total.saturating_sub(n_train + n_val);
        if rows < min_rows
            || n_train < MIN_SPLIT_SAMPLES
            || n_val < MIN_SPLIT_SAMPLES
            || n_test < MIN_SPLIT_SAMPLES
        {
            let smallest = fractions
                .train
                .min(fractions.validation)
                .min(fractions.test);
            let samples_needed = (MIN_SPLIT_SAMPLES as f64 / smallest).ceil() as usize + 1;
            let rows_needed = first + horizon + 2 * embargo + samples_needed;
            return Err(Error::TooLittleData(format!(
                "{rows} feature rows give {usable} windows of {sequence_length} steps at horizon {horizon}; \
                 splitting {:.0}/{:.0}/{:.0} with an embargo of {embargo} needs at least {} rows \
                 (at least {MIN_SPLIT_SAMPLES} windows per split): use more candles or a shorter sequence length",
                fractions.train * 100.0,
                fractions.validation * 100.0,
                fractions.test * 100.0,
                rows_needed.max(min_rows)
            )));
        }
        let train = first..first + n_train;
        let validation = train.end + embargo..train.end + embargo + n_val;
        let test = validation.end + embargo..validation.end + embargo + n_test;
        Ok(Self {
            train,
            validation,
            test,
            embargo,
        })
    }
}

impl ChronologicalSplit {
    /// Expanding-window folds over the samples of `rows` feature rows: the first half of the
    /// samples only ever trains; the second half is cut into `folds` test blocks. Fold k trains
    /// (and validates, on its last 15%) on everything before block k, with embargoes between.
    /// Every part of every fold must hold at least `MIN_SPLIT_SAMPLES` windows for which
    /// `usable` is true (gap-free); otherwise the error names the largest feasible number of
    /// folds.
    pub fn walk_forward(
        rows: usize,
        sequence_length: usize,
        horizon: usize,
        folds: usize,
        usable: &dyn Fn(usize) -> bool,
    ) -> Result<Vec<Self>> {
        match Self::try_walk_forward(rows, sequence_length, horizon, folds, usable) {
            Some(f) => Ok(f),
            None => {
                let feasible = (2..folds).rev().find(|&k| {
                    Self::try_walk_forward(rows, sequence_length, horizon, k, usable).is_some()
                });
                let hint = match feasible {
                    Some(k) => format!("the most this data allows is {k} folds"),
                    None => "this data allows no walk-forward at all: use more candles, a shorter sequence length or a shorter horizon".into(),
                };
                Err(Error::TooLittleData(format!(
                    "{folds} walk-forward folds over {rows} feature rows (windows of {sequence_length}, horizon {horizon}) \
                     leave fewer than {MIN_SPLIT_SAMPLES} usable windows in some fold's training, validation or test part; {hint}"
                )))
            }
        }
    }

    fn try_walk_forward(
        rows: usize,
        sequence_length: usize,
        horizon: usize,
        folds: usize,
        usable: &dyn Fn(usize) -> bool,
    ) -> Option<Vec<Self>> {
        if folds < 2 || sequence_length == 0 || horizon == 0 {
            return None;
        }
        let embargo = horizon;
        let first = sequence_length - 1;
        // One past the last sample: row t + h must exist.
        let end = (rows + 1).checked_sub(horizon + 1)?;
        let samples = end.checked_sub(first)?;
        let block = samples / 2 / folds;
        let test_start0 = end.checked_sub(folds.checked_mul(block)?)?;
        let count = |r: &Range<usize>| r.clone().filter(|&t| usable(t)).count();
        let mut out = Vec::with_capacity(folds);
        for k in 0..folds {
            let test = test_start0 + k * block..test_start0 + (k + 1) * block;
            let before = test.start.checked_sub(embargo)?;
            let n = before.checked_sub(first)?;
            let n_val = (n as f64 * 0.15).ceil() as usize;
            let train_end = before.checked_sub(n_val)?.checked_sub(embargo)?;
            if train_end <= first {
                return None;
            }
            let split = Self {
                train: first..train_end,
                validation: before - n_val..before,
                test,
                embargo,
            };
            if [&split.train, &split.validation, &split.test]
                .iter()
                .any(|r| count(r) < MIN_SPLIT_SAMPLES)
            {
                return None;
            }
            out.push(split);
        }
        Some(out)
    }
}

/// Per-feature standardisation fitted on training rows only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureScaler {
    pub means: Vec<f64>,
    pub stds: Vec<f64>,
}

impl FeatureScaler {
    /// Fits on `rows` of the matrix (the rows training windows read).
    pub fn fit(m: &FeatureMatrix, rows: Range<usize>) -> Self {
        let w = m.width();
        let n = rows.len().max(1) as f64;
        let mut means = vec![0.0; w];
        for r in rows.clone() {
            for (j, v) in m.row(r).iter().enumerate() {
                means[j] += f64::from(*v);
            }
        }
        means.iter_mut().for_each(|s| *s /= n);
        let mut vars = vec![0.0; w];
        for r in rows {
            for (j, v) in m.row(r).iter().enumerate() {
                vars[j] += (f64::from(*v) - means[j]).powi(2);
            }
        }
        // A constant feature keeps scale 1 rather than dividing by zero.
        let stds = vars
            .iter()
            .map(|v| (v / n).sqrt())
            .map(|s| if s > 1e-12 { s } else { 1.0 })
            .collect();
        Self { means, stds }
    }

    /// All rows standardised, row-major.
    pub fn transform(&self, m: &FeatureMatrix) -> Vec<f32> {
        let w = m.width();
        m.values
            .iter()
            .enumerate()
            .map(|(i, v)| ((f64::from(*v) - self.means[i % w]) / self.stds[i % w]) as f32)
            .collect()
    }
}

/// What the model predicts, standardised with the training samples' mean and standard
/// deviation: the log return of close over `horizon` bars, or the log realised volatility of
/// those bars. The direction target is not scaled (mean 0, std 1): the network's output is the
/// logit of an up move and its label is 0 or 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetScaler {
    #[serde(default)]
    pub kind: Target,
    pub horizon: usize,
    pub mean: f64,
    pub std: f64,
    /// Volatility only: added to the log forecast before the exponential, so that the squared
    /// forecast estimates the expected realised variance (what QLIKE and the variance MSE
    /// reward; HAR-RV's log-normal mean is the same idea): Duan's smearing estimate from the
    /// validation errors (`training::smearing_correction`), about `s²` for unbiased normal
    /// errors of variance `s²`. 0 for the other targets.
    #[serde(default)]
    pub lognormal_correction: f64,
}

impl TargetScaler {
    /// Fits on the training samples' labels (the direction target keeps the identity).
    pub fn fit(kind: Target, horizon: usize, train_labels: &[f64]) -> Self {
        if kind == Target::Direction || train_labels.is_empty() {
            return Self {
                kind,
                horizon,
                mean: 0.0,
                std: 1.0,
                lognormal_correction: 0.0,
            };
        }
        let n = train_labels.len() as f64;
        let mean = train_labels.iter().sum::<f64>() / n;
        let std = (train_labels.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt();
        Self {
            kind,
            horizon,
            mean,
            std: if std > 1e-12 { std } else { 1.0 },
            lognormal_correction: 0.0,
        }
    }

    pub fn scale(&self, label: f64) -> f64 {
        (label - self.mean) / self.std
    }

    /// The model's output in the label's units: a log return, a log realised volatility, or a
    /// logit.
    pub fn unscale(&self, scaled: f64) -> f64 {
        scaled * self.std + self.mean
    }

    /// The forecast users read from a raw output: the log return, the realised volatility (in
    /// log-return units, the exponential of the log forecast), or the probability of an up move.
    pub fn forecast(&self, scaled: f64) -> f64 {
        self.kind
            .forecast_of_output(self.unscale(scaled) + self.lognormal_correction)
    }
}

/// The label of every row for `kind` at horizon `h` (NaN where the row has none).
pub fn labels_of(kind: Target, closes: &[f64], horizon: usize) -> Vec<f64> {
    let returns = log_returns(closes);
    (0..closes.len())
        .map(|t| {
            match kind {
                Target::Return => closes
                    .get(t + horizon)
                    .map(|future| (future / closes[t]).ln()),
                Target::Volatility => log_volatility_label(&returns, t, horizon),
                Target::Direction => direction_label(closes, t, horizon),
            }
            .unwrap_or(f64::NAN)
        })
        .collect()
}

/// The usable (gap-free) samples of each split, in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitSamples {
    pub train: Vec<usize>,
    pub validation: Vec<usize>,
    pub test: Vec<usize>,
}

/// The candle interval of open times: their smallest positive step (a gap only ever lengthens
/// a step); 0 for fewer than two rows.
pub fn bar_interval_ms(open_times: &[i64]) -> i64 {
    open_times
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 0)
        .min()
        .unwrap_or(0)
}

/// Whether each sample's rows (its window, the row before it, through its target row) are
/// consecutive candles: steps of the matrix's smallest open-time step, which is the candle
/// interval (a gap only ever lengthens a step).
pub fn gap_free_samples(
    matrix: &FeatureMatrix,
    sequence_length: usize,
    horizon: usize,
) -> Vec<bool> {
    let times = &matrix.open_times;
    let interval = bar_interval_ms(times);
    // bad_before[r] = steps that are not one interval among rows 1..r (exclusive of r).
    let mut bad_before = vec![0usize; times.len() + 1];
    for r in 1..times.len() {
        bad_before[r + 1] = bad_before[r] + usize::from(times[r] - times[r - 1] != interval);
    }
    (0..times.len())
        .map(|t| {
            // Steps into rows t + 1 - L ..= t + h (the first input's return looks one row back).
            let (Some(lo), hi) = ((t + 1).checked_sub(sequence_length), t + horizon) else {
                return false;
            };
            hi < times.len() && bad_before[hi + 1] - bad_before[lo.max(1)] == 0
        })
        .collect()
}

/// Everything a training run needs from the data, in one place.
#[derive(Debug, Clone)]
pub struct PreparedData {
    pub matrix: FeatureMatrix,
    /// Standardised features, row-major, same shape as `matrix.values`.
    pub scaled: Vec<f32>,
    /// Log return from row t to row t + h (NaN where t + h is past the end).
    pub returns: Vec<f64>,
    /// The target's label of row t (equal to `returns` for the return target).
    pub labels: Vec<f64>,
    pub split: ChronologicalSplit,
    /// The samples of each split that do not span a missing candle.
    pub samples: SplitSamples,
    /// Samples inside the split ranges left out for spanning a missing candle.
    pub gap_windows_dropped: usize,
    /// Walk-forward folds, planned and checked before training (empty when none were asked for).
    pub walk_forward: Vec<ChronologicalSplit>,
    pub scaler: FeatureScaler,
    pub target: TargetScaler,
    pub sequence_length: usize,
}

impl PreparedData {
    /// Splits, fits the scalers on training data only and computes targets.
    pub fn new(
        matrix: FeatureMatrix,
        sequence_length: usize,
        horizon: usize,
        target: Target,
        fractions: SplitFractions,
    ) -> Result<Self> {
        let split = ChronologicalSplit::new(matrix.rows, sequence_length, horizon, fractions)?;
        Self::with_split(matrix, sequence_length, horizon, target, split)
    }

    /// Like `new`, with explicit split ranges (walk-forward folds); scalers are fitted on this
    /// split's training rows. Fails when a split keeps fewer than `MIN_SPLIT_SAMPLES` gap-free
    /// windows.
    pub fn with_split(
        matrix: FeatureMatrix,
        sequence_length: usize,
        horizon: usize,
        kind: Target,
        split: ChronologicalSplit,
    ) -> Result<Self> {
        let usable = gap_free_samples(&matrix, sequence_length, horizon);
        let keep = |r: &Range<usize>| -> Vec<usize> { r.clone().filter(|&t| usable[t]).collect() };
        let samples = SplitSamples {
            train: keep(&split.train),
            validation: keep(&split.validation),
            test: keep(&split.test),
        };
        let gap_windows_dropped = split.train.len() + split.validation.len() + split.test.len()
            - samples.train.len()
            - samples.validation.len()
            - samples.test.len();
        for (name, kept, range) in [
            ("training", &samples.train, &split.train),
            ("validation", &samples.validation, &split.validation),
            ("test", &samples.test, &split.test),
        ] {
            if kept.len() < MIN_SPLIT_SAMPLES {
                return Err(Error::TooLittleData(format!(
                    "the {name} split keeps {} of its {} windows once those spanning missing candles are left out \
                     (at least {MIN_SPLIT_SAMPLES} are needed): choose a range without long gaps, or more candles",
                    kept.len(),
                    range.len()
                )));
            }
        }
        // Training windows read rows from 0 up to the last training sample's row.
        let scaler = FeatureScaler::fit(&matrix, 0..split.train.end);
        let scaled = scaler.transform(&matrix);
        let returns = labels_of(Target::Return, &matrix.closes, horizon);
        let labels = match kind {
            Target::Return => returns.clone(),
            other => labels_of(other, &matrix.closes, horizon),
        };
        let train_labels: Vec<f64> = samples.train.iter().map(|&t| labels[t]).collect();
        let target = TargetScaler::fit(kind, horizon, &train_labels);
        Ok(Self {
            matrix,
            scaled,
            returns,
            labels,
            split,
            samples,
            gap_windows_dropped,
            walk_forward: Vec::new(),
            scaler,
            target,
            sequence_length,
        })
    }

    pub fn width(&self) -> usize {
        self.matrix.width()
    }

    /// The scaled window ending at row `t`, `[L * F]` row-major, written into `out`.
    pub fn window_into(&self, t: usize, out: &mut Vec<f32>) {
        let w = self.width();
        let start = (t + 1 - self.sequence_length) * w;
        out.extend_from_slice(&self.scaled[start..(t + 1) * w]);
    }

    /// Inputs `[B * L * F]` and scaled labels `[B]` for samples `ts`, built on the fly.
    pub fn batch(&self, ts: &[usize]) -> (Vec<f32>, Vec<f32>) {
        let mut x = Vec::with_capacity(ts.len() * self.sequence_length * self.width());
        let mut y = Vec::with_capacity(ts.len());
        for &t in ts {
            self.window_into(t, &mut x);
            y.push(self.target.scale(self.labels[t]) as f32);
        }
        (x, y)
    }

    /// Open time of the candle whose close sample `t` predicts.
    pub fn target_open_time(&self, t: usize) -> i64 {
        self.matrix.open_times[t + self.target.horizon]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{FeatureSet, compute_features};
    use crate::market::sample::sample_candles;

    fn prepared(rows: usize, l: usize, h: usize) -> PreparedData {
        let m = compute_features(&sample_candles().unwrap()[..rows], FeatureSet::Price).unwrap();
        PreparedData::new(m, l, h, Target::Return, SplitFractions::default()).unwrap()
    }

    #[test]
    fn splits_are_chronological_with_an_embargo_of_h() {
        for h in [1, 3] {
            let p = prepared(1_024, 32, h);
            let s = &p.split;
            assert_eq!(s.train.start, 31);
            assert_eq!(s.validation.start - s.train.end, h);
            assert_eq!(s.test.start - s.validation.end, h);
            // The last training target (row t+h) is before the first validation target.
            let last_train_target = s.train.end - 1 + h;
            let first_val_target = s.validation.start + h;
            assert!(last_train_target < first_val_target);
            // The last test sample still has its target row.
            assert!(s.test.end - 1 + h < p.matrix.rows);
            let n = (s.train.len(), s.validation.len(), s.test.len());
            let total = (n.0 + n.1 + n.2) as f64;
            assert!((n.0 as f64 / total - 0.70).abs() < 0.01, "{n:?}");
        }
    }

    #[test]
    fn scalers_see_only_training_rows() {
        let candles = sample_candles().unwrap()[..1_024].to_vec();
        let base = PreparedData::new(
            compute_features(&candles, FeatureSet::Price).unwrap(),
            32,
            1,
            Target::Return,
            SplitFractions::default(),
        )
        .unwrap();
        let mut spiked = candles.clone();
        let test_row = base.split.test.start + 10 + FeatureSet::Price.warmup_rows();
        spiked[test_row].volume *= 1_000.0;
        spiked[test_row].high *= 1.5;
        let p = PreparedData::new(
            compute_features(&spiked, FeatureSet::Price).unwrap(),
            32,
            1,
            Target::Return,
            SplitFractions::default(),
        )
        .unwrap();
        assert_eq!(
            p.scaler, base.scaler,
            "a spike in the test part moved the scaler"
        );
        assert_eq!(p.target, base.target);
        // But the test features themselves did change (the spike is real).
        assert_ne!(p.scaled, base.scaled);
    }

    #[test]
    fn windows_are_views_of_the_scaled_matrix() {
        let p = prepared(600, 16, 1);
        let t = p.split.validation.start;
        let (x, y) = p.batch(&[t]);
        assert_eq!(x.len(), 16 * 5);
        assert_eq!(&x[15 * 5..], &p.scaled[t * 5..(t + 1) * 5]);
        let expected = (p.matrix.closes[t + 1] / p.matrix.closes[t]).ln();
        assert!((p.target.unscale(f64::from(y[0])) - expected).abs() < 1e-6);
    }

    #[test]
    fn each_target_has_its_label_and_a_scaler_fitted_on_training_labels_only() {
        let m = compute_features(&sample_candles().unwrap()[..1_024], FeatureSet::Price).unwrap();
        let (l, h) = (32, 3);
        let data =
            |target| PreparedData::new(m.clone(), l, h, target, SplitFractions::default()).unwrap();
        let (ret, vol, dir) = (
            data(Target::Return),
            data(Target::Volatility),
            data(Target::Direction),
        );
        assert_eq!(ret.labels[..900], ret.returns[..900]);
        assert_eq!(vol.returns[..900], ret.returns[..900]);
        let t = vol.split.test.start;
        let c = &vol.matrix.closes;
        // By hand: the log of the root of the next h squared log returns.
        let rv: f64 = (1..=h)
            .map(|k| (c[t + k] / c[t + k - 1]).ln().powi(2))
            .sum::<f64>()
            .sqrt();
        let (_, y) = vol.batch(&[t]);
        assert!((vol.target.unscale(f64::from(y[0])) - rv.ln()).abs() < 1e-5);
        assert!((vol.target.forecast(f64::from(y[0])) / rv - 1.0).abs() < 1e-5);
        let train: Vec<f64> = vol.samples.train.iter().map(|&t| vol.labels[t]).collect();
        let mean = train.iter().sum::<f64>() / train.len() as f64;
        assert!((vol.target.mean - mean).abs() < 1e-12);
        assert!(vol.target.mean < -4.0, "an hourly RV is well under 2%");
        // Direction: 0 or 1, unscaled, and the forecast of a logit is its probability.
        let (_, y) = dir.batch(&[t]);
        assert_eq!(y[0], if c[t + h] > c[t] { 1.0 } else { 0.0 });
        assert_eq!((dir.target.mean, dir.target.std), (0.0, 1.0));
        assert!((dir.target.forecast(0.0) - 0.5).abs() < 1e-15);
        assert!((dir.target.forecast(2f64.ln()) - 2.0 / 3.0).abs() < 1e-15);
        // The last h rows have no label for any target.
        assert!(vol.labels[m.rows - 1].is_nan() && dir.labels[m.rows - h].is_nan());
    }

    #[test]
    fn walk_forward_folds_expand_and_never_overlap() {
        let folds = ChronologicalSplit::walk_forward(2_000, 32, 2, 4, &|_| true).unwrap();
        assert_eq!(folds.len(), 4);
        for (k, f) in folds.iter().enumerate() {
            assert_eq!(f.validation.start - f.train.end, 2);
            assert_eq!(f.test.start - f.validation.end, 2);
            assert!(f.test.end - 1 + 2 < 2_000);
            if k > 0 {
                assert_eq!(
                    f.test.start,
                    folds[k - 1].test.end,
                    "test blocks are consecutive"
                );
                assert!(
                    f.train.end > folds[k - 1].train.end,
                    "the training window expands"
                );
            }
        }
        assert!(ChronologicalSplit::walk_forward(120, 32, 1, 8, &|_| true).is_err());
    }

    #[test]
    fn infeasible_walk_forward_is_refused_naming_the_largest_feasible_count() {
        // The audit's underflow case: 3,200 rows, L 120, h 1,000.
        let e = ChronologicalSplit::walk_forward(3_200, 120, 1_000, 5, &|_| true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("5 walk-forward folds"), "{e}");
        // Too many folds for the data: the message names how many fit.
        let e = ChronologicalSplit::walk_forward(300, 32, 1, 20, &|_| true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("the most this data allows is 16 folds"), "{e}");
        assert!(ChronologicalSplit::walk_forward(155, 30, 24, 2, &|_| true).is_err());
        // Every fold of a feasible plan has enough windows in every part.
        for f in ChronologicalSplit::walk_forward(2_000, 120, 4, 6, &|_| true).unwrap() {
            for r in [&f.train, &f.validation, &f.test] {
                assert!(r.len() >= MIN_SPLIT_SAMPLES, "{f:?}");
            }
        }
    }

    #[test]
    fn windows_spanning_a_missing_candle_are_dropped() {
        let mut candles = sample_candles().unwrap()[..1_500].to_vec();
        // A five-hour outage after candle 900: later candles move five hours on.
        for c in candles[900..].iter_mut() {
            c.open_time += 5 * 3_600_000;
        }
        let (l, h) = (32, 3);
        let m = compute_features(&candles, FeatureSet::Price).unwrap();
        let gap_row = 900 - FeatureSet::Price.warmup_rows();
        let p = PreparedData::new(m, l, h, Target::Return, SplitFractions::default()).unwrap();
        let all: Vec<usize> = p
            .samples
            .train
            .iter()
            .chain(&p.samples.validation)
            .chain(&p.samples.test)
            .copied()
            .collect();
        // Sample t reads rows t+1-L ..= t+h and the row before the window.
        for t in gap_row.saturating_sub(h)..gap_row + l {
            assert!(
                !all.contains(&t),
                "sample {t} spans the gap at row {gap_row}"
            );
        }
        assert!(all.contains(&(gap_row + l)) || gap_row + l >= p.matrix.rows);
        assert!(all.contains(&(gap_row - h - 1)));
        assert_eq!(p.gap_windows_dropped, l + h);
    }

    #[test]
    fn too_few_rows_says_how_many_are_needed() {
        let m = compute_features(&sample_candles().unwrap()[..100], FeatureSet::Price).unwrap();
        let e = PreparedData::new(m, 120, 1, Target::Return, SplitFractions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs at least") && e.contains("rows"), "{e}");
    }
}
