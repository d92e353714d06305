//! A member leaving the cache (erased or merged at the hub, or its number given to another):
//! every code it holds goes with it, each found by key, never by reading every code.

use super::*;

/// Caches member `id` with `number` and `codes` as the hub sends it.
pub(super) fn cache(store: &Store, id: &str, number: &str, codes: &[&str]) {
    let codes: Vec<String> = codes.iter().map(|c| (*c).to_owned()).collect();
    let state = MemberState::default();
    let snapshot = cache::Snapshot {
        member_id: id,
        number,
        provisional: false,
        codes: &codes,
        state: &state,
        through: 0,
        merged_ids: &[],
    };
    store
        .write(|tx| tx.upsert_snapshot(&snapshot, None, "now"))
        .unwrap();
}

/// The cache the tests below start from: m1 with its number and a second card, m2 with its
/// number alone.
fn two_members(store: &Store) {
    cache(
        store,
        "m1",
        "2000000000015",
        &["2000000000015", "9990000000013"],
    );
    cache(store, "m2", "2000000000022", &["2000000000022"]);
}

/// The codes that find a member, as `code → member`.
pub(super) fn codes(store: &Store) -> Vec<(String, String)> {
    store
        .read(|c| {
            let mut s = c.prepare("SELECT code, member_id FROM member_codes ORDER BY code")?;
            let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .unwrap()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(c, m)| ((*c).to_owned(), (*m).to_owned()))
        .collect()
}

/// Every foreign key of the schema has an index that starts with its columns, so deleting a
/// parent row finds its children by key, except those into the ledger's outbox, whose rows are
/// never deleted nor renumbered (docs/design.md §4). Before schema 10 `member_codes` named its
/// member with no such index: each member removed read every cached code, twice.
#[test]
fn every_foreign_key_finds_its_children_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    let unindexed = store
        .read(|c| {
            let tables: Vec<String> = c
                .prepare("SELECT name FROM sqlite_schema WHERE type = 'table'")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let mut unindexed = Vec::new();
            for table in &tables {
                // Each index's leading columns; an INTEGER PRIMARY KEY is the rowid itself.
                let mut leads: Vec<Vec<String>> = Vec::new();
                let indexes: Vec<String> = c
                    .prepare(&format!("PRAGMA index_list('{table}')"))?
                    .query_map([], |r| r.get(1))?
                    .collect::<Result<_, _>>()?;
                for index in indexes {
                    leads.push(
                        c.prepare(&format!("PRAGMA index_info('{index}')"))?
                            .query_map([], |r| r.get::<_, Option<String>>(2))?
                            .filter_map(|r| r.ok().flatten())
                            .collect(),
                    );
                }
                let rowid_pk: Option<String> = c
                    .prepare(&format!("PRAGMA table_info('{table}')"))?
                    .query_map([], |r| {
                        Ok((
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, i64>(5)?,
                        ))
                    })?
                    .filter_map(Result::ok)
                    .find(|(_, ty, pk)| ty.eq_ignore_ascii_case("INTEGER") && *pk == 1)
                    .map(|(name, _, _)| name);
                if let Some(pk) = rowid_pk {
                    leads.push(vec![pk]);
                }
                let keys: Vec<(i64, String, String)> = c
                    .prepare(&format!("PRAGMA foreign_key_list('{table}')"))?
                    .query_map([], |r| Ok((r.get(0)?, r.get(2)?, r.get(3)?)))?
                    .collect::<Result<_, _>>()?;
                let mut by_key: std::collections::BTreeMap<i64, (String, Vec<String>)> =
                    Default::default();
                for (id, parent, column) in keys {
                    by_key
                        .entry(id)
                        .or_insert((parent, Vec::new()))
                        .1
                        .push(column);
                }
                for (parent, columns) in by_key.into_values() {
                    let found = leads.iter().any(|lead| lead.starts_with(&columns));
                    if !found && parent != "outbox" {
                        unindexed.push(format!("{table}({}) → {parent}", columns.join(", ")));
                    }
                }
            }
            Ok(unindexed)
        })
        .unwrap();
    assert!(unindexed.is_empty(), "no index for {unindexed:?}");
}

/// A member removed takes every code it holds, its number and the others, and leaves other
/// members' codes alone; its codes no longer find anyone.
#[test]
fn a_member_removed_takes_every_code_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    two_members(&store);
    // The hub gives m1 a new number and card: the codes it had are kept as well.
    cache(&store, "m1", "2000000000039", &["2000000000039"]);
    assert_eq!(
        codes(&store),
        pairs(&[
            ("2000000000015", "m1"),
            ("2000000000022", "m2"),
            ("2000000000039", "m1"),
            ("9990000000013", "m1"),
        ])
    );
    store.write(|tx| tx.remove_member("m1")).unwrap();
    assert_eq!(codes(&store), pairs(&[("2000000000022", "m2")]));
    for code in ["2000000000015", "2000000000039", "9990000000013"] {
        assert!(store.member_by_code(code).unwrap().is_none(), "{code}");
    }
    assert!(store.member_by_code("2000000000022").unwrap().is_some());
    // A member not cached removes nothing.
    store.write(|tx| tx.remove_member("m9")).unwrap();
    assert_eq!(codes(&store), pairs(&[("2000000000022", "m2")]));
}

