//! The hub under a hostile or broken terminal: absurd dates and impossible numbers are refused
//! per event (never panicking the hub or stopping other stores' writes), an outcome that mints
//! value is held for a person, discrepancies are classified, seq values past what is stored
//! are refused, and events are judged on the bytes that arrived.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{card, date, event, import, item, provisional, statuses};
use reqwest::StatusCode;
use serde_json::json;
use tenpo_loyalty::{MemberState, Sale, evaluate_sale};
use tenpo_protocol::events::{EventBody, SaleEvent, content_hash_of};

/// A member sale of `amount` on `day`, evaluated on an empty state, as a till records it.
fn member_sale(
    till: &common::Till,
    seq: u64,
    member_id: &str,
    sale_id: &str,
    day: &str,
    amount: i64,
) -> (tenpo_protocol::events::Event, tenpo_loyalty::SaleOutcome) {
    let rules = tenpo_loyalty::RuleSet::demo();
    let outcome = evaluate_sale(
        &rules,
        &MemberState::default(),
        &Sale {
            sale_id: sale_id.into(),
            store_id: till.store_id.clone(),
            business_date: date(day),
            lines: common::lines(amount),
            redeem_points: 0,
            coupon_ids: vec![],
        },
    )
    .unwrap();
    let e = event(
        till,
        seq,
        EventBody::Sale(SaleEvent {
            sale_id: sale_id.into(),
            member_id: Some(member_id.into()),
            occurred_at: format!("{day}T03:00:00+00:00"),
            business_date: date(day),
            lines: common::lines(amount),
            redeem_points: 0,
            coupon_ids: vec![],
            outcome: Some(outcome.clone()),
        }),
    );
    (e, outcome)
}

