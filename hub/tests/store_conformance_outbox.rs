//! The message outbox through the store's traits, one suite for both backends (docs/design.md
//! §10, §12): the claim under caps and quiet hours and the daily scan; and, on PostgreSQL, a
//! member unlinking or turning news off while a page is written, two senders of two hubs
//! claiming from one outbox at once, and a signup finished at one hub used at the other.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::backends::{open_postgres, till};
use common::line_store::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::Utc;
use tenpo_hub::scenarios::daily;
use tenpo_hub::store::outbox::{MessageClass, Planned, Profile};
use tenpo_hub::store::{
    Claim, Finished, Greeting, HomeStores, LineStore, MessageOutcome, Refusal, ScanMessage,
    StoreError, TillStore,
};
use tenpo_loyalty::{Date, RuleSet};
use tenpo_protocol::signup::SignupKind;

crate::on_both_backends!(
    a_claim_takes_the_members_business_first_then_news_under_the_cap,
    the_daily_scan_plans_linked_members_and_queues_each_message_once,
    a_scan_page_is_written_as_the_members_are_when_it_is_written,
    the_daily_scan_writes_pages_at_once_in_member_order,
);

async fn a_claim_takes_the_members_business_first_then_news_under_the_cap<
    S: TillStore + LineStore,
>(
    store: &S,
) {
    let member = linked_member(store, "U1").await;
    // The greeting's rows out of the way.
    let greeted = store.claim_messages(claim(10), at(1)).await.unwrap();
    sent(store, &greeted, at(1)).await;
    queue_news(store, &member, "U1", 3, at(2)).await;

    // Asleep (another zone's quiet hours): only the transactional row goes.
    let night = Claim {
        marketing_to: HomeStores::Only(vec!["waikiki".into()]),
        quiet_until: at(3_600),
        ..claim(10)
    };
    let claimed = store.claim_messages(night, at(3)).await.unwrap();
    assert_eq!(scenarios(&claimed), ["coupon"]);
    // Leased: not claimed again until the lease runs out.
    assert!(
        store
            .claim_messages(claim(10), at(4))
            .await
            .unwrap()
            .iter()
            .all(|m| m.scenario != "coupon")
    );
    sent(store, &claimed, at(5)).await;

    // Awake: two of the news (the weekly cap), oldest first; the third waits.
    let claimed = store.claim_messages(claim(10), at(3_601)).await.unwrap();
    assert_eq!(scenarios(&claimed), ["news0", "news1"]);
    sent(store, &claimed, at(3_602)).await;
    assert!(
        store
            .claim_messages(claim(10), at(3_603))
            .await
            .unwrap()
            .is_empty()
    );
    // Eight days on, the third goes.
    let week = 8 * 86_400;
    let claimed = store.claim_messages(claim(10), at(week)).await.unwrap();
    assert_eq!(scenarios(&claimed), ["news2"]);
    // LINE said try later: due again from then, with the same retry key.
    let key = claimed[0].message_id.clone();
    let retry = Finished::of(
        &claimed[0],
        MessageOutcome::Retry {
            not_before: at(week + 60),
            error: "429".into(),
        },
    );
    store
        .finish_messages(vec![retry], at(week + 1))
        .await
        .unwrap();
    assert!(
        store
            .claim_messages(claim(10), at(week + 30))
            .await
            .unwrap()
            .is_empty()
    );
    let again = store
        .claim_messages(claim(10), at(week + 61))
        .await
        .unwrap();
    assert_eq!(
        (again[0].message_id.as_str(), again[0].attempts),
        (key.as_str(), 2)
    );
    let counts = store.outbox_counts().await.unwrap();
    assert_eq!((counts.sent, counts.sending, counts.pending), (5, 1, 0));
}

async fn the_daily_scan_plans_linked_members_and_queues_each_message_once<
    S: TillStore + LineStore,
