//! The admin API's half of the store (`AdminStore`) on both backends: imports, coupons and
//! revocation (docs/design.md §6, §12); then the same on two hubs at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::Utc;
use common::backends::*;
use tenpo_hub::admin::ImportRow;
use tenpo_hub::store::{AdminStore, HomeStores, StoreError, TillStore};
use tenpo_loyalty::{CouponBenefit, MemberState, RuleSet};
use tenpo_protocol::sync::{Change, MemberSnapshot, PushStatus};

crate::on_both_backends!(
    members_imported_with_each_refused_row_reported,
    coupons_reach_each_member_once,
    a_revoked_code_names_nobody_and_reaches_the_feed,
);

async fn members_imported_with_each_refused_row_reported<S: TillStore + AdminStore>(store: &S) {
    let today = common::date("2026-05-01");
    let now = Utc::now();
    // Before any rule set: nothing to give the points an expiry by.
    let e = store
        .import_members(
            vec![import_row(2, &common::card(1), 10, 0, None)],
            today,
            now,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NoRuleSet), "{e}");
    assert_eq!(store.counts().await.unwrap().members, 0);
    let rules = RuleSet::demo();
    store.load_rules(rules.clone(), now).await.unwrap();
    let revoked = store.revoke_code(common::card(9), now).await.unwrap();
    assert_eq!(revoked.member_id, None);
    let (_, before) = feed_after(store, None).await;

    let good = common::card(1);
    let mut bad_digit = common::card(2);
    bad_digit.pop();
    bad_digit.push(if common::card(2).ends_with('0') {
        '1'
    } else {
        '0'
    });
    let rows = vec![
        import_row(2, &good, 100, 20_000, Some("1990-05-17")),
        import_row(3, &bad_digit, 1, 0, None),
        import_row(4, &good, 5, 0, None),
        import_row(5, &common::card(3), -5, 0, None),
        import_row(6, &common::card(4), 0, -1, None),
        import_row(7, &common::card(5), 1_000_000_001, 0, None),
        import_row(8, &common::card(6), 0, 0, Some("1990-02-30")),
        import_row(9, &common::card(9), 10, 0, None),
        import_row(10, &common::card(7), 0, 0, None),
    ];
    let report = store.import_members(rows, today, now).await.unwrap();
    assert_eq!(report.imported, 2);
    let refused: Vec<(u64, &str)> = report
        .rejected
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    let expected = [
        (3, "check digit"),
        (4, "duplicate"),
        (5, "negative points (-5)"),
        (6, "negative qualifying spend (-1)"),
        (7, "1000000001 points is beyond any real balance"),
        (8, "birthday"),
        (9, "the card code is revoked"),
    ];
    assert_eq!(refused.len(), expected.len(), "{refused:?}");
    for ((line, reason), (want_line, want)) in refused.iter().zip(expected) {
        assert_eq!(*line, want_line, "{refused:?}");
        assert!(reason.contains(want), "line {line}: {reason}");
    }
    assert_eq!(report.rejected[0].card_code, bad_digit);

    // The members made: a lot expiring by the rules, the spend on the import date.
    let m = member(store, &good).await;
    assert_eq!(
        (m.number.as_str(), m.codes.as_slice()),
        (good.as_str(), [good.clone()].as_slice())
    );
    assert!(!m.provisional);
    assert_eq!(m.state.lots.len(), 1);
    let lot = &m.state.lots[0];
    assert_eq!(lot.lot_id, format!("import-{good}"));
    assert_eq!((lot.points, lot.earned_on), (100, today));
    assert_eq!(lot.expires_on, rules.expiry_for(today));
    assert_eq!(m.state.spend.get(&today), Some(&20_000));
    assert_eq!(m.state.spend.len(), 1);
    let zero = member(store, &common::card(7)).await;
    assert!(zero.state.lots.is_empty() && zero.state.spend.is_empty());
    // Nothing of a refused row was written.
    for n in [3, 4, 5, 6, 9] {
        assert!(
            store
                .member_by_code(common::card(n))
                .await
                .unwrap()
                .is_none(),
            "card {n}"
        );
    }
    assert_eq!(store.counts().await.unwrap().members, 2);
    let (changes, _) = feed_after(store, Some(before)).await;
    let mut numbers: Vec<String> = changes
        .iter()
        .map(|c| match c {
            Change::Member { member } => member.number.clone(),
            other => panic!("only the new members: {other:?}"),
        })
        .collect();
    numbers.sort();
    assert_eq!(numbers, [good.clone(), common::card(7)]);

    // A later file naming the card again: refused, naming the member who has it.
    let again = store
        .import_members(vec![import_row(2, &good, 1, 0, None)], today, now)
        .await
        .unwrap();
    assert_eq!(again.imported, 0);
    assert!(
        again.rejected[0].reason.contains(&m.member_id),
        "{:?}",
        again.rejected
    );
    assert_eq!(balance(&member(store, &good).await), 100);
}

