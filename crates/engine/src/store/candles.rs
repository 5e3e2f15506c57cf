//! `CandleStore`: candles and the ranges already settled with a source, in SQLite.
//!
//! Writes are idempotent upserts inside one transaction per page, together with the coverage
//! they settle, so an interrupted fetch keeps every committed page and resumes after it.

use std::path::{Path, PathBuf};

use atb_protocol::CoverageRow;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::open_database;
use crate::candles::{Candle, OrderFlow};
use crate::error::{Error, Result};
use atb_protocol::vocab::{Symbol, Timeframe};

/// Candle storage in the atb database.
pub struct CandleStore {
    conn: Connection,
    path: PathBuf,
}

impl CandleStore {
    /// Opens the store in the database at `path` (usually `ATB_HOME/atb.sqlite`).
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self {
            conn: open_database(path)?,
            path: path.to_path_buf(),
        })
    }

    fn err(&self, source: rusqlite::Error) -> Error {
        Error::Store {
            path: self.path.clone(),
            source,
        }
    }

    /// Writes one fetched page and marks `[covered_start, covered_end)` as settled, atomically.
    /// Returns the number of candles that were not stored before.
    pub fn commit_page(
        &mut self,
        symbol: &Symbol,
        timeframe: Timeframe,
        candles: &[Candle],
        covered_start: i64,
        covered_end: i64,
    ) -> Result<u64> {
        let path = self.path.clone();
        let run = |conn: &mut Connection| -> rusqlite::Result<u64> {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let inserted = upsert(&tx, symbol, timeframe, candles)?;
            if covered_end > covered_start {
                add_coverage(&tx, symbol, timeframe, covered_start, covered_end)?;
            }
            tx.commit()?;
            Ok(inserted)
        };
        run(&mut self.conn).map_err(|source| Error::Store { path, source })
    }

    /// Stores imported candles; each contiguous run counts as settled, so a later exchange fetch
    /// of the same range asks only for the holes between runs.
    pub fn import(
        &mut self,
        symbol: &Symbol,
        timeframe: Timeframe,
        candles: &[Candle],
    ) -> Result<ImportCounts> {
        let path = self.path.clone();
        let step = timeframe.millis();
        // One transaction per batch, not per file: a large import never holds the write lock for
        // long (a registration or a fetch waiting behind it gets in between batches). Batches are
        // idempotent, so an interrupted import is finished by running it again.
        let run = |conn: &mut Connection, batch: &[Candle]| -> rusqlite::Result<ImportCounts> {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let counts = insert_new(&tx, symbol, timeframe, batch)?;
            let mut run_start: Option<i64> = None;
            for (i, c) in batch.iter().enumerate() {
                let start = *run_start.get_or_insert(c.open_time);
                let run_ends = batch
                    .get(i + 1)
                    .is_none_or(|next| next.open_time != c.open_time + step);
                if run_ends {
                    // Touching ranges merge, so a run split across two batches is one range.
                    add_coverage(&tx, symbol, timeframe, start, c.open_time + step)?;
                    run_start = None;
                }
            }
            tx.commit()?;
            Ok(counts)
        };
        let mut total = ImportCounts::default();
        for batch in candles.chunks(IMPORT_BATCH) {
            let counts = run(&mut self.conn, batch).map_err(|source| Error::Store {
                path: path.clone(),
                source,
            })?;
            total.inserted += counts.inserted;
            total.conflicts += counts.conflicts;
            total.first_conflict_ms = total.first_conflict_ms.or(counts.first_conflict_ms);
        }
        Ok(total)
    }

    /// Forgets that `[start, end)` is settled (its candles stay), so the next fetch asks for it
    /// again.
    pub fn unsettle(
        &mut self,
        symbol: &Symbol,
        timeframe: Timeframe,
        start: i64,
        end: i64,
    ) -> Result<()> {
        let path = self.path.clone();
        let run = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let overlapping: Vec<(i64, i64)> = tx
                .prepare(
                    "SELECT start_ms, end_ms FROM candle_coverage
                     WHERE symbol = ?1 AND interval = ?2 AND end_ms > ?3 AND start_ms < ?4",
                )?
                .query_map(
                    params![symbol.as_str(), timeframe.as_str(), start, end],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?
                .collect::<rusqlite::Result<_>>()?;
            tx.execute(
                "DELETE FROM candle_coverage WHERE symbol = ?1 AND interval = ?2 AND end_ms > ?3 AND start_ms < ?4",
                params![symbol.as_str(), timeframe.as_str(), start, end],
            )?;
            for (a, b) in overlapping {
                for (keep_start, keep_end) in [(a, start), (end, b)] {
                    if keep_end > keep_start {
                        add_coverage(&tx, symbol, timeframe, keep_start, keep_end)?;
                    }
                }
            }
            tx.commit()
        };
        run(&mut self.conn).map_err(|source| Error::Store { path, source })
    }

    /// Parts of `[start, end)` not yet settled, as half-open ranges in order.
    pub fn missing_ranges(
        &self,
        symbol: &Symbol,
        timeframe: Timeframe,
        start: i64,
        end: i64,
    ) -> Result<Vec<(i64, i64)>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT start_ms, end_ms FROM candle_coverage
                 WHERE symbol = ?1 AND interval = ?2 AND end_ms > ?3 AND start_ms < ?4 ORDER BY start_ms",
            )
            .map_err(|e| self.err(e))?;
        let covered = stmt
            .query_map(
                params![symbol.as_str(), timeframe.as_str(), start, end],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<(i64, i64)>>>())
            .map_err(|e| self.err(e))?;
        let mut missing = Vec::new();
        let mut cursor = start;
        for (a, b) in covered {
            if a > cursor {
                missing.push((cursor, a.min(end)));
            }
            cursor = cursor.max(b);
        }
        if cursor < end {
            missing.push((cursor, end));
        }
        Ok(missing)
    }

    /// Stored candles with open time in `[start, end)`, ascending.
    pub fn candles(
        &self,
        symbol: &Symbol,
        timeframe: Timeframe,
        start: i64,
        end: i64,
    ) -> Result<Vec<Candle>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT open_time, open, high, low, close, volume, trades, taker_buy_volume FROM candles
                 WHERE symbol = ?1 AND interval = ?2 AND open_time >= ?3 AND open_time < ?4 ORDER BY open_time",
            )
            .map_err(|e| self.err(e))?;
        stmt.query_map(
            params![symbol.as_str(), timeframe.as_str(), start, end],
            |r| {
                Ok(Candle {
                    open_time: r.get(0)?,
                    open: r.get(1)?,
                    high: r.get(2)?,
                    low: r.get(3)?,
                    close: r.get(4)?,
                    volume: r.get(5)?,
                    flow: flow_of(r.get(6)?, r.get(7)?),
                })
            },
        )
        .and_then(|rows| rows.collect())
        .map_err(|e| self.err(e))
    }

    /// Newest stored open time for a series, if any.
    pub fn last_open_time(&self, symbol: &Symbol, timeframe: Timeframe) -> Result<Option<i64>> {
        self.conn
            .query_row(
                "SELECT max(open_time) FROM candles WHERE symbol = ?1 AND interval = ?2",
                params![symbol.as_str(), timeframe.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.err(e))
    }

    /// One row per stored (symbol, timeframe): first and last open time, rows, gaps. Computed
    /// by SQLite's aggregates over the primary-key index (gaps with `LAG()`), so a refresh
    /// holds a few numbers per series in memory, however many candles are stored.
    pub fn coverage(&self) -> Result<Vec<CoverageRow>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT symbol, interval, min(open_time), max(open_time), count(*) FROM candles
                 GROUP BY symbol, interval ORDER BY symbol, interval",
            )
            .map_err(|e| self.err(e))?;
        let series = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(series.len());
        for (symbol, timeframe_name, first, last, rows) in series {
            // Rows written by a future atb with an unknown timeframe are skipped, not fatal.
            let (Ok(sym), Ok(timeframe)) = (
                symbol.parse::<Symbol>(),
                timeframe_name.parse::<Timeframe>(),
            ) else {
                continue;
            };
            // The same rule as `find_gaps`: a step of k intervals is a gap of k - 1 candles.
            let (gaps, missing_candles): (i64, i64) = self
                .conn
                .prepare_cached(
                    "SELECT count(*), coalesce(sum((open_time - prev) / ?3 - 1), 0) FROM (
                         SELECT open_time, LAG(open_time) OVER (ORDER BY open_time) AS prev
                         FROM candles WHERE symbol = ?1 AND interval = ?2)
                     WHERE prev IS NOT NULL AND (open_time - prev) / ?3 > 1",
                )
                .and_then(|mut stmt| {
                    stmt.query_row(
                        params![sym.as_str(), timeframe.as_str(), timeframe.millis()],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                })
                .map_err(|e| self.err(e))?;
            out.push(CoverageRow {
                symbol: sym,
                timeframe,
                first_open_time_ms: first,
                last_open_time_ms: last,
                rows: rows as u64,
                gaps: gaps as u64,
                missing_candles: missing_candles as u64,
            });
        }
        Ok(out)
    }
}

