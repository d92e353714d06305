//! The exactly-once workload, shared by the tests that run it against one hub or several: two
//! tills recording sales, refunds, redemptions and new cards while their proxies run through
//! every fault mode.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::card_code;
use crate::harness::{Agent, Export, refund_body, sale_body, sync_u64, wait_until};
use crate::proxy::{Fault, FaultKind, FaultProxy};

/// Bounds the workload whatever happens to the fault cycle.
pub const MAX_SALES: usize = 300;

/// What one till recorded.
#[derive(Debug, Default)]
pub struct Workload {
    pub sales: usize,
    pub refunds: usize,
    pub redeemed: i64,
    pub new_cards: BTreeSet<String>,
}

/// Records sales on one till until `stop` (or [`MAX_SALES`]): imported members (shared with
/// the other till), new cards of this till, one new card shared with the other till, sales
/// without a member; every fifth member sale redeems 30 points; every sixth sale refunds a
/// line of an earlier one.
pub async fn record_sales(
    agent: &Agent,
    tag: &str,
    offset: usize,
    members: &[String],
    shared_card: &str,
    card_prefix: u8,
    stop: &AtomicBool,
) -> Workload {
    let mut w = Workload::default();
    let mut made: Vec<(String, Vec<i64>)> = Vec::new();
    for i in 0..MAX_SALES {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let sale_id = format!("{tag}-{i:04}");
        let (code, imported) = if i == 3 + offset % 2 {
            (Some(shared_card.to_owned()), false)
        } else if i % 9 == 4 {
            let c = card_code(card_prefix, i as u64);
            w.new_cards.insert(c.clone());
            (Some(c), false)
        } else if i % 11 == 10 {
            (None, false)
        } else {
            (
                Some(members[(i * 7 + offset) % members.len()].clone()),
                true,
            )
        };
        let amounts = if i % 4 == 0 {
            vec![1200, 800]
        } else {
            vec![500 + (i as i64 % 7) * 250]
        };
        let redeem = if imported && i % 5 == 2 { 30 } else { 0 };
        agent
            .sale_ok(&sale_body(&sale_id, code.as_deref(), &amounts, redeem))
            .await;
        w.sales += 1;
        w.redeemed += redeem;
        if i % 6 == 5 {
            let (earlier, amounts) = &made[i - 3];
            let r = agent
                .refund(
                    earlier,
                    &refund_body(&format!("{earlier}-r"), 0, amounts[0]),
                )
                .await;
            assert!(
                r.ok(),
                "{tag}: refund of {earlier}: {} {}",
                r.status,
                r.body
            );
            w.refunds += 1;
        }
        made.push((sale_id, amounts));
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    w
}

/// Runs one proxy through every fault mode: each for a few requests, then a seeded random mix
/// for 40 requests, then passes everything again.
pub async fn cycle_faults(proxy: &FaultProxy, seed: u64) {
    // The agent's hub client waits up to 60 s for a push; a blackhole is held at most 8 s so
    // the suite stays short (the agent sees a dead connection either way).
    proxy.set_blackhole_hold(Duration::from_secs(8));
    proxy.script(&[
        (Fault::Refuse, 3),
        (Fault::Delay(Duration::from_millis(150)), 3),
        (Fault::ResetAfter(0), 1),
        (Fault::ResetAfter(40), 1),
        (Fault::ResetAfter(200), 1),
        (Fault::CutAfterCommit, 4),
        (Fault::Blackhole, 1),
        (Fault::Refuse, 2),
        (Fault::CutAfterCommit, 3),
        (Fault::ResetAfter(90), 2),
    ]);
    wait_until(
        "the fault script to run through",
        Duration::from_secs(120),
        || async move { proxy.script_left() == 0 },
    )
    .await;
    let before = proxy.traffic().requests;
    proxy.set_mix(
        seed,
        &[
            (Fault::Pass, 5),
            (Fault::Refuse, 1),
            (Fault::Delay(Duration::from_millis(40)), 1),
            (Fault::ResetAfter(100), 1),
            (Fault::CutAfterCommit, 2),
        ],
    );
    wait_until(
        "40 requests under the random mix",
        Duration::from_secs(90),
        || async move { proxy.traffic().requests >= before + 40 },
    )
    .await;
    proxy.set(Fault::Pass);
}

/// Every proxy applied every fault kind at least once.
pub fn assert_every_fault(proxies: &[(&FaultProxy, &str)]) {
    for (proxy, name) in proxies {
        for kind in FaultKind::ALL {
            assert!(
                proxy.hits(kind) > 0,
                "proxy {name} never applied {}: {}",
                kind.name(),
                proxy.hits_summary()
            );
        }
    }
}

/// Faults off: both agents catch up, then each pulls what the other pushed. Answers their
/// ledgers, once each has nothing pending and the hub's mark is its last seq.
pub async fn catch_up(a: &Agent, b: &Agent) -> (Export, Export) {
    for agent in [a, b, a, b] {
        agent.sync_now_ok().await;
    }
    let (ea, eb) = (a.export().await, b.export().await);
    for (agent, export) in [(a, &ea), (b, &eb)] {
        let s = agent.status().await;
        assert_eq!(s["pending_events"], 0, "{}: {s}", agent.name);
        assert_eq!(
            sync_u64(&s, "acked_through"),
            export.last_seq(),
            "{}: acked_through is not the last seq: {s}",
            agent.name
        );
    }
    (ea, eb)
}

/// Every card code the workload used: the imported members, the shared card, each till's new
/// cards.
pub fn codes_used(
    members: &[String],
    shared_card: &str,
    a: &Workload,
    b: &Workload,
) -> Vec<String> {
    let mut codes = members.to_vec();
    codes.push(shared_card.to_owned());
    codes.extend(a.new_cards.iter().cloned());
    codes.extend(b.new_cards.iter().cloned());
    codes
}
