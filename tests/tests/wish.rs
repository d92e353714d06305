//! A member's wish made at a till while the hub cannot be reached reaches the hub once the line
//! is back (docs/design.md §11): the real hub and agent processes, the agent's line to the hub
//! through a fault proxy. The agent records it offline like a sale (an outbox event); the sync
//! engine pushes it; the hub holds it as stored, the agent has nothing pending and nothing
//! quarantined, and the two ledgers agree.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::json;
use tenpo_e2e::card_code;
use tenpo_e2e::checks;
use tenpo_e2e::harness::{World, sync_u64, wait_until};
use tenpo_e2e::proxy::{Fault, FaultProxy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wish_made_offline_at_a_till_reaches_the_hub() {
    let world = World::new("wish");
    let mut hub = world.start_hub().await;
    let card = card_code(27, 1);
    hub.import_members(&world.members_csv("members.csv", &[(card.clone(), 100, 0)]))
        .await;
    let proxy = FaultProxy::start(hub.addr()).await.unwrap();
    let mut till = world
        .enroll_agent("till", &hub, "store-1", &proxy.url())
        .await;
    till.set_args(&["--sync-interval-ms", "1000"]);
    till.start().await;
    wait_until("the member cached", Duration::from_secs(30), || async {
        till.member(&card).await.ok()
    })
    .await;

    // The line goes down; the wish is recorded all the same.
    proxy.set(Fault::Refuse);
    let body = json!({
        "wish_id": "ctr-w-1",
        "member_code": card,
        "item": "4901234567894",
        "wants": ["restock", "price_drop"],
    });
    let r = till.wish(&body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let status = till.status().await;
    assert_eq!(status["pending_events"], 1, "{status}");

    proxy.set(Fault::Pass);
    till.sync_now_ok().await;
    let status = till.status().await;
    assert_eq!(status["pending_events"], 0, "{status}");
    assert_eq!(sync_u64(&status, "quarantined"), 0, "{status}");
    // Sent again, the same wish is the first answer and nothing new to push.
    let again = till.wish(&body).await;
    assert_eq!((again.status, &again.body), (200, &r.body));
    assert_eq!(till.status().await["pending_events"], 0);

    let ledger = hub.ledger().await;
    let terminal = till.terminal_id();
    let held: Vec<_> = ledger
        .events
        .iter()
        .filter(|e| e.terminal_id == terminal)
        .collect();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(
        (
            held[0].seq,
            held[0].kind.as_deref(),
            held[0].status.as_str()
        ),
        (1, Some("wish"), "stored"),
        "{held:?}"
    );
    let export = till.export().await;
    let summary = checks::ledger_union(&ledger, &[(terminal, &export)]);
    assert_eq!((summary.terminals, summary.events), (1, 1));
    hub.stop().await;
}
