//! The outbox's SQLite statements on an in-memory database: dedupe, the claim's order and
//! filters, leases, retries, expiry.
#![allow(clippy::unwrap_used)]

use chrono::{Duration, TimeZone};
use rusqlite::Connection;

use super::*;
use crate::store::outbox::HomeStores;

fn db() -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    super::super::schema::migrate(&mut conn).unwrap();
    conn
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

fn message(class: MessageClass, expires: Option<Duration>) -> NewMessage {
    NewMessage {
        scenario: "test".into(),
        class,
        action: MessageAction::Push {
            messages_json: r#"[{"type":"text","text":"hi"}]"#.into(),
        },
        expires_after: expires,
    }
}

fn follow(tx: &Transaction<'_>, user: &str, following: bool) {
    tx.execute(
        "INSERT INTO line_friends (line_user_id, following, changed_at_ms) VALUES (?1, ?2, 1)
         ON CONFLICT (line_user_id) DO UPDATE SET following = excluded.following",
        params![user, following],
    )
    .unwrap();
}

/// Member `member`, linked to LINE user `user`.
pub(crate) fn link(tx: &Transaction<'_>, member: &str, user: &str) {
    tx.execute(
        "INSERT INTO members (member_id, number, snapshot, created_at, updated_at)
         VALUES (?1, ?1, '{}', 'now', 'now')",
        [member],
    )
    .unwrap();
    tx.execute(
        "INSERT INTO line_users (line_user_id, member_id, linked_at) VALUES (?1, ?2, 'now')",
        [user, member],
    )
    .unwrap();
}

/// Ten rows at most, a minute's lease, marketing too (two a week).
const CLAIM: Claim = Claim {
    limit: 10,
    lease: Duration::seconds(60),
    transactional_only: false,
    marketing_to: HomeStores::All,
    quiet_until: DateTime::<Utc>::MIN_UTC,
    marketing_per_week: 2,
};

fn claim_now(
    tx: &Transaction<'_>,
    limit: u32,
    transactional_only: bool,
    now: DateTime<Utc>,
) -> Vec<String> {
    let c = Claim {
        limit,
        transactional_only,
        ..CLAIM
    };
    claim(tx, &c, now)
        .unwrap()
        .into_iter()
        .map(|m| m.line_user_id)
        .collect()
}

