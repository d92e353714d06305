//! The ledger's writes, on a real SQLite file: what a sale and a refund put in the outbox,
//! what a repeated id answers, what a refusal leaves behind, and the member state a sale
//! leaves (the engine's outcome applied). Events are made by the ledger itself, never built
//! here, and read back as the stored JSON, so these tests do not depend on the event types'
//! Rust shape.

#![allow(clippy::unwrap_used, clippy::expect_used)]

/// A member's state held between sales (store/held.rs).
#[path = "ledger/held_tests.rs"]
mod held;

use super::*;
use crate::store::LedgerCounts;
use tenpo_loyalty::{Refund, evaluate_refund};
use tenpo_protocol::agent::{RefundRequest, SaleLine};
use tenpo_protocol::events::{Event, content_hash_of, encode};
use tenpo_protocol::sync::PushItem;

/// The demo member with 1,250 points (`demo::seed`).
fn standard() -> String {
    crate::demo::jan("200000000001")
}

/// A valid card no member has yet.
fn new_card() -> String {
    crate::demo::jan("200000000004")
}

fn now() -> DateTime<Utc> {
    "2026-11-22T01:00:00Z".parse().unwrap()
}

/// A ledger on the database in `dir` (made if new), with the demo program.
fn open_ledger(dir: &tempfile::TempDir) -> Ledger {
    let store = Arc::new(Store::open(&dir.path().join("tenpo.db")).unwrap());
    Ledger::new(
        store,
        Arc::new(RuleSet::demo()),
        CodeRules::default(),
        chrono_tz::Asia::Tokyo,
        Identity {
            store_id: "s1".into(),
            terminal_id: "t1".into(),
        },
    )
}

/// A ledger on a new database in `dir`, with the demo program and the demo members cached.
fn ledger(dir: &tempfile::TempDir) -> Ledger {
    let ledger = open_ledger(dir);
    let today = ledger.business_date(now());
    crate::demo::seed(ledger.store(), &ledger.rules(), today, &now().to_rfc3339()).unwrap();
    ledger
}

fn line(sku: &str, amount_yen: i64) -> SaleLine {
    SaleLine {
        sku: sku.into(),
        category: None,
        quantity: 1,
        amount_yen,
    }
}

fn sale(id: &str, code: Option<&str>, lines: Vec<SaleLine>, redeem: Option<i64>) -> SaleRequest {
    SaleRequest {
        sale_id: id.into(),
        member_code: code.map(str::to_owned),
        occurred_at: None,
        lines,
        redeem_points: redeem,
        coupon_ids: None,
    }
}

fn refund(id: &str, lines: Vec<SaleLine>) -> RefundRequest {
    RefundRequest {
        refund_id: id.into(),
        occurred_at: None,
        lines,
    }
}

/// Every outbox event as `(seq column, stored bytes, the bytes as JSON)`, in seq order.
fn outbox(ledger: &Ledger) -> Vec<(u64, String, serde_json::Value)> {
    ledger
        .store()
        .pending_events(0, 1_000)
        .unwrap()
        .into_iter()
        .map(|(seq, bytes)| {
            let json = serde_json::from_str(&bytes).unwrap();
            (seq, bytes, json)
        })
        .collect()
}

/// The seq column of a sale's or a refund's row.
fn row_seq(ledger: &Ledger, table: &str, id_column: &str, id: &str) -> u64 {
    let sql = format!("SELECT seq FROM {table} WHERE {id_column} = ?1");
    ledger
        .store()
        .read(|c| Ok(c.query_row(&sql, [id], |r| r.get::<_, i64>(0))?))
        .unwrap()
        .unsigned_abs()
}

fn state_of(ledger: &Ledger, code: &str) -> Option<MemberState> {
    ledger
        .store()
        .member_by_code(code)
        .unwrap()
        .map(|m| m.state.as_ref().clone())
}

/// Everything a write could have touched.
#[derive(Debug, PartialEq)]
struct Fingerprint {
    events: Vec<String>,
    ledger: LedgerCounts,
    members: u64,
    standard: Option<MemberState>,
    new_card: Option<MemberState>,
}