/// A candle's order flow from its two columns: known only when both are.
fn flow_of(trades: Option<i64>, taker_buy_volume: Option<f64>) -> Option<OrderFlow> {
    Some(OrderFlow {
        trades: u64::try_from(trades?).ok()?,
        taker_buy_volume: taker_buy_volume?,
    })
}

/// The order-flow columns of a candle (NULL where unknown).
fn flow_columns(c: &Candle) -> (Option<i64>, Option<f64>) {
    c.flow.map_or((None, None), |f| {
        (i64::try_from(f.trades).ok(), Some(f.taker_buy_volume))
    })
}

/// Inserts or refreshes candles; returns how many were new. Known order flow is never
/// replaced by unknown.
fn upsert(
    tx: &Transaction<'_>,
    symbol: &Symbol,
    timeframe: Timeframe,
    candles: &[Candle],
) -> rusqlite::Result<u64> {
    let mut exists = tx.prepare_cached(
        "SELECT 1 FROM candles WHERE symbol = ?1 AND interval = ?2 AND open_time = ?3",
    )?;
    let mut write = tx.prepare_cached(
        "INSERT INTO candles (symbol, interval, open_time, open, high, low, close, volume,
                              trades, taker_buy_volume)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (symbol, interval, open_time) DO UPDATE SET
            open = excluded.open, high = excluded.high, low = excluded.low,
            close = excluded.close, volume = excluded.volume,
            trades = coalesce(excluded.trades, trades),
            taker_buy_volume = coalesce(excluded.taker_buy_volume, taker_buy_volume)",
    )?;
    let mut inserted = 0;
    for c in candles {
        if !exists.exists(params![symbol.as_str(), timeframe.as_str(), c.open_time])? {
            inserted += 1;
        }
        let (trades, bought) = flow_columns(c);
        write.execute(params![
            symbol.as_str(),
            timeframe.as_str(),
            c.open_time,
            c.open,
            c.high,
            c.low,
            c.close,
            c.volume,
            trades,
            bought
        ])?;
    }
    Ok(inserted)
}

