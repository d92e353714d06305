//! The console's staff accounts and their sessions in the SQLite store (schema migration 14):
//! adding and changing staff, signing in (with the lock-out after wrong passwords), and the
//! sessions a signed-in browser holds (docs/design.md §13).

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use super::console::record_action;
use crate::store::StoreError;
use crate::store::console::{Actor, LockOut, NewSession, Role, StaffAccount, StaffSession};
use crate::store::unit::console::locked_until;

fn role(text: String) -> Result<Role, StoreError> {
    Role::parse(&text).ok_or(StoreError::Corrupt {
        what: "staff role",
        detail: text,
    })
}

pub(super) fn add_staff(
    tx: &Transaction<'_>,
    name: &str,
    role: Role,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let added = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO staff (name, role, password_hash, created_at)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            name,
            role.as_str(),
            password_hash,
            now.to_rfc3339()
        ])?;
    if added == 0 {
        return Err(StoreError::Conflict(format!(
            "a staff account named {name} already exists"
        )));
    }
    Ok(())
}

pub(super) fn update_staff(
    tx: &Transaction<'_>,
    name: &str,
    password_hash: Option<&str>,
    role: Option<Role>,
    disabled: bool,
) -> Result<(), StoreError> {
    let changed = tx
        .prepare_cached(
            "UPDATE staff SET password_hash = COALESCE(?2, password_hash),
                 role = COALESCE(?3, role), disabled = ?4, failed_attempts = 0,
                 locked_until_ms = NULL
             WHERE name = ?1",
        )?
        .execute(params![
            name,
            password_hash,
            role.map(Role::as_str),
            disabled
        ])?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!(
            "no staff account is named {name}"
        )));
    }
    tx.prepare_cached("DELETE FROM staff_sessions WHERE name = ?1")?
        .execute([name])?;
    Ok(())
}

const STAFF: &str = "SELECT name, role, password_hash, failed_attempts, locked_until_ms,
        disabled, created_at FROM staff";

fn staff_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(StaffAccount, String)> {
    Ok((
        StaffAccount {
            name: r.get(0)?,
            role: Role::Viewer,
            password_hash: r.get(2)?,
            failed_attempts: r.get(3)?,
            locked_until_ms: r.get(4)?,
            disabled: r.get(5)?,
            created_at: r.get(6)?,
        },
        r.get(1)?,
    ))
}

pub(super) fn staff_accounts(
    tx: &Transaction<'_>,
    name: Option<&str>,
) -> Result<Vec<StaffAccount>, StoreError> {
    let mut stmt = tx.prepare_cached(&format!(
        "{STAFF} WHERE ?1 IS NULL OR name = ?1 ORDER BY name"
    ))?;
    let rows = stmt
        .query_map([name], staff_row)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(account, r)| {
            Ok(StaffAccount {
                role: role(r)?,
                ..account
            })
        })
        .collect()
}

pub(super) fn sign_in_failed(
    tx: &Transaction<'_>,
    name: &str,
    lock: LockOut,
    now: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    let failed: Option<u32> = tx
        .prepare_cached(
            "UPDATE staff SET failed_attempts = failed_attempts + 1 WHERE name = ?1
             RETURNING failed_attempts",
        )?
        .query_row([name], |r| r.get(0))
        .optional()?;
    let Some(failed) = failed else {
        return Ok(None);
    };
    let Some(until) = locked_until(failed, lock, now) else {
        return Ok(None);
    };
    tx.prepare_cached(
        "UPDATE staff SET locked_until_ms = ?2, failed_attempts = 0 WHERE name = ?1",
    )?
    .execute(params![name, until])?;
    let actor = Actor {
        staff: name.to_owned(),
        reason: format!("{failed} wrong passwords in a row"),
    };
    let detail = format!("{{\"locked_until_ms\":{until}}}");
    record_action(tx, &actor, "sign_in_locked", None, &detail, now)?;
    tracing::warn!(staff = %name, failed, "console account locked after wrong passwords");
    Ok(Some(until))
}

pub(super) fn sign_in(
    tx: &Transaction<'_>,
    name: &str,
    session: &NewSession,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now_ms = now.timestamp_millis();
    tx.prepare_cached(
        "UPDATE staff SET failed_attempts = 0, locked_until_ms = NULL WHERE name = ?1",
    )?
    .execute([name])?;
    // Sessions long over are cleared as new ones begin.
    tx.prepare_cached("DELETE FROM staff_sessions WHERE expires_ms < ?1")?
        .execute([now_ms])?;
    tx.prepare_cached(
        "INSERT INTO staff_sessions (token_hash, name, csrf, created_ms, seen_ms, expires_ms)
         VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
    )?
    .execute(params![
        session.token_hash.as_slice(),
        name,
        session.csrf,
        now_ms,
        session.expires_ms
    ])?;
    Ok(())
}

pub(super) fn staff_session(
    tx: &Transaction<'_>,
    token_hash: &[u8; 32],
) -> Result<Option<(StaffSession, bool)>, StoreError> {
    let row = tx
        .prepare_cached(
            "SELECT s.name, t.role, s.csrf, s.created_ms, s.seen_ms, s.expires_ms, t.disabled
             FROM staff_sessions s JOIN staff t ON t.name = s.name WHERE s.token_hash = ?1",
        )?
        .query_row([token_hash.as_slice()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, bool>(6)?,
            ))
        })
        .optional()?;
    row.map(
        |(name, r, csrf, created_ms, seen_ms, expires_ms, disabled)| {
            let session = StaffSession {
                name,
                role: role(r)?,
                csrf,
                created_ms,
                seen_ms,
                expires_ms,
            };
            Ok((session, disabled))
        },
    )
    .transpose()
}

pub(super) fn touch_session(
    tx: &Transaction<'_>,
    token_hash: &[u8; 32],
    now_ms: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached("UPDATE staff_sessions SET seen_ms = ?2 WHERE token_hash = ?1")?
        .execute(params![token_hash.as_slice(), now_ms])?;
    Ok(())
}

pub(super) fn end_session(tx: &Transaction<'_>, token_hash: &[u8; 32]) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM staff_sessions WHERE token_hash = ?1")?
        .execute([token_hash.as_slice()])?;
    Ok(())
}