>(
    store: &S,
) {
    store.set_planner(Arc::new(DailyNews));
    let today: Date = "2026-11-20".parse().unwrap();
    // No rule set yet: nothing to plan with.
    let page = store
        .plan_linked(today, HomeStores::All, String::new(), 10)
        .await
        .unwrap();
    assert_eq!(page.members, 0);
    store.load_rules(RuleSet::demo(), Utc::now()).await.unwrap();
    let mut members = BTreeSet::new();
    for user in ["U1", "U2", "U3"] {
        members.insert(linked_member(store, user).await);
    }
    // Pages of two: the first says where the next begins.
    let first = store
        .plan_linked(today, HomeStores::All, String::new(), 2)
        .await
        .unwrap();
    assert_eq!(first.members, 2);
    let next = first.next.clone().unwrap();
    let second = store
        .plan_linked(today, HomeStores::All, next, 2)
        .await
        .unwrap();
    assert_eq!((second.members, second.next.as_ref()), (1, None));
    let planned: BTreeSet<String> = first
        .messages
        .iter()
        .chain(&second.messages)
        .map(|m| m.member_id.clone())
        .collect();
    assert_eq!(planned, members);
    // Another zone's members are read and passed over.
    let elsewhere = store
        .plan_linked(
            today,
            HomeStores::Only(vec!["waikiki".into()]),
            String::new(),
            10,
        )
        .await
        .unwrap();
    assert_eq!(elsewhere.members, 0);
    let all: Vec<ScanMessage> = first.messages.into_iter().chain(second.messages).collect();
    assert_eq!(store.queue_linked(all.clone(), at(1)).await.unwrap(), 3);
    assert_eq!(store.queue_linked(all, at(2)).await.unwrap(), 0);
}

/// The LINE users of the rows of scenarios starting `prefix`, in the order a sender takes
/// them (each claim sent at once).
async fn sending_order<S: LineStore>(store: &S, prefix: &str) -> Vec<String> {
    let mut order = Vec::new();
    loop {
        let claimed = store.claim_messages(claim(50), at(4)).await.unwrap();
        if claimed.is_empty() {
            return order;
        }
        order.extend(
            claimed
                .iter()
                .filter(|m| m.scenario.starts_with(prefix))
                .map(|m| m.line_user_id.clone()),
        );
        sent(store, &claimed, at(4)).await;
    }
}

/// The daily scan over pages of two, up to `LineStore::scan_writers` of them written at once
/// while the next is read (PostgreSQL with a hub's default pool: three; SQLite: one): every
/// linked member is looked at, each message
/// queued once, and a sender takes them in member order, page after page, as planned. Run
/// again (a hub restarted mid-day), it queues nothing new.
async fn the_daily_scan_writes_pages_at_once_in_member_order<S: TillStore + LineStore>(store: &S) {
    store.set_planner(Arc::new(DailyNews));
    store.load_rules(RuleSet::demo(), Utc::now()).await.unwrap();
    let mut users = BTreeMap::new();
    for i in 1..=9 {
        let user = format!("U{i}");
        users.insert(linked_member(store, &user).await, user);
    }
    let today: Date = "2026-11-20".parse().unwrap();
    let scan = daily::queue_linked_members(store, &HomeStores::All, today, 2)
        .await
        .unwrap();
    assert_eq!(scan, (9, 9), "(members, messages)");

    let in_member_order: Vec<String> = users.into_values().collect();
    assert_eq!(sending_order(store, "news-").await, in_member_order);

    let again = daily::queue_linked_members(store, &HomeStores::All, today, 2)
        .await
        .unwrap();
    assert_eq!(again, (9, 0), "queued again");
}

