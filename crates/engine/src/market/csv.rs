//! Candle CSV files: atb's own `open_time_ms,open,high,low,close,volume` with a header, or
//! Binance's headerless 12-column bulk-archive format (millisecond or microsecond open times).
//!
//! Every row is validated; the first bad one is an error naming its line.

use std::path::Path;

use super::{Candle, Timeframe};
use crate::error::{Error, Result};

/// The header of atb's own CSV format.
pub const HEADER: &str = "open_time_ms,open,high,low,close,volume";

/// Open times above this are microseconds (in milliseconds it would be the year 5138).
const MICROS_THRESHOLD: i64 = 100_000_000_000_000;

/// Reads and validates a candle CSV file of the given timeframe.
pub fn read_csv_file(path: &Path, timeframe: Timeframe) -> Result<Vec<Candle>> {
    use std::io::Read;
    // A device, FIFO or /proc file is refused before it is opened for reading: it could block
    // forever or never end.
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::InvalidRequest(format!(
            "{} is not a regular file; give the path of a candle CSV file",
            path.display()
        )));
    }
    let too_big = || {
        Error::InvalidRequest(format!(
            "{} is larger than {} MiB, more than any candle CSV atb imports; split it (e.g. one file per year)",
            path.display(),
            MAX_CSV_BYTES >> 20
        ))
    };
    if meta.len() > MAX_CSV_BYTES {
        return Err(too_big());
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_CSV_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > MAX_CSV_BYTES {
        return Err(too_big());
    }
    let text = String::from_utf8(bytes).map_err(|e| Error::Csv {
        path: path.display().to_string(),
        line: 0,
        reason: format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
    })?;
    parse_csv(&text, timeframe, &path.display().to_string())
}

/// The largest CSV file read: 20 years of 1-minute candles in Binance's archive format.
pub const MAX_CSV_BYTES: u64 = 2 << 30;

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

/// Parses and validates candle CSV text; `origin` names the file in errors.
pub fn parse_csv(text: &str, timeframe: Timeframe, origin: &str) -> Result<Vec<Candle>> {
    let err = |line: usize, reason: String| Error::Csv {
        path: origin.to_string(),
        line,
        reason,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut candles: Vec<Candle> = Vec::new();
    let mut line_numbers: Vec<usize> = Vec::new();
    let mut headerless: Option<bool> = None;
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if headerless.is_none() {
            let looks_like_header = fields[0].parse::<i64>().is_err();
            if looks_like_header {
                let header = fields.join(",").to_ascii_lowercase();
                if header != HEADER {
                    return Err(err(
                        line_no,
                        format!(
                            "unknown header {}: expected {HEADER:?} or Binance's headerless 12-column rows",
                            excerpt(line)
                        ),
                    ));
                }
                headerless = Some(false);
                continue;
            }
            headerless = Some(true);
        }
        let expected = if headerless == Some(true) { 12 } else { 6 };
        if fields.len() != expected {
            return Err(err(
                line_no,
                format!("{} columns, expected {expected}", fields.len()),
            ));
        }
        let mut open_time: i64 = fields[0].parse().map_err(|_| {
            err(
                line_no,
                format!("open time {} is not an integer", excerpt(fields[0])),
            )
        })?;
        if open_time >= MICROS_THRESHOLD {
            open_time /= 1000;
        }
        let num = |i: usize, name: &str| {
            fields[i].parse::<f64>().map_err(|_| {
                err(
                    line_no,
                    format!("{name} {} is not a number", excerpt(fields[i])),
                )
            })
        };
        let candle = Candle {
            open_time,
            open: num(1, "open")?,
            high: num(2, "high")?,
            low: num(3, "low")?,
            close: num(4, "close")?,
            volume: num(5, "volume")?,
        };
        if let Some(defect) = candle.defect() {
            return Err(err(line_no, defect));
        }
        if open_time.rem_euclid(timeframe.millis()) != 0 {
            return Err(err(
                line_no,
                format!("open time {open_time} is not on a {timeframe} boundary"),
            ));
        }
        // Closed candles only: one not yet closed by this machine's clock cannot be in an export,
        // and storing it would mark a future range as settled.
        if open_time.saturating_add(timeframe.millis()) > now_ms {
            return Err(err(
                line_no,
                format!(
                    "open time {open_time} ({}) is in the future: a candle file holds closed candles only",
                    super::format_ms(open_time)
                ),
            ));
        }
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
        .map(|w| w[1].open_time - w[0].open_time)
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
    fn parses_own_format() {
        let c = parse(
            "open_time_ms,open,high,low,close,volume\n0,1,2,0.5,1.5,10\n3600000,1.5,2,1,1.2,0\n",
        )
        .unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].volume, 0.0);
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
