//! Crash safety: a client records sales while the real agent process is killed with SIGKILL
//! several times and restarted. Every sale that got a 2xx is there exactly once afterwards, the
//! outbox `seq` has no gap, and a POS retrying a sale whose answer it never got records it once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde_json::json;
use tenpo_e2e::harness::free_port;

const KILLS: usize = 5;
const CLIENTS: usize = 3;

fn start_agent(dir: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tenpo-agent"))
        .args(["run", "--demo", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// A client whose every request ends within 10 s.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Starts the agent, waits until it answers, and reads its API token.
async fn started(dir: &std::path::Path, port: u16, client: &reqwest::Client) -> (Child, String) {
    let agent = start_agent(dir, port);
    wait_ready(client, &format!("http://127.0.0.1:{port}")).await;
    let token = std::fs::read_to_string(dir.join("api-token"))
        .unwrap()
        .trim()
        .to_owned();
    (agent, token)
}

/// Polls health until the agent answers (bounded: 20 s).
async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{base}/v1/health")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the agent did not come up at {base}");
}

const CODES: [&str; 3] = ["2000000000015", "2000000000022", "2000000000039"];

fn body(id: &str, n: usize) -> serde_json::Value {
    json!({
        "sale_id": id,
        "member_code": CODES[n % 3],
        "lines": [{"sku": "item", "quantity": 1, "amount_yen": 500 + (n as i64 % 7) * 250}],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sales_survive_sigkill_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = client();
    let next = Arc::new(AtomicUsize::new(0));
    let mut acked: BTreeSet<String> = BTreeSet::new();
    let mut unanswered: BTreeSet<String> = BTreeSet::new();

    for round in 0..KILLS {
        let (mut agent, token) = started(dir.path(), port, &client).await;
        // Kill after a varying number of answered sales, while the other clients are mid-request.
        let kill_after = 15 + round * 11;
        let answered = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..CLIENTS {
            let (client, base, token, next, answered) = (
                client.clone(),
                base.clone(),
                token.clone(),
                next.clone(),
                answered.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut ok = Vec::new();
                let mut lost = Vec::new();
                // Bounded: each client stops at its first failure (the kill) or after 500 sales.
                for _ in 0..500 {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    let id = format!("crash-{n:05}");
                    let sent = client
                        .post(format!("{base}/v1/sales"))
                        .bearer_auth(&token)
                        .json(&body(&id, n))
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status().is_success() => {
                            ok.push(id);
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(r) => panic!("sale {id} refused: {}", r.status()),
                        Err(_) => {
                            lost.push(id);
                            break;
                        }
                    }
                }
                (ok, lost)
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while answered.load(Ordering::SeqCst) < kill_after && Instant::now() < deadline {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        agent.kill().unwrap(); // SIGKILL
        agent.wait().unwrap();
        for t in tasks {
            let (ok, lost) = t.await.unwrap();
            acked.extend(ok);
            unanswered.extend(lost);
        }
        assert!(
            answered.load(Ordering::SeqCst) >= kill_after,
            "round {round}: too few sales answered"
        );
    }

    // Restart once more; the POS retries every sale it never got an answer for.
    let (mut agent, token) = started(dir.path(), port, &client).await;
    for id in &unanswered {
        let n: usize = id.trim_start_matches("crash-").parse().unwrap();
        let r = client
            .post(format!("{base}/v1/sales"))
            .bearer_auth(&token)
            .json(&body(id, n))
            .send()
            .await
            .unwrap();
        assert!(
            matches!(r.status().as_u16(), 200 | 201),
            "retry of {id}: {}",
            r.status()
        );
    }
    agent.kill().unwrap();
    agent.wait().unwrap();

    let conn = Connection::open(dir.path().join("tenpo.db")).unwrap();
    let sales: BTreeSet<String> = conn
        .prepare("SELECT sale_id FROM sales")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for id in &acked {
        assert!(sales.contains(id), "acknowledged sale {id} was lost");
    }
    for id in &unanswered {
        assert!(sales.contains(id), "retried sale {id} is missing");
    }
    let seqs: Vec<i64> = conn
        .prepare("SELECT seq FROM outbox ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "the outbox seq has a gap"
    );
    let sale_events: i64 = conn
        .query_row("SELECT COUNT(*) FROM outbox WHERE kind = 'sale'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(
        sale_events as usize,
        sales.len(),
        "one sale event per sale, no more"
    );
    let distinct: i64 = conn
        .query_row(
            "SELECT COUNT(DISTINCT json_extract(payload, '$.body.sale_id')) FROM outbox WHERE kind = 'sale'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        distinct as usize,
        sales.len(),
        "each sale recorded exactly once"
    );
    let mismatched: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sales s JOIN outbox o ON o.seq = s.seq
             WHERE json_extract(o.payload, '$.body.sale_id') <> s.sale_id",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(mismatched, 0);
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    assert!(
        acked.len() >= KILLS * 15,
        "the test exercised too little: {} sales",
        acked.len()
    );
    eprintln!(
        "{} sales acknowledged across {KILLS} SIGKILLs, {} retried after losing their answer, {} events",
        acked.len(),
        unanswered.len(),
        seqs.len()
    );
}

/// A member's state after each sale is held in memory and written every 30 s (store/held.rs),
/// so a SIGKILL between two writes loses the rows of the sales and refunds since. Nothing a
/// member sees may change: each member's view (points, lots, stamps, spend, tier) after the
/// restart is the one before the kill, read back from the outbox, and the next sale counts
/// from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_states_survive_sigkill_before_they_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = client();
    let (mut agent, token) = started(dir.path(), port, &client).await;
    let sell = |id: String, n: usize| {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        async move {
            let r = client
                .post(format!("{base}/v1/sales"))
                .bearer_auth(&token)
                .json(&body(&id, n))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "sale {id}: {}", r.status());
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    let views = || async {
        let mut out = Vec::new();
        for code in CODES {
            let r = client
                .get(format!("{base}/v1/members/{code}"))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "member {code}: {}", r.status());
            out.push(r.json::<serde_json::Value>().await.unwrap());
        }
        out
    };
    // Well inside the first 30 s, when nothing has been written yet.
    for n in 0..30 {
        sell(format!("held-{n:03}"), n).await;
    }
    let refunded = client
        .post(format!("{base}/v1/sales/held-004/refunds"))
        .bearer_auth(&token)
        .json(&json!({
            "refund_id": "held-r1",
            "lines": [{"sku": "item", "quantity": 1, "amount_yen": 1500}],
        }))
        .send()
        .await
        .unwrap();
    assert!(refunded.status().is_success(), "{}", refunded.status());
    let before = views().await;
    agent.kill().unwrap(); // SIGKILL
    agent.wait().unwrap();

    // The kill came before the states were written: rows behind the outbox, or none.
    let conn = Connection::open(dir.path().join("tenpo.db")).unwrap();
    let last_seq: i64 = conn
        .query_row("SELECT MAX(seq) FROM outbox", [], |r| r.get(0))
        .unwrap();
    let written: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM member_states WHERE through >= ?1",
            [last_seq],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        written, 0,
        "a state was written before the kill: the test saw no recovery"
    );
    drop(conn);

    let (mut agent, _) = started(dir.path(), port, &client).await;
    assert_eq!(
        views().await,
        before,
        "the members' views after the restart"
    );
    // And the next sale counts from there.
    let earned_before = before[0]["points"]["balance"].as_i64().unwrap();
    let sale = sell("held-after".to_owned(), 0).await;
    assert_eq!(
        sale["balance_after"].as_i64().unwrap(),
        earned_before + sale["earned_points"].as_i64().unwrap(),
        "{sale}"
    );
    agent.kill().unwrap();
    agent.wait().unwrap();
}