fn fingerprint(ledger: &Ledger) -> Fingerprint {
    Fingerprint {
        events: outbox(ledger)
            .into_iter()
            .map(|(_, bytes, _)| bytes)
            .collect(),
        ledger: ledger.store().ledger_counts().unwrap(),
        members: ledger.store().members_cached().unwrap(),
        standard: state_of(ledger, &standard()),
        new_card: state_of(ledger, &new_card()),
    }
}

/// Each write appends its events with the next seq, 1, 2, 3 … with no gap, whatever its kind
/// (a new card's provisional member, a sale, a sale without a member, a refund); each event
/// carries its own seq, and the sale's or refund's row points at its event.
#[test]
fn events_take_the_next_seq_without_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(&dir);
    let new_card = new_card();
    let standard = standard();
    ledger
        .record_sale(
            &sale("s-new", Some(&new_card), vec![line("tea", 1_200)], None),
            now(),
        )
        .unwrap();
    ledger
        .record_sale(
            &sale("s-std", Some(&standard), vec![line("tea", 1_500)], None),
            now(),
        )
        .unwrap();
    ledger
        .record_sale(&sale("s-anon", None, vec![line("tea", 300)], None), now())
        .unwrap();
    ledger
        .record_refund("s-std", &refund("r-std", vec![line("tea", 1_500)]), now())
        .unwrap();

    let events = outbox(&ledger);
    let seqs: Vec<u64> = events.iter().map(|(seq, _, _)| *seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    let kinds: Vec<&str> = events
        .iter()
        .map(|(_, _, e)| e["body"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["member_provisional", "sale", "sale", "sale", "refund"]
    );
    for (seq, _, event) in &events {
        assert_eq!(event["seq"], *seq, "the event carries its own seq");
    }
    assert_eq!(row_seq(&ledger, "sales", "sale_id", "s-new"), 2);
    assert_eq!(row_seq(&ledger, "sales", "sale_id", "s-std"), 3);
    assert_eq!(row_seq(&ledger, "sales", "sale_id", "s-anon"), 4);
    assert_eq!(row_seq(&ledger, "refunds", "refund_id", "r-std"), 5);
    assert_eq!(ledger.store().outbox_counts().unwrap().last_seq, 5);
}

/// An event is encoded once, when recorded: the stored bytes are `events::encode` of the event
/// they hold, carry the outcome the sale row recorded, and are what a push sends, with the
/// SHA-256 of exactly those bytes. Replaying the sale does not touch them.
#[test]
fn an_events_bytes_are_written_once_and_pushed_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(&dir);
    let req = sale("s1", Some(&standard()), vec![line("tea", 2_000)], Some(100));
    ledger.record_sale(&req, now()).unwrap();

    let events = outbox(&ledger);
    assert_eq!(events.len(), 1);
    let (_, bytes, json) = &events[0];
    let event: Event = serde_json::from_str(bytes).unwrap();
    assert_eq!(
        &encode(&event).unwrap(),
        bytes,
        "stored as events::encode wrote it"
    );
    let row = ledger.store().write(|tx| tx.sale("s1")).unwrap().unwrap();
    assert!(row.outcome.is_some());
    assert_eq!(json["body"]["sale_id"], "s1");
    assert_eq!(json["body"]["member_id"], "demo-0001");
    assert_eq!(
        json["body"]["outcome"],
        serde_json::to_value(&row.outcome).unwrap(),
        "the event carries the outcome the till recorded"
    );
    let item = PushItem::from_stored(bytes.clone()).unwrap();
    assert_eq!(item.event.get(), bytes.as_str(), "pushed unchanged");
    assert_eq!(item.content_hash, content_hash_of(bytes.as_bytes()));

    let later = now() + chrono::Duration::minutes(5);
    let (recorded, _) = ledger.record_sale(&req, later).unwrap();
    assert_eq!(recorded, Recorded::Replay);
    assert_eq!(
        outbox(&ledger),
        events,
        "a replay leaves the event as it was"
    );
}

