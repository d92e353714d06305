#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use tenpo_loyalty::Line;
use tenpo_protocol::events::{EventBody, SaleEvent};

/// A member leaving the cache.
mod removal;
/// The counts kept for `/metrics` and `/v1/status`.
mod tally;
/// Files written by earlier schemas, opened by this one.
mod upgrades;

fn who() -> Identity {
    Identity {
        store_id: "s1".into(),
        terminal_id: "t1".into(),
    }
}

/// A member's state as the hub sent it, and the same with this till's two stamps on top.
fn hub_and_local_states() -> (MemberState, MemberState) {
    let mut hub_state = MemberState::default();
    hub_state
        .spend
        .insert("2026-11-20".parse().unwrap(), 12_000);
    let mut local_state = hub_state.clone();
    local_state.stamps.count = 2;
    (hub_state, local_state)
}

/// The steps of SQLite's plan for `query` with `params`.
fn plan_of(conn: &Connection, query: &str, params: impl rusqlite::Params) -> Vec<String> {
    conn.prepare(&format!("EXPLAIN QUERY PLAN {query}"))
        .unwrap()
        .query_map(params, |r| r.get::<_, String>(3))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn sale_event(n: u32) -> EventBody {
    EventBody::Sale(SaleEvent {
        sale_id: format!("sale-{n}"),
        member_id: None,
        occurred_at: "2026-11-22T10:00:00+09:00".into(),
        business_date: "2026-11-22".parse().unwrap(),
        lines: vec![],
        redeem_points: 0,
        coupon_ids: vec![],
        outcome: None,
    })
}

fn record(store: &Store, n: u32) -> Result<u64, StoreError> {
    store.write(|tx| {
        tx.record_sale_event(
            &who(),
            sale_event(n),
            "now",
            &SaleRecord {
                sale_id: format!("sale-{n}"),
                request_hash: vec![1, 2, 3],
                member_id: None,
                business_date: "2026-11-22".parse().unwrap(),
                redeemed_points: 0,
                response: "{}".into(),
            },
        )
    })
}

/// The tables and indexes, with the SQL each was made with (a migrated file must be the same
/// as a new one, to the index).
fn tables(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare(
            "SELECT type || ' ' || name || ': ' || COALESCE(sql, '') FROM sqlite_schema
             WHERE type IN ('table', 'index') ORDER BY type, name",
        )
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn opens_an_empty_file_in_wal_with_full_sync() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    let conn = store.writer.lock().unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    let sync: i64 = conn
        .pragma_query_value(None, "synchronous", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(sync, 2, "synchronous=FULL");
    assert_eq!(schema::version(&conn).unwrap(), CURRENT_VERSION);
}

/// Every earlier version (0 = an empty file) migrates to the current schema, keeping its data.
#[test]
fn migrates_from_every_earlier_version() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = {
        let path = dir.path().join("fresh.db");
        let store = Store::open(&path).unwrap();
        let conn = store.writer.lock().unwrap();
        tables(&conn)
    };
    for from in 0..CURRENT_VERSION {
        let path = dir.path().join(format!("from-{from}.db"));
        {
            let mut conn = Connection::open(&path).unwrap();
            schema::migrate_to(&mut conn, from).unwrap();
            assert_eq!(schema::version(&conn).unwrap(), from);
            if from >= 1 {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('marker', ?1)",
                    [format!("written at v{from}")],
                )
                .unwrap();
            }
        }
        let store = Store::open(&path).unwrap();
        let conn = store.writer.lock().unwrap();
        assert_eq!(
            schema::version(&conn).unwrap(),
            CURRENT_VERSION,
            "from v{from}"
        );
        assert_eq!(
            tables(&conn),
            fresh,
            "from v{from}: same tables as a fresh database"
        );
        if from >= 1 {
            assert_eq!(
                meta(&conn, "marker").unwrap(),
                Some(format!("written at v{from}"))
            );
        }
    }
}

#[test]
fn refuses_a_newer_schema_without_touching_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    drop(Store::open(&path).unwrap());
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", CURRENT_VERSION + 1)
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::SchemaTooNew { .. }), "{err}");
    assert!(err.to_string().contains("newer than this agent knows"));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the file is untouched"
    );
    assert!(matches!(
        Store::open_read_only(&path),
        Err(StoreError::SchemaTooNew { .. })
    ));
}

