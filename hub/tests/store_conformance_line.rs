//! Members in LINE through the store's traits, one suite for both backends (docs/design.md
//! §5, §10, §12): signups and card links, LINE's webhook and friendships, the outbox's claim
//! under caps and quiet hours, profiles, unlinking and the daily scan; and, on PostgreSQL, two
//! senders of two hubs claiming from one outbox at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::backends::{open_postgres, till};
use tenpo_hub::review::ReviewLimits;
use tenpo_hub::store::outbox::{
    MessageAction, MessageClass, NewMessage, Planned, Planner, Profile, Recipient,
};
use tenpo_hub::store::{
    Claim, CompleteSignup, Finished, Greeting, HomeStores, LineEvent, LineStore, MessageOutcome,
    Refusal, ScanMessage, StoreError, TillStore,
};
use tenpo_loyalty::{Coupon, Date, RuleSet, SaleOutcome};
use tenpo_protocol::signup::{self as wire, SignupKind, SignupToken};
use tenpo_protocol::sync::{Change, PushStatus};

crate::on_both_backends!(
    a_line_user_signs_up_once_and_links_cards_by_the_rules,
    follows_greet_once_and_an_unfollow_holds_back_their_messages,
    a_claim_takes_the_members_business_first_then_news_under_the_cap,
    a_profile_is_kept_and_turning_news_off_stops_what_waits,
    unlinking_stops_the_members_messages_and_changes_the_menu_back,
    the_daily_scan_plans_linked_members_and_queues_each_message_once,
);

/// A LINE user id as LINE makes them: long enough that nothing else in the feed can hold it
/// by chance (the feed must never show it; a short id turned up in random tokens).
const ALICE: &str = "U4af4980629000000000000000000a11c";

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
}

