//! Giving a coupon to members, named or by birthday month, once per member per coupon id
//! (docs/design.md §7, §10), for both backends.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use tenpo_loyalty::{Coupon, CouponBenefit, Date, MAX_YEN};

use super::admin::AdminStatements;
use super::members::Touched;
use super::plan;
use crate::admin::{CouponReport, CouponRequest};
use crate::secrets;
use crate::store::StoreError;
use crate::store::outbox::{HomeStores, Planner};

/// What the coupon's request may not ask.
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

/// The coupon's id: the one asked for, or one made here.
fn coupon_id(req: &CouponRequest, epoch: &str, today: Date) -> Result<String, StoreError> {
    let id = match (&req.coupon_id, req.birthday_month) {
        (Some(id), _) => id.trim().to_owned(),
        // Coupons reach every terminal: the id must not say the members' birth month
        // (docs/design.md §7). Opaque, yet the same for the same month and year of this hub's
        // database, so running the month's issue twice gives nobody a second one.
        (None, Some(m)) => {
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
    tenpo_protocol::agent::check_id("coupon_id", &id)
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    Ok(id)
}

/// Gives the coupon to the members the request names (or whose birthday is in its month and
/// whose home store is one of `stores`), once per member; a member linked to LINE is told of a
/// birthday coupon by `planner`'s message. `epoch` is the database's (the feed's).
pub(crate) async fn issue_coupons(
    db: &mut impl AdminStatements,
    req: &CouponRequest,
    stores: &HomeStores,
    planner: Option<&dyn Planner>,
    epoch: &str,
    today: Date,
    now: DateTime<Utc>,
) -> Result<CouponReport, StoreError> {
    check_coupon(req)?;
    let coupon_id = coupon_id(req, epoch, today)?;
    let mut targets = BTreeSet::new();
    if let Some(month) = req.birthday_month {
        for (id, home) in db.birthday_members(month).await? {
            if stores.covers(home.as_deref()) {
                targets.insert(id);
            }
        }
    }
    let mut unknown_members = Vec::new();
    for id in &req.member_ids {
        match db.resolve(id).await? {
            Some(real) => {
                targets.insert(real);
            }
            None => unknown_members.push(id.clone()),
        }
    }
    let mut unknown_cards = Vec::new();
    for code in &req.card_codes {
        match db.code_owner(code.trim()).await? {
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
    let mut touched = Touched::default();
    let (mut issued, mut already_issued) = (0, 0);
    // In member id order: two hubs giving coupons to the same members lock them in one order.
    for member_id in &targets {
        if !db.grant_coupon(&coupon_id, member_id, now).await? {
            already_issued += 1;
            continue;
        }
        if let Some(m) = touched.get(db, member_id).await? {
            m.state.coupons.insert(coupon_id.clone(), coupon.clone());
            issued += 1;
            // A birthday coupon is announced to a member linked to LINE (docs/design.md §10).
            if let (Some(planner), Some(_)) = (planner, req.birthday_month) {
                plan::write(db, m, now, |r| planner.birthday_coupon(r, &coupon)).await?;
            }
        }
    }
    touched.flush(db, now).await?;
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
