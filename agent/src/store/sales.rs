//! Sales as the ledger keeps them (schema 9): each sale once, as its outbox event (its lines,
//! time and outcome), with the request's hash and the answer given on the event's row, and an
//! entry in `sales`, the index of sale ids with what the offline redemption bound reads.

use rusqlite::{OptionalExtension, params};
use tenpo_loyalty::{Date, Line, Points, SaleOutcome};
use tenpo_protocol::events::{Event, EventBody};

use super::{Identity, StoreError, WriteTx, from_json, parse_date};

/// A sale's idempotency record (schema 9): the request's hash and the answer given, kept on
/// its outbox row beside the event that holds its lines and outcome, and the `sales` index of
/// sale ids with what the offline redemption bound reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleRecord {
    pub sale_id: String,
    pub request_hash: Vec<u8>,
    pub member_id: Option<String>,
    pub business_date: Date,
    pub redeemed_points: Points,
    /// The JSON answered to the POS the first time.
    pub response: String,
}

/// A recorded sale as a refund needs it: its record, and its lines and outcome from its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleRow {
    pub sale_id: String,
    pub request_hash: Vec<u8>,
    pub member_id: Option<String>,
    pub business_date: Date,
    pub lines: Vec<Line>,
    pub outcome: Option<SaleOutcome>,
    /// The JSON answered to the POS the first time.
    pub response: String,
}

impl WriteTx<'_> {
    /// Records a sale: its event (`body`, which holds the sale's lines and outcome), with the
    /// request's hash and the answer given on the same outbox row, and its entry in the
    /// `sales` index of sale ids (schema 9: three b-trees a sale was two pages more).
    pub fn record_sale_event(
        &self,
        who: &Identity,
        body: EventBody,
        now: &str,
        sale: &SaleRecord,
    ) -> Result<u64, StoreError> {
        let seq = self.append(who, body, now, Some((&sale.request_hash, &sale.response)))?;
        self.tx
            .prepare_cached(
                "INSERT INTO sales (sale_id, seq, member_id, business_date, redeemed_points)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                sale.sale_id,
                seq as i64,
                sale.member_id,
                sale.business_date.to_string(),
                sale.redeemed_points,
            ])?;
        self.changes.sale();
        Ok(seq)
    }

    /// The record of sale `sale_id`, if recorded here: enough to tell a retry from a
    /// conflict and to answer it. A new sale's id is looked up in the `sales` index alone.
    pub fn sale_record(&self, sale_id: &str) -> Result<Option<SaleRecord>, StoreError> {
        Ok(self.recorded(sale_id)?.map(|(record, _)| record))
    }

    /// Sale `sale_id` with its lines and outcome, read from its outbox event.
    pub fn sale(&self, sale_id: &str) -> Result<Option<SaleRow>, StoreError> {
        let Some((record, payload)) = self.recorded(sale_id)? else {
            return Ok(None);
        };
        let event: Event = from_json("sale event", &payload)?;
        let EventBody::Sale(sale) = event.body else {
            return Err(StoreError::Corrupt {
                what: "sale event",
                detail: format!("the event of sale {sale_id} is not a sale"),
            });
        };
        Ok(Some(SaleRow {
            sale_id: record.sale_id,
            request_hash: record.request_hash,
            member_id: record.member_id,
            business_date: record.business_date,
            lines: sale.lines,
            outcome: sale.outcome,
            response: record.response,
        }))
    }

    /// Sale `sale_id`'s record and its event's bytes, in one read of its outbox row.
    fn recorded(&self, sale_id: &str) -> Result<Option<(SaleRecord, String)>, StoreError> {
        let row = self
            .tx
            .prepare_cached(
                "SELECT s.sale_id, o.request_hash, s.member_id, s.business_date,
                        s.redeemed_points, o.response, o.payload
                 FROM sales s JOIN outbox o ON o.seq = s.seq WHERE s.sale_id = ?1",
            )?
            .query_row([sale_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })
            .optional()?;
        row.map(
            |(sale_id, request_hash, member_id, date, redeemed_points, response, payload)| {
                let record = SaleRecord {
                    sale_id,
                    request_hash,
                    member_id,
                    business_date: parse_date("sale business date", &date)?,
                    redeemed_points,
                    response,
                };
                Ok((record, payload))
            },
        )
        .transpose()
    }
}
