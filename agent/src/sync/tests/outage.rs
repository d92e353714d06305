//! A hub that is down, then back (`Engine::run`): sales recorded meanwhile do not each send the
//! whole pending batch to nowhere, and the till catches up as soon as the hub answers again,
//! however long it was gone.
//!
//! The hub's address first holds a listener that reads each request's first line and hangs up
//! (nothing answers, as when the hub process is gone); then a stand-in that acknowledges every
//! event, serves an empty change feed and answers the health probe.

use std::sync::Mutex;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::routing::{get, post};
use tenpo_protocol::sync::{
    ChangesResponse, HubHealth, PushRequest, PushResponse, PushResult, PushStatus,
};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use super::*;
use crate::sync::SyncConfig;

/// Reads each request's first line (`POST /v1/events HTTP/1.1`) and hangs up.
async fn hang_up(listener: TcpListener, seen: Arc<Mutex<Vec<String>>>) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let mut head = [0u8; 64];
        let n = socket.read(&mut head).await.unwrap_or(0);
        let text = String::from_utf8_lossy(&head[..n]);
        seen.lock()
            .unwrap()
            .push(text.lines().next().unwrap_or_default().to_owned());
    }
}

pub(super) async fn ack(Json(req): Json<PushRequest>) -> Json<PushResponse> {
    let results: Vec<PushResult> = req
        .events
        .iter()
        .map(|item| {
            let event: serde_json::Value = serde_json::from_str(item.event.get()).unwrap();
            PushResult {
                seq: event["seq"].as_u64().unwrap(),
                status: PushStatus::Stored,
                reason: None,
            }
        })
        .collect();
    let mark = results.iter().map(|r| r.seq).max().unwrap_or(0);
    Json(PushResponse {
        acked_through: mark,
        results,
        hub_time: Utc::now(),
    })
}

pub(super) async fn changes() -> Json<ChangesResponse> {
    Json(ChangesResponse {
        changes: Vec::new(),
        next_cursor: "c1".into(),
        more: false,
        acked_through: None,
        hub_time: Utc::now(),
    })
}

async fn health() -> Json<HubHealth> {
    Json(HubHealth {
        status: "ok".into(),
        hub_time: Utc::now(),
    })
}

/// The hub's address with nothing answering there: a listener that records each request's
/// first line and hangs up.
struct HubDown {
    addr: std::net::SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    hanging: tokio::task::JoinHandle<()>,
}

impl HubDown {
    async fn listen() -> HubDown {
        let down = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = down.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let hanging = tokio::spawn(hang_up(down, seen.clone()));
        HubDown {
            addr,
            seen,
            hanging,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The hub back at its address: a stand-in that acknowledges every event, serves an empty
    /// change feed and answers the health probe.
    async fn back(self) {
        self.hanging.abort();
        let _ = self.hanging.await;
        let back = TcpListener::bind(self.addr).await.unwrap();
        let app = Router::new()
            .route("/v1/events", post(ack))
            .route("/v1/changes", get(changes))
            .route("/v1/health", get(health));
        tokio::spawn(async move { axum::serve(back, app).await });
    }
}

fn requests_to(seen: &Mutex<Vec<String>>, path: &str) -> usize {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|l| l.split(' ').nth(1).is_some_and(|p| p.starts_with(path)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sales_while_the_hub_is_down_wait_for_it_and_catch_up_when_it_answers() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(ledger(&dir));
    let hub = HubDown::listen().await;
    let (engine, shared) = engine_at(&ledger, &hub.url(), SyncConfig::default());
    let (stop, running) = run_engine(engine);

    // Sales for three seconds, each waking the engine as the API does.
    for n in 0..60 {
        ledger
            .record_sale(&sale(&format!("down-{n}"), None, 500, 0), now())
            .unwrap();
        shared.sync_now();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pushes = requests_to(&hub.seen, "/v1/events");
    let probes = requests_to(&hub.seen, "/v1/health");
    assert!(
        pushes <= 3,
        "{pushes} pushes to a hub that is down while 60 sales were recorded: each sale sent the \
         batch again ({probes} health probes)"
    );
    assert!(
        probes >= 1,
        "the engine never asked whether the hub is back"
    );

    // The hub comes back at its address: the till catches up without a sale or a restart.
    hub.back().await;
    let last = ledger.store().outbox_counts().unwrap().last_seq;
    assert!(
        all_pushed_within_5s(&ledger).await,
        "the till had not pushed its {last} events 5 s after the hub came back"
    );
    let _ = stop.send(());
    running.await.unwrap();
}

/// A till with nothing to push (a closed store whose line is down overnight) does not ask every
/// half second whether the hub is back: an idle agent has no periodic wake-up faster than
/// a second (docs/design.md §8). Its first sale starts the probes, and it catches up as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_till_does_not_probe_a_hub_that_is_down_until_it_has_a_sale_to_push() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(ledger(&dir));
    let hub = HubDown::listen().await;
    let (engine, shared) = engine_at(&ledger, &hub.url(), SyncConfig::default());
    // A wake left over from before, with nothing recorded since (the sales made while the hub
    // was down were all pushed in a pass the hub's going cut short): not a reason to probe.
    shared.sync_now();
    let (stop, running) = run_engine(engine);

    // Until the engine has tried the hub twice (a failure, its backoff, the next attempt),
    // within 10 s: a till that probes instead never makes the second attempt.
    for _ in 0..200 {
        if requests_to(&hub.seen, "/v1/changes") >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let idle_probes = requests_to(&hub.seen, "/v1/health");
    let attempts = requests_to(&hub.seen, "/v1/changes");
    assert_eq!(
        idle_probes, 0,
        "a till with nothing to push probed the hub {idle_probes} times ({attempts} pulls tried)"
    );
    assert!(
        attempts >= 2,
        "the engine did not try the hub again within 10 s"
    );

    ledger
        .record_sale(&sale("while-down", None, 500, 0), now())
        .unwrap();
    shared.sync_now();
    let mut probed = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if requests_to(&hub.seen, "/v1/health") > 0 {
            probed = true;
            break;
        }
    }
    assert!(
        probed,
        "2 s after a sale was recorded the till had not asked whether the hub is back"
    );

    hub.back().await;
    assert!(
        all_pushed_within_5s(&ledger).await,
        "the till had not pushed its sale 5 s after the hub came back"
    );
    let _ = stop.send(());
    running.await.unwrap();
}
