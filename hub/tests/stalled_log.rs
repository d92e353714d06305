//! A hub whose log nobody reads keeps answering its tills. The real `tenpo-hub serve` runs at the
//! `info` level, where each push logs a line, with its standard error a pipe this test never
//! reads: every push must still be answered, and the lines that could not wait be counted on
//! `/metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use serde_json::{Value, json};
use tenpo_e2e::harness::{each_answered, metric, start_with_unread_log};
use tenpo_hub::admin::client::AdminClient;
use tenpo_hub::config::ADMIN_TOKEN_FILE;

/// Far more lines than a pipe (64 KB) and the log's queue (256 KB) hold together.
const PUSHES: usize = 4_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_nobody_reads_does_not_stop_the_pushes() {
    let dir = tempfile::tempdir().unwrap();
    let mut program = Command::new(env!("CARGO_BIN_EXE_tenpo-hub"));
    program.args(["serve", "--data-dir"]).arg(dir.path());
    let (hub, base, http) = start_with_unread_log(program).await;
    let admin_token = std::fs::read_to_string(dir.path().join(ADMIN_TOKEN_FILE)).unwrap();
    let admin_token = admin_token.trim().to_owned();
    let code = AdminClient::new(&base, admin_token.clone())
        .unwrap()
        .enrollment_code_for("s1", None, None)
        .await
        .unwrap()
        .code;
    let enrolled: Value = http
        .post(format!("{base}/v1/enroll"))
        .json(&json!({"code": code, "terminal_name": "till"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let auth = format!(
        "Bearer {}.{}",
        enrolled["terminal_id"].as_str().unwrap(),
        enrolled["secret"].as_str().unwrap()
    );

    each_answered("push", PUSHES, |_| {
        http.post(format!("{base}/v1/events"))
            .header("authorization", &auth)
            .json(&json!({"events": []}))
    })
    .await;

    let metrics = http
        .get(format!("{base}/metrics"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metric(&metrics, "tenpo_hub_log_lines_dropped_total") > 0.0,
        "{PUSHES} pushes' lines fitted in the pipe and the queue: the test proves nothing"
    );

    drop(hub);
}
