//! [`StaffStore`] on SQLite: staff accounts, their sign-ins and sessions, each change one write
//! transaction.

use chrono::{DateTime, Utc};

use super::{SqliteStore, staff};
use crate::store::StoreError;
use crate::store::console::{LockOut, NewSession, Role, StaffAccount, StaffSession, StaffStore};

/// How often a session's last use is written: a page view is a read, not a write each time.
const TOUCH_EVERY_MS: i64 = 60_000;

impl StaffStore for SqliteStore {
    async fn add_staff(
        &self,
        name: String,
        role: Role,
        password_hash: String,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.blocking(move |inner| {
            inner.write(|tx| staff::add_staff(tx, &name, role, &password_hash, now))
        })
        .await
    }

    async fn update_staff(
        &self,
        name: String,
        password_hash: Option<String>,
        role: Option<Role>,
        disabled: bool,
    ) -> Result<(), StoreError> {
        self.blocking(move |inner| {
            inner.write(|tx| {
                staff::update_staff(tx, &name, password_hash.as_deref(), role, disabled)
            })
        })
        .await
    }

    async fn staff_accounts(&self) -> Result<Vec<StaffAccount>, StoreError> {
        self.blocking(|inner| inner.read(|tx| staff::staff_accounts(tx, None)))
            .await
    }

    async fn staff_account(&self, name: String) -> Result<Option<StaffAccount>, StoreError> {
        self.blocking(move |inner| {
            inner.read(|tx| Ok(staff::staff_accounts(tx, Some(&name))?.into_iter().next()))
        })
        .await
    }

    async fn sign_in_failed(
        &self,
        name: String,
        lock: LockOut,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        self.blocking(move |inner| inner.write(|tx| staff::sign_in_failed(tx, &name, lock, now)))
            .await
    }

    async fn sign_in(
        &self,
        name: String,
        session: NewSession,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.blocking(move |inner| inner.write(|tx| staff::sign_in(tx, &name, &session, now)))
            .await
    }

    async fn staff_session(
        &self,
        token_hash: [u8; 32],
        idle_ms: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<StaffSession>, StoreError> {
        self.blocking(move |inner| {
            let now_ms = now.timestamp_millis();
            let Some((session, disabled)) =
                inner.read(|tx| staff::staff_session(tx, &token_hash))?
            else {
                return Ok(None);
            };
            if disabled || session.expires_ms <= now_ms || session.seen_ms + idle_ms <= now_ms {
                return Ok(None);
            }
            if now_ms - session.seen_ms >= TOUCH_EVERY_MS {
                inner.write(|tx| staff::touch_session(tx, &token_hash, now_ms))?;
            }
            Ok(Some(session))
        })
        .await
    }

    async fn end_session(&self, token_hash: [u8; 32]) -> Result<(), StoreError> {
        self.blocking(move |inner| inner.write(|tx| staff::end_session(tx, &token_hash)))
            .await
    }
}
