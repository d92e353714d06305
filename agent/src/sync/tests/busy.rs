//! A busy till (`Engine::run`, `settle_after`): sales that keep waking the engine bring a pass
//! a second, not one every few sales, and a sale after a quiet while goes [`PUSH_SETTLE`]
//! later. The hub is outage.rs's stand-in that acknowledges every event, on loopback.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use super::outage::{ack, changes};
use super::*;
use crate::sync::{BUSY_PASS_EVERY, PUSH_SETTLE, SyncConfig, settle_after};

/// The wait before the next pass, by how long ago the last one began.
#[test]
fn a_busy_till_waits_out_the_second_and_a_quiet_one_only_the_settle() {
    // Woken as a pass ended (the sales of a busy till): the next begins a second after it.
    assert_eq!(
        settle_after(Duration::from_millis(10)),
        Duration::from_millis(990)
    );
    assert_eq!(
        settle_after(Duration::from_millis(700)),
        Duration::from_millis(300)
    );
    // A sale after a quiet while: only the moment for the sales that follow it.
    assert_eq!(settle_after(BUSY_PASS_EVERY - PUSH_SETTLE), PUSH_SETTLE);
    assert_eq!(settle_after(Duration::from_secs(15)), PUSH_SETTLE);
}

/// Sales every 20 ms for two seconds, each waking the engine as the API does: a pass a
/// second (each pushes what came in meanwhile), and every event reaches the hub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_till_passes_once_a_second_and_pushes_every_sale() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(ledger(&dir));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/v1/events", post(ack))
        .route("/v1/changes", get(changes));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (engine, shared) = engine_at(&ledger, &url, SyncConfig::default());
    let (stop, running) = run_engine(engine);
    // The engine's first pass, at start, before any sale.
    for _ in 0..100 {
        if shared.passes.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = shared.passes.load(Ordering::SeqCst);
    assert_eq!(before, 1, "the engine made its first pass");

    let selling = std::time::Instant::now();
    for n in 0..100 {
        ledger
            .record_sale(&sale(&format!("busy-{n}"), None, 500, 0), now())
            .unwrap();
        shared.sync_now();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = selling.elapsed();
    let passes = shared.passes.load(Ordering::SeqCst) - before;
    // At most one pass begins in each second the sales took (two or more: a slower machine
    // only stretches them), and one may still be under way from the second before. With only
    // the settle between them it was one every ~0.2 s, ten or more in two seconds.
    let most = took.as_millis().div_ceil(BUSY_PASS_EVERY.as_millis()) + 1;
    assert!(
        (1..=most).contains(&u128::from(passes)),
        "{passes} passes while 100 sales were recorded over {took:?} (at most {most})"
    );

    let last = ledger.store().outbox_counts().unwrap().last_seq;
    assert!(
        all_pushed_within_5s(&ledger).await,
        "the till had not pushed its {last} events 5 s after its last sale"
    );
    let _ = stop.send(());
    running.await.unwrap();
}
