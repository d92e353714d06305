//! Unit tests of the sync engine's logic, each on a real SQLite file in a temporary directory:
//! the member view replayed from the hub's snapshot plus this till's events (`replay.rs`), and
//! what the engine does with the hub's answer to a push (`push.rs`), how it waits out a hub
//! that is down (`outage.rs`), how often a busy till syncs (`busy.rs`), and how it pulls a feed
//! of many pages (`feed.rs`). Events are recorded by the ledger itself, never built here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod busy;
mod echo;
mod feed;
mod outage;
mod push;
mod replay;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tenpo_loyalty::{MemberState, RuleSet};
use tenpo_protocol::agent::{RefundRequest, SaleLine, SaleRequest};

use crate::ledger::Ledger;
use crate::store::{Identity, Store};
use crate::sync::{Credentials, Engine, HubClient, Shared, SyncConfig};

/// This till's terminal id at the hub.
const TERMINAL: &str = "t1";

fn now() -> DateTime<Utc> {
    "2026-11-22T01:00:00Z".parse().unwrap()
}

/// A ledger on a new database in `dir`, with the demo program and an empty member cache.
fn ledger(dir: &tempfile::TempDir) -> Ledger {
    let store = Arc::new(Store::open(&dir.path().join("tenpo.db")).unwrap());
    Ledger::new(
        store,
        Arc::new(RuleSet::demo()),
        tenpo_hw::CodeRules::default(),
        chrono_tz::Asia::Tokyo,
        Identity {
            store_id: "s1".into(),
            terminal_id: TERMINAL.into(),
        },
    )
}

/// An engine for `ledger` whose hub is at `url` (a stand-in on loopback), and what it shares.
fn engine_at(ledger: &Arc<Ledger>, url: &str, config: SyncConfig) -> (Engine, Arc<Shared>) {
    let shared = Shared::new(url);
    let credentials = Credentials {
        hub_url: url.into(),
        store_id: "s1".into(),
        terminal_id: TERMINAL.into(),
        secret: "ab".repeat(32),
    };
    let client = HubClient::new(&credentials).unwrap();
    let engine = Engine::new(ledger.clone(), client, shared.clone(), config);
    (engine, shared)
}

/// Runs `engine` (`Engine::run`) until the sender is used or dropped.
fn run_engine(
    engine: Engine,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(engine.run(async {
        let _ = stopped.await;
    }));
    (stop, running)
}

/// Whether the hub acknowledged every event recorded so far within 5 s (checked every 50 ms).
async fn all_pushed_within_5s(ledger: &Ledger) -> bool {
    let last = ledger.store().outbox_counts().unwrap().last_seq;
    for _ in 0..100 {
        if ledger.store().outbox_counts().unwrap().acked_through == last {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

/// A sale of one `tea` line, for a member code or none.
fn sale(id: &str, code: Option<&str>, amount_yen: i64, redeem: i64) -> SaleRequest {
    SaleRequest {
        sale_id: id.into(),
        member_code: code.map(str::to_owned),
        occurred_at: None,
        lines: vec![SaleLine {
            sku: "tea".into(),
            category: None,
            quantity: 1,
            amount_yen,
        }],
        redeem_points: (redeem > 0).then_some(redeem),
        coupon_ids: None,
    }
}

/// A refund of the `tea` line of a sale.
fn refund(id: &str, amount_yen: i64) -> RefundRequest {
    RefundRequest {
        refund_id: id.into(),
        occurred_at: None,
        lines: vec![SaleLine {
            sku: "tea".into(),
            category: None,
            quantity: 1,
            amount_yen,
        }],
    }
}

/// The cached state of the member with this code.
fn state_of(ledger: &Ledger, code: &str) -> MemberState {
    ledger
        .store()
        .member_by_code(code)
        .unwrap()
        .expect("a cached member")
        .state
        .as_ref()
        .clone()
}
