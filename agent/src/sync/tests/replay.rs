//! The member view is the hub's snapshot plus this till's events the snapshot does not include
//! (`apply::cache_member`, `apply::replay`, `WriteTx::local_outcomes`): `applied_through` for
//! this terminal says which are included. Each test records a day at the till (two sales and a
//! refund for a member the hub sent), then lets the hub's snapshot arrive at a given point of
//! that day and checks the cached state against the one the till computed itself.

use std::collections::BTreeMap;

use tenpo_loyalty::{PointLot, RefundOutcome, SaleOutcome};
use tenpo_protocol::sync::{Change, MemberSnapshot};

use super::*;
use crate::sync::apply::{apply_page, cache_member, held};

const MEMBER: &str = "m-hub-1";

fn code() -> String {
    crate::demo::jan("200000000007")
}

/// One of the till's recorded outcomes.
enum Outcome {
    Sale(SaleOutcome),
    Refund(RefundOutcome),
}

/// A till's day with one member the hub sent (`start`): seq 1 a sale redeeming points, seq 2
/// another sale, seq 3 a refund of the first.
struct Day {
    _dir: tempfile::TempDir,
    ledger: Ledger,
    rules: RuleSet,
    start: MemberState,
    /// The recorded outcomes, in seq order (seq = index + 1).
    outcomes: Vec<Outcome>,
    /// The member's state as the till computed it, sale by sale.
    till: MemberState,
}

fn snapshot(state: &MemberState, applied_through: &[(&str, u64)]) -> MemberSnapshot {
    MemberSnapshot {
        member_id: MEMBER.into(),
        number: code(),
        codes: vec![code()],
        provisional: false,
        state: state.clone(),
        applied_through: applied_through
            .iter()
            .map(|(t, seq)| ((*t).to_owned(), *seq))
            .collect::<BTreeMap<_, _>>(),
        merged_ids: Vec::new(),
    }
}

/// Caches a member as the hub sends it (the feed and the online lookup both come here).
fn receive(ledger: &Ledger, member: &MemberSnapshot) {
    ledger
        .store()
        .write(|tx| cache_member(tx, TERMINAL, member, &now().to_rfc3339()))
        .unwrap();
}

