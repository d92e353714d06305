//! The local API over real HTTP on 127.0.0.1, against a real store on disk.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{NEW_CARD, PREMIER, STANDARD, TestAgent, sale};
use serde_json::json;

#[tokio::test]
async fn health_status_and_openapi() {
    let a = TestAgent::start().await;
    assert_eq!(a.get("/v1/health").await, (200, json!({"status": "ok"})));
    let (code, status) = a.get("/v1/status").await;
    assert_eq!(code, 200);
    assert_eq!(status["mode"], "standalone");
    assert_eq!(status["store_id"], "store-1");
    assert_eq!(status["terminal_id"], "till-1");
    assert_eq!(status["pending_events"], 0);
    assert_eq!(status["rule_set_version"], 1);
    let (code, doc) = a.get("/v1/openapi.json").await;
    assert_eq!(code, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/v1/sales/{sale_id}/refunds"]["post"].is_object());
}

#[tokio::test]
async fn member_view_has_everything_a_cashier_needs() {
    let a = TestAgent::start().await;
    let (code, m) = a.get(&format!("/v1/members/{STANDARD}")).await;
    assert_eq!(code, 200, "{m}");
    assert_eq!(m["number"], STANDARD);
    assert_eq!(m["provisional"], false);
    assert_eq!(m["tier"], "standard");
    assert_eq!(m["points"]["balance"], 1250);
    assert_eq!(m["points"]["expiring"][0]["points"], 400);
    assert!(m["points"]["expiring"][0]["expires_on"].is_string());
    assert_eq!(m["stamps"], json!({"count": 7, "card_size": 10}));
    assert_eq!(m["qualifying_spend_yen"], 38_500);
    assert_eq!(
        m["next_tier"],
        json!({"name": "premier", "remaining_yen": 11_500})
    );
    let (_, p) = a.get(&format!("/v1/members/{PREMIER}")).await;
    assert_eq!(p["tier"], "premier");
    assert_eq!(p["next_tier"], serde_json::Value::Null);
    assert_eq!(p["coupons"][0]["coupon_id"], "demo-welcome-500");
    assert_eq!(p["coupons"][0]["kind"], "discount");
    assert_eq!(p["coupons"][0]["value_yen"], 500);
}

#[tokio::test]
async fn unknown_and_malformed_codes() {
    let a = TestAgent::start().await;
    let (code, e) = a.get(&format!("/v1/members/{NEW_CARD}")).await;
    assert_eq!(
        (code, e["error"]["code"].as_str()),
        (404, Some("member_not_found"))
    );
    for (bad, words) in [
        ("2000000000016", "check digit wrong"),
        ("4901234567894", "product barcode"),
        ("12345", "not a member card"),
        ("20000000000x5", "not a member card"),
    ] {
        let (code, e) = a.get(&format!("/v1/members/{bad}")).await;
        assert_eq!(code, 422, "{bad}");
        assert_eq!(e["error"]["code"], "invalid_member_code");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(words),
            "{bad}: {e}"
        );
    }
}

#[tokio::test]
async fn a_sale_earns_stamps_redeems_and_answers_the_cashier() {
    let a = TestAgent::start().await;
    let body = json!({
        "sale_id": "pos-1-0001",
        "member_code": STANDARD,
        "occurred_at": "2026-11-22T10:15:00+09:00",
        "lines": [
            {"sku": "bento", "category": "food", "quantity": 2, "amount_yen": 1580},
            {"sku": "card", "category": "giftcard", "quantity": 1, "amount_yen": 3000}
        ],
        "redeem_points": 100
    });
    let (code, r) = a.post("/v1/sales", &body).await;
    assert_eq!(code, 201, "{r}");
    // Eligible ¥1,580 − 100 points = ¥1,480 → 14 points; a stamp (≥ ¥1,000); gift card earns nothing.
    assert_eq!(r["earned_points"], 14);
    assert_eq!(r["redeemed_points"], 100);
    assert_eq!(r["discount_yen"], 100);
    assert_eq!(r["stamps_earned"], 1);
    assert_eq!(r["balance_after"], 1250 - 100 + 14);
    assert_eq!(r["tier_after"], "standard");
    assert_eq!(r["business_date"], "2026-11-22");
    let (_, m) = a.get(&format!("/v1/members/{STANDARD}")).await;
    assert_eq!(m["points"]["balance"], 1164);
    assert_eq!(m["stamps"]["count"], 8);
    let (_, s) = a.get("/v1/status").await;
    assert_eq!(s["pending_events"], 1);
}

