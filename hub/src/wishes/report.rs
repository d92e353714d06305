//! The notification report (docs/design.md §11): what the notifications of each week, kind and
//! channel brought in. Pure: the dates asked for, the store's facts and the hub's time zone in;
//! the window to read and the report's rows out. A notification belongs to the week (Monday to
//! Sunday in the hub's time zone) it was queued in.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use tenpo_protocol::catalog::{NotificationReport, NotificationReportQuery, NotificationReportRow};

use crate::store::catalog::NoticeFacts;

/// The longest range one report covers.
pub const MAX_REPORT_YEARS: u32 = 3;

/// Why a report cannot be made of the dates asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("{field} {value:?} is not a date: write it as YYYY-MM-DD, e.g. 2026-11-02")]
    NotADate { field: &'static str, value: String },
    #[error("from {from} is after to {to}: from is the first day, to the last")]
    Reversed { from: NaiveDate, to: NaiveDate },
    #[error("from {from} to {to} is more than {MAX_REPORT_YEARS} years: ask for a shorter range")]
    TooLong { from: NaiveDate, to: NaiveDate },
}

/// What a report covers: whole weeks from the Monday of `from`, to the end of `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportWindow {
    /// The Monday of `from`'s week: the report's first day.
    pub first_day: NaiveDate,
    /// The last day, included.
    pub last_day: NaiveDate,
    /// When `first_day` begins in the hub's time zone.
    pub start: DateTime<Utc>,
    /// When the day after `last_day` begins: notifications queued in `[start, end)` count.
    pub end: DateTime<Utc>,
}

/// A date written exactly `YYYY-MM-DD`.
fn date(field: &'static str, value: &str) -> Result<NaiveDate, ReportError> {
    let bad = || ReportError::NotADate {
        field,
        value: value.chars().take(40).collect(),
    };
    let b = value.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !shaped {
        return Err(bad());
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| bad())
}

/// The Monday of `day`'s week.
pub fn monday_of(day: NaiveDate) -> NaiveDate {
    day - Days::new(u64::from(day.weekday().num_days_from_monday()))
}

/// When `day` begins in `zone` (a day whose midnight the clocks skip begins at the first local
/// time that exists).
pub fn start_of_day(zone: Tz, day: NaiveDate) -> DateTime<Utc> {
    (0..=3)
        .filter_map(|hour| NaiveTime::from_hms_opt(hour, 0, 0))
        .find_map(|time| zone.from_local_datetime(&day.and_time(time)).earliest())
        .map_or_else(
            || day.and_time(NaiveTime::MIN).and_utc(),
            |t| t.with_timezone(&Utc),
        )
}

/// The window of the report `query` asks for, in the hub's time zone `zone`: both dates
/// `YYYY-MM-DD`, `from` not after `to`, at most [`MAX_REPORT_YEARS`] years.
pub fn window(query: &NotificationReportQuery, zone: Tz) -> Result<ReportWindow, ReportError> {
    let from = date("from", &query.from)?;
    let to = date("to", &query.to)?;
    if from > to {
        return Err(ReportError::Reversed { from, to });
    }
    let limit = from.checked_add_months(Months::new(12 * MAX_REPORT_YEARS));
    if limit.is_none_or(|limit| to >= limit) {
        return Err(ReportError::TooLong { from, to });
    }
    let first_day = monday_of(from);
    let after = to.succ_opt().ok_or(ReportError::TooLong { from, to })?;
    Ok(ReportWindow {
        first_day,
        last_day: to,
        start: start_of_day(zone, first_day),
        end: start_of_day(zone, after),
    })
}

#[derive(Default)]
struct Tally {
    sent: u64,
    delivered: u64,
    clicked: u64,
    bought: u64,
    yen: i64,
}

/// The report's rows: the notifications grouped by the week they were queued in (its Monday, in
/// `zone`), kind and channel, in that order. `conversion_rate` is bought / delivered (0 when
/// none was delivered).
pub fn aggregate(facts: &[NoticeFacts], zone: Tz) -> Vec<NotificationReportRow> {
    let mut groups: BTreeMap<(NaiveDate, &str, &str), Tally> = BTreeMap::new();
    for fact in facts {
        let week = monday_of(fact.created_at.with_timezone(&zone).date_naive());
        let tally = groups
            .entry((week, fact.kind.as_str(), fact.channel.as_str()))
            .or_default();
        tally.sent += 1;
        tally.delivered += u64::from(fact.delivered);
        tally.clicked += u64::from(fact.clicked);
        tally.bought += u64::from(fact.bought);
        tally.yen = tally.yen.saturating_add(fact.yen);
    }
    groups
        .into_iter()
        .map(|((week, kind, channel), t)| NotificationReportRow {
            week: week.to_string(),
            kind: kind.to_owned(),
            channel: channel.to_owned(),
            sent: t.sent,
            delivered: t.delivered,
            clicked: t.clicked,
            bought: t.bought,
            yen: t.yen,
            conversion_rate: if t.delivered == 0 {
                0.0
            } else {
                t.bought as f64 / t.delivered as f64
            },
        })
        .collect()
}

