//! The one rule that turns a window into a row for the tree model: for every feature, its last
//! [`LAST_BARS`] values (the bar the forecast is made at first) and its mean, standard deviation,
//! minimum and maximum over the whole window. A row reads only the window, which ends at the
//! forecast bar, so it is as causal as the features themselves. The same rule is written into the
//! ONNX graph, so exported files take the networks' input (`[batch, L, F]`).

/// Most recent bars of each feature kept as they are.
pub const LAST_BARS: usize = 3;

/// Statistics of each feature over the window, in column order.
pub const SUMMARIES: [&str; 4] = ["mean", "std", "min", "max"];

/// Columns per feature.
pub const COLUMNS_PER_FEATURE: usize = LAST_BARS + SUMMARIES.len();

/// The row's column names for features `names`: `close_ret[t]`, `close_ret[t-1]`, ...,
/// `close_ret:mean`, ..., feature by feature.
pub fn column_names(names: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(names.len() * COLUMNS_PER_FEATURE);
    for name in names {
        for back in 0..LAST_BARS {
            out.push(if back == 0 {
                format!("{name}[t]")
            } else {
                format!("{name}[t-{back}]")
            });
        }
        for summary in SUMMARIES {
            out.push(format!("{name}:{summary}"));
        }
    }
    out
}

/// Appends the row of one window (`[L, F]` row-major, oldest bar first) to `out`.
/// Needs `L >= LAST_BARS` (the spec's sequence length minimum is larger).
pub fn push_row(window: &[f32], features: usize, out: &mut Vec<f32>) {
    let steps = window.len() / features;
    for j in 0..features {
        let value = |step: usize| window[step * features + j];
        for back in 0..LAST_BARS {
            out.push(value(steps - 1 - back));
        }
        // Statistics in f64, rounded to f32 once: the ONNX graph computes them the same way
        // (in double, two passes), so both give the same f32 and take the same tree branches.
        let (mut sum, mut min, mut max) = (0.0f64, f32::INFINITY, f32::NEG_INFINITY);
        for step in 0..steps {
            let v = value(step);
            sum += f64::from(v);
            min = min.min(v);
            max = max.max(v);
        }
        let n = steps as f64;
        let mean = sum / n;
        // Population standard deviation, two-pass: sqrt(mean((x - mean)^2)).
        let var = (0..steps)
            .map(|step| (f64::from(value(step)) - mean).powi(2))
            .sum::<f64>()
            / n;
        out.extend([mean as f32, var.sqrt() as f32, min, max]);
    }
}

/// Rows `[n, F * COLUMNS_PER_FEATURE]` of `n` windows `[n, L, F]`.
pub fn rows(windows: &[f32], n: usize, features: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n * features * COLUMNS_PER_FEATURE);
    if n == 0 {
        return out;
    }
    let per_window = windows.len() / n;
    for window in windows.chunks_exact(per_window) {
        push_row(window, features, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::compute_features;
    use crate::market::Candle;
    use atb_protocol::vocab::FeatureSet;

    #[test]
    fn a_row_holds_the_last_bars_and_the_window_statistics_per_feature() {
        // L = 4 bars of F = 2 features.
        let window = [1.0, 10.0, 2.0, 20.0, 3.0, 30.0, 6.0, 60.0];
        let mut row = Vec::new();
        push_row(&window, 2, &mut row);
        assert_eq!(row.len(), 2 * COLUMNS_PER_FEATURE);
        assert_eq!(&row[..3], &[6.0, 3.0, 2.0]);
        assert_eq!(row[3], 3.0); // mean of 1, 2, 3, 6
        assert!((row[4] - 3.5f32.sqrt()).abs() < 1e-6); // population std
        assert_eq!((row[5], row[6]), (1.0, 6.0));
        assert_eq!(&row[7..10], &[60.0, 30.0, 20.0]);
        let names = column_names(&["a".into(), "b".into()]);
        assert_eq!(names[0], "a[t]");
        assert_eq!(names[2], "a[t-2]");
        assert_eq!(names[4], "a:std");
        assert_eq!(names[7], "b[t]");
        assert_eq!(names.len(), row.len());
    }

    fn candles(n: usize) -> Vec<Candle> {
        (0..n)
            .map(|i| {
                let close = 100.0 + (i as f64 * 0.7).sin() * 5.0 + i as f64 * 0.05;
                Candle {
                    open_time: i as i64 * 3_600_000,
                    open: close - 0.3,
                    high: close + 1.0,
                    low: close - 1.0,
                    close,
                    volume: 10.0 + (i % 7) as f64,
                    flow: None,
                }
            })
            .collect()
    }

    #[test]
    fn the_row_of_a_window_ending_at_t_ignores_every_candle_after_t() {
        let set = FeatureSet::Technical;
        let l = 24;
        let original = candles(200);
        let matrix = compute_features(&original, set).unwrap();
        let f = matrix.width();
        let t = 120; // a row of the feature matrix
        let row_at = |m: &crate::features::FeatureMatrix| {
            let window = &m.values[(t + 1 - l) * f..(t + 1) * f];
            rows(window, 1, f)
        };
        let before = row_at(&matrix);
        // Every candle after the one at row t changes wildly.
        let cut = matrix.warmup_rows + t + 1;
        let mut changed = original.clone();
        for c in &mut changed[cut..] {
            c.close *= 3.0;
            c.open *= 0.5;
            c.high = c.open.max(c.close) * 1.1;
            c.low = c.open.min(c.close) * 0.9;
            c.volume *= 40.0;
        }
        let after = row_at(&compute_features(&changed, set).unwrap());
        assert_eq!(before, after);
        // ...while a change at t itself does show.
        let mut at_t = original.clone();
        at_t[cut - 1].close *= 1.5;
        at_t[cut - 1].high = at_t[cut - 1].close * 1.01;
        assert_ne!(row_at(&compute_features(&at_t, set).unwrap()), before);
    }
}