async fn coupons_reach_each_member_once<S: TillStore + AdminStore>(store: &S) {
    let today = common::date("2026-05-01");
    let now = Utc::now();
    let rules = RuleSet::demo();
    store.load_rules(rules.clone(), now).await.unwrap();
    let (home, away, unknown, june, plain) = (
        common::card(11),
        common::card(12),
        common::card(13),
        common::card(14),
        common::card(15),
    );
    let ids = imported(
        store,
        &[
            (&home, 0, Some("1990-05-17")),
            (&away, 0, Some("1985-05-02")),
            (&unknown, 0, Some("2000-05-31")),
            (&june, 0, Some("1990-06-01")),
            (&plain, 0, None),
        ],
    )
    .await;
    // Their home stores: the first store that sent a sale of theirs (none for `unknown`).
    for (store_id, member_id, sale_id) in [("waikiki", &ids[0], "s-w"), ("shibuya", &ids[1], "s-s")]
    {
        let (till, terminal) = till(store, store_id).await;
        let state = MemberState::default();
        let (e, _) = common::sale(&till, 1, Some(member_id), &rules, &state, sale_id, 500, 0);
        assert_eq!(
            statuses(&push(store, &terminal, &[&e]).await),
            [PushStatus::Stored]
        );
    }
    let coupons = |m: &MemberSnapshot| m.state.coupons.keys().cloned().collect::<Vec<_>>();

    // May's birthdays whose home store is Waikiki's time zone, then the rest of May.
    let mut may = coupon_request(CouponBenefit::Discount { value_yen: 500 }, 31);
    may.birthday_month = Some(5);
    let only = HomeStores::Only(vec!["waikiki".into()]);
    let first = store
        .issue_coupons(may.clone(), only, today, now)
        .await
        .unwrap();
    let id = first.coupon_id.clone();
    let opaque = id
        .strip_prefix("coupon-")
        .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(opaque, "{id}");
    assert_eq!((first.issued, first.already_issued), (1, 0));
    assert_eq!(
        (first.valid_from, first.valid_until),
        (today, common::date("2026-05-31"))
    );
    let got = member(store, &home).await;
    assert_eq!(coupons(&got), std::slice::from_ref(&id));
    let coupon = &got.state.coupons[&id];
    assert_eq!(coupon.benefit, CouponBenefit::Discount { value_yen: 500 });
    assert_eq!(
        (coupon.valid_from, coupon.valid_until),
        (today, common::date("2026-05-31"))
    );
    assert!(coupons(&member(store, &away).await).is_empty());

    let except = HomeStores::Except(vec!["waikiki".into()]);
    let rest = store
        .issue_coupons(may.clone(), except, today, now)
        .await
        .unwrap();
    assert_eq!(
        rest.coupon_id, id,
        "the same month and year: the same coupon"
    );
    assert_eq!((rest.issued, rest.already_issued), (2, 0));
    for code in [&away, &unknown] {
        assert_eq!(
            coupons(&member(store, code).await),
            std::slice::from_ref(&id),
            "{code}"
        );
    }
    // Everyone's month again: nobody gets a second one.
    let all = store
        .issue_coupons(may, HomeStores::All, today, now)
        .await
        .unwrap();
    assert_eq!((all.issued, all.already_issued), (0, 3));
    for code in [&june, &plain] {
        assert!(coupons(&member(store, code).await).is_empty(), "{code}");
    }

    // Named members, by id or by card as staff have it; unknown ones are reported.
    let mut named = coupon_request(CouponBenefit::PointsBonus { points: 50 }, 10);
    named.coupon_id = Some("welcome".into());
    named.member_ids = vec![ids[4].clone(), "nobody".into()];
    named.card_codes = vec![format!(" {june} "), common::card(99)];
    let report = store
        .issue_coupons(named.clone(), HomeStores::All, today, now)
        .await
        .unwrap();
    assert_eq!(report.coupon_id, "welcome");
    assert_eq!((report.issued, report.already_issued), (2, 0));
    assert_eq!(report.unknown_members, ["nobody"]);
    assert_eq!(report.unknown_cards, [common::card(99)]);
    assert_eq!(report.valid_until, common::date("2026-05-10"));
    let welcomed = member(store, &plain).await;
    assert_eq!(
        welcomed.state.coupons["welcome"].benefit,
        CouponBenefit::PointsBonus { points: 50 }
    );
    assert_eq!(coupons(&member(store, &june).await), ["welcome"]);
    let again = store
        .issue_coupons(named, HomeStores::All, today, now)
        .await
        .unwrap();
    assert_eq!((again.issued, again.already_issued), (0, 2));

    // Requests that cannot be right: refused, and nobody gets anything.
    let (_, cursor) = feed_after(store, None).await;
    let mut bad = Vec::new();
    bad.push(coupon_request(
        CouponBenefit::Discount { value_yen: 100 },
        7,
    ));
    let mut both = coupon_request(CouponBenefit::Discount { value_yen: 100 }, 7);
    both.member_ids = vec![ids[4].clone()];
    both.birthday_month = Some(5);
    bad.push(both);
    let mut month = coupon_request(CouponBenefit::Discount { value_yen: 100 }, 7);
    month.birthday_month = Some(13);
    bad.push(month);
    let named = |benefit, days, id: Option<&str>| {
        let mut r = coupon_request(benefit, days);
        r.member_ids = vec![ids[4].clone()];
        r.coupon_id = id.map(str::to_owned);
        r
    };
    bad.push(named(CouponBenefit::Discount { value_yen: 100 }, 0, None));
    bad.push(named(
        CouponBenefit::Discount { value_yen: 100 },
        3661,
        None,
    ));
    bad.push(named(CouponBenefit::Discount { value_yen: 0 }, 7, None));
    bad.push(named(CouponBenefit::Discount { value_yen: -500 }, 7, None));
    bad.push(named(
        CouponBenefit::PointsBonus { points: 1_000_001 },
        7,
        None,
    ));
    bad.push(named(
        CouponBenefit::PointsBonus { points: 10 },
        7,
        Some("two words"),
    ));
    for request in bad {
        let e = store
            .issue_coupons(request.clone(), HomeStores::All, today, now)
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Invalid(_)), "{request:?}: {e}");
    }
    let (changes, _) = feed_after(store, Some(cursor)).await;
    assert!(changes.is_empty(), "{changes:?}");
    assert_eq!(coupons(&member(store, &plain).await), ["welcome"]);
}

