//! What `tenpo-hub doctor` reads from a PostgreSQL hub database: read-only (one read-only
//! transaction), whether hubs serve it or not, and whatever schema version it is at.

use chrono::{DateTime, Utc};

use super::{DatabaseUrl, pool};
use crate::store::StoreError;

/// A database as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// 0: no hub has made its tables yet.
    pub schema_version: u32,
    pub terminals: i64,
    /// PostgreSQL's estimate (exact counts of millions of rows are slow).
    pub members_estimate: i64,
    /// The database server's clock.
    pub server_now: DateTime<Utc>,
    /// `SHOW server_version`.
    pub server_version: String,
}

/// Connects to `url` and reads what doctor reports, writing nothing.
pub async fn inspect(url: &DatabaseUrl) -> Result<Inspection, StoreError> {
    let mut client = pool(url, 1)?.get().await?;
    let tx = client.build_transaction().read_only(true).start().await?;
    let server_now: DateTime<Utc> = tx.query_one("SELECT now()", &[]).await?.try_get(0)?;
    let server_version: String = tx.query_one("SHOW server_version", &[]).await?.try_get(0)?;
    let has_schema: bool = tx
        .query_one("SELECT to_regclass('tenpo_schema') IS NOT NULL", &[])
        .await?
        .try_get(0)?;
    let mut found = Inspection {
        schema_version: 0,
        terminals: 0,
        members_estimate: 0,
        server_now,
        server_version,
    };
    if has_schema {
        let version: Option<i32> = tx
            .query_opt("SELECT version FROM tenpo_schema", &[])
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        found.schema_version = version.unwrap_or(0).unsigned_abs();
    }
    if found.schema_version > 0 {
        found.terminals = tx
            .query_one("SELECT COUNT(*) FROM terminals", &[])
            .await?
            .try_get(0)?;
        let estimate: f32 = tx
            .query_one(
                "SELECT reltuples FROM pg_class WHERE oid = 'members'::regclass",
                &[],
            )
            .await?
            .try_get(0)?;
        found.members_estimate = (estimate.max(0.0)) as i64;
    }
    tx.commit().await?;
    Ok(found)
}
