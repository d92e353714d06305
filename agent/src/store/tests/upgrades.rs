//! What a file written by an earlier schema holds after this one opens it: each migration that
//! moves data keeps it, readable through the store as if written now.

use super::*;

/// A cache written before version 5 (JSON, `state` equal to the snapshot, rowid tables) is
/// carried over whole: every member and code stays (dropping the old table deletes no code
/// through its foreign key), the JSON is read as it is, and the next write packs it.
#[test]
fn a_version_3_cache_is_carried_into_version_5() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let (hub_state, local_state) = hub_and_local_states();
    let json = |s: &MemberState| serde_json::to_string(s).unwrap();
    {
        let mut conn = Connection::open(&path).unwrap();
        schema::migrate_to(&mut conn, 3).unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO members (member_id, number, provisional, snapshot, state, updated_at)
                 VALUES ('m1', '2000000000015', 0, '{hub}', '{hub}', 'now'),
                        ('m2', '2000000000022', 1, '{empty}', '{local}', 'now');
             INSERT INTO member_codes (code, member_id)
                 VALUES ('2000000000015', 'm1'), ('2000000000022', 'm2'), ('9990000000013', 'm1');",
            hub = json(&hub_state),
            empty = json(&MemberState::default()),
            local = json(&local_state),
        ))
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    for (code, id, state) in [
        ("2000000000015", "m1", &hub_state),
        ("9990000000013", "m1", &hub_state),
        ("2000000000022", "m2", &local_state),
    ] {
        let row = store.member_by_code(code).unwrap().unwrap();
        assert_eq!((row.member_id.as_str(), &*row.state), (id, state), "{code}");
    }
    let state_column = |store: &Store| -> Option<Vec<u8>> {
        store
            .read(|c| {
                Ok(c.query_row(
                    "SELECT state FROM member_states WHERE member_id = 'm1'",
                    [],
                    |r| r.get(0),
                )
                .optional()?)
            })
            .unwrap()
    };
    assert_eq!(
        state_column(&store),
        None,
        "equal to its snapshot: kept once"
    );
    let mut after_sale = hub_state.clone();
    after_sale.spend.insert("2026-11-22".parse().unwrap(), 500);
    store
        .write(|tx| tx.save_member_state("m1", after_sale.clone(), "now"))
        .unwrap();
    store.flush_states().unwrap();
    assert_ne!(state_column(&store).unwrap().first(), Some(&b'{'), "packed");
    assert_eq!(
        store
            .member_by_code("2000000000015")
            .unwrap()
            .unwrap()
            .state,
        after_sale.into()
    );
    // A member the hub drops takes its codes with it, as before.
    store.write(|tx| tx.remove_member("m1")).unwrap();
    assert_eq!(store.member_by_code("9990000000013").unwrap(), None);
}

