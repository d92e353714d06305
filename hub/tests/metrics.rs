//! `GET /metrics` of a real hub over HTTP: the counts follow enrolments, pushes, gaps and
//! conflicts, in Prometheus' text format, for the admin token only, without naming anyone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{card, provisional};

async fn metrics(hub: &common::Hub) -> (String, String) {
    let response = hub
        .http
        .get(hub.url("/metrics"))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (kind, response.text().await.unwrap())
}

fn value(text: &str, name: &str) -> u64 {
    tenpo_e2e::harness::metric(text, name) as u64
}

#[tokio::test]
async fn counts_terminals_events_gaps_and_conflicts() {
    let hub = common::start().await;
    let (kind, text) = metrics(&hub).await;
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    assert_eq!(value(&text, "tenpo_hub_terminals"), 0);
    assert_eq!(value(&text, "tenpo_hub_rule_set_version"), 0);

    hub.load_demo_rules().await;
    let a = hub.enroll("s1").await;
    let b = hub.enroll("s2").await;
    hub.push(&a, &[provisional(&a, 1, "m-1", &card(1))]).await;
    // Seq 3 before seq 2: held behind the gap.
    hub.push(&b, &[provisional(&b, 1, "m-2", &card(2))]).await;
    hub.push(&b, &[provisional(&b, 3, "m-3", &card(3))]).await;
    // Other content under a seq the hub holds: a conflict.
    hub.push(&a, &[provisional(&a, 1, "m-other", &card(4))])
        .await;

    let (_, text) = metrics(&hub).await;
    assert_eq!(value(&text, "tenpo_hub_terminals"), 2);
    assert_eq!(value(&text, "tenpo_hub_stores"), 2);
    assert_eq!(value(&text, "tenpo_hub_events_stored_total"), 3);
    assert_eq!(value(&text, "tenpo_hub_events_waiting"), 1);
    assert_eq!(value(&text, "tenpo_hub_conflicts_total"), 1);
    assert_eq!(value(&text, "tenpo_hub_rule_set_version"), 1);
    assert!(value(&text, "tenpo_hub_members") >= 2);
    for secret in [&a.secret, &a.terminal_id, &b.terminal_id] {
        assert!(!text.contains(secret.as_str()), "/metrics names {secret}");
    }
    // Every sample has its HELP and TYPE.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split([' ', '{']).next().unwrap();
        assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
    }
}

#[tokio::test]
async fn needs_the_admin_token() {
    let hub = common::start().await;
    let till = hub.enroll("s1").await;
    for auth in [None, Some("Bearer wrong".to_owned()), Some(till.auth())] {
        let mut request = hub.http.get(hub.url("/metrics"));
        if let Some(auth) = &auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{auth:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized", "{body}");
        assert!(!body.to_string().contains("tenpo_hub_"), "{body}");
    }
}
