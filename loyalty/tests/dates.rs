//! Business dates: construction, parsing, arithmetic, epoch days and weekdays, and how dates
//! serialise.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use tenpo_loyalty::{Date, DateError, MemberState, Weekday};

/// `y-m-day` is a date, with those parts, that prints and parses back.
#[track_caller]
fn valid(y: i32, m: u32, day: u32) {
    let date = Date::from_ymd(y, m, day).unwrap();
    let parts = (date.year(), date.month(), date.day());
    assert_eq!(parts, (y, m, day), "{y}-{m}-{day}");
    assert_eq!(date.to_string().parse::<Date>(), Ok(date), "{y}-{m}-{day}");
}

/// `y-m-day` is no date.
#[track_caller]
fn invalid(y: i32, m: u32, day: u32) {
    assert_eq!(
        Date::from_ymd(y, m, day),
        Err(DateError::OutOfRange {
            year: y,
            month: m,
            day
        }),
        "{y}-{m}-{day}"
    );
}

#[test]
#[rustfmt::skip]
fn date_construction_table() {
    // (year, month, day)
    valid(2026, 11, 22);
    valid(2024, 2, 29);
    valid(2000, 2, 29);
    valid(1, 1, 1);
    valid(9999, 12, 31);
    valid(2026, 4, 30);
    valid(2026, 12, 31);
    invalid(2026, 2, 29);
    invalid(1900, 2, 29);
    invalid(2100, 2, 29);
    invalid(2026, 4, 31);
    invalid(2026, 1, 32);
    invalid(2026, 1, 0);
    invalid(2026, 0, 1);
    invalid(2026, 13, 1);
    invalid(0, 1, 1);
    invalid(10_000, 1, 1);
    invalid(-1, 1, 1);
    // Days and months beyond 255 must not wrap around to a valid day.
    invalid(2026, 1, 257);
    invalid(2026, 1, 256 + 31);
    invalid(2026, 257, 1);
    invalid(2026, 1, u32::MAX);
}

/// `s` does not parse as a date, and the error says something.
#[track_caller]
fn unparsable(s: &str) {
    match s.parse::<Date>() {
        Ok(date) => panic!("{s:?} parsed as {date}"),
        Err(err) => assert!(!err.to_string().is_empty(), "{s:?}"),
    }
}

#[test]
#[rustfmt::skip]
fn date_parsing_table() {
    unparsable("");
    unparsable("2026-11-2");
    unparsable("2026-11-222");
    unparsable("2026-11-22 ");
    unparsable(" 2026-11-22");
    unparsable("2026-11-22T00:00");
    unparsable("2026_11_22");
    unparsable("20261122xx");
    unparsable("abcd-ef-gh");
    unparsable("2026-+1-22");
    unparsable("2026--1-22");
    unparsable("-026-11-22");
    unparsable("0000-01-01");
    unparsable("2026-02-30");
    unparsable("2026-ab-01");
    unparsable("２０２６-11-22");
    unparsable("2026-11-2\u{00e9}");
    assert_eq!("0001-01-01".parse(), Ok(Date::MIN));
    assert_eq!("9999-12-31".parse(), Ok(Date::MAX));
    assert_eq!(Date::MIN.to_string(), "0001-01-01");
}

#[track_caller]
fn plus_days(from: &str, n: i64, to: &str) {
    assert_eq!(d(from).add_days(n), d(to), "{from} + {n} days");
}

#[track_caller]
fn plus_months(from: &str, n: i32, to: &str) {
    assert_eq!(d(from).add_months(n), d(to), "{from} + {n} months");
}

#[track_caller]
fn end_of_month(from: &str, to: &str) {
    assert_eq!(d(from).end_of_month(), d(to), "end of the month of {from}");
}

