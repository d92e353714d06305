//! Event intake: idempotency, conflicts, gaps and the mark, rejections, bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{card, item, provisional, statuses};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tenpo_loyalty::MemberState;
use tenpo_protocol::events::{EventBody, SaleEvent};

#[tokio::test]
async fn replays_are_duplicates_and_other_content_is_a_conflict() {
    let hub = common::start().await;
    let till = hub.enroll("s1").await;
    let e1 = provisional(&till, 1, "m-1", &card(1));
    let e2 = provisional(&till, 2, "m-2", &card(2));
    let body = hub.push(&till, &[e1.clone(), e2.clone()]).await;
    assert_eq!(body["acked_through"], 2);
    assert_eq!(statuses(&body), ["stored", "stored"]);
    assert!(body["hub_time"].is_string());

    // The same again (a lost answer): acknowledged again, nothing doubled.
    let body = hub.push(&till, &[e1.clone(), e2.clone()]).await;
    assert_eq!(statuses(&body), ["duplicate", "duplicate"]);
    assert_eq!(body["acked_through"], 2);

    // Other content under seq 2: a conflict; the first stays.
    let other = provisional(&till, 2, "m-other", &card(3));
    let body = hub.push(&till, &[other]).await;
    assert_eq!(statuses(&body), ["conflict"]);
    assert!(
        body["results"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("seq 2")
    );
    assert!(hub.lookup(&till, &card(3)).await.0 == StatusCode::NOT_FOUND);

    // The same event id under a new seq: a conflict too, and the mark moves past it.
    let mut reused = provisional(&till, 3, "m-3", &card(4));
    reused.event_id = e1.event_id.clone();
    let body = hub.push(&till, &[reused.clone()]).await;
    assert_eq!(statuses(&body), ["conflict"]);
    assert!(
        body["results"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("event id")
    );
    assert_eq!(body["acked_through"], 3);
    // Replaying that conflicting push answers the same.
    let body = hub.push(&till, &[reused]).await;
    assert_eq!(statuses(&body), ["conflict"]);

    // Both conflicts are listed, with both payloads, once each.
    let conflicts = hub.admin().conflicts(0, 100).await.unwrap();
    assert_eq!(conflicts.len(), 2, "{conflicts:?}");
    assert_eq!(conflicts[0].kind, "seq");
    assert_eq!(conflicts[0].first["body"]["member_id"], "m-2");
    assert_eq!(conflicts[0].second["body"]["member_id"], "m-other");
    assert_eq!(conflicts[1].kind, "event_id");
    assert_eq!(conflicts[1].seq, 3);
}

#[tokio::test]
async fn a_gap_holds_the_mark_until_it_fills_and_the_mark_never_goes_down() {
    let hub = common::start().await;
    let till = hub.enroll("s1").await;
    let events: Vec<_> = (1..=6)
        .map(|seq| provisional(&till, seq, &format!("m-{seq}"), &card(seq)))
        .collect();
    let body = hub.push(&till, &events[0..2]).await;
    assert_eq!(body["acked_through"], 2);
    // 4 and 5 arrive before 3: stored, but the mark waits.
    let body = hub.push(&till, &events[3..5]).await;
    assert_eq!(statuses(&body), ["stored", "stored"]);
    assert_eq!(body["acked_through"], 2);
    // 3 fills the gap: the mark jumps to 5.
    let body = hub.push(&till, &events[2..3]).await;
    assert_eq!(body["acked_through"], 5);
    // Old events again: the mark stays at 5.
    let body = hub.push(&till, &events[0..1]).await;
    assert_eq!(body["acked_through"], 5);
    let body = hub.push(&till, &[]).await;
    assert_eq!(body["acked_through"], 5);
    // Across a restart too.
    let dir = hub.stop().await;
    let hub = common::start_in(dir).await;
    let body = hub.push(&till, &events[5..6]).await;
    assert_eq!(body["acked_through"], 6);
    let body = hub.push(&till, &events[1..2]).await;
    assert_eq!(body["acked_through"], 6);
}

#[tokio::test]
async fn events_the_hub_cannot_take_are_rejected_and_passed() {
    let hub = common::start().await;
    hub.load_demo_rules().await;
    let till = hub.enroll("s1").await;
    let rules = tenpo_loyalty::RuleSet::demo();
    // 1: a sale for a member nobody made.
    let (unknown, _) = common::sale(
        &till,
        1,
        Some("ghost"),
        &rules,
        &MemberState::default(),
        "s-1",
        1000,
        0,
    );
    // 2: a hash that does not match.
    let e2 = provisional(&till, 2, "m-2", &card(2));
    let mut bad_hash = item(&e2);
    bad_hash["content_hash"] = json!("00".repeat(32));
    // 3: malformed (an unknown kind).
    let mut malformed = item(&provisional(&till, 3, "m-3", &card(3)));
    malformed["event"]["body"]["kind"] = json!("teleport");
    // Hashed as sent: the hash matches, the content is what is wrong.
    malformed["content_hash"] = json!(tenpo_protocol::events::content_hash_of(
        malformed["event"].to_string().as_bytes()
    ));
    // 4: fine.
    let e4 = provisional(&till, 4, "m-4", &card(4));
    let items = json!([item(&unknown), bad_hash, malformed, item(&e4)]);
    let (status, body) = hub.push_items(&till, items.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        statuses(&body),
        ["rejected", "rejected", "rejected", "stored"]
    );
    let reasons: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["reason"].as_str())
        .collect();
    assert!(reasons[0].contains("ghost"), "{reasons:?}");
    assert!(reasons[1].contains("hash"), "{reasons:?}");
    assert!(reasons[2].contains("malformed"), "{reasons:?}");
    assert_eq!(body["acked_through"], 4);
    // Replayed: rejected again, with the same reasons (the agent quarantines them).
    let (_, again) = hub.push_items(&till, items).await;
    assert_eq!(
        statuses(&again),
        ["rejected", "rejected", "rejected", "duplicate"]
    );
    assert_eq!(again["results"][0]["reason"], body["results"][0]["reason"]);
    // The rejected provisional events made no members.
    assert_eq!(hub.lookup(&till, &card(2)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(hub.lookup(&till, &card(4)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn bad_pushes_are_refused_whole_and_change_nothing() {
    let hub = common::start().await;
    let till = hub.enroll("s1").await;
    let other = hub.enroll("s2").await;
    let post = |body: String| {
        hub.http
            .post(hub.url("/v1/events"))
            .header("authorization", till.auth())
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    // Not JSON.
    let r = post("{\"events\": [".into()).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "malformed_request");
    // JSON of the wrong shape.
    let r = post("{\"evts\": []}".into()).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // An event without a seq, after a good one: nothing of the push is stored.
    let good = item(&provisional(&till, 1, "m-1", &card(1)));
    let (status, _) = hub
        .push_items(
            &till,
            json!([good, {"event": {"event_id": "x"}, "content_hash": ""}]),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Another terminal's event: 403, nothing stored.
    let theirs = item(&provisional(&other, 1, "m-9", &card(9)));
    let (status, body) = hub.push_items(&till, json!([good, theirs])).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let mut other_store = provisional(&till, 1, "m-9", &card(9));
    other_store.store_id = "s2".into();
    let (status, _) = hub.push_items(&till, json!([item(&other_store)])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Too many events.
    let many: Vec<Value> = (1..=1001)
        .map(|s| item(&provisional(&till, s, "m", &card(1))))
        .collect();
    let (status, _) = hub.push_items(&till, Value::Array(many)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Too large a body.
    let r = post(format!(
        "{{\"events\": [], \"pad\": \"{}\"}}",
        "x".repeat(17 * 1024 * 1024)
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Nothing of the above was stored: seq 1 is still free and the mark at 0.
    let body = hub.push(&till, &[]).await;
    assert_eq!(body["acked_through"], 0);
    assert_eq!(hub.lookup(&till, &card(1)).await.0, StatusCode::NOT_FOUND);
    let body = hub
        .push(&till, &[provisional(&till, 1, "m-1", &card(1))])
        .await;
    assert_eq!(statuses(&body), ["stored"]);
}

#[tokio::test]
async fn a_sale_may_follow_its_provisional_member_in_one_push() {
    let hub = common::start().await;
    let rules = hub.load_demo_rules().await;
    let till = hub.enroll("s1").await;
    let p = provisional(&till, 1, "m-new", &card(7));
    let (s, _) = common::sale(
        &till,
        2,
        Some("m-new"),
        &rules,
        &MemberState::default(),
        "s-1",
        1500,
        0,
    );
    let body = hub.push(&till, &[p, s]).await;
    assert_eq!(statuses(&body), ["stored", "stored"]);
    let state = hub.state(&card(7)).await;
    assert_eq!(state.balance(common::date("2026-11-20")), 15);
    // Sales without a member are stored too, and touch nobody.
    let (anon, _) = common::sale(
        &till,
        3,
        None,
        &rules,
        &MemberState::default(),
        "s-2",
        800,
        0,
    );
    assert!(matches!(
        anon.body,
        EventBody::Sale(SaleEvent {
            member_id: None,
            ..
        })
    ));
    let body = hub.push(&till, &[anon]).await;
    assert_eq!(statuses(&body), ["stored"]);
    assert_eq!(body["acked_through"], 3);
}
