//! Exactly once with two hub processes on one PostgreSQL database (docs/design.md §12): each
//! agent reaches both hubs through its own fault proxy, which takes them in turn as a load
//! balancer would, so one terminal's pushes and their retries land at either hub, sometimes at
//! both at once. The exactly-once workload runs (every fault mode, then a seeded mix) and, in
//! the middle of it, one hub is SIGKILLed while pushes are in flight and started again. Then:
//! - the hub's ledger is the union of the agents' ledgers, every (terminal, seq) once, read at
//!   either hub (they are one database);
//! - each agent's `acked_through` is its last seq, nothing pending;
//! - every member's view is the same at agent A, at agent B and at both hubs;
//! - no conflict, and the two hubs' logs together stored each event once.
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
async fn every_event_once_with_two_hubs_on_one_database_and_one_killed() {
    let world = World::new("exactly-once-postgres");
    let database = tenpo_e2e::postgres::cluster().fresh_database().await;
    let mut one = world.start_hub_on("1", &database).await;
    let mut two = world.start_hub_on("2", &database).await;
    one.load_rules(&world.rules_file()).await;
    let members: Vec<String> = (1..=MEMBERS).map(|n| card_code(21, n)).collect();
    let rows: Vec<(String, i64, i64)> = members
        .iter()
        .enumerate()
        .map(|(i, c)| (c.clone(), 5_000, 1_000 * i as i64))
        .collect();
    // Imported through one hub, enrolled through the other.
    one.import_members(&world.members_csv("members.csv", &rows))
        .await;
    let hubs = vec![one.addr(), two.addr()];
    let pa = FaultProxy::balancing(hubs.clone()).await.unwrap();
    let pb = FaultProxy::balancing(hubs).await.unwrap();
    let mut a = world.enroll_agent("a", &two, "store-1", &pa.url()).await;
    let mut b = world.enroll_agent("b", &one, "store-2", &pb.url()).await;
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
    let (wa, wb, (), ()) = tokio::join!(
        record_sales(&a, "a", 0, &members, &shared_card, 23, &stop),
        record_sales(&b, "b", 1, &members, &shared_card, 24, &stop),
        async {
            tokio::join!(cycle_faults(&pa, 1), cycle_faults(&pb, 2));
            stop.store(true, Ordering::SeqCst);
        },
        async {
            // Once pushes are flowing through both hubs: hub two dies mid-push, and comes back.
            wait_until(
                "pushes through both proxies",
                Duration::from_secs(60),
                || async { pa.traffic().pushes_started >= 5 && pb.traffic().pushes_started >= 5 },
            )
            .await;
            two.kill().await;
            // Down until pushes have met it down: a few started after the kill, at both proxies.
            let (sa, sb) = (pa.traffic().pushes_started, pb.traffic().pushes_started);
            wait_until(
                "pushes while hub two is down",
                Duration::from_secs(60),
                || async {
                    pa.traffic().pushes_started >= sa + 2 && pb.traffic().pushes_started >= sb + 2
                },
            )
            .await;
            two.start().await;
        }
    );
    assert_every_fault(&[(&pa, "A"), (&pb, "B")]);
    let (ea, eb) = catch_up(&a, &b).await;
    let codes = codes_used(&members, &shared_card, &wa, &wb);
    checks::views_agree(&one, &[&a, &b], &codes, &world.rules).await;
    checks::views_agree(&two, &[&a, &b], &codes, &world.rules).await;
    let conflicts = one.conflicts().await;
    assert!(conflicts.is_empty(), "conflicts: {conflicts:#?}");

    for agent in [&mut a, &mut b] {
        agent.stop().await;
    }
    let ledger = one.ledger().await;
    let at_two = two.ledger().await;
    assert_eq!(ledger.events, at_two.events, "one database, one ledger");
    one.stop().await;
    two.stop().await;
    let summary = checks::ledger_union(&ledger, &[(a.terminal_id(), &ea), (b.terminal_id(), &eb)]);
    let (t1, t2) = (one.push_totals(), two.push_totals());
    // What the killed hub stored before it logged the push is in neither log; everything else
    // was stored once, by one hub or the other, and nothing was refused.
    assert!(
        t1.stored + t2.stored <= ledger.events.len() as u64,
        "stored twice? {t1} / {t2}"
    );
    assert_eq!(
        (t1.conflict + t2.conflict, t1.rejected + t2.rejected),
        (0, 0)
    );
    assert!(
        t1.pushes > 0 && t2.pushes > 0,
        "both hubs took pushes: {t1} / {t2}"
    );
    assert_eq!((ea.sales, eb.sales), (wa.sales, wb.sales));
    println!(
        "exactly once, two hubs on PostgreSQL: A {} sales, {} events; B {} sales, {} events; \
         the database holds {} events of {} terminals, 0 conflicts, {} members compared at \
         both hubs; hub 1: {t1}; hub 2 (SIGKILLed once): {t2}; proxy A: {}; proxy B: {}; \
         {:.1} s",
        wa.sales,
        ea.events.len(),
        wb.sales,
        eb.events.len(),
        ledger.events.len(),
        summary.terminals,
        codes.len(),
        pa.hits_summary(),
        pb.hits_summary(),
        world.elapsed()
    );
}