/// A page of the daily scan is planned from what was read, then written a moment later
/// (docs/design.md §10): what changed in between is read again as the page is written. A
/// member who unlinked gets nothing, a user who blocked the account gets an `unreachable` row,
/// a member who turned store news off gets only their own business; a key planned twice is
/// written once, and the page's rows keep the order they were planned in.
async fn a_scan_page_is_written_as_the_members_are_when_it_is_written<S: TillStore + LineStore>(
    store: &S,
) {
    let users = ["U1", "U2", "U3", "U4", "U5"];
    let mut members = Vec::new();
    for user in users {
        members.push(linked_member(store, user).await);
    }
    let planned = |i: usize, key: &str, class: MessageClass| ScanMessage {
        member_id: members[i].clone(),
        line_user_id: users[i].into(),
        planned: Planned {
            dedupe_key: format!("{key}:{}", members[i]),
            message: message(&format!("scan-{key}"), class),
        },
    };
    // Planned in this order: the fifth member's first, so that ids alone do not give it.
    let page = vec![
        planned(4, "news", MessageClass::Marketing),
        planned(0, "news", MessageClass::Marketing),
        planned(0, "news", MessageClass::Marketing),
        planned(1, "news", MessageClass::Marketing),
        planned(2, "news", MessageClass::Marketing),
        planned(3, "news", MessageClass::Marketing),
        planned(3, "points", MessageClass::Transactional),
    ];
    // Between the plan and the write: U2 unlinks, U3 blocks the account, the fourth member
    // turns store news off.
    store.unlink_line("U2".into(), None, at(2)).await.unwrap();
    store
        .line_events(
            vec![event("b-U3", "U3", false, 2_000)],
            Greeting::default(),
            at(2),
        )
        .await
        .unwrap();
    let no_news = Profile {
        marketing: false,
        ..Profile::default()
    };
    store
        .save_profile(members[3].clone(), no_news, at(2))
        .await
        .unwrap();
    let before = store.outbox_counts().await.unwrap();

    assert_eq!(store.queue_linked(page.clone(), at(3)).await.unwrap(), 4);

    let scan_states = |views: Vec<tenpo_hub::store::MessageView>| -> Vec<(String, String)> {
        views
            .into_iter()
            .filter(|v| v.scenario.starts_with("scan-"))
            .map(|v| (v.scenario, v.state))
            .collect()
    };
    let of = |i: usize| store.member_messages(members[i].clone());
    let s = |scenario: &str, state: &str| (scenario.to_owned(), state.to_owned());
    assert_eq!(
        scan_states(of(0).await.unwrap()),
        [s("scan-news", "pending")]
    );
    assert_eq!(scan_states(of(1).await.unwrap()), []);
    let blocked = of(2).await.unwrap();
    assert_eq!(
        scan_states(blocked.clone()),
        [s("scan-news", "unreachable")]
    );
    assert!(
        blocked
            .iter()
            .any(|v| v.scenario == "scan-news" && v.last_error.is_some()),
        "{blocked:?}"
    );
    assert_eq!(
        scan_states(of(3).await.unwrap()),
        [s("scan-points", "pending")]
    );
    assert_eq!(
        scan_states(of(4).await.unwrap()),
        [s("scan-news", "pending")]
    );
    let after = store.outbox_counts().await.unwrap();
    assert_eq!(
        (
            after.pending - before.pending,
            after.unreachable - before.unreachable
        ),
        (3, 1),
        "the counts follow the rows"
    );

    // The rows a sender takes, in the order planned: the fifth member's news before the first's.
    assert_eq!(sending_order(store, "scan-").await, ["U4", "U5", "U1"]);

    // Written again (a scan run again after a restart): nothing new.
    assert_eq!(store.queue_linked(page, at(5)).await.unwrap(), 0);
}

