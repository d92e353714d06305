//! `POST /line/webhook` (docs/design.md §10): deliveries signed by the LINE stand-in, as LINE
//! signs them, are taken once; a bad or missing signature is 401 with nothing read or stored;
//! follow and unfollow keep each LINE user's friendship in LINE's order, not arrival order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tenpo_hub::line::{MessagingSettings, OfficialAccount};
use tenpo_hub::store::{Friendship, LineStore};
use tenpo_line::signature::sign;
use tenpo_line::standin::{MessagingChannel, StandIn, router};

const SECRET: &str = "0123456789abcdef0123456789abcdef";
const USER: &str = "U4af4980629000000000000000000000a";

/// A stand-in that delivers webhooks for the same channel the hub checks.
async fn standin() -> String {
    let standin = StandIn::new([]).with_messaging(MessagingChannel {
        access_token: "token".into(),
        channel_secret: SECRET.into(),
        bot_user_id: "U00000000000000000000000000000b07".into(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, router(Arc::new(standin)))
            .await
            .unwrap();
    });
    url
}

async fn hub() -> common::Hub {
    common::start_with(tempfile::tempdir().unwrap(), |state| {
        state.line = Arc::new(
            OfficialAccount::new(
                MessagingSettings {
                    channel_secret: Some(SECRET.into()),
                    ..MessagingSettings::default()
                },
                "http://127.0.0.1:9",
            )
            .unwrap(),
        );
    })
    .await
}

async fn friendship(hub: &common::Hub, user: &str) -> Option<Friendship> {
    hub.store.friendship(user.into()).await.unwrap()
}

async fn post_raw(hub: &common::Hub, body: &[u8], signature: Option<&str>) -> (StatusCode, Value) {
    let mut req = hub
        .http
        .post(hub.url("/line/webhook"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(s) = signature {
        // Header names arrive in any case.
        req = req.header("X-Line-Signature", s);
    }
    let r = req.send().await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn follow_and_unfollow_keep_the_friendship_once_and_in_lines_order() {
    let (standin, hub) = (standin().await, hub().await);
    assert_eq!(friendship(&hub, USER).await, None);
    assert_eq!(
        common::deliver_webhook(
            &standin,
            &hub,
            vec![common::line_event(
                "follow",
                "01J0000000000000000000000A",
                1_000,
                USER
            )]
        )
        .await,
        200
    );
    let f = friendship(&hub, USER).await.unwrap();
    assert_eq!(
        (f.following, f.changed_at_ms, f.first_followed_at_ms),
        (true, 1_000, Some(1_000))
    );
    // Blocked, then the follow redelivered (same id): still blocked, nothing done twice.
    let unfollow = common::line_event("unfollow", "01J0000000000000000000000B", 2_000, USER);
    assert_eq!(
        common::deliver_webhook(&standin, &hub, vec![unfollow.clone()]).await,
        200
    );
    assert_eq!(
        common::deliver_webhook(
            &standin,
            &hub,
            vec![common::line_event(
                "follow",
                "01J0000000000000000000000A",
                1_000,
                USER
            )]
        )
        .await,
        200
    );
    assert!(!friendship(&hub, USER).await.unwrap().following);
    // An older follow under a new id, arriving late: LINE's time decides, still blocked.
    assert_eq!(
        common::deliver_webhook(
            &standin,
            &hub,
            vec![common::line_event(
                "follow",
                "01J0000000000000000000000C",
                1_500,
                USER
            )]
        )
        .await,
        200
    );
    assert!(!friendship(&hub, USER).await.unwrap().following);
    // Unblocked later: following again; the first follow is still the first.
    let mut unblock = common::line_event("follow", "01J0000000000000000000000D", 3_000, USER);
    unblock["follow"] = json!({"isUnblocked": true});
    // Unknown kinds and events without a user ride along and are kept, not failed.
    let unknown = json!({"type": "membership", "mode": "active", "timestamp": 3_001,
        "source": {"type": "user", "userId": USER}, "webhookEventId": "01J0000000000000000000000E",
        "deliveryContext": {"isRedelivery": false}, "membership": {"type": "joined"}});
    assert_eq!(
        common::deliver_webhook(&standin, &hub, vec![unblock, unknown.clone()]).await,
        200
    );
    let f = friendship(&hub, USER).await.unwrap();
    assert_eq!(
        (f.following, f.changed_at_ms, f.first_followed_at_ms),
        (true, 3_000, Some(1_000))
    );
    // The whole batch again is all duplicates.
    assert_eq!(
        common::deliver_webhook(&standin, &hub, vec![unknown, unfollow]).await,
        200
    );
    assert!(friendship(&hub, USER).await.unwrap().following);
}

#[tokio::test]
async fn forged_missing_and_malformed_deliveries_change_nothing() {
    let hub = hub().await;
    let body =
        json!({"destination": "U0", "events": [common::line_event("follow", "01J1", 1, USER)]})
            .to_string();
    let good = sign(SECRET.as_bytes(), body.as_bytes());
    // No signature; another secret's; the body changed by one byte after signing.
    let (s, b) = post_raw(&hub, body.as_bytes(), None).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let forged = sign(b"not-the-channel-secret", body.as_bytes());
    assert_eq!(
        post_raw(&hub, body.as_bytes(), Some(&forged)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let mut tampered = body.clone().into_bytes();
    let at = tampered.iter().position(|&b| b == b'1').unwrap();
    tampered[at] = b'2';
    assert_eq!(
        post_raw(&hub, &tampered, Some(&good)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post_raw(&hub, body.as_bytes(), Some("garbage!")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(friendship(&hub, USER).await, None, "nothing read");
    // Signed, but not a webhook: 400, nothing stored.
    for bad in [
        r#"{"events": []}"#,
        "[]",
        "not json",
        r#"{"destination": "U0", "events": [{"type": "follow"}]}"#,
    ] {
        let sig = sign(SECRET.as_bytes(), bad.as_bytes());
        let (s, b) = post_raw(&hub, bad.as_bytes(), Some(&sig)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {b}");
    }
    assert_eq!(friendship(&hub, USER).await, None);
    // The real one is taken.
    assert_eq!(
        post_raw(&hub, body.as_bytes(), Some(&good)).await.0,
        StatusCode::OK
    );
    assert!(friendship(&hub, USER).await.unwrap().following);
    // A forged delivery through the stand-in (signed with another secret) is refused too.
    let standin = standin().await;
    let r: Value = reqwest::Client::new()
        .post(format!("{standin}/standin/webhooks"))
        .json(&json!({"url": hub.url("/line/webhook"), "secret": "wrong",
                      "events": [common::line_event("unfollow", "01J2", 2, USER)]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], 401);
    assert!(friendship(&hub, USER).await.unwrap().following);
}

#[tokio::test]
async fn an_oversized_delivery_is_refused_unread() {
    let hub = hub().await;
    let filler = "x".repeat(tenpo_hub::line::webhook::MAX_WEBHOOK_BYTES);
    let body = json!({"destination": "U0", "events": [], "filler": filler}).to_string();
    let (s, b) = post_raw(
        &hub,
        body.as_bytes(),
        Some(&sign(SECRET.as_bytes(), body.as_bytes())),
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
    assert_eq!(b["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn a_hub_without_the_channel_secret_says_so() {
    let hub = common::start().await;
    let body = br#"{"destination": "U0", "events": []}"#;
    let (s, b) = post_raw(&hub, body, Some(&sign(SECRET.as_bytes(), body))).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("channel_secret_file"),
        "{b}"
    );
}
