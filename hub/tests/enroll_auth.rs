//! Enrolment with one-time codes, terminal and admin authentication.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tenpo_hub::store::TillStore;

async fn enroll_with(hub: &common::Hub, code: &str) -> (StatusCode, Value) {
    let r = hub
        .http
        .post(hub.url("/v1/enroll"))
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

#[tokio::test]
async fn a_code_enrols_once_and_gives_a_secret() {
    let hub = common::start().await;
    let made = hub.admin().enrollment_code("store-1", None).await.unwrap();
    assert!(made.expires_at > Utc::now() + Duration::hours(23));
    // Typed in lower case with spaces: the same code.
    let typed = made.code.to_lowercase().replace('-', " ");
    let (status, body) = enroll_with(&hub, &typed).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["store_id"], "store-1");
    let secret = body["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 64);
    assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(body["hub_time"].as_str().unwrap().ends_with('Z'));
    // The database keeps only the hash.
    let db = std::fs::read(hub.dir.path().join("hub.db")).unwrap();
    let wal = std::fs::read(hub.dir.path().join("hub.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(!bytes.windows(64).any(|w| w == secret.as_bytes()));
    }

    // Once only.
    let (status, body) = enroll_with(&hub, &made.code).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "enrollment_code_invalid");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already used")
    );

    // Two enrolments: two distinct terminals.
    let a = hub.enroll("store-1").await;
    let b = hub.enroll("store-2").await;
    assert_ne!(a.terminal_id, b.terminal_id);
    assert_eq!(b.store_id, "store-2");
}

#[tokio::test]
async fn wrong_and_expired_codes_are_refused() {
    let hub = common::start().await;
    let (status, body) = enroll_with(&hub, "AAAA-BBBB-CCCC").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown")
    );

    let now = Utc::now();
    let code = hub
        .store
        .create_enrollment_code("store-1".into(), None, now - Duration::seconds(1), now)
        .await
        .unwrap();
    let (status, body) = enroll_with(&hub, &code).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );

    // Not JSON, or the wrong JSON: 4xx, nothing used.
    let r = hub
        .http
        .post(hub.url("/v1/enroll"))
        .body("{code:")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let (status, _) = enroll_with(&hub, "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let r = hub
        .http
        .post(hub.url("/v1/enroll"))
        .json(&json!({"code": "x", "extra": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn terminal_calls_need_the_right_secret() {
    let hub = common::start().await;
    let till = hub.enroll("store-1").await;
    let get = |auth: Option<String>| {
        let mut r = hub.http.get(hub.url("/v1/changes"));
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        r.send()
    };
    assert_eq!(
        get(Some(till.auth())).await.unwrap().status(),
        StatusCode::OK
    );
    let mut wrong_secret = till.secret.clone();
    wrong_secret.replace_range(
        0..1,
        if wrong_secret.starts_with('a') {
            "b"
        } else {
            "a"
        },
    );
    for auth in [
        None,
        Some("Bearer ".to_owned()),
        Some(format!("Bearer {}", till.terminal_id)),
        Some(format!("Bearer {}.{wrong_secret}", till.terminal_id)),
        Some(format!("Bearer t99999.{}", till.secret)),
        Some(format!("Basic {}.{}", till.terminal_id, till.secret)),
        Some(common::ADMIN_TOKEN.to_owned()),
    ] {
        let r = get(auth.clone()).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    // Push and lookup too.
    let r = hub
        .http
        .post(hub.url("/v1/events"))
        .json(&json!({"events": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = hub
        .http
        .get(hub.url("/v1/members/by-code/2000000000015"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Health needs nothing.
    let r = hub.http.get(hub.url("/v1/health")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn admin_calls_need_the_admin_token() {
    let hub = common::start().await;
    let till = hub.enroll("store-1").await;
    for auth in [
        None,
        Some("Bearer wrong-token-wrong-token".to_owned()),
        Some(till.auth()),
    ] {
        for (method, path) in [
            ("POST", "/v1/admin/enrollment-codes"),
            ("POST", "/v1/admin/rule-sets"),
            ("POST", "/v1/admin/members/import"),
            ("POST", "/v1/admin/coupons"),
            ("GET", "/v1/admin/conflicts"),
            ("GET", "/v1/admin/discrepancies"),
        ] {
            let mut r = if method == "POST" {
                hub.http.post(hub.url(path)).json(&json!({"store_id": "s"}))
            } else {
                hub.http.get(hub.url(path))
            };
            if let Some(a) = &auth {
                r = r.header("authorization", a);
            }
            let r = r.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path} with {auth:?}");
        }
    }
    let bad = tenpo_hub::admin::client::AdminClient::new(&hub.base, "nope-nope-nope-nope".into())
        .unwrap();
    let err = bad.enrollment_code("s", None).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
}

/// New credentials for a known terminal: the same id, the old secret refused, its
/// acknowledgement mark kept. For a terminal this hub does not know (restored from a backup
/// older than it): made again under its id, from seq 1.
#[tokio::test]
async fn a_code_for_a_terminal_renews_its_credentials_and_keeps_its_events() {
    let hub = common::start().await;
    hub.load_demo_rules().await;
    let a = hub.enroll("store-1").await;
    assert!(
        a.terminal_id.len() == 11 && a.terminal_id.starts_with('t'),
        "{}",
        a.terminal_id
    );
    let acked = |body: &Value| body["acked_through"].as_u64().unwrap();
    let body = hub
        .push(&a, &[common::provisional(&a, 1, "m-a1", &common::card(1))])
        .await;
    assert_eq!(acked(&body), 1);

    let made = hub
        .admin()
        .enrollment_code_for("store-1", Some(&a.terminal_id), None)
        .await
        .unwrap();
    assert_eq!(made.terminal_id.as_deref(), Some(a.terminal_id.as_str()));
    let (status, body) = enroll_with(&hub, &made.code).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["terminal_id"], a.terminal_id.as_str());
    let renewed = common::Till {
        secret: body["secret"].as_str().unwrap().to_owned(),
        ..a.clone()
    };
    assert_ne!(renewed.secret, a.secret);
    let (status, _) = hub.changes(&a, "").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the old secret is refused"
    );
    let body = hub
        .push(
            &renewed,
            &[common::provisional(&renewed, 2, "m-a2", &common::card(2))],
        )
        .await;
    assert_eq!(acked(&body), 2, "the same terminal, its mark kept: {body}");

    // Only for a terminal of that store.
    let refused = hub
        .admin()
        .enrollment_code_for("store-2", Some(&a.terminal_id), None)
        .await;
    assert!(refused.is_err(), "{refused:?}");

    // A terminal this hub does not know is made again under its id.
    let made = hub
        .admin()
        .enrollment_code_for("store-1", Some("t0123456789"), None)
        .await
        .unwrap();
    let (status, body) = enroll_with(&hub, &made.code).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["terminal_id"], "t0123456789");
    let lost = common::Till {
        terminal_id: "t0123456789".into(),
        store_id: "store-1".into(),
        secret: body["secret"].as_str().unwrap().to_owned(),
    };
    let body = hub
        .push(
            &lost,
            &[common::provisional(&lost, 1, "m-l1", &common::card(3))],
        )
        .await;
    assert_eq!(acked(&body), 1, "{body}");
}
