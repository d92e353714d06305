//! A push in the SQLite store: store each event slot once, report replays and conflicts, move
//! the terminal's mark over what became contiguous and apply those events in `seq` order, all
//! in the caller's one transaction.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use tenpo_loyalty::RuleSet;
use tenpo_protocol::events::{Event, EventBody, RefundEvent, SaleEvent};
use tenpo_protocol::sync::{PushResult, PushStatus};

use super::members::{self, Touched};
use super::{from_json, outbox, to_json};
use crate::apply;
use crate::intake::Incoming;
use crate::review::{self, ReviewLimits};
use crate::store::outbox::Planner;
use crate::store::{PushOutcome, StoreError, Terminal};

/// Finds a loaded rule-set version.
pub(crate) type RulesLookup<'a> = &'a dyn Fn(u32) -> Option<Arc<RuleSet>>;

struct Slot {
    status: String,
    reason: Option<String>,
    hash: String,
    payload: String,
    event_id: Option<String>,
}

fn slot(tx: &Transaction<'_>, terminal_id: &str, seq: u64) -> Result<Option<Slot>, StoreError> {
    Ok(tx
        .prepare_cached(
            "SELECT status, reason, hash, payload, event_id FROM events
             WHERE terminal_id = ?1 AND seq = ?2",
        )?
        .query_row(params![terminal_id, seq as i64], |r| {
            Ok(Slot {
                status: r.get(0)?,
                reason: r.get(1)?,
                hash: r.get(2)?,
                payload: r.get(3)?,
                event_id: r.get(4)?,
            })
        })
        .optional()?)
}

fn result(seq: u64, status: PushStatus, reason: Option<String>) -> PushResult {
    PushResult {
        seq,
        status,
        reason,
    }
}

#[allow(clippy::too_many_arguments)]
fn insert_slot(
    tx: &Transaction<'_>,
    terminal_id: &str,
    inc: &Incoming,
    event: Option<&Event>,
    status: &str,
    reason: Option<&str>,
    now: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO events (terminal_id, seq, event_id, kind, status, reason, hash, payload, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        terminal_id,
        inc.seq as i64,
        event.map(|e| e.event_id.as_str()),
        event.map(|e| e.body.kind()),
        status,
        reason,
        inc.hash,
        inc.payload,
        now
    ])?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn record_conflict(
    tx: &Transaction<'_>,
    terminal_id: &str,
    seq: u64,
    kind: &str,
    event_id: Option<&str>,
    first: &str,
    inc: &Incoming,
    now: &str,
) -> Result<(), StoreError> {
    let added = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO conflicts
                 (terminal_id, seq, kind, event_id, first_payload, second_payload, second_hash, detected_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            terminal_id,
            seq as i64,
            kind,
            event_id,
            first,
            inc.payload,
            inc.hash,
            now
        ])?;
    if added > 0 {
        tracing::warn!(
            terminal_id,
            seq,
            kind,
            event_id,
            "conflicting event replay recorded"
        );
    }
    Ok(())
}

/// Why the hub cannot take a well-formed event, given what it holds.
fn refusal(tx: &Transaction<'_>, event: &Event) -> Result<Option<String>, StoreError> {
    let member = match &event.body {
        EventBody::MemberProvisional { code, .. } => {
            return Ok(members::is_revoked(tx, code)?
                .then(|| format!("the card code {code} is revoked at the hub")));
        }
        EventBody::Sale(SaleEvent { member_id, .. })
        | EventBody::Refund(RefundEvent { member_id, .. }) => member_id,
    };
    match member {
        Some(id) if members::resolve(tx, id)?.is_none() => Ok(Some(format!(
            "member {id} is unknown to the hub, and no provisional-member event made it"
        ))),
        _ => Ok(None),
    }
}

