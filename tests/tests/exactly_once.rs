//! Exactly once under network faults: a hub and two agents of two stores, each agent talking
//! to the hub through its own fault proxy. Both tills record sales — some redeeming points,
//! some refunded, some for new (provisional) cards, one new card on both tills, and the same
//! imported members on both — while each proxy runs through every fault mode (a script of
//! each mode for a few requests, then a seeded random mix). Then the faults stop, both agents
//! `sync --now`, and:
//! - the hub's ledger is the union of the agents' ledgers: every (terminal, seq) once, stored,
//!   with the agent's event id and content hash; nothing missing, nothing twice;
//! - each agent's `acked_through` is its last seq, nothing pending;
//! - every member's view is the same at agent A, at agent B and in the hub's snapshot;
//! - the hub reports no conflict.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tenpo_e2e::card_code;
use tenpo_e2e::checks;
use tenpo_e2e::harness::{World, sync_u64, wait_until};
use tenpo_e2e::proxy::FaultProxy;
use tenpo_e2e::workload::{assert_every_fault, catch_up, codes_used, cycle_faults, record_sales};

const MEMBERS: u64 = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_event_once_and_one_view_under_network_faults() {
    let world = World::new("exactly-once");
    let mut hub = world.start_hub().await;
    let members: Vec<String> = (1..=MEMBERS).map(|n| card_code(21, n)).collect();
    let rows: Vec<(String, i64, i64)> = members
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                c.clone(),
                5_000,
                if i < 3 { 60_000 } else { 1_000 * i as i64 },
            )
        })
        .collect();
    hub.import_members(&world.members_csv("members.csv", &rows))
        .await;

    let pa = FaultProxy::start(hub.addr()).await.unwrap();
    let pb = FaultProxy::start(hub.addr()).await.unwrap();
    let mut a = world.enroll_agent("a", &hub, "store-1", &pa.url()).await;
    let mut b = world.enroll_agent("b", &hub, "store-2", &pb.url()).await;
    for agent in [&mut a, &mut b] {
        agent.set_args(&["--sync-interval-ms", "1000"]);
        agent.start().await;
    }
    for agent in [&a, &b] {
        wait_until(
            "the agent to cache the imported members",
            Duration::from_secs(30),
            || async move {
                let s = agent.status().await;
                sync_u64(&s, "members_cached") >= MEMBERS && s["sync"]["online"] == true
            },
        )
        .await;
    }

    let shared_card = card_code(22, 1);
    let stop = AtomicBool::new(false);
    let (wa, wb, ()) = tokio::join!(
        record_sales(&a, "a", 0, &members, &shared_card, 23, &stop),
        record_sales(&b, "b", 1, &members, &shared_card, 24, &stop),
        async {
            tokio::join!(cycle_faults(&pa, 1), cycle_faults(&pb, 2));
            stop.store(true, Ordering::SeqCst);
        }
    );
    assert_every_fault(&[(&pa, "A"), (&pb, "B")]);
    // Faults off: both catch up, then each pulls what the other pushed.
    let (ea, eb) = catch_up(&a, &b).await;
    let codes = codes_used(&members, &shared_card, &wa, &wb);
    checks::views_agree(&hub, &[&a, &b], &codes, &world.rules).await;
    let conflicts = hub.conflicts().await;
    assert!(
        conflicts.is_empty(),
        "the hub reports conflicts: {conflicts:#?}"
    );
    let discrepancies = hub.discrepancies().await.len();

    for agent in [&mut a, &mut b] {
        agent.stop().await;
    }
    let ledger = hub.ledger().await;
    hub.stop().await;
    let totals = hub.push_totals();
    assert_eq!(
        (totals.stored, totals.conflict, totals.rejected),
        (ledger.events.len() as u64, 0, 0),
        "every event stored once, none refused: {totals}"
    );
    let summary = checks::ledger_union(&ledger, &[(a.terminal_id(), &ea), (b.terminal_id(), &eb)]);
    assert_eq!(ea.sales, wa.sales);
    assert_eq!(eb.sales, wb.sales);
    println!(
        "exactly once under faults: A {} sales, {} refunds, {} pts redeemed, {} events; \
         B {} sales, {} refunds, {} pts redeemed, {} events; hub holds {} events of {} terminals, \
         0 conflicts, {discrepancies} discrepancies, {} members compared; proxy A: {} ({} pushes \
         started, {} answered); proxy B: {} ({} pushes started, {} answered); {totals}; {:.1} s",
        wa.sales,
        wa.refunds,
        wa.redeemed,
        ea.events.len(),
        wb.sales,
        wb.refunds,
        wb.redeemed,
        eb.events.len(),
        ledger.events.len(),
        summary.terminals,
        codes.len(),
        pa.hits_summary(),
        pa.traffic().pushes_started,
        pa.traffic().pushes_answered,
        pb.hits_summary(),
        pb.traffic().pushes_started,
        pb.traffic().pushes_answered,
        world.elapsed()
    );
}
