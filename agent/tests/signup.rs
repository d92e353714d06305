//! Signup sessions need a hub: a standalone terminal says so, in words IT can act on. (Signup
//! with a hub is tested end to end with real processes in `kiosk-ui/tests/signup_e2e.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::json;

#[tokio::test]
async fn a_standalone_terminal_refuses_signup_sessions() {
    let agent = common::TestAgent::start().await;
    let (status, body) = agent.post("/v1/signups", &json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "invalid_request");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tenpo-agent enroll"),
        "{body}"
    );
    // Writes need the token.
    let (status, _) = agent.post_raw("/v1/signups", b"{}".to_vec(), None).await;
    assert_eq!(status, 401);
    let (status, body) = agent.get("/v1/signups/S1.AAAA").await;
    assert_eq!(status, 409, "{body}");
}
