//! A member's export and erasure in the PostgreSQL store (the logic is
//! `store::unit::privacy`).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::transaction::PgUnit;
use crate::store::StoreError;
use crate::store::unit::privacy::{PrivacyStatements, text_value};

impl PrivacyStatements for PgUnit<'_> {
    async fn rows_where(
        &mut self,
        table: &str,
        column: &str,
        key: &str,
    ) -> Result<Vec<Value>, StoreError> {
        // Each row as PostgreSQL's JSON of it; text as [`text_value`] gives it, as SQLite's.
        let rows = self
            .query(
                &format!("SELECT row_to_json(t)::text FROM {table} t WHERE {column} = $1"),
                &[&key],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let text: String = r.try_get(0)?;
                let row: Map<String, Value> =
                    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                        what: "a member's exported row",
                        detail: e.to_string(),
                    })?;
                Ok(Value::Object(
                    row.into_iter()
                        .map(|(k, v)| match v {
                            Value::String(s) => (k, text_value(s)),
                            other => (k, other),
                        })
                        .collect(),
                ))
            })
            .collect()
    }

    async fn erase_rows(&mut self, sql: &str, key: &str) -> Result<u64, StoreError> {
        self.execute(sql, &[&key]).await
    }

    async fn erased_at(&mut self, member_id: &str) -> Result<Option<Option<String>>, StoreError> {
        let row = self
            .query_opt(
                "SELECT erased_at FROM members WHERE member_id = $1",
                &[&member_id],
            )
            .await?;
        row.map(|r| {
            let at: Option<DateTime<Utc>> = r.try_get(0)?;
            Ok(at.map(|t| t.to_rfc3339()))
        })
        .transpose()
    }

    async fn mark_erased(&mut self, member_id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.execute(
            "UPDATE members SET erased_at = $2 WHERE member_id = $1",
            &[&member_id, &now],
        )
        .await?;
        Ok(())
    }
}
