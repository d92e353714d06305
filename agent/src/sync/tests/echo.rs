//! The hub's echo of this till's own sales (`apply::held`): every pull after a push brings
//! back the members the till just sold to, as the hub now has them, which is what the till
//! already holds. A page of such echoes writes its cursor alone; anything the page really
//! changes is written, in order.

use std::collections::BTreeMap;

use tenpo_loyalty::PointLot;
use tenpo_protocol::sync::{Change, MemberSnapshot};

use super::*;
use crate::store::wal_probe;
use crate::sync::apply::{apply_page, cache_member, held};

const MEMBERS: usize = 30;

fn member_id(n: usize) -> String {
    format!("m-{n}")
}

fn card(n: usize) -> String {
    crate::demo::jan(&format!("2100000{n:05}"))
}

/// Member `n` as the hub sends it: `state`, including this till's events through `through`.
fn snapshot(n: usize, state: &MemberState, through: u64) -> MemberSnapshot {
    MemberSnapshot {
        member_id: member_id(n),
        number: card(n),
        codes: vec![card(n)],
        provisional: false,
        state: state.clone(),
        applied_through: BTreeMap::from([(TERMINAL.to_owned(), through)]),
        merged_ids: Vec::new(),
    }
}

/// A till that was sent `MEMBERS` members, each among a hundred others (so that, as in a real
/// cache, no two share a page of the file), and then sold to each once; the events' seqs are
/// 1..=MEMBERS, member `n`'s sale being seq `n + 1`.
fn till_after_a_round_of_sales(dir: &tempfile::TempDir) -> Ledger {
    let ledger = ledger(dir);
    ledger
        .store()
        .write(|tx| {
            for n in 0..MEMBERS {
                cache_member(
                    tx,
                    TERMINAL,
                    &snapshot(n, &MemberState::default(), 0),
                    &now().to_rfc3339(),
                )?;
                for k in 0..100 {
                    let other = MemberSnapshot {
                        member_id: format!("{}-{k:03}", member_id(n)),
                        number: format!("other-{n}-{k}"),
                        codes: vec![format!("other-{n}-{k}")],
                        ..snapshot(n, &MemberState::default(), 0)
                    };
                    cache_member(tx, TERMINAL, &other, &now().to_rfc3339())?;
                }
            }
            Ok::<(), crate::store::StoreError>(())
        })
        .unwrap();
    for n in 0..MEMBERS {
        ledger
            .record_sale(
                &sale(&format!("s{n}"), Some(&card(n)), 1_000 + n as i64, 0),
                now(),
            )
            .unwrap();
    }
    ledger
}

/// The echo of every sale: each member as the till holds it, through its sale.
fn echoes(ledger: &Ledger) -> Vec<Change> {
    (0..MEMBERS)
        .map(|n| Change::Member {
            member: snapshot(n, &state_of(ledger, &card(n)), n as u64 + 1),
        })
        .collect()
}

/// Applies a page as the engine does, and returns the pages its commit wrote.
fn apply(ledger: &Ledger, dir: &tempfile::TempDir, changes: &[Change], cursor: &str) -> u64 {
    let store = ledger.store();
    wal_probe::frames_of(&dir.path().join("tenpo.db"), || {
        let held = held(store, TERMINAL, changes).unwrap();
        store
            .write(|tx| apply_page(tx, TERMINAL, changes, &held, cursor, &now().to_rfc3339()))
            .unwrap();
    })
}

fn states(ledger: &Ledger) -> Vec<MemberState> {
    (0..MEMBERS).map(|n| state_of(ledger, &card(n))).collect()
}

#[test]
fn a_page_of_echoes_writes_its_cursor_alone() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = till_after_a_round_of_sales(&dir);
    let before = states(&ledger);
    let page = echoes(&ledger);
    assert_eq!(
        held(ledger.store(), TERMINAL, &page).unwrap(),
        vec![true; MEMBERS]
    );
    // The cursor's row, and page 1 if the file grew (before: a page per member, 30 or more).
    let frames = apply(&ledger, &dir, &page, "after-echoes");
    assert!(frames <= 2, "{frames} pages written for a page of echoes");
    assert_eq!(states(&ledger), before);
    assert_eq!(ledger.store().feed_cursor().unwrap(), "after-echoes");

    // The till sells to member 0 again before the next page: that echo (through its first
    // sale) no longer holds all the member has, and the sale made since is kept on top.
    ledger
        .record_sale(&sale("again", Some(&card(0)), 2_000, 0), now())
        .unwrap();
    let after_again = state_of(&ledger, &card(0));
    let held_now = held(ledger.store(), TERMINAL, &page).unwrap();
    assert!(!held_now[0] && held_now[1..].iter().all(|h| *h));
    apply(&ledger, &dir, &page, "again");
    assert_eq!(state_of(&ledger, &card(0)), after_again);
}

/// What the page changes is written: a member another till sold to, a member sent twice in
/// one page (the later one counts), a code revoked beside its member's echo.
#[test]
fn what_a_page_changes_is_written_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = till_after_a_round_of_sales(&dir);
    let mut page = echoes(&ledger);
    let today = ledger.business_date(now());

    // Member 1: another till's sale is in the hub's state too.
    let mut elsewhere = state_of(&ledger, &card(1));
    elsewhere.lots.push(PointLot {
        lot_id: "other-till".into(),
        earned_on: today,
        expires_on: ledger.rules().expiry_for(today),
        points: 77,
    });
    page[1] = Change::Member {
        member: snapshot(1, &elsewhere, 2),
    };
    // Member 2: sent twice; the first would change it, the second (the echo) is its state now.
    let echo_2 = page[2].clone();
    page[2] = Change::Member {
        member: snapshot(2, &elsewhere, 3),
    };
    page.push(echo_2);
    // Member 3: its card revoked in the same page.
    page.push(Change::CodeRevoked { code: card(3) });

    let held = held(ledger.store(), TERMINAL, &page).unwrap();
    assert_eq!(&held[..4], &[true, false, false, false]);
    let expected_2 = state_of(&ledger, &card(2));
    apply(&ledger, &dir, &page, "changes");
    assert_eq!(state_of(&ledger, &card(1)), elsewhere);
    assert_eq!(state_of(&ledger, &card(2)), expected_2);
    assert!(ledger.store().member_by_code(&card(3)).unwrap().is_none());
    assert!(ledger.store().is_revoked(&card(3)).unwrap());
}