async fn a_revoked_code_names_nobody_and_reaches_the_feed<S: TillStore + AdminStore>(store: &S) {
    let now = Utc::now();
    store.load_rules(RuleSet::demo(), now).await.unwrap();
    let (gone, kept) = (common::card(21), common::card(22));
    let ids = imported(store, &[(&gone, 300, None), (&kept, 50, None)]).await;
    let (_, cursor) = feed_after(store, None).await;

    let revoked = store.revoke_code(format!(" {gone} "), now).await.unwrap();
    assert_eq!(revoked.code, gone);
    assert_eq!(revoked.member_id.as_deref(), Some(ids[0].as_str()));
    assert!(store.member_by_code(gone.clone()).await.unwrap().is_none());
    // The member keeps their points; the other member keeps their card.
    let (changes, cursor) = feed_after(store, Some(cursor)).await;
    assert_eq!(changes.len(), 2, "{changes:?}");
    let Change::Member { member: was } = &changes[0] else {
        panic!("{changes:?}");
    };
    assert_eq!(was.member_id, ids[0]);
    assert!(was.codes.is_empty());
    assert_eq!(balance(was), 300);
    assert_eq!(changes[1], Change::CodeRevoked { code: gone.clone() });
    let other = member(store, &kept).await;
    assert_eq!(
        (other.member_id.as_str(), other.codes.as_slice()),
        (ids[1].as_str(), [kept.clone()].as_slice())
    );
    assert_eq!(balance(&other), 50);

    // The code is never a member again: not by import, not by a till's new card.
    let report = store
        .import_members(
            vec![import_row(2, &gone, 1, 0, None)],
            common::date("2026-05-01"),
            now,
        )
        .await
        .unwrap();
    assert_eq!(report.imported, 0);
    assert!(
        report.rejected[0].reason.contains("revoked"),
        "{:?}",
        report.rejected
    );
    let (till, terminal) = till(store, "shibuya").await;
    let made = common::provisional(&till, 1, "p-gone", &gone);
    let outcome = push(store, &terminal, &[&made]).await;
    assert_eq!(statuses(&outcome), [PushStatus::Rejected]);
    assert_eq!(store.counts().await.unwrap().members, 2);

    // Revoked again: nobody to name now; a code nobody had is revoked all the same.
    let twice = store.revoke_code(gone.clone(), now).await.unwrap();
    assert_eq!(twice.member_id, None);
    let never = store
        .revoke_code("4901234567894".into(), now)
        .await
        .unwrap();
    assert_eq!(never.member_id, None);
    let (changes, cursor) = feed_after(store, Some(cursor)).await;
    let revoked_codes: Vec<String> = changes
        .iter()
        .map(|c| match c {
            Change::CodeRevoked { code } => code.clone(),
            other => panic!("only revocations: {other:?}"),
        })
        .collect();
    assert_eq!(revoked_codes, [gone.clone(), "4901234567894".to_owned()]);

    // Not a code: refused, and nothing changes.
    for bad in [
        "",
        "   ",
        "two words",
        "\u{200f}2100000000229",
        &"9".repeat(129),
    ] {
        let e = store.revoke_code(bad.into(), now).await.unwrap_err();
        assert!(matches!(e, StoreError::Invalid(_)), "{bad:?}: {e}");
    }
    let (changes, _) = feed_after(store, Some(cursor)).await;
    assert!(changes.is_empty(), "{changes:?}");
    assert_eq!(
        member(store, &kept).await.codes,
        std::slice::from_ref(&kept)
    );
}