/// The same sale id with the same body answers the first answer (even later, when the member's
/// state would now give another one) and writes nothing; with another body it is a conflict
/// and writes nothing either.
#[test]
fn a_repeated_sale_id_answers_what_was_recorded_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(&dir);
    let req = sale("s1", Some(&standard()), vec![line("tea", 1_500)], None);
    let (recorded, first) = ledger.record_sale(&req, now()).unwrap();
    assert_eq!(recorded, Recorded::New);
    assert_eq!(first.stamps_earned, 1);
    let after_first = fingerprint(&ledger);

    // An hour later a new sale would earn no stamp (one a day): the replay still says 1.
    let later = now() + chrono::Duration::hours(1);
    let (recorded, again) = ledger.record_sale(&req, later).unwrap();
    assert_eq!(recorded, Recorded::Replay);
    assert_eq!(again, first);
    assert_eq!(fingerprint(&ledger), after_first);

    let other = sale("s1", Some(&standard()), vec![line("tea", 1_600)], None);
    let err = ledger.record_sale(&other, later).unwrap_err();
    assert!(
        matches!(err, LedgerError::SaleConflict(ref id) if id == "s1"),
        "{err:?}"
    );
    assert_eq!(fingerprint(&ledger), after_first);
}

/// The same refund id with the same body answers the first answer and writes nothing (no
/// second reversal); with another body, or the same id against another sale, it is a
/// conflict and writes nothing.
#[test]
fn a_repeated_refund_id_answers_what_was_recorded_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(&dir);
    let lines = vec![line("tea", 1_500), line("cake", 1_500)];
    ledger
        .record_sale(&sale("s1", Some(&standard()), lines, None), now())
        .unwrap();
    ledger
        .record_sale(
            &sale("s2", Some(&standard()), vec![line("tea", 800)], None),
            now(),
        )
        .unwrap();
    let req = refund("r1", vec![line("tea", 1_500)]);
    let (recorded, first) = ledger.record_refund("s1", &req, now()).unwrap();
    assert_eq!(recorded, Recorded::New);
    assert!(first.reversed_points > 0, "{first:?}");
    let after_first = fingerprint(&ledger);

    let later = now() + chrono::Duration::minutes(10);
    let (recorded, again) = ledger.record_refund("s1", &req, later).unwrap();
    assert_eq!(recorded, Recorded::Replay);
    assert_eq!(again, first);
    assert_eq!(fingerprint(&ledger), after_first);

    let other = refund("r1", vec![line("cake", 1_500)]);
    let err = ledger.record_refund("s1", &other, later).unwrap_err();
    assert!(
        matches!(err, LedgerError::RefundConflict(ref id) if id == "r1"),
        "{err:?}"
    );
    let err = ledger.record_refund("s2", &req, later).unwrap_err();
    assert!(matches!(err, LedgerError::RefundConflict(_)), "{err:?}");
    assert_eq!(fingerprint(&ledger), after_first);
}

/// A sale the rules refuse writes nothing: no event, no sale row, no state change, and for a
/// new card not even the provisional member and its event made earlier in the transaction.
#[test]
fn a_refused_sale_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(&dir);
    let before = fingerprint(&ledger);

    let too_many = sale(
        "s1",
        Some(&standard()),
        vec![line("tea", 9_000)],
        Some(5_000),
    );
    let err = ledger.record_sale(&too_many, now()).unwrap_err();
    assert!(
        matches!(err, LedgerError::Sale(SaleError::InsufficientPoints { .. })),
        "{err:?}"
    );
    assert_eq!(fingerprint(&ledger), before);

    // A new card has no points: refused after its provisional member was made.
    let new_card = sale("s2", Some(&new_card()), vec![line("tea", 900)], Some(100));
    let err = ledger.record_sale(&new_card, now()).unwrap_err();
    assert!(
        matches!(err, LedgerError::Sale(SaleError::InsufficientPoints { .. })),
        "{err:?}"
    );
    assert_eq!(fingerprint(&ledger), before);

    let no_member = sale("s3", None, vec![line("tea", 900)], Some(100));
    let err = ledger.record_sale(&no_member, now()).unwrap_err();
    assert!(matches!(err, LedgerError::MemberRequired), "{err:?}");
    assert_eq!(fingerprint(&ledger), before);

    // The refused ids stay free.
    let (recorded, _) = ledger
        .record_sale(
            &sale("s1", Some(&standard()), vec![line("tea", 900)], None),
            now(),
        )
        .unwrap();
    assert_eq!(recorded, Recorded::New);
}

