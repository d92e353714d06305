//! A member's state after a sale is held and written in batches (store/held.rs): read back
//! the same whether held, written, or lost with the process and rebuilt from the outbox.

use rusqlite::OptionalExtension;

use super::*;

/// The member's row in `member_states`: its state and the outbox seq it counts through.
fn stored_row(ledger: &Ledger, member_id: &str) -> Option<(Vec<u8>, u64)> {
    ledger
        .store()
        .read(|c| {
            Ok(c.query_row(
                "SELECT state, through FROM member_states WHERE member_id = ?1",
                [member_id],
                |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.unsigned_abs())),
            )
            .optional()?)
        })
        .unwrap()
}

fn last_seq(ledger: &Ledger) -> u64 {
    ledger.store().outbox_counts().unwrap().last_seq
}

#[test]
fn a_sale_holds_the_members_state_until_the_flush_writes_it() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(&dir);
    let code = standard();
    let member_id = ledger.lookup(&code, now()).unwrap().member_id;
    let row_before = stored_row(&ledger, &member_id);
    for i in 0..3 {
        sell_tea(&ledger, &format!("held-{i}"), Some(&code));
    }
    assert_eq!(ledger.store().states_held(), 1);
    assert_eq!(
        stored_row(&ledger, &member_id),
        row_before,
        "the sales' commits did not touch the member's row"
    );
    let view = ledger.lookup(&code, now()).unwrap();
    assert_eq!(view.points.balance, 1_250 + 3 * 5, "{view:?}");

    assert_eq!(ledger.store().flush_states().unwrap(), 1);
    assert_eq!(ledger.store().states_held(), 0);
    let (bytes, through) = stored_row(&ledger, &member_id).unwrap();
    assert_eq!(through, last_seq(&ledger));
    let held = ledger.store().member_by_code(&code).unwrap().unwrap().state;
    assert_eq!(crate::store::packed_for_tests(&held).unwrap(), bytes);
    assert_eq!(ledger.lookup(&code, now()).unwrap(), view);
    assert_eq!(
        ledger.store().flush_states().unwrap(),
        0,
        "nothing left to write"
    );
}

#[test]
fn states_lost_with_the_process_are_read_back_from_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(&dir);
    let code = standard();
    for i in 0..5 {
        sell_tea(&ledger, &format!("lost-{i}"), Some(&code));
    }
    ledger
        .record_refund("lost-2", &refund("lost-r", vec![line("tea", 500)]), now())
        .unwrap();
    // A new card: a provisional member made at this till, its first state held too.
    sell_tea(&ledger, "lost-new", Some(&new_card()));
    let views =
        |ledger: &Ledger| [standard(), new_card()].map(|c| ledger.lookup(&c, now()).unwrap());
    let before = views(&ledger);
    assert_eq!(ledger.store().states_held(), 2);
    // The process dies: nothing runs the flush, nor the store's close.
    std::mem::forget(ledger);

    let ledger = open_ledger(&dir);
    assert_eq!(ledger.store().states_held(), 0);
    assert_eq!(views(&ledger), before);
    // The next sale counts from there, and is held again.
    let (_, answer) = ledger
        .record_sale(
            &sale("lost-after", Some(&code), vec![line("tea", 500)], None),
            now(),
        )
        .unwrap();
    assert_eq!(
        answer.balance_after,
        before[0].points.balance + answer.earned_points
    );
    assert_eq!(ledger.store().states_held(), 1);
}

#[test]
fn a_transaction_that_fails_holds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(&dir);
    let code = standard();
    let member = ledger.store().member_by_code(&code).unwrap().unwrap();
    let mut changed = member.state.as_ref().clone();
    changed.stamps.count += 1;
    let failed: Result<(), StoreError> = ledger.store().write(|tx| {
        tx.save_member_state(&member.member_id, changed.clone(), "now")?;
        Err(StoreError::Bug("refused".into()))
    });
    assert!(failed.is_err());
    assert_eq!(ledger.store().states_held(), 0);
    assert_eq!(
        ledger.store().member_by_code(&code).unwrap().unwrap().state,
        member.state
    );
}

