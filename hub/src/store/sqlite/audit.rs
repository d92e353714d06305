//! The audit path in the SQLite store: a terminal's event slots as the hub holds them, and
//! "did sale X of terminal T arrive, and what was applied", answered without reading the
//! database by hand.

use rusqlite::{OptionalExtension, Transaction, params};

use crate::admin::{EventAudit, TerminalEvents, TerminalView};
use crate::store::StoreError;
use crate::store::unit::audit::SlotRow;

const COLUMNS: &str = "e.seq, e.event_id, e.kind, e.status, e.reason, e.hash, e.received_at, \
                       e.payload, h.resolution, h.id IS NOT NULL, \
                       (SELECT group_concat(d.class) FROM discrepancies d \
                        WHERE d.terminal_id = e.terminal_id AND d.seq = e.seq)";

fn row(acked_through: u64) -> impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<EventAudit> {
    move |r| {
        let slot = SlotRow {
            seq: r.get::<_, i64>(0)?.unsigned_abs(),
            event_id: r.get(1)?,
            kind: r.get(2)?,
            status: r.get(3)?,
            reason: r.get(4)?,
            hash: r.get(5)?,
            received_at: r.get(6)?,
            payload: r.get(7)?,
            held: r.get(9)?,
            resolution: r.get(8)?,
            discrepancies: r
                .get::<_, Option<String>>(10)?
                .map(|c| c.split(',').map(str::to_owned).collect())
                .unwrap_or_default(),
        };
        Ok(slot.audit(acked_through))
    }
}

fn terminal(tx: &Transaction<'_>, terminal_id: &str) -> Result<(String, u64), StoreError> {
    tx.prepare_cached("SELECT store_id, acked_through FROM terminals WHERE terminal_id = ?1")?
        .query_row([terminal_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.unsigned_abs()))
        })
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no terminal {terminal_id} is enrolled")))
}

/// The terminal's event slots after `after`, in `seq` order.
pub(crate) fn events(
    tx: &Transaction<'_>,
    terminal_id: &str,
    after: u64,
    limit: u32,
) -> Result<TerminalEvents, StoreError> {
    let (store_id, acked_through) = terminal(tx, terminal_id)?;
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM events e
         LEFT JOIN held_events h ON h.terminal_id = e.terminal_id AND h.seq = e.seq
         WHERE e.terminal_id = ?1 AND e.seq > ?2 ORDER BY e.seq LIMIT ?3"
    ))?;
    let events = stmt
        .query_map(params![terminal_id, after, limit], row(acked_through))?
        .collect::<Result<_, _>>()?;
    Ok(TerminalEvents {
        terminal_id: terminal_id.to_owned(),
        store_id,
        acked_through,
        events,
    })
}

/// Every event of the terminal about sale `sale_id` (the sale and its refunds).
pub(crate) fn sale(
    tx: &Transaction<'_>,
    terminal_id: &str,
    sale_id: &str,
) -> Result<TerminalEvents, StoreError> {
    let (store_id, acked_through) = terminal(tx, terminal_id)?;
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM events e
         LEFT JOIN held_events h ON h.terminal_id = e.terminal_id AND h.seq = e.seq
         WHERE e.terminal_id = ?1 AND e.kind IN ('sale', 'refund')
           AND json_valid(e.payload) AND json_extract(e.payload, '$.body.sale_id') = ?2
         ORDER BY e.seq"
    ))?;
    let events: Vec<EventAudit> = stmt
        .query_map(params![terminal_id, sale_id], row(acked_through))?
        .collect::<Result<_, _>>()?;
    if events.is_empty() {
        return Err(StoreError::NotFound(format!(
            "terminal {terminal_id} has sent no sale {sale_id} (yet): check the till's pending \
             events with `tenpo-agent status`"
        )));
    }
    Ok(TerminalEvents {
        terminal_id: terminal_id.to_owned(),
        store_id,
        acked_through,
        events,
    })
}

/// Enrolled terminals whose id sorts after `after`, in id order: what each holds and when it
/// last sent something.
pub(crate) fn terminals(
    tx: &Transaction<'_>,
    after: &str,
    limit: u32,
) -> Result<Vec<TerminalView>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT t.terminal_id, t.store_id, t.enrolled_at, t.acked_through,
                (SELECT count(*) FROM events e WHERE e.terminal_id = t.terminal_id),
                (SELECT max(e.received_at) FROM events e WHERE e.terminal_id = t.terminal_id)
         FROM terminals t WHERE t.terminal_id > ?1 ORDER BY t.terminal_id LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![after, limit], |r| {
            Ok(TerminalView {
                terminal_id: r.get(0)?,
                store_id: r.get(1)?,
                enrolled_at: r.get(2)?,
                acked_through: r.get::<_, i64>(3)?.unsigned_abs(),
                events_held: r.get::<_, i64>(4)?.unsigned_abs(),
                last_received_at: r.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
