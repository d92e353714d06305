//! The console's tables on PostgreSQL (schema migration 5): the statements its changes add,
//! and what its pages read.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::transaction::PgUnit;
use crate::store::console::{
    Actor, HistoryEntry, LineLink, MemberFile, Role, StaffAccount, StaffActionView, TerminalHealth,
};
use crate::store::unit::console::{ConsoleStatements, HistoryCursor};
use crate::store::{StoreError, from_json, json_or_text};

impl ConsoleStatements for PgUnit<'_> {
    async fn record_action(
        &mut self,
        actor: &Actor,
        action: &str,
        member_id: Option<&str>,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO staff_actions (at, staff, action, member_id, reason, detail)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &now,
                &actor.staff,
                &action,
                &member_id,
                &actor.reason,
                &detail,
            ],
        )
        .await?;
        Ok(())
    }

    async fn add_code(
        &mut self,
        code: &str,
        member_id: &str,
        as_number: bool,
    ) -> Result<(), StoreError> {
        self.lock_code(code).await?;
        self.execute(
            "INSERT INTO member_codes (code, member_id) VALUES ($1, $2)",
            &[&code, &member_id],
        )
        .await?;
        if as_number {
            self.execute(
                "UPDATE members SET number = $2 WHERE member_id = $1",
                &[&member_id, &code],
            )
            .await?;
        }
        Ok(())
    }
}

pub(super) fn role(text: String) -> Result<Role, StoreError> {
    Role::parse(&text).ok_or(StoreError::Corrupt {
        what: "staff role",
        detail: text,
    })
}

pub(super) const STAFF: &str = "SELECT name, role, password_hash, failed_attempts,
        locked_until_ms, disabled, created_at FROM staff";

pub(super) fn staff(r: &Row) -> Result<StaffAccount, StoreError> {
    Ok(StaffAccount {
        name: r.try_get(0)?,
        role: role(r.try_get(1)?)?,
        password_hash: r.try_get(2)?,
        failed_attempts: r.try_get::<_, i32>(3)?.unsigned_abs(),
        locked_until_ms: r.try_get(4)?,
        disabled: r.try_get(5)?,
        created_at: r.try_get::<_, DateTime<Utc>>(6)?.to_rfc3339(),
    })
}

pub(super) fn action(r: &Row) -> Result<StaffActionView, StoreError> {
    Ok(StaffActionView {
        id: r.try_get(0)?,
        at: r.try_get::<_, DateTime<Utc>>(1)?.to_rfc3339(),
        staff: r.try_get(2)?,
        action: r.try_get(3)?,
        member_id: r.try_get(4)?,
        reason: r.try_get(5)?,
        detail: json_or_text(r.try_get(6)?),
    })
}

/// A member's file, in one transaction's reads.
pub(super) async fn member_file(
    db: &PgUnit<'_>,
    member_id: &str,
) -> Result<Option<MemberFile>, StoreError> {
    let Some(row) = db
        .query_opt(
            "SELECT snapshot, home_store, created_at, erased_at FROM members WHERE member_id = $1",
            &[&member_id],
        )
        .await?
    else {
        return Ok(None);
    };
    let member = from_json("member snapshot", row.try_get(0)?)?;
    let line = db
        .query_opt(
            "SELECT u.linked_at, f.following, f.changed_at_ms FROM line_users u
             LEFT JOIN line_friends f ON f.line_user_id = u.line_user_id
             WHERE u.member_id = $1",
            &[&member_id],
        )
        .await?
        .map(|r| -> Result<LineLink, StoreError> {
            Ok(LineLink {
                linked_at: r.try_get::<_, DateTime<Utc>>(0)?.to_rfc3339(),
                following: r.try_get(1)?,
                friendship_changed_ms: r.try_get(2)?,
            })
        })
        .transpose()?;
    let revoked = db
        .query(
            "SELECT code, revoked_at FROM revoked_codes WHERE member_id = $1
             ORDER BY revoked_at",
            &[&member_id],
        )
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get(0)?,
                r.try_get::<_, DateTime<Utc>>(1)?.to_rfc3339(),
            ))
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(Some(MemberFile {
        member,
        home_store: row.try_get(1)?,
        created_at: row.try_get::<_, DateTime<Utc>>(2)?.to_rfc3339(),
        line,
        revoked,
        erased_at: row
            .try_get::<_, Option<DateTime<Utc>>>(3)?
            .map(|t| t.to_rfc3339()),
    }))
}

fn cursor_parts(
    cursor: Option<&HistoryCursor>,
) -> Result<(Option<DateTime<Utc>>, String), StoreError> {
    match cursor {
        None => Ok((None, String::new())),
        Some(c) => {
            let at = DateTime::parse_from_rfc3339(&c.at)
                .map_err(|e| StoreError::Invalid(format!("the history page's cursor: {e}")))?
                .with_timezone(&Utc);
            Ok((Some(at), c.key.clone()))
        }
    }
}