#[tokio::test]
async fn the_sale_id_is_the_idempotency_key() {
    let a = TestAgent::start().await;
    let body = sale("pos-1-0002", Some(STANDARD), 2000);
    let (c1, r1) = a.post("/v1/sales", &body).await;
    let after_first = a.fingerprint();
    let (c2, r2) = a.post("/v1/sales", &body).await;
    assert_eq!((c1, c2), (201, 200));
    assert_eq!(r1, r2, "a replay answers the first answer");
    assert_eq!(a.fingerprint(), after_first, "a replay writes nothing");
    let (c3, e) = a
        .post("/v1/sales", &sale("pos-1-0002", Some(STANDARD), 2001))
        .await;
    assert_eq!(
        (c3, e["error"]["code"].as_str()),
        (409, Some("idempotency_conflict"))
    );
    assert_eq!(a.fingerprint(), after_first);
}

#[tokio::test]
async fn a_sale_without_a_member_is_recorded_and_earns_nothing() {
    let a = TestAgent::start().await;
    let (code, r) = a.post("/v1/sales", &sale("walk-in-1", None, 5000)).await;
    assert_eq!(code, 201, "{r}");
    assert_eq!(
        (r["earned_points"].as_i64(), r["member_id"].is_null()),
        (Some(0), true)
    );
    let (_, s) = a.get("/v1/status").await;
    assert_eq!(s["pending_events"], 1);
    let mut with_points = sale("walk-in-2", None, 5000);
    with_points["redeem_points"] = 10.into();
    let (code, e) = a.post("/v1/sales", &with_points).await;
    assert_eq!(
        (code, e["error"]["code"].as_str()),
        (422, Some("rule_violation"))
    );
}

#[tokio::test]
async fn a_new_valid_card_becomes_a_provisional_member() {
    let a = TestAgent::start().await;
    let (code, r) = a
        .post("/v1/sales", &sale("s-prov", Some(NEW_CARD), 1234))
        .await;
    assert_eq!(code, 201, "{r}");
    assert_eq!(r["earned_points"], 12);
    let (code, m) = a.get(&format!("/v1/members/{NEW_CARD}")).await;
    assert_eq!(code, 200);
    assert_eq!(m["provisional"], true);
    assert_eq!(m["number"], NEW_CARD);
    assert_eq!(m["points"]["balance"], 12);
    assert_eq!(m["member_id"], r["member_id"]);
    let (_, s) = a.get("/v1/status").await;
    assert_eq!(
        s["pending_events"], 2,
        "the new member and the sale are both events"
    );
}

#[tokio::test]
async fn coupons_are_used_once() {
    let a = TestAgent::start().await;
    let mut body = sale("c-1", Some(PREMIER), 3000);
    body["coupon_ids"] = json!(["demo-welcome-500"]);
    let (code, r) = a.post("/v1/sales", &body).await;
    assert_eq!(code, 201, "{r}");
    assert_eq!(r["discount_yen"], 500);
    // Premier 2×: (¥3,000 − ¥500) → 50 points.
    assert_eq!(r["earned_points"], 50);
    body["sale_id"] = "c-2".into();
    let (code, e) = a.post("/v1/sales", &body).await;
    assert_eq!(
        (code, e["error"]["code"].as_str()),
        (422, Some("rule_violation"))
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already used")
    );
}

#[tokio::test]
async fn refunds_reverse_in_proportion_and_once() {
    let a = TestAgent::start().await;
    let body = json!({
        "sale_id": "r-sale",
        "member_code": STANDARD,
        "lines": [
            {"sku": "a", "quantity": 2, "amount_yen": 3000},
            {"sku": "b", "quantity": 1, "amount_yen": 1000}
        ]
    });
    let (_, s) = a.post("/v1/sales", &body).await;
    assert_eq!(s["earned_points"], 40);
    let partial =
        json!({"refund_id": "r-1", "lines": [{"sku": "a", "quantity": 1, "amount_yen": 1500}]});
    let (code, r) = a.post("/v1/sales/r-sale/refunds", &partial).await;
    assert_eq!(code, 201, "{r}");
    // ¥1,500 of ¥4,000: ⌊40 × 1500 / 4000⌋ = 15 points back; the visit's stamp stays.
    assert_eq!(r["reversed_points"], 15);
    assert_eq!(r["reversed_stamps"], 0);
    assert_eq!(r["balance_after"], 1250 + 40 - 15);
    let (code, again) = a.post("/v1/sales/r-sale/refunds", &partial).await;
    assert_eq!((code, &again), (200, &r));
    let other =
        json!({"refund_id": "r-1", "lines": [{"sku": "b", "quantity": 1, "amount_yen": 1000}]});
    assert_eq!(a.post("/v1/sales/r-sale/refunds", &other).await.0, 409);
    let rest = json!({"refund_id": "r-2", "lines": [
        {"sku": "a", "quantity": 1, "amount_yen": 1500},
        {"sku": "b", "quantity": 1, "amount_yen": 1000}
    ]});
    let (code, r) = a.post("/v1/sales/r-sale/refunds", &rest).await;
    assert_eq!(code, 201, "{r}");
    assert_eq!(
        r["reversed_points"], 25,
        "all of it, once, across the two refunds"
    );
    assert_eq!(r["reversed_stamps"], 1);
    let (_, m) = a.get(&format!("/v1/members/{STANDARD}")).await;
    assert_eq!(m["points"]["balance"], 1250);
    assert_eq!(m["stamps"]["count"], 7);
    assert_eq!(m["qualifying_spend_yen"], 38_500);
    let more = json!({"refund_id": "r-3", "lines": [{"sku": "b", "quantity": 1, "amount_yen": 1}]});
    let (code, e) = a.post("/v1/sales/r-sale/refunds", &more).await;
    assert_eq!(
        (code, e["error"]["code"].as_str()),
        (422, Some("rule_violation"))
    );
    assert!(
        e["error"]["message"].as_str().unwrap().contains("sold 1"),
        "{e}"
    );
    let (code, e) = a.post("/v1/sales/nope/refunds", &more).await;
    assert_eq!(
        (code, e["error"]["code"].as_str()),
        (404, Some("sale_not_found"))
    );
}