#[test]
fn a_panic_inside_a_write_fails_alone_and_the_next_write_succeeds() {
    // The finding: one bad request poisoned the writer's lock and every later sale answered
    // 500 until the agent was restarted.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    assert_eq!(record(&store, 1).unwrap(), 1);
    let crashed: Result<(), StoreError> = store.write(|tx| {
        tx.append_event(&who(), sale_event(2), "now")?;
        panic!("a bug in the middle of a transaction");
    });
    match crashed {
        Err(StoreError::Bug(what)) => assert!(what.contains("a bug in the middle"), "{what}"),
        other => panic!("expected a contained bug, got {other:?}"),
    }
    let crashed_read: Result<(), StoreError> = store.read(|_| panic!("a bug while reading"));
    assert!(matches!(crashed_read, Err(StoreError::Bug(_))));
    // Nothing of the panicked transaction stayed, and the writer, the reader and the health
    // check all work.
    assert_eq!(record(&store, 2).unwrap(), 2);
    assert_eq!(store.outbox_counts().unwrap().last_seq, 2);
    store.check_writable().unwrap();
}

#[test]
fn outbox_seq_is_gap_free_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    {
        let store = Store::open(&path).unwrap();
        for n in 1..=5 {
            assert_eq!(record(&store, n).unwrap(), u64::from(n));
        }
        // A failed transaction takes no seq.
        let failed: Result<(), StoreError> = store.write(|tx| {
            tx.append_event(&who(), sale_event(99), "now")?;
            Err(StoreError::Bug("refused on purpose".into()))
        });
        assert!(failed.is_err());
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(record(&store, 6).unwrap(), 6);
    let counts = store.outbox_counts().unwrap();
    assert_eq!((counts.last_seq, counts.pending), (6, 6));
    let ids: Vec<String> = store
        .read(|c| {
            let mut s = c.prepare("SELECT event_id FROM outbox ORDER BY seq")?;
            let ids = s
                .query_map([], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(ids)
        })
        .unwrap();
    assert_eq!(ids.len(), 6);
    for id in &ids {
        let uuid = uuid::Uuid::parse_str(id).unwrap();
        assert_eq!(uuid.get_version_num(), 7, "event ids are UUIDv7");
    }
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(sorted, ids, "UUIDv7 ids sort in recording order");
}

#[test]
fn a_failed_write_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    record(&store, 1).unwrap();
    // The same sale id again: the insert fails after the event was appended; both roll back.
    assert!(record(&store, 1).is_err());
    assert_eq!(store.outbox_counts().unwrap().last_seq, 1);
}

/// docs/design.md §4: the cache may be thrown away and rebuilt; the ledger and the outbox are
/// untouched.
#[test]
fn the_member_cache_can_be_dropped_without_touching_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    let member = MemberRow {
        member_id: "m1".into(),
        number: "2000000000015".into(),
        provisional: true,
        state: MemberState::default().into(),
    };
    store
        .write(|tx| tx.insert_member(&member, &MemberState::default(), &["2000000000015"], "now"))
        .unwrap();
    record(&store, 1).unwrap();
    store
        .write(|tx| {
            tx.tx
                .execute_batch("DELETE FROM member_codes; DELETE FROM members;")?;
            Ok::<(), StoreError>(())
        })
        .unwrap();
    assert_eq!(store.member_by_code("2000000000015").unwrap(), None);
    assert_eq!(store.outbox_counts().unwrap().last_seq, 1);
    assert!(store.write(|tx| tx.sale("sale-1")).unwrap().is_some());
}

#[test]
fn export_writes_every_sale_and_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let store = Store::open(&path).unwrap();
    for n in 1..=3 {
        record(&store, n).unwrap();
    }
    let ro = Store::open_read_only(&path).unwrap();
    let mut out = Vec::new();
    assert_eq!(export_jsonl(ro.connection(), &mut out).unwrap(), 6);
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.iter().filter(|l| l["record"] == "sale").count(), 3);
    assert_eq!(lines.iter().filter(|l| l["record"] == "event").count(), 3);
    assert_eq!(lines[3]["payload"]["body"]["kind"], "sale");
    assert_eq!(lines[5]["seq"], 3);
}