/// Up to `limit` of the member's events (under any of `ids`) before `cursor`, newest first.
pub(super) async fn history_events(
    db: &PgUnit<'_>,
    ids: &[String],
    cursor: Option<&HistoryCursor>,
    limit: u32,
) -> Result<Vec<(HistoryCursor, HistoryEntry)>, StoreError> {
    let (at, key) = cursor_parts(cursor)?;
    let limit = i64::from(limit);
    let mut out = Vec::new();
    for id in ids {
        let params: [&(dyn ToSql + Sync); 4] = [id, &at, &key, &limit];
        let rows = db
            .query(
                "SELECT received_at, terminal_id, seq, kind, status, payload FROM events
                 WHERE member_id = $1
                   AND ($2::timestamptz IS NULL OR received_at < $2 OR (received_at = $2
                        AND ('e/' || terminal_id || '/' || lpad(seq::text, 20, '0'))
                            COLLATE \"C\" < $3))
                 ORDER BY received_at DESC, terminal_id COLLATE \"C\" DESC, seq DESC
                 LIMIT $4",
                &params,
            )
            .await?;
        for r in rows {
            let received_at = r.try_get::<_, DateTime<Utc>>(0)?.to_rfc3339();
            let terminal_id: String = r.try_get(1)?;
            let seq = r.try_get::<_, i64>(2)?.unsigned_abs();
            let detail = json_or_text(r.try_get(5)?);
            let store_id = detail
                .get("store_id")
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            out.push((
                HistoryCursor::event(&received_at, &terminal_id, seq),
                HistoryEntry {
                    at: received_at,
                    kind: r
                        .try_get::<_, Option<String>>(3)?
                        .unwrap_or_else(|| "unreadable".into()),
                    store_id,
                    terminal_id: Some(terminal_id),
                    seq: Some(seq),
                    status: Some(r.try_get(4)?),
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
pub(super) async fn history_actions(
    db: &PgUnit<'_>,
    member_id: &str,
    cursor: Option<&HistoryCursor>,
    limit: u32,
) -> Result<Vec<(HistoryCursor, HistoryEntry)>, StoreError> {
    let (at, key) = cursor_parts(cursor)?;
    let limit = i64::from(limit);
    let rows = db
        .query(
            "SELECT id, at, staff, action, member_id, reason, detail FROM staff_actions
             WHERE member_id = $1
               AND ($2::timestamptz IS NULL OR at < $2
                    OR (at = $2 AND ('a/' || lpad(id::text, 20, '0')) COLLATE \"C\" < $3))
             ORDER BY id DESC LIMIT $4",
            &[&member_id, &at, &key, &limit],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let a = action(r)?;
            Ok((
                HistoryCursor::action(&a.at, a.id),
                HistoryEntry {
                    at: a.at,
                    kind: a.action,
                    store_id: None,
                    terminal_id: None,
                    seq: None,
                    status: None,
                    staff: Some(a.staff),
                    reason: Some(a.reason),
                    detail: a.detail,
                },
            ))
        })
        .collect()
}

pub(super) fn terminal_health(r: &Row) -> Result<TerminalHealth, StoreError> {
    let at = |i: usize| -> Result<Option<String>, StoreError> {
        Ok(r.try_get::<_, Option<DateTime<Utc>>>(i)?
            .map(|t| t.to_rfc3339()))
    };
    Ok(TerminalHealth {
        terminal_id: r.try_get(0)?,
        store_id: r.try_get(1)?,
        name: r.try_get(2)?,
        enrolled_at: r.try_get::<_, DateTime<Utc>>(3)?.to_rfc3339(),
        acked_through: r.try_get::<_, i64>(4)?.unsigned_abs(),
        last_received_at: at(5)?,
        agent_version: r.try_get(6)?,
        reported_at: at(7)?,
        outbox_seq: r.try_get::<_, Option<i64>>(8)?.map(i64::unsigned_abs),
        clock_skew_ms: r.try_get(9)?,
        quarantined: r.try_get::<_, i64>(10)?.unsigned_abs(),
    })
}

pub(super) const TERMINAL_HEALTH: &str = "SELECT t.terminal_id, t.store_id, t.name,
        t.enrolled_at, t.acked_through,
        (SELECT e.received_at FROM events e WHERE e.terminal_id = t.terminal_id
         ORDER BY e.seq DESC LIMIT 1),
        t.agent_version, t.reported_at, t.outbox_seq, t.clock_skew_ms,
        (SELECT count(*) FROM events e
         WHERE e.terminal_id = t.terminal_id AND e.status <> 'stored')
     FROM terminals t ORDER BY t.store_id, t.terminal_id";
