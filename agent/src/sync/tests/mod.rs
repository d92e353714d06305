//! Unit tests of the sync engine's logic, each on a real SQLite file in a temporary directory:
//! the member view replayed from the hub's snapshot plus this till's events (`replay.rs`), and
//! what the engine does with the hub's answer to a push (`push.rs`), how it waits out a hub
//! that is down (`outage.rs`), and how it pulls a feed of many pages (`feed.rs`). Events are recorded by the
//! ledger itself, never built here.

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
}
