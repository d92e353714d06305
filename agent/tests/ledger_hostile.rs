//! The ledger under hostile input, over real HTTP: absurd dates are refused and change nothing,
//! a refused request never stops the next one, back-dated sales earn no second stamp on a day,
//! a lookup never makes a member, and concurrent attempts of one sale id get one answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{Duration, Utc};
use common::{NEW_CARD, STANDARD, TestAgent};
use serde_json::{Value, json};

fn sale(id: &str, code: &str, amount: i64, occurred_at: Option<String>) -> Value {
    let mut s = json!({
        "sale_id": id,
        "member_code": code,
        "lines": [{"sku": "tea", "quantity": 1, "amount_yen": amount}],
    });
    if let Some(at) = occurred_at {
        s["occurred_at"] = json!(at);
    }
    s
}

#[tokio::test]
async fn absurd_dates_are_refused_and_the_next_sale_still_records() {
    let agent = TestAgent::start().await;
    let before = agent.fingerprint();
    let old = (Utc::now() - Duration::days(63)).to_rfc3339();
    for (n, at) in [
        "0001-01-01T12:00:00+09:00".to_owned(),
        "0000-06-01T12:00:00+09:00".to_owned(),
        "2016-05-01T12:00:00+09:00".to_owned(),
        old,
    ]
    .into_iter()
    .enumerate()
    {
        let (status, body) = agent
            .post(
                "/v1/sales",
                &sale(&format!("old-{n}"), STANDARD, 1_500, Some(at.clone())),
            )
            .await;
        assert_eq!(status, 422, "{at}: {body}");
        assert_eq!(body["error"]["code"], "invalid_request", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("days ago"), "{message}");
    }
    let future = (Utc::now() + Duration::minutes(10)).to_rfc3339();
    let (status, _) = agent
        .post("/v1/sales", &sale("future", STANDARD, 1_500, Some(future)))
        .await;
    assert_eq!(status, 422);
    assert_eq!(agent.fingerprint(), before, "refusals wrote nothing");

    // The finding: after the year-0001 sale every later sale answered 500 until a restart.
    let (status, body) = agent
        .post("/v1/sales", &sale("fine", STANDARD, 1_500, None))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = agent.get("/v1/health").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));

    // Late, but within the window, is recorded (a POS flushing its own queue).
    let late = (Utc::now() - Duration::days(20)).to_rfc3339();
    let (status, body) = agent
        .post("/v1/sales", &sale("late", STANDARD, 1_500, Some(late)))
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn back_dated_sales_earn_one_stamp_a_day_whatever_the_order() {
    let agent = TestAgent::start().await;
    let (_, member) = agent.get(&format!("/v1/members/{STANDARD}")).await;
    let stamps_before = member["stamps"]["count"].as_u64().unwrap();
    let yesterday = (Utc::now() - Duration::days(1)).to_rfc3339();
    let mut earned = Vec::new();
    for (id, at) in [
        ("d1", Some(yesterday.clone())),
        ("d2", None),
        ("d3", Some(yesterday.clone())),
        ("d4", None),
    ] {
        let (status, body) = agent
            .post("/v1/sales", &sale(id, STANDARD, 1_500, at))
            .await;
        assert_eq!(status, 201, "{body}");
        earned.push(body["stamps_earned"].as_u64().unwrap());
    }
    assert_eq!(
        earned,
        [1, 1, 0, 0],
        "one stamp for yesterday, one for today"
    );
    let (_, member) = agent.get(&format!("/v1/members/{STANDARD}")).await;
    let card = member["stamps"]["card_size"].as_u64().unwrap();
    assert_eq!(
        member["stamps"]["count"].as_u64().unwrap(),
        (stamps_before + 2) % card
    );
}

#[tokio::test]
async fn looking_a_card_up_never_makes_a_member() {
    // The finding: a lookup (or a scan) of a valid unknown card showed a new member with 0
    // points as fact, and created it.
    let agent = TestAgent::start().await;
    let before = agent.fingerprint();
    let (status, body) = agent.get(&format!("/v1/members/{NEW_CARD}")).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "member_not_found");
    assert_eq!(agent.fingerprint(), before, "a lookup wrote nothing");
    // The first sale enrols it.
    let (status, body) = agent
        .post("/v1/sales", &sale("first", NEW_CARD, 2_000, None))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, member) = agent.get(&format!("/v1/members/{NEW_CARD}")).await;
    assert_eq!(status, 200);
    assert_eq!(member["points"]["balance"], 20);
}

#[tokio::test]
async fn concurrent_attempts_of_one_sale_id_get_one_answer() {
    let agent = TestAgent::start().await;
    let body = sale("same", STANDARD, 3_000, None);
    let attempts = (0..8).map(|_| agent.post("/v1/sales", &body));
    let answers = futures_util::future::join_all(attempts).await;
    // Every attempt in flight together gets the first one's answer; a retry after that is a
    // replay of the same recorded sale.
    let first = &answers[0];
    assert!(answers.iter().all(|a| a == first), "{answers:?}");
    assert!(
        answers.iter().all(|(s, _)| *s == 201 || *s == 200),
        "{answers:?}"
    );
    let (status, later) = agent.post("/v1/sales", &body).await;
    assert_eq!((status, &later), (200, &first.1));
    let outbox: i64 = agent
        .store
        .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM sales", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(outbox, 1);
}

#[tokio::test]
async fn health_says_ok_only_while_a_sale_could_be_written() {
    let agent = TestAgent::start().await;
    let (status, _) = agent.get("/v1/health").await;
    assert_eq!(status, 200);
    // Another process holds the database's write lock (a stuck tool, say): no sale could be
    // recorded, so health must not say ok. (The agent waits its busy timeout first.)
    let other = rusqlite::Connection::open(agent.store.path()).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (status, body) = agent.get("/v1/health").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot write"),
        "{body}"
    );
    other.execute_batch("ROLLBACK").unwrap();
    let (status, _) = agent.get("/v1/health").await;
    assert_eq!(status, 200);
}

/// serde reads a struct from an array of its fields: a body (or a sale line) in that form was
/// recorded as a sale. Only JSON objects are requests; anything else changes nothing.
#[tokio::test]
async fn bodies_and_lines_must_be_objects() {
    let agent = TestAgent::start().await;
    let token = agent.token.clone();
    let before = agent.fingerprint();
    for (path, body) in [
        (
            "/v1/sales",
            r#"["st-arr-1", null, null, [["a", null, 1, 100]], null, null]"#,
        ),
        (
            "/v1/sales",
            r#"{"sale_id":"st-arr-2","lines":[["a", null, 1, 100]]}"#,
        ),
        ("/v1/sales", r#""a sale""#),
        (
            "/v1/sales/pos-1/refunds",
            r#"["r-arr-1", null, [["a", null, 1, 100]]]"#,
        ),
    ] {
        let (status, answer) = agent
            .post_raw(path, body.as_bytes().to_vec(), Some(&token))
            .await;
        assert_eq!(status, 422, "{path} {body}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_request", "{answer}");
    }
    assert_eq!(
        agent.fingerprint(),
        before,
        "nothing may have been recorded"
    );
    // The same sale as an object is taken.
    let (status, answer) = agent
        .post(
            "/v1/sales",
            &json!({"sale_id": "st-arr-1", "lines": [{"sku": "a", "quantity": 1, "amount_yen": 100}]}),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
}
