//! Refunds as the ledger keeps them: each with the request's hash and the answer given (so a
//! retried refund gets the same answer), the lines it returned, and its outcome.

use rusqlite::{OptionalExtension, params};
use tenpo_loyalty::{Date, Line, RefundOutcome};

use super::{StoreError, WriteTx, from_json, to_json};

/// A recorded refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRow {
    pub refund_id: String,
    pub sale_id: String,
    pub request_hash: Vec<u8>,
    pub lines: Vec<Line>,
    pub response: String,
}

impl WriteTx<'_> {
    pub fn refund(&self, refund_id: &str) -> Result<Option<RefundRow>, StoreError> {
        let row = self
            .tx
            .prepare_cached("SELECT refund_id, sale_id, request_hash, lines, response FROM refunds WHERE refund_id = ?1")?
            .query_row([refund_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .optional()?;
        row.map(|(refund_id, sale_id, request_hash, lines, response)| {
            Ok(RefundRow {
                refund_id,
                sale_id,
                request_hash,
                lines: from_json("refund lines", &lines)?,
                response,
            })
        })
        .transpose()
    }

    /// Every line refunded so far against a sale.
    pub fn refunded_lines(&self, sale_id: &str) -> Result<Vec<Line>, StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT lines FROM refunds WHERE sale_id = ?1 ORDER BY seq")?;
        let mut rows = stmt.query([sale_id])?;
        let mut all = Vec::new();
        while let Some(row) = rows.next()? {
            let lines: Vec<Line> = from_json("refund lines", &row.get::<_, String>(0)?)?;
            all.extend(lines);
        }
        Ok(all)
    }

    pub fn insert_refund(
        &self,
        refund: &RefundRow,
        business_date: Date,
        occurred_at: &str,
        outcome: Option<&RefundOutcome>,
        seq: u64,
    ) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO refunds (refund_id, sale_id, request_hash, business_date, occurred_at,
                                      lines, outcome, response, seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                refund.refund_id,
                refund.sale_id,
                refund.request_hash,
                business_date.to_string(),
                occurred_at,
                to_json(&refund.lines)?,
                outcome.map(to_json).transpose()?,
                refund.response,
                seq as i64
            ])?;
        self.changes.refund();
        Ok(())
    }
}
