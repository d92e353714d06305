//! The console's tables in the SQLite store (schema migration 14): the audit log, a member's
//! file and history, terminals' health and the reports' rows. Staff accounts and their sessions
//! are in `staff.rs`.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use tenpo_protocol::sync::MemberSnapshot;

use super::statements::SqliteUnit;
use super::{from_json, members};
use crate::store::console::{
    Actor, Found, HistoryEntry, LineLink, MemberFile, SignupFact, StaffActionView, TerminalHealth,
    TerminalReport,
};
use crate::store::unit::console::{ConsoleStatements, HistoryCursor};
use crate::store::{StoreError, json_or_text};

impl ConsoleStatements for SqliteUnit<'_> {
    async fn record_action(
        &mut self,
        actor: &Actor,
        action: &str,
        member_id: Option<&str>,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        record_action(self.tx(), actor, action, member_id, detail, now)
    }

    async fn add_code(
        &mut self,
        code: &str,
        member_id: &str,
        as_number: bool,
    ) -> Result<(), StoreError> {
        let tx = self.tx();
        tx.prepare_cached("INSERT INTO member_codes (code, member_id) VALUES (?1, ?2)")?
            .execute([code, member_id])?;
        if as_number {
            tx.prepare_cached("UPDATE members SET number = ?2 WHERE member_id = ?1")?
                .execute([member_id, code])?;
        }
        Ok(())
    }
}

pub(super) fn record_action(
    tx: &Transaction<'_>,
    actor: &Actor,
    action: &str,
    member_id: Option<&str>,
    detail: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO staff_actions (at, staff, action, member_id, reason, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        now.to_rfc3339(),
        actor.staff,
        action,
        member_id,
        actor.reason,
        detail
    ])?;
    Ok(())
}

