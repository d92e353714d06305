//! Enrolment, terminals, rule sets and the admin operations' statements in the SQLite store
//! (the decisions are `store::unit`).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tenpo_loyalty::RuleSet;

use super::statements::SqliteUnit;
use super::{from_json, review, to_json};
use crate::admin::{ConflictView, HeldView};
use crate::store::unit::admin::{AdminStatements, CodeRow, NewTerminal};
use crate::store::{StoreError, Terminal, json_or_text};

pub(crate) fn terminal(
    tx: &Transaction<'_>,
    terminal_id: &str,
) -> Result<Option<Terminal>, StoreError> {
    let row: Option<(String, String, Vec<u8>, i64)> = tx
        .prepare_cached(
            "SELECT terminal_id, store_id, secret_hash, acked_through FROM terminals
             WHERE terminal_id = ?1",
        )?
        .query_row([terminal_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    row.map(|(terminal_id, store_id, hash, acked)| {
        let secret_hash: [u8; 32] = hash.try_into().map_err(|_| StoreError::Corrupt {
            what: "terminal secret hash",
            detail: terminal_id.clone(),
        })?;
        Ok(Terminal {
            terminal_id,
            store_id,
            secret_hash,
            acked_through: acked.unsigned_abs(),
        })
    })
    .transpose()
}

impl AdminStatements for SqliteUnit<'_> {
    async fn enrollment_code(&mut self, hash: &[u8; 32]) -> Result<Option<CodeRow>, StoreError> {
        let row: Option<(String, String, Option<String>, Option<String>)> = self
            .tx()
            .prepare_cached(
                "SELECT store_id, expires_at, used_at, for_terminal FROM enrollment_codes
                 WHERE code_hash = ?1",
            )?
            .query_row([hash.as_slice()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        row.map(|(store_id, expires_at, used_at, for_terminal)| {
            Ok(CodeRow {
                expires_at: expires_at.parse().map_err(|_| StoreError::Corrupt {
                    what: "enrolment code expiry",
                    detail: expires_at.clone(),
                })?,
                store_id,
                used: used_at.is_some(),
                for_terminal,
            })
        })
        .transpose()
    }

    async fn insert_enrollment_code(
        &mut self,
        hash: &[u8; 32],
        store_id: &str,
        for_terminal: Option<&str>,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.tx()
            .prepare_cached(
                "INSERT INTO enrollment_codes (code_hash, store_id, created_at, expires_at,
                     for_terminal)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                hash.as_slice(),
                store_id,
                now.to_rfc3339(),
                expires_at.to_rfc3339(),
                for_terminal
            ])?;
        Ok(())
    }

    async fn use_code(
        &mut self,
        hash: &[u8; 32],
        terminal_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.tx()
            .prepare_cached(
                "UPDATE enrollment_codes SET used_at = ?2, terminal_id = ?3 WHERE code_hash = ?1",
            )?
            .execute(params![hash.as_slice(), now.to_rfc3339(), terminal_id])?;
        Ok(())
    }

    async fn terminal_store(&mut self, terminal_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .tx()
            .prepare_cached("SELECT store_id FROM terminals WHERE terminal_id = ?1")?
            .query_row([terminal_id], |r| r.get(0))
            .optional()?)
    }

    async fn insert_terminal(
        &mut self,
        t: NewTerminal<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.tx()
            .prepare_cached(
                "INSERT INTO terminals (terminal_id, store_id, name, secret_hash, enrolled_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                t.terminal_id,
                t.store_id,
                t.name,
                t.secret_hash.as_slice(),
                now.to_rfc3339()
            ])?;
        Ok(())
    }

    async fn renew_terminal(
        &mut self,
        t: NewTerminal<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.tx()
            .prepare_cached(
                "UPDATE terminals SET secret_hash = ?2, name = COALESCE(?3, name), enrolled_at = ?4
                 WHERE terminal_id = ?1",
            )?
            .execute(params![
                t.terminal_id,
                t.secret_hash.as_slice(),
                t.name,
                now.to_rfc3339()
            ])?;
        Ok(())
    }

    async fn newest_rules_version(&mut self) -> Result<Option<u32>, StoreError> {
        Ok(self
            .tx()
            .query_row("SELECT MAX(version) FROM rule_sets", [], |r| r.get(0))?)
    }

    async fn insert_rules(
        &mut self,
        rules: &RuleSet,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.tx().execute(
            "INSERT INTO rule_sets (version, name, rules, loaded_at) VALUES (?1, ?2, ?3, ?4)",
            params![rules.version, rules.name, to_json(rules)?, now.to_rfc3339()],
        )?;
        Ok(())
    }

    async fn birthday_members(
        &mut self,
        month: u32,
    ) -> Result<Vec<(String, Option<String>)>, StoreError> {
        let mut stmt = self.tx().prepare_cached(
            "SELECT member_id, home_store FROM members
             WHERE birthday IS NOT NULL AND substr(birthday, 6, 2) = ?1",
        )?;
        let rows = stmt.query_map([format!("{month:02}")], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    async fn grant_coupon(
        &mut self,
        coupon_id: &str,
        member_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let granted = self
            .tx()
            .prepare_cached(
                "INSERT OR IGNORE INTO coupon_grants (coupon_id, member_id, granted_at)
                 VALUES (?1, ?2, ?3)",
            )?
            .execute(params![coupon_id, member_id, now.to_rfc3339()])?;
        Ok(granted > 0)
    }

    async fn revoke(
        &mut self,
        code: &str,
        owner: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tx = self.tx();
        tx.prepare_cached("DELETE FROM member_codes WHERE code = ?1")?
            .execute([code])?;
        tx.prepare_cached(
            "INSERT OR IGNORE INTO revoked_codes (code, member_id, revoked_at)
             VALUES (?1, ?2, ?3)",
        )?
        .execute(params![code, owner, now.to_rfc3339()])?;
        Ok(())
    }

    async fn held_event(
        &mut self,
        terminal_id: &str,
        seq: u64,
    ) -> Result<Option<HeldView>, StoreError> {
        review::held_event(self.tx(), terminal_id, seq)
    }

    async fn decide_held(
        &mut self,
        terminal_id: &str,
        seq: u64,
        resolution: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        review::decide_held(self.tx(), terminal_id, seq, resolution, reason, now)
    }
}

pub(crate) fn all_rules(conn: &Connection) -> Result<BTreeMap<u32, Arc<RuleSet>>, StoreError> {
    let mut stmt = conn.prepare("SELECT version, rules FROM rule_sets")?;
    let rows: Vec<(u32, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|(v, text)| Ok((v, Arc::new(from_json::<RuleSet>("rule set", &text)?))))
        .collect()
}

pub(crate) fn conflicts(
    tx: &Transaction<'_>,
    after: i64,
    limit: u32,
) -> Result<Vec<ConflictView>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT id, terminal_id, seq, kind, event_id, first_payload, second_payload, detected_at
         FROM conflicts WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after, limit], |r| {
        Ok(ConflictView {
            id: r.get(0)?,
            terminal_id: r.get(1)?,
            seq: r.get::<_, i64>(2)?.unsigned_abs(),
            kind: r.get(3)?,
            event_id: r.get(4)?,
            first: json_or_text(r.get(5)?),
            second: json_or_text(r.get(6)?),
            detected_at: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
