//! Demo members for `tenpo-agent run --demo`, so a bare machine has someone to look up.
//!
//! Seeded into the member cache (as if the hub had sent them) only when the cache is empty;
//! never into the ledger or the outbox.

use std::collections::BTreeMap;

use tenpo_loyalty::{Coupon, CouponBenefit, Date, MemberState, PointLot, RuleSet, StampCard};

use crate::store::{MemberRow, Store, StoreError};

/// A demo member's card code and what the seed gives it.
#[derive(Debug)]
pub struct DemoMember {
    pub code: String,
    pub member_id: String,
    pub note: &'static str,
}

fn lot(rules: &RuleSet, id: &str, earned_on: Date, points: i64) -> PointLot {
    PointLot {
        lot_id: id.to_owned(),
        earned_on,
        expires_on: rules.expiry_for(earned_on),
        points,
    }
}

/// The 13-digit in-store JAN for a 12-digit body: the body and its check digit.
pub fn jan(body: &str) -> String {
    let digits: Vec<u8> = body.bytes().map(|b| b.wrapping_sub(b'0')).collect();
    format!("{body}{}", tenpo_hw::symbology::gtin_check_digit(&digits))
}

/// Seeds three members if the cache is empty; returns them either way.
pub fn seed(
    store: &Store,
    rules: &RuleSet,
    today: Date,
    now: &str,
) -> Result<Vec<DemoMember>, StoreError> {
    let code = jan;
    let standard = MemberState {
        lots: vec![
            lot(rules, "demo-import-1", today.add_months(-11), 400),
            lot(rules, "demo-import-2", today.add_months(-2), 850),
        ],
        stamps: StampCard {
            count: 7,
            last_stamp_on: Some(today.add_days(-3)),
            ..StampCard::default()
        },
        coupons: BTreeMap::new(),
        spend: BTreeMap::from([(today.add_months(-2), 38_500)]),
    };
    let welcome = Coupon {
        coupon_id: "demo-welcome-500".into(),
        benefit: CouponBenefit::Discount { value_yen: 500 },
        valid_from: today.add_days(-10),
        valid_until: today.add_months(3),
    };
    let premier = MemberState {
        lots: vec![lot(rules, "demo-import-3", today.add_months(-1), 4_800)],
        stamps: StampCard {
            count: 2,
            last_stamp_on: Some(today.add_days(-20)),
            ..StampCard::default()
        },
        coupons: BTreeMap::from([(welcome.coupon_id.clone(), welcome)]),
        spend: BTreeMap::from([(today.add_months(-1), 62_000)]),
    };
    let members = [
        (
            "demo-0001",
            code("200000000001"),
            standard,
            "standard tier, 1,250 points, 7 stamps, ¥11,500 from premier",
        ),
        (
            "demo-0002",
            code("200000000002"),
            premier,
            "premier tier, 4,800 points, a ¥500 coupon",
        ),
        (
            "demo-0003",
            code("200000000003"),
            MemberState::default(),
            "new member, nothing yet",
        ),
    ];
    store.write(|tx| {
        if tx.has_members()? {
            return Ok(());
        }
        for (id, code, state, _) in &members {
            let row = MemberRow {
                member_id: (*id).to_owned(),
                number: code.clone(),
                provisional: false,
                state: state.clone().into(),
            };
            tx.insert_member(&row, state, &[code.as_str()], now)?;
        }
        Ok::<(), StoreError>(())
    })?;
    Ok(members
        .into_iter()
        .map(|(id, code, _, note)| DemoMember {
            code,
            member_id: id.to_owned(),
            note,
        })
        .collect())
}
