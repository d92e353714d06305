//! What staff change from the console (docs/design.md §13), for both backends: each change is
//! one transaction with its audit entry, and a change to a member reaches the terminals
//! through the feed as the member's new snapshot (and, for a replaced card, the old code's
//! revocation).

use chrono::{DateTime, Utc};
use serde_json::json;
use tenpo_loyalty::{Adjusted, Date, RuleSet};

use super::admin::AdminStatements;
use super::line::LineStatements;
use super::members::Touched;
use crate::admin::{CouponReport, CouponRequest, HeldAction, HeldView};
use crate::store::console::{Actor, LockOut};
use crate::store::outbox::{HomeStores, NewMessage, Planner};
use crate::store::{StoreError, to_json};

/// The statements the console's changes add to the admin and LINE ones.
pub(crate) trait ConsoleStatements: AdminStatements + LineStatements {
    /// Writes an audit entry.
    async fn record_action(
        &mut self,
        actor: &Actor,
        action: &str,
        member_id: Option<&str>,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Gives `member_id` the card code `code` (nobody has it), and makes it the member's number
    /// in the members' table when `as_number`.
    async fn add_code(
        &mut self,
        code: &str,
        member_id: &str,
        as_number: bool,
    ) -> Result<(), StoreError>;
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound(format!("no member has the id {id}"))
}

/// The member `member_id` names (itself, or the member a provisional id became), loaded into
/// a new set of members changed in this transaction.
async fn load(
    db: &mut impl ConsoleStatements,
    member_id: &str,
) -> Result<(String, Touched), StoreError> {
    let real = db
        .resolve(member_id)
        .await?
        .ok_or_else(|| not_found(member_id))?;
    let mut touched = Touched::default();
    if touched.get(db, &real).await?.is_none() {
        return Err(not_found(member_id));
    }
    Ok((real, touched))
}

/// Until when an account is locked after `failed` wrong passwords in a row, if it is.
pub(crate) fn locked_until(failed: u32, lock: LockOut, now: DateTime<Utc>) -> Option<i64> {
    (lock.after > 0 && failed >= lock.after).then(|| now.timestamp_millis() + lock.for_ms)
}

/// Adds or takes points as of `today` under `rules` (docs/design.md §13).
pub(crate) async fn adjust_points(
    db: &mut impl ConsoleStatements,
    rules: &RuleSet,
    member_id: &str,
    delta: i64,
    actor: &Actor,
    today: Date,
    now: DateTime<Utc>,
) -> Result<Adjusted, StoreError> {
    let (real, mut touched) = load(db, member_id).await?;
    let member = touched
        .get(db, &real)
        .await?
        .ok_or_else(|| not_found(member_id))?;
    let lot_id = format!("adjust-{}", uuid::Uuid::now_v7());
    let done = member
        .state
        .adjust_points(rules, delta, &lot_id, today)
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    touched.flush(db, now).await?;
    let detail = json!({
        "points": delta,
        "balance_before": done.balance_before,
        "balance_after": done.balance_after,
        "rules_version": rules.version,
        "business_date": today,
        "added": done.added,
        "taken": done.taken,
    });
    db.record_action(actor, "adjust_points", Some(&real), &to_json(&detail)?, now)
        .await?;
    tracing::info!(member = %real, points = delta, staff = %actor.staff, "points adjusted");
    Ok(done)
}

/// A lost card replaced: `new_code` becomes the member's, `old_code` is revoked.
pub(crate) async fn replace_card(
    db: &mut impl ConsoleStatements,
    member_id: &str,
    old_code: &str,
    new_code: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let old_code = old_code.trim();
    let new_code = tenpo_protocol::codes::check_card_code(new_code)
        .map_err(|e| StoreError::Invalid(format!("the new card: {e}")))?
        .to_owned();
    let (real, mut touched) = load(db, member_id).await?;
    let member = touched
        .get(db, &real)
        .await?
        .ok_or_else(|| not_found(member_id))?;
    if !member.codes.iter().any(|c| c == old_code) {
        return Err(StoreError::Invalid(format!(
            "the card {old_code} is not one of this member's cards"
        )));
    }
    if db.is_revoked(&new_code).await? {
        return Err(StoreError::Invalid(format!(
            "the card {new_code} was revoked before and cannot be used again: take another card"
        )));
    }
    if let Some(owner) = db.code_owner(&new_code).await? {
        let whose = if owner == real {
            "this member's already"
        } else {
            "another member's"
        };
        return Err(StoreError::Invalid(format!(
            "the card {new_code} is {whose}: take an unused card"
        )));
    }
    let as_number = member.number == old_code;
    db.add_code(&new_code, &real, as_number).await?;
    db.revoke(old_code, Some(&real), now).await?;
    if let Some(m) = touched.get(db, &real).await? {
        m.codes.retain(|c| c != old_code);
        m.codes.push(new_code.clone());
        if as_number {
            m.number = new_code.clone();
        }
    }
    touched.flush(db, now).await?;
    db.log_change("code_revoked", old_code).await?;
    let detail = json!({ "old_code": old_code, "new_code": new_code });
    db.record_action(actor, "replace_card", Some(&real), &to_json(&detail)?, now)
        .await?;
    tracing::info!(member = %real, staff = %actor.staff, "card replaced");
    Ok(())
}

/// The member's LINE account unlinked, as the member can do it themselves.
pub(crate) async fn unlink_member_line(
    db: &mut impl ConsoleStatements,
    member_id: &str,
    goodbye: Option<&NewMessage>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let real = db
        .resolve(member_id)
        .await?
        .ok_or_else(|| not_found(member_id))?;
    let Some(line_user) = db.line_user_of_member(&real).await? else {
        return Err(StoreError::NotFound(
            "this member has no LINE account linked".into(),
        ));
    };
    super::line::unlink(db, &line_user, goodbye, now).await?;
    db.record_action(actor, "unlink_line", Some(&real), "{}", now)
        .await?;
    tracing::info!(member = %real, staff = %actor.staff, "LINE account unlinked by staff");
    Ok(())
}

/// A coupon for one member.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn issue_member_coupon(
    db: &mut impl ConsoleStatements,
    member_id: &str,
    mut request: CouponRequest,
    planner: Option<&dyn Planner>,
    epoch: &str,
    actor: &Actor,
    today: Date,
    now: DateTime<Utc>,
) -> Result<CouponReport, StoreError> {
    let real = db
        .resolve(member_id)
        .await?
        .ok_or_else(|| not_found(member_id))?;
    request.member_ids = vec![real.clone()];
    request.card_codes = Vec::new();
    request.birthday_month = None;
    let report =
        super::coupons::issue_coupons(db, &request, &HomeStores::All, planner, epoch, today, now)
            .await?;
    if report.issued == 0 {
        return Err(StoreError::Invalid(format!(
            "the member already has coupon {}",
            report.coupon_id
        )));
    }
    let detail = json!({
        "coupon_id": report.coupon_id,
        "benefit": request.benefit,
        "valid_from": report.valid_from,
        "valid_until": report.valid_until,
    });
    db.record_action(actor, "issue_coupon", Some(&real), &to_json(&detail)?, now)
        .await?;
    Ok(report)
}

