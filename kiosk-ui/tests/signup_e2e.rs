//! Signup end to end, with real processes: the LINE stand-in, the hub, an enrolled agent, and
//! the kiosk's own state machine and network worker against the agent. The "phone" is this
//! test: it gets an ID token from the stand-in and completes the kiosk's token at the hub.
//! Then the new member is used for a sale at once. The same again with the store's line cut
//! while the customer completes (the phone uses its own data), then restored; and with the agent
//! killed and started again while the code is on the customer's phone. And a paper card
//! scanned at the kiosk linked to LINE, its balance kept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;
use tenpo_e2e::harness::logged;
use tenpo_kiosk::client::AgentClient;
use tenpo_kiosk::kiosk::{Command, Event, Kiosk, KioskConfig, Screen};
use tenpo_kiosk::worker::{self, Worker};
use tenpo_protocol::agent::MemberView;
use tenpo_protocol::signup::SignupKind;

use common::{CHANNEL, Stack, token_of};

/// The kiosk as the app runs it, minus the drawing.
struct Kio {
    model: Kiosk,
    worker: Worker<Command, Event>,
}

impl Kio {
    fn start(stack: &Stack) -> Kio {
        let client = AgentClient::new(&stack.agent, &stack.token).unwrap();
        let worker = worker::kiosk(client, Arc::new(|| {})).unwrap();
        let (model, commands) = Kiosk::new(KioskConfig::default(), Utc::now());
        worker.send(commands);
        Kio { model, worker }
    }

    /// Feeds events to the state machine until `done` holds (bounded).
    async fn until(&mut self, what: &str, limit: Duration, done: impl Fn(&Screen) -> bool) {
        let deadline = Instant::now() + limit;
        while !done(&self.model.screen) {
            assert!(
                Instant::now() < deadline,
                "kiosk never reached {what}; it shows {:?}",
                self.model.screen
            );
            let event = tokio::task::block_in_place(|| {
                self.worker.recv_timeout(Duration::from_millis(200))
            });
            let now = Utc::now();
            if let Some(e) = event {
                let commands = self.model.on_event(e, now);
                self.worker.send(commands);
            }
            let commands = self.model.tick(now);
            self.worker.send(commands);
        }
    }

    async fn attract_url(&mut self) -> String {
        self.until("the attract screen", Duration::from_secs(30), |s| {
            matches!(s, Screen::Attract(_))
        })
        .await;
        match &self.model.screen {
            Screen::Attract(s) => s.liff_url.clone(),
            _ => unreachable!(),
        }
    }

    async fn welcome(&mut self) -> (SignupKind, MemberView) {
        self.until("the welcome screen", Duration::from_secs(60), |s| {
            matches!(s, Screen::Welcome { .. })
        })
        .await;
        match &self.model.screen {
            Screen::Welcome { kind, member } => (*kind, member.clone().expect("the member")),
            _ => unreachable!(),
        }
    }
}

