//! Candle CSV files: atb's own `open_time_ms,open,high,low,close,volume` with a header
//! (optionally followed by `trades,taker_buy_volume`, the order flow), or Binance's headerless
//! 12-column bulk-archive format (millisecond or microsecond open times; its trade count and
//! taker-buy base volume are read as the order flow).
//!
//! Every row is validated; the first bad one is an error naming its line. Files are read as a
//! stream by the `csv` crate (`\n`, `\r\n` and `\r`-only line endings alike) behind a per-line
//! length limit, so no input can make the import hold more than one line besides its candles.

use std::path::Path;

use super::{Candle, OrderFlow, Timeframe};
use crate::error::{Error, Result};

/// The header of atb's own CSV format.
pub const HEADER: &str = "open_time_ms,open,high,low,close,volume";
/// atb's own format with the order flow.
pub const HEADER_WITH_FLOW: &str =
    "open_time_ms,open,high,low,close,volume,trades,taker_buy_volume";

/// Which of the accepted layouts a file has, decided by its first row.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    Own,
    OwnWithFlow,
    Archive,
}

impl Layout {
    fn columns(self) -> usize {
        match self {
            Self::Own => 6,
            Self::OwnWithFlow => 8,
            Self::Archive => 12,
        }
    }

    /// The columns of the trade count and the taker-buy base volume, where the layout has them.
    fn flow_columns(self) -> Option<(usize, usize)> {
        match self {
            Self::Own => None,
            Self::OwnWithFlow => Some((6, 7)),
            Self::Archive => Some((8, 9)),
        }
    }
}

/// The earliest open time a candle file may hold (1970-01-01): no negative times, so the spacings
/// between rows cannot overflow (a row at -9.2e18 ms did, in the timeframe check).
pub const EARLIEST_OPEN_MS: i64 = 0;

/// Open times above this are microseconds (in milliseconds it would be the year 5138).
const MICROS_THRESHOLD: i64 = 100_000_000_000_000;

/// Reads and validates a candle CSV file of the given timeframe, streaming: memory holds one
/// line (at most `MAX_LINE_BYTES`) besides the candles, whatever the file holds.
pub fn read_csv_file(path: &Path, timeframe: Timeframe) -> Result<Vec<Candle>> {
    // A device, FIFO or /proc file is refused before it is opened for reading: it could block
    // forever or never end.
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::InvalidRequest(format!(
            "{} is not a regular file; give the path of a candle CSV file",
            path.display()
        )));
    }
    if meta.len() > MAX_CSV_BYTES {
        return Err(Error::InvalidRequest(format!(
            "{} is larger than {} MiB, more than any candle CSV atb imports; split it (e.g. one file per year)",
            path.display(),
            MAX_CSV_BYTES >> 20
        )));
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    // `take`: a file that grows while it is read stops at the cap.
    let reader = std::io::BufReader::new(std::io::Read::take(file, MAX_CSV_BYTES));
    parse_reader(reader, timeframe, &path.display().to_string())
}

/// The largest CSV file read: 20 years of 1-minute candles in Binance's archive format.
pub const MAX_CSV_BYTES: u64 = 2 << 30;

/// The longest line a candle CSV has room for (Binance's 12-column rows are about 120 bytes). A
/// longer one is refused where it is read: a 2 GiB line of commas, or a whole file saved with
/// line endings nothing recognised, used to be split into billions of fields first.
pub const MAX_LINE_BYTES: usize = 1024;

/// At most 40 characters of `text`, control characters replaced, for an error message: a file's
/// content is never echoed at length (it may be a secret that was never a CSV).
fn excerpt(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(40)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if text.chars().count() > 40 {
        out.push('…');
    }
    format!("{out:?}")
}

/// Passes bytes through, counting lines (`\n`, `\r\n` or a lone `\r` ends one) and failing as
/// soon as one runs past `MAX_LINE_BYTES`.
struct LineLimit<R> {
    inner: R,
    run: usize,
    /// 1-based number of the line being read.
    line: usize,
    after_cr: bool,
    too_long: bool,
}

