//! Notifications through the store's traits, one suite for both backends (docs/design.md
//! §11): a purchase counted for the first notification of its item and taken back by a refund,
//! email's outbox with unsubscribing, and no more than the weekly number a member.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{Duration, Utc};
use common::backends::{push, till};
use common::wishes::*;
use tenpo_hub::store::catalog::{EmailClaim, EmailOutcome};
use tenpo_hub::store::outbox::{Channel, Language, Profile};
use tenpo_hub::store::{CatalogStore, HomeStores, LineStore, TillStore};
use tenpo_hub::wishes::WishSettings;
use tenpo_loyalty::{MemberState, RuleSet};
use tenpo_protocol::events::{EventBody, RefundEvent, WishKind};

crate::on_both_backends!(
    a_purchase_counts_for_the_first_notification_and_a_refund_takes_it_back,
    email_goes_to_members_who_chose_it_until_they_unsubscribe,
    no_more_than_the_weekly_number_go_and_the_rest_wait_their_turn,
);

async fn a_purchase_counts_for_the_first_notification_and_a_refund_takes_it_back<
    S: TillStore + LineStore + CatalogStore,
>(
    store: &S,
) {
    store.set_wish_settings(line_on());
    let rules = RuleSet::demo();
    store.load_rules(rules.clone(), Utc::now()).await.unwrap();
    let member = linked_member(store, "U-buyer").await;
    feed_items(store, "i-1", vec![item("tea", None, 300)]).await;
    store
        .add_wish(
            member.clone(),
            "tea".into(),
            WishKind::ALL.to_vec(),
            Utc::now(),
        )
        .await
        .unwrap();
    // Back in stock, then the last one: two notifications of the tea.
    assert_eq!(
        feed_stock(store, "s-1", vec![level("tea", "shibuya", 3)]).await,
        1
    );
    assert_eq!(
        feed_stock(store, "s-2", vec![level("tea", "shibuya", 1)]).await,
        1
    );

    // The member buys tea at another store's till: the first notification has it.
    let (t, terminal) = till(store, "ueno").await;
    let none = MemberState::default();
    let (sale, outcome) = common::sale(&t, 1, Some(&member), &rules, &none, "s-tea", 1_200, 0);
    push(store, &terminal, &[&sale]).await;
    let f = facts(store).await;
    let bought: Vec<(bool, i64)> = f.iter().map(|x| (x.bought, x.yen)).collect();
    assert_eq!(bought, [(true, 1_200), (false, 0)]);
    // The line comes back: nothing was bought.
    let outcome = outcome.unwrap();
    let mut after = none.clone();
    after.apply_sale(&outcome);
    let sold = common::lines(1_200);
    let half = common::lines(1_200);
    let refund = |id: &str, seq: u64, earlier: &[tenpo_loyalty::Line]| {
        let day = "2026-11-20".parse().unwrap();
        let evaluated = tenpo_loyalty::evaluate_refund(
            &rules,
            &after,
            &sold,
            &outcome,
            earlier,
            &tenpo_loyalty::Refund {
                refund_id: id.into(),
                business_date: day,
                lines: half.clone(),
            },
        )
        .unwrap();
        common::event(
            &t,
            seq,
            EventBody::Refund(RefundEvent {
                refund_id: id.into(),
                sale_id: "s-tea".into(),
                member_id: Some(member.clone()),
                occurred_at: Utc::now().to_rfc3339(),
                business_date: day,
                lines: half.clone(),
                outcome: Some(evaluated),
            }),
        )
    };
    push(store, &terminal, &[&refund("r-1", 2, &[])]).await;
    let f = facts(store).await;
    assert_eq!((f[0].bought, f[0].yen), (false, 0));
    // Another member's tea counts for nobody.
    let (other_sale, _) = common::sale(&t, 4, None, &rules, &none, "s-anon", 300, 0);
    push(store, &terminal, &[&other_sale]).await;
    assert!(facts(store).await.iter().all(|x| !x.bought));
}

async fn email_goes_to_members_who_chose_it_until_they_unsubscribe<
    S: TillStore + LineStore + CatalogStore,