fn state_of(tx: &Transaction<'_>, user: &str) -> String {
    tx.query_row(
        "SELECT state FROM messages WHERE line_user_id = ?1",
        [user],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn a_cause_writes_its_message_once() {
    let mut conn = db();
    let tx = conn.transaction().unwrap();
    let m = message(MessageClass::Transactional, None);
    assert!(enqueue(&tx, "welcome:m1", Some("m1"), "Ua", &m, at(0)).unwrap());
    assert!(!enqueue(&tx, "welcome:m1", Some("m1"), "Ua", &m, at(5)).unwrap());
    assert_eq!(counts(&tx).unwrap().pending, 1);
}

#[test]
fn transactional_goes_first_and_alone_when_the_quota_is_short() {
    let mut conn = db();
    let tx = conn.transaction().unwrap();
    for (key, user, class) in [
        ("a", "Umarketing1", MessageClass::Marketing),
        ("b", "Utransactional", MessageClass::Transactional),
        ("c", "Umarketing2", MessageClass::Marketing),
    ] {
        follow(&tx, user, true);
        enqueue(&tx, key, None, user, &message(class, None), at(0)).unwrap();
    }
    assert_eq!(claim_now(&tx, 10, true, at(1)), ["Utransactional"]);
    assert_eq!(claim_now(&tx, 1, false, at(1)), ["Umarketing1"]);
    assert_eq!(claim_now(&tx, 10, false, at(1)), ["Umarketing2"]);
    assert!(
        claim_now(&tx, 10, false, at(1)).is_empty(),
        "all are leased"
    );
}

#[test]
fn only_followers_are_sent_to_and_a_blocked_user_is_unreachable() {
    let mut conn = db();
    let tx = conn.transaction().unwrap();
    let m = message(MessageClass::Transactional, None);
    enqueue(&tx, "never-followed", None, "Unew", &m, at(0)).unwrap();
    enqueue(&tx, "blocked", None, "Ublocked", &m, at(0)).unwrap();
    // The unfollow arrives (`line::take` calls this), then a row is written for them.
    follow(&tx, "Ublocked", false);
    blocked(&tx, "Ublocked").unwrap();
    follow(&tx, "Ublate", false);
    enqueue(&tx, "blocked-before", None, "Ublate", &m, at(0)).unwrap();
    assert_eq!(state_of(&tx, "Ublate"), "unreachable");
    assert!(claim_now(&tx, 10, false, at(1)).is_empty());
    assert_eq!(state_of(&tx, "Unew"), "pending", "waits for the follow");
    assert_eq!(state_of(&tx, "Ublocked"), "unreachable");
    follow(&tx, "Unew", true);
    follow(&tx, "Ublocked", true);
    assert_eq!(
        claim_now(&tx, 10, false, at(2)),
        ["Unew"],
        "unreachable stays so"
    );
}

#[test]
fn a_members_waiting_messages_are_found_through_the_member_when_they_block() {
    let mut conn = db();
    let tx = conn.transaction().unwrap();
    for (member, user) in [("m1", "Ublocks"), ("m2", "Ustays")] {
        link(&tx, member, user);
        follow(&tx, user, true);
    }
    let m = message(MessageClass::Marketing, None);
    insert(&tx, "k1", Some("m1"), "Ublocks", Some(true), &m, at(0)).unwrap();
    insert(&tx, "k2", Some("m2"), "Ustays", Some(true), &m, at(0)).unwrap();
    follow(&tx, "Ublocks", false);
    blocked(&tx, "Ublocks").unwrap();
    assert_eq!(state_of(&tx, "Ublocks"), "unreachable");
    assert_eq!(
        state_of(&tx, "Ustays"),
        "pending",
        "only the user who blocked"
    );
}

#[test]
fn a_links_friendship_is_the_users_whichever_is_written_first() {
    let mut conn = db();
    let tx = conn.transaction().unwrap();
    let on_link = |user: &str| -> Option<bool> {
        tx.query_row(
            "SELECT following FROM line_users WHERE line_user_id = ?1",
            [user],
            |r| r.get(0),
        )
        .unwrap()
    };
    follow(&tx, "Ufirst", true);
    link(&tx, "m1", "Ufirst");
    assert_eq!(on_link("Ufirst"), Some(true), "followed, then linked");
    link(&tx, "m2", "Ulater");
    assert_eq!(on_link("Ulater"), None, "not seen to follow");
    follow(&tx, "Ulater", true);
    assert_eq!(on_link("Ulater"), Some(true), "linked, then followed");
    follow(&tx, "Ulater", false);
    assert_eq!(on_link("Ulater"), Some(false), "blocked");
    follow(&tx, "Unobody", false);
    assert_eq!(on_link("Ufirst"), Some(true), "another user's block");
    tx.execute("DELETE FROM line_friends WHERE line_user_id = 'Ulater'", [])
        .unwrap();
    assert_eq!(on_link("Ulater"), None, "no friendship known");
    tx.execute(
        "UPDATE line_users SET line_user_id = 'Unobody' WHERE member_id = 'm1'",
        [],
    )
    .unwrap();
    assert_eq!(
        on_link("Unobody"),
        Some(false),
        "the link moved to a user who blocked"
    );
}

#[test]
fn a_lapsed_lease_is_claimed_again_with_the_same_retry_key() {
    let mut conn = db();
    let tx = conn.transaction().unwrap();
    follow(&tx, "Ua", true);
    enqueue(
        &tx,
        "k",
        None,
        "Ua",
        &message(MessageClass::Transactional, None),
        at(0),
    )
    .unwrap();
    let c = CLAIM;
    let first = claim(&tx, &c, at(1)).unwrap();
    assert!(
        uuid::Uuid::parse_str(&first[0].message_id).is_ok(),
        "the retry key is made at the first claim: {:?}",
        first[0].message_id
    );
    assert!(claim(&tx, &c, at(60)).unwrap().is_empty(), "still leased");
    let again = claim(&tx, &c, at(61)).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].message_id, first[0].message_id);
    assert_eq!(again[0].attempts, 2);
    // The first sender's late failure does not undo the second one's attempt...
    finish(
        &tx,
        &[Finished::of(
            &first[0],
            MessageOutcome::Failed {
                error: "late".into(),
            },
        )],
        at(61),
    )
    .unwrap();
    assert_eq!(state_of(&tx, "Ua"), "sending", "still the second sender's");
    // ...but its late success counts, and the second one's answer changes nothing after it.
    finish(
        &tx,
        &[Finished::of(
            &first[0],
            MessageOutcome::Sent {
                request_id: Some("r1".into()),
            },
        )],
        at(62),
    )
    .unwrap();
    finish(
        &tx,
        &[Finished::of(
            &again[0],
            MessageOutcome::Failed {
                error: "late".into(),
            },
        )],
        at(63),
    )
    .unwrap();
    assert_eq!(
        state_of(&tx, "Ua"),
        "sent",
        "a finished row is not finished again"
    );
    assert!(claim(&tx, &c, at(999)).unwrap().is_empty());
}

