//! A civil calendar date (the store's business date), with just the arithmetic the rules need.
//!
//! The engine never reads a clock or a time zone: callers turn an instant into the store's
//! business date and hand it in. Serialised as `YYYY-MM-DD`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A date in the proleptic Gregorian calendar, years 1..=9999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: i32,
    month: u8,
    day: u8,
}

/// Day of the week, Monday first (ISO 8601).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

/// Why a date could not be made or parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateError {
    Format(String),
    OutOfRange { year: i32, month: u32, day: u32 },
}

impl fmt::Display for DateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DateError::Format(s) => write!(f, "{s:?} is not a date: expected YYYY-MM-DD"),
            DateError::OutOfRange { year, month, day } => {
                write!(
                    f,
                    "{year:04}-{month:02}-{day:02} is not a day of the calendar"
                )
            }
        }
    }
}

impl std::error::Error for DateError {}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(year) => 29,
        _ => 28,
    }
}

impl Date {
    /// The date `year-month-day`, if it exists (years 1..=9999).
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Result<Date, DateError> {
        let bad = DateError::OutOfRange { year, month, day };
        if !(1..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(bad);
        }
        let month = month as u8;
        // The day is checked as a u32, before narrowing: narrowing first would wrap 257 to 1.
        if day == 0 || day > u32::from(days_in_month(year, month)) {
            return Err(bad);
        }
        Ok(Date {
            year,
            month,
            day: day as u8,
        })
    }

    pub fn year(self) -> i32 {
        self.year
    }
    pub fn month(self) -> u32 {
        u32::from(self.month)
    }
    pub fn day(self) -> u32 {
        u32::from(self.day)
    }