#[tokio::test]
async fn a_sale_dated_year_one_is_refused_alone_and_the_hub_keeps_writing() {
    // The finding: one terminal's sale with business date 0001-01-01 panicked the hub, and
    // every write for every store answered 500 until a restart, while health said ok.
    let hub = common::start().await;
    hub.load_demo_rules().await;
    let till = hub.enroll("s1").await;
    let other = hub.enroll("s2").await;
    let p = provisional(&till, 1, "m-1", &card(1));
    let (mut bad, _) = member_sale(&till, 2, "m-1", "s-old", "2026-11-20", 1_000);
    // Recorded now, dated year 1: no till records that.
    bad.recorded_at = chrono::Utc::now().to_rfc3339();
    if let EventBody::Sale(SaleEvent {
        business_date,
        outcome: Some(o),
        ..
    }) = &mut bad.body
    {
        *business_date = tenpo_loyalty::Date::MIN;
        o.business_date = tenpo_loyalty::Date::MIN;
    }
    // And one from the future.
    let (mut future, _) = member_sale(&till, 3, "m-1", "s-future", "2026-11-20", 1_000);
    future.recorded_at = "2999-01-01T00:00:00+00:00".into();
    let body = hub.push(&till, &[p, bad, future]).await;
    assert_eq!(
        statuses(&body),
        ["stored", "rejected", "rejected"],
        "{body}"
    );
    assert!(
        body["results"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("days before"),
        "{body}"
    );
    assert!(
        body["results"][2]["reason"]
            .as_str()
            .unwrap()
            .contains("future"),
        "{body}"
    );
    assert_eq!(
        body["acked_through"], 3,
        "refused events never block the queue"
    );
    // Everything else still works: another store's push, health, this till's next sale.
    let body = hub
        .push(&other, &[provisional(&other, 1, "m-9", &card(9))])
        .await;
    assert_eq!(statuses(&body), ["stored"]);
    let (next, _) = member_sale(&till, 4, "m-1", "s-ok", "2026-11-20", 1_000);
    assert_eq!(statuses(&hub.push(&till, &[next]).await), ["stored"]);
    let r = hub.http.get(hub.url("/v1/health")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(hub.state(&card(1)).await.balance(date("2026-11-20")), 10);
}

#[tokio::test]
async fn an_outcome_with_impossible_numbers_is_rejected() {
    let hub = common::start().await;
    hub.load_demo_rules().await;
    let till = hub.enroll("s1").await;
    let p = provisional(&till, 1, "m-1", &card(1));
    let (mut e, _) = member_sale(&till, 2, "m-1", "s-neg", "2026-11-20", 1_000);
    if let EventBody::Sale(SaleEvent {
        outcome: Some(o), ..
    }) = &mut e.body
    {
        o.earned_points = -50;
    }
    let body = hub.push(&till, &[p, e]).await;
    assert_eq!(statuses(&body), ["stored", "rejected"], "{body}");
    assert_eq!(hub.state(&card(1)).await, MemberState::default());
}

#[tokio::test]
async fn an_outcome_that_mints_points_is_held_for_review_not_applied() {
    // The finding: one terminal pushed `earned_points: 1000000` for another store's member;
    // it was applied and only a discrepancy row recorded.
    let hub = common::start().await;
    hub.load_demo_rules().await;
    let code = card(5);
    import(&hub, &[(&code, 300, 0, None)]).await;
    let (_, found) = hub.lookup(&hub.enroll("s0").await, &code).await;
    let member_id = found["member_id"].as_str().unwrap().to_owned();
    let till = hub.enroll("s1").await;

    let (mut minted, _) = member_sale(&till, 1, &member_id, "s-mint", "2026-11-20", 1_000);
    if let EventBody::Sale(SaleEvent {
        outcome: Some(o), ..
    }) = &mut minted.body
    {
        o.earned_points = 1_000_000;
        if let Some(lot) = &mut o.earned_lot {
            lot.points = 1_000_000;
        }
    }
    // An honest sale: the hub computes the same (the minted one was not applied).
    let (honest, _) = member_sale(&till, 2, &member_id, "s-honest", "2026-11-20", 1_500);
    let body = hub.push(&till, &[minted, honest]).await;
    assert_eq!(statuses(&body), ["stored", "stored"], "{body}");
    assert_eq!(body["acked_through"], 2);
    // An honest difference: another till, offline, also gave the day's stamp. Applied, and
    // classified as the expected kind.
    let other = hub.enroll("s2").await;
    let (second_stamp, _) = member_sale(&other, 1, &member_id, "s-stamp", "2026-11-20", 1_200);
    assert_eq!(
        statuses(&hub.push(&other, &[second_stamp]).await),
        ["stored"]
    );
    let day = date("2026-11-20");
    // 300 imported + 15 + 12 for the honest sales; the minted million is not there.
    assert_eq!(hub.state(&code).await.balance(day), 327);

    let admin = hub.admin();
    let held = admin.held(0, 100, true).await.unwrap();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].sale_id, "s-mint");
    assert!(held[0].reason.contains("points more"), "{}", held[0].reason);
    let all = admin.discrepancies(0, 100).await.unwrap();
    let class = |sale: &str| {
        all.iter()
            .find(|d| d.sale_id == sale)
            .map(|d| d.class.clone())
    };
    assert_eq!(class("s-mint").as_deref(), Some("amount"));
    assert_eq!(class("s-honest"), None);
    assert_eq!(class("s-stamp").as_deref(), Some("stamps"));
    let stamps_only = admin
        .discrepancies_of_class(0, 100, "stamps")
        .await
        .unwrap();
    assert_eq!(stamps_only.len(), 1);

    // A person decides: dismissed, nothing applied; deciding again is refused.
    let decided = admin
        .resolve_held(
            &till.terminal_id,
            1,
            &tenpo_hub::admin::ResolveHeldRequest {
                action: tenpo_hub::admin::HeldAction::Dismiss,
                reason: "till tampered with; IT informed".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(decided.resolution.as_deref(), Some("dismissed"));
    assert!(
        admin
            .resolve_held(
                &till.terminal_id,
                1,
                &tenpo_hub::admin::ResolveHeldRequest {
                    action: tenpo_hub::admin::HeldAction::Release,
                    reason: "changed my mind".into(),
                },
            )
            .await
            .is_err()
    );
    assert_eq!(hub.state(&code).await.balance(day), 327);
    assert!(admin.held(0, 100, true).await.unwrap().is_empty());
    assert_eq!(admin.held(0, 100, false).await.unwrap().len(), 1);
    // The audit path: did each sale arrive, and what was applied.
    let minted = admin
        .terminal_sale(&till.terminal_id, "s-mint")
        .await
        .unwrap();
    assert_eq!(minted.events.len(), 1);
    let e = &minted.events[0];
    assert_eq!((e.status.as_str(), e.applied), ("stored", false), "{e:?}");
    assert_eq!(e.held.as_deref(), Some("dismissed"));
    assert_eq!(e.discrepancies, ["amount"]);
    let honest = admin
        .terminal_sale(&till.terminal_id, "s-honest")
        .await
        .unwrap();
    assert!(honest.events[0].applied && honest.events[0].held.is_none());
    let all = admin
        .terminal_events(&till.terminal_id, 0, 100)
        .await
        .unwrap();
    assert_eq!((all.acked_through, all.events.len()), (2, 2));
    assert!(
        admin
            .terminal_sale(&till.terminal_id, "never-sent")
            .await
            .is_err()
    );
    // A reason is required.
    let r = hub
        .http
        .post(hub.url(&format!("/v1/admin/held/{}/2", till.terminal_id)))
        .bearer_auth(common::ADMIN_TOKEN)
        .json(&json!({"action": "release", "reason": " "}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
}

#[tokio::test]
async fn a_released_outcome_is_applied_and_sent_to_the_terminals() {
    let hub = common::start().await;
    hub.load_demo_rules().await;
    let till = hub.enroll("s1").await;
    let p = provisional(&till, 1, "m-1", &card(1));
    let (mut big, _) = member_sale(&till, 2, "m-1", "s-big", "2026-11-20", 1_000);
    if let EventBody::Sale(SaleEvent {
        outcome: Some(o), ..
    }) = &mut big.body
    {
        o.earned_points = 5_000;
        if let Some(lot) = &mut o.earned_lot {
            lot.points = 5_000;
        }
    }
    hub.push(&till, &[p, big]).await;
    let day = date("2026-11-20");
    assert_eq!(hub.state(&card(1)).await.balance(day), 0);
    let (_, cursor) = hub.drain(&till, "").await;
    hub.admin()
        .resolve_held(
            &till.terminal_id,
            2,
            &tenpo_hub::admin::ResolveHeldRequest {
                action: tenpo_hub::admin::HeldAction::Release,
                reason: "campaign the hub did not know; confirmed with the store".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(hub.state(&card(1)).await.balance(day), 5_000);
    let (changes, _) = hub.drain(&till, &cursor).await;
    assert!(
        changes.iter().any(|c| c["kind"] == "member"),
        "the release reaches the terminals: {changes:?}"
    );
}

#[tokio::test]
async fn a_seq_beyond_what_the_hub_stores_is_refused_whole() {
    // The finding: seq values above i64::MAX were stored negative.
    let hub = common::start().await;
    let till = hub.enroll("s1").await;
    let mut e = provisional(&till, 1, "m-1", &card(1));
    e.seq = u64::MAX;
    let (status, body) = hub.push_items(&till, json!([item(&e)])).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let body = hub.push(&till, &[]).await;
    assert_eq!(body["acked_through"], 0);
}

#[tokio::test]
async fn events_are_judged_on_the_bytes_that_arrived() {
    let hub = common::start().await;
    let till = hub.enroll("s1").await;
    let e = provisional(&till, 1, "m-1", &card(1));
    // The same event written with other spacing and key order, hashed as sent: stored once.
    let mut value = serde_json::to_value(&e).unwrap();
    value["an_unknown_field_from_a_newer_agent"] = json!(true);
    let bytes = serde_json::to_string_pretty(&value).unwrap();
    let push = |bytes: &str| {
        format!(
            r#"{{"events":[{{"event":{bytes},"content_hash":"{}"}}]}}"#,
            content_hash_of(bytes.as_bytes())
        )
    };
    let (status, body) = hub.push_body(&till, push(&bytes)).await;
    assert_eq!(
        (status, statuses(&body)),
        (StatusCode::OK, vec!["stored".into()]),
        "{body}"
    );
    // The same bytes again: a duplicate, not a conflict.
    let (_, body) = hub.push_body(&till, push(&bytes)).await;
    assert_eq!(statuses(&body), ["duplicate"]);
    // Other bytes under the same seq: a conflict.
    let (_, body) = hub
        .push_body(&till, push(&serde_json::to_string(&e).unwrap()))
        .await;
    assert_eq!(statuses(&body), ["conflict"]);
}

#[tokio::test]
async fn health_says_ok_only_while_the_hub_could_write() {
    let hub = common::start().await;
    let url = hub.url("/v1/health");
    assert_eq!(hub.http.get(&url).send().await.unwrap().status(), 200);
    // Another process holds the database's write lock: no push could be stored, so health
    // must not say ok (the hub waits its busy timeout first).
    let other = rusqlite::Connection::open(hub.dir.path().join("hub.db")).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let r = hub.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot write"),
        "{body}"
    );
    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(hub.http.get(&url).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn back_dated_sales_from_a_till_agree_with_the_hub_whatever_the_order() {
    // A POS flushing its own queue: 11-30 (stamp), 12-01 (stamp), 11-30 again (no stamp). The
    // hub re-evaluates each in the till's order and finds what the till found.
    let hub = common::start().await;
    let rules = hub.load_demo_rules().await;
    let till = hub.enroll("s1").await;
    let p = provisional(&till, 1, "m-1", &card(1));
    let mut state = MemberState::default();
    let mut events = vec![p];
    for (n, (id, day)) in [
        ("a", "2026-11-30"),
        ("b", "2026-12-01"),
        ("c", "2026-11-30"),
    ]
    .into_iter()
    .enumerate()
    {
        let o = evaluate_sale(
            &rules,
            &state,
            &Sale {
                sale_id: id.into(),
                store_id: till.store_id.clone(),
                business_date: date(day),
                lines: common::lines(1_500),
                redeem_points: 0,
                coupon_ids: vec![],
            },
        )
        .unwrap();
        state.apply_sale(&o);
        let mut e = event(
            &till,
            n as u64 + 2,
            EventBody::Sale(SaleEvent {
                sale_id: id.into(),
                member_id: Some("m-1".into()),
                occurred_at: format!("{day}T03:00:00+00:00"),
                business_date: date(day),
                lines: common::lines(1_500),
                redeem_points: 0,
                coupon_ids: vec![],
                outcome: Some(o),
            }),
        );
        // All recorded on 12-01 (the flush).
        e.recorded_at = "2026-12-01T05:00:00+00:00".into();
        events.push(e);
    }
    assert_eq!(state.stamps.count, 2, "the till gave two stamps");
    let body = hub.push(&till, &events).await;
    assert_eq!(statuses(&body), ["stored"; 4]);
    assert!(hub.admin().discrepancies(0, 100).await.unwrap().is_empty());
    assert_eq!(hub.state(&card(1)).await.stamps.count, 2);
}

/// serde reads a struct from an array of its fields: `["s1"]` made an enrolment code and a
/// member import took rows as arrays. Only JSON objects are requests; nothing else changes
/// anything.
#[tokio::test]
async fn bodies_and_rows_must_be_objects() {
    let hub = common::start().await;
    hub.load_demo_rules().await;
    let admin = format!("Bearer {}", common::ADMIN_TOKEN);
    let post = |path: &str, auth: Option<&str>, body: &str| {
        let mut r = hub
            .http
            .post(hub.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(a) = auth {
            r = r.header("authorization", a.to_owned());
        }
        r.send()
    };
    let code = card(77);
    for (path, auth, body) in [
        ("/v1/enroll", None, r#"["x"]"#.to_owned()),
        (
            "/v1/admin/enrollment-codes",
            Some(admin.as_str()),
            r#"["s1"]"#.to_owned(),
        ),
        (
            "/v1/admin/members/import",
            Some(admin.as_str()),
            format!(r#"{{"rows":[[2, "{code}", 100, 0, null]]}}"#),
        ),
    ] {
        let r = post(path, auth, &body).await.unwrap();
        let status = r.status();
        let answer: serde_json::Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_request", "{answer}");
    }
    // The row as an object is taken; as an array it made no member.
    let till = hub.enroll("s1").await;
    let (status, _) = hub.lookup(&till, &code).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let report = import(&hub, &[(&code, 100, 0, None)]).await;
    assert_eq!(report.imported, 1);
}
