//! What the CRM and IT are shown of the hub's re-evaluation in the SQLite store: classified
//! discrepancies, and outcomes held for review with a person's decision on each
//! (docs/design.md §7: one terminal cannot mint value; the decision is
//! `store::unit::review`).

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::admin::{DiscrepancyView, HeldView};
use crate::store::{StoreError, json_or_text};

pub(crate) fn discrepancies(
    tx: &Transaction<'_>,
    after: i64,
    limit: u32,
    class: Option<&str>,
) -> Result<Vec<DiscrepancyView>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT id, terminal_id, seq, event_id, sale_id, member_id, rules_version, till, hub,
                detail, detected_at, class
         FROM discrepancies WHERE id > ?1 AND (?3 IS NULL OR class = ?3) ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after, limit, class], |r| {
        Ok(DiscrepancyView {
            id: r.get(0)?,
            terminal_id: r.get(1)?,
            seq: r.get::<_, i64>(2)?.unsigned_abs(),
            event_id: r.get(3)?,
            sale_id: r.get(4)?,
            member_id: r.get(5)?,
            rules_version: r.get(6)?,
            till: json_or_text(r.get(7)?),
            hub: json_or_text(r.get(8)?),
            detail: r.get(9)?,
            detected_at: r.get(10)?,
            class: r.get(11)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

const HELD_COLUMNS: &str = "id, terminal_id, seq, event_id, sale_id, member_id, reason, till, \
                            hub, held_at, resolution, resolution_reason, resolved_at";

fn held_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<HeldView> {
    Ok(HeldView {
        id: r.get(0)?,
        terminal_id: r.get(1)?,
        seq: r.get::<_, i64>(2)?.unsigned_abs(),
        event_id: r.get(3)?,
        sale_id: r.get(4)?,
        member_id: r.get(5)?,
        reason: r.get(6)?,
        till: json_or_text(r.get(7)?),
        hub: json_or_text(r.get(8)?),
        held_at: r.get(9)?,
        resolution: r.get(10)?,
        resolution_reason: r.get(11)?,
        resolved_at: r.get(12)?,
    })
}

pub(crate) fn held(
    tx: &Transaction<'_>,
    after: i64,
    limit: u32,
    open_only: bool,
) -> Result<Vec<HeldView>, StoreError> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {HELD_COLUMNS} FROM held_events
         WHERE id > ?1 AND (?3 = 0 OR resolution IS NULL) ORDER BY id LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![after, limit, open_only], held_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The outcome held for the terminal's event `seq`, if one is.
pub(crate) fn held_event(
    tx: &Transaction<'_>,
    terminal_id: &str,
    seq: u64,
) -> Result<Option<HeldView>, StoreError> {
    let Ok(seq) = i64::try_from(seq) else {
        return Ok(None);
    };
    Ok(tx
        .prepare_cached(&format!(
            "SELECT {HELD_COLUMNS} FROM held_events WHERE terminal_id = ?1 AND seq = ?2"
        ))?
        .query_row(params![terminal_id, seq], held_row)
        .optional()?)
}

/// Records a person's decision on a held outcome.
pub(crate) fn decide_held(
    tx: &Transaction<'_>,
    terminal_id: &str,
    seq: u64,
    resolution: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let seq = i64::try_from(seq)
        .map_err(|_| StoreError::NotFound(format!("terminal {terminal_id} has no seq {seq}")))?;
    tx.prepare_cached(
        "UPDATE held_events SET resolution = ?3, resolution_reason = ?4, resolved_at = ?5
         WHERE terminal_id = ?1 AND seq = ?2",
    )?
    .execute(params![
        terminal_id,
        seq,
        resolution,
        reason,
        now.to_rfc3339()
    ])?;
    Ok(())
}
