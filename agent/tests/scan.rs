//! The scan pipeline end to end: a scanner on a real pseudo-terminal, the agent's pipeline,
//! and `GET /v1/scans/stream` read over HTTP on 127.0.0.1.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::time::Duration;

use common::{NEW_CARD, STANDARD, TestAgent};
use serde_json::Value;
use serialport::{SerialPort, TTYPort};
use tenpo_hw::source::{Kind, ScannerConfig};
use tenpo_hw::{CodabarCheck, CodeRules, KeyRing};

/// A bound on every wait, not a timing claim.
const WAIT: Duration = Duration::from_secs(10);

/// Reads server-sent events from a streaming response.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn open(agent: &TestAgent) -> Events {
        // Scans name members: the stream needs the local token.
        let refused = agent
            .client
            .get(format!("{}/v1/scans/stream", agent.url))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status().as_u16(), 401);
        let response = agent
            .client
            .get(format!("{}/v1/scans/stream", agent.url))
            .bearer_auth(&agent.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        Events {
            response,
            buffer: String::new(),
        }
    }

    /// The next `scan` event's data.
    async fn next(&mut self) -> Value {
        tokio::time::timeout(WAIT, async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    let is_scan = block.lines().any(|l| l == "event: scan");
                    if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: "))
                        && is_scan
                    {
                        return serde_json::from_str(data).unwrap();
                    }
                    continue;
                }
                let chunk = self
                    .response
                    .chunk()
                    .await
                    .unwrap()
                    .expect("the stream ended");
                self.buffer.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .expect("no scan event in time")
    }
}

fn scanner(path: &std::path::Path) -> ScannerConfig {
    let mut c = ScannerConfig::new("till-1", Kind::Serial);
    c.path = Some(path.to_owned());
    c
}

fn rules(keys: KeyRing) -> CodeRules {
    CodeRules {
        codabar_check: CodabarCheck::Mod16,
        card_keys: keys,
        card_skew_secs: 60,
    }
}