fn day() -> Day {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(&dir);
    let rules = RuleSet::demo();
    let earned_on = ledger.business_date(now()).add_months(-1);
    let start = MemberState {
        lots: vec![PointLot {
            lot_id: "import-1".into(),
            earned_on,
            expires_on: rules.expiry_for(earned_on),
            points: 1_000,
        }],
        ..MemberState::default()
    };
    receive(&ledger, &snapshot(&start, &[(TERMINAL, 0)]));
    let code = code();
    for req in [
        sale("a", Some(&code), 2_000, 300),
        sale("b", Some(&code), 1_500, 0),
    ] {
        ledger.record_sale(&req, now()).unwrap();
    }
    ledger
        .record_refund("a", &refund("r", 2_000), now())
        .unwrap();
    assert_eq!(ledger.store().outbox_counts().unwrap().last_seq, 3);

    let store = ledger.store();
    let sale_outcome = |id: &str| {
        let row = store.write(|tx| tx.sale(id)).unwrap().unwrap();
        Outcome::Sale(row.outcome.expect("a member's sale has an outcome"))
    };
    let refund_outcome: String = store
        .read(|c| {
            Ok(c.query_row(
                "SELECT outcome FROM refunds WHERE refund_id = 'r'",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    let outcomes = vec![
        sale_outcome("a"),
        sale_outcome("b"),
        Outcome::Refund(serde_json::from_str(&refund_outcome).unwrap()),
    ];
    let till = state_of(&ledger, &code);
    Day {
        _dir: dir,
        ledger,
        rules,
        start,
        outcomes,
        till,
    }
}

impl Day {
    /// The hub's state once it has applied the till's events 1..=`through`, as the hub applies
    /// them (a sale's outcome with the rules, a refund's without).
    fn hub_state(&self, through: usize) -> MemberState {
        let mut state = self.start.clone();
        for outcome in &self.outcomes[..through] {
            match outcome {
                Outcome::Sale(o) => state.take_sale(o, Some(&self.rules)),
                Outcome::Refund(o) => state.take_refund(o, None),
            }
        }
        state
    }

    fn cached(&self) -> MemberState {
        state_of(&self.ledger, &code())
    }
}

/// Events after this terminal's `applied_through` are not in the snapshot: they are replayed
/// on top of it, so the view is the till's own state, not the hub's older one.
#[test]
fn events_the_snapshot_does_not_include_are_replayed_on_it() {
    let day = day();
    for through in [0, 1] {
        let hub = day.hub_state(through);
        assert_ne!(hub, day.till, "the hub is behind the till");
        receive(&day.ledger, &snapshot(&hub, &[(TERMINAL, through as u64)]));
        assert_eq!(day.cached(), day.till, "applied_through {through}");
    }
}

/// Events up to this terminal's `applied_through` are already in the snapshot: replaying them
/// again would count a sale or a refund twice.
#[test]
fn events_the_snapshot_includes_are_not_applied_again() {
    let day = day();
    assert_eq!(
        day.hub_state(3),
        day.till,
        "the hub computes what the till did"
    );
    for through in [2, 3] {
        let hub = day.hub_state(through);
        receive(&day.ledger, &snapshot(&hub, &[(TERMINAL, through as u64)]));
        assert_eq!(day.cached(), day.till, "applied_through {through}");
    }
}

/// Only this terminal's entry in `applied_through` counts: another till's mark says nothing
/// about this till's events.
#[test]
fn only_this_terminals_applied_through_counts() {
    let day = day();
    receive(&day.ledger, &snapshot(&day.start, &[("t2", 3)]));
    assert_eq!(day.cached(), day.till);
    receive(
        &day.ledger,
        &snapshot(&day.hub_state(1), &[("t2", 9), (TERMINAL, 1)]),
    );
    assert_eq!(day.cached(), day.till);
}

/// Through the change feed, page by page and with sales in between, the view stays the till's
/// own state: a sale recorded after a snapshot builds on it, and a later snapshot that does not
/// include that sale keeps it; a page sent again changes nothing.
#[test]
fn the_feed_keeps_the_tills_state_as_sales_go_on() {
    let day = day();
    let page = |through: usize, cursor: &str| {
        let member = snapshot(&day.hub_state(through), &[(TERMINAL, through as u64)]);
        let changes = [Change::Member { member }];
        // As the engine applies a page: what the cache already holds is not written again.
        let held = held(day.ledger.store(), TERMINAL, &changes).unwrap();
        day.ledger
            .store()
            .write(|tx| apply_page(tx, TERMINAL, &changes, &held, cursor, &now().to_rfc3339()))
            .unwrap();
    };
    page(1, "c1");
    assert_eq!(day.cached(), day.till);

    let before_c = day.cached();
    day.ledger
        .record_sale(&sale("c", Some(&code()), 3_000, 0), now())
        .unwrap();
    let c = day
        .ledger
        .store()
        .write(|tx| tx.sale("c"))
        .unwrap()
        .unwrap();
    let mut till = before_c.clone();
    till.take_sale(c.outcome.as_ref().unwrap(), Some(&day.rules));
    assert_eq!(day.cached(), till, "the sale built on the replayed state");

    page(3, "c2");
    assert_eq!(day.cached(), till, "seq 4 is not in the snapshot: kept");
    page(3, "c2");
    assert_eq!(day.cached(), till, "the same page again");
    assert_eq!(day.ledger.store().feed_cursor().unwrap(), "c2");
}

/// A new card sold here makes a provisional member; when the hub knows the card as its member,
/// that sale counts on the hub's member once: not again when the snapshot includes it (the
/// hub merged the provisional id), and not dropped when it does not yet (a page in flight while
/// the card was sold).
#[test]
fn a_provisional_members_sale_counts_once_on_the_hubs_member() {
    for hub_applied_it in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let ledger = ledger(&dir);
        let rules = RuleSet::demo();
        let card = code();
        ledger
            .record_sale(&sale("p", Some(&card), 2_500, 0), now())
            .unwrap();
        let provisional = ledger.store().member_by_code(&card).unwrap().unwrap();
        assert!(provisional.provisional);
        let row = ledger.store().write(|tx| tx.sale("p")).unwrap().unwrap();
        let outcome = row.outcome.unwrap();

        let earned_on = ledger.business_date(now()).add_months(-2);
        let hub_before = MemberState {
            lots: vec![PointLot {
                lot_id: "import-9".into(),
                earned_on,
                expires_on: rules.expiry_for(earned_on),
                points: 400,
            }],
            ..MemberState::default()
        };
        let mut expected = hub_before.clone();
        expected.take_sale(&outcome, Some(&rules));
        let member = if hub_applied_it {
            // Seq 1 is the provisional member, seq 2 its sale.
            MemberSnapshot {
                merged_ids: vec![provisional.member_id.clone()],
                ..snapshot(&expected, &[(TERMINAL, 2)])
            }
        } else {
            snapshot(&hub_before, &[])
        };
        receive(&ledger, &member);
        let cached = ledger.store().member_by_code(&card).unwrap().unwrap();
        assert_eq!(cached.member_id, MEMBER, "hub applied it: {hub_applied_it}");
        assert_eq!(*cached.state, expected, "hub applied it: {hub_applied_it}");
    }
}
