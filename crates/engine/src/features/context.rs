//! Cross-asset context: another market's log return and log relative volume (the `price`
//! set's first and last columns, computed on its own candles) beside each row of the series,
//! aligned on open time. A row whose open time the context lacks (a gap in either market, or
//! the context's own warm-up) is left out and counted; the dataset then treats the hole like
//! any other gap, so no window spans it.

use std::collections::HashMap;

use atb_protocol::vocab::CONTEXT_FEATURES;

use super::{FeatureMatrix, FeatureSet, compute_features};
use crate::error::{Error, Result};
use crate::market::source::ContextCandles;

/// `matrix` with the context's columns appended, keeping only the rows both markets have.
pub fn join_context(matrix: FeatureMatrix, context: &ContextCandles) -> Result<FeatureMatrix> {
    let own = compute_features(&context.candles, FeatureSet::Price).map_err(|e| match e {
        Error::TooLittleData(m) => Error::TooLittleData(format!("context {}: {m}", context.symbol)),
        other => other,
    })?;
    let column = |name: &str| {
        own.names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| Error::InvalidData(format!("the price set has no {name} column")))
    };
    let (log_return, relative_volume) = (column("log_return")?, column("log_relative_volume_24")?);
    let at: HashMap<i64, usize> = own
        .open_times
        .iter()
        .enumerate()
        .map(|(i, &t)| (t, i))
        .collect();
    let width = matrix.width() + CONTEXT_FEATURES.len();
    let mut out = FeatureMatrix {
        names: matrix
            .names
            .iter()
            .cloned()
            .chain(CONTEXT_FEATURES.map(String::from))
            .collect(),
        values: Vec::with_capacity(matrix.rows * width),
        rows: 0,
        open_times: Vec::with_capacity(matrix.rows),
        closes: Vec::with_capacity(matrix.rows),
        warmup_rows: matrix.warmup_rows,
        context_rows_dropped: 0,
    };
    for r in 0..matrix.rows {
        let Some(&k) = at.get(&matrix.open_times[r]) else {
            out.context_rows_dropped += 1;
            continue;
        };
        let theirs = own.row(k);
        out.values.extend_from_slice(matrix.row(r));
        out.values
            .extend([theirs[log_return], theirs[relative_volume]]);
        out.open_times.push(matrix.open_times[r]);
        out.closes.push(matrix.closes[r]);
        out.rows += 1;
    }
    if out.rows == 0 {
        return Err(Error::TooLittleData(format!(
            "the context {} has no candle at any of the series' {} open times",
            context.symbol, matrix.rows
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::sample::sample_candles;

    #[test]
    fn a_context_with_gaps_aligns_exactly_on_the_rows_both_have() {
        let main = sample_candles().unwrap()[..400].to_vec();
        // The context: the same hours scaled (another market), with a hole of 5 candles and
        // starting 10 candles later.
        let mut theirs: Vec<_> = main[10..]
            .iter()
            .map(|c| crate::candles::Candle {
                open: c.open * 0.05,
                high: c.high * 0.05,
                low: c.low * 0.05,
                close: c.close * 0.05,
                volume: c.volume * 7.0,
                ..*c
            })
            .collect();
        theirs.drain(200..205);
        let context = ContextCandles {
            symbol: "ETHUSDT".parse().unwrap(),
            candles: theirs.clone(),
        };
        let plain = compute_features(&main, FeatureSet::Price).unwrap();
        let joined = join_context(plain.clone(), &context).unwrap();
        assert_eq!(joined.width(), plain.width() + 2);
        assert_eq!(&joined.names[5..], CONTEXT_FEATURES);
        // The context's first row is its candle 24 (warm-up), main's candle 34; main's rows
        // start at its candle 24: 10 rows have no context yet, and 5 fall in the hole.
        assert_eq!(joined.context_rows_dropped, 10 + 5);
        assert_eq!(joined.rows, plain.rows - 15);
        let context_own = compute_features(&theirs, FeatureSet::Price).unwrap();
        for r in 0..joined.rows {
            let t = joined.open_times[r];
            let p = plain.open_times.iter().position(|&x| x == t).unwrap();
            let k = context_own.open_times.iter().position(|&x| x == t).unwrap();
            assert_eq!(&joined.row(r)[..5], plain.row(p), "row {r}");
            assert_eq!(joined.row(r)[5], context_own.row(k)[0]);
            assert_eq!(joined.row(r)[6], context_own.row(k)[4]);
            assert_eq!(joined.closes[r], plain.closes[p]);
        }
        // The hole's hours are absent, the others present.
        let hole = theirs[199].open_time + 3_600_000;
        assert!(!joined.open_times.contains(&hole));
        assert!(joined.open_times.contains(&theirs[200].open_time));
    }

    #[test]
    fn context_features_are_causal() {
        let main = sample_candles().unwrap()[..300].to_vec();
        let theirs = sample_candles().unwrap()[1_000..1_300]
            .iter()
            .zip(&main)
            .map(|(c, m)| crate::candles::Candle {
                open_time: m.open_time,
                ..*c
            })
            .collect::<Vec<_>>();
        let at = |candles: Vec<crate::candles::Candle>| {
            let context = ContextCandles {
                symbol: "ETHUSDT".parse().unwrap(),
                candles,
            };
            join_context(
                compute_features(&main, FeatureSet::Price).unwrap(),
                &context,
            )
            .unwrap()
        };
        let base = at(theirs.clone());
        let mut later = theirs.clone();
        for c in &mut later[200..] {
            c.close *= 1.3;
            c.high *= 1.4;
            c.volume *= 9.0;
        }
        let changed = at(later);
        for r in 0..200 - 24 {
            assert_eq!(
                base.row(r),
                changed.row(r),
                "row {r} saw the context's future"
            );
        }
        assert_ne!(base.row(200 - 24), changed.row(200 - 24));
    }
}