fn message(scenario: &str, class: MessageClass) -> NewMessage {
    NewMessage {
        scenario: scenario.into(),
        class,
        action: MessageAction::Push {
            messages_json: format!(r#"[{{"type":"text","text":"{scenario}"}}]"#),
        },
        expires_after: None,
    }
}

fn greeting() -> Greeting {
    Greeting {
        rich_menu: Some(NewMessage {
            scenario: "rich_menu".into(),
            class: MessageClass::Transactional,
            action: MessageAction::LinkRichMenu {
                rich_menu_id: "richmenu-member".into(),
            },
            expires_after: None,
        }),
        welcome: Some(message("welcome", MessageClass::Transactional)),
    }
}

fn token(till: &common::Till, kind: SignupKind, card: Option<&str>) -> SignupToken {
    let mut nonce = [0u8; wire::NONCE_LEN];
    getrandom::fill(&mut nonce).unwrap();
    SignupToken {
        kind,
        store_id: till.store_id.clone(),
        terminal_id: till.terminal_id.clone(),
        expires_at: Utc::now().timestamp() + 600,
        nonce,
        card_code: card.map(str::to_owned),
    }
}

fn completion(token: SignupToken, line_user: &str) -> CompleteSignup {
    CompleteSignup {
        token,
        line_user_id: line_user.into(),
        today: "2026-11-20".parse().unwrap(),
        welcome_stamps: 1,
        greeting: greeting(),
    }
}

fn event(id: &str, user: &str, following: bool, at_ms: i64) -> LineEvent {
    LineEvent {
        webhook_event_id: id.into(),
        kind: if following { "follow" } else { "unfollow" }.into(),
        occurred_at_ms: at_ms,
        user_id: Some(user.into()),
        following: Some(following),
    }
}

fn claim(limit: u32) -> Claim {
    Claim {
        limit,
        lease: Duration::seconds(60),
        transactional_only: false,
        marketing_to: HomeStores::All,
        quiet_until: at(0),
        marketing_per_week: 2,
    }
}

fn scenarios(claimed: &[tenpo_hub::store::OutboxMessage]) -> Vec<String> {
    claimed.iter().map(|m| m.scenario.clone()).collect()
}

async fn sent<S: LineStore>(
    store: &S,
    claimed: &[tenpo_hub::store::OutboxMessage],
    now: DateTime<Utc>,
) {
    let done = claimed
        .iter()
        .map(|m| {
            Finished::of(
                m,
                MessageOutcome::Sent {
                    request_id: Some("req".into()),
                },
            )
        })
        .collect();
    store.finish_messages(done, now).await.unwrap();
}

/// A member signed up with LINE as `user`, following the account.
async fn linked_member<S: TillStore + LineStore>(store: &S, user: &str) -> String {
    let (till, _) = till(store, "shibuya").await;
    let record = store
        .complete_signup(
            completion(token(&till, SignupKind::Signup, None), user),
            at(0),
        )
        .await
        .unwrap();
    store
        .line_events(
            vec![event(&format!("f-{user}"), user, true, 1)],
            Greeting::default(),
            at(0),
        )
        .await
        .unwrap();
    record.member.member_id
}

async fn a_line_user_signs_up_once_and_links_cards_by_the_rules<S: TillStore + LineStore>(
    store: &S,
) {
    let (till, terminal) = till(store, "shibuya").await;
    let first = token(&till, SignupKind::Signup, None);
    let record = store
        .complete_signup(completion(first.clone(), ALICE), at(0))
        .await
        .unwrap();
    assert!(!record.existing_member);
    assert!(
        record.member.number.starts_with("29"),
        "{}",
        record.member.number
    );
    assert_eq!(record.member.state.stamps.count, 1);
    // The phone sends it again: the same answer. Another LINE account with the same code: no.
    let again = store
        .complete_signup(completion(first.clone(), ALICE), at(1))
        .await
        .unwrap();
    assert_eq!(again, record);
    let e = store
        .complete_signup(completion(first.clone(), "U-other"), at(1))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Signup(Refusal::Used)), "{e}");
    // A second signup by the same LINE user finds their member.
    let second = store
        .complete_signup(
            completion(token(&till, SignupKind::Signup, None), ALICE),
            at(2),
        )
        .await
        .unwrap();
    assert!(second.existing_member);
    assert_eq!(second.member.member_id, record.member.member_id);
    let member = store
        .member_by_line_user(ALICE.into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(member.member_id, record.member.member_id);
    assert_eq!(store.signup(first.id()).await.unwrap().unwrap(), record);
    assert_eq!(
        store
            .home_store(member.member_id.clone())
            .await
            .unwrap()
            .as_deref(),
        Some("shibuya")
    );
    assert!(store.card_key().await.unwrap().is_some());
    // The feed tells the kiosk's till, without the LINE user.
    let page = store.changes(None, 100).await.unwrap();
    let signups: Vec<_> = page
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::SignupCompleted { signup } => Some(signup),
            _ => None,
        })
        .collect();
    assert_eq!(signups.len(), 2);
    assert!(
        signups
            .iter()
            .all(|s| s.member_number == record.member.number)
    );
    assert!(
        !serde_json::to_string(&page.changes)
            .unwrap()
            .contains(ALICE)
    );
    // The greeting waits for the follow: a rich menu and a welcome, once.
    let waiting = store
        .member_messages(member.member_id.clone())
        .await
        .unwrap();
    let mut kinds: Vec<&str> = waiting.iter().map(|m| m.scenario.as_str()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["rich_menu", "welcome"]);

    // Card links: a paper card a till knows, then the rules.
    let card = common::card(42);
    let made = common::provisional(&till, 1, "p-42", &card);
    let items = vec![serde_json::value::to_raw_value(&common::item(&made)).unwrap()];
    let prepared =
        tenpo_hub::intake::prepare(&terminal, items, common::date("2026-11-20")).unwrap();
    let pushed = store
        .push(
            terminal.clone(),
            prepared,
            ReviewLimits::default(),
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(pushed.results[0].status, PushStatus::Stored);
    let linked = store
        .complete_signup(
            completion(token(&till, SignupKind::CardLink, Some(&card)), "U2"),
            at(3),
        )
        .await
        .unwrap();
    assert_eq!(
        (linked.member.member_id.as_str(), linked.existing_member),
        ("p-42", false)
    );
    let e = store
        .complete_signup(
            completion(token(&till, SignupKind::CardLink, Some(&card)), "U3"),
            at(4),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Signup(Refusal::CardLinkedElsewhere)),
        "{e}"
    );
    // U1 already has a member: a second card cannot take the LINE account.
    let e = store
        .complete_signup(
            completion(
                token(&till, SignupKind::CardLink, Some(&common::card(43))),
                ALICE,
            ),
            at(5),
        )
        .await
        .unwrap_err();
    match e {
        StoreError::Signup(Refusal::LineAccountTaken { number }) => {
            assert_eq!(number, record.member.number)
        }
        other => panic!("{other}"),
    }
}

