//! The counts behind `/metrics`, in one read transaction. `events` holds every event of every
//! till: a chain's grows by hundreds of millions a year, and a count of it at each scrape would
//! read all of them. A terminal's mark is contiguous (every `seq` up to it is stored) and no
//! event is ever deleted, so the events are the marks' sum plus those stored past each mark,
//! behind a gap, found by key (docs/hub.md). The members and the messages per state are counts
//! the schema keeps (16 and 17).

use rusqlite::Transaction;

use super::super::{HubCounts, StoreError};

pub(super) fn counts(tx: &Transaction<'_>) -> Result<HubCounts, StoreError> {
    let count = |sql: &str| -> Result<u64, StoreError> {
        Ok(tx
            .prepare_cached(sql)?
            .query_row([], |r| r.get::<_, Option<i64>>(0))?
            .unwrap_or(0)
            .unsigned_abs())
    };
    let applied = count("SELECT SUM(acked_through) FROM terminals")?;
    let waiting = count(WAITING)?;
    Ok(HubCounts {
        terminals: count("SELECT COUNT(*) FROM terminals")?,
        stores: count("SELECT COUNT(DISTINCT store_id) FROM terminals")?,
        events: applied + waiting,
        events_waiting: waiting,
        conflicts: count("SELECT COUNT(*) FROM conflicts")?,
        discrepancies: count("SELECT COUNT(*) FROM discrepancies")?,
        // Kept by schema 17's triggers: a count of every member read them all.
        members: count("SELECT n FROM member_tallies")?,
        rule_set_version: count("SELECT MAX(version) FROM rule_sets")?,
        messages: super::outbox::counts(tx)?,
    })
}

/// The events stored past their terminal's mark, each terminal's read from its mark on by the
/// primary key (terminal, seq): as many rows as wait, not every event.
const WAITING: &str = "SELECT COALESCE(SUM((SELECT COUNT(*) FROM events e
        WHERE e.terminal_id = t.terminal_id AND e.seq > t.acked_through)), 0)
     FROM terminals t";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The events waiting are read from each terminal's mark on, by key: SQLite's plan searches
    /// `events` by (terminal, seq) and scans only `terminals`.
    #[test]
    fn the_events_waiting_are_found_by_key() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {WAITING}"))
            .unwrap()
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(
            plan.iter()
                .any(|s| s.starts_with("SEARCH e USING") && s.contains("(terminal_id=? AND seq>?)")),
            "{plan:?}"
        );
        assert!(!plan.iter().any(|s| s.starts_with("SCAN e")), "{plan:?}");
    }
}
