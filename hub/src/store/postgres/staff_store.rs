//! [`StaffStore`] on PostgreSQL: staff accounts, their sign-ins and sessions, each change one
//! transaction, tried again when another hub's transaction got in its way.

use chrono::{DateTime, Utc};

use super::PgStore;
use super::console::{self as pg, STAFF};
use super::console_store::in_transaction;
use super::transaction::PgUnit;
use crate::store::StoreError;
use crate::store::console::{
    Actor, LockOut, NewSession, Role, StaffAccount, StaffSession, StaffStore,
};
use crate::store::unit::{self};

/// How often a session's last use is written: a page view is a read, not a write each time.
const TOUCH_EVERY_MS: i64 = 60_000;

impl StaffStore for PgStore {
    async fn add_staff(
        &self,
        name: String,
        role: Role,
        password_hash: String,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (name, hash) = (&name, &password_hash);
        in_transaction!(self, |db| {
            let added = db
                .execute(
                    "INSERT INTO staff (name, role, password_hash, created_at)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
                    &[name, &role.as_str(), hash, &now],
                )
                .await?;
            if added == 0 {
                return Err(StoreError::Conflict(format!(
                    "a staff account named {name} already exists"
                )));
            }
        })
    }

    async fn update_staff(
        &self,
        name: String,
        password_hash: Option<String>,
        role: Option<Role>,
        disabled: bool,
    ) -> Result<(), StoreError> {
        let (name, hash, role) = (&name, &password_hash, role.map(Role::as_str));
        in_transaction!(self, |db| {
            let changed = db
                .execute(
                    "UPDATE staff SET password_hash = COALESCE($2, password_hash),
                         role = COALESCE($3, role), disabled = $4, failed_attempts = 0,
                         locked_until_ms = NULL
                     WHERE name = $1",
                    &[name, hash, &role, &disabled],
                )
                .await?;
            if changed == 0 {
                return Err(StoreError::NotFound(format!(
                    "no staff account is named {name}"
                )));
            }
            db.execute("DELETE FROM staff_sessions WHERE name = $1", &[name])
                .await?;
        })
    }

    async fn staff_accounts(&self) -> Result<Vec<StaffAccount>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!("{STAFF} ORDER BY name"))
            .await?;
        client
            .query(&stmt, &[])
            .await?
            .iter()
            .map(pg::staff)
            .collect()
    }

    async fn staff_account(&self, name: String) -> Result<Option<StaffAccount>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!("{STAFF} WHERE name = $1"))
            .await?;
        client
            .query_opt(&stmt, &[&name])
            .await?
            .as_ref()
            .map(pg::staff)
            .transpose()
    }

    async fn sign_in_failed(
        &self,
        name: String,
        lock: LockOut,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let name = &name;
        in_transaction!(self, |db| {
            let failed = db
                .query_opt(
                    "UPDATE staff SET failed_attempts = failed_attempts + 1 WHERE name = $1
                     RETURNING failed_attempts",
                    &[name],
                )
                .await?
                .map(|r| r.try_get::<_, i32>(0))
                .transpose()?
                .map(i32::unsigned_abs);
            match failed.and_then(|f| unit::console::locked_until(f, lock, now)) {
                None => None,
                Some(until) => {
                    db.execute(
                        "UPDATE staff SET locked_until_ms = $2, failed_attempts = 0
                         WHERE name = $1",
                        &[name, &until],
                    )
                    .await?;
                    let actor = Actor {
                        staff: name.clone(),
                        reason: format!("{} wrong passwords in a row", lock.after),
                    };
                    let detail = format!("{{\"locked_until_ms\":{until}}}");
                    unit::console::ConsoleStatements::record_action(
                        &mut db,
                        &actor,
                        "sign_in_locked",
                        None,
                        &detail,
                        now,
                    )
                    .await?;
                    tracing::warn!(staff = %name, "console account locked after wrong passwords");
                    Some(until)
                }
            }
        })
    }

    async fn sign_in(
        &self,
        name: String,
        session: NewSession,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (name, session) = (&name, &session);
        let now_ms = now.timestamp_millis();
        in_transaction!(self, |db| {
            db.execute(
                "UPDATE staff SET failed_attempts = 0, locked_until_ms = NULL WHERE name = $1",
                &[name],
            )
            .await?;
            db.execute(
                "DELETE FROM staff_sessions WHERE expires_ms < $1",
                &[&now_ms],
            )
            .await?;
            db.execute(
                "INSERT INTO staff_sessions (token_hash, name, csrf, created_ms, seen_ms,
                     expires_ms)
                 VALUES ($1, $2, $3, $4, $4, $5)",
                &[
                    &session.token_hash.as_slice(),
                    name,
                    &session.csrf,
                    &now_ms,
                    &session.expires_ms,
                ],
            )
            .await?;
        })
    }

    async fn staff_session(
        &self,
        token_hash: [u8; 32],
        idle_ms: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<StaffSession>, StoreError> {
        let now_ms = now.timestamp_millis();
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT s.name, t.role, s.csrf, s.created_ms, s.seen_ms, s.expires_ms,
                        t.disabled
                 FROM staff_sessions s JOIN staff t ON t.name = s.name
                 WHERE s.token_hash = $1",
            )
            .await?;
        let Some(r) = client.query_opt(&stmt, &[&token_hash.as_slice()]).await? else {
            return Ok(None);
        };
        let session = StaffSession {
            name: r.try_get(0)?,
            role: pg::role(r.try_get(1)?)?,
            csrf: r.try_get(2)?,
            created_ms: r.try_get(3)?,
            seen_ms: r.try_get(4)?,
            expires_ms: r.try_get(5)?,
        };
        let disabled: bool = r.try_get(6)?;
        if disabled || session.expires_ms <= now_ms || session.seen_ms + idle_ms <= now_ms {
            return Ok(None);
        }
        if now_ms - session.seen_ms >= TOUCH_EVERY_MS {
            let stmt = client
                .prepare_cached("UPDATE staff_sessions SET seen_ms = $2 WHERE token_hash = $1")
                .await?;
            client
                .execute(&stmt, &[&token_hash.as_slice(), &now_ms])
                .await?;
        }
        Ok(Some(session))
    }

    async fn end_session(&self, token_hash: [u8; 32]) -> Result<(), StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("DELETE FROM staff_sessions WHERE token_hash = $1")
            .await?;
        client.execute(&stmt, &[&token_hash.as_slice()]).await?;
        Ok(())
    }
}
