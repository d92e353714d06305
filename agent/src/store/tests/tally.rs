//! The counts `/metrics` and `/v1/status` report, kept in memory (store/tally.rs), against the
//! tables they count, after each kind of write that adds or removes a row: new sales and their
//! replays, refunds, a refused sale, members made at the till, the hub's members new and again,
//! merged, removed, and the hub's part of the cache cleared; and again after reopening.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tenpo_loyalty::RuleSet;
use tenpo_protocol::agent::{RefundRequest, SaleLine, SaleRequest};

use super::removal::cache;
use super::*;
use crate::ledger::Ledger;
use tenpo_hw::CodeRules;

fn now() -> DateTime<Utc> {
    "2026-11-22T01:00:00Z".parse().unwrap()
}

fn ledger(path: &Path) -> Ledger {
    Ledger::new(
        Arc::new(Store::open(path).unwrap()),
        Arc::new(RuleSet::demo()),
        CodeRules::default(),
        chrono_tz::Asia::Tokyo,
        who(),
    )
}

fn sale(id: &str, code: Option<String>, amount_yen: i64) -> SaleRequest {
    SaleRequest {
        sale_id: id.into(),
        member_code: code,
        occurred_at: None,
        lines: vec![SaleLine {
            sku: "bento".into(),
            category: None,
            quantity: 1,
            amount_yen,
        }],
        redeem_points: None,
        coupon_ids: None,
    }
}

/// `(sales, refunds, members)` as the store reports them and as the tables hold them.
fn both(store: &Store) -> ((u64, u64, u64), (u64, u64, u64)) {
    let c = store.ledger_counts().unwrap();
    let kept = (c.sales, c.refunds, store.members_cached().unwrap());
    let counted = store
        .read(|c| {
            let n = |t: &str| -> Result<u64, StoreError> {
                Ok(c.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| {
                    r.get::<_, i64>(0)
                })?
                .unsigned_abs())
            };
            Ok((n("sales")?, n("refunds")?, n("members")?))
        })
        .unwrap();
    (kept, counted)
}

#[track_caller]
fn agrees(store: &Store, expected: (u64, u64, u64)) {
    let (kept, counted) = both(store);
    assert_eq!(counted, expected, "the tables");
    assert_eq!(kept, counted, "the counts kept against the tables");
}

#[test]
fn the_counts_kept_follow_every_write_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tenpo.db");
    let ledger = ledger(&path);
    let store = ledger.store().clone();
    agrees(&store, (0, 0, 0));

    // Two members made at the till by their first sales, and a sale with no card.
    let card = |n: u32| crate::demo::jan(&format!("2200000000{n:02}"));
    ledger
        .record_sale(&sale("s1", Some(card(1)), 1_200), now())
        .unwrap();
    ledger
        .record_sale(&sale("s2", Some(card(2)), 800), now())
        .unwrap();
    ledger.record_sale(&sale("s3", None, 500), now()).unwrap();
    agrees(&store, (3, 0, 2));

    // A retry answers from the record and adds nothing; a refused sale adds nothing.
    ledger
        .record_sale(&sale("s1", Some(card(1)), 1_200), now())
        .unwrap();
    assert!(ledger.record_sale(&sale("s1", None, 1), now()).is_err());
    assert!(ledger.record_sale(&sale("s4", None, -5), now()).is_err());
    agrees(&store, (3, 0, 2));

    // A refund, its retry.
    let refund = RefundRequest {
        refund_id: "s1-r1".into(),
        occurred_at: None,
        lines: vec![SaleLine {
            sku: "bento".into(),
            category: None,
            quantity: 1,
            amount_yen: 1_200,
        }],
    };
    ledger.record_refund("s1", &refund, now()).unwrap();
    ledger.record_refund("s1", &refund, now()).unwrap();
    agrees(&store, (3, 1, 2));

    // A transaction that fails after writing leaves the counts as they were.
    let failed: Result<(), StoreError> = store.write(|tx| {
        tx.remove_member("m-none")?;
        tx.clear_hub_cache()?;
        Err(StoreError::Bug("on purpose".into()))
    });
    assert!(failed.is_err());
    agrees(&store, (3, 1, 2));

    // The hub's members: new, sent again, and one merging the first provisional member.
    cache(&store, "h1", "2000000000015", &["2000000000015"]);
    cache(&store, "h2", "2000000000022", &["2000000000022"]);
    cache(&store, "h1", "2000000000015", &["2000000000015"]);
    agrees(&store, (3, 1, 4));
    let provisional: String = store
        .read(|c| {
            Ok(c.query_row(
                "SELECT member_id FROM members WHERE provisional = 1 ORDER BY member_id LIMIT 1",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    let (codes, state, merged) = (vec![card(9)], MemberState::default(), vec![provisional]);
    let merging = cache::Snapshot {
        member_id: "h3",
        number: &card(9),
        provisional: false,
        codes: &codes,
        state: &state,
        through: 0,
        merged_ids: &merged,
    };
    store
        .write(|tx| tx.upsert_snapshot(&merging, None, "now"))
        .unwrap();
    agrees(&store, (3, 1, 4));

    // Removed, then a member that is not there removed; then the hub's part cleared (the
    // provisional member left stays), with a member added after it in the same transaction.
    store.write(|tx| tx.remove_member("h2")).unwrap();
    store.write(|tx| tx.remove_member("h2")).unwrap();
    agrees(&store, (3, 1, 3));
    store
        .write(|tx| {
            tx.clear_hub_cache()?;
            tx.upsert_snapshot(&merging, None, "now")
        })
        .unwrap();
    agrees(&store, (3, 1, 2));

    drop(ledger);
    drop(store);
    let reopened = Store::open(&path).unwrap();
    agrees(&reopened, (3, 1, 2));
}
