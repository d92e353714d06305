//! What each member chose in their profile form (docs/design.md §10), in the SQLite store: the
//! language of their messages, store news yes or no, how to hear from us, and the name and email
//! they gave (`member_profiles`); the birthday is `members.birthday`. Personal data: the hub's
//! alone.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::store::StoreError;
use crate::store::outbox::{NEWS_OFF, Profile};
use crate::store::unit::ProfileRow;

/// A member's profile choices (the defaults until they fill the form in).
pub(crate) fn profile(tx: &Transaction<'_>, member_id: &str) -> Result<Profile, StoreError> {
    Ok(profile_row(tx, member_id)?.unwrap_or_default().profile())
}

/// A member's profile choices as stored (`None`: the hub does not know the member).
pub(crate) fn profile_row(
    tx: &Transaction<'_>,
    member_id: &str,
) -> Result<Option<ProfileRow>, StoreError> {
    Ok(tx
        .prepare_cached(
            "SELECT p.language, p.marketing, p.channel, p.name, p.email, m.birthday
             FROM members m LEFT JOIN member_profiles p ON p.member_id = m.member_id
             WHERE m.member_id = ?1",
        )?
        .query_row([member_id], |r| {
            Ok(ProfileRow {
                language: r.get(0)?,
                marketing: r.get(1)?,
                channel: r.get(2)?,
                name: r.get(3)?,
                email: r.get(4)?,
                birthday: r.get::<_, Option<String>>(5)?.and_then(|b| b.parse().ok()),
            })
        })
        .optional()?)
}

/// Saves a member's choices (`member_profiles`).
pub(crate) fn upsert_profile(
    tx: &Transaction<'_>,
    member_id: &str,
    p: &Profile,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO member_profiles
             (member_id, language, marketing, channel, name, email, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (member_id) DO UPDATE SET language = excluded.language,
             marketing = excluded.marketing, channel = excluded.channel, name = excluded.name,
             email = excluded.email, updated_at = excluded.updated_at",
    )?
    .execute(params![
        member_id,
        p.language.as_str(),
        p.marketing,
        p.channel.as_str(),
        p.name,
        p.email,
        now.to_rfc3339()
    ])?;
    Ok(())
}

/// The member's waiting store news is not sent.
pub(crate) fn expire_marketing(tx: &Transaction<'_>, member_id: &str) -> Result<(), StoreError> {
    tx.prepare_cached(
        // Pinned: through `messages_state` this would read every member's waiting news.
        "UPDATE messages INDEXED BY messages_by_member
         SET state = 'expired', lease_until_ms = NULL, last_error = ?2
         WHERE member_id = ?1 AND class = 'marketing' AND state = 'pending'",
    )?
    .execute([member_id, NEWS_OFF])?;
    Ok(())
}

pub(crate) fn set_birthday(
    tx: &Transaction<'_>,
    member_id: &str,
    birthday: Option<tenpo_loyalty::Date>,
) -> Result<(), StoreError> {
    tx.prepare_cached("UPDATE members SET birthday = ?2 WHERE member_id = ?1")?
        .execute(params![member_id, birthday.map(|b| b.to_string())])?;
    Ok(())
}
