//! Signup at the hub over real HTTP, with the LINE stand-in on its own port: what is accepted,
//! and every refusal (expired token, reused token, forged signature, ID token for another
//! channel, expired ID token, LINE's error bodies, LINE down, a card linked elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use chrono::Utc;
use serde_json::{Value, json};
use tenpo_hub::signup::{LineSettings, SignupService};
use tenpo_line::standin::{IdTokenClaims, StandIn, router};
use tenpo_protocol::signup::{self as wire, SignupKind};

use common::{Hub, Till};

const CHANNEL: &str = "1234567890";
const OTHER: &str = "9876543210";

struct World {
    hub: Hub,
    till: Till,
    standin: Arc<StandIn>,
    standin_url: String,
}

async fn world() -> World {
    let standin = Arc::new(StandIn::new([
        (CHANNEL.to_owned(), "secret-ours".to_owned()),
        (OTHER.to_owned(), "secret-theirs".to_owned()),
    ]));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let standin_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, router(standin.clone())).into_future());
    let api = standin_url.clone();
    let hub = common::start_with(tempfile::tempdir().unwrap(), move |state| {
        state.signup = Arc::new(
            SignupService::new(LineSettings {
                channel_id: Some(CHANNEL.into()),
                liff_id: Some("1234567890-AbCdEfGh".into()),
                api_base: api,
                welcome_stamps: 1,
                ..LineSettings::default()
            })
            .unwrap(),
        );
    })
    .await;
    hub.load_demo_rules().await;
    let till = hub.enroll("shibuya-01").await;
    World {
        hub,
        till,
        standin,
        standin_url,
    }
}

impl World {
    fn id_token(&self, channel: &str, user: &str, valid_secs: i64) -> String {
        self.standin
            .id_token(&IdTokenClaims::new(channel, user, valid_secs))
            .unwrap()
    }