/// The member's state after a sale is its state before with `evaluate_sale`'s outcome applied
/// (`take_sale` with the rules), and that outcome is the one recorded; after a refund, the
/// state before with `evaluate_refund`'s outcome applied (`take_refund`, no compaction).
#[test]
fn member_state_after_a_sale_or_refund_is_the_engines_outcome_applied() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(&dir);
    let rules = ledger.rules();
    let date = ledger.business_date(now());
    let code = standard();
    let before = state_of(&ledger, &code).unwrap();

    let req = sale(
        "s1",
        Some(&code),
        vec![line("tea", 2_400), line("cake", 600)],
        Some(200),
    );
    let (_, answer) = ledger.record_sale(&req, now()).unwrap();
    let expected_outcome = evaluate_sale(
        &rules,
        &before,
        &Sale {
            sale_id: "s1".into(),
            store_id: "s1".into(),
            business_date: date,
            lines: req.lines.iter().map(Line::from).collect(),
            redeem_points: 200,
            coupon_ids: Vec::new(),
        },
    )
    .unwrap();
    let row = ledger.store().write(|tx| tx.sale("s1")).unwrap().unwrap();
    assert_eq!(row.outcome.as_ref(), Some(&expected_outcome));
    let mut expected = before.clone();
    expected.take_sale(&expected_outcome, Some(&rules));
    let after_sale = state_of(&ledger, &code).unwrap();
    assert_eq!(after_sale, expected);
    assert_ne!(after_sale, before);
    assert_eq!(answer.balance_after, expected.balance(date));

    let refund_req = refund("r1", vec![line("tea", 2_400)]);
    ledger.record_refund("s1", &refund_req, now()).unwrap();
    let refund_outcome = evaluate_refund(
        &rules,
        &after_sale,
        &row.lines,
        &expected_outcome,
        &[],
        &Refund {
            refund_id: "r1".into(),
            business_date: date,
            lines: refund_req.lines.iter().map(Line::from).collect(),
        },
    )
    .unwrap();
    let mut expected = after_sale.clone();
    expected.take_refund(&refund_outcome, None);
    assert_eq!(state_of(&ledger, &code).unwrap(), expected);
    assert_ne!(expected, after_sale);
}

/// The API's one-trip sale (`record_sale_if_cached`): a card this till has not cached comes
/// back unrecorded with nothing written (the API asks the hub, then records); everything else
/// is recorded, refused or replayed exactly as `record_sale` would.
#[test]
fn a_sale_for_an_uncached_card_waits_for_the_hub_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(&dir);
    let before = fingerprint(&ledger);
    let new = sale("s-new", Some(&new_card()), vec![line("tea", 1_000)], None);
    assert_eq!(ledger.record_sale_if_cached(&new, now()).unwrap(), None);
    assert_eq!(fingerprint(&ledger), before, "nothing written");

    // Then recorded as ever, enrolling the card; a replay of it needs nothing more.
    let (recorded, first) = ledger.record_sale(&new, now()).unwrap();
    assert_eq!(recorded, Recorded::New);
    let replay = ledger.record_sale_if_cached(&new, now()).unwrap();
    assert_eq!(replay, Some((Recorded::Replay, first)));

    // A cached member and a sale without one: recorded in the one call.
    for (id, code) in [("s-std", Some(standard())), ("s-anon", None)] {
        let req = sale(id, code.as_deref(), vec![line("tea", 500)], None);
        let (recorded, _) = ledger.record_sale_if_cached(&req, now()).unwrap().unwrap();
        assert_eq!(recorded, Recorded::New, "{id}");
    }

    // A revoked card is refused, not sent to the hub.
    ledger
        .store()
        .write(|tx| tx.revoke_code(&standard()))
        .unwrap();
    let req = sale("s-revoked", Some(&standard()), vec![line("tea", 500)], None);
    assert!(matches!(
        ledger.record_sale_if_cached(&req, now()),
        Err(LedgerError::Revoked(_))
    ));
}

/// One sale of a tea for ¥500, to `code`'s member or with no card.
fn sell_tea(ledger: &Ledger, id: &str, code: Option<&str>) {
    ledger
        .record_sale(&sale(id, code, vec![line("tea", 500)], None), now())
        .unwrap();
}