/// A till that ran standalone and then enrols sends its unsent events as the enrolled terminal;
/// what the hub already acknowledged is never rewritten.
#[test]
fn unsent_events_take_the_enrolled_identity() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    for n in 1..=3 {
        record(&store, n).unwrap();
    }
    store.write(|tx| tx.advance_acked(1)).unwrap();
    let enrolled = Identity {
        store_id: "shibuya-01".into(),
        terminal_id: "t00007".into(),
    };
    assert_eq!(store.write(|tx| tx.restamp_unsent(&enrolled)).unwrap(), 2);
    assert_eq!(
        store.write(|tx| tx.restamp_unsent(&enrolled)).unwrap(),
        0,
        "idempotent"
    );
    let events: Vec<Event> = store
        .pending_events(0, 10)
        .unwrap()
        .iter()
        .map(|(_, bytes)| serde_json::from_str(bytes).unwrap())
        .collect();
    assert_eq!(
        (events[0].store_id.as_str(), events[0].terminal_id.as_str()),
        ("s1", "t1"),
        "acknowledged: untouched"
    );
    for e in &events[1..] {
        assert_eq!(
            (e.store_id.as_str(), e.terminal_id.as_str()),
            ("shibuya-01", "t00007")
        );
    }
}

#[test]
fn events_are_sent_as_the_bytes_stored_when_they_were_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    record(&store, 1).unwrap();
    let stored: String = store
        .read(|c| Ok(c.query_row("SELECT payload FROM outbox WHERE seq = 1", [], |r| r.get(0))?))
        .unwrap();
    let pending = store.pending_events(0, 10).unwrap();
    assert_eq!(pending, vec![(1, stored.clone())]);
    let event: Event = serde_json::from_str(&stored).unwrap();
    assert_eq!(tenpo_protocol::events::encode(&event).unwrap(), stored);
}

/// docs/design.md §8: a cached member whose state is the hub's snapshot keeps it once (the
/// `state` column is NULL), and reads back whole; a sale's state is kept beside it, packed.
#[test]
fn a_state_equal_to_the_snapshot_is_kept_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let store = Store::open(&path).unwrap();
    let mut hub_state = MemberState::default();
    hub_state
        .spend
        .insert("2026-11-20".parse().unwrap(), 12_000);
    let codes = vec!["2000000000015".to_owned()];
    let snapshot = cache::Snapshot {
        member_id: "m1",
        number: "2000000000015",
        provisional: false,
        codes: &codes,
        state: &hub_state,
        through: 0,
        merged_ids: &[],
    };
    store
        .write(|tx| tx.upsert_snapshot(&snapshot, Some(&hub_state), "now"))
        .unwrap();
    // `members.snapshot` is the hub's view; `member_states.state` the local one, if any.
    let column = |store: &Store, column: &str| -> Option<Vec<u8>> {
        let table = if column == "state" {
            "member_states"
        } else {
            "members"
        };
        store
            .read(|c| {
                Ok(c.query_row(
                    &format!("SELECT {column} FROM {table} WHERE member_id = 'm1'"),
                    [],
                    |r| r.get(0),
                )
                .optional()?)
            })
            .unwrap()
    };
    assert_eq!(column(&store, "state"), None, "kept once");
    let packed = column(&store, "snapshot").unwrap();
    assert!(packed.len() < 20, "packed, not JSON: {packed:?}");
    let read = store.member_by_code("2000000000015").unwrap().unwrap();
    assert_eq!(*read.state, hub_state);
    assert_eq!(
        store.write(|tx| tx.member_state_to_change("m1")).unwrap(),
        Some(hub_state.clone())
    );

    // A sale here: the new state is held, then written beside the snapshot, and read.
    let mut after_sale = hub_state.clone();
    after_sale.spend.insert("2026-11-22".parse().unwrap(), 500);
    store
        .write(|tx| tx.save_member_state("m1", after_sale.clone(), "now"))
        .unwrap();
    assert_eq!(column(&store, "state"), None, "held, not yet written");
    assert_eq!(store.flush_states().unwrap(), 1);
    assert!(column(&store, "state").is_some());
    assert_eq!(
        column(&store, "snapshot").unwrap(),
        packed,
        "the hub's view as it was"
    );
    let read = || {
        store
            .member_by_code("2000000000015")
            .unwrap()
            .unwrap()
            .state
            .as_ref()
            .clone()
    };
    assert_eq!(read(), after_sale);

    // The hub's answer that includes the sale: the state is the snapshot again, kept once.
    let snapshot = cache::Snapshot {
        state: &after_sale,
        through: 1,
        ..snapshot
    };
    store
        .write(|tx| tx.upsert_snapshot(&snapshot, Some(&after_sale), "now"))
        .unwrap();
    assert_eq!(column(&store, "state"), None, "kept once again");
    assert_eq!(read(), after_sale);
}