/// A sale moves the member's state out of what is held rather than copying it (a regular's
/// state holds a lot for each sale that earned). A sale refused after that holds nothing new,
/// and the state is read back from the database as it was.
#[test]
fn a_refused_sale_leaves_the_members_state_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(&dir);
    let code = standard();
    for i in 0..3 {
        sell_tea(&ledger, &format!("before-{i}"), Some(&code));
    }
    assert_eq!(ledger.store().states_held(), 1);
    let before = ledger.lookup(&code, now()).unwrap();
    let too_much = before.points.balance + 100;
    let refused = ledger.record_sale(
        &sale(
            "refused",
            Some(&code),
            vec![line("tea", 50_000)],
            Some(too_much),
        ),
        now(),
    );
    assert!(matches!(refused, Err(LedgerError::Sale(_))), "{refused:?}");
    assert_eq!(
        ledger.store().states_held(),
        0,
        "moved out, nothing held back"
    );
    assert_eq!(ledger.lookup(&code, now()).unwrap(), before);
    let (_, answer) = ledger
        .record_sale(
            &sale("after", Some(&code), vec![line("tea", 500)], None),
            now(),
        )
        .unwrap();
    assert_eq!(
        answer.balance_after,
        before.points.balance + answer.earned_points
    );
    assert_eq!(ledger.store().states_held(), 1);
    // A lookup shares what is held: it neither moves it out nor copies it.
    let view = ledger.lookup(&code, now()).unwrap();
    assert_eq!(view.points.balance, answer.balance_after);
    assert_eq!(ledger.store().states_held(), 1);
    let [a, b] = [(), ()].map(|_| ledger.store().member_by_code(&code).unwrap().unwrap().state);
    assert!(std::sync::Arc::ptr_eq(&a, &b), "one state, shared");
}

/// What the hub sends for a member replaces what is held for it: a state held before a feed
/// page is older than the page's.
#[test]
fn the_hubs_snapshot_replaces_a_held_state() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(&dir);
    let code = standard();
    sell_tea(&ledger, "fed-1", Some(&code));
    let member = ledger.store().member_by_code(&code).unwrap().unwrap();
    assert_eq!(ledger.store().states_held(), 1);
    // The hub's view: this till's sale applied (through its seq), and 100 points more given
    // at head office.
    let mut hub_state = member.state.as_ref().clone();
    hub_state.lots.push(tenpo_loyalty::PointLot {
        lot_id: "adjust-1".into(),
        earned_on: "2026-11-22".parse().unwrap(),
        expires_on: "2027-12-31".parse().unwrap(),
        points: 100,
    });
    let codes = vec![code.clone()];
    let snapshot = crate::store::cache::Snapshot {
        member_id: &member.member_id,
        number: &member.number,
        provisional: false,
        codes: &codes,
        state: &hub_state,
        through: last_seq(&ledger),
        merged_ids: &[],
    };
    ledger
        .store()
        .write(|tx| tx.upsert_snapshot(&snapshot, Some(&hub_state), "now"))
        .unwrap();
    assert_eq!(ledger.store().states_held(), 0);
    let after = ledger.lookup(&code, now()).unwrap();
    assert_eq!(after.points.balance, member_balance(&ledger, &member) + 100);
    // And the next flush has nothing older to write over it.
    assert_eq!(ledger.store().flush_states().unwrap(), 0);
}

fn member_balance(ledger: &Ledger, member: &MemberRow) -> i64 {
    ledger
        .view(member, ledger.business_date(now()))
        .points
        .balance
}

/// Schema 11 gives every row the `seq` it counts through. A row written before it counted every
/// event recorded (the sale wrote it), so the migration says so: the member's events are not
/// applied again on top of it.
#[test]
fn rows_from_before_schema_11_count_every_event_already() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(&dir);
    let code = standard();
    for i in 0..4 {
        sell_tea(&ledger, &format!("old-{i}"), Some(&code));
    }
    ledger.store().flush_states().unwrap();
    let before = ledger.lookup(&code, now()).unwrap();
    drop(ledger);
    // The same file as schema 10 left it: the rows as a sale wrote them, no `through`.
    let conn = rusqlite::Connection::open(dir.path().join("tenpo.db")).unwrap();
    conn.execute_batch(
        "ALTER TABLE member_states DROP COLUMN through;
         PRAGMA user_version = 10;",
    )
    .unwrap();
    drop(conn);

    let ledger = open_ledger(&dir);
    assert_eq!(ledger.lookup(&code, now()).unwrap(), before);
    let member_id = before.member_id.clone();
    assert_eq!(
        stored_row(&ledger, &member_id).unwrap().1,
        last_seq(&ledger)
    );
}