#[test]
fn retry_waits_its_time_failed_stays_and_a_late_welcome_expires() {
    let mut conn = db();
    let tx = conn.transaction().unwrap();
    // Ulate has not followed yet: its welcome waits, and is too old by the time they do.
    for user in ["Uretry", "Ufail"] {
        follow(&tx, user, true);
    }
    let m = message(MessageClass::Transactional, Some(Duration::seconds(100)));
    enqueue(&tx, "r", None, "Uretry", &m, at(0)).unwrap();
    enqueue(&tx, "f", None, "Ufail", &m, at(0)).unwrap();
    enqueue(&tx, "l", None, "Ulate", &m, at(0)).unwrap();
    let c = CLAIM;
    let claimed = claim(&tx, &c, at(1)).unwrap();
    assert_eq!(claimed.len(), 2);
    let id = |u: &str| claimed.iter().find(|m| m.line_user_id == u).unwrap();
    finish(
        &tx,
        &[
            Finished::of(
                id("Uretry"),
                MessageOutcome::Retry {
                    not_before: at(30),
                    error: "HTTP 500".into(),
                },
            ),
            Finished::of(
                id("Ufail"),
                MessageOutcome::Failed {
                    error: "LINE refused (400)".into(),
                },
            ),
        ],
        at(2),
    )
    .unwrap();
    assert!(
        claim(&tx, &c, at(29)).unwrap().is_empty(),
        "not before its time"
    );
    let again = claim(&tx, &c, at(30)).unwrap();
    assert_eq!(again.len(), 1);
    finish(
        &tx,
        &[Finished::of(
            &again[0],
            MessageOutcome::Sent { request_id: None },
        )],
        at(31),
    )
    .unwrap();
    follow(&tx, "Ulate", true);
    assert!(claim(&tx, &c, at(101)).unwrap().is_empty());
    assert_eq!(state_of(&tx, "Ulate"), "expired");
    assert_eq!(state_of(&tx, "Ufail"), "failed");
    let n = counts(&tx).unwrap();
    assert_eq!((n.sent, n.failed, n.expired), (1, 1, 1));
}

