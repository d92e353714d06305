//! What must hold after a run: exactly once, and one view of every member.
#![allow(clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use tenpo_loyalty::{Date, RuleSet};
use tenpo_protocol::sync::MemberSnapshot;

use crate::harness::{Agent, Export, Hub, HubEvent, HubLedger};

/// What the ledger check saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LedgerSummary {
    pub terminals: usize,
    pub events: usize,
}

/// The hub's ledger equals the union of the agents' ledgers: for every terminal, the hub holds
/// exactly the agent's events — each `(terminal, seq)` once, stored (not rejected, not a
/// conflict), with the same event id and the same content hash — and nothing else; every
/// event id is held once; every agent's outbox is gap-free and wholly acknowledged, and the
/// hub's mark for each terminal is its last seq.
///
/// `agents` pairs each terminal id with its export.
pub fn ledger_union(ledger: &HubLedger, agents: &[(String, &Export)]) -> LedgerSummary {
    let hub: &[HubEvent] = &ledger.events;
    let mut problems: Vec<String> = Vec::new();
    let mut held: BTreeMap<(&str, u64), &HubEvent> = BTreeMap::new();
    for e in hub {
        if held.insert((e.terminal_id.as_str(), e.seq), e).is_some() {
            problems.push(format!(
                "the hub holds {} seq {} twice",
                e.terminal_id, e.seq
            ));
        }
    }
    let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
    for e in hub {
        if let Some(id) = &e.event_id {
            *ids.entry(id.as_str()).or_default() += 1;
        }
    }
    for (id, n) in ids.iter().filter(|(_, n)| **n > 1) {
        problems.push(format!("the hub holds event id {id} {n} times"));
    }
    let known: BTreeSet<&str> = agents.iter().map(|(t, _)| t.as_str()).collect();
    for e in hub
        .iter()
        .filter(|e| !known.contains(e.terminal_id.as_str()))
    {
        problems.push(format!(
            "the hub holds {} seq {} from a terminal no agent here is",
            e.terminal_id, e.seq
        ));
    }
    let mut events = 0;
    for (terminal, export) in agents {
        let seqs: Vec<u64> = export.events.iter().map(|e| e.seq).collect();
        let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
        if seqs != expected {
            problems.push(format!(
                "{terminal}: the outbox seq is not 1..={} without gaps",
                seqs.len()
            ));
        }
        for e in &export.events {
            events += 1;
            if !e.acked {
                problems.push(format!("{terminal} seq {}: not acknowledged", e.seq));
            }
            if let Some(reason) = &e.quarantine_reason {
                problems.push(format!("{terminal} seq {}: quarantined: {reason}", e.seq));
            }
            if e.event.seq != e.seq || e.event.terminal_id != *terminal {
                problems.push(format!(
                    "{terminal} seq {}: the payload says terminal {} seq {}",
                    e.seq, e.event.terminal_id, e.event.seq
                ));
            }
            match held.get(&(terminal.as_str(), e.seq)) {
                None => problems.push(format!(
                    "{terminal} seq {} ({} {}) is missing at the hub",
                    e.seq, e.kind, e.event_id
                )),
                Some(h) => {
                    if h.status != "stored" {
                        problems.push(format!(
                            "{terminal} seq {}: the hub holds it as {} ({})",
                            e.seq,
                            h.status,
                            h.reason.as_deref().unwrap_or("-")
                        ));
                    }
                    if h.event_id.as_deref() != Some(e.event_id.as_str()) {
                        problems.push(format!(
                            "{terminal} seq {}: event id {} at the agent, {:?} at the hub",
                            e.seq, e.event_id, h.event_id
                        ));
                    }
                    if h.hash != e.hash {
                        problems.push(format!(
                            "{terminal} seq {}: content hash {} at the agent, {} at the hub",
                            e.seq, e.hash, h.hash
                        ));
                    }
                }
            }
        }
        let mark = ledger.marks.get(terminal).copied().unwrap_or(0);
        if mark != export.last_seq() {
            problems.push(format!(
                "{terminal}: the hub's acked_through is {mark}, the agent's last seq {}",
                export.last_seq()
            ));
        }
        let at_hub = hub.iter().filter(|h| h.terminal_id == *terminal).count();
        if at_hub != export.events.len() {
            problems.push(format!(
                "{terminal}: the hub holds {at_hub} events, the agent recorded {}",
                export.events.len()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "the hub's ledger is not the union of the agents' ledgers ({} problems):\n{}",
        problems.len(),
        problems
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    LedgerSummary {
        terminals: agents.len(),
        events,
    }
}

/// What a cashier sees, as JSON, computed from the hub's snapshot the way the agent computes
/// its view (`MemberState::summary` on the business date, three expiry dates shown).
pub fn view_of_snapshot(s: &MemberSnapshot, rules: &RuleSet, date: Date) -> Value {
    let sum = s.state.summary(rules, date);
    let mut coupons: Vec<String> = sum.coupons.iter().map(|c| c.coupon_id.clone()).collect();
    coupons.sort();
    json!({
        "member_id": s.member_id,
        "number": s.number,
        "provisional": false,
        "tier": sum.tier,
        "points": {
            "balance": sum.balance,
            "expiring": sum.expiring.iter().take(3).map(|e| json!({
                "points": e.points,
                "expires_on": e.expires_on,
            })).collect::<Vec<_>>(),
        },
        "stamps": {"count": sum.stamps, "card_size": sum.card_size},
        "coupons": coupons,
        "qualifying_spend_yen": sum.qualifying_spend,
        "next_tier": sum.next_tier.map(|(name, remaining_yen)| json!({
            "name": name,
            "remaining_yen": remaining_yen,
        })),
    })
}

/// The same fields of an agent's `GET /v1/members/{code}` answer.
pub fn view_of_agent(v: &Value) -> Value {
    let mut coupons: Vec<String> = v["coupons"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["coupon_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    coupons.sort();
    json!({
        "member_id": v["member_id"],
        "number": v["number"],
        "provisional": v["provisional"],
        "tier": v["tier"],
        "points": {
            "balance": v["points"]["balance"],
            "expiring": v["points"]["expiring"],
        },
        "stamps": {"count": v["stamps"]["count"], "card_size": v["stamps"]["card_size"]},
        "coupons": coupons,
        "qualifying_spend_yen": v["qualifying_spend_yen"],
        "next_tier": v["next_tier"],
    })
}

/// Every agent shows every code's member exactly as the hub's snapshot says (once nothing
/// is pending anywhere). Returns the hub's snapshots by code.
pub async fn views_agree(
    hub: &Hub,
    agents: &[&Agent],
    codes: &[String],
    rules: &RuleSet,
) -> BTreeMap<String, MemberSnapshot> {
    let first = agents.first().expect("at least one agent");
    let status = first.status().await;
    let date: Date = serde_json::from_value(status["business_date"].clone())
        .unwrap_or_else(|e| panic!("the agent's status has no business_date: {e}: {status}"));
    let credential = first.credential();
    let mut problems = Vec::new();
    let mut snapshots = BTreeMap::new();
    for code in codes {
        let Some(snapshot) = hub.member(code, &credential).await else {
            problems.push(format!("{code}: the hub knows no member with this code"));
            continue;
        };
        let expected = view_of_snapshot(&snapshot, rules, date);
        for agent in agents {
            let r = agent.member(code).await;
            if !r.ok() {
                problems.push(format!(
                    "{code}: agent {} answered {}: {}",
                    agent.name, r.status, r.body
                ));
                continue;
            }
            let got = view_of_agent(&r.body);
            if got != expected {
                problems.push(format!(
                    "{code}: agent {} shows\n    {got}\n  the hub's snapshot is\n    {expected}",
                    agent.name
                ));
            }
        }
        snapshots.insert(code.clone(), snapshot);
    }
    assert!(
        problems.is_empty(),
        "member views disagree ({} problems):\n{}",
        problems.len(),
        problems
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    snapshots
}
