//! Enrolment and rule sets on PostgreSQL (the decisions are `store::unit::admin`).

use chrono::{DateTime, Utc};
use tenpo_loyalty::RuleSet;

use super::statements::PgUnit;
use crate::store::unit::admin::{AdminStatements, CodeRow, NewTerminal};
use crate::store::{StoreError, to_json};

impl AdminStatements for PgUnit<'_> {
    async fn enrollment_code(&mut self, hash: &[u8; 32]) -> Result<Option<CodeRow>, StoreError> {
        // Locked: two hubs given the same code at once enrol one terminal.
        let row = self
            .query_opt(
                "SELECT store_id, expires_at, used_at IS NOT NULL, for_terminal
                 FROM enrollment_codes WHERE code_hash = $1 FOR UPDATE",
                &[&hash.as_slice()],
            )
            .await?;
        row.map(|r| {
            Ok(CodeRow {
                store_id: r.try_get(0)?,
                expires_at: r.try_get(1)?,
                used: r.try_get(2)?,
                for_terminal: r.try_get(3)?,
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
        self.execute(
            "INSERT INTO enrollment_codes (code_hash, store_id, created_at, expires_at,
                 for_terminal)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &hash.as_slice(),
                &store_id,
                &now,
                &expires_at,
                &for_terminal,
            ],
        )
        .await?;
        Ok(())
    }

    async fn use_code(
        &mut self,
        hash: &[u8; 32],
        terminal_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE enrollment_codes SET used_at = $2, terminal_id = $3 WHERE code_hash = $1",
            &[&hash.as_slice(), &now, &terminal_id],
        )
        .await?;
        Ok(())
    }

    async fn terminal_store(&mut self, terminal_id: &str) -> Result<Option<String>, StoreError> {
        let row = self
            .query_opt(
                "SELECT store_id FROM terminals WHERE terminal_id = $1",
                &[&terminal_id],
            )
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn insert_terminal(
        &mut self,
        t: NewTerminal<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO terminals (terminal_id, store_id, name, secret_hash, enrolled_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &t.terminal_id,
                &t.store_id,
                &t.name,
                &t.secret_hash.as_slice(),
                &now,
            ],
        )
        .await?;
        Ok(())
    }

    async fn renew_terminal(
        &mut self,
        t: NewTerminal<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE terminals SET secret_hash = $2, name = COALESCE($3, name), enrolled_at = $4
             WHERE terminal_id = $1",
            &[&t.terminal_id, &t.secret_hash.as_slice(), &t.name, &now],
        )
        .await?;
        Ok(())
    }

    async fn newest_rules_version(&mut self) -> Result<Option<u32>, StoreError> {
        // One loader at a time: versions land in order whichever hub loads them.
        self.execute("LOCK TABLE rule_sets IN SHARE ROW EXCLUSIVE MODE", &[])
            .await?;
        let row = self
            .query_one("SELECT MAX(version) FROM rule_sets", &[])
            .await?;
        let latest: Option<i32> = row.try_get(0)?;
        Ok(latest.map(i32::unsigned_abs))
    }

    async fn insert_rules(
        &mut self,
        rules: &RuleSet,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let version = i32::try_from(rules.version)
            .map_err(|_| StoreError::Invalid(format!("version {} is too large", rules.version)))?;
        self.execute(
            "INSERT INTO rule_sets (version, name, rules, loaded_at) VALUES ($1, $2, $3, $4)",
            &[&version, &rules.name, &to_json(rules)?, &now],
        )
        .await?;
        Ok(())
    }
}