impl<R: std::io::Read> std::io::Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            match b {
                b'\r' => {
                    self.line += 1;
                    self.run = 0;
                    self.after_cr = true;
                }
                b'\n' => {
                    if !self.after_cr {
                        self.line += 1;
                    }
                    self.run = 0;
                    self.after_cr = false;
                }
                _ => {
                    self.after_cr = false;
                    self.run += 1;
                    if self.run > MAX_LINE_BYTES {
                        self.too_long = true;
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            "line too long",
                        ));
                    }
                }
            }
        }
        Ok(n)
    }
}

/// Writes candles in atb's own format, which [`parse_csv`] reads back to the same values (Rust
/// prints each float in its shortest form that parses to the same bits). The order flow is
/// written when every candle has it, else left out: the format has one layout per file.
pub fn write_csv(candles: &[Candle]) -> String {
    use std::fmt::Write as _;
    let with_flow = !candles.is_empty() && candles.iter().all(|c| c.flow.is_some());
    let mut out = String::with_capacity(candles.len() * 64 + 64);
    out.push_str(if with_flow { HEADER_WITH_FLOW } else { HEADER });
    out.push('\n');
    for c in candles {
        let _ = write!(
            out,
            "{},{:?},{:?},{:?},{:?},{:?}",
            c.open_time, c.open, c.high, c.low, c.close, c.volume
        );
        if let (true, Some(f)) = (with_flow, c.flow) {
            let _ = write!(out, ",{},{:?}", f.trades, f.taker_buy_volume);
        }
        out.push('\n');
    }
    out
}

/// Parses and validates candle CSV text; `origin` names the file in errors.
pub fn parse_csv(text: &str, timeframe: Timeframe, origin: &str) -> Result<Vec<Candle>> {
    parse_reader(text.as_bytes(), timeframe, origin)
}

/// The layout the first non-blank row decides, and whether that row is a header (skipped).
fn layout_of_first_row(fields: &[&str]) -> std::result::Result<(Layout, bool), String> {
    if fields[0].parse::<i64>().is_ok() {
        return Ok((Layout::Archive, false));
    }
    let header = fields.join(",").to_ascii_lowercase();
    match header.as_str() {
        HEADER => Ok((Layout::Own, true)),
        HEADER_WITH_FLOW => Ok((Layout::OwnWithFlow, true)),
        _ => Err(format!(
            "unknown header {}: expected {HEADER:?}, {HEADER_WITH_FLOW:?} or Binance's headerless 12-column rows",
            excerpt(&fields.join(","))
        )),
    }
}

/// One data row as a candle, with every check that needs only the row: its column count,
/// numbers, a possible candle, on the timeframe's grid, closed by `now_ms`.
fn candle_of_row(
    fields: &[&str],
    layout: Layout,
    timeframe: Timeframe,
    now_ms: i64,
) -> std::result::Result<Candle, String> {
    let expected = layout.columns();
    if fields.len() != expected {
        return Err(format!("{} columns, expected {expected}", fields.len()));
    }
    let mut open_time: i64 = fields[0]
        .parse()
        .map_err(|_| format!("open time {} is not an integer", excerpt(fields[0])))?;
    if open_time >= MICROS_THRESHOLD {
        open_time /= 1000;
    }
    let num = |i: usize, name: &str| {
        fields[i]
            .parse::<f64>()
            .map_err(|_| format!("{name} {} is not a number", excerpt(fields[i])))
    };
    let flow = match layout.flow_columns() {
        None => None,
        Some((trades, bought)) => Some(OrderFlow {
            trades: fields[trades]
                .parse()
                .map_err(|_| format!("trades {} is not a count", excerpt(fields[trades])))?,
            taker_buy_volume: num(bought, "taker-buy volume")?,
        }),
    };
    let candle = Candle {
        open_time,
        open: num(1, "open")?,
        high: num(2, "high")?,
        low: num(3, "low")?,
        close: num(4, "close")?,
        volume: num(5, "volume")?,
        flow,
    };
    if let Some(defect) = candle.defect() {
        return Err(defect);
    }
    if open_time < EARLIEST_OPEN_MS {
        return Err(format!(
            "open time {open_time} is before {}: candle times count milliseconds since then",
            super::format_ms(EARLIEST_OPEN_MS)
        ));
    }
    if open_time.rem_euclid(timeframe.millis()) != 0 {
        return Err(format!(
            "open time {open_time} is not on a {timeframe} boundary"
        ));
    }
    // Closed candles only: one not yet closed by this machine's clock cannot be in an export,
    // and storing it would mark a future range as settled.
    if open_time.saturating_add(timeframe.millis()) > now_ms {
        return Err(format!(
            "open time {open_time} ({}) is in the future: a candle file holds closed candles only",
            super::format_ms(open_time)
        ));
    }
    Ok(candle)
}

