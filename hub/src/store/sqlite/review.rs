//! What the CRM and IT are shown of the hub's re-evaluation in the SQLite store: classified
//! discrepancies, and outcomes held for review with a person's decision on each
//! (docs/design.md §7: one terminal cannot mint value).

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use tenpo_protocol::events::{Event, EventBody, SaleEvent};

use super::admin::json_or_text;
use super::from_json;
use super::members;
use crate::admin::{DiscrepancyView, HeldAction, HeldView};
use crate::apply;
use crate::store::StoreError;
use crate::store::unit::intake::RulesLookup;

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

/// Releases (applies the till's outcome to the member now) or dismisses a held outcome.
pub(crate) fn resolve_held(
    tx: &Transaction<'_>,
    rules: RulesLookup<'_>,
    terminal_id: &str,
    seq: u64,
    action: HeldAction,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<HeldView, StoreError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control) {
        return Err(StoreError::Invalid(
            "reason is required: at most 500 characters, without control characters".into(),
        ));
    }
    let seq_sql = i64::try_from(seq)
        .map_err(|_| StoreError::NotFound(format!("terminal {terminal_id} has no seq {seq}")))?;
    let find = |tx: &Transaction<'_>| -> Result<Option<HeldView>, StoreError> {
        Ok(tx
            .prepare_cached(&format!(
                "SELECT {HELD_COLUMNS} FROM held_events WHERE terminal_id = ?1 AND seq = ?2"
            ))?
            .query_row(params![terminal_id, seq_sql], held_row)
            .optional()?)
    };
    let held = find(tx)?.ok_or_else(|| {
        StoreError::NotFound(format!(
            "nothing of terminal {terminal_id} at seq {seq} is held for review"
        ))
    })?;
    if let Some(done) = &held.resolution {
        return Err(StoreError::Decided(format!(
            "event {seq} of terminal {terminal_id} was already {done}"
        )));
    }
    let now_text = now.to_rfc3339();
    if action == HeldAction::Release {
        let payload: String = tx
            .prepare_cached("SELECT payload FROM events WHERE terminal_id = ?1 AND seq = ?2")?
            .query_row(params![terminal_id, seq_sql], |r| r.get(0))?;
        let event: Event = from_json("held event", &payload)?;
        let EventBody::Sale(SaleEvent {
            outcome: Some(outcome),
            ..
        }) = &event.body
        else {
            return Err(StoreError::Corrupt {
                what: "held event",
                detail: format!("seq {seq} of terminal {terminal_id} is not a member sale"),
            });
        };
        let member_id = members::resolve(tx, &held.member_id)?.ok_or_else(|| {
            StoreError::NotFound(format!("member {} is no longer at the hub", held.member_id))
        })?;
        let mut member = members::load(tx, &member_id)?.ok_or_else(|| {
            StoreError::NotFound(format!("member {member_id} is no longer at the hub"))
        })?;
        let version_rules = rules(outcome.rules_version);
        apply::apply_sale(
            &mut member,
            outcome,
            version_rules.as_deref(),
            terminal_id,
            seq,
        );
        members::save(tx, &member, &now_text)?;
    }
    let resolution = match action {
        HeldAction::Release => "released",
        HeldAction::Dismiss => "dismissed",
    };
    tx.prepare_cached(
        "UPDATE held_events SET resolution = ?3, resolution_reason = ?4, resolved_at = ?5
         WHERE terminal_id = ?1 AND seq = ?2",
    )?
    .execute(params![terminal_id, seq_sql, resolution, reason, now_text])?;
    tracing::warn!(terminal_id, seq, resolution, reason, "held outcome decided");
    find(tx)?.ok_or_else(|| StoreError::NotFound("the held outcome vanished".into()))
}