>(
    store: &S,
) {
    store.set_wish_settings(line_on());
    let member = linked_member(store, "U-mail").await;
    let profile = Profile {
        language: Language::En,
        channel: Channel::Email,
        email: Some("hanako@example.jp".into()),
        ..Profile::default()
    };
    store
        .save_profile(member.clone(), profile, Utc::now())
        .await
        .unwrap();
    feed_items(store, "i-1", vec![item("tea", None, 300)]).await;
    store
        .add_wish(
            member.clone(),
            "tea".into(),
            vec![WishKind::Restock],
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(
        feed_stock(store, "s-1", vec![level("tea", "shibuya", 3)]).await,
        1
    );
    assert!(line_notices(store).await.is_empty(), "by email, not LINE");
    // The member's store (shibuya) sleeps: the email waits until it wakes.
    let wakes = Utc::now() + Duration::hours(2);
    let asleep = EmailClaim {
        limit: 10,
        lease: Duration::seconds(60),
        awake: HomeStores::Except(vec!["shibuya".into()]),
        quiet_until: wakes,
    };
    assert!(
        store
            .claim_emails(asleep, Utc::now())
            .await
            .unwrap()
            .is_empty()
    );
    let claim = EmailClaim {
        limit: 10,
        lease: Duration::seconds(60),
        awake: HomeStores::All,
        quiet_until: Utc::now(),
    };
    assert!(
        store
            .claim_emails(claim.clone(), Utc::now())
            .await
            .unwrap()
            .is_empty()
    );
    let jobs = store.claim_emails(claim.clone(), wakes).await.unwrap();
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job.address, "hanako@example.jp");
    assert_eq!((job.notice.item_name(), job.attempts), ("tea name", 1));
    // Leased: a second sender gets nothing; a lost lease is claimed again with the same id.
    assert!(
        store
            .claim_emails(claim.clone(), wakes)
            .await
            .unwrap()
            .is_empty()
    );
    let later = wakes + Duration::seconds(61);
    let again = store.claim_emails(claim.clone(), later).await.unwrap();
    assert_eq!(
        (again[0].link_id.as_str(), again[0].attempts),
        (job.link_id.as_str(), 2)
    );
    // The first sender's late retry cannot undo the second's attempt; a send always counts.
    let retry = EmailOutcome::Retry {
        not_before: later,
        error: "451".into(),
    };
    store.finish_email(job.id, 1, retry, later).await.unwrap();
    store
        .finish_email(job.id, 2, EmailOutcome::Sent, later)
        .await
        .unwrap();
    assert!(facts(store).await[0].delivered);

    // The links' key is made once and kept.
    let key = store.unsubscribe_key().await.unwrap();
    assert_ne!(key, [0u8; 32]);
    assert_eq!(store.unsubscribe_key().await.unwrap(), key);

    // Out of stock and back: a second email; the member unsubscribes before it goes.
    feed_stock(store, "s-2", vec![level("tea", "shibuya", 0)]).await;
    assert_eq!(
        feed_stock(store, "s-3", vec![level("tea", "shibuya", 2)]).await,
        1
    );
    assert!(
        store
            .unsubscribe_email(member.clone(), Utc::now())
            .await
            .unwrap()
    );
    assert!(
        !store
            .unsubscribe_email(member.clone(), Utc::now())
            .await
            .unwrap()
    );
    let in_a_week = Utc::now() + Duration::days(8);
    assert!(
        store
            .claim_emails(claim, in_a_week)
            .await
            .unwrap()
            .is_empty()
    );
    // Unsubscribed from email, linked to LINE: the next one goes in LINE.
    feed_stock(store, "s-4", vec![level("tea", "shibuya", 0)]).await;
    assert_eq!(
        feed_stock(store, "s-5", vec![level("tea", "shibuya", 2)]).await,
        1
    );
    let f = facts(store).await;
    assert_eq!(f.last().unwrap().channel, "line");
}

async fn no_more_than_the_weekly_number_go_and_the_rest_wait_their_turn<
    S: TillStore + LineStore + CatalogStore,
>(
    store: &S,
) {
    store.set_wish_settings(WishSettings {
        per_week: 2,
        ..line_on()
    });
    let member = linked_member(store, "U-many").await;
    let skus = ["a", "b", "c"];
    feed_items(
        store,
        "i-1",
        skus.iter().map(|s| item(s, None, 100)).collect(),
    )
    .await;
    for sku in skus {
        store
            .add_wish(
                member.clone(),
                sku.into(),
                vec![WishKind::Restock],
                Utc::now(),
            )
            .await
            .unwrap();
    }
    let stock = skus.iter().map(|s| level(s, "shibuya", 5)).collect();
    assert_eq!(feed_stock(store, "s-1", stock).await, 3);
    let now: Vec<String> = line_notices(store)
        .await
        .into_iter()
        .map(|n| n.wish.item_ja)
        .collect();
    assert_eq!(now.len(), 2, "the third waits a week: {now:?}");
}