pub(super) fn staff_actions(
    tx: &Transaction<'_>,
    before: Option<i64>,
    limit: u32,
    member_id: Option<&str>,
) -> Result<Vec<StaffActionView>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT id, at, staff, action, member_id, reason, detail FROM staff_actions
         WHERE id < ?1 AND (?2 IS NULL OR member_id = ?2) ORDER BY id DESC LIMIT ?3",
    )?;
    let rows = stmt
        .query_map(params![before.unwrap_or(i64::MAX), member_id, limit], |r| {
            Ok(StaffActionView {
                id: r.get(0)?,
                at: r.get(1)?,
                staff: r.get(2)?,
                action: r.get(3)?,
                member_id: r.get(4)?,
                reason: r.get(5)?,
                detail: json_or_text(r.get(6)?),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(super) fn find_member(tx: &Transaction<'_>, code: &str) -> Result<Found, StoreError> {
    let code = code.trim();
    if let Some(owner) = members::code_owner(tx, code)? {
        return Ok(match member_file(tx, &owner)? {
            Some(file) => Found::Member(Box::new(file)),
            None => Found::Nobody,
        });
    }
    let revoked = tx
        .prepare_cached("SELECT member_id, revoked_at FROM revoked_codes WHERE code = ?1")?
        .query_row([code], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(match revoked {
        Some((member_id, revoked_at)) => Found::Revoked {
            code: code.to_owned(),
            member_id,
            revoked_at,
        },
        None => Found::Nobody,
    })
}

pub(super) fn member_file(
    tx: &Transaction<'_>,
    id: &str,
) -> Result<Option<MemberFile>, StoreError> {
    let Some(member_id) = members::resolve(tx, id)? else {
        return Ok(None);
    };
    let row = tx
        .prepare_cached(
            "SELECT snapshot, home_store, created_at, erased_at FROM members WHERE member_id = ?1",
        )?
        .query_row([&member_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })
        .optional()?;
    let Some((snapshot, home_store, created_at, erased_at)) = row else {
        return Ok(None);
    };
    let member: MemberSnapshot = from_json("member snapshot", &snapshot)?;
    let line = tx
        .prepare_cached(
            "SELECT u.linked_at, f.following, f.changed_at_ms FROM line_users u
             LEFT JOIN line_friends f ON f.line_user_id = u.line_user_id
             WHERE u.member_id = ?1",
        )?
        .query_row([&member_id], |r| {
            Ok(LineLink {
                linked_at: r.get(0)?,
                following: r.get(1)?,
                friendship_changed_ms: r.get(2)?,
            })
        })
        .optional()?;
    let mut stmt = tx.prepare_cached(
        "SELECT code, revoked_at FROM revoked_codes WHERE member_id = ?1 ORDER BY revoked_at",
    )?;
    let revoked = stmt
        .query_map([&member_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(Some(MemberFile {
        member,
        home_store,
        created_at,
        line,
        revoked,
        erased_at,
    }))
}

/// A history cursor as the queries compare it: entries before its time, or at its time with a
/// smaller key; no cursor is after every time (`~` sorts after RFC 3339 text).
fn after(cursor: Option<&HistoryCursor>) -> (String, String) {
    match cursor {
        Some(c) => (c.at.clone(), c.key.clone()),
        None => ("~".to_owned(), String::new()),
    }
}

/// Up to `limit` of the member's events (under any of `ids`) before `cursor`, newest first.
pub(super) fn history_events(
    tx: &Transaction<'_>,
    ids: &[String],
    cursor: Option<&HistoryCursor>,
    limit: u32,
) -> Result<Vec<(HistoryCursor, HistoryEntry)>, StoreError> {
    let (at, key) = after(cursor);
    let mut stmt = tx.prepare_cached(
        "SELECT received_at, terminal_id, seq, kind, status, payload FROM events
         WHERE member_id = ?1
           AND (received_at < ?2 OR (received_at = ?2
                AND ('e/' || terminal_id || '/' || printf('%020d', seq)) < ?3))
         ORDER BY received_at DESC, terminal_id DESC, seq DESC LIMIT ?4",
    )?;
    let mut out = Vec::new();
    for id in ids {
        let rows = stmt.query_map(params![id, at, key, limit], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        for row in rows {
            let (received_at, terminal_id, seq, kind, status, payload) = row?;
            let seq = seq.unsigned_abs();
            let detail = json_or_text(payload);
            let store_id = detail
                .get("store_id")
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            out.push((
                HistoryCursor::event(&received_at, &terminal_id, seq),
                HistoryEntry {
                    at: received_at,
                    kind: kind.unwrap_or_else(|| "unreadable".into()),
                    store_id,
                    terminal_id: Some(terminal_id),
                    seq: Some(seq),
                    status: Some(status),
                    staff: None,
                    reason: None,
                    detail,
                },
            ));
        }
    }
    Ok(out)
}

/// Up to `limit` of the audit entries about the member before `cursor`, newest first.
pub(super) fn history_actions(
    tx: &Transaction<'_>,
    member_id: &str,
    cursor: Option<&HistoryCursor>,
    limit: u32,
) -> Result<Vec<(HistoryCursor, HistoryEntry)>, StoreError> {
    let (at, key) = after(cursor);
    let mut stmt = tx.prepare_cached(
        "SELECT id, at, staff, action, reason, detail FROM staff_actions
         WHERE member_id = ?1
           AND (at < ?2 OR (at = ?2 AND ('a/' || printf('%020d', id)) < ?3))
         ORDER BY id DESC LIMIT ?4",
    )?;
    let rows = stmt.query_map(params![member_id, at, key, limit], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, at, staff, action, reason, detail) = row?;
        out.push((
            HistoryCursor::action(&at, id),
            HistoryEntry {
                at,
                kind: action,
                store_id: None,
                terminal_id: None,
                seq: None,
                status: None,
                staff: Some(staff),
                reason: Some(reason),
                detail: json_or_text(detail),
            },
        ));
    }
    Ok(out)
}

pub(super) fn record_terminal_report(
    tx: &Transaction<'_>,
    terminal_id: &str,
    report: &TerminalReport,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE terminals SET agent_version = ?2, outbox_seq = ?3, clock_skew_ms = ?4,
             reported_at = ?5
         WHERE terminal_id = ?1",
    )?
    .execute(params![
        terminal_id,
        report.agent_version,
        i64::try_from(report.outbox_seq).unwrap_or(i64::MAX),
        report.clock_skew_ms,
        now.to_rfc3339()
    ])?;
    Ok(())
}

pub(super) fn terminal_health(tx: &Transaction<'_>) -> Result<Vec<TerminalHealth>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT t.terminal_id, t.store_id, t.name, t.enrolled_at, t.acked_through,
                (SELECT e.received_at FROM events e WHERE e.terminal_id = t.terminal_id
                 ORDER BY e.seq DESC LIMIT 1),
                t.agent_version, t.reported_at, t.outbox_seq, t.clock_skew_ms,
                (SELECT count(*) FROM events e
                 WHERE e.terminal_id = t.terminal_id AND e.status <> 'stored')
         FROM terminals t ORDER BY t.store_id, t.terminal_id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(TerminalHealth {
                terminal_id: r.get(0)?,
                store_id: r.get(1)?,
                name: r.get(2)?,
                enrolled_at: r.get(3)?,
                acked_through: r.get::<_, i64>(4)?.unsigned_abs(),
                last_received_at: r.get(5)?,
                agent_version: r.get(6)?,
                reported_at: r.get(7)?,
                outbox_seq: r.get::<_, Option<i64>>(8)?.map(i64::unsigned_abs),
                clock_skew_ms: r.get(9)?,
                quarantined: r.get::<_, i64>(10)?.unsigned_abs(),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(super) fn signups_since(
    tx: &Transaction<'_>,
    since: DateTime<Utc>,
) -> Result<Vec<SignupFact>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT store_id, completed_at FROM signups WHERE completed_at >= ?1
         AND kind = 'signup' AND existing_member = 0 ORDER BY completed_at",
    )?;
    let rows = stmt.query_map([since.to_rfc3339()], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (store_id, at) = row?;
        let completed_at = DateTime::parse_from_rfc3339(&at)
            .map_err(|e| StoreError::Corrupt {
                what: "signup time",
                detail: e.to_string(),
            })?
            .with_timezone(&Utc);
        out.push(SignupFact {
            store_id,
            completed_at,
        });
    }
    Ok(out)
}

pub(super) fn members_page(
    tx: &Transaction<'_>,
    after: &str,
    limit: u32,
) -> Result<Vec<MemberSnapshot>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT snapshot FROM members WHERE member_id > ?1 ORDER BY member_id LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![after, limit], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    rows.iter()
        .map(|t| from_json("member snapshot", t))
        .collect()
}

pub(super) fn linked_members(tx: &Transaction<'_>) -> Result<u64, StoreError> {
    let n: i64 = tx
        .prepare_cached("SELECT count(*) FROM line_users")?
        .query_row([], |r| r.get(0))?;
    Ok(n.unsigned_abs())
}

pub(super) fn point_events(
    tx: &Transaction<'_>,
    after: Option<(String, u64)>,
    limit: u32,
) -> Result<Vec<(String, u64, String)>, StoreError> {
    let (terminal, seq) = after.unwrap_or_default();
    let mut stmt = tx.prepare_cached(
        "SELECT terminal_id, seq, payload FROM events
         WHERE (terminal_id > ?1 OR (terminal_id = ?1 AND seq > ?2))
           AND status = 'stored' AND kind IN ('sale', 'refund')
         ORDER BY terminal_id, seq LIMIT ?3",
    )?;
    let rows = stmt
        .query_map(
            params![terminal, i64::try_from(seq).unwrap_or(i64::MAX), limit],
            |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.unsigned_abs(), r.get(2)?)),
        )?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
