//! Email's outbox (docs/design.md §11), for both backends: a notification whose channel is
//! email carries its own delivery state. A sender claims due ones with a lease (a sender that
//! dies leaves them to be claimed again once it runs out, with the same `Message-ID`), in the
//! member's waking hours, to the address they have now; and records how each attempt ended.

use chrono::{DateTime, Utc};
use tenpo_protocol::events::WishKind;

use super::wishes::WishStatements;
use crate::store::StoreError;
use crate::store::catalog::{EmailClaim, EmailJob, EmailOutcome};
use crate::wishes::{WishNotice, WishSettings};

/// An email notification due to be sent, as held.
#[derive(Debug, Clone)]
pub(crate) struct DueEmail {
    pub id: i64,
    pub link_id: String,
    pub member_id: String,
    pub sku: String,
    pub kind: WishKind,
    pub store_id: Option<String>,
    pub price_yen: i64,
    pub was_price_yen: Option<i64>,
}

/// The statements of email's outbox.
pub(crate) trait EmailStatements: WishStatements {
    /// Up to `limit` email notifications due at `now_ms` (pending and not waiting, or left
    /// `sending` by a sender whose lease ran out), oldest first.
    async fn due_emails(&mut self, now_ms: i64, limit: u32) -> Result<Vec<DueEmail>, StoreError>;
    /// Leases one until `until_ms` and counts the attempt; answers the attempt count.
    async fn lease_email(&mut self, id: i64, until_ms: i64) -> Result<u32, StoreError>;
    /// Sets its state (`pending` with `not_before_ms`, or a final one with `error`).
    async fn set_email_state(
        &mut self,
        id: i64,
        state: &str,
        error: Option<&str>,
        not_before_ms: Option<i64>,
        delivered_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;
    /// Its state and attempt count.
    async fn email_state(&mut self, id: i64) -> Result<Option<(String, u32)>, StoreError>;
}

/// Claims due email notifications: one whose member sleeps (their store's quiet hours) waits
/// until `quiet_until`; one whose member has no address now, or unsubscribed, is `unreachable`;
/// the rest are leased and handed out with what they say.
pub(crate) async fn claim(
    db: &mut impl EmailStatements,
    settings: &WishSettings,
    claim: &EmailClaim,
    now: DateTime<Utc>,
) -> Result<Vec<EmailJob>, StoreError> {
    let now_ms = now.timestamp_millis();
    let mut jobs = Vec::new();
    for due in db.due_emails(now_ms, claim.limit).await? {
        if claim.awake != crate::store::HomeStores::All {
            let home = db
                .member_row(&due.member_id)
                .await?
                .and_then(|m| m.home_store);
            if !claim.awake.covers(home.as_deref()) {
                let until = claim.quiet_until.timestamp_millis().max(now_ms);
                db.set_email_state(due.id, "pending", None, Some(until), None)
                    .await?;
                continue;
            }
        }
        let profile = db
            .profile_row(&due.member_id)
            .await?
            .unwrap_or_default()
            .profile();
        let reach = db.reach(&due.member_id).await?;
        let (Some(address), false) = (profile.email.clone(), reach.email_unsubscribed) else {
            let why = "the member has no email address now, or unsubscribed";
            db.set_email_state(due.id, "unreachable", Some(why), None, None)
                .await?;
            continue;
        };
        let Some(item) = db.item_for(&due.sku).await? else {
            let why = "the item is no longer in the catalogue";
            db.set_email_state(due.id, "failed", Some(why), None, None)
                .await?;
            continue;
        };
        let until = now_ms.saturating_add(claim.lease.num_milliseconds());
        let attempts = db.lease_email(due.id, until).await?;
        let notice = WishNotice {
            kind: due.kind,
            language: profile.language,
            item_ja: item.name_ja,
            item_en: item.name_en,
            price_yen: due.price_yen,
            was_price_yen: due.was_price_yen,
            store_id: due.store_id,
            link: crate::wishes::link(settings, &due.link_id, item.url.as_deref()),
            image_url: item.image_url,
        };
        jobs.push(EmailJob {
            id: due.id,
            link_id: due.link_id,
            member_id: due.member_id,
            address,
            notice,
            attempts,
        });
    }
    Ok(jobs)
}

/// Records how attempt `attempt` ended, unless another sender has claimed the row since (a
/// `Sent` always counts: the member has it).
pub(crate) async fn finish(
    db: &mut impl EmailStatements,
    id: i64,
    attempt: u32,
    outcome: &EmailOutcome,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some((state, attempts)) = db.email_state(id).await? else {
        return Err(StoreError::NotFound(format!("no email notification {id}")));
    };
    let ours = state == "sending" && attempts == attempt;
    match outcome {
        EmailOutcome::Sent if state != "sent" => {
            db.set_email_state(id, "sent", None, None, Some(now)).await
        }
        EmailOutcome::Retry { not_before, error } if ours => {
            let at = Some(not_before.timestamp_millis());
            db.set_email_state(id, "pending", Some(error), at, None)
                .await
        }
        EmailOutcome::Failed { error } if ours => {
            db.set_email_state(id, "failed", Some(error), None, None)
                .await
        }
        _ => Ok(()),
    }
}

/// The unsubscribe key as the store keeps it (hex).
pub(crate) fn key_from_hex(held: &str) -> Result<[u8; 32], StoreError> {
    hex::decode(held)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or(StoreError::Corrupt {
            what: "unsubscribe key",
            detail: "not 32 bytes of hex".into(),
        })
}