async fn wait_connected(agent: &TestAgent) {
    for _ in 0..500 {
        let (_, status) = agent.get("/v1/status").await;
        if status["scanners"][0]["connected"] == true {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the scanner never connected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_reach_subscribers_as_members_or_reasons() {
    let (mut master, _slave) = TTYPort::pair().unwrap();
    let path = std::path::PathBuf::from(_slave.name().unwrap());
    let agent = TestAgent::start_with(&[scanner(&path)], rules(KeyRing::new())).await;
    wait_connected(&agent).await;
    let mut events = Events::open(&agent).await;

    master
        .write_all(format!("{STANDARD}\r").as_bytes())
        .unwrap();
    let e = events.next().await;
    assert_eq!(e["outcome"], "member", "{e}");
    assert_eq!(e["scanner"], "till-1");
    assert_eq!(e["symbology"], "ean13");
    assert_eq!(e["member"]["number"], STANDARD);
    assert_eq!(e["member"]["points"]["balance"], 1250);
    assert_eq!(e["member"]["next_tier"]["remaining_yen"], 11_500);

    // The same card again at once counts once: the next event is the bad read after it.
    master
        .write_all(format!("{STANDARD}\r2000000000016\r").as_bytes())
        .unwrap();
    let e = events.next().await;
    assert_eq!(e["outcome"], "rejected", "{e}");
    assert_eq!(e["raw"], "2000000000016");
    assert!(e["reason"].as_str().unwrap().contains("check digit"), "{e}");
    assert!(e.get("product").is_none(), "not a product: {e}");

    // A product's barcode is not a member card, and names the product (a screen can offer
    // the member on the counter a wish for it); one with a wrong check digit names nothing.
    master.write_all(b"4901234567894\r").unwrap();
    let e = events.next().await;
    assert_eq!(e["outcome"], "rejected");
    assert_eq!(e["reason_code"], "product_barcode", "{e}");
    assert!(e["reason"].as_str().unwrap().contains("product"), "{e}");
    assert_eq!(e["product"], "4901234567894", "{e}");
    master.write_all(b"]E496385074\r").unwrap();
    let e = events.next().await;
    assert_eq!(
        (e["symbology"].as_str(), e["product"].as_str()),
        (Some("ean8"), Some("96385074")),
        "{e}"
    );
    master.write_all(b"4901234567893\r").unwrap();
    let e = events.next().await;
    assert_eq!(e["reason_code"], "check_digit", "{e}");
    assert!(e.get("product").is_none(), "{e}");

    // A valid card nobody has seen: said to be new, and a scan alone makes no member (its
    // first sale does).
    let before = agent.fingerprint();
    master
        .write_all(format!("]E0{NEW_CARD}\r").as_bytes())
        .unwrap();
    let e = events.next().await;
    assert_eq!(e["outcome"], "not_known", "{e}");
    assert_eq!(e["new_card"], true, "{e}");
    assert_eq!(e["code"], NEW_CARD);
    assert!(e["message"].as_str().unwrap().contains("new card"), "{e}");
    assert_eq!(agent.fingerprint(), before, "a scan wrote nothing");
    let (code, _) = agent.get(&format!("/v1/members/{NEW_CARD}")).await;
    assert_eq!(code, 404);

    let (_, status) = agent.get("/v1/status").await;
    let s = &status["scanners"][0];
    assert_eq!(
        (s["name"].as_str(), s["connected"].as_bool()),
        (Some("till-1"), Some(true))
    );
    assert_eq!(s["scans"], 6);
    assert_eq!(s["rejections"], 4);
    assert!(s["last_scan_at"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_line_card_qr_is_checked_offline() {
    use ed25519_dalek::SigningKey;
    use tenpo_protocol::card::{CardToken, sign};
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let mut keys = KeyRing::new();
    keys.insert(3, key.verifying_key().to_bytes()).unwrap();
    let (mut master, slave) = TTYPort::pair().unwrap();
    let path = std::path::PathBuf::from(slave.name().unwrap());
    let agent = TestAgent::start_with(&[scanner(&path)], rules(keys)).await;
    wait_connected(&agent).await;
    let mut events = Events::open(&agent).await;
    let now = chrono::Utc::now().timestamp();
    let token = |issued_at: i64, signer: &SigningKey| {
        sign(
            &CardToken {
                key_id: 3,
                member_number: STANDARD.into(),
                issued_at,
                valid_secs: 300,
            },
            signer,
        )
        .unwrap()
    };

    let signed = token(now, &key);
    master
        .write_all(format!("]Q1{signed}\r").as_bytes())
        .unwrap();
    let e = events.next().await;
    assert_eq!(e["outcome"], "member", "{e}");
    assert_eq!(e["symbology"], "qr");
    assert_eq!(e["member"]["number"], STANDARD);
    // The signed code is never echoed (another till would take it within its window).
    assert_eq!(
        (e["raw"].as_str(), e["line_card"].as_bool()),
        (Some(STANDARD), Some(true))
    );
    assert!(!e.to_string().contains(&signed[3..20]), "{e}");

    // A screenshot from an hour ago stops working.
    master
        .write_all(format!("{}\r", token(now - 3_600, &key)).as_bytes())
        .unwrap();
    let e = events.next().await;
    assert_eq!(e["outcome"], "rejected", "{e}");
    assert!(e["reason"].as_str().unwrap().contains("refresh"), "{e}");
    assert_eq!(e["raw"], "T1.…", "{e}");

    // Signed by someone else.
    let forger = SigningKey::from_bytes(&[9u8; 32]);
    master
        .write_all(format!("{}\r", token(now, &forger)).as_bytes())
        .unwrap();
    let e = events.next().await;
    assert_eq!(e["outcome"], "rejected", "{e}");
}

/// A subscriber that connects and never reads must not hold the pipeline up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_does_not_hold_scans_up() {
    let (mut master, slave) = TTYPort::pair().unwrap();
    let path = std::path::PathBuf::from(slave.name().unwrap());
    let agent = TestAgent::start_with(&[scanner(&path)], rules(KeyRing::new())).await;
    wait_connected(&agent).await;
    // The stalled one: a raw connection that asks for the stream and never reads.
    let mut stalled =
        std::net::TcpStream::connect(agent.url.trim_start_matches("http://")).unwrap();
    stalled
        .write_all(
            format!(
                "GET /v1/scans/stream HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {}\r\n\r\n",
                agent.token
            )
            .as_bytes(),
        )
        .unwrap();
    let mut events = Events::open(&agent).await;
    // 400 scans of distinct valid cards (each a new card), in bursts of 25, each burst read
    // back by the live subscriber before the next.
    let codes: Vec<String> = (0..400)
        .map(|i| tenpo_agent::demo::jan(&format!("22{i:010}")))
        .collect();
    for chunk in codes.chunks(25) {
        let burst: String = chunk.iter().map(|c| format!("{c}\r")).collect();
        master.write_all(burst.as_bytes()).unwrap();
        for code in chunk {
            let e = events.next().await;
            assert_eq!(e["code"], code.as_str(), "{e}");
        }
    }
    drop(stalled);
}

/// Two scanners on one till: each scan names its scanner, and each scanner's state is its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_scanners_at_once() {
    let (mut front, front_slave) = TTYPort::pair().unwrap();
    let (mut hand, hand_slave) = TTYPort::pair().unwrap();
    let mut a = scanner(&std::path::PathBuf::from(front_slave.name().unwrap()));
    a.name = "front".into();
    let mut b = scanner(&std::path::PathBuf::from(hand_slave.name().unwrap()));
    b.name = "handheld".into();
    b.terminator = tenpo_hw::source::TerminatorSetting::Lf;
    let agent = TestAgent::start_with(&[a, b], rules(KeyRing::new())).await;
    for _ in 0..500 {
        let (_, s) = agent.get("/v1/status").await;
        if s["scanners"][0]["connected"] == true && s["scanners"][1]["connected"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut events = Events::open(&agent).await;
    front.write_all(format!("{STANDARD}\r").as_bytes()).unwrap();
    let e = events.next().await;
    assert_eq!(
        (e["scanner"].as_str(), e["outcome"].as_str()),
        (Some("front"), Some("member")),
        "{e}"
    );
    // The same card on the other scanner is not a repeat of the first one's read.
    hand.write_all(format!("{STANDARD}\n").as_bytes()).unwrap();
    let e = events.next().await;
    assert_eq!(
        (e["scanner"].as_str(), e["outcome"].as_str()),
        (Some("handheld"), Some("member")),
        "{e}"
    );
    let (_, status) = agent.get("/v1/status").await;
    let names: Vec<&str> = status["scanners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["front", "handheld"]);
    assert_eq!(status["scanners"][0]["scans"], 1);
    assert_eq!(status["scanners"][1]["scans"], 1);
}