/// The two reads of a member's events find them through the index of members' events, which
/// since schema 7 holds only the events that name a member, in order without a sort.
#[test]
fn a_members_events_are_read_through_the_partial_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    let conn = store.writer.lock().unwrap();
    for query in [cache::MEMBER_EVENT_AFTER, cache::MEMBER_EVENTS_AFTER] {
        let plan = plan_of(&conn, query, params!["m1", 0]);
        assert!(
            plan.iter()
                .any(|step| step.contains("USING INDEX outbox_by_member")),
            "{query}: {plan:?}"
        );
        assert!(
            !plan.iter().any(|step| step.contains("TEMP B-TREE")),
            "{query}: {plan:?}"
        );
    }
    let partial: String = conn
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE name = 'outbox_by_member'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(partial.contains("WHERE member_id IS NOT NULL"), "{partial}");
}

/// The offline redemption bound reads the index of sales that redeemed points (a sale that
/// redeemed nothing is not in it), and sums only this till's sales the hub has not
/// acknowledged, for that member and day.
#[test]
fn the_redemption_bound_reads_its_own_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    {
        let conn = store.writer.lock().unwrap();
        let plan = plan_of(
            &conn,
            sync::UNSYNCED_REDEMPTIONS,
            params!["m1", "2026-11-22", 0],
        );
        assert!(
            plan.iter()
                .any(|step| step.contains("USING INDEX sales_redeemed")),
            "{plan:?}"
        );
    }
    let sell = |n: u32, member: &str, date: &str, redeemed: i64| {
        store
            .write(|tx| {
                let seq = tx.append_event(&who(), sale_event(n), "now")?;
                tx.tx.execute(
                    "INSERT INTO sales (seq, sale_id, member_id, business_date, redeemed_points)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![seq as i64, format!("sale-{n}"), member, date, redeemed],
                )?;
                Ok::<u64, StoreError>(seq)
            })
            .unwrap()
    };
    let day = "2026-11-22";
    let first = sell(1, "m1", day, 100);
    sell(2, "m1", day, 0);
    sell(3, "m1", day, 50);
    sell(4, "m2", day, 70);
    sell(5, "m1", "2026-11-21", 30);
    let unsynced = || {
        store
            .write(|tx| tx.unsynced_redemptions("m1", day.parse().unwrap()))
            .unwrap()
    };
    assert_eq!(unsynced(), 150);
    store.write(|tx| tx.advance_acked(first)).unwrap();
    assert_eq!(unsynced(), 50);
}

/// The counts for `/v1/status` and `/metrics` are kept in memory (store/tally.rs): a scrape
/// neither waits for a write in progress (a page of a first sync) nor for a read, nor holds
/// either up. Both connections are held here while the counts are asked for, with a bound on
/// the wait.
#[test]
fn a_count_waits_for_no_connection() {
    use std::sync::mpsc::channel;
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(Store::open(&dir.path().join("t.db")).unwrap());
    removal::cache(&store, "m1", "2000000000015", &["2000000000015"]);
    let (held_tx, held_rx) = channel::<()>();
    let (release_writer, writer_released) = channel::<()>();
    let (release_reader, reader_released) = channel::<()>();
    let writer = {
        let (store, held) = (store.clone(), held_tx.clone());
        std::thread::spawn(move || {
            store
                .write(|_| {
                    held.send(()).unwrap();
                    writer_released.recv().unwrap();
                    Ok::<(), StoreError>(())
                })
                .unwrap();
        })
    };
    let reader = {
        let store = store.clone();
        std::thread::spawn(move || {
            store
                .read(|_| {
                    held_tx.send(()).unwrap();
                    reader_released.recv().unwrap();
                    Ok(())
                })
                .unwrap();
        })
    };
    held_rx.recv().unwrap();
    held_rx.recv().unwrap();
    let (counted_tx, counted_rx) = channel();
    let counter = {
        let store = store.clone();
        std::thread::spawn(move || {
            let counts = (
                store.ledger_counts().unwrap(),
                store.members_cached().unwrap(),
            );
            counted_tx.send(counts).unwrap();
        })
    };
    let counted = counted_rx.recv_timeout(std::time::Duration::from_secs(10));
    release_writer.send(()).unwrap();
    release_reader.send(()).unwrap();
    for t in [writer, reader, counter] {
        t.join().unwrap();
    }
    assert_eq!(
        counted,
        Ok((LedgerCounts::default(), 1)),
        "the counts waited for a connection"
    );
}
