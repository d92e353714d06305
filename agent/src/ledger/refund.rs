//! A refund of lines of an earlier sale: the member's earned points and stamps taken back, the
//! points it redeemed returned, and the refund's event in the outbox, in one transaction, once
//! per `refund_id` (docs/design.md §3, §4).

use chrono::{DateTime, Utc};
use tenpo_loyalty::{Line, Refund, check_refund_lines, evaluate_refund};
use tenpo_protocol::agent::{RefundRequest, RefundResponse};
use tenpo_protocol::events::{EventBody, RefundEvent};

use super::{Ledger, LedgerError, Recorded, hash_of, json_bytes, response_json, stored_response};
use crate::store::RefundRow;

impl Ledger {
    /// Records a refund of lines of an earlier sale, exactly once per `refund_id`.
    pub fn record_refund(
        &self,
        sale_id: &str,
        req: &RefundRequest,
        now: DateTime<Utc>,
    ) -> Result<(Recorded, RefundResponse), LedgerError> {
        tenpo_protocol::agent::check_id("sale_id", sale_id)?;
        req.check()?;
        let lines: Vec<Line> = req.lines.iter().map(Line::from).collect();
        let (at, date) = self.occurred(req.occurred_at, now)?;
        let hash = hash_of(&[sale_id.as_bytes(), &json_bytes(req)]);
        let now_text = now.to_rfc3339();
        let rules = self.rules();

        self.store.write(|tx| {
            if let Some(existing) = tx.refund(&req.refund_id)? {
                return if existing.request_hash == hash {
                    Ok((Recorded::Replay, stored_response(&existing.response)?))
                } else {
                    Err(LedgerError::RefundConflict(req.refund_id.clone()))
                };
            }
            let sale = tx
                .sale(sale_id)?
                .ok_or_else(|| LedgerError::SaleNotFound(sale_id.to_owned()))?;
            let earlier = tx.refunded_lines(sale_id)?;
            let (outcome, balance_after) = match (&sale.member_id, &sale.outcome) {
                (Some(member_id), Some(sale_outcome)) => {
                    // The sale's member may since have been merged into another by the hub.
                    let member_id = &tx.resolve_alias(member_id)?;
                    let mut state = tx
                        .member_state_to_change(member_id)?
                        .ok_or_else(|| LedgerError::MemberMissing(member_id.clone()))?;
                    let refund = Refund {
                        refund_id: req.refund_id.clone(),
                        business_date: date,
                        lines: lines.clone(),
                    };
                    let outcome = evaluate_refund(
                        &rules,
                        &state,
                        &sale.lines,
                        sale_outcome,
                        &earlier,
                        &refund,
                    )?;
                    // Applied as the hub applies it (no compaction after a refund).
                    state.take_refund(&outcome, None);
                    let balance = state.balance(date);
                    tx.save_member_state(member_id, state, &now_text)?;
                    (Some(outcome), balance)
                }
                _ => {
                    check_refund_lines(&rules, &sale.lines, &earlier, &lines)?;
                    (None, 0)
                }
            };
            let response = RefundResponse {
                refund_id: req.refund_id.clone(),
                sale_id: sale_id.to_owned(),
                reversed_points: outcome.as_ref().map_or(0, |o| o.reversed_points),
                returned_points: outcome.as_ref().map_or(0, |o| o.returned_points),
                reversed_stamps: outcome.as_ref().map_or(0, |o| o.stamps_reversed),
                shortfall_points: outcome.as_ref().map_or(0, |o| o.shortfall_points),
                balance_after,
            };
            if let Some(o) = outcome
                .as_ref()
                .filter(|o| o.shortfall_points > 0 || o.shortfall_stamps > 0)
            {
                tracing::warn!(
                    refund_id = %o.refund_id,
                    shortfall_points = o.shortfall_points,
                    shortfall_stamps = o.shortfall_stamps,
                    "refund could not take back everything the sale earned; shortfall recorded"
                );
            }
            let seq = tx.append_event(
                &self.who,
                EventBody::Refund(RefundEvent {
                    refund_id: req.refund_id.clone(),
                    sale_id: sale_id.to_owned(),
                    member_id: sale.member_id.clone(),
                    occurred_at: at.to_rfc3339(),
                    business_date: date,
                    lines: lines.clone(),
                    outcome: outcome.clone(),
                }),
                &now_text,
            )?;
            tx.insert_refund(
                &RefundRow {
                    refund_id: req.refund_id.clone(),
                    sale_id: sale_id.to_owned(),
                    request_hash: hash.clone(),
                    lines: lines.clone(),
                    response: response_json(&response)?,
                },
                date,
                &at.to_rfc3339(),
                outcome.as_ref(),
                seq,
            )?;
            Ok((Recorded::New, response))
        })
    }
}