/// Parses and validates candle CSV from `input`, one record at a time.
fn parse_reader(
    input: impl std::io::Read,
    timeframe: Timeframe,
    origin: &str,
) -> Result<Vec<Candle>> {
    let err = |line: usize, reason: String| Error::Csv {
        path: origin.to_string(),
        line,
        reason,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(LineLimit {
            inner: input,
            run: 0,
            line: 1,
            after_cr: false,
            too_long: false,
        });
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut candles: Vec<Candle> = Vec::new();
    let mut line_numbers: Vec<usize> = Vec::new();
    let mut layout: Option<Layout> = None;
    let mut record = csv::ByteRecord::new();
    // Lines are counted here, as the limit counts them (the csv reader counts `\n` only).
    let mut line_no = 0usize;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let limit = reader.get_ref();
                return Err(if limit.too_long {
                    err(
                        limit.line,
                        format!(
                            "a line longer than {MAX_LINE_BYTES} bytes: not a candle CSV (its rows are a few dozen bytes each; check the file and its line endings)"
                        ),
                    )
                } else {
                    err(line_no.max(1), format!("cannot be read as CSV: {e}"))
                });
            }
        }
        line_no = record.position().map_or(line_no + 1, |p| {
            // The csv reader's line, corrected for `\r`-only endings by the limit's count.
            (p.line() as usize).max(line_no + 1)
        });
        let mut fields: Vec<&str> = Vec::with_capacity(record.len());
        for field in record.iter() {
            fields.push(std::str::from_utf8(field).map_err(|e| {
                err(
                    line_no,
                    format!("not UTF-8 text (byte {} of a field)", e.valid_up_to()),
                )
            })?);
        }
        if line_no == 1
            && let Some(first) = fields.first_mut()
        {
            *first = first.strip_prefix('\u{feff}').unwrap_or(first);
        }
        if fields.iter().all(|f| f.is_empty()) {
            continue;
        }
        let layout = match layout {
            Some(layout) => layout,
            None => match layout_of_first_row(&fields).map_err(|r| err(line_no, r))? {
                (first, true) => {
                    layout = Some(first);
                    continue;
                }
                (first, false) => *layout.insert(first),
            },
        };
        let candle =
            candle_of_row(&fields, layout, timeframe, now_ms).map_err(|r| err(line_no, r))?;
        let open_time = candle.open_time;
        if let Some(prev) = candles.last()
            && open_time <= prev.open_time
        {
            return Err(err(
                line_no,
                format!(
                    "open time {open_time} is not after the previous row's {} (rows must be sorted and unique)",
                    prev.open_time
                ),
            ));
        }
        candles.push(candle);
        line_numbers.push(line_no);
    }
    if candles.is_empty() {
        return Err(err(1, "no candle rows".into()));
    }
    check_timeframe(&candles, timeframe).map_err(|(i, reason)| err(line_numbers[i], reason))?;
    Ok(candles)
}

