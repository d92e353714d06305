//! What each member chose in their profile form (docs/design.md §10), in the SQLite store: the
//! language of their messages, store news yes or no, how to hear from us, and the name and email
//! they gave (`member_profiles`); the birthday is `members.birthday`. Personal data: the hub's
//! alone.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::store::StoreError;
use crate::store::outbox::{Channel, Language, Profile};

/// A member's profile choices (the defaults until they fill the form in).
pub(crate) fn profile(tx: &Transaction<'_>, member_id: &str) -> Result<Profile, StoreError> {
    type Row = (
        Option<String>,
        Option<bool>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = tx
        .prepare_cached(
            "SELECT p.language, p.marketing, p.channel, p.name, p.email, m.birthday
             FROM members m LEFT JOIN member_profiles p ON p.member_id = m.member_id
             WHERE m.member_id = ?1",
        )?
        .query_row([member_id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .optional()?;
    let Some((language, marketing, channel, name, email, birthday)) = row else {
        return Ok(Profile::default());
    };
    let d = Profile::default();
    Ok(Profile {
        language: language
            .as_deref()
            .and_then(Language::parse)
            .unwrap_or(d.language),
        marketing: marketing.unwrap_or(d.marketing),
        channel: channel
            .as_deref()
            .and_then(Channel::parse)
            .unwrap_or(d.channel),
        birthday: birthday.and_then(|b| b.parse().ok()),
        name,
        email,
    })
}

/// Saves a member's profile (the birthday in `members`, the rest in `member_profiles`).
pub(crate) fn save_profile(
    tx: &Transaction<'_>,
    member_id: &str,
    p: &Profile,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = now.to_rfc3339();
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
        now
    ])?;
    if !p.marketing {
        // Store news turned off: what is queued of it is not sent either.
        tx.prepare_cached(
            // Pinned: through `messages_state` this would read every member's waiting news.
            "UPDATE messages INDEXED BY messages_by_member
             SET state = 'expired', lease_until_ms = NULL,
                 last_error = 'the member turned store news off'
             WHERE member_id = ?1 AND class = 'marketing' AND state = 'pending'",
        )?
        .execute([member_id])?;
    }
    tx.prepare_cached("UPDATE members SET birthday = ?2 WHERE member_id = ?1")?
        .execute(params![member_id, p.birthday.map(|b| b.to_string())])?;
    Ok(())
}