async fn follows_greet_once_and_an_unfollow_holds_back_their_messages<S: TillStore + LineStore>(
    store: &S,
) {
    let (till, _) = till(store, "shibuya").await;
    let record = store
        .complete_signup(
            completion(token(&till, SignupKind::Signup, None), "U1"),
            at(0),
        )
        .await
        .unwrap();
    // Nothing goes before the follow.
    assert!(
        store
            .claim_messages(claim(10), at(1))
            .await
            .unwrap()
            .is_empty()
    );
    let follow = event("e-1", "U1", true, 1_000);
    let intake = store
        .line_events(vec![follow.clone(), follow.clone()], greeting(), at(1))
        .await
        .unwrap();
    assert_eq!((intake.new, intake.duplicate), (1, 1));
    let claimed = store.claim_messages(claim(10), at(2)).await.unwrap();
    let mut got = scenarios(&claimed);
    got.sort_unstable();
    assert_eq!(got, ["rich_menu", "welcome"]);
    assert!(claimed.iter().all(|m| !m.message_id.is_empty()));
    sent(store, &claimed, at(3)).await;
    // Blocked, then an older follow redelivered late: still blocked.
    store
        .line_events(vec![event("e-2", "U1", false, 3_000)], greeting(), at(4))
        .await
        .unwrap();
    store
        .line_events(vec![event("e-0", "U1", true, 2_000)], greeting(), at(5))
        .await
        .unwrap();
    let f = store.friendship("U1".into()).await.unwrap().unwrap();
    assert_eq!(
        (f.following, f.changed_at_ms, f.first_followed_at_ms),
        (false, 3_000, Some(1_000))
    );
    // Unblocked: the welcome is never sent twice, the menu of this link neither.
    store
        .line_events(vec![event("e-3", "U1", true, 4_000)], greeting(), at(6))
        .await
        .unwrap();
    assert!(
        store
            .claim_messages(claim(10), at(7))
            .await
            .unwrap()
            .is_empty()
    );
    let views = store
        .member_messages(record.member.member_id)
        .await
        .unwrap();
    assert_eq!(views.len(), 2);
    assert!(views.iter().all(|v| v.state == "sent"), "{views:?}");
}

/// Queues `n` marketing messages and one transactional for a member.
async fn queue_news<S: LineStore>(store: &S, member: &str, user: &str, n: u32, now: DateTime<Utc>) {
    let mut page = Vec::new();
    for i in 0..n {
        page.push(ScanMessage {
            member_id: member.into(),
            line_user_id: user.into(),
            planned: Planned {
                dedupe_key: format!("news:{member}:{i}"),
                message: message(&format!("news{i}"), MessageClass::Marketing),
            },
        });
    }
    page.push(ScanMessage {
        member_id: member.into(),
        line_user_id: user.into(),
        planned: Planned {
            dedupe_key: format!("coupon:{member}"),
            message: message("coupon", MessageClass::Transactional),
        },
    });
    assert_eq!(
        store.queue_linked(page.clone(), now).await.unwrap(),
        u64::from(n) + 1
    );
    assert_eq!(store.queue_linked(page, now).await.unwrap(), 0, "once each");
}

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