/// What an import did to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportCounts {
    /// Candles the store did not hold.
    pub inserted: u64,
    /// Candles the store already held with other values: left as stored (a file never silently
    /// rewrites candles, which would change the data hash of versions trained on them).
    pub conflicts: u64,
    /// The open time of the first of those.
    pub first_conflict_ms: Option<i64>,
}

/// Candles an import writes per transaction.
pub const IMPORT_BATCH: usize = 10_000;

/// Inserts the candles the store lacks and counts, without changing them, those it holds with
/// other values. Where it holds the same candle without order flow and the file has it, the
/// flow is added (prices and volume are untouched).
fn insert_new(
    tx: &Transaction<'_>,
    symbol: &Symbol,
    timeframe: Timeframe,
    candles: &[Candle],
) -> rusqlite::Result<ImportCounts> {
    let mut stored = tx.prepare_cached(
        "SELECT open, high, low, close, volume, trades IS NOT NULL AND taker_buy_volume IS NOT NULL
         FROM candles WHERE symbol = ?1 AND interval = ?2 AND open_time = ?3",
    )?;
    let mut write = tx.prepare_cached(
        "INSERT INTO candles (symbol, interval, open_time, open, high, low, close, volume,
                              trades, taker_buy_volume)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    let mut add_flow = tx.prepare_cached(
        "UPDATE candles SET trades = ?4, taker_buy_volume = ?5
         WHERE symbol = ?1 AND interval = ?2 AND open_time = ?3",
    )?;
    let mut counts = ImportCounts::default();
    for c in candles {
        let key = params![symbol.as_str(), timeframe.as_str(), c.open_time];
        let held: Option<([f64; 5], bool)> = stored
            .query_row(key, |r| {
                Ok((
                    [r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?],
                    r.get(5)?,
                ))
            })
            .optional()?;
        let (trades, bought) = flow_columns(c);
        match held {
            None => {
                write.execute(params![
                    symbol.as_str(),
                    timeframe.as_str(),
                    c.open_time,
                    c.open,
                    c.high,
                    c.low,
                    c.close,
                    c.volume,
                    trades,
                    bought
                ])?;
                counts.inserted += 1;
            }
            Some((v, _)) if v != [c.open, c.high, c.low, c.close, c.volume] => {
                counts.conflicts += 1;
                counts.first_conflict_ms.get_or_insert(c.open_time);
            }
            Some((_, false)) if c.flow.is_some() => {
                add_flow.execute(params![
                    symbol.as_str(),
                    timeframe.as_str(),
                    c.open_time,
                    trades,
                    bought
                ])?;
            }
            Some(_) => {}
        }
    }
    Ok(counts)
}