/// A file of another timeframe passes every row check (4h times sit on 1h boundaries), so look at
/// the spacing: most consecutive rows of a real series are exactly one timeframe apart.
fn check_timeframe(
    candles: &[Candle],
    timeframe: Timeframe,
) -> std::result::Result<(), (usize, String)> {
    let step = timeframe.millis();
    let spacings: Vec<i64> = candles
        .windows(2)
        .map(|w| w[1].open_time.saturating_sub(w[0].open_time))
        .collect();
    let one_step = spacings.iter().filter(|&&d| d == step).count();
    if spacings.len() >= 2 && one_step * 2 < spacings.len() {
        let mut sorted = spacings.clone();
        sorted.sort_unstable();
        let typical = sorted[sorted.len() / 2];
        let first_off = spacings.iter().position(|&d| d != step).unwrap_or(0) + 1;
        return Err((
            first_off,
            format!(
                "rows are typically {} minutes apart, not one {timeframe} candle ({} minutes): is this file of another timeframe?",
                typical / 60_000,
                step / 60_000
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Candle>> {
        parse_csv(text, Timeframe::H1, "t.csv")
    }

    fn line_of(e: Error) -> usize {
        match e {
            Error::Csv { line, .. } => line,
            other => panic!("not a CSV error: {other}"),
        }
    }

    #[test]
    fn written_candles_read_back_bit_for_bit() {
        let awkward = [0.1 + 0.2, 1e-9, 12_345.678_901_234_5, 6.02e23, 7.0];
        let candles: Vec<Candle> = awkward
            .iter()
            .enumerate()
            .map(|(i, &v)| Candle {
                open_time: i as i64 * 3_600_000,
                open: v,
                high: v * 2.0,
                low: v / 2.0,
                close: v,
                volume: v,
                flow: Some(OrderFlow {
                    trades: i as u64 * 7,
                    taker_buy_volume: v / 3.0,
                }),
            })
            .collect();
        assert_eq!(parse(&write_csv(&candles)).unwrap(), candles);
        // One candle without its flow: written without the flow columns, read back without.
        let mut partial = candles.clone();
        partial[2].flow = None;
        let back = parse(&write_csv(&partial)).unwrap();
        assert!(back.iter().all(|c| c.flow.is_none()));
        assert_eq!(back[3].close.to_bits(), partial[3].close.to_bits());
    }

    #[test]
    fn parses_own_format() {
        let c = parse(
            "open_time_ms,open,high,low,close,volume\n0,1,2,0.5,1.5,10\n3600000,1.5,2,1,1.2,0\n",
        )
        .unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].volume, 0.0);
        assert_eq!(c[1].flow, None);
        // With the order flow.
        let c = parse(
            "open_time_ms,open,high,low,close,volume,trades,taker_buy_volume\n0,1,2,0.5,1.5,10,42,6.5\n",
        )
        .unwrap();
        assert_eq!(
            c[0].flow,
            Some(OrderFlow {
                trades: 42,
                taker_buy_volume: 6.5
            })
        );
        let line_2 = |text: &str| line_of(parse(text).unwrap_err());
        let with_flow = "open_time_ms,open,high,low,close,volume,trades,taker_buy_volume\n";
        assert_eq!(line_2(&format!("{with_flow}0,1,2,0.5,1.5,10,4.5,6\n")), 2);
        assert_eq!(line_2(&format!("{with_flow}0,1,2,0.5,1.5,10,4,11\n")), 2);
        assert_eq!(line_2(&format!("{with_flow}0,1,2,0.5,1.5,10\n")), 2);
    }

    #[test]
    fn parses_binance_archive_with_milli_and_microseconds() {
        let archive = include_str!("../../testdata/archive-spot-ADABTC-1m-2021-11-27-excerpt.csv");
        let c = parse_csv(archive, Timeframe::M1, "archive.csv").unwrap();
        assert_eq!(
            c.len(),
            archive.lines().filter(|l| !l.trim().is_empty()).count()
        );
        assert_eq!(c[0].open_time, 1_637_971_200_000);
        // The archive's trade count (column 9) and taker-buy base volume (column 10).
        let first: Vec<&str> = archive.lines().next().unwrap().split(',').collect();
        let flow = c[0].flow.unwrap();
        assert_eq!(flow.trades, first[8].parse::<u64>().unwrap());
        assert_eq!(flow.taker_buy_volume, first[9].parse::<f64>().unwrap());
        let micros = "1637971200000000,1,2,0.5,1.5,10,1637971259999999,0,1,0,0,0\n";
        assert_eq!(
            parse_csv(micros, Timeframe::M1, "m.csv").unwrap()[0].open_time,
            1_637_971_200_000
        );
    }

    #[test]
    fn bad_rows_name_their_line() {
        let h = "open_time_ms,open,high,low,close,volume\n";
        assert_eq!(
            line_of(parse(&format!("{h}0,1,2,0.5,1.5,10\n0,1,2,0.5,1.5,10\n")).unwrap_err()),
            3
        );
        assert_eq!(
            line_of(
                parse(&format!("{h}0,1,2,0.5,1.5,10\n7200000,1,1.2,0.5,1.5,10\n")).unwrap_err()
            ),
            3
        );
        assert_eq!(
            line_of(parse(&format!("{h}0,1,2,1.2,1.5,10\n")).unwrap_err()),
            2
        );
        assert_eq!(
            line_of(parse(&format!("{h}0,1,2,0.5,1.5,-1\n")).unwrap_err()),
            2
        );
        assert_eq!(
            line_of(parse(&format!("{h}0,1,2,0.5,NaN,1\n")).unwrap_err()),
            2
        );
        assert_eq!(
            line_of(parse(&format!("{h}0,1,2,0.5,x,1\n")).unwrap_err()),
            2
        );
        assert_eq!(line_of(parse(&format!("{h}0,1,2,0.5\n")).unwrap_err()), 2);
        // 2100-01-01: not closed yet, so not a candle a file can hold.
        let future = parse(&format!(
            "{h}0,1,2,0.5,1.5,10\n4102444800000,1,2,0.5,1.5,10\n"
        ))
        .unwrap_err();
        assert!(future.to_string().contains("in the future"), "{future}");
        assert_eq!(line_of(future), 3);
        assert_eq!(
            line_of(parse(&format!("{h}60000,1,2,0.5,1.5,1\n")).unwrap_err()),
            2
        );
        assert_eq!(line_of(parse("time,o,h,l,c,v\n").unwrap_err()), 1);
        assert!(parse(h).unwrap_err().to_string().contains("no candle rows"));
        // A 4h file read as 1h: every row is valid on its own, the spacing is not.
        let four_hourly: String = (0..10)
            .map(|i| format!("{},1,2,0.5,1.5,1\n", i * 4 * 3_600_000))
            .collect();
        let e = parse(&format!("{h}{four_hourly}")).unwrap_err();
        assert!(e.to_string().contains("240 minutes apart"), "{e}");
        assert_eq!(line_of(e), 3);
    }

    #[test]
    fn any_line_ending_is_read_and_an_overlong_line_is_refused_where_it_is() {
        let rows = [
            "open_time_ms,open,high,low,close,volume",
            "0,1,2,0.5,1.5,10",
            "3600000,1.5,2,1,1.2,0",
        ];
        for ending in ["\n", "\r\n", "\r"] {
            let c = parse(&rows.join(ending)).unwrap();
            assert_eq!(c.len(), 2, "ending {ending:?}");
        }
        // A bad row of a `\r`-only file still names its line.
        let bad = format!("{}\r0,1,2,0.5,1.5,10\r0,1,2,0.5,1.5,10\r", rows[0]);
        assert_eq!(line_of(parse(&bad).unwrap_err()), 3);
        // A line of commas is refused once it passes the limit, naming it.
        let commas = format!("{}\n0,1,2,0.5,1.5,10\n{}\n", rows[0], ",".repeat(5_000));
        let e = parse(&commas).unwrap_err();
        assert!(e.to_string().contains("longer than 1024 bytes"), "{e}");
        assert_eq!(line_of(e), 3);
    }

    #[test]
    fn negative_open_times_are_refused() {
        // Reliability audit 2, L6: this row overflowed the spacing check.
        let e = parse(
            "open_time_ms,open,high,low,close,volume\n-9223372036854720000,1,1,1,1,0\n1700000040000,1,1,1,1,0\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("before 1970-01-01"), "{e}");
        assert_eq!(line_of(e), 2);
    }

    #[test]
    fn special_files_are_refused_and_content_is_never_echoed_at_length() {
        let err = read_csv_file(Path::new("/dev/zero"), Timeframe::H1).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let err = read_csv_file(dir.path(), Timeframe::H1).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        // A file that was never a CSV (an environment dump: NUL-separated secrets on one line).
        let secret = format!("AWS_SECRET={}\0HOME=/root\0", "x".repeat(500));
        let path = dir.path().join("environ");
        std::fs::write(&path, &secret).unwrap();
        let message = read_csv_file(&path, Timeframe::H1).unwrap_err().to_string();
        assert!(!message.contains(&"x".repeat(41)), "{message}");
        assert!(!message.contains('\0'), "{message}");
        assert!(message.contains("unknown header"), "{message}");
    }
}
