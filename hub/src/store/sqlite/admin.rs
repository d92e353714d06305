//! Enrolment, terminals, rule sets and the admin operations in the SQLite store.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tenpo_loyalty::{Coupon, CouponBenefit, Date, MAX_YEN, MemberState, PointLot, RuleSet};
use tenpo_protocol::sync::MemberSnapshot;

use super::members;
use super::statements::SqliteUnit;
use super::{from_json, to_json};
use crate::admin::{
    ConflictView, CouponReport, CouponRequest, ImportReport, ImportRow, Revoked, RowRejection,
};
use crate::secrets;
use crate::store::outbox::{HomeStores, Planner};
use crate::store::unit::admin::{AdminStatements, CodeRow, NewTerminal};
use crate::store::unit::{self, members::Touched, plan};
use crate::store::{StoreError, Terminal};

/// Largest points balance an import accepts.
const MAX_IMPORT_POINTS: i64 = 1_000_000_000;

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

/// Why an import row is refused, before the database is asked.
fn check_row(row: &ImportRow) -> Result<(String, Option<Date>), String> {
    let code = tenpo_protocol::codes::check_card_code(&row.card_code).map_err(|e| e.to_string())?;
    if row.points < 0 {
        return Err(format!("negative points ({})", row.points));
    }
    if row.points > MAX_IMPORT_POINTS {
        return Err(format!("{} points is beyond any real balance", row.points));
    }
    if row.qualifying_spend_yen < 0 {
        return Err(format!(
            "negative qualifying spend ({})",
            row.qualifying_spend_yen
        ));
    }
    if row.qualifying_spend_yen > MAX_YEN {
        return Err("qualifying spend is beyond any real amount".into());
    }
    let birthday = match row.birthday.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(b) => Some(b.parse::<Date>().map_err(|e| format!("birthday: {e}"))?),
    };
    Ok((code.to_owned(), birthday))
}

pub(crate) fn import_members(
    tx: &Transaction<'_>,
    rules: &RuleSet,
    rows: Vec<ImportRow>,
    today: Date,
    now: DateTime<Utc>,
) -> Result<ImportReport, StoreError> {
    let now_text = now.to_rfc3339();
    let mut report = ImportReport::default();
    for row in rows {
        let reject = |reason: String| RowRejection {
            line: row.line,
            card_code: row.card_code.clone(),
            reason,
        };
        let (code, birthday) = match check_row(&row) {
            Ok(ok) => ok,
            Err(reason) => {
                report.rejected.push(reject(reason));
                continue;
            }
        };
        if members::is_revoked(tx, &code)? {
            report
                .rejected
                .push(reject("the card code is revoked".into()));
            continue;
        }
        if let Some(owner) = members::code_owner(tx, &code)? {
            report.rejected.push(reject(format!(
                "duplicate: the card already belongs to member {owner} (imported before, or \
                 earlier in this file)"
            )));
            continue;
        }
        let mut state = MemberState::default();
        if row.points > 0 {
            state.lots.push(PointLot {
                lot_id: format!("import-{code}"),
                earned_on: today,
                expires_on: rules.expiry_for(today),
                points: row.points,
            });
        }
        if row.qualifying_spend_yen > 0 {
            state.spend.insert(today, row.qualifying_spend_yen);
        }
        let member = MemberSnapshot {
            member_id: uuid::Uuid::now_v7().to_string(),
            number: code.clone(),
            codes: vec![code],
            provisional: false,
            state,
            applied_through: BTreeMap::new(),
            merged_ids: Vec::new(),
        };
        let birthday = birthday.map(|d| d.to_string());
        members::insert(tx, &member, birthday.as_deref(), &now_text)?;
        report.imported += 1;
    }
    Ok(report)
}

fn check_coupon(req: &CouponRequest) -> Result<(), StoreError> {
    let bad = |m: String| Err(StoreError::Invalid(m));
    let named = req.member_ids.is_empty() && req.card_codes.is_empty();
    match (named, req.birthday_month) {
        (true, None) => {
            return bad("name members (`card_codes` or `member_ids`) or a `birthday_month`".into());
        }
        (false, Some(_)) => {
            return bad("name members or a birthday month, not both".into());
        }
        (_, Some(m)) if !(1..=12).contains(&m) => {
            return bad(format!("birthday_month {m} is not a month (1 to 12)"));
        }
        _ => {}
    }
    if !(1..=3660).contains(&req.valid_days) {
        return bad("valid_days must be between 1 and 3660".into());
    }
    match req.benefit {
        CouponBenefit::Discount { value_yen } if !(1..=MAX_YEN).contains(&value_yen) => {
            bad("the discount must be at least ¥1".into())
        }
        CouponBenefit::PointsBonus { points } if !(1..=1_000_000).contains(&points) => {
            bad("bonus points must be between 1 and 1000000".into())
        }
        _ => Ok(()),
    }
}

