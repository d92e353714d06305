//! Signups and card links in the SQLite store (docs/design.md §5): one member per LINE user,
//! ever; a signup id is used once; the LINE user id stays here and never enters the feed.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use tenpo_loyalty::{MemberState, StampCard};
use tenpo_protocol::signup::{SignupCompletion, SignupKind};
use tenpo_protocol::sync::{Change, MemberSnapshot};

use super::{members, outbox};
use crate::signup::{CardKey, CompleteSignup, Refusal, SignupRecord};
use crate::store::StoreError;

/// Hub-issued member numbers: in-store JANs with this prefix, then a counter, then the check
/// digit. Paper cards may use the same prefix: a number already taken is skipped.
const NUMBER_PREFIX: &str = "29";
const NEXT_NUMBER: &str = "next_member_number";

use crate::store::model::{signup_kind as kind_of, signup_kind_text as kind_text};

/// The next free hub-issued member number.
fn new_number(tx: &Transaction<'_>) -> Result<String, StoreError> {
    let mut next: u64 = tx
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([NEXT_NUMBER], |r| r.get::<_, String>(0))
        .optional()?
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    loop {
        let body = format!("{NUMBER_PREFIX}{next:010}");
        let number =
            tenpo_protocol::codes::with_check_digit(&body).ok_or_else(|| StoreError::Corrupt {
                what: "member number counter",
                detail: next.to_string(),
            })?;
        next += 1;
        if members::code_owner(tx, &number)?.is_none() && !members::is_revoked(tx, &number)? {
            tx.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?
                .execute(params![NEXT_NUMBER, next.to_string()])?;
            return Ok(number);
        }
    }
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

/// The member linked to a LINE user, as it is now.
pub(crate) fn member_of_line(
    tx: &Transaction<'_>,
    line_user: &str,
) -> Result<Option<MemberSnapshot>, StoreError> {
    match member_of_line_user(tx, line_user)? {
        Some(member_id) => load(tx, &member_id).map(Some),
        None => Ok(None),
    }
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

fn link(
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

fn load(tx: &Transaction<'_>, member_id: &str) -> Result<MemberSnapshot, StoreError> {
    members::load(tx, member_id)?.ok_or_else(|| StoreError::Corrupt {
        what: "signup's member",
        detail: member_id.to_owned(),
    })
}

/// Completes a signup or card link in the caller's transaction.
pub(crate) fn complete(
    tx: &Transaction<'_>,
    req: &CompleteSignup,
    now: DateTime<Utc>,
) -> Result<SignupRecord, StoreError> {
    let signup_id = req.token.id();
    if let Some(done) = record(tx, &signup_id)? {
        return if done.line_user_id == req.line_user_id {
            Ok(done) // the phone sent it again (a lost answer, a reload): the same answer
        } else {
            Err(StoreError::Signup(Refusal::Used))
        };
    }
    let now_text = now.to_rfc3339();
    let linked = member_of_line_user(tx, &req.line_user_id)?;
    let (member_id, existing) = match (req.token.kind, &req.token.card_code) {
        (SignupKind::Signup, _) => match linked {
            Some(id) => (id, true),
            None => {
                let number = new_number(tx)?;
                let member = MemberSnapshot {
                    member_id: uuid::Uuid::now_v7().to_string(),
                    number: number.clone(),
                    codes: vec![number],
                    provisional: false,
                    state: MemberState {
                        stamps: StampCard {
                            count: req.welcome_stamps,
                            last_stamp_on: None,
                            ..Default::default()
                        },
                        ..MemberState::default()
                    },
                    applied_through: Default::default(),
                    merged_ids: Vec::new(),
                };
                members::insert(tx, &member, None, &now_text)?;
                link(tx, &req.line_user_id, &member.member_id, &now_text)?;
                (member.member_id, false)
            }
        },
        (SignupKind::CardLink, Some(code)) => {
            if members::is_revoked(tx, code)? {
                return Err(StoreError::Signup(Refusal::CardRevoked));
            }
            let card_member = match members::code_owner(tx, code)? {
                Some(id) => id,
                None => {
                    // A valid card the hub has not seen yet (made at a till offline): it becomes
                    // a member now; the till's provisional member merges into it when it arrives.
                    let member = MemberSnapshot {
                        member_id: uuid::Uuid::now_v7().to_string(),
                        number: code.clone(),
                        codes: vec![code.clone()],
                        provisional: false,
                        state: MemberState::default(),
                        applied_through: Default::default(),
                        merged_ids: Vec::new(),
                    };
                    members::insert(tx, &member, None, &now_text)?;
                    member.member_id
                }
            };
            match (line_user_of_member(tx, &card_member)?, linked) {
                (Some(owner), _) if owner == req.line_user_id => (card_member, true),
                (Some(_), _) => return Err(StoreError::Signup(Refusal::CardLinkedElsewhere)),
                (None, Some(other)) => {
                    let number = load(tx, &other)?.number;
                    return Err(StoreError::Signup(Refusal::LineAccountTaken { number }));
                }
                (None, None) => {
                    link(tx, &req.line_user_id, &card_member, &now_text)?;
                    (card_member, false)
                }
            }
        }
        (SignupKind::CardLink, None) => {
            return Err(StoreError::Invalid("a card link without a card".into()));
        }
    };
    tx.prepare_cached(
        "INSERT INTO signups (signup_id, kind, store_id, terminal_id, card_code, member_id,
                              line_user_id, existing_member, completed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        signup_id,
        kind_text(req.token.kind),
        req.token.store_id,
        req.token.terminal_id,
        req.token.card_code,
        member_id,
        req.line_user_id,
        existing,
        now_text
    ])?;
    members::claim_home_store(tx, &member_id, &req.token.store_id)?;
    members::log_change(tx, "signup", &signup_id)?;
    if !existing {
        outbox::greet(tx, &req.greeting, &member_id, &req.line_user_id, now)?;
    }
    record(tx, &signup_id)?.ok_or_else(|| StoreError::Corrupt {
        what: "signup",
        detail: "not found after insert".into(),
    })
}

/// A completed signup, with its member as it is now.
pub(crate) fn record(
    tx: &Transaction<'_>,
    signup_id: &str,
) -> Result<Option<SignupRecord>, StoreError> {
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
    let member_id = members::resolve(tx, &member_id)?.unwrap_or(member_id);
    let completed_at = at.parse().map_err(|_| StoreError::Corrupt {
        what: "signup time",
        detail: at.clone(),
    })?;
    Ok(Some(SignupRecord {
        signup_id: signup_id.to_owned(),
        kind: kind_of(&kind)?,
        store_id,
        terminal_id,
        member: load(tx, &member_id)?,
        line_user_id,
        existing_member: existing,
        completed_at,
    }))
}

/// The feed entry of a completed signup.
pub(crate) fn change(tx: &Transaction<'_>, signup_id: &str) -> Result<Option<Change>, StoreError> {
    Ok(record(tx, signup_id)?.map(|r| Change::SignupCompleted {
        signup: SignupCompletion {
            signup_id: r.signup_id,
            kind: r.kind,
            store_id: r.store_id,
            terminal_id: r.terminal_id,
            member_id: r.member.member_id,
            member_number: r.member.number,
            completed_at: r.completed_at,
        },
    }))
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
