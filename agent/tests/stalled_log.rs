//! A till whose log nobody reads keeps selling. The agent's standard error is a pipe (to the
//! journal, or a supervisor); a reader that stops reading fills it, and a process that writes its
//! own log lines then waits on the pipe in the middle of a sale. Here the real agent runs at the
//! `info` level, where each sale logs a line, with its standard error a pipe this test never
//! reads: every sale must still be answered, and the lines that could not wait be counted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use serde_json::json;
use tenpo_e2e::harness::{each_answered, metric, start_with_unread_log};

/// Far more lines than a pipe (64 KB) and the log's queue (256 KB) hold together.
const SALES: usize = 4_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_nobody_reads_does_not_stop_the_sales() {
    let dir = tempfile::tempdir().unwrap();
    let mut program = Command::new(env!("CARGO_BIN_EXE_tenpo-agent"));
    program
        .args(["run", "--demo", "--data-dir"])
        .arg(dir.path());
    let (agent, base, client) = start_with_unread_log(program).await;
    let token = std::fs::read_to_string(dir.path().join("api-token")).unwrap();
    let token = token.trim();

    each_answered("sale", SALES, |n| {
        client
            .post(format!("{base}/v1/sales"))
            .bearer_auth(token)
            .json(&json!({
                "sale_id": format!("stalled-log-{n}"),
                "member_code": "2000000000015",
                "lines": [{"sku": "bento", "quantity": 1, "amount_yen": 580}],
            }))
    })
    .await;

    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(metric(&metrics, "tenpo_agent_sales_total"), SALES as f64);
    assert!(
        metric(&metrics, "tenpo_agent_log_lines_dropped_total") > 0.0,
        "{SALES} sales' lines fitted in the pipe and the queue: the test proves nothing"
    );

    drop(agent);
}
