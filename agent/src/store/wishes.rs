//! Members' wishes (docs/design.md §11) as the ledger keeps them: the idempotency record of each
//! wish id, beside its outbox event (written in the same transaction).

use rusqlite::{OptionalExtension, params};

use super::{StoreError, WriteTx};

/// A recorded wish: what identifies its request, and the answer given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WishRow {
    pub wish_id: String,
    pub request_hash: Vec<u8>,
    pub member_id: String,
    /// The JSON answered the first time.
    pub response: String,
}

impl WriteTx<'_> {
    pub fn wish(&self, wish_id: &str) -> Result<Option<WishRow>, StoreError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT wish_id, request_hash, member_id, response FROM wishes WHERE wish_id = ?1",
            )?
            .query_row([wish_id], |r| {
                Ok(WishRow {
                    wish_id: r.get(0)?,
                    request_hash: r.get(1)?,
                    member_id: r.get(2)?,
                    response: r.get(3)?,
                })
            })
            .optional()?)
    }

    /// Records a wish whose event has outbox position `seq`.
    pub fn insert_wish(&self, wish: &WishRow, seq: u64) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO wishes (wish_id, request_hash, member_id, response, seq)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                wish.wish_id,
                wish.request_hash,
                wish.member_id,
                wish.response,
                i64::try_from(seq).unwrap_or(i64::MAX)
            ])?;
        Ok(())
    }
}
