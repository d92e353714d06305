//! Signups and card links' statements in the SQLite store (the decisions are `unit::signup`):
//! one member per LINE user, ever; the LINE user id stays here and never enters the feed.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::signup::CardKey;
use crate::store::StoreError;
use crate::store::unit::line::{NewSignup, SignupRow};

/// The meta key of the hub-issued member numbers' counter.
const NEXT_NUMBER: &str = "next_member_number";

/// The next hub-issued member number's counter (see `unit::signup`).
pub(crate) fn number_counter(tx: &Transaction<'_>) -> Result<Option<u64>, StoreError> {
    Ok(tx
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([NEXT_NUMBER], |r| r.get::<_, String>(0))
        .optional()?
        .and_then(|v| v.parse().ok()))
}

pub(crate) fn set_number_counter(tx: &Transaction<'_>, next: u64) -> Result<(), StoreError> {
    tx.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?
        .execute(params![NEXT_NUMBER, next.to_string()])?;
    Ok(())
}

pub(crate) fn member_of_line_user(
    tx: &Transaction<'_>,
    line_user: &str,
) -> Result<Option<String>, StoreError> {
    Ok(tx
        .prepare_cached("SELECT member_id FROM line_users WHERE line_user_id = ?1")?
        .query_row([line_user], |r| r.get(0))
        .optional()?)
}

pub(crate) fn line_user_of_member(
    tx: &Transaction<'_>,
    member_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(tx
        .prepare_cached("SELECT line_user_id FROM line_users WHERE member_id = ?1")?
        .query_row([member_id], |r| r.get(0))
        .optional()?)
}

pub(crate) fn link(
    tx: &Transaction<'_>,
    line_user: &str,
    member_id: &str,
    now: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO line_users (line_user_id, member_id, linked_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![line_user, member_id, now])?;
    Ok(())
}

/// A completed signup as stored.
pub(crate) fn signup_row(
    tx: &Transaction<'_>,
    signup_id: &str,
) -> Result<Option<SignupRow>, StoreError> {
    type Row = (String, String, String, String, String, bool, String);
    let row: Option<Row> = tx
        .prepare_cached(
            "SELECT kind, store_id, terminal_id, member_id, line_user_id, existing_member,
                    completed_at
             FROM signups WHERE signup_id = ?1",
        )?
        .query_row([signup_id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .optional()?;
    let Some((kind, store_id, terminal_id, member_id, line_user_id, existing, at)) = row else {
        return Ok(None);
    };
    let completed_at = at.parse().map_err(|_| StoreError::Corrupt {
        what: "signup time",
        detail: at.clone(),
    })?;
    Ok(Some(SignupRow {
        kind,
        store_id,
        terminal_id,
        member_id,
        line_user_id,
        existing_member: existing,
        completed_at,
    }))
}

pub(crate) fn insert_signup(
    tx: &Transaction<'_>,
    s: &NewSignup<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO signups (signup_id, kind, store_id, terminal_id, card_code, member_id,
                              line_user_id, existing_member, completed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        s.signup_id,
        s.kind,
        s.store_id,
        s.terminal_id,
        s.card_code,
        s.member_id,
        s.line_user_id,
        s.existing_member,
        now.to_rfc3339()
    ])?;
    Ok(())
}

/// The newest active card-signing key.
pub(crate) fn card_key(tx: &Transaction<'_>) -> Result<Option<CardKey>, StoreError> {
    let row: Option<(u32, Vec<u8>)> = tx
        .prepare_cached(
            "SELECT key_id, secret_key FROM signing_keys WHERE active = 1
             ORDER BY key_id DESC LIMIT 1",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    row.map(|(key_id, secret)| {
        let secret: [u8; 32] = secret.try_into().map_err(|_| StoreError::Corrupt {
            what: "card signing key",
            detail: format!("key {key_id} is not 32 bytes"),
        })?;
        Ok(CardKey { key_id, secret })
    })
    .transpose()
}
