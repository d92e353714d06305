//! A member's export and erasure in the SQLite store (the logic is `store::unit::privacy`).

use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;
use rusqlite::types::ValueRef;
use serde_json::{Map, Value};

use super::statements::SqliteUnit;
use crate::store::StoreError;
use crate::store::unit::privacy::{PrivacyStatements, text_value};

/// One SQLite value as JSON (text as [`text_value`] gives it, bytes in hex).
fn to_value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => Value::from(f),
        ValueRef::Text(t) => text_value(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::from(hex::encode(b)),
    }
}

impl PrivacyStatements for SqliteUnit<'_> {
    async fn rows_where(
        &mut self,
        table: &str,
        column: &str,
        key: &str,
    ) -> Result<Vec<Value>, StoreError> {
        let mut stmt = self
            .tx()
            .prepare_cached(&format!("SELECT * FROM {table} WHERE {column} = ?1"))?;
        let names: Vec<String> = stmt.column_names().map(str::to_owned).collect();
        let mut rows = stmt.query([key])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut object = Map::new();
            for (i, name) in names.iter().enumerate() {
                object.insert(name.clone(), to_value(row.get_ref(i)?));
            }
            out.push(Value::Object(object));
        }
        Ok(out)
    }

    async fn erase_rows(&mut self, sql: &str, key: &str) -> Result<u64, StoreError> {
        // The statements are written for both backends with `$1`; SQLite numbers them `?1`.
        let sql = sql.replace('$', "?");
        Ok(self.tx().prepare_cached(&sql)?.execute([key])? as u64)
    }

    async fn erased_at(&mut self, member_id: &str) -> Result<Option<Option<String>>, StoreError> {
        Ok(self
            .tx()
            .prepare_cached("SELECT erased_at FROM members WHERE member_id = ?1")?
            .query_row([member_id], |r| r.get(0))
            .optional()?)
    }

    async fn mark_erased(&mut self, member_id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.tx()
            .prepare_cached("UPDATE members SET erased_at = ?2 WHERE member_id = ?1")?
            .execute([member_id, &now.to_rfc3339()])?;
        Ok(())
    }
}