/// A member whose list of codes no longer reads (a damaged row) still leaves with every code,
/// found the slow way, and the next snapshot of it writes the list again.
#[test]
fn a_damaged_list_of_codes_is_read_around_and_mended() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    two_members(&store);
    let damage = |store: &Store| {
        store
            .write(|tx| {
                tx.tx.execute(
                    "UPDATE members SET codes = '[\"99' WHERE member_id = 'm1'",
                    [],
                )?;
                Ok::<_, StoreError>(())
            })
            .unwrap();
    };
    damage(&store);
    cache(&store, "m1", "2000000000015", &["2000000000015"]);
    let listed: Option<String> = store
        .read(|c| {
            Ok(c.query_row(
                "SELECT codes FROM members WHERE member_id = 'm1'",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(listed.as_deref(), Some("[\"9990000000013\"]"));
    damage(&store);
    store.write(|tx| tx.remove_member("m1")).unwrap();
    assert_eq!(codes(&store), pairs(&[("2000000000022", "m2")]));
}

/// A number the hub gives to another member takes the member that held it out of the cache,
/// with its codes and its local state.
#[test]
fn a_number_given_to_another_member_takes_the_old_holder_with_its_codes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    cache(
        &store,
        "m1",
        "2000000000015",
        &["2000000000015", "9990000000013"],
    );
    // A sale here gave m1 a state of its own.
    let (_, local_state) = hub_and_local_states();
    store
        .write(|tx| tx.put_local_state("m1", Some(packed::pack(&local_state)?), "now"))
        .unwrap();
    cache(&store, "m2", "2000000000015", &["2000000000015"]);
    assert_eq!(codes(&store), pairs(&[("2000000000015", "m2")]));
    assert!(store.member_by_code("9990000000013").unwrap().is_none());
    let count = |table: &str| -> i64 {
        store
            .read(|c| Ok(c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?))
            .unwrap()
    };
    assert_eq!((count("members"), count("member_states")), (1, 0));
}

/// A card the hub gives to another member finds that member from then on; the member that
/// held it keeps its number, and leaving the cache later takes only the codes still its own.
#[test]
fn a_card_given_to_another_member_finds_that_member() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    two_members(&store);
    cache(
        &store,
        "m2",
        "2000000000022",
        &["2000000000022", "9990000000013"],
    );
    let owner = |code: &str| store.member_by_code(code).unwrap().map(|m| m.member_id);
    assert_eq!(owner("9990000000013").as_deref(), Some("m2"));
    assert_eq!(owner("2000000000015").as_deref(), Some("m1"));
    // The same snapshot again changes nothing.
    cache(
        &store,
        "m2",
        "2000000000022",
        &["2000000000022", "9990000000013"],
    );
    assert_eq!(
        codes(&store),
        pairs(&[
            ("2000000000015", "m1"),
            ("2000000000022", "m2"),
            ("9990000000013", "m2"),
        ])
    );
    store.write(|tx| tx.remove_member("m1")).unwrap();
    assert_eq!(
        codes(&store),
        pairs(&[("2000000000022", "m2"), ("9990000000013", "m2")])
    );
}

/// Removing a member reads its codes by key, and a member's aliases are found by key: no
/// statement of either scans a table (the aliases were read whole before schema 10).
#[test]
fn removing_a_member_reads_no_table_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    let steps = store
        .read(|c| {
            let mut steps = Vec::new();
            for query in [
                cache::MEMBER_ALIASES,
                "SELECT number, codes FROM members WHERE member_id = ?1",
                "DELETE FROM member_codes WHERE code = ?1 AND member_id = ?2",
                "DELETE FROM member_states WHERE member_id = ?1",
                "DELETE FROM members WHERE member_id = ?1",
            ] {
                let n = query.matches('?').count();
                let params: Vec<&str> = vec!["x"; n];
                steps.extend(plan_of(c, query, rusqlite::params_from_iter(params)));
            }
            Ok(steps)
        })
        .unwrap();
    assert!(
        !steps
            .iter()
            .any(|s| s.starts_with("SCAN") || s.contains("TEMP B-TREE")),
        "{steps:?}"
    );
}

/// Deleting a member's row steps SQLite's machine a few times, not once per cached code: the
/// foreign key `member_codes` had into `members` (schema 1 to 9), with no index to find a
/// member's codes, read them all on every delete. Counted, not timed, with 2,000 cached.
#[test]
fn deleting_a_members_row_reads_no_other_members_codes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    for n in 0..2_000 {
        let number = format!("2{n:012}");
        cache(&store, &format!("m{n}"), &number, &[number.as_str()]);
    }
    let steps = store
        .write(|tx| {
            let mut delete = tx
                .tx
                .prepare("DELETE FROM members WHERE member_id = 'm7'")?;
            delete.execute([])?;
            Ok::<_, StoreError>((
                delete.get_status(rusqlite::StatementStatus::VmStep),
                delete.get_status(rusqlite::StatementStatus::FullscanStep),
            ))
        })
        .unwrap();
    assert!(
        steps.0 < 200 && steps.1 == 0,
        "VM steps, full-scan steps: {steps:?}"
    );
}
