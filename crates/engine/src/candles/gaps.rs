//! Finding missing candles in a sorted run of open times. Gaps are reported, never filled.

use atb_protocol::Gap;

/// Gaps between consecutive open times (sorted ascending, spaced by `interval_ms` when complete).
pub fn find_gaps(open_times: impl IntoIterator<Item = i64>, interval_ms: i64) -> Vec<Gap> {
    let mut gaps = Vec::new();
    let mut prev: Option<i64> = None;
    for t in open_times {
        if let Some(p) = prev {
            let steps = (t - p) / interval_ms;
            if steps > 1 {
                gaps.push(Gap {
                    first_missing_ms: p + interval_ms,
                    missing: (steps - 1) as u64,
                });
            }
        }
        prev = Some(t);
    }
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_runs_of_missing_candles() {
        let h = 3_600_000;
        let times = [0, h, 2 * h, 5 * h, 6 * h, 8 * h];
        let gaps = find_gaps(times, h);
        assert_eq!(
            gaps,
            vec![
                Gap {
                    first_missing_ms: 3 * h,
                    missing: 2
                },
                Gap {
                    first_missing_ms: 7 * h,
                    missing: 1
                }
            ]
        );
        assert!(find_gaps([0, h, 2 * h], h).is_empty());
        assert!(find_gaps([], h).is_empty());
    }
}
