//! `tenpo-agent export`: the ledger and the outbox as JSON lines, for audit.
//!
//! One object per line, each with a `record` field (`sale`, `refund`, `event`), in the order
//! they were recorded. Reads a consistent snapshot; safe while the agent runs.

use std::io::Write;

use rusqlite::Connection;
use serde_json::{Value, json};
use tenpo_protocol::events::content_hash_of;

use super::StoreError;

fn parse(text: Option<String>) -> Value {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

/// Writes every sale, refund and outbox event; returns how many lines were written.
pub fn export_jsonl(conn: &Connection, out: &mut impl Write) -> Result<u64, ExportError> {
    let tx = conn.unchecked_transaction()?;
    let mut n = 0u64;
    let acked: u64 = tx
        .query_row(
            "SELECT value FROM meta WHERE key = 'acked_through_seq'",
            [],
            |r| r.get::<_, String>(0),
        )
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);

    // A sale's lines, time and outcome are its event's, and the answer given is on the same
    // outbox row (schema 9).
    let mut stmt =
        tx.prepare("SELECT seq, payload, response FROM outbox WHERE kind = 'sale' ORDER BY seq")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let event = parse(Some(r.get(1)?));
        let body = &event["body"];
        let line = json!({
            "record": "sale",
            "sale_id": body["sale_id"],
            "member_id": body["member_id"],
            "business_date": body["business_date"],
            "occurred_at": body["occurred_at"],
            "lines": body["lines"],
            "outcome": body["outcome"],
            "response": parse(r.get(2)?),
            "seq": r.get::<_, i64>(0)?,
        });
        writeln!(out, "{line}")?;
        n += 1;
    }
    drop(rows);
    drop(stmt);

    let mut stmt = tx.prepare(
        "SELECT refund_id, sale_id, business_date, occurred_at, lines, outcome, response, seq
         FROM refunds ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let line = json!({
            "record": "refund",
            "refund_id": r.get::<_, String>(0)?,
            "sale_id": r.get::<_, String>(1)?,
            "business_date": r.get::<_, String>(2)?,
            "occurred_at": r.get::<_, String>(3)?,
            "lines": parse(Some(r.get(4)?)),
            "outcome": parse(r.get(5)?),
            "response": parse(Some(r.get(6)?)),
            "seq": r.get::<_, i64>(7)?,
        });
        writeln!(out, "{line}")?;
        n += 1;
    }
    drop(rows);
    drop(stmt);

    let mut stmt = tx.prepare(
        "SELECT o.seq, o.event_id, o.kind, o.payload, o.recorded_at, q.reason
         FROM outbox o LEFT JOIN quarantine q ON q.seq = o.seq ORDER BY o.seq",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let seq = r.get::<_, i64>(0)?.unsigned_abs();
        let payload: String = r.get(3)?;
        let line = json!({
            "record": "event",
            "seq": seq,
            "event_id": r.get::<_, String>(1)?,
            "kind": r.get::<_, String>(2)?,
            // The event's bytes exactly as stored and sent, and their hash: what the hub holds
            // for (terminal, seq), so an auditor can match the two records byte for byte.
            "payload_raw": &payload,
            "content_hash": content_hash_of(payload.as_bytes()),
            "payload": parse(Some(payload)),
            "recorded_at": r.get::<_, String>(4)?,
            "acked": seq <= acked,
            "quarantine_reason": r.get::<_, Option<String>>(5)?,
        });
        writeln!(out, "{line}")?;
        n += 1;
    }
    Ok(n)
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the export: {0}")]
    Write(#[from] std::io::Error),
}

impl From<rusqlite::Error> for ExportError {
    fn from(e: rusqlite::Error) -> ExportError {
        ExportError::Store(StoreError::Sqlite(e))
    }
}