    async fn complete(&self, token: &str, id_token: &str) -> (u16, Value) {
        let r = self
            .hub
            .http
            .post(self.hub.url(&format!("/v1/signups/{token}/complete")))
            .json(&json!({ "id_token": id_token }))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// The LIFF page asking for the member card of an ID token's LINE account.
    async fn card(&self, id_token: &str) -> (u16, Value) {
        let r = self
            .hub
            .http
            .post(self.hub.url("/v1/cards/me"))
            .json(&json!({ "id_token": id_token }))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn status(&self, till: &Till, token: &str) -> (u16, Value) {
        let r = self
            .hub
            .http
            .get(self.hub.url(&format!("/v1/signups/{token}/status?wait=0")))
            .header("authorization", till.auth())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_signup_makes_one_member_per_line_user_and_enters_the_feed() {
    let w = world().await;
    let t = common::signup_token(&w.till, SignupKind::Signup, None, 300);
    let (s, before) = w.status(&w.till, &t).await;
    assert_eq!((s, before["state"].as_str()), (200, Some("waiting")));

    let (s, done) = w.complete(&t, &w.id_token(CHANNEL, "Ualice", 600)).await;
    assert_eq!(s, 200, "{done}");
    let number = done["member_number"].as_str().unwrap().to_owned();
    assert!(number.starts_with("29") && number.len() == 13, "{number}");
    assert_eq!(done["stamps"], 1);
    assert!(done["card"]["qr"].as_str().unwrap().starts_with("T1."));

    let (s, after) = w.status(&w.till, &t).await;
    assert_eq!(s, 200);
    assert_eq!(after["state"], "completed");
    assert_eq!(after["member"]["number"], number.as_str());
    assert!(
        !after.to_string().contains("Ualice"),
        "the LINE user id stays at the hub"
    );

    // The same phone sending again (a lost answer): the same answer.
    let (s, replay) = w.complete(&t, &w.id_token(CHANNEL, "Ualice", 600)).await;
    assert_eq!(
        (s, replay["member_number"].as_str()),
        (200, Some(number.as_str()))
    );
    // Another LINE account with the used token: refused.
    let (s, used) = w.complete(&t, &w.id_token(CHANNEL, "Ubob", 600)).await;
    assert_eq!((s, code(&used)), (409, "signup_used"), "{used}");
    // The same LINE account at another kiosk code: the same member, nothing new.
    let t2 = common::signup_token(&w.till, SignupKind::Signup, None, 300);
    let (s, again) = w.complete(&t2, &w.id_token(CHANNEL, "Ualice", 600)).await;
    assert_eq!(s, 200);
    assert_eq!(again["member_number"], number.as_str());
    assert_eq!(again["existing_member"], true);

    let (changes, _) = w.hub.drain(&w.till, "").await;
    let signups: Vec<&Value> = changes
        .iter()
        .filter(|c| c["kind"] == "signup_completed")
        .collect();
    assert_eq!(signups.len(), 2, "{changes:?}");
    assert_eq!(signups[0]["signup"]["member_number"], number.as_str());
    assert_eq!(
        signups[0]["signup"]["terminal_id"],
        w.till.terminal_id.as_str()
    );
    assert!(!serde_json::to_string(&changes).unwrap().contains("Ualice"));
    assert!(
        changes
            .iter()
            .any(|c| c["kind"] == "member" && c["member"]["number"] == number.as_str())
    );
}

#[tokio::test]
async fn refused_tokens() {
    let w = world().await;
    let id = w.id_token(CHANNEL, "Ucarol", 600);
    // Expired (beyond the clock allowance).
    let expired = common::signup_token(
        &w.till,
        SignupKind::Signup,
        None,
        -(wire::CLOCK_ALLOWANCE_SECS + 5),
    );
    let (s, body) = w.complete(&expired, &id).await;
    assert_eq!((s, code(&body)), (410, "signup_expired"), "{body}");
    // Forged: signed with another key.
    let mut forged_till = w.till.clone();
    forged_till.secret = "0".repeat(64);
    let forged = common::signup_token(&forged_till, SignupKind::Signup, None, 300);
    let (s, body) = w.complete(&forged, &id).await;
    assert_eq!((s, code(&body)), (403, "signup_invalid"), "{body}");
    // Another store's claim under this terminal.
    let mut wrong_store = w.till.clone();
    wrong_store.store_id = "elsewhere".into();
    let (s, body) = w
        .complete(
            &common::signup_token(&wrong_store, SignupKind::Signup, None, 300),
            &id,
        )
        .await;
    assert_eq!((s, code(&body)), (403, "signup_invalid"), "{body}");
    // Garbage.
    let (s, body) = w.complete("S1.AAAA", &id).await;
    assert_eq!((s, code(&body)), (403, "signup_invalid"), "{body}");
    // A terminal asking about another terminal's session.
    let other = w.hub.enroll("shibuya-01").await;
    let mine = common::signup_token(&w.till, SignupKind::Signup, None, 300);
    let (s, body) = w.status(&other, &mine).await;
    assert_eq!((s, code(&body)), (403, "forbidden"), "{body}");
    // None of these used the token up.
    let (s, body) = w.complete(&mine, &id).await;
    assert_eq!(s, 200, "{body}");
}

#[tokio::test]
async fn refused_id_tokens_carry_lines_words() {
    let w = world().await;
    let t = common::signup_token(&w.till, SignupKind::Signup, None, 300);
    let cases = [
        (w.id_token(OTHER, "Udave", 600), "Invalid IdToken Audience."),
        (w.id_token(CHANNEL, "Udave", -10), "IdToken expired."),
        ("not.a.jwt".to_owned(), "Invalid IdToken."),
    ];
    for (id_token, line_says) in cases {
        let (s, body) = w.complete(&t, &id_token).await;
        assert_eq!((s, code(&body)), (401, "line_token_rejected"), "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(line_says), "{message}");
    }
    // LINE down: try again later, nothing used up.
    w.hub
        .http
        .post(format!("{}/standin/outage", w.standin_url))
        .json(&json!({"on": true}))
        .send()
        .await
        .unwrap();
    let (s, body) = w.complete(&t, &w.id_token(CHANNEL, "Udave", 600)).await;
    assert_eq!((s, code(&body)), (502, "line_unavailable"), "{body}");
    w.hub
        .http
        .post(format!("{}/standin/outage", w.standin_url))
        .json(&json!({"on": false}))
        .send()
        .await
        .unwrap();
    let (s, body) = w.complete(&t, &w.id_token(CHANNEL, "Udave", 600)).await;
    assert_eq!(s, 200, "{body}");
}

#[tokio::test]
async fn card_links_keep_the_member_and_refuse_a_second_line_account() {
    let w = world().await;
    let (first, second) = (common::card(1), common::card(2));
    common::import(&w.hub, &[(first.as_str(), 700, 0, None)]).await;
    let (s, body) = w
        .complete(
            &common::signup_token(&w.till, SignupKind::CardLink, Some(&first), 300),
            &w.id_token(CHANNEL, "Ueve", 600),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["kind"], "card_link");
    assert_eq!(body["member_number"], first.as_str());
    assert_eq!(body["existing_member"], false);
    let today = common::date(&Utc::now().format("%Y-%m-%d").to_string());
    assert_eq!(w.hub.state(&first).await.balance(today), 700);

    // The same card, another LINE account.
    let (s, body) = w
        .complete(
            &common::signup_token(&w.till, SignupKind::CardLink, Some(&first), 300),
            &w.id_token(CHANNEL, "Ufrank", 600),
        )
        .await;
    assert_eq!((s, code(&body)), (409, "card_linked_elsewhere"), "{body}");
    // A LINE account with a member already cannot take a second card.
    common::import(&w.hub, &[(second.as_str(), 10, 0, None)]).await;
    let (s, body) = w
        .complete(
            &common::signup_token(&w.till, SignupKind::CardLink, Some(&second), 300),
            &w.id_token(CHANNEL, "Ueve", 600),
        )
        .await;
    assert_eq!((s, code(&body)), (409, "line_account_taken"), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(first.as_str())
    );
}

#[tokio::test]
async fn the_liff_page_loads_lines_sdk() {
    let w = world().await;
    let r = w
        .hub
        .http
        .get(w.hub.url("/liff/signup"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = r.text().await.unwrap();
    assert!(page.contains("https://static.line-scdn.net/liff/edge/2/sdk.js"));
    assert!(page.contains("1234567890-AbCdEfGh"));
}

/// Reads the hub's SVG QR back into text with an independent decoder: the modules of its path
/// painted 4 × 4 pixels each.
fn read_svg_qr(svg: &str) -> String {
    let view = svg.split("viewBox=\"0 0 ").nth(1).unwrap();
    let mut size = view.split(['"', ' ']);
    let w: u32 = size.next().unwrap().parse().unwrap();
    let h: u32 = size.next().unwrap().parse().unwrap();
    let path = svg
        .split(" d=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    const SCALE: u32 = 4;
    let (pw, ph) = (w * SCALE, h * SCALE);
    let mut luma = vec![255u8; (pw * ph) as usize];
    for module in path.split('M').filter(|m| !m.is_empty()) {
        let (x, y) = module.split('h').next().unwrap().split_once(' ').unwrap();
        let (x, y): (u32, u32) = (x.parse().unwrap(), y.parse().unwrap());
        for py in y * SCALE..(y + 1) * SCALE {
            for px in x * SCALE..(x + 1) * SCALE {
                luma[(py * pw + px) as usize] = 0;
            }
        }
    }
    rxing::helpers::detect_in_luma(luma, pw, ph, Some(rxing::BarcodeFormat::QR_CODE))
        .expect("a QR code in the SVG")
        .getText()
        .to_owned()
}

#[tokio::test]
async fn the_member_card_is_a_fresh_signed_qr_for_its_line_account_only() {
    let w = world().await;
    // Not a member yet: the page says how to join.
    let (s, body) = w.card(&w.id_token(CHANNEL, "Uerin", 600)).await;
    assert_eq!((s, code(&body)), (404, "member_not_found"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("kiosk"));

    let t = common::signup_token(&w.till, SignupKind::Signup, None, 300);
    let (s, done) = w.complete(&t, &w.id_token(CHANNEL, "Uerin", 600)).await;
    assert_eq!(s, 200, "{done}");
    let number = done["member_number"].as_str().unwrap();

    let (s, card) = w.card(&w.id_token(CHANNEL, "Uerin", 600)).await;
    assert_eq!(s, 200, "{card}");
    assert_eq!(card["member_number"], number);
    assert_eq!(card["card"]["barcode"], number);
    assert_eq!(
        (
            &card["points"],
            &card["stamps"],
            &card["card_size"],
            &card["tier"]
        ),
        (&json!(0), &json!(1), &json!(10), &json!("スタンダード")),
        "{card}"
    );
    assert!(card["refresh_secs"].as_u64() < card["card"]["valid_secs"].as_u64());
    assert!(
        !card.to_string().contains("Uerin"),
        "the LINE user id stays at the hub"
    );

    // The picture is the QR, and the QR is signed by the key the feed publishes, for her, now.
    let qr = card["card"]["qr"].as_str().unwrap();
    assert_eq!(read_svg_qr(card["qr_svg"].as_str().unwrap()), qr);
    let (token, payload, signature) = tenpo_protocol::card::decode(qr).unwrap();
    assert_eq!(token.member_number, number);
    assert!((token.issued_at - Utc::now().timestamp()).abs() <= 5);
    let (changes, _) = w.hub.drain(&w.till, "").await;
    let key = changes
        .iter()
        .find(|c| c["kind"] == "signing_key" && c["key_id"] == token.key_id)
        .expect("the signing key in the feed");
    use base64::Engine as _;
    let public: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(key["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    ed25519_dalek::VerifyingKey::from_bytes(&public)
        .unwrap()
        .verify_strict(&payload, &ed25519_dalek::Signature::from_bytes(&signature))
        .expect("a signature terminals accept");

    // Refused: another channel's ID token, an expired one, none, and a body that is not JSON.
    for (id_token, want) in [
        (
            w.id_token(OTHER, "Uerin", 600),
            (401, "line_token_rejected"),
        ),
        (
            w.id_token(CHANNEL, "Uerin", -10),
            (401, "line_token_rejected"),
        ),
        (String::new(), (401, "line_token_rejected")),
    ] {
        let (s, body) = w.card(&id_token).await;
        assert_eq!((s, code(&body)), want, "{body}");
    }
    let r = w
        .hub
        .http
        .post(w.hub.url("/v1/cards/me"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
