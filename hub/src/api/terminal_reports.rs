//! What terminals say of themselves on each call (`x-tenpo-agent-version`,
//! `x-tenpo-outbox-seq`, `x-tenpo-clock`), kept for the console's terminals page
//! (docs/design.md §13). A terminal calls every few seconds: what it says is written at most
//! once a [`WRITE_EVERY`] (sooner when its version changes), after the answer, never on the
//! request's path, and a failure to write costs the request nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use tenpo_protocol::sync::{AGENT_VERSION_HEADER, CLOCK_HEADER, OUTBOX_SEQ_HEADER};

use crate::store::console::TerminalReport;

/// How often one terminal's report is written at most.
pub const WRITE_EVERY: Duration = Duration::from_secs(30);

/// The longest version text kept.
const MAX_VERSION: usize = 64;

/// The reports last written, per terminal.
#[derive(Debug, Default)]
pub struct TerminalReports {
    written: Mutex<HashMap<String, (Instant, String)>>,
}

/// A terminal's report from the headers of its call, if it sent one (an older agent does not);
/// anything malformed is ignored, never refused.
pub fn read(headers: &HeaderMap, now: DateTime<Utc>) -> Option<TerminalReport> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let version = text(AGENT_VERSION_HEADER)?;
    if version.is_empty()
        || version.len() > MAX_VERSION
        || !version.bytes().all(|b| b.is_ascii_graphic())
    {
        return None;
    }
    let outbox_seq = text(OUTBOX_SEQ_HEADER)?.parse::<u64>().ok()?;
    let clock = DateTime::parse_from_rfc3339(text(CLOCK_HEADER)?).ok()?;
    let clock_skew_ms = (clock.with_timezone(&Utc) - now).num_milliseconds();
    Some(TerminalReport {
        agent_version: version.to_owned(),
        outbox_seq,
        clock_skew_ms,
    })
}

impl TerminalReports {
    /// Whether `report` from `terminal_id` is due to be written (and notes it written).
    pub fn due(&self, terminal_id: &str, report: &TerminalReport, now: Instant) -> bool {
        let mut written = self
            .written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let due = match written.get(terminal_id) {
            Some((at, version)) => {
                *version != report.agent_version || now.duration_since(*at) >= WRITE_EVERY
            }
            None => true,
        };
        if due {
            written.insert(terminal_id.to_owned(), (now, report.agent_version.clone()));
        }
        due
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn headers(version: &str, seq: &str, clock: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AGENT_VERSION_HEADER, version.parse().unwrap());
        h.insert(OUTBOX_SEQ_HEADER, seq.parse().unwrap());
        h.insert(CLOCK_HEADER, clock.parse().unwrap());
        h
    }

    #[test]
    fn a_report_is_read_with_the_terminals_clock_against_the_hubs() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap()
            .to_utc();
        let r = read(&headers("0.1.0", "42", "2026-12-01T10:00:03.5Z"), now).unwrap();
        assert_eq!(
            (r.agent_version.as_str(), r.outbox_seq, r.clock_skew_ms),
            ("0.1.0", 42, 3_500)
        );
        for bad in [
            headers("0.1.0", "-1", "2026-12-01T10:00:00Z"),
            headers("0.1.0", "42", "yesterday"),
            headers("", "42", "2026-12-01T10:00:00Z"),
            headers(&"9".repeat(65), "42", "2026-12-01T10:00:00Z"),
        ] {
            assert_eq!(read(&bad, now), None);
        }
        assert_eq!(
            read(&HeaderMap::new(), now),
            None,
            "an older agent says nothing"
        );
    }

    #[test]
    fn a_report_is_written_at_most_every_so_often_unless_the_version_changes() {
        let reports = TerminalReports::default();
        let t0 = Instant::now();
        let r = |v: &str| TerminalReport {
            agent_version: v.into(),
            outbox_seq: 1,
            clock_skew_ms: 0,
        };
        assert!(reports.due("t1", &r("0.1.0"), t0));
        assert!(!reports.due("t1", &r("0.1.0"), t0 + Duration::from_secs(5)));
        assert!(reports.due("t2", &r("0.1.0"), t0), "each terminal its own");
        assert!(reports.due("t1", &r("0.2.0"), t0 + Duration::from_secs(6)));
        assert!(reports.due("t1", &r("0.2.0"), t0 + Duration::from_secs(37)));
    }
}