pub(crate) fn issue_coupons(
    tx: &Transaction<'_>,
    req: CouponRequest,
    stores: &HomeStores,
    planner: Option<&dyn Planner>,
    today: Date,
    now: DateTime<Utc>,
) -> Result<CouponReport, StoreError> {
    check_coupon(&req)?;
    let coupon_id = match (&req.coupon_id, req.birthday_month) {
        (Some(id), _) => id.trim().to_owned(),
        // Coupons reach every terminal: the id must not say the members' birth month
        // (docs/design.md §7). Opaque, yet the same for the same month and year of this hub's
        // database, so running the month's issue twice gives nobody a second one.
        (None, Some(m)) => {
            let epoch: String = tx
                .prepare_cached("SELECT value FROM meta WHERE key = 'epoch'")?
                .query_row([], |r| r.get(0))?;
            let digest =
                secrets::sha256(format!("{epoch}/birthday/{}/{m}", today.year()).as_bytes());
            format!("coupon-{}", &hex::encode(digest)[..16])
        }
        (None, None) => format!(
            "coupon-{}-{}",
            today.to_string().replace('-', ""),
            hex::encode(secrets::random_bytes::<3>()?)
        ),
    };
    tenpo_protocol::agent::check_id("coupon_id", &coupon_id)
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    let mut unknown_members = Vec::new();
    let mut targets = BTreeSet::new();
    if let Some(month) = req.birthday_month {
        let mut stmt = tx.prepare_cached(
            "SELECT member_id, home_store FROM members
             WHERE birthday IS NOT NULL AND substr(birthday, 6, 2) = ?1",
        )?;
        let rows = stmt.query_map([format!("{month:02}")], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        })?;
        for row in rows {
            let (id, home) = row?;
            if stores.covers(home.as_deref()) {
                targets.insert(id);
            }
        }
    }
    for id in &req.member_ids {
        match members::resolve(tx, id)? {
            Some(real) => {
                targets.insert(real);
            }
            None => unknown_members.push(id.clone()),
        }
    }
    let mut unknown_cards = Vec::new();
    for code in &req.card_codes {
        match members::code_owner(tx, code.trim())? {
            Some(owner) => {
                targets.insert(owner);
            }
            None => unknown_cards.push(code.clone()),
        }
    }
    let valid_until = today.add_days(i64::from(req.valid_days) - 1);
    let coupon = Coupon {
        coupon_id: coupon_id.clone(),
        benefit: req.benefit,
        valid_from: today,
        valid_until,
    };
    let now_text = now.to_rfc3339();
    let mut touched = Touched::default();
    let mut db = SqliteUnit::new(tx);
    let (mut issued, mut already_issued) = (0, 0);
    for member_id in &targets {
        let granted = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO coupon_grants (coupon_id, member_id, granted_at)
                 VALUES (?1, ?2, ?3)",
            )?
            .execute(params![coupon_id, member_id, now_text])?;
        if granted == 0 {
            already_issued += 1;
            continue;
        }
        if let Some(m) = unit::finish(touched.get(&mut db, member_id))? {
            m.state.coupons.insert(coupon_id.clone(), coupon.clone());
            issued += 1;
            // A birthday coupon is announced to a member linked to LINE (docs/design.md §10).
            if let (Some(planner), Some(_)) = (planner, req.birthday_month) {
                unit::finish(plan::write(&mut db, m, now, |r| {
                    planner.birthday_coupon(r, &coupon)
                }))?;
            }
        }
    }
    unit::finish(touched.flush(&mut db, now))?;
    tracing::info!(coupon_id = %coupon_id, issued, already_issued, "coupons issued");
    Ok(CouponReport {
        coupon_id,
        valid_from: today,
        valid_until,
        issued,
        already_issued,
        unknown_members,
        unknown_cards,
    })
}

pub(crate) fn revoke_code(
    tx: &Transaction<'_>,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Revoked, StoreError> {
    let code = code.trim();
    // Revoked codes reach every terminal: printable ASCII only (no NUL, newline or direction
    // mark that would show one code as another).
    if code.is_empty() || code.len() > 128 || !code.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(StoreError::Invalid(
            "the code must be 1 to 128 printable characters without spaces".into(),
        ));
    }
    let now_text = now.to_rfc3339();
    let owner = members::code_owner(tx, code)?;
    tx.prepare_cached("DELETE FROM member_codes WHERE code = ?1")?
        .execute([code])?;
    tx.prepare_cached(
        "INSERT OR IGNORE INTO revoked_codes (code, member_id, revoked_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![code, owner, now_text])?;
    let mut touched = Touched::default();
    let mut db = SqliteUnit::new(tx);
    if let Some(owner) = &owner
        && let Some(m) = unit::finish(touched.get(&mut db, owner))?
    {
        m.codes.retain(|c| c != code);
    }
    unit::finish(touched.flush(&mut db, now))?;
    members::log_change(tx, "code_revoked", code)?;
    tracing::info!(member = ?owner, "card code revoked");
    Ok(Revoked {
        code: code.to_owned(),
        member_id: owner,
    })
}

pub(crate) fn json_or_text(text: String) -> serde_json::Value {
    serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
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