/// Merges `[start, end)` into the settled ranges, joining overlapping and touching ones.
fn add_coverage(
    tx: &Transaction<'_>,
    symbol: &Symbol,
    timeframe: Timeframe,
    start: i64,
    end: i64,
) -> rusqlite::Result<()> {
    let (lo, hi): (Option<i64>, Option<i64>) = tx.query_row(
        "SELECT min(start_ms), max(end_ms) FROM candle_coverage
         WHERE symbol = ?1 AND interval = ?2 AND end_ms >= ?3 AND start_ms <= ?4",
        params![symbol.as_str(), timeframe.as_str(), start, end],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (start, end) = (
        lo.map_or(start, |l| l.min(start)),
        hi.map_or(end, |h| h.max(end)),
    );
    tx.execute(
        "DELETE FROM candle_coverage WHERE symbol = ?1 AND interval = ?2 AND end_ms >= ?3 AND start_ms <= ?4",
        params![symbol.as_str(), timeframe.as_str(), start, end],
    )?;
    tx.execute(
        "INSERT INTO candle_coverage (symbol, interval, start_ms, end_ms) VALUES (?1, ?2, ?3, ?4)",
        params![symbol.as_str(), timeframe.as_str(), start, end],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn candle(t: i64) -> Candle {
        Candle {
            open_time: t,
            open: 10.0,
            high: 11.0,
            low: 9.0,
            close: 10.0,
            volume: 1.0,
            flow: None,
        }
    }

    fn store() -> (tempfile::TempDir, CandleStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = CandleStore::open(&dir.path().join("atb.sqlite")).unwrap();
        (dir, store)
    }

    #[test]
    fn upserts_are_idempotent() {
        let (_d, mut s) = store();
        let sym: Symbol = "BTCUSDT".parse().unwrap();
        let page: Vec<Candle> = (0..5).map(|i| candle(i * H)).collect();
        assert_eq!(
            s.commit_page(&sym, Timeframe::H1, &page, 0, 5 * H).unwrap(),
            5
        );
        assert_eq!(
            s.commit_page(&sym, Timeframe::H1, &page, 0, 5 * H).unwrap(),
            0
        );
        let changed = Candle {
            close: 10.5,
            ..page[2]
        };
        s.commit_page(&sym, Timeframe::H1, &[changed], 2 * H, 3 * H)
            .unwrap();
        let stored = s.candles(&sym, Timeframe::H1, 0, 10 * H).unwrap();
        assert_eq!(stored.len(), 5);
        assert_eq!(stored[2].close, 10.5);
    }

    #[test]
    fn order_flow_is_stored_never_erased_and_filled_in_by_an_import() {
        let (_d, mut s) = store();
        let sym: Symbol = "BTCUSDT".parse().unwrap();
        let flow = |trades| {
            Some(OrderFlow {
                trades,
                taker_buy_volume: 0.25,
            })
        };
        let fetched = Candle {
            flow: flow(7),
            ..candle(0)
        };
        s.commit_page(&sym, Timeframe::H1, &[fetched, candle(H)], 0, 2 * H)
            .unwrap();
        let stored = s.candles(&sym, Timeframe::H1, 0, 2 * H).unwrap();
        assert_eq!(stored[0].flow, flow(7));
        assert_eq!(stored[1].flow, None, "unknown stays unknown");
        // A page without order flow never erases the one stored.
        s.commit_page(&sym, Timeframe::H1, &[candle(0)], 0, H)
            .unwrap();
        assert_eq!(
            s.candles(&sym, Timeframe::H1, 0, H).unwrap()[0].flow,
            flow(7)
        );
        // An import of the same candle with order flow fills in what the store lacks, leaving
        // prices alone; it does not replace known order flow.
        let counts = s
            .import(
                &sym,
                Timeframe::H1,
                &[
                    Candle {
                        flow: flow(9),
                        ..candle(0)
                    },
                    Candle {
                        flow: flow(3),
                        ..candle(H)
                    },
                ],
            )
            .unwrap();
        assert_eq!(counts, ImportCounts::default());
        let stored = s.candles(&sym, Timeframe::H1, 0, 2 * H).unwrap();
        assert_eq!(stored[0].flow, flow(7));
        assert_eq!(stored[1].flow, flow(3));
    }

    #[test]
    fn missing_ranges_subtract_merged_coverage() {
        let (_d, mut s) = store();
        let sym: Symbol = "BTCUSDT".parse().unwrap();
        s.commit_page(&sym, Timeframe::H1, &[], 2 * H, 4 * H)
            .unwrap();
        s.commit_page(&sym, Timeframe::H1, &[], 4 * H, 5 * H)
            .unwrap();
        s.commit_page(&sym, Timeframe::H1, &[], 8 * H, 9 * H)
            .unwrap();
        assert_eq!(
            s.missing_ranges(&sym, Timeframe::H1, 0, 10 * H).unwrap(),
            vec![(0, 2 * H), (5 * H, 8 * H), (9 * H, 10 * H)]
        );
        assert_eq!(
            s.missing_ranges(&sym, Timeframe::H1, 2 * H, 5 * H).unwrap(),
            vec![]
        );
        // Touching ranges merged into one row.
        let n: i64 = s
            .conn
            .query_row("SELECT count(*) FROM candle_coverage", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
        // Other series are independent.
        assert_eq!(
            s.missing_ranges(&sym, Timeframe::H4, 0, 8 * H).unwrap(),
            vec![(0, 8 * H)]
        );
    }

    #[test]
    fn an_import_never_rewrites_stored_candles() {
        let (_d, mut s) = store();
        let sym: Symbol = "BTCUSDT".parse().unwrap();
        let page: Vec<Candle> = (0..3).map(|i| candle(i * H)).collect();
        s.commit_page(&sym, Timeframe::H1, &page, 0, 3 * H).unwrap();
        let file = [
            page[0],
            Candle {
                close: page[1].close + 1.0,
                ..page[1]
            },
            candle(3 * H),
        ];
        let counts = s.import(&sym, Timeframe::H1, &file).unwrap();
        assert_eq!(
            counts,
            ImportCounts {
                inserted: 1,
                conflicts: 1,
                first_conflict_ms: Some(H),
            }
        );
        let stored = s.candles(&sym, Timeframe::H1, 0, 4 * H).unwrap();
        assert_eq!(stored.len(), 4);
        assert_eq!(
            stored[1].close, page[1].close,
            "the exchange's candle stays"
        );
    }

    #[test]
    fn coverage_in_sql_agrees_with_the_gap_finder_on_every_series() {
        use crate::candles::gaps::find_gaps;
        let (_d, mut s) = store();
        // Two series with gaps of several lengths (one of 1,000 candles), and one without.
        let mut rng = 7u64;
        let mut series = Vec::new();
        for (name, timeframe) in [
            ("BTCUSDT", Timeframe::H1),
            ("ETHUSDT", Timeframe::M1),
            ("BTCUSDT", Timeframe::D1),
        ] {
            let step = timeframe.millis();
            let mut t = 1_600_000_000_000 / step * step;
            let mut times = Vec::new();
            for _ in 0..2_000 {
                times.push(t);
                rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let skip = match (timeframe, rng >> 58) {
                    (Timeframe::D1, _) => 1,
                    (_, 0) => 1_000,
                    (_, 1..=3) => 1 + (rng >> 60) as i64 % 4,
                    _ => 1,
                };
                t += skip * step;
            }
            let sym: Symbol = name.parse().unwrap();
            let candles: Vec<Candle> = times.iter().map(|&t| candle(t)).collect();
            s.import(&sym, timeframe, &candles).unwrap();
            series.push((sym, timeframe, times));
        }
        let rows = s.coverage().unwrap();
        assert_eq!(rows.len(), 3);
        for (sym, timeframe, times) in series {
            let row = rows
                .iter()
                .find(|r| r.symbol == sym && r.timeframe == timeframe)
                .unwrap();
            let gaps = find_gaps(times.iter().copied(), timeframe.millis());
            assert_eq!(row.rows, times.len() as u64);
            assert_eq!(row.first_open_time_ms, times[0]);
            assert_eq!(row.last_open_time_ms, *times.last().unwrap());
            assert_eq!(row.gaps, gaps.len() as u64, "{sym} {timeframe}");
            assert_eq!(
                row.missing_candles,
                gaps.iter().map(|g| g.missing).sum::<u64>(),
                "{sym} {timeframe}"
            );
            if timeframe != Timeframe::D1 {
                assert!(row.gaps > 10, "{sym} {timeframe}: {}", row.gaps);
            }
        }
    }

    #[test]
    fn import_settles_contiguous_runs_and_coverage_reports_gaps() {
        let (_d, mut s) = store();
        let sym: Symbol = "ETHUSDT".parse().unwrap();
        let candles: Vec<Candle> = [0, 1, 2, 5, 6].iter().map(|&i| candle(i * H)).collect();
        assert_eq!(s.import(&sym, Timeframe::H1, &candles).unwrap().inserted, 5);
        assert_eq!(
            s.missing_ranges(&sym, Timeframe::H1, 0, 7 * H).unwrap(),
            vec![(3 * H, 5 * H)]
        );
        let rows = s.coverage().unwrap();
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!((r.rows, r.gaps, r.missing_candles), (5, 1, 2));
        assert_eq!((r.first_open_time_ms, r.last_open_time_ms), (0, 6 * H));
        assert_eq!(s.last_open_time(&sym, Timeframe::H1).unwrap(), Some(6 * H));
    }

    #[test]
    fn a_large_import_commits_in_batches_and_settles_one_range() {
        let (_d, mut s) = store();
        let sym: Symbol = "ETHUSDT".parse().unwrap();
        let n = IMPORT_BATCH as i64 * 2 + 7;
        let candles: Vec<Candle> = (0..n).map(|i| candle(i * H)).collect();
        let counts = s.import(&sym, Timeframe::H1, &candles).unwrap();
        assert_eq!((counts.inserted, counts.conflicts), (n as u64, 0));
        let ranges: i64 = s
            .conn
            .query_row("SELECT count(*) FROM candle_coverage", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ranges, 1, "batch boundaries leave no seam in the coverage");
        assert!(
            s.missing_ranges(&sym, Timeframe::H1, 0, n * H)
                .unwrap()
                .is_empty()
        );
        // A second import of the same file changes nothing.
        let again = s.import(&sym, Timeframe::H1, &candles).unwrap();
        assert_eq!((again.inserted, again.conflicts), (0, 0));
    }
}
