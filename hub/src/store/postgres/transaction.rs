//! One PostgreSQL transaction, seen as a unit of work (`PgUnit`): the statements it runs,
//! each prepared once per connection, and the advisory locks a decision takes for the rest of
//! it (a card's code; the change log, so feed positions commit in their order, docs/design.md
//! §12). The statements the shared decisions ask of it are in `statements.rs`.

use chrono::NaiveDate;
use deadpool_postgres::Transaction;
use tenpo_loyalty::Date;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::claim_ahead::ClaimAhead;
use super::read_ahead::ReadAhead;
use crate::store::StoreError;

/// Held by a transaction that logs a change, from its first change to its end ("chng").
const CHANGE_LOG_LOCK: i64 = 0x6368_6e67;

/// One PostgreSQL transaction, seen as a unit of work.
pub(crate) struct PgUnit<'a> {
    tx: &'a Transaction<'a>,
    holds_change_log: bool,
    /// What a push read ahead, and the slots it took but has not written yet.
    pub(crate) ahead: ReadAhead,
    /// What a claim of the message outbox read ahead, and the leases it has not written yet.
    pub(crate) claim: ClaimAhead,
}

impl<'a> PgUnit<'a> {
    pub(crate) fn new(tx: &'a Transaction<'a>) -> PgUnit<'a> {
        PgUnit {
            tx,
            holds_change_log: false,
            ahead: ReadAhead::default(),
            claim: ClaimAhead::default(),
        }
    }

    /// Runs one statement (prepared once per connection) and answers how many rows it wrote.
    pub(crate) async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        let stmt = self.tx.prepare_cached(sql).await?;
        Ok(self.tx.execute(&stmt, params).await?)
    }

    pub(crate) async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let stmt = self.tx.prepare_cached(sql).await?;
        Ok(self.tx.query(&stmt, params).await?)
    }

    pub(crate) async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        let stmt = self.tx.prepare_cached(sql).await?;
        Ok(self.tx.query_opt(&stmt, params).await?)
    }

    pub(crate) async fn query_one(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, StoreError> {
        let stmt = self.tx.prepare_cached(sql).await?;
        Ok(self.tx.query_one(&stmt, params).await?)
    }

    /// Holds `code` for the rest of the transaction: its revocation and its first use as a
    /// new card, at any hub, one after the other.
    pub(crate) async fn lock_code(&mut self, code: &str) -> Result<(), StoreError> {
        if !storable(code) {
            return Ok(());
        }
        self.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('card:' || $1, 0))",
            &[&code],
        )
        .await?;
        Ok(())
    }

    /// Takes the change log's lock for the rest of the transaction (once).
    pub(crate) async fn take_change_log(&mut self) -> Result<(), StoreError> {
        if !self.holds_change_log {
            self.execute("SELECT pg_advisory_xact_lock($1)", &[&CHANGE_LOG_LOCK])
                .await?;
            self.holds_change_log = true;
        }
        Ok(())
    }

    /// Moves a thing to the head of the change log (one row per thing, at its latest change).
    pub(crate) async fn log_change(&mut self, kind: &str, key: &str) -> Result<(), StoreError> {
        self.take_change_log().await?;
        self.execute(
            "INSERT INTO changes (kind, key) VALUES ($1, $2)
                 ON CONFLICT (kind, key) DO UPDATE SET pos = nextval('changes_pos')",
            &[&kind, &key],
        )
        .await?;
        Ok(())
    }
}

pub(crate) fn to_date(date: Date) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(date.year(), date.month(), date.day())
}

pub(crate) fn from_date(date: NaiveDate) -> Option<Date> {
    use chrono::Datelike;
    Date::from_ymd(date.year(), date.month(), date.day()).ok()
}

/// Whether PostgreSQL can hold `key` at all: its `text` holds no NUL, so a key with one
/// names nothing stored (and is not sent, which the server would refuse as an error).
pub(crate) fn storable(key: &str) -> bool {
    !key.contains('\0')
}
