//! What the LINE conformance suites share: a LINE user, signup tokens and completions, webhook
//! events, claims and the messages a member was sent.

#![allow(dead_code, clippy::unwrap_used)]

use super::backends::till;

use chrono::{DateTime, Duration, TimeZone, Utc};
use tenpo_hub::store::outbox::{
    MessageAction, MessageClass, NewMessage, Planned, Planner, Recipient,
};
use tenpo_hub::store::{
    Claim, CompleteSignup, Finished, Greeting, HomeStores, LineEvent, LineStore, MessageOutcome,
    ScanMessage, TillStore,
};
use tenpo_loyalty::{Coupon, Date, RuleSet, SaleOutcome};
use tenpo_protocol::signup::{self as wire, SignupKind, SignupToken};

/// A LINE user id as LINE makes them: long enough that nothing else in the feed can hold it
/// by chance (the feed must never show it; a short id turned up in random tokens).
pub const ALICE: &str = "U4af4980629000000000000000000a11c";

pub fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
}

pub fn message(scenario: &str, class: MessageClass) -> NewMessage {
    NewMessage {
        scenario: scenario.into(),
        class,
        action: MessageAction::Push {
            messages_json: format!(r#"[{{"type":"text","text":"{scenario}"}}]"#),
        },
        expires_after: None,
    }
}

pub fn greeting() -> Greeting {
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

pub fn token(till: &super::Till, kind: SignupKind, card: Option<&str>) -> SignupToken {
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

pub fn completion(token: SignupToken, line_user: &str) -> CompleteSignup {
    CompleteSignup {
        token,
        line_user_id: line_user.into(),
        today: "2026-11-20".parse().unwrap(),
        welcome_stamps: 1,
        greeting: greeting(),
    }
}

pub fn event(id: &str, user: &str, following: bool, at_ms: i64) -> LineEvent {
    LineEvent {
        webhook_event_id: id.into(),
        kind: if following { "follow" } else { "unfollow" }.into(),
        occurred_at_ms: at_ms,
        user_id: Some(user.into()),
        following: Some(following),
    }
}

pub fn claim(limit: u32) -> Claim {
    Claim {
        limit,
        lease: Duration::seconds(60),
        transactional_only: false,
        marketing_to: HomeStores::All,
        quiet_until: at(0),
        marketing_per_week: 2,
    }
}

pub fn scenarios(claimed: &[tenpo_hub::store::OutboxMessage]) -> Vec<String> {
    claimed.iter().map(|m| m.scenario.clone()).collect()
}

pub async fn sent<S: LineStore>(
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
pub async fn linked_member<S: TillStore + LineStore>(store: &S, user: &str) -> String {
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

/// Plans one store-news message a day for every linked member.
#[derive(Debug)]
pub struct DailyNews;

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

pub async fn queue_news<S: LineStore>(
    store: &S,
    member: &str,
    user: &str,
    n: u32,
    now: DateTime<Utc>,
) {
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
