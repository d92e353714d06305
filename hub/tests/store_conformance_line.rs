//! Members in LINE through the store's traits, one suite for both backends (docs/design.md
//! §5, §10, §12): signups and card links, LINE's webhook and friendships, profiles and
//! unlinking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::backends::till;
use common::line_store::*;

use chrono::Utc;
use tenpo_hub::review::ReviewLimits;
use tenpo_hub::store::outbox::{MessageAction, MessageClass, NewMessage, Profile};
use tenpo_hub::store::{LineStore, Refusal, StoreError, TillStore};
use tenpo_loyalty::Date;
use tenpo_protocol::signup::SignupKind;
use tenpo_protocol::sync::{Change, PushStatus};

crate::on_both_backends!(
    a_line_user_signs_up_once_and_links_cards_by_the_rules,
    follows_greet_once_and_an_unfollow_holds_back_their_messages,
    a_profile_is_kept_and_turning_news_off_stops_what_waits,
    unlinking_stops_the_members_messages_and_changes_the_menu_back,
);

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