/// The pages each of twelve more such sales appends to an emptied write-ahead log, fewest
/// first.
fn pages_per_sale(dir: &tempfile::TempDir, ledger: &Ledger, code: Option<&str>) -> Vec<u64> {
    let db = dir.path().join("tenpo.db");
    let mut frames: Vec<u64> = (0..12)
        .map(|i| {
            crate::store::wal_probe::frames_of(&db, || {
                sell_tea(ledger, &format!("S-20261122-0002-{i:06}"), code);
            })
        })
        .collect();
    frames.sort_unstable();
    frames
}

/// The mean of `frames`, in tenths of a page.
fn tenths(frames: &[u64]) -> u64 {
    frames.iter().sum::<u64>() * 10 / frames.len() as u64
}

/// docs/design.md §8: a sale's commit carries one page for each b-tree it changes, and its
/// fsync costs by the pages. A member's sale on a till that has sold before changes its
/// outbox event (which since schema 9 also holds the answer given), the event's member index
/// and the index of sale ids: three pages, and two more when the outbox starts a new leaf
/// (every two or three such sales) or the file grows. The member's state is held and written
/// in batches (schema 11, store/held.rs). Counted as the frames one sale appends to an emptied
/// write-ahead log. Measured: 4.0 a sale on average now ([3 ×6, 5 ×6]); 5.0 before schema 11
/// (the state's row in every sale); 6.1 before schema 9 (the sale stored again in a table of
/// its own); 9.1 before schema 6.
#[test]
fn a_member_sale_commits_a_handful_of_pages() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(&dir);
    let code = standard();
    for i in 0..20 {
        sell_tea(&ledger, &format!("warm-{i}"), Some(&code));
    }
    let frames = pages_per_sale(&dir, &ledger, Some(&code));
    assert!(
        tenths(&frames) <= 45 && frames[0] == 3 && frames.iter().all(|&f| f <= 7),
        "pages a sale wrote: {frames:?}"
    );
}

/// A sale with no member card changes its outbox event and the index of sale ids: two pages.
/// Measured: [2 ×9, 4, 5, 5] now; [3 ×9, 5, 6, 6] before schema 9 (a table of sales beside
/// its index); [4 ×9, 6, 7, 7] before schema 7 (the event also in the index of members'
/// events, under no member). Growing the file adds page 1 and a new leaf, as above.
#[test]
fn a_sale_without_a_member_commits_two_pages() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(&dir);
    for i in 0..20 {
        sell_tea(&ledger, &format!("warm-{i}"), None);
    }
    let frames = pages_per_sale(&dir, &ledger, None);
    assert_eq!(
        frames[frames.len() / 2],
        2,
        "pages a sale wrote: {frames:?}"
    );
    assert!(
        frames.iter().all(|&f| f <= 5),
        "pages a sale wrote: {frames:?}"
    );
}

/// A regular customer carries a point lot for each sale that earned, until it expires: a few
/// kilobytes of state. Held and written in batches since schema 11, such a member's sale commits
/// as few pages as anyone's. Measured: 4.0 a sale on average now ([3 ×6, 5 ×6]); 5.0 before
/// schema 11, its state's row in its own table where it keeps about 4,000 bytes on its page
/// ([4 ×6, 6 ×6]); 6.0 before schema 9 ([5 ×8, 8 ×4]); before schema 8, in the `members` table
/// (`WITHOUT ROWID`, about 1,000 bytes a row on its page, the rest in overflow pages rewritten
/// by every sale), 8–9.
#[test]
fn a_regular_customers_sale_commits_a_handful_of_pages() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(&dir);
    let code = standard();
    // Sale ids as a POS writes them: 60 lots of about 40 bytes each.
    for i in 0..60 {
        sell_tea(&ledger, &format!("S-20261122-0001-{i:06}"), Some(&code));
    }
    let state = ledger.store().member_by_code(&code).unwrap().unwrap().state;
    assert!(state.lots.len() >= 60, "{} lots", state.lots.len());
    let frames = pages_per_sale(&dir, &ledger, Some(&code));
    assert!(
        tenths(&frames) <= 45 && frames[0] == 3,
        "pages a sale wrote: {frames:?}"
    );
}
