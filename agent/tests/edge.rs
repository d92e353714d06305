//! The local API's edge: only loopback host names are answered (DNS rebinding), and refusals are
//! the JSON error body.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{STANDARD, TestAgent};

#[tokio::test]
async fn only_loopback_host_names_are_answered() {
    let agent = TestAgent::start().await;
    let port = agent.url.rsplit(':').next().unwrap().to_owned();
    let get = |host: String| {
        agent
            .client
            .get(format!("{}/v1/members/{STANDARD}", agent.url))
            .header("host", host)
            .send()
    };
    // A page the cashier opened, its name re-pointed at 127.0.0.1 (DNS rebinding).
    for host in [
        format!("attacker.example:{port}"),
        "attacker.example".to_owned(),
        format!("127.0.0.1.attacker.example:{port}"),
    ] {
        let r = get(host.clone()).await.unwrap();
        assert_eq!(r.status().as_u16(), 421, "{host}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            body["error"]["code"], "misdirected_request",
            "{host}: {body}"
        );
        assert!(
            body.to_string().find("points").is_none(),
            "no member data: {body}"
        );
    }
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "localhost".to_owned(),
    ] {
        let r = get(host.clone()).await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{host}");
    }
}