async fn sale(stack: &Stack, id: &str, code: &str, amount: i64) -> serde_json::Value {
    let (status, body) = stack
        .agent_post(
            "/v1/sales",
            &json!({"sale_id": id, "member_code": code,
                    "lines": [{"sku": "bento", "quantity": 1, "amount_yen": amount}]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signup_reaches_welcome_and_the_member_buys_at_once() {
    let stack = Stack::start().await;
    let mut kiosk = Kio::start(&stack);
    let url = kiosk.attract_url().await;
    assert!(
        url.starts_with("https://liff.line.me/1234567890-AbCdEfGh?t=S1."),
        "{url}"
    );

    let id_token = stack
        .id_token(CHANNEL, "U00000000000000000000000000000a01", 600)
        .await;
    let (status, done) = stack.complete(&token_of(&url), &id_token).await;
    assert_eq!(status, 200, "{done}");
    let number = done["member_number"].as_str().unwrap().to_owned();
    assert_eq!(done["existing_member"], false);
    assert!(
        done["card"]["qr"].as_str().unwrap().starts_with("T1."),
        "{done}"
    );

    let (kind, member) = kiosk.welcome().await;
    assert_eq!(kind, SignupKind::Signup);
    assert_eq!(member.number, number);
    assert_eq!(member.stamps.count, 1, "the welcome stamp");
    assert!(!member.provisional);

    // The cashier uses the new member at once.
    let body = sale(&stack, "e2e-1", &number, 1580).await;
    assert_eq!(body["earned_points"], 15);

    // The same LINE account again at the next code: the same member, nothing new.
    let commands = kiosk
        .model
        .on_tap(tenpo_kiosk::kiosk::Tap::Home, Utc::now());
    kiosk.worker.send(commands);
    let url2 = kiosk.attract_url().await;
    assert_ne!(token_of(&url2), token_of(&url));
    let (status, again) = stack.complete(&token_of(&url2), &id_token).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["member_number"], number.as_str());
    assert_eq!(again["existing_member"], true);
    let (_, member) = kiosk.welcome().await;
    assert_eq!(member.number, number);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signup_completes_while_the_store_is_offline() {
    let stack = Stack::start().await;
    let mut kiosk = Kio::start(&stack);
    let url = kiosk.attract_url().await;

    // The store's line goes down; the phone uses its own data.
    stack.line.cut();
    let id_token = stack
        .id_token(CHANNEL, "U00000000000000000000000000000b02", 600)
        .await;
    let (status, done) = stack.complete(&token_of(&url), &id_token).await;
    assert_eq!(status, 200, "{done}");
    let number = done["member_number"].as_str().unwrap().to_owned();

    // The agent cannot learn of it yet: the kiosk still shows its code.
    let status = common::wait_for(
        "the agent to notice the hub is gone",
        Duration::from_secs(30),
        || async {
            let s: serde_json::Value = stack
                .http
                .get(format!("{}/v1/signups/{}", stack.agent, token_of(&url)))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (s["hub_reachable"] == false).then_some(s)
        },
    )
    .await;
    assert_eq!(status["state"], "waiting");
    assert!(matches!(kiosk.model.screen, Screen::Attract(_)));

    // The line is back: the agent asks again, caches the member, the kiosk welcomes.
    stack.line.restore();
    let (_, member) = kiosk.welcome().await;
    assert_eq!(member.number, number);
    let body = sale(&stack, "e2e-offline-1", &number, 2000).await;
    assert_eq!(body["earned_points"], 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signup_open_when_the_agent_is_killed_still_reaches_the_welcome() {
    let mut stack = Stack::start().await;
    let mut kiosk = Kio::start(&stack);
    let url = kiosk.attract_url().await;

    // The agent dies (SIGKILL) while the customer has the code on the phone, and comes back.
    stack.restart_agent().await;
    let id_token = stack
        .id_token(CHANNEL, "U00000000000000000000000000000c03", 600)
        .await;
    let (status, done) = stack.complete(&token_of(&url), &id_token).await;
    assert_eq!(status, 200, "{done}");
    let number = done["member_number"].as_str().unwrap().to_owned();

    // The kiosk asks about the same code again; the new agent takes it up and learns of the
    // completion from the hub.
    let (kind, member) = kiosk.welcome().await;
    assert_eq!(kind, SignupKind::Signup);
    assert_eq!(member.number, number);
    let body = sale(&stack, "e2e-restart-1", &number, 1200).await;
    assert_eq!(body["earned_points"], 12);
    let log = stack.dir.path().join("agent-2.log");
    assert!(
        logged(&log, |l| l.contains("taken up again")).await,
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scanned_paper_card_links_to_line_and_keeps_its_balance() {
    let stack = Stack::start().await;
    // A paper card the till knows: a first sale makes it a member (provisional, then the hub's).
    let card = "2000000000046";
    let first = sale(&stack, "paper-1", card, 5000).await;
    assert_eq!(first["earned_points"], 50);

    // The kiosk is handed the scan (the agent's scan stream is covered by its own tests).
    let mut kiosk = Kio::start(&stack);
    kiosk.attract_url().await;
    let commands = kiosk.model.on_event(
        Event::Scan(tenpo_protocol::agent::ScanEvent {
            scan_id: 1,
            scanner: "kiosk".into(),
            raw: card.into(),
            line_card: false,
            symbology: "ean13".into(),
            at: Utc::now(),
            outcome: tenpo_protocol::agent::ScanOutcome::Member {
                member: reqwest::get(format!("{}/v1/members/{card}", stack.agent))
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap(),
            },
        }),
        Utc::now(),
    );
    kiosk.worker.send(commands);
    kiosk
        .until("the card-link screen", Duration::from_secs(30), |s| {
            matches!(s, Screen::CardLink(_))
        })
        .await;
    let Screen::CardLink(session) = &kiosk.model.screen else {
        unreachable!()
    };
    assert_eq!(session.card_hint.as_deref(), Some("•••••••••0046"));
    let token = token_of(&session.liff_url);
    // The hub must have the card's sale before it can keep the balance: wait for the push.
    common::wait_for("the sale at the hub", Duration::from_secs(30), || async {
        let s: serde_json::Value = reqwest::get(format!("{}/v1/status", stack.agent))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (s["pending_events"] == 0).then_some(())
    })
    .await;

    let id_token = stack
        .id_token(CHANNEL, "U00000000000000000000000000000c03", 600)
        .await;
    let (status, done) = stack.complete(&token, &id_token).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["kind"], "card_link");
    assert_eq!(done["member_number"], card);
    let (kind, member) = kiosk.welcome().await;
    assert_eq!(kind, SignupKind::CardLink);
    assert_eq!(member.points.balance, 50, "the card's balance is kept");

    // Another LINE account cannot take the same card.
    let (status, session) = stack
        .agent_post("/v1/signups", &json!({"card_code": card}))
        .await;
    assert_eq!(status, 201, "{session}");
    let other = stack
        .id_token(CHANNEL, "U00000000000000000000000000000d04", 600)
        .await;
    let (status, refused) = stack
        .complete(session["token"].as_str().unwrap(), &other)
        .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "card_linked_elsewhere");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already linked to another LINE account"),
        "{refused}"
    );
}