/// Stores one event slot; returns its result.
fn take(
    tx: &Transaction<'_>,
    touched: &mut Touched,
    terminal_id: &str,
    inc: &Incoming,
    now: &str,
) -> Result<PushResult, StoreError> {
    let seq = inc.seq;
    if let Some(held) = slot(tx, terminal_id, seq)? {
        if held.hash == inc.hash {
            return Ok(match held.status.as_str() {
                "stored" => result(seq, PushStatus::Duplicate, None),
                "conflict" => result(seq, PushStatus::Conflict, held.reason),
                _ => result(seq, PushStatus::Rejected, held.reason),
            });
        }
        record_conflict(
            tx,
            terminal_id,
            seq,
            "seq",
            held.event_id.as_deref(),
            &held.payload,
            inc,
            now,
        )?;
        return Ok(result(
            seq,
            PushStatus::Conflict,
            Some(format!(
                "seq {seq} already holds other content (event {}); the first stays",
                held.event_id.as_deref().unwrap_or("malformed")
            )),
        ));
    }
    let event = match &inc.verdict {
        Ok(event) => event,
        Err(reason) => {
            insert_slot(tx, terminal_id, inc, None, "rejected", Some(reason), now)?;
            return Ok(result(seq, PushStatus::Rejected, Some(reason.clone())));
        }
    };
    let same_id: Option<(String, i64, String)> = tx
        .prepare_cached("SELECT terminal_id, seq, payload FROM events WHERE event_id = ?1 LIMIT 1")?
        .query_row([&event.event_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    if let Some((other_terminal, other_seq, first)) = same_id {
        let reason = format!(
            "event id {} is already held as seq {other_seq} of terminal {other_terminal}; the first stays",
            event.event_id
        );
        record_conflict(
            tx,
            terminal_id,
            seq,
            "event_id",
            Some(&event.event_id),
            &first,
            inc,
            now,
        )?;
        insert_slot(
            tx,
            terminal_id,
            inc,
            Some(event),
            "conflict",
            Some(&reason),
            now,
        )?;
        return Ok(result(seq, PushStatus::Conflict, Some(reason)));
    }
    if let Some(reason) = refusal(tx, event)? {
        insert_slot(
            tx,
            terminal_id,
            inc,
            Some(event),
            "rejected",
            Some(&reason),
            now,
        )?;
        tracing::warn!(terminal_id, seq, %reason, "event rejected");
        return Ok(result(seq, PushStatus::Rejected, Some(reason)));
    }
    insert_slot(tx, terminal_id, inc, Some(event), "stored", None, now)?;
    // A new card is known at once, so other terminals' events for it are never held up by a
    // gap in this terminal's sequence.
    if let EventBody::MemberProvisional { member_id, code } = &event.body {
        touched.register_provisional(tx, member_id, code, now)?;
    }
    Ok(result(seq, PushStatus::Stored, None))
}

/// Stores a push and applies what became contiguous.
pub(crate) fn push(
    tx: &Transaction<'_>,
    rules: RulesLookup<'_>,
    terminal: &Terminal,
    incoming: Vec<Incoming>,
    limits: ReviewLimits,
    planner: Option<&dyn Planner>,
    now: DateTime<Utc>,
) -> Result<PushOutcome, StoreError> {
    let now_text = now.to_rfc3339();
    let tid = terminal.terminal_id.as_str();
    let mut touched = Touched::default();
    let mut results = Vec::with_capacity(incoming.len());
    for inc in &incoming {
        results.push(take(tx, &mut touched, tid, inc, &now_text)?);
    }
    let mut parsed: HashMap<u64, Event> = incoming
        .into_iter()
        .filter_map(|inc| inc.verdict.ok().map(|e| (inc.seq, e)))
        .collect();

    let mark: i64 = tx
        .prepare_cached("SELECT acked_through FROM terminals WHERE terminal_id = ?1")?
        .query_row([tid], |r| r.get(0))?;
    let mut mark = mark.unsigned_abs();
    let start = mark;
    {
        let mut following = tx.prepare_cached(
            "SELECT seq, status, payload FROM events
             WHERE terminal_id = ?1 AND seq > ?2 ORDER BY seq",
        )?;
        let mut rows = following.query(params![tid, mark as i64])?;
        while let Some(row) = rows.next()? {
            let seq = row.get::<_, i64>(0)?.unsigned_abs();
            if seq != mark + 1 {
                break;
            }
            mark = seq;
            if row.get::<_, String>(1)? != "stored" {
                continue;
            }
            let event = match parsed.remove(&seq) {
                Some(e) => e,
                None => from_json("stored event", &row.get::<_, String>(2)?)?,
            };
            let ctx = Applying {
                rules,
                limits,
                planner,
                now,
            };
            apply_event(tx, &ctx, &mut touched, tid, &event, &now_text)?;
        }
    }
    if mark > start {
        tx.prepare_cached("UPDATE terminals SET acked_through = ?2 WHERE terminal_id = ?1")?
            .execute(params![tid, mark as i64])?;
    }
    touched.flush(tx, &now_text)?;
    Ok(PushOutcome {
        acked_through: mark,
        results,
    })
}

/// Applies one stored event, in its terminal's `seq` order.
/// What applying an event needs besides the event.
struct Applying<'a> {
    rules: RulesLookup<'a>,
    limits: ReviewLimits,
    /// The scenarios: the messages a sale brings (none without LINE messaging).
    planner: Option<&'a dyn Planner>,
    now: DateTime<Utc>,
}

fn apply_event(
    tx: &Transaction<'_>,
    ctx: &Applying<'_>,
    touched: &mut Touched,
    terminal_id: &str,
    event: &Event,
    now: &str,
) -> Result<(), StoreError> {
    let named = match &event.body {
        EventBody::MemberProvisional { member_id, .. } => member_id,
        EventBody::Sale(SaleEvent {
            member_id: Some(m), ..
        })
        | EventBody::Refund(RefundEvent {
            member_id: Some(m), ..
        }) => m,
        _ => return Ok(()),
    };
    let Some(real) = members::resolve(tx, named)? else {
        tracing::error!(terminal_id, seq = event.seq, member = %named, "event names a member the hub no longer knows; not applied");
        return Ok(());
    };
    let Some(member) = touched.get_from(tx, &real, &event.store_id)? else {
        return Ok(());
    };
    match &event.body {
        EventBody::Sale(
            recorded @ SaleEvent {
                sale_id,
                outcome: Some(outcome),
                ..
            },
        ) => {
            let version_rules = (ctx.rules)(outcome.rules_version);
            let verdict = review::review(
                version_rules.as_deref(),
                &member.state,
                &recorded.sale(&event.store_id),
                outcome,
                ctx.limits,
            );
            if let Some((class, d)) = &verdict.discrepancy {
                let level = if class.expected() {
                    "expected"
                } else {
                    "suspicious"
                };
                tracing::warn!(terminal_id, seq = event.seq, sale_id = %sale_id, member = %real, class = class.as_str(), level, detail = %d.detail, "sale differs on re-evaluation at the hub");
                tx.prepare_cached(
                    "INSERT INTO discrepancies (terminal_id, seq, event_id, sale_id, member_id,
                         rules_version, till, hub, detail, detected_at, class)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )?
                .execute(params![
                    terminal_id,
                    event.seq as i64,
                    event.event_id,
                    sale_id,
                    real,
                    outcome.rules_version,
                    to_json(&d.till)?,
                    to_json(&d.hub)?,
                    d.detail,
                    now,
                    class.as_str()
                ])?;
            }
            match (verdict.hold, &verdict.discrepancy) {
                (Some(reason), Some((_, d))) => {
                    tracing::error!(terminal_id, seq = event.seq, sale_id = %sale_id, member = %real, %reason, "sale held for review: its outcome is not applied");
                    tx.prepare_cached(
                        "INSERT OR IGNORE INTO held_events (terminal_id, seq, event_id, sale_id,
                             member_id, reason, till, hub, held_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    )?
                    .execute(params![
                        terminal_id,
                        event.seq as i64,
                        event.event_id,
                        sale_id,
                        real,
                        reason,
                        to_json(&d.till)?,
                        to_json(&d.hub)?,
                        now
                    ])?;
                    // Seen, not applied: the till stops adding its own outcome to the member.
                    apply::mark_applied(member, terminal_id, event.seq);
                }
                _ => {
                    apply::apply_sale(
                        member,
                        outcome,
                        version_rules.as_deref(),
                        terminal_id,
                        event.seq,
                    );
                    if let Some(planner) = ctx.planner {
                        let rules = version_rules.as_deref();
                        outbox::plan(tx, member, ctx.now, |m| {
                            planner.after_sale(m, outcome, rules)
                        })?;
                    }
                }
            }
        }
        EventBody::Refund(RefundEvent {
            outcome: Some(outcome),
            ..
        }) => {
            member.state.take_refund(outcome, None);
            apply::mark_applied(member, terminal_id, event.seq);
        }
        _ => apply::mark_applied(member, terminal_id, event.seq),
    }
    Ok(())
}