// ---- Several hub processes on one PostgreSQL database --------------------------------------

#[tokio::test]
async fn one_coupon_issued_at_two_hubs_at_once_is_given_once() {
    let (a, b) = two_hubs().await;
    a.load_rules(RuleSet::demo(), Utc::now()).await.unwrap();
    let codes: Vec<String> = (1..=20).map(common::card).collect();
    let rows: Vec<(&str, i64, Option<&str>)> = codes
        .iter()
        .map(|c| (c.as_str(), 0, Some("1990-05-17")))
        .collect();
    imported(&a, &rows).await;
    let mut may = coupon_request(CouponBenefit::Discount { value_yen: 500 }, 31);
    may.birthday_month = Some(5);
    let today = common::date("2026-05-01");
    let (one, two) = tokio::join!(
        a.issue_coupons(may.clone(), HomeStores::All, today, Utc::now()),
        b.issue_coupons(may.clone(), HomeStores::All, today, Utc::now()),
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(one.coupon_id, two.coupon_id);
    assert_eq!(one.issued + two.issued, 20, "{one:?} {two:?}");
    assert_eq!(one.already_issued + two.already_issued, 20);
    for code in &codes {
        let m = member(&b, code).await;
        assert_eq!(m.state.coupons.len(), 1, "{code}");
    }
}

#[tokio::test]
async fn one_file_imported_at_two_hubs_at_once_makes_each_member_once() {
    let (a, b) = two_hubs().await;
    a.load_rules(RuleSet::demo(), Utc::now()).await.unwrap();
    let rows: Vec<ImportRow> = (1..=20)
        .map(|n| import_row(n + 1, &common::card(n), 10, 0, None))
        .collect();
    let today = common::date("2026-05-01");
    let (one, two) = tokio::join!(
        a.import_members(rows.clone(), today, Utc::now()),
        b.import_members(rows.clone(), today, Utc::now()),
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(one.imported + two.imported, 20, "{one:?} {two:?}");
    assert_eq!(one.rejected.len() + two.rejected.len(), 20);
    assert_eq!(a.counts().await.unwrap().members, 20);
    assert_eq!(balance(&member(&b, &common::card(7)).await), 10);
}
