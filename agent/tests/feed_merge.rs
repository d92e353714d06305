//! Applying the hub's feed to the member cache never drops what the till did: a card sold here
//! as a new (provisional) member while a feed page was in flight, which the page then brings as
//! another till's member, keeps this till's sale in the view, and its refund still works.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::Utc;
use common::{NEW_CARD, TestAgent};
use serde_json::json;
use tenpo_loyalty::{MemberState, PointLot};
use tenpo_protocol::sync::MemberSnapshot;

#[tokio::test]
async fn a_page_that_brings_a_card_sold_here_keeps_the_sale_made_here() {
    let agent = TestAgent::start().await;
    // East sells the new card: a provisional member with the sale's 50 points.
    let (status, body) = agent
        .post(
            "/v1/sales",
            &json!({"sale_id": "east-1", "member_code": NEW_CARD,
                    "lines": [{"sku": "tea", "quantity": 1, "amount_yen": 5_000}]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["earned_points"], 50);

    // The page in flight: west's member for the same card, 20 points, made before the hub saw
    // east's event (so it names none of east's ids and nothing of east applied).
    let today = {
        use chrono::Datelike;
        let d = Utc::now().date_naive();
        tenpo_loyalty::Date::from_ymd(d.year(), d.month(), d.day()).unwrap()
    };
    let west = MemberSnapshot {
        member_id: "west-member".into(),
        number: NEW_CARD.into(),
        codes: vec![NEW_CARD.into()],
        provisional: false,
        state: MemberState {
            lots: vec![PointLot {
                lot_id: "west-1".into(),
                earned_on: today,
                expires_on: today.add_months(12).end_of_month(),
                points: 20,
            }],
            ..MemberState::default()
        },
        applied_through: Default::default(),
        merged_ids: vec![],
    };
    let now = Utc::now().to_rfc3339();
    agent
        .store
        .write(|tx| tenpo_agent::sync::apply::cache_member(tx, "till-1", &west, &now))
        .unwrap();

    // The finding: 20 points shown (east's own sale gone) and its refund answered 500.
    let (status, member) = agent.get(&format!("/v1/members/{NEW_CARD}")).await;
    assert_eq!(status, 200, "{member}");
    assert_eq!(member["member_id"], "west-member");
    assert_eq!(member["points"]["balance"], 70, "{member}");
    let (status, refund) = agent
        .post(
            "/v1/sales/east-1/refunds",
            &json!({"refund_id": "east-1-r", "lines": [{"sku": "tea", "quantity": 1, "amount_yen": 5_000}]}),
        )
        .await;
    assert_eq!(status, 201, "{refund}");
    assert_eq!(refund["reversed_points"], 50);
    assert_eq!(refund["balance_after"], 20);
}
