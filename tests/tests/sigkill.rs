//! SIGKILL mid-sync: an agent with a backlog of more than 2,000 events is killed with SIGKILL
//! during its push, four times at different moments (mid-upload; once the hub has the whole
//! push but before its answer; just after the answer arrived; during the push after an
//! answered one), and restarted, recording more sales each time; then the hub is killed with
//! SIGKILL during a push (mid-upload, and once it has the whole push) and restarted.
//! Afterwards the hub's ledger is the union of the agent's ledger, each event once (pushes the
//! hub had stored come back as duplicates), the views agree, and the hub reports no conflict
//! and — one till alone — no discrepancy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tenpo_e2e::card_code;
use tenpo_e2e::checks;
use tenpo_e2e::harness::{Agent, World, sale_body, sync_u64, wait_until};
use tenpo_e2e::proxy::{Fault, FaultProxy, Traffic};

const MEMBERS: u64 = 8;
const BACKLOG: usize = 2_100;
/// Sleep before each forwarded chunk while a kill is aimed: a 500-event push takes a few
/// hundred milliseconds to upload.
const SLOW: Duration = Duration::from_millis(15);

/// Records `n` sales (four POS clients at once) for the members in turn; one in seven redeems
/// 10 points.
async fn record(agent: &Agent, tag: &str, n: usize, members: &[String]) {
    let client = |k: usize| async move {
        for i in (k..n).step_by(4) {
            let code = &members[i % members.len()];
            let amount = 300 + (i as i64 % 9) * 150;
            // Some redeem (within the offline limit: 10 points on one sale in seven).
            let redeem = if i % 7 == 3 { 10 } else { 0 };
            let id = format!("{tag}-{i:05}");
            agent
                .sale_ok(&sale_body(&id, Some(code), &[amount], redeem))
                .await;
        }
    };
    tokio::join!(client(0), client(1), client(2), client(3));
}

async fn pending(agent: &Agent) -> u64 {
    agent.status().await["pending_events"].as_u64().unwrap_or(0)
}

/// Waits until the proxy's traffic satisfies `cond`.
async fn traffic_until(proxy: &FaultProxy, what: &str, cond: impl Fn(Traffic) -> bool) {
    let cond = &cond;
    wait_until(what, Duration::from_secs(30), || async move {
        cond(proxy.traffic())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_event_once_across_sigkills_of_agent_and_hub() {
    let world = World::new("sigkill");
    let mut hub = world.start_hub().await;
    let members: Vec<String> = (1..=MEMBERS).map(|n| card_code(25, n)).collect();
    let rows: Vec<(String, i64, i64)> = members.iter().map(|c| (c.clone(), 1_000, 0)).collect();
    hub.import_members(&world.members_csv("members.csv", &rows))
        .await;
    let proxy = FaultProxy::start(hub.addr()).await.unwrap();
    let mut a = world.enroll_agent("a", &hub, "store-1", &proxy.url()).await;
    a.set_args(&["--sync-interval-ms", "1000"]);
    a.start().await;
    let agent = &a;
    wait_until(
        "the members cached",
        Duration::from_secs(30),
        || async move { sync_u64(&agent.status().await, "members_cached") >= MEMBERS },
    )
    .await;

    // A backlog: the hub unreachable while the till works.
    proxy.set(Fault::Refuse);
    record(&a, "backlog", BACKLOG, &members).await;
    let backlog = pending(&a).await;
    assert!(backlog >= 2_000, "only {backlog} events pending");

    // Kill the agent mid-push, four ways.
    let mut agent_kills = Vec::new();
    for round in 0..4 {
        proxy.set(Fault::Delay(SLOW));
        let t0 = proxy.traffic();
        a.trigger_sync().await;
        let moment = match round {
            0 => {
                traffic_until(&proxy, "a push to start", |t| {
                    t.pushes_started > t0.pushes_started
                })
                .await;
                tokio::time::sleep(Duration::from_millis(60)).await;
                "mid-upload"
            }
            1 => {
                traffic_until(&proxy, "a push to reach the hub", |t| {
                    t.pushes_forwarded > t0.pushes_forwarded
                })
                .await;
                "the hub has the whole push, its answer on the way"
            }
            2 => {
                traffic_until(&proxy, "a push answered", |t| {
                    t.pushes_answered > t0.pushes_answered
                })
                .await;
                "just after the hub's answer arrived"
            }
            _ => {
                traffic_until(&proxy, "a push answered and the next one started", |t| {
                    let answered = t.pushes_answered - t0.pushes_answered;
                    answered > 0 && t.pushes_started - t0.pushes_started > answered
                })
                .await;
                "during the push after an answered one"
            }
        };
        a.kill().await;
        proxy.set(Fault::Refuse);
        a.start().await;
        let left = pending(&a).await;
        agent_kills.push(format!("{moment}: {left} pending after the restart"));
        record(&a, &format!("after-kill-{round}"), 40, &members).await;
    }

    // Kill the hub mid-push, twice.
    let mut hub_kills = Vec::new();
    for round in 0..2 {
        if pending(&a).await < 600 {
            proxy.set(Fault::Refuse);
            record(&a, &format!("hub-backlog-{round}"), 600, &members).await;
        }
        proxy.set(Fault::Delay(SLOW));
        let t0 = proxy.traffic();
        a.trigger_sync().await;
        let moment = if round == 0 {
            traffic_until(&proxy, "a push to start", |t| {
                t.pushes_started > t0.pushes_started
            })
            .await;
            tokio::time::sleep(Duration::from_millis(60)).await;
            "mid-upload"
        } else {
            traffic_until(&proxy, "a push to reach the hub", |t| {
                t.pushes_forwarded > t0.pushes_forwarded
            })
            .await;
            "the hub has the whole push"
        };
        hub.kill().await;
        hub_kills.push(moment);
        hub.start().await;
    }

    proxy.set(Fault::Pass);
    a.sync_now_ok().await;
    a.sync_now_ok().await;
    let export = a.export().await;
    let s = a.status().await;
    assert_eq!(s["pending_events"], 0, "{s}");
    assert_eq!(sync_u64(&s, "acked_through"), export.last_seq(), "{s}");
    checks::views_agree(&hub, &[&a], &members, &world.rules).await;
    let conflicts = hub.conflicts().await;
    assert!(
        conflicts.is_empty(),
        "the hub reports conflicts: {conflicts:#?}"
    );
    // One till alone: the hub re-evaluates each sale on the same state the till had.
    let discrepancies = hub.discrepancies().await;
    assert!(
        discrepancies.is_empty(),
        "{} discrepancies with a single till, e.g. {:#?}",
        discrepancies.len(),
        discrepancies.first()
    );
    a.stop().await;
    let ledger = hub.ledger().await;
    hub.stop().await;
    let totals = hub.push_totals();
    assert!(
        totals.duplicate > 0,
        "no push was ever sent again after the hub stored it: the kills missed ({totals})"
    );
    assert_eq!((totals.conflict, totals.rejected), (0, 0), "{totals}");
    let summary = checks::ledger_union(&ledger, &[(a.terminal_id(), &export)]);
    let t = proxy.traffic();
    println!(
        "SIGKILL mid-sync: backlog {backlog} events; agent killed {} times ({}); hub killed {} \
         times ({}); {} events, all once at the hub; proxy: {} pushes started, {} reached the \
         hub, {} answered; {totals}; {:.1} s",
        agent_kills.len(),
        agent_kills.join("; "),
        hub_kills.len(),
        hub_kills.join("; "),
        summary.events,
        t.pushes_started,
        t.pushes_forwarded,
        t.pushes_answered,
        world.elapsed()
    );
}
