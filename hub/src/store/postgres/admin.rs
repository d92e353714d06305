//! The admin operations' statements on PostgreSQL: enrolment, rule sets, coupons, revocation
//! and decisions on held outcomes (the decisions are `store::unit`).

use chrono::{DateTime, Utc};
use tenpo_loyalty::RuleSet;
use tokio_postgres::Row;

use super::transaction::{PgUnit, storable};
use crate::admin::HeldView;
use crate::store::unit::admin::{AdminStatements, CodeRow, NewTerminal};
use crate::store::{StoreError, json_or_text, to_json};

/// A held outcome's columns, as [`held_view`] reads them.
pub(super) const HELD_COLUMNS: &str = "id, terminal_id, seq, event_id, sale_id, member_id, \
     reason, till, hub, held_at, resolution, resolution_reason, resolved_at";

/// A row of [`HELD_COLUMNS`]; times as RFC 3339 text, as the SQLite store keeps them.
pub(super) fn held_view(r: &Row) -> Result<HeldView, StoreError> {
    Ok(HeldView {
        id: r.try_get(0)?,
        terminal_id: r.try_get(1)?,
        seq: r.try_get::<_, i64>(2)?.unsigned_abs(),
        event_id: r.try_get(3)?,
        sale_id: r.try_get(4)?,
        member_id: r.try_get(5)?,
        reason: r.try_get(6)?,
        till: json_or_text(r.try_get(7)?),
        hub: json_or_text(r.try_get(8)?),
        held_at: r.try_get::<_, DateTime<Utc>>(9)?.to_rfc3339(),
        resolution: r.try_get(10)?,
        resolution_reason: r.try_get(11)?,
        resolved_at: r
            .try_get::<_, Option<DateTime<Utc>>>(12)?
            .map(|t| t.to_rfc3339()),
    })
}

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

    async fn birthday_members(
        &mut self,
        month: u32,
    ) -> Result<Vec<(String, Option<String>)>, StoreError> {
        let Ok(month) = i32::try_from(month) else {
            return Ok(Vec::new());
        };
        let rows = self
            .query(
                "SELECT member_id, home_store FROM members
                 WHERE birthday IS NOT NULL AND extract(month FROM birthday) = $1::integer",
                &[&month],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    async fn grant_coupon(
        &mut self,
        coupon_id: &str,
        member_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // Another hub granting the same coupon at once: this one waits for it, then does
        // nothing.
        let granted = self
            .execute(
                "INSERT INTO coupon_grants (coupon_id, member_id, granted_at) VALUES ($1, $2, $3)
                 ON CONFLICT (coupon_id, member_id) DO NOTHING",
                &[&coupon_id, &member_id, &now],
            )
            .await?;
        Ok(granted == 1)
    }

    async fn revoke(
        &mut self,
        code: &str,
        owner: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.lock_code(code).await?;
        self.execute("DELETE FROM member_codes WHERE code = $1", &[&code])
            .await?;
        self.execute(
            "INSERT INTO revoked_codes (code, member_id, revoked_at) VALUES ($1, $2, $3)
             ON CONFLICT (code) DO NOTHING",
            &[&code, &owner, &now],
        )
        .await?;
        Ok(())
    }

    async fn held_event(
        &mut self,
        terminal_id: &str,
        seq: u64,
    ) -> Result<Option<HeldView>, StoreError> {
        let Ok(seq) = i64::try_from(seq) else {
            return Ok(None);
        };
        if !storable(terminal_id) {
            return Ok(None);
        }
        // Locked: two hubs asked to decide the same outcome at once decide it once.
        let row = self
            .query_opt(
                &format!(
                    "SELECT {HELD_COLUMNS} FROM held_events
                     WHERE terminal_id = $1 AND seq = $2 FOR UPDATE"
                ),
                &[&terminal_id, &seq],
            )
            .await?;
        row.as_ref().map(held_view).transpose()
    }

    async fn decide_held(
        &mut self,
        terminal_id: &str,
        seq: u64,
        resolution: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let seq = i64::try_from(seq).map_err(|_| {
            StoreError::NotFound(format!("terminal {terminal_id} has no seq {seq}"))
        })?;
        self.execute(
            "UPDATE held_events SET resolution = $3, resolution_reason = $4, resolved_at = $5
             WHERE terminal_id = $1 AND seq = $2",
            &[&terminal_id, &seq, &resolution, &reason, &now],
        )
        .await?;
        Ok(())
    }
}