#[test]
fn an_unknown_outcome_is_not_tried_again_after_lines_retry_window() {
    let mut conn = db();
    let tx = conn.transaction().unwrap();
    follow(&tx, "Ua", true);
    let m = message(MessageClass::Transactional, Some(Duration::days(30)));
    enqueue(&tx, "k", None, "Ua", &m, at(0)).unwrap();
    let c = CLAIM;
    let first = claim(&tx, &c, at(1)).unwrap();
    let no_answer = MessageOutcome::Retry {
        not_before: at(2),
        error: "HTTP 500".into(),
    };
    finish(&tx, &[Finished::of(&first[0], no_answer)], at(2)).unwrap();
    // Within 23 hours of the first try: again, with the same key.
    let second = claim(&tx, &c, at(22 * 3600)).unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].message_id, first[0].message_id);
    finish(
        &tx,
        &[Finished::of(
            &second[0],
            MessageOutcome::Retry {
                not_before: at(22 * 3600 + 1),
                error: "HTTP 500".into(),
            },
        )],
        at(22 * 3600 + 1),
    )
    .unwrap();
    // Past it: LINE may have it and would take the key as new; failed, never a second one.
    assert!(claim(&tx, &c, at(23 * 3600 + 2)).unwrap().is_empty());
    assert_eq!(state_of(&tx, "Ua"), "failed");
    let why: String = tx
        .query_row("SELECT last_error FROM messages", [], |r| r.get(0))
        .unwrap();
    assert!(
        why.contains("retry key lapses 24 hours") && why.contains("HTTP 500"),
        "{why}"
    );
}

#[test]
fn a_message_stopped_in_flight_is_not_sent_when_its_lease_runs_out() {
    let mut conn = db();
    let tx = conn.transaction().unwrap();
    follow(&tx, "Ua", true);
    let m = message(MessageClass::Transactional, None);
    enqueue(&tx, "k", None, "Ua", &m, at(0)).unwrap();
    let c = CLAIM;
    assert_eq!(claim(&tx, &c, at(1)).unwrap().len(), 1);
    // Blocked and back while its sender hangs and never answers.
    follow(&tx, "Ua", false);
    blocked(&tx, "Ua").unwrap();
    follow(&tx, "Ua", true);
    assert!(
        claim(&tx, &c, at(62)).unwrap().is_empty(),
        "the lapsed lease does not send it"
    );
    assert_eq!(state_of(&tx, "Ua"), "expired");
}

#[test]
fn a_block_stops_a_message_in_flight_from_being_tried_again() {
    let mut conn = db();
    let tx = conn.transaction().unwrap();
    follow(&tx, "Ua", true);
    let m = message(MessageClass::Transactional, None);
    enqueue(&tx, "k", None, "Ua", &m, at(0)).unwrap();
    let c = CLAIM;
    let sending = claim(&tx, &c, at(1)).unwrap();
    // The unfollow arrives while LINE is being asked; LINE then answers 500.
    follow(&tx, "Ua", false);
    blocked(&tx, "Ua").unwrap();
    follow(&tx, "Ua", true);
    let no_answer = MessageOutcome::Retry {
        not_before: at(3),
        error: "HTTP 500".into(),
    };
    finish(&tx, &[Finished::of(&sending[0], no_answer)], at(2)).unwrap();
    assert!(claim(&tx, &c, at(10)).unwrap().is_empty());
    assert_eq!(state_of(&tx, "Ua"), "expired");
}

#[test]
fn links_made_before_version_10_get_their_users_friendship() {
    let mut conn = Connection::open_in_memory().unwrap();
    tenpo_support::sqlite::migrate(&mut conn, super::super::schema::MIGRATIONS, 9).unwrap();
    for (member, user) in [("m1", "Ufollows"), ("m2", "Ublocked"), ("m3", "Uunseen")] {
        conn.execute(
            "INSERT INTO members (member_id, number, snapshot, created_at, updated_at)
             VALUES (?1, ?1, '{}', 'now', 'now')",
            [member],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO line_users (line_user_id, member_id, linked_at) VALUES (?1, ?2, 'now')",
            [user, member],
        )
        .unwrap();
    }
    conn.execute(
        "INSERT INTO line_friends (line_user_id, following, changed_at_ms)
         VALUES ('Ufollows', 1, 1), ('Ublocked', 0, 1)",
        [],
    )
    .unwrap();
    super::super::schema::migrate(&mut conn).unwrap();
    let links: Vec<(String, Option<bool>)> = conn
        .prepare("SELECT member_id, following FROM line_users ORDER BY member_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        links,
        [
            ("m1".to_owned(), Some(true)),
            ("m2".to_owned(), Some(false)),
            ("m3".to_owned(), None)
        ]
    );
}