/// Every kind of bad input gets a clear 4xx and writes nothing.
#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let a = TestAgent::start().await;
    a.post("/v1/sales", &sale("base", Some(STANDARD), 1000))
        .await;
    let before = a.fingerprint();
    let line = |sku: &str, q: i64, y: i64| json!({"sku": sku, "quantity": q, "amount_yen": y});
    let many_lines: Vec<_> = (0..10_000)
        .map(|i| line(&format!("sku{i}"), 1, 100))
        .collect();
    let cases: Vec<(&str, serde_json::Value, u16, &str)> = vec![
        (
            "missing lines",
            json!({"sale_id": "x1"}),
            422,
            "invalid_request",
        ),
        (
            "missing sale_id",
            json!({"lines": [line("a", 1, 1)]}),
            422,
            "invalid_request",
        ),
        (
            "negative amount",
            json!({"sale_id": "x2", "lines": [line("a", 1, -500)]}),
            422,
            "invalid_request",
        ),
        (
            "zero quantity",
            json!({"sale_id": "x3", "lines": [line("a", 0, 500)]}),
            422,
            "invalid_request",
        ),
        (
            "absurd amount",
            json!({"sale_id": "x4", "lines": [line("a", 1, 1_000_000_000_000_i64)]}),
            422,
            "invalid_request",
        ),
        (
            "amount as text",
            json!({"sale_id": "x5", "lines": [{"sku": "a", "quantity": 1, "amount_yen": "500"}]}),
            422,
            "invalid_request",
        ),
        (
            "fractional yen",
            json!({"sale_id": "x6", "lines": [{"sku": "a", "quantity": 1, "amount_yen": 10.5}]}),
            422,
            "invalid_request",
        ),
        (
            "no lines",
            json!({"sale_id": "x7", "lines": []}),
            422,
            "invalid_request",
        ),
        (
            "10,000 lines",
            json!({"sale_id": "x8", "lines": many_lines}),
            413,
            "payload_too_large",
        ),
        (
            "501 lines",
            json!({"sale_id": "x8b", "lines": many_lines[..501]}),
            422,
            "invalid_request",
        ),
        (
            "unknown field",
            json!({"sale_id": "x9", "lines": [line("a", 1, 1)], "redeem_point": 5}),
            422,
            "invalid_request",
        ),
        (
            "bad check digit",
            json!({"sale_id": "x10", "member_code": "2000000000016", "lines": [line("a", 1, 1)]}),
            422,
            "invalid_member_code",
        ),
        (
            "negative redemption",
            json!({"sale_id": "x11", "member_code": STANDARD, "lines": [line("a", 1, 100)], "redeem_points": -5}),
            422,
            "rule_violation",
        ),
        (
            "more points than held",
            json!({"sale_id": "x12", "member_code": STANDARD, "lines": [line("a", 1, 99_999)], "redeem_points": 5000}),
            422,
            "rule_violation",
        ),
        (
            "more points than the sale",
            json!({"sale_id": "x13", "member_code": STANDARD, "lines": [line("a", 1, 100)], "redeem_points": 101}),
            422,
            "rule_violation",
        ),
        (
            "unknown coupon",
            json!({"sale_id": "x14", "member_code": STANDARD, "lines": [line("a", 1, 100)], "coupon_ids": ["nope"]}),
            422,
            "rule_violation",
        ),
        (
            "sale id with spaces",
            json!({"sale_id": "has space", "lines": [line("a", 1, 1)]}),
            422,
            "invalid_request",
        ),
        (
            "sale id too long",
            json!({"sale_id": "x".repeat(65), "lines": [line("a", 1, 1)]}),
            422,
            "invalid_request",
        ),
        (
            "in the future",
            json!({"sale_id": "x15", "occurred_at": "2099-01-01T00:00:00Z", "lines": [line("a", 1, 1)]}),
            422,
            "invalid_request",
        ),
        (
            "bad timestamp",
            json!({"sale_id": "x16", "occurred_at": "yesterday", "lines": [line("a", 1, 1)]}),
            422,
            "invalid_request",
        ),
        (
            "new card with a bad sale",
            json!({"sale_id": "x17", "member_code": NEW_CARD, "lines": [line("a", 1, 100)], "redeem_points": 1}),
            422,
            "rule_violation",
        ),
    ];
    for (what, body, status, code) in cases {
        let (got, e) = a.post("/v1/sales", &body).await;
        assert_eq!(got, status, "{what}: {e}");
        assert_eq!(e["error"]["code"], code, "{what}: {e}");
        assert!(
            e["error"]["message"].as_str().is_some_and(|m| m.len() > 10),
            "{what}: {e}"
        );
        assert_eq!(a.fingerprint(), before, "{what} wrote something");
    }

    type RawCase<'a> = (&'a str, Vec<u8>, Option<&'a str>, u16, &'a str);
    let raw: Vec<RawCase> = vec![
        (
            "malformed JSON",
            b"{\"sale_id\": ".to_vec(),
            Some(&a.token),
            400,
            "malformed_request",
        ),
        (
            "not JSON at all",
            b"\xff\xfe garbage".to_vec(),
            Some(&a.token),
            400,
            "malformed_request",
        ),
        (
            "a JSON array",
            b"[1,2,3]".to_vec(),
            Some(&a.token),
            422,
            "invalid_request",
        ),
        (
            "no token",
            sale("y1", None, 1).to_string().into_bytes(),
            None,
            401,
            "unauthorized",
        ),
        (
            "wrong token",
            sale("y2", None, 1).to_string().into_bytes(),
            Some("0123456789abcdef0123456789abcdef"),
            401,
            "unauthorized",
        ),
        (
            "a 10 MB body",
            vec![b' '; 10 * 1024 * 1024],
            Some(&a.token),
            413,
            "payload_too_large",
        ),
    ];
    for (what, body, token, status, code) in raw {
        let (got, e) = a.post_raw("/v1/sales", body, token).await;
        assert_eq!(got, status, "{what}: {e}");
        assert_eq!(e["error"]["code"], code, "{what}: {e}");
        assert_eq!(a.fingerprint(), before, "{what} wrote something");
    }

    let refunds: Vec<(&str, &str, serde_json::Value, u16, &str)> = vec![
        (
            "refund more than sold",
            "base",
            json!({"refund_id": "z1", "lines": [line("tea", 2, 2000)]}),
            422,
            "rule_violation",
        ),
        (
            "refund an unsold sku",
            "base",
            json!({"refund_id": "z2", "lines": [line("coffee", 1, 10)]}),
            422,
            "rule_violation",
        ),
        (
            "negative refund",
            "base",
            json!({"refund_id": "z3", "lines": [line("tea", 1, -10)]}),
            422,
            "invalid_request",
        ),
        (
            "refund missing lines",
            "base",
            json!({"refund_id": "z4"}),
            422,
            "invalid_request",
        ),
        (
            "refund of no sale",
            "ghost",
            json!({"refund_id": "z5", "lines": [line("tea", 1, 10)]}),
            404,
            "sale_not_found",
        ),
    ];
    for (what, sale_id, body, status, code) in refunds {
        let (got, e) = a.post(&format!("/v1/sales/{sale_id}/refunds"), &body).await;
        assert_eq!(got, status, "{what}: {e}");
        assert_eq!(e["error"]["code"], code, "{what}: {e}");
        assert_eq!(a.fingerprint(), before, "{what} wrote something");
    }
    let (got, e) = a
        .post_raw("/v1/sales/base/refunds", b"{".to_vec(), None)
        .await;
    assert_eq!(
        (got, e["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );

    let (got, e) = a.get("/v1/nowhere").await;
    assert_eq!((got, e["error"]["code"].as_str()), (404, Some("not_found")));
    let r = a
        .client
        .delete(format!("{}/v1/sales", a.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(a.fingerprint(), before);
}

#[tokio::test]
async fn the_token_file_is_private() {
    let a = TestAgent::start().await;
    let path = a.dir.path().join("api-token");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.trim(), a.token);
    assert_eq!(a.token.len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A second start reads the same token.
    assert_eq!(
        tenpo_agent::api::auth::load_or_create(a.dir.path()).unwrap(),
        a.token
    );
}
