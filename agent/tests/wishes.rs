//! `POST /v1/wishes` over real HTTP on 127.0.0.1, against a real store on disk: a member's wish
//! is an outbox event with the next seq, recorded once per wish id, and a refused one writes
//! nothing (docs/design.md §11).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{NEW_CARD, PREMIER, STANDARD, TestAgent, sale};
use serde_json::{Value, json};
use tenpo_protocol::events::{Event, EventBody, WishEvent, WishKind};

/// A product's JAN with its right check digit.
const JAN: &str = "4901234567894";

fn wish(id: &str, code: &str, item: &str) -> Value {
    json!({"wish_id": id, "member_code": code, "item": item, "wants": ["restock"]})
}

/// The outbox, in order: `(seq, kind, the event as stored)`.
fn outbox(a: &TestAgent) -> Vec<(u64, String, Event)> {
    a.store
        .read(|c| {
            let mut s = c.prepare("SELECT seq, kind, payload FROM outbox ORDER BY seq")?;
            let rows = s.query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?.unsigned_abs(),
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            Ok(rows
                .map(|r| {
                    let (seq, kind, payload) = r.unwrap();
                    (seq, kind, serde_json::from_str(&payload).unwrap())
                })
                .collect())
        })
        .unwrap()
}

#[tokio::test]
async fn a_wish_is_an_outbox_event_with_the_next_seq() {
    // Standalone: no hub to reach, as a till offline. The wish waits in the outbox.
    let a = TestAgent::start().await;
    let (code, _) = a
        .post("/v1/sales", &sale("pos-1", Some(STANDARD), 1200))
        .await;
    assert_eq!(code, 201);
    let mut body = wish("ctr-w-1", STANDARD, JAN);
    body["wants"] = json!(["restock", "last_one"]);
    body["occurred_at"] = json!("2026-11-22T10:15:00+09:00");
    let (code, r) = a.post("/v1/wishes", &body).await;
    assert_eq!(code, 201, "{r}");
    let (_, m) = a.get(&format!("/v1/members/{STANDARD}")).await;
    assert_eq!(r["wish_id"], "ctr-w-1");
    assert_eq!(r["member_id"], m["member_id"]);
    assert_eq!(r["item"], JAN);
    assert_eq!(r["barcode"], true);
    assert_eq!(r["wants"], json!(["restock", "last_one"]));
    assert_eq!(r["occurred_at"], "2026-11-22T01:15:00+00:00");

    let events = outbox(&a);
    assert_eq!(events.len(), 2);
    let (seq, kind, event) = &events[1];
    assert_eq!((*seq, kind.as_str(), event.seq), (2, "wish", 2));
    assert_eq!(event.store_id, "store-1");
    assert_eq!(event.terminal_id, "till-1");
    assert_eq!(
        event.body,
        EventBody::Wish(WishEvent {
            member_id: m["member_id"].as_str().unwrap().to_owned(),
            item: JAN.into(),
            wants: vec![WishKind::Restock, WishKind::LastOne],
            occurred_at: "2026-11-22T01:15:00+00:00".into(),
        })
    );
    let (_, s) = a.get("/v1/status").await;
    assert_eq!(s["pending_events"], 2, "the wish waits to be pushed");

    // A sku is an item too (not barcode-shaped, so no check digit).
    let (code, r) = a
        .post("/v1/wishes", &wish("ctr-w-2", PREMIER, "bento-sake"))
        .await;
    assert_eq!((code, r["barcode"].as_bool()), (201, Some(false)), "{r}");
    assert_eq!(outbox(&a).last().unwrap().0, 3);
}

#[tokio::test]
async fn the_wish_id_is_the_idempotency_key() {
    let a = TestAgent::start().await;
    let body = wish("kiosk-w-1", STANDARD, JAN);
    let (c1, r1) = a.post("/v1/wishes", &body).await;
    let after_first = a.fingerprint();
    let (c2, r2) = a.post("/v1/wishes", &body).await;
    assert_eq!((c1, c2), (201, 200), "{r1} {r2}");
    assert_eq!(r1, r2, "a replay answers the first answer");
    assert_eq!(a.fingerprint(), after_first, "a replay writes nothing");
    assert_eq!(outbox(&a).len(), 1, "one event for the wish");
    for other in [
        wish("kiosk-w-1", STANDARD, "4006381333931"),
        wish("kiosk-w-1", PREMIER, JAN),
        json!({"wish_id": "kiosk-w-1", "member_code": STANDARD, "item": JAN, "wants": ["price_drop"]}),
    ] {
        let (code, e) = a.post("/v1/wishes", &other).await;
        assert_eq!(
            (code, e["error"]["code"].as_str()),
            (409, Some("idempotency_conflict")),
            "{other}: {e}"
        );
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("use a new wish id"),
            "{e}"
        );
    }
    assert_eq!(a.fingerprint(), after_first);
}

#[tokio::test]
async fn refused_wishes_say_why_and_write_nothing() {
    let a = TestAgent::start().await;
    let before = a.fingerprint();
    let long = "x".repeat(65);
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (
            wish("w-1", STANDARD, "4901234567893"),
            422,
            "invalid_request",
            "wrong check digit",
        ),
        (
            wish("w-2", STANDARD, "73513536"),
            422,
            "invalid_request",
            "wrong check digit",
        ),
        (
            wish("w-3", STANDARD, PREMIER),
            422,
            "invalid_request",
            "member card",
        ),
        (
            wish("w-4", NEW_CARD, JAN),
            404,
            "member_not_found",
            "scan the member's card first",
        ),
        (
            wish("w-5", "2000000000016", JAN),
            422,
            "invalid_member_code",
            "check digit wrong",
        ),
        (
            json!({"wish_id": "w-6", "member_code": STANDARD, "item": JAN, "wants": []}),
            422,
            "invalid_request",
            "needs at least one of restock",
        ),
        (
            json!({"wish_id": "w-7", "member_code": STANDARD, "item": JAN}),
            422,
            "invalid_request",
            "missing field `wants`",
        ),
        (
            json!({"wish_id": "w-8", "member_code": STANDARD, "item": JAN, "wants": ["soon"]}),
            422,
            "invalid_request",
            "unknown variant `soon`",
        ),
        (
            json!({"wish_id": "w-9", "member_code": STANDARD, "item": JAN, "wants": ["restock", "restock"]}),
            422,
            "invalid_request",
            "names restock twice",
        ),
        (
            wish("w-10", STANDARD, &long),
            422,
            "invalid_request",
            "`item` must be 1 to 64 characters",
        ),
        (
            wish("w-11", STANDARD, ""),
            422,
            "invalid_request",
            "`item` must be 1 to 64 characters",
        ),
        (
            wish("w-12", STANDARD, "bento sake"),
            422,
            "invalid_request",
            "printable ASCII",
        ),
        (
            wish("", STANDARD, JAN),
            422,
            "invalid_request",
            "`wish_id` must be 1 to 64",
        ),
    ];
    for (body, status, code, words) in cases {
        let (got, e) = a.post("/v1/wishes", &body).await;
        assert_eq!(
            (got, e["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {e}"
        );
        let message = e["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{body}: {message}");
        assert_eq!(a.fingerprint(), before, "{body}: nothing written");
    }
    // Writes need the local token.
    let (code, _) = a
        .post_raw(
            "/v1/wishes",
            wish("w-13", STANDARD, JAN).to_string().into_bytes(),
            None,
        )
        .await;
    assert_eq!(code, 401);
    assert_eq!(a.fingerprint(), before);
    assert!(outbox(&a).is_empty());
}