async fn a_profile_is_kept_and_turning_news_off_stops_what_waits<S: TillStore + LineStore>(
    store: &S,
) {
    let member = linked_member(store, "U1").await;
    assert_eq!(
        store.member_profile(member.clone()).await.unwrap(),
        Profile::default()
    );
    queue_news(store, &member, "U1", 2, at(1)).await;
    let profile = Profile {
        marketing: false,
        birthday: Some(Date::from_ymd(1990, 4, 2).unwrap()),
        name: Some("山田 花子".into()),
        email: Some("hanako@example.com".into()),
        ..Profile::default()
    };
    store
        .save_profile(member.clone(), profile.clone(), at(2))
        .await
        .unwrap();
    assert_eq!(store.member_profile(member.clone()).await.unwrap(), profile);
    let views = store.member_messages(member).await.unwrap();
    let news: Vec<&str> = views
        .iter()
        .filter(|v| v.scenario.starts_with("news"))
        .map(|v| v.state.as_str())
        .collect();
    assert_eq!(news, ["expired", "expired"]);
    let coupon = views.iter().find(|v| v.scenario == "coupon").unwrap();
    assert_eq!(
        coupon.state, "pending",
        "the member's own business still goes"
    );
    assert!(store.member_profile("nobody".into()).await.unwrap() == Profile::default());
}

async fn unlinking_stops_the_members_messages_and_changes_the_menu_back<
    S: TillStore + LineStore,
>(
    store: &S,
) {
    let member = linked_member(store, "U1").await;
    queue_news(store, &member, "U1", 1, at(1)).await;
    let goodbye = NewMessage {
        scenario: "rich_menu".into(),
        class: MessageClass::Transactional,
        action: MessageAction::UnlinkRichMenu,
        expires_after: None,
    };
    let unlinked = store
        .unlink_line("U1".into(), Some(goodbye.clone()), at(2))
        .await
        .unwrap();
    assert_eq!(unlinked.as_deref(), Some(member.as_str()));
    assert!(
        store
            .member_by_line_user("U1".into())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .unlink_line("U1".into(), Some(goodbye), at(3))
            .await
            .unwrap(),
        None
    );
    let views = store.member_messages(member).await.unwrap();
    assert!(
        views
            .iter()
            .filter(|v| v.scenario != "rich_menu" && v.scenario != "welcome")
            .all(|v| v.state == "expired"),
        "{views:?}"
    );
    // Only the menu's change back goes (it belongs to no member now).
    let claimed = store.claim_messages(claim(10), at(4)).await.unwrap();
    let unlinks: Vec<_> = claimed
        .iter()
        .filter(|m| m.action == MessageAction::UnlinkRichMenu)
        .collect();
    assert_eq!(unlinks.len(), 1);
    assert!(
        claimed
            .iter()
            .all(|m| m.scenario == "rich_menu" || m.scenario == "welcome")
    );
}

/// Plans one store-news message a day for every linked member.
#[derive(Debug)]
struct DailyNews;

impl Planner for DailyNews {
    fn after_sale(&self, _: &Recipient<'_>, _: &SaleOutcome, _: Option<&RuleSet>) -> Vec<Planned> {
        Vec::new()
    }

    fn daily(&self, member: &Recipient<'_>, _: &RuleSet, today: Date) -> Vec<Planned> {
        vec![Planned {
            dedupe_key: format!("news:{}:{today}", member.member_id),
            message: message(
                &format!("news-{}", member.profile.language.as_str()),
                MessageClass::Marketing,
            ),
        }]
    }

    fn birthday_coupon(&self, _: &Recipient<'_>, _: &Coupon) -> Vec<Planned> {
        Vec::new()
    }
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