/// Yen as people write it: `¥12,345` (`-¥500` below zero).
pub fn yen(amount: i64) -> String {
    let digits = amount.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(d);
    }
    let sign = if amount < 0 { "-" } else { "" };
    format!("{sign}¥{grouped}")
}

/// A rate as a percentage with one decimal: `66.7%`.
pub fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

/// The report as a table a person reads (`tenpo-hub report notifications`).
pub fn table(report: &NotificationReport) -> String {
    let mut out = format!(
        "Notifications queued {} to {} (a purchase counts within {} days)\n",
        report.from, report.to, report.attribution_days
    );
    if report.rows.is_empty() {
        out.push_str("none were queued\n");
        return out;
    }
    let head = [
        "week",
        "kind",
        "channel",
        "sent",
        "delivered",
        "clicked",
        "bought",
        "yen",
        "rate",
    ];
    let rows: Vec<[String; 9]> = report
        .rows
        .iter()
        .map(|r| {
            [
                r.week.clone(),
                r.kind.clone(),
                r.channel.clone(),
                r.sent.to_string(),
                r.delivered.to_string(),
                r.clicked.to_string(),
                r.bought.to_string(),
                yen(r.yen),
                percent(r.conversion_rate),
            ]
        })
        .collect();
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([head[i].len()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..head.len()).map(width).collect();
    let line = |cells: &[&str]| {
        let text: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| match i {
                // Words to the left, numbers to the right.
                0..=2 => format!("{c:<w$}", w = widths[i]),
                _ => format!("{c:>w$}", w = widths[i]),
            })
            .collect();
        text.join("  ").trim_end().to_owned() + "\n"
    };
    out.push_str(&line(&head));
    for r in &rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        out.push_str(&line(&cells));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const TOKYO: Tz = chrono_tz::Asia::Tokyo;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
    }

    fn fact(
        kind: &str,
        channel: &str,
        created_at: &str,
        outcome: (bool, bool, i64),
    ) -> NoticeFacts {
        let (delivered, clicked, yen) = outcome;
        NoticeFacts {
            kind: kind.into(),
            channel: channel.into(),
            created_at: at(created_at),
            delivered,
            clicked,
            yen,
            bought: yen > 0,
        }
    }

    fn query(from: &str, to: &str) -> NotificationReportQuery {
        NotificationReportQuery {
            from: from.into(),
            to: to.into(),
        }
    }

    #[test]
    fn a_notification_belongs_to_the_week_of_the_hubs_time_zone() {
        // 2026-11-08 is a Sunday. 23:30 on Sunday in Tokyo is 14:30 UTC; 00:30 on Monday in
        // Tokyo is still Sunday (15:30) in UTC, but the next week in Tokyo.
        let facts = [
            fact(
                "restock",
                "line",
                "2026-11-08T23:30:00+09:00",
                (true, true, 1200),
            ),
            fact(
                "restock",
                "line",
                "2026-11-09T00:30:00+09:00",
                (true, false, 0),
            ),
            fact(
                "restock",
                "line",
                "2026-11-09T00:45:00+09:00",
                (false, false, 0),
            ),
        ];
        assert_eq!(facts[1].created_at.date_naive().to_string(), "2026-11-08");
        let rows = aggregate(&facts, TOKYO);
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0].week, "2026-11-02");
        assert_eq!(
            (
                rows[0].sent,
                rows[0].delivered,
                rows[0].clicked,
                rows[0].bought,
                rows[0].yen
            ),
            (1, 1, 1, 1, 1200)
        );
        assert_eq!(rows[0].conversion_rate, 1.0);
        assert_eq!(rows[1].week, "2026-11-09");
        assert_eq!((rows[1].sent, rows[1].delivered, rows[1].bought), (2, 1, 0));
        assert_eq!(rows[1].conversion_rate, 0.0);
        // In UTC all three are the week of 2026-11-02.
        assert_eq!(aggregate(&facts, chrono_tz::UTC).len(), 1);
    }

    #[test]
    fn rows_by_week_kind_and_channel_with_the_rate_of_those_delivered() {
        let facts = [
            fact(
                "restock",
                "line",
                "2026-11-10T12:00:00+09:00",
                (true, true, 3000),
            ),
            fact(
                "price_drop",
                "email",
                "2026-11-11T12:00:00+09:00",
                (true, false, 0),
            ),
            fact(
                "restock",
                "email",
                "2026-11-12T12:00:00+09:00",
                (false, false, 0),
            ),
            fact(
                "restock",
                "line",
                "2026-11-12T12:00:00+09:00",
                (true, false, 0),
            ),
            fact(
                "restock",
                "line",
                "2026-11-13T12:00:00+09:00",
                (true, true, 500),
            ),
            fact(
                "last_one",
                "line",
                "2026-11-03T12:00:00+09:00",
                (true, true, 0),
            ),
        ];
        let rows = aggregate(&facts, TOKYO);
        let keys: Vec<(&str, &str, &str)> = rows
            .iter()
            .map(|r| (r.week.as_str(), r.kind.as_str(), r.channel.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("2026-11-02", "last_one", "line"),
                ("2026-11-09", "price_drop", "email"),
                ("2026-11-09", "restock", "email"),
                ("2026-11-09", "restock", "line"),
            ]
        );
        let line = &rows[3];
        assert_eq!((line.sent, line.delivered, line.clicked), (3, 3, 2));
        assert_eq!((line.bought, line.yen), (2, 3500));
        assert!((line.conversion_rate - 2.0 / 3.0).abs() < 1e-9);
        // Nothing delivered: a rate of 0, not a division by zero.
        assert_eq!(rows[2].delivered, 0);
        assert_eq!(rows[2].conversion_rate, 0.0);
        assert!(aggregate(&[], TOKYO).is_empty());
    }

    #[test]
    fn the_window_is_whole_weeks_from_the_monday_of_from_in_the_hubs_time_zone() {
        let w = window(&query("2026-11-11", "2026-11-15"), TOKYO).unwrap();
        assert_eq!(w.first_day.to_string(), "2026-11-09");
        assert_eq!(w.last_day.to_string(), "2026-11-15");
        assert_eq!(w.start, at("2026-11-09T00:00:00+09:00"));
        assert_eq!(w.end, at("2026-11-16T00:00:00+09:00"));
        // One day is a range too.
        assert!(window(&query("2026-11-15", "2026-11-15"), TOKYO).is_ok());
    }

    #[test]
    fn bad_dates_are_refused_with_what_is_wrong() {
        let err = |from: &str, to: &str| window(&query(from, to), TOKYO).unwrap_err();
        for bad in [
            "2026-13-01",
            "2026-2-01",
            "20261101",
            "2026-02-30",
            "",
            "2026-11-01T00",
        ] {
            assert!(
                matches!(
                    err(bad, "2026-11-30"),
                    ReportError::NotADate { field: "from", .. }
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            err("2026-11-01", "soon"),
            ReportError::NotADate { field: "to", .. }
        ));
        assert!(matches!(
            err("2026-11-30", "2026-11-01"),
            ReportError::Reversed { .. }
        ));
        assert!(
            err("2026-11-30", "2026-11-01")
                .to_string()
                .contains("after")
        );
        // Three years to the day before is the longest.
        assert!(window(&query("2024-01-01", "2026-12-31"), TOKYO).is_ok());
        assert!(matches!(
            err("2024-01-01", "2027-01-01"),
            ReportError::TooLong { .. }
        ));
        assert!(
            err("2000-01-01", "2026-01-01")
                .to_string()
                .contains("3 years")
        );
    }

    #[test]
    fn a_day_begins_at_its_first_local_time() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 9).unwrap();
        assert_eq!(start_of_day(TOKYO, d), at("2026-11-08T15:00:00Z"));
        // Santiago's clocks went from 00:00 to 01:00 on 2024-09-08: the day began at 01:00.
        let skipped = NaiveDate::from_ymd_opt(2024, 9, 8).unwrap();
        assert_eq!(
            start_of_day(chrono_tz::America::Santiago, skipped),
            at("2024-09-08T01:00:00-03:00")
        );
    }

    #[test]
    fn the_table_groups_yen_and_shows_the_rate_as_a_percentage() {
        assert_eq!(yen(0), "¥0");
        assert_eq!(yen(999), "¥999");
        assert_eq!(yen(12_345), "¥12,345");
        assert_eq!(yen(1_234_567), "¥1,234,567");
        assert_eq!(yen(-500), "-¥500");
        assert_eq!(percent(2.0 / 3.0), "66.7%");
        let facts = [
            fact(
                "restock",
                "line",
                "2026-11-10T12:00:00+09:00",
                (true, true, 12_345),
            ),
            fact(
                "restock",
                "line",
                "2026-11-11T12:00:00+09:00",
                (true, false, 0),
            ),
            fact(
                "price_drop",
                "email",
                "2026-11-11T12:00:00+09:00",
                (false, false, 0),
            ),
        ];
        let report = NotificationReport {
            from: "2026-11-09".into(),
            to: "2026-11-15".into(),
            attribution_days: 14,
            rows: aggregate(&facts, TOKYO),
        };
        assert_eq!(
            table(&report),
            "Notifications queued 2026-11-09 to 2026-11-15 (a purchase counts within 14 days)\n\
             week        kind        channel  sent  delivered  clicked  bought      yen   rate\n\
             2026-11-09  price_drop  email       1          0        0       0       ¥0   0.0%\n\
             2026-11-09  restock     line        2          2        1       1  ¥12,345  50.0%\n"
        );
        let empty = NotificationReport {
            rows: vec![],
            ..report
        };
        assert!(table(&empty).ends_with("none were queued\n"));
    }
}
