//! Signups and card links (docs/design.md §5), for both backends: one member per LINE user,
//! ever; a signup id is used once; the LINE user id stays at the hub and never enters the feed.

use chrono::{DateTime, Utc};
use tenpo_loyalty::{MemberState, StampCard};
use tenpo_protocol::signup::{SignupCompletion, SignupKind};
use tenpo_protocol::sync::{Change, MemberSnapshot};

use super::line::{LineStatements, NewSignup, greet};
use crate::store::model::{signup_kind, signup_kind_text};
use crate::store::{CompleteSignup, Refusal, SignupRecord, StoreError};

/// Hub-issued member numbers: in-store JANs with this prefix, then a counter, then the check
/// digit. Paper cards may use the same prefix: a number already taken is skipped.
const NUMBER_PREFIX: &str = "29";

/// The next free hub-issued member number.
async fn new_number(db: &mut impl LineStatements) -> Result<String, StoreError> {
    let mut next = db.number_counter().await?.unwrap_or(1);
    loop {
        let body = format!("{NUMBER_PREFIX}{next:010}");
        let number =
            tenpo_protocol::codes::with_check_digit(&body).ok_or_else(|| StoreError::Corrupt {
                what: "member number counter",
                detail: next.to_string(),
            })?;
        next += 1;
        if db.code_owner(&number).await?.is_none() && !db.is_revoked(&number).await? {
            db.set_number_counter(next).await?;
            return Ok(number);
        }
    }
}

fn new_member(number: String, welcome_stamps: u32) -> MemberSnapshot {
    MemberSnapshot {
        member_id: uuid::Uuid::now_v7().to_string(),
        codes: vec![number.clone()],
        number,
        provisional: false,
        state: MemberState {
            stamps: StampCard {
                count: welcome_stamps,
                last_stamp_on: None,
                ..Default::default()
            },
            ..MemberState::default()
        },
        applied_through: Default::default(),
        merged_ids: Vec::new(),
    }
}

async fn member_of(
    db: &mut impl LineStatements,
    member_id: &str,
) -> Result<MemberSnapshot, StoreError> {
    db.member_snapshot(member_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt {
            what: "signup's member",
            detail: member_id.to_owned(),
        })
}

/// Completes a signup or card link in the caller's transaction.
pub(crate) async fn complete(
    db: &mut impl LineStatements,
    req: &CompleteSignup,
    now: DateTime<Utc>,
) -> Result<SignupRecord, StoreError> {
    let signup_id = req.token.id();
    if let Some(done) = record(db, &signup_id).await? {
        return if done.line_user_id == req.line_user_id {
            Ok(done) // the phone sent it again (a lost answer, a reload): the same answer
        } else {
            Err(StoreError::Signup(Refusal::Used))
        };
    }
    let linked = db.member_of_line_user(&req.line_user_id).await?;
    let (member_id, existing) = match (req.token.kind, &req.token.card_code) {
        (SignupKind::Signup, _) => match linked {
            Some(id) => (id, true),
            None => {
                let member = new_member(new_number(db).await?, req.welcome_stamps);
                db.insert_member(&member, None, now).await?;
                db.link_line_user(&req.line_user_id, &member.member_id, now)
                    .await?;
                (member.member_id, false)
            }
        },
        (SignupKind::CardLink, Some(code)) => {
            if db.is_revoked(code).await? {
                return Err(StoreError::Signup(Refusal::CardRevoked));
            }
            let card_member = match db.code_owner(code).await? {
                Some(id) => id,
                None => {
                    // A valid card the hub has not seen yet (made at a till offline): it becomes
                    // a member now; the till's provisional member merges into it when it arrives.
                    let member = new_member(code.clone(), 0);
                    db.insert_member(&member, None, now).await?;
                    member.member_id
                }
            };
            match (db.line_user_of_member(&card_member).await?, linked) {
                (Some(owner), _) if owner == req.line_user_id => (card_member, true),
                (Some(_), _) => return Err(StoreError::Signup(Refusal::CardLinkedElsewhere)),
                (None, Some(other)) => {
                    let number = member_of(db, &other).await?.number;
                    return Err(StoreError::Signup(Refusal::LineAccountTaken { number }));
                }
                (None, None) => {
                    db.link_line_user(&req.line_user_id, &card_member, now)
                        .await?;
                    (card_member, false)
                }
            }
        }
        (SignupKind::CardLink, None) => {
            return Err(StoreError::Invalid("a card link without a card".into()));
        }
    };
    let signup = NewSignup {
        signup_id: &signup_id,
        kind: signup_kind_text(req.token.kind),
        store_id: &req.token.store_id,
        terminal_id: &req.token.terminal_id,
        card_code: req.token.card_code.as_deref(),
        member_id: &member_id,
        line_user_id: &req.line_user_id,
        existing_member: existing,
    };
    db.insert_signup(signup, now).await?;
    db.claim_home_store(&member_id, &req.token.store_id).await?;
    db.log_change("signup", &signup_id).await?;
    if !existing {
        greet(db, &req.greeting, &member_id, &req.line_user_id, now).await?;
    }
    record(db, &signup_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt {
            what: "signup",
            detail: "not found after insert".into(),
        })
}

/// A completed signup, with its member as it is now.
pub(crate) async fn record(
    db: &mut impl LineStatements,
    signup_id: &str,
) -> Result<Option<SignupRecord>, StoreError> {
    let Some(row) = db.signup_row(signup_id).await? else {
        return Ok(None);
    };
    let member_id = db.resolve(&row.member_id).await?.unwrap_or(row.member_id);
    Ok(Some(SignupRecord {
        signup_id: signup_id.to_owned(),
        kind: signup_kind(&row.kind)?,
        store_id: row.store_id,
        terminal_id: row.terminal_id,
        member: member_of(db, &member_id).await?,
        line_user_id: row.line_user_id,
        existing_member: row.existing_member,
        completed_at: row.completed_at,
    }))
}

/// The member linked to a LINE user, as it is now.
pub(crate) async fn member_of_line(
    db: &mut impl LineStatements,
    line_user: &str,
) -> Result<Option<MemberSnapshot>, StoreError> {
    match db.member_of_line_user(line_user).await? {
        Some(member_id) => member_of(db, &member_id).await.map(Some),
        None => Ok(None),
    }
}

/// The feed's entry for a completed signup (no LINE user id: that stays at the hub).
pub(crate) fn change(r: SignupRecord) -> Change {
    Change::SignupCompleted {
        signup: SignupCompletion {
            signup_id: r.signup_id,
            kind: r.kind,
            store_id: r.store_id,
            terminal_id: r.terminal_id,
            member_id: r.member.member_id,
            member_number: r.member.number,
            completed_at: r.completed_at,
        },
    }
}
