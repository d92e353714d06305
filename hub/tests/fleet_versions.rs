//! A fleet never runs one version: this hub takes the pushes of an agent built from commit
//! 2f1019b (before events were sent as the bytes stored at append), byte for byte as that
//! agent sent them over HTTP, replays included, with no conflict and no hash mismatch.
//! The corpus and how it was recorded: tests/corpus/ (record-2f1019b.sh).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::statuses;
use reqwest::StatusCode;
use serde_json::Value;

const CORPUS: &str = include_str!("../../tests/corpus/pushes-2f1019b.jsonl");

/// Each recorded push body, exactly as the old agent sent it.
fn pushes() -> Vec<String> {
    CORPUS
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["body"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn pushes_of_an_agent_from_2f1019b_are_stored_once_and_replays_are_duplicates() {
    let pushes = pushes();
    assert!(pushes.len() >= 5, "the corpus holds the recorded pushes");
    let first: Value = serde_json::from_str(&pushes[0]).unwrap();
    let store = first["events"][0]["event"]["store_id"].as_str().unwrap();
    let terminal = first["events"][0]["event"]["terminal_id"].as_str().unwrap();

    let hub = common::start().await;
    hub.load_demo_rules().await;
    // The recorded terminal, enrolled under its own id (new credentials, same identity).
    let till = hub.enroll_as(store, Some(terminal)).await;
    assert_eq!(till.terminal_id, terminal);

    let mut events = 0;
    let mut last_mark = 0;
    for body in &pushes {
        let (status, answer) = hub.push_body(&till, body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        for s in statuses(&answer) {
            assert_eq!(s, "stored", "{answer}");
            events += 1;
        }
        last_mark = answer["acked_through"].as_u64().unwrap();
    }
    assert_eq!(last_mark, events, "every recorded event held, in order");

    // Every push again (answers lost on the way back): duplicates, never conflicts.
    for body in &pushes {
        let (status, answer) = hub.push_body(&till, body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert!(
            statuses(&answer).iter().all(|s| s == "duplicate"),
            "{answer}"
        );
    }
    let admin = hub.admin();
    assert!(admin.conflicts(0, 100).await.unwrap().is_empty());
    // The till's outcomes are what this hub computes from the same events.
    assert!(admin.held(0, 100, false).await.unwrap().is_empty());
}