    /// Days since 1970-01-01 (negative before), by Howard Hinnant's `days_from_civil`.
    pub fn days_since_epoch(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` days after 1970-01-01, if it is within years 1..=9999.
    pub fn from_days_since_epoch(days: i64) -> Option<Date> {
        // Out of range days are refused first: the arithmetic below would overflow near
        // i64::MAX (as `add_days` with a saturated count reaches).
        if !(Date::MIN.days_since_epoch()..=Date::MAX.days_since_epoch()).contains(&days) {
            return None;
        }
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        let year = i32::try_from(year).ok()?;
        Date::from_ymd(year, month as u32, day as u32).ok()
    }

    /// This date moved by `days` (saturating at the ends of the calendar).
    pub fn add_days(self, days: i64) -> Date {
        Date::from_days_since_epoch(self.days_since_epoch().saturating_add(days))
            .unwrap_or(if days < 0 { Date::MIN } else { Date::MAX })
    }

    /// The same day `months` months later (or earlier), clamped to the end of a shorter month:
    /// 2024-01-31 plus one month is 2024-02-29.
    pub fn add_months(self, months: i32) -> Date {
        let index = i64::from(self.year) * 12 + i64::from(self.month) - 1 + i64::from(months);
        let year = index.div_euclid(12);
        let month = (index.rem_euclid(12) + 1) as u8;
        let Ok(year) = i32::try_from(year) else {
            return if months < 0 { Date::MIN } else { Date::MAX };
        };
        if year < 1 {
            return Date::MIN;
        }
        if year > 9999 {
            return Date::MAX;
        }
        let day = self.day.min(days_in_month(year, month));
        Date { year, month, day }
    }

    /// The last day of this date's month.
    pub fn end_of_month(self) -> Date {
        Date {
            day: days_in_month(self.year, self.month),
            ..self
        }
    }

    pub fn weekday(self) -> Weekday {
        // 1970-01-01 was a Thursday.
        match self.days_since_epoch().rem_euclid(7) {
            0 => Weekday::Thu,
            1 => Weekday::Fri,
            2 => Weekday::Sat,
            3 => Weekday::Sun,
            4 => Weekday::Mon,
            5 => Weekday::Tue,
            _ => Weekday::Wed,
        }
    }

    pub const MIN: Date = Date {
        year: 1,
        month: 1,
        day: 1,
    };
    pub const MAX: Date = Date {
        year: 9999,
        month: 12,
        day: 31,
    };
}

impl Date {
    /// `YYYY-MM-DD`, digit by digit: a member's snapshot holds several dates, a feed page 2,000
    /// snapshots, and `write!` with padded fields cost the hub a tenth of writing a page
    /// (docs/benchmarks.md). Years are 1..=9999, so four digits always hold one.
    fn iso(self) -> [u8; 10] {
        let digit = |n: u32| b'0' + (n % 10) as u8;
        let (y, m, d) = (
            self.year.unsigned_abs(),
            u32::from(self.month),
            u32::from(self.day),
        );
        [
            digit(y / 1000),
            digit(y / 100),
            digit(y / 10),
            digit(y),
            b'-',
            digit(m / 10),
            digit(m),
            b'-',
            digit(d / 10),
            digit(d),
        ]
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(&self.iso()) {
            Ok(text) => f.write_str(text),
            Err(_) => write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day),
        }
    }
}

impl FromStr for Date {
    type Err = DateError;

    fn from_str(s: &str) -> Result<Date, DateError> {
        let format = || DateError::Format(s.to_owned());
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(format());
        }
        let num = |r: std::ops::Range<usize>| -> Result<u32, DateError> {
            let part = &s[r];
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return Err(format());
            }
            part.parse().map_err(|_| format())
        };
        let year = num(0..4)?;
        Date::from_ymd(year as i32, num(5..7)?, num(8..10)?)
    }
}

impl Serialize for Date {
    /// Through `Display`, which writes the text in one piece.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The key under which the `toml` crate hands over a TOML date literal (`on = 2026-11-22`, as
/// opposed to the quoted `on = "2026-11-22"`): a one-entry map holding the literal's text.
const TOML_DATETIME_KEY: &str = "$__toml_private_datetime";

struct DateVisitor;

impl<'de> serde::de::Visitor<'de> for DateVisitor {
    type Value = Date;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a date as \"YYYY-MM-DD\"")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Date, E> {
        s.parse().map_err(E::custom)
    }

    // Rule sets are written in TOML, where a bare date is the natural way to write one.
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Date, A::Error> {
        use serde::de::Error;
        match map.next_entry::<String, String>()? {
            Some((key, text)) if key == TOML_DATETIME_KEY => {
                if map.next_key::<serde::de::IgnoredAny>()?.is_some() {
                    return Err(A::Error::custom("a date is a single value"));
                }
                text.parse().map_err(A::Error::custom)
            }
            _ => Err(A::Error::invalid_type(serde::de::Unexpected::Map, &self)),
        }
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
        deserializer.deserialize_str(DateVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Every day of the calendar's ends and of a leap year prints as `{:04}-{:02}-{:02}` and
    /// serializes as the same string.
    #[test]
    fn prints_every_date_as_four_two_and_two_digits() {
        let days = (0..800)
            .map(|n| Date::MIN.add_days(n))
            .chain((0..800).map(|n| Date::MAX.add_days(-n)))
            .chain((0..366).map(|n| d("2024-01-01").add_days(n)))
            .chain([d("0999-12-31"), d("1000-01-01"), d("2026-11-22")]);
        for date in days {
            let expected = format!("{:04}-{:02}-{:02}", date.year, date.month, date.day);
            assert_eq!(date.to_string(), expected);
            assert_eq!(
                serde_json::to_string(&date).unwrap_or_default(),
                format!("\"{expected}\"")
            );
            assert_eq!(expected.parse::<Date>(), Ok(date));
        }
    }

    #[test]
    fn parses_and_prints() {
        assert_eq!(d("2026-11-22").to_string(), "2026-11-22");
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "26-11-22",
            "2026/11/22",
            "2026-1-022",
            "+026-11-22",
        ] {
            assert!(bad.parse::<Date>().is_err(), "{bad} should not parse");
        }
        assert_eq!(d("2024-02-29").day(), 29);
    }

    #[test]
    fn epoch_days_round_trip() {
        assert_eq!(d("1970-01-01").days_since_epoch(), 0);
        assert_eq!(d("2000-03-01").days_since_epoch(), 11_017);
        for n in [-719_162, -1, 0, 1, 59, 11_016, 20_000, 2_932_896] {
            let date = Date::from_days_since_epoch(n).unwrap_or_else(|| panic!("{n}"));
            assert_eq!(date.days_since_epoch(), n);
        }
    }

    #[test]
    fn month_arithmetic_clamps() {
        assert_eq!(d("2024-01-31").add_months(1), d("2024-02-29"));
        assert_eq!(d("2025-01-31").add_months(1), d("2025-02-28"));
        assert_eq!(d("2026-11-22").add_months(12), d("2027-11-22"));
        assert_eq!(d("2026-03-31").add_months(-1), d("2026-02-28"));
        assert_eq!(
            d("2026-11-22").add_months(12).end_of_month(),
            d("2027-11-30")
        );
    }

    #[test]
    fn weekdays() {
        assert_eq!(d("2026-11-22").weekday(), Weekday::Sun);
        assert_eq!(d("2024-02-29").weekday(), Weekday::Thu);
    }
}
