//! The counts behind `/metrics`, in one read transaction. `events` can hold millions of rows:
//! it is counted on its id index, and what waits behind a gap is that count less the
//! terminals' contiguous marks, so no big table is read whole.

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
    let events = count("SELECT COUNT(*) FROM events")?;
    let applied = count("SELECT SUM(acked_through) FROM terminals")?;
    Ok(HubCounts {
        terminals: count("SELECT COUNT(*) FROM terminals")?,
        stores: count("SELECT COUNT(DISTINCT store_id) FROM terminals")?,
        events,
        events_waiting: events.saturating_sub(applied),
        conflicts: count("SELECT COUNT(*) FROM conflicts")?,
        discrepancies: count("SELECT COUNT(*) FROM discrepancies")?,
        members: count("SELECT COUNT(*) FROM members")?,
        rule_set_version: count("SELECT MAX(version) FROM rule_sets")?,
        messages: super::outbox::counts(tx)?,
    })
}