/// Schema 8 moves the local states out of `members` into `member_states`: a member sold to
/// here keeps its state, one equal to its snapshot gets no row, and the codes stay.
#[test]
fn a_version_7_cache_keeps_its_local_states() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let (hub_state, local_state) = hub_and_local_states();
    {
        let mut conn = Connection::open(&path).unwrap();
        schema::migrate_to(&mut conn, 7).unwrap();
        conn.execute(
            "INSERT INTO members (member_id, number, provisional, snapshot, state, updated_at)
                 VALUES ('m1', '2000000000015', 0, ?1, NULL, 'then'),
                        ('m2', '2000000000022', 0, ?1, ?2, 'then')",
            params![
                packed::pack(&hub_state).unwrap(),
                packed::pack(&local_state).unwrap()
            ],
        )
        .unwrap();
        conn.execute_batch(
            "INSERT INTO member_codes (code, member_id)
                 VALUES ('2000000000015', 'm1'), ('2000000000022', 'm2');",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    for (code, state) in [
        ("2000000000015", &hub_state),
        ("2000000000022", &local_state),
    ] {
        assert_eq!(
            &*store.member_by_code(code).unwrap().unwrap().state,
            state,
            "{code}"
        );
    }
    let rows: Vec<(String, String)> = store
        .read(|c| {
            let mut stmt = c.prepare("SELECT member_id, updated_at FROM member_states")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .unwrap();
    assert_eq!(rows, [("m2".to_owned(), "then".to_owned())]);
    // A member the hub drops takes its local state with it.
    store.write(|tx| tx.remove_member("m2")).unwrap();
    let left: i64 = store
        .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM member_states", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(left, 0);
}

/// Schema 9 keeps a sale once: a version-8 file's sale still answers a retry with the same
/// bytes, its lines come from its event, and the export writes it as before, while `sales`
/// keeps no second copy.
#[test]
fn a_version_8_sale_is_kept_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let mut body = sale_event(1);
    if let EventBody::Sale(sale) = &mut body {
        sale.lines = vec![Line {
            sku: "tea".into(),
            category: None,
            quantity: 2,
            amount_yen: 1000,
        }];
    }
    let event = Event {
        event_id: "0190-1".into(),
        seq: 1,
        store_id: "s1".into(),
        terminal_id: "t1".into(),
        recorded_at: "2026-11-22T01:00:00Z".into(),
        body,
    };
    let answer = r#"{"sale_id":"sale-1","earned_points":0}"#;
    {
        let mut conn = Connection::open(&path).unwrap();
        schema::migrate_to(&mut conn, 8).unwrap();
        conn.execute(
            "INSERT INTO outbox (seq, event_id, kind, payload, recorded_at)
             VALUES (1, '0190-1', 'sale', ?1, '2026-11-22T01:00:00Z')",
            [encode(&event).unwrap()],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO sales (seq, sale_id, request_hash, member_id, business_date,
                                occurred_at, lines, outcome, response, redeemed_points)
             VALUES (1, 'sale-1', x'0102', 'm1', '2026-11-22', '2026-11-22T10:00:00+09:00',
                     '[{\"sku\":\"tea\",\"category\":null,\"quantity\":2,\"amount_yen\":1000}]',
                     NULL, ?1, 5)",
            [answer],
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let record = store.write(|tx| tx.sale_record("sale-1")).unwrap().unwrap();
    assert_eq!(
        record,
        SaleRecord {
            sale_id: "sale-1".into(),
            request_hash: vec![1, 2],
            member_id: Some("m1".into()),
            business_date: "2026-11-22".parse().unwrap(),
            redeemed_points: 5,
            response: answer.into(),
        }
    );
    let sale = store.write(|tx| tx.sale("sale-1")).unwrap().unwrap();
    assert_eq!(sale.lines.len(), 1);
    assert_eq!(sale.lines[0].amount_yen, 1000);
    let columns: Vec<String> = store
        .read(|c| {
            let mut stmt = c.prepare("SELECT name FROM pragma_table_info('sales')")?;
            let names = stmt.query_map([], |r| r.get(0))?;
            Ok(names.collect::<Result<_, _>>()?)
        })
        .unwrap();
    assert_eq!(
        columns,
        [
            "sale_id",
            "seq",
            "member_id",
            "business_date",
            "redeemed_points"
        ]
    );
    drop(store);
    let ro = Store::open_read_only(&path).unwrap();
    let mut out = Vec::new();
    export_jsonl(ro.connection(), &mut out).unwrap();
    let sale: serde_json::Value =
        serde_json::from_str(String::from_utf8(out).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(sale["record"], "sale");
    assert_eq!(sale["occurred_at"], "2026-11-22T10:00:00+09:00");
    assert_eq!(sale["lines"][0]["amount_yen"], 1000);
    assert_eq!(sale["response"]["sale_id"], "sale-1");
    assert_eq!(sale["seq"], 1);
}

/// A version-9 cache keeps every member and code, its rows list each member's codes other
/// than its number, and a member removed after the upgrade takes all of its codes.
#[test]
fn a_version_9_cache_lists_each_members_other_codes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let empty = packed::pack(&MemberState::default()).unwrap();
    {
        let mut conn = Connection::open(&path).unwrap();
        schema::migrate_to(&mut conn, 9).unwrap();
        let mut member = conn
            .prepare(
                "INSERT INTO members (member_id, number, provisional, snapshot, updated_at)
                 VALUES (?1, ?2, 0, ?3, 'now')",
            )
            .unwrap();
        member
            .execute(params!["m1", "2000000000015", empty])
            .unwrap();
        member
            .execute(params!["m2", "2000000000022", empty])
            .unwrap();
        conn.execute_batch(
            "INSERT INTO member_codes (code, member_id)
                 VALUES ('2000000000015', 'm1'), ('9990000000013', 'm1'),
                        ('9990000000020', 'm1'), ('2000000000022', 'm2');",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let listed = |store: &Store| -> Vec<(String, Option<String>)> {
        store
            .read(|c| {
                let mut s = c.prepare("SELECT member_id, codes FROM members ORDER BY member_id")?;
                let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .unwrap()
    };
    // The migration lists them in no particular order.
    let mut m1_codes: Vec<String> =
        serde_json::from_str(listed(&store)[0].1.as_deref().unwrap()).unwrap();
    m1_codes.sort();
    assert_eq!(m1_codes, vec!["9990000000013", "9990000000020"]);
    assert_eq!(listed(&store)[1], ("m2".to_owned(), None));
    for (code, id) in [
        ("2000000000015", "m1"),
        ("9990000000013", "m1"),
        ("9990000000020", "m1"),
        ("2000000000022", "m2"),
    ] {
        let row = store.member_by_code(code).unwrap().unwrap();
        assert_eq!(row.member_id, id, "{code}");
    }
    store.write(|tx| tx.remove_member("m1")).unwrap();
    assert_eq!(
        super::removal::codes(&store),
        vec![("2000000000022".to_owned(), "m2".to_owned())]
    );
}