/// After a scan that queued many messages, PostgreSQL's planner knows the queue: a sender's
/// claim planned for the empty outbox it last saw read every waiting message to sort it. It
/// learns it from a small sample (a histogram of ten parts, not the default hundred): the
/// default's reading of the table was a few percent of a scan of 1,000,000.
#[tokio::test]
async fn after_a_big_scan_the_planner_knows_the_queue() {
    let url = common::postgres::cluster().fresh_database().await;
    let store = open_postgres(&url).await;
    let member = linked_member(&store, "U1").await;
    queue_news(&store, &member, "U1", 40, at(1)).await;
    let sql = common::backends::sql_client(&url).await;
    let rows: i64 = sql
        .query_one("SELECT COUNT(*) FROM messages", &[])
        .await
        .unwrap()
        .get(0);
    store.scan_queued(1_000_000).await.unwrap();
    let planned: f32 = sql
        .query_one(
            "SELECT reltuples FROM pg_class WHERE oid = 'messages'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(planned, rows as f32);
    let parts: i32 = sql
        .query_one(
            "SELECT array_length(histogram_bounds::text::bigint[], 1) - 1 FROM pg_stats
             WHERE tablename = 'messages' AND attname = 'id'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        parts, 10,
        "the ids' histogram, from a sample of the target asked"
    );
}

/// A member who unlinks, or turns store news off, while a page of the scan is being written
/// is sent nothing of it that they withdrew. On PostgreSQL the page's write reads the link and
/// the choice as its statement starts, and the change's clean-up of what waits for the member
/// does not see rows not yet committed: a page held up at that moment (here by another hub's
/// key, written and rolled back) landed pending rows, and the next claim sent them. The claim
/// reads both as it takes each row.
#[tokio::test]
async fn what_a_member_withdraws_while_a_page_is_written_is_not_sent() {
    let url = common::postgres::cluster().fresh_database().await;
    let store = open_postgres(&url).await;
    let users = ["U1", "U2", "U3"];
    let mut members = Vec::new();
    for user in users {
        members.push(linked_member(&store, user).await);
    }
    let planned = |i: usize, scenario: &str, class: MessageClass| ScanMessage {
        member_id: members[i].clone(),
        line_user_id: users[i].into(),
        planned: Planned {
            dedupe_key: format!("{scenario}:{}", members[i]),
            message: message(scenario, class),
        },
    };
    let page = vec![
        planned(0, "scan-points", MessageClass::Transactional),
        planned(1, "scan-points", MessageClass::Transactional),
        planned(2, "scan-news", MessageClass::Marketing),
    ];

    // Another session writes the first row's key and holds it uncommitted: the page's write
    // waits for it after reading the links and choices.
    let other = common::backends::sql_client(&url).await;
    other
        .batch_execute(&format!(
            "BEGIN;
             INSERT INTO messages (dedupe_key, member_id, line_user_id, scenario, class, channel,
                                   action, body, state, not_before_ms, created_at)
             VALUES ('scan-points:{0}', '{0}', 'U1', 'other', 'transactional', 'line', 'push',
                     '[]', 'pending', 0, now())",
            members[0]
        ))
        .await
        .unwrap();
    let writing = tokio::spawn({
        let store = store.clone();
        async move { store.queue_linked(page, at(3)).await }
    });
    let sql = common::backends::sql_client(&url).await;
    assert!(
        common::backends::someone_waits_for_a_transaction(&sql).await,
        "the page's write waits for the other session's key"
    );
    store.unlink_line("U2".into(), None, at(4)).await.unwrap();
    let no_news = Profile {
        marketing: false,
        ..Profile::default()
    };
    store
        .save_profile(members[2].clone(), no_news, at(4))
        .await
        .unwrap();
    other.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(writing.await.unwrap().unwrap(), 3, "the page written");

    let claimed = store.claim_messages(claim(10), at(5)).await.unwrap();
    let scan: Vec<&str> = claimed
        .iter()
        .filter(|m| m.scenario.starts_with("scan-"))
        .map(|m| m.line_user_id.as_str())
        .collect();
    assert_eq!(scan, ["U1"], "nothing withdrawn is sent");
    for (i, why) in [
        (1, "the member unlinked their LINE account"),
        (2, "the member turned store news off"),
    ] {
        let views = store.member_messages(members[i].clone()).await.unwrap();
        let row = views
            .iter()
            .find(|v| v.scenario.starts_with("scan-"))
            .unwrap();
        assert_eq!(
            (row.state.as_str(), row.last_error.as_deref()),
            ("expired", Some(why)),
            "{views:?}"
        );
    }
}

#[tokio::test]
async fn two_hubs_sending_from_one_outbox_never_take_the_same_row() {
    let url = common::postgres::cluster().fresh_database().await;
    let a = open_postgres(&url).await;
    let b = open_postgres(&url).await;
    let mut users = Vec::new();
    for n in 0..20 {
        let user = format!("U{n}");
        linked_member(&a, &user).await;
        users.push(user);
    }
    // Forty rows (a rich menu and a welcome each), claimed by both hubs at once, ten at a time.
    let mut taken = Vec::new();
    for round in 0..4 {
        let now = at(10 + round);
        let (x, y) = tokio::join!(
            a.claim_messages(claim(10), now),
            b.claim_messages(claim(10), now)
        );
        let (x, y) = (x.unwrap(), y.unwrap());
        sent(&a, &x, now).await;
        sent(&b, &y, now).await;
        taken.extend(x.into_iter().chain(y).map(|m| m.id));
    }
    let distinct: BTreeSet<i64> = taken.iter().copied().collect();
    assert_eq!(distinct.len(), taken.len(), "a row was claimed twice");
    assert_eq!(distinct.len(), 40);
    assert_eq!(a.outbox_counts().await.unwrap().sent, 40);
}

#[tokio::test]
async fn a_signup_finished_at_one_hub_is_used_at_the_other() {
    let url = common::postgres::cluster().fresh_database().await;
    let a = open_postgres(&url).await;
    let b = open_postgres(&url).await;
    let (till, _) = till(&a, "shibuya").await;
    let code = token(&till, SignupKind::Signup, None);
    let record = a
        .complete_signup(completion(code.clone(), "U1"), at(0))
        .await
        .unwrap();
    // The phone's retry reaches the other hub: the same answer, no second member.
    let again = b
        .complete_signup(completion(code.clone(), "U1"), at(1))
        .await
        .unwrap();
    assert_eq!(again, record);
    // Another LINE account with the same code, at either hub: refused.
    for hub in [&a, &b] {
        let e = hub
            .complete_signup(completion(code.clone(), "U2"), at(2))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Signup(Refusal::Used)), "{e}");
    }
    // Two signups of one LINE user at both hubs at once: one member.
    let (x, y) = tokio::join!(
        a.complete_signup(
            completion(token(&till, SignupKind::Signup, None), "U3"),
            at(3)
        ),
        b.complete_signup(
            completion(token(&till, SignupKind::Signup, None), "U3"),
            at(3)
        ),
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.member.member_id, y.member.member_id);
    assert!(
        x.existing_member != y.existing_member,
        "one made it, one found it"
    );
    assert_eq!(a.counts().await.unwrap().members, 2);
}