/// A held outcome released or dismissed by a person.
pub(crate) async fn resolve_held(
    db: &mut impl ConsoleStatements,
    rules: super::intake::RulesLookup<'_>,
    terminal_id: &str,
    seq: u64,
    action: HeldAction,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<HeldView, StoreError> {
    let view = super::review::resolve_held(db, rules, terminal_id, seq, action, &actor.reason, now)
        .await?;
    let name = match action {
        HeldAction::Release => "release_held",
        HeldAction::Dismiss => "dismiss_held",
    };
    let detail = json!({ "terminal_id": terminal_id, "seq": seq, "sale_id": view.sale_id });
    db.record_action(actor, name, Some(&view.member_id), &to_json(&detail)?, now)
        .await?;
    Ok(view)
}

/// A rule set loaded by a person.
pub(crate) async fn load_rules(
    db: &mut impl ConsoleStatements,
    rules: &RuleSet,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    super::admin::load_rules(db, rules, now).await?;
    let detail = json!({ "version": rules.version, "name": rules.name });
    db.record_action(actor, "load_rules", None, &to_json(&detail)?, now)
        .await
}

/// A place in a member's history: the time of an entry, then a key that orders entries of the
/// same time (an event's terminal and seq, or an audit entry's id). As text, `{at}~{key}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct HistoryCursor {
    pub at: String,
    pub key: String,
}

impl HistoryCursor {
    pub(crate) fn event(at: &str, terminal_id: &str, seq: u64) -> HistoryCursor {
        HistoryCursor {
            at: at.to_owned(),
            key: format!("e/{terminal_id}/{seq:020}"),
        }
    }

    pub(crate) fn action(at: &str, id: i64) -> HistoryCursor {
        HistoryCursor {
            at: at.to_owned(),
            key: format!("a/{id:020}"),
        }
    }

    /// A cursor a page handed out; anything else is refused.
    pub(crate) fn parse(text: &str) -> Result<HistoryCursor, StoreError> {
        let bad =
            || StoreError::Invalid("the history page's cursor is not one this hub made".into());
        let (at, key) = text.split_once('~').ok_or_else(bad)?;
        if DateTime::parse_from_rfc3339(at).is_err()
            || !(key.starts_with("e/") || key.starts_with("a/"))
        {
            return Err(bad());
        }
        Ok(HistoryCursor {
            at: at.to_owned(),
            key: key.to_owned(),
        })
    }

    pub(crate) fn text(&self) -> String {
        format!("{}~{}", self.at, self.key)
    }
}

/// The newest `limit` of the entries two sources gave (each asked for `limit + 1`), and the
/// cursor of the next page when there is more.
pub(crate) fn history_page(
    mut rows: Vec<(HistoryCursor, crate::store::console::HistoryEntry)>,
    limit: u32,
) -> crate::store::console::HistoryPage {
    rows.sort_by(|a, b| b.0.cmp(&a.0));
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let older = (rows.len() > limit)
        .then(|| rows.get(limit.saturating_sub(1)).map(|(c, _)| c.text()))
        .flatten();
    rows.truncate(limit);
    crate::store::console::HistoryPage {
        entries: rows.into_iter().map(|(_, e)| e).collect(),
        older,
    }
}
