//! A calendar day in UTC, checked once: the date fields of the desktop form, the CLI's
//! `--start-date` / `--end-date` and the engine's date ranges all parse through
//! [`Date::parse`], so a day that does not exist (2024-02-31) is refused in the form, inline,
//! with the same words the engine would use.

use std::fmt;

/// A day of the proleptic Gregorian calendar, written `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    year: i32,
    month: u32,
    day: u32,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1-12) of `year`.
pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Date {
    /// Parses `YYYY-MM-DD` (surrounding spaces ignored); the reason names what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let s = text.trim();
        let b = s.as_bytes();
        let shape = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && [0..4, 5..7, 8..10]
                .iter()
                .all(|r| b[r.clone()].iter().all(u8::is_ascii_digit));
        if !shape {
            return Err(format!("{text:?} is not a date of the form YYYY-MM-DD"));
        }
        let number = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(0);
        let (year, month, day) = (number(0..4) as i32, number(5..7), number(8..10));
        if !(1..=12).contains(&month) {
            return Err(format!("{s}: there is no month {month}"));
        }
        let last = days_in_month(year, month);
        if !(1..=last).contains(&day) {
            return Err(format!(
                "{s} is not a day: {} {year} has {last} days",
                MONTHS[month as usize - 1]
            ));
        }
        Ok(Self { year, month, day })
    }

    /// Milliseconds since 1970-01-01T00:00Z at the start of this day (UTC).
    pub fn start_ms(self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        (era * 146_097 + doe - 719_468) * 86_400_000
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl std::str::FromStr for Date {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_that_do_not_exist_are_refused_with_the_reason() {
        assert!(Date::parse("2024-02-29").is_ok());
        assert!(Date::parse("2000-02-29").is_ok());
        assert_eq!(
            Date::parse("2024-02-31").unwrap_err(),
            "2024-02-31 is not a day: February 2024 has 29 days"
        );
        assert!(Date::parse("2023-02-29").is_err());
        assert!(Date::parse("1900-02-29").is_err());
        assert!(Date::parse("2024-04-31").is_err());
        assert_eq!(
            Date::parse("2024-13-01").unwrap_err(),
            "2024-13-01: there is no month 13"
        );
        for bad in ["2024-1-01", "24-01-01", "2024/01/01", "2024-01-01T00", ""] {
            assert!(
                Date::parse(bad).unwrap_err().contains("YYYY-MM-DD"),
                "{bad}"
            );
        }
        assert_eq!(
            Date::parse(" 2024-03-05 ").unwrap().to_string(),
            "2024-03-05"
        );
    }

    #[test]
    fn the_start_of_a_day_in_utc_milliseconds() {
        // By hand: 1970-01-01 is 0; 2024-01-01 is 19,723 days later; 2000-03-01 is 11,017.
        assert_eq!(Date::parse("1970-01-01").unwrap().start_ms(), 0);
        assert_eq!(
            Date::parse("2024-01-01").unwrap().start_ms(),
            1_704_067_200_000
        );
        assert_eq!(
            Date::parse("2000-03-01").unwrap().start_ms(),
            11_017 * 86_400_000
        );
        assert_eq!(Date::parse("1969-12-31").unwrap().start_ms(), -86_400_000);
        let feb = Date::parse("2024-02-29").unwrap().start_ms();
        assert_eq!(
            Date::parse("2024-03-01").unwrap().start_ms() - feb,
            86_400_000
        );
        assert!(Date::parse("2024-01-02").unwrap() > Date::parse("2023-12-31").unwrap());
    }
}
