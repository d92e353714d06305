//! Paper cards in and card codes out, for both backends: importing paper-card members
//! (docs/design.md §6) and revoking a card code.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tenpo_loyalty::{Date, MAX_YEN, MemberState, PointLot, RuleSet};
use tenpo_protocol::sync::MemberSnapshot;

use super::Statements;
use super::admin::AdminStatements;
use super::members::Touched;
use crate::admin::{ImportReport, ImportRow, Revoked, RowRejection};
use crate::store::StoreError;

/// Largest points balance an import accepts.
const MAX_IMPORT_POINTS: i64 = 1_000_000_000;

/// Why an import row is refused, before the database is asked; else its card code and
/// birthday.
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

/// Imports paper-card members: each good row a new member with its points (one lot, expiring
/// by `rules`) and qualifying spend on `today`; a refused row is reported and nothing of it
/// written.
pub(crate) async fn import_members(
    db: &mut impl Statements,
    rules: &RuleSet,
    rows: &[ImportRow],
    today: Date,
    now: DateTime<Utc>,
) -> Result<ImportReport, StoreError> {
    let mut report = ImportReport::default();
    for row in rows {
        let reject = |reason: String| RowRejection {
            line: row.line,
            card_code: row.card_code.clone(),
            reason,
        };
        let (code, birthday) = match check_row(row) {
            Ok(ok) => ok,
            Err(reason) => {
                report.rejected.push(reject(reason));
                continue;
            }
        };
        if db.is_revoked(&code).await? {
            report
                .rejected
                .push(reject("the card code is revoked".into()));
            continue;
        }
        if let Some(owner) = db.code_owner(&code).await? {
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
        db.insert_member(&member, birthday, now).await?;
        report.imported += 1;
    }
    Ok(report)
}

/// Revokes a card code: it names nobody any more (its member keeps everything else), it can
/// never be imported or used for a new card again, and terminals learn it from the feed.
pub(crate) async fn revoke_code(
    db: &mut impl AdminStatements,
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
    let owner = db.code_owner(code).await?;
    db.revoke(code, owner.as_deref(), now).await?;
    let mut touched = Touched::default();
    if let Some(owner) = &owner
        && let Some(m) = touched.get(db, owner).await?
    {
        m.codes.retain(|c| c != code);
    }
    touched.flush(db, now).await?;
    db.log_change("code_revoked", code).await?;
    tracing::info!(member = ?owner, "card code revoked");
    Ok(Revoked {
        code: code.to_owned(),
        member_id: owner,
    })
}