#[test]
#[rustfmt::skip]
fn date_arithmetic_table() {
    // (date, days added, result)
    plus_days("2026-11-22", 0, "2026-11-22");
    plus_days("2026-11-22", 9, "2026-12-01");
    plus_days("2026-12-31", 1, "2027-01-01");
    plus_days("2024-02-28", 1, "2024-02-29");
    plus_days("2023-02-28", 1, "2023-03-01");
    plus_days("2024-03-01", -1, "2024-02-29");
    plus_days("2000-02-28", 1, "2000-02-29");
    plus_days("1900-02-28", 1, "1900-03-01");
    plus_days("2026-11-22", 365, "2027-11-22");
    plus_days("2026-11-22", 179, "2027-05-20");
    plus_days("1970-01-01", -1, "1969-12-31");
    plus_days("0001-01-01", -1, "0001-01-01");
    plus_days("9999-12-31", 1, "9999-12-31");
    plus_days("2026-11-22", i64::MAX, "9999-12-31");
    plus_days("2026-11-22", i64::MIN, "0001-01-01");
    plus_days("2026-11-22", i64::MAX - 1_000_000, "9999-12-31");
    plus_days("9999-12-31", i64::MAX, "9999-12-31");
    plus_days("0001-01-01", i64::MIN, "0001-01-01");
    plus_days("0001-01-01", 3_652_058, "9999-12-31");
    // (date, months added, result)
    plus_months("2026-11-22", 12, "2027-11-22");
    plus_months("2026-11-22", -12, "2025-11-22");
    plus_months("2026-01-31", 1, "2026-02-28");
    plus_months("2024-01-31", 1, "2024-02-29");
    plus_months("2024-02-29", 12, "2025-02-28");
    plus_months("2024-02-29", 48, "2028-02-29");
    plus_months("2026-03-31", -1, "2026-02-28");
    plus_months("2026-12-15", 1, "2027-01-15");
    plus_months("2026-01-15", -1, "2025-12-15");
    plus_months("2026-05-31", -13, "2025-04-30");
    plus_months("0001-01-15", -1, "0001-01-01");
    plus_months("9999-12-15", 1, "9999-12-31");
    plus_months("2026-11-22", i32::MAX, "9999-12-31");
    plus_months("2026-11-22", i32::MIN, "0001-01-01");
    // (date, the end of its month)
    end_of_month("2026-02-01", "2026-02-28");
    end_of_month("2024-02-10", "2024-02-29");
    end_of_month("2026-04-30", "2026-04-30");
    end_of_month("2026-12-01", "2026-12-31");
    end_of_month("2100-02-01", "2100-02-28");
}

/// `s` is `n` days after 1970-01-01, and a `w`.
#[track_caller]
fn epoch(s: &str, n: i64, w: Weekday) {
    assert_eq!(d(s).days_since_epoch(), n, "{s}");
    assert_eq!(Date::from_days_since_epoch(n), Some(d(s)), "{s}");
    assert_eq!(d(s).weekday(), w, "{s}");
}

/// No date is `n` days after 1970-01-01.
#[track_caller]
fn no_date(n: i64) {
    assert_eq!(Date::from_days_since_epoch(n), None, "{n}");
}

#[test]
#[rustfmt::skip]
fn date_epoch_days_and_weekdays() {
    use Weekday::{Fri, Mon, Sat, Sun, Thu, Tue, Wed};
    // (date, days since 1970-01-01, weekday)
    epoch("1970-01-01", 0, Thu);
    epoch("1969-12-31", -1, Wed);
    epoch("2000-01-01", 10_957, Sat);
    epoch("2026-11-22", 20_779, Sun);
    epoch("2026-11-23", 20_780, Mon);
    epoch("2026-11-24", 20_781, Tue);
    epoch("2026-11-25", 20_782, Wed);
    epoch("2026-11-27", 20_784, Fri);
    epoch("0001-01-01", -719_162, Mon);
    epoch("9999-12-31", 2_932_896, Fri);
    no_date(-719_163);
    no_date(2_932_897);
    no_date(i64::MAX);
    no_date(i64::MIN);
    no_date(i64::MAX - 719_468);
    no_date(i64::MIN + 1);
    assert!(d("2026-11-22") < d("2026-11-23"));
    assert!(d("2026-11-30") < d("2026-12-01"));
    assert!(d("2025-12-31") < d("2026-01-01"));
}

#[test]
fn dates_serialise_as_text() {
    let date = d("2026-11-22");
    assert_eq!(serde_json::to_string(&date).unwrap(), "\"2026-11-22\"");
    assert_eq!(
        serde_json::from_str::<Date>("\"2026-11-22\"").unwrap(),
        date
    );
    assert!(serde_json::from_str::<Date>("\"2026-02-29\"").is_err());
    assert!(serde_json::from_str::<Date>("20261122").is_err());
    // As map keys (the member's spend per day).
    let state = spent(100, "2026-11-22");
    let json = serde_json::to_string(&state).unwrap();
    assert!(json.contains("\"2026-11-22\":100"), "{json}");
    assert_eq!(serde_json::from_str::<MemberState>(&json).unwrap(), state);
    // Quoted in TOML.
    #[derive(serde::Deserialize)]
    struct OnlyDate {
        on: Date,
    }
    let parsed: OnlyDate = toml::from_str("on = \"2026-11-22\"").unwrap();
    assert_eq!(parsed.on, date);
    // And as TOML's own date literal.
    let parsed: OnlyDate = toml::from_str("on = 2026-11-22").unwrap();
    assert_eq!(parsed.on, date);
    for not_a_date in [
        "on = 2026-11-22T10:00:00",
        "on = 2026-11-22T10:00:00+09:00",
        "on = 10:00:00",
        "on = 20261122",
        "on = { year = 2026 }",
        "on = \"2026-11-31\"",
    ] {
        let err = toml::from_str::<OnlyDate>(not_a_date)
            .map(|d| d.on)
            .unwrap_err();
        assert!(!err.to_string().is_empty(), "{not_a_date}");
    }
    assert!(
        serde_json::from_str::<Date>(r#"{"$__toml_private_datetime": "2026-11-22", "x": 1}"#)
            .is_err()
    );
    assert!(serde_json::from_str::<Date>(r#"{"on": "2026-11-22"}"#).is_err());
}
