//! A member's wish (docs/design.md §11): at the counter, the cashier scans the product while the
//! member's card is shown; at the kiosk, the member scans it. Checked before anything is written,
//! then recorded like a sale: its outbox event (the next gap-free `seq`, encoded once) and its
//! idempotency record in one transaction. The sync engine pushes it like any event, so a wish
//! made offline reaches the hub once the till is back online.

use chrono::{DateTime, Utc};
use tenpo_protocol::agent::{WishRequest, WishResponse};
use tenpo_protocol::events::{EventBody, WishEvent};

use crate::ledger::{
    Ledger, LedgerError, Recorded, hash_of, json_bytes, response_json, stored_response,
};
use crate::store::WishRow;

/// Why a wish was refused, in words a cashier can act on. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum WishError {
    #[error("{0}")]
    Item(#[from] tenpo_hw::ProductError),
    #[error(
        "card {0} has no member at this till: a wish is a member's, so scan the member's card \
         first (a new card becomes a member at its first sale)"
    )]
    NoMember(String),
    #[error(
        "card {0} is not known at this till yet and the head office cannot be reached to ask: \
         record the wish again when the till is back online"
    )]
    NotKnownHere(String),
    #[error("wish {0} was already recorded with different content: use a new wish id")]
    Conflict(String),
}

impl Ledger {
    /// Records a member's wish, exactly once per `wish_id`: the same request again answers the
    /// first answer, another one under the same id is refused. The card must be a member's at
    /// this till; a barcode-shaped item must have a right check digit and not be a member card.
    pub fn record_wish(
        &self,
        req: &WishRequest,
        now: DateTime<Utc>,
    ) -> Result<(Recorded, WishResponse), LedgerError> {
        req.check()?;
        let code = self.parse_code(&req.member_code, now)?;
        let barcode = tenpo_hw::parse_product(&req.item)
            .map_err(WishError::from)?
            .is_some();
        let (at, _) = self.occurred(req.occurred_at, now)?;
        let hash = hash_of(&[&json_bytes(req)]);
        let now_text = now.to_rfc3339();

        self.store().write(|tx| {
            if let Some(existing) = tx.wish(&req.wish_id)? {
                return if existing.request_hash == hash {
                    Ok((Recorded::Replay, stored_response(&existing.response)?))
                } else {
                    Err(WishError::Conflict(req.wish_id.clone()).into())
                };
            }
            // A wish never makes a member: the hub keeps wishes of members it knows.
            let member = match tx.member_by_code(code.key())? {
                Some(m) => m,
                None if tx.is_revoked(code.key())? => {
                    return Err(LedgerError::Revoked(code.key().to_owned()));
                }
                None => return Err(WishError::NoMember(code.key().to_owned()).into()),
            };
            let response = WishResponse {
                wish_id: req.wish_id.clone(),
                member_id: member.member_id.clone(),
                item: req.item.clone(),
                barcode,
                wants: req.wants.clone(),
                occurred_at: at.to_rfc3339(),
            };
            let seq = tx.append_event(
                self.identity(),
                EventBody::Wish(WishEvent {
                    member_id: member.member_id.clone(),
                    item: req.item.clone(),
                    wants: req.wants.clone(),
                    occurred_at: at.to_rfc3339(),
                }),
                &now_text,
            )?;
            tx.insert_wish(
                &WishRow {
                    wish_id: req.wish_id.clone(),
                    request_hash: hash.clone(),
                    member_id: member.member_id,
                    response: response_json(&response)?,
                },
                seq,
            )?;
            Ok((Recorded::New, response))
        })
    }
}