#[test]
fn messages_written_before_version_9_keep_their_ids_keys_and_states() {
    let mut conn = Connection::open_in_memory().unwrap();
    tenpo_support::sqlite::migrate(&mut conn, super::super::schema::MIGRATIONS, 8).unwrap();
    conn.execute(
        "INSERT INTO messages (id, message_id, dedupe_key, member_id, line_user_id, scenario,
             class, channel, action, body, state, attempts, not_before_ms, created_at)
         VALUES (7, '0190a000-0000-7000-8000-000000000001', 'welcome:m1', NULL, 'Ua', 'welcome',
             'transactional', 'line', 'push', '[]', 'sending', 1, 0, 'then')",
        [],
    )
    .unwrap();
    super::super::schema::migrate(&mut conn).unwrap();
    let kept: (i64, Option<String>, String, String, i64) = conn
        .query_row(
            "SELECT id, message_id, dedupe_key, state, attempts FROM messages",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(
        kept,
        (
            7,
            Some("0190a000-0000-7000-8000-000000000001".into()),
            "welcome:m1".into(),
            "sending".into(),
            1
        )
    );
    // A row written now has no retry key until its first claim.
    let tx = conn.transaction().unwrap();
    follow(&tx, "Ub", true);
    let m = message(MessageClass::Transactional, None);
    assert!(enqueue(&tx, "welcome:m2", None, "Ub", &m, at(0)).unwrap());
    let key: Option<String> = tx
        .query_row(
            "SELECT message_id FROM messages WHERE dedupe_key = 'welcome:m2'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(key, None);
}

#[test]
fn marketing_waits_out_each_members_own_quiet_hours() {
    let mut conn = db();
    let tx = conn.transaction().unwrap();
    for (member, user, home) in [
        ("m-tokyo", "Utokyo", Some("shibuya")),
        ("m-hawaii", "Uhawaii", Some("waikiki")),
        ("m-unknown", "Uunknown", None),
    ] {
        link(&tx, member, user);
        follow(&tx, user, true);
        if let Some(store) = home {
            super::super::members::claim_home_store(&tx, member, store).unwrap();
        }
        let m = message(MessageClass::Marketing, None);
        enqueue(&tx, "news", Some(member), user, &m, at(0)).unwrap();
    }
    let welcome = message(MessageClass::Transactional, None);
    enqueue(&tx, "welcome", Some("m-hawaii"), "Uhawaii", &welcome, at(0)).unwrap();
    // Night in Honolulu, day in Tokyo: everyone but Honolulu's members.
    // Honolulu wakes in an hour.
    let c = Claim {
        marketing_to: HomeStores::Except(vec!["waikiki".into()]),
        quiet_until: at(3600),
        ..CLAIM
    };
    let users = |claimed: Vec<OutboxMessage>| -> Vec<(String, MessageClass)> {
        claimed
            .into_iter()
            .map(|m| (m.line_user_id, m.class))
            .collect()
    };
    assert_eq!(
        users(claim(&tx, &c, at(1)).unwrap()),
        [
            ("Uhawaii".to_owned(), MessageClass::Transactional),
            ("Utokyo".to_owned(), MessageClass::Marketing),
            ("Uunknown".to_owned(), MessageClass::Marketing),
        ],
        "a welcome is not marketing: it goes at night too"
    );
    // The night-time row waits until Honolulu wakes: written once, not at every claim.
    let not_before: i64 = tx
        .query_row(
            "SELECT not_before_ms FROM messages WHERE member_id = 'm-hawaii' AND class = 'marketing'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(not_before, at(3600).timestamp_millis());
    let morning = Claim {
        marketing_to: HomeStores::Only(vec!["waikiki".into()]),
        ..CLAIM
    };
    assert!(claim(&tx, &morning, at(60)).unwrap().is_empty());
    // (The first claim's leases have lapsed by then: its welcome is due again too.)
    let later = at(3600);
    let marketing: Vec<_> = users(claim(&tx, &morning, later).unwrap())
        .into_iter()
        .filter(|(_, class)| *class == MessageClass::Marketing)
        .collect();
    assert_eq!(marketing, [("Uhawaii".to_owned(), MessageClass::Marketing)]);
}
