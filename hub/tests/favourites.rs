//! Favourites on the member card page in LINE (docs/design.md §11) over real HTTP, on a SQLite
//! hub with the LINE stand-in minting ID tokens: the member searches the catalogue (by name,
//! sku or barcode; names in their language), hearts items (all kinds unless said; twice is
//! once), sees them with their kinds and removes them; one member never sees or removes
//! another's; bad input is refused with nothing changed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::Utc;
use serde_json::{Value, json};
use tenpo_hub::scenarios::ScenarioSettings;
use tenpo_hub::store::CatalogStore;
use tenpo_protocol::catalog::{CatalogItem, ItemName, ItemsBatch, StockBatch, StockLevel};

use common::line::{CHANNEL, World, world};

const TEA_JAN: &str = "4901234567894";

/// The catalogue: green tea (with an English name, a barcode and stock), black coffee (neither).
async fn catalogue(w: &World) {
    let items = vec![
        CatalogItem {
            sku: "tea-500".into(),
            jan: Some(TEA_JAN.into()),
            name: ItemName {
                ja: "緑茶 500ml".into(),
                en: Some("Green tea 500ml".into()),
            },
            price_yen: 150,
            image_url: Some("https://img.example.jp/tea.jpg".into()),
            url: None,
            version: None,
        },
        CatalogItem {
            sku: "coffee-1".into(),
            jan: None,
            name: ItemName {
                ja: "ブラックコーヒー".into(),
                en: None,
            },
            price_yen: 130,
            image_url: None,
            url: None,
            version: None,
        },
    ];
    let report = w
        .hub
        .store
        .take_items(
            ItemsBatch {
                batch_id: "items-1".into(),
                items,
            },
            "hash-items-1".into(),
            Utc::now(),
        )
        .await
        .unwrap();
    assert!(report.rejected.is_empty(), "{report:?}");
    let stock = StockBatch {
        batch_id: "stock-1".into(),
        stock: vec![StockLevel {
            sku: "tea-500".into(),
            store_id: "shibuya-01".into(),
            quantity: 4,
            version: None,
        }],
    };
    w.hub
        .store
        .take_stock(stock, "hash-stock-1".into(), Utc::now())
        .await
        .unwrap();
}

async fn search(w: &World, user: &str, query: &str) -> (u16, Value) {
    w.post(
        "/v1/cards/me/catalog/search",
        json!({"id_token": w.id_token(user), "query": query}),
    )
    .await
}

async fn wishes(w: &World, user: &str) -> Vec<Value> {
    let (status, body) = w
        .post("/v1/cards/me/wishes", json!({"id_token": w.id_token(user)}))
        .await;
    assert_eq!(status, 200, "{body}");
    body["wishes"].as_array().unwrap().clone()
}

async fn add(w: &World, user: &str, body: Value) -> (u16, Value) {
    let mut body = body;
    body["id_token"] = json!(w.id_token(user));
    w.post("/v1/cards/me/wishes/add", body).await
}

async fn remove(w: &World, user: &str, item: &str) -> (u16, Value) {
    w.post(
        "/v1/cards/me/wishes/remove",
        json!({"id_token": w.id_token(user), "item": item}),
    )
    .await
}

fn skus(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sku"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_member_searches_hearts_sees_and_removes_favourites() {
    let w = world(ScenarioSettings::default(), 1).await;
    catalogue(&w).await;
    let user = "U00000000000000000000000000fa0001";
    w.sign_up(user).await;
    assert!(wishes(&w, user).await.is_empty());

    // By name, by sku, by barcode, by the English name in any case.
    let (status, found) = search(&w, user, "緑茶").await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(
        found["items"],
        json!([{"sku": "tea-500", "name": "緑茶 500ml", "price_yen": 150,
                "image_url": "https://img.example.jp/tea.jpg", "in_stock": true,
                "wished": false}])
    );
    for query in ["tea-500", TEA_JAN, "GREEN TEA", " 緑茶 "] {
        let (status, found) = search(&w, user, query).await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(skus(&found), ["tea-500"], "{query:?}");
    }
    let (_, found) = search(&w, user, "コーヒー").await;
    assert_eq!(found["items"][0]["in_stock"], false, "no store has coffee");
    let (_, found) = search(&w, user, "nothing like it").await;
    assert_eq!(found["items"], json!([]));

    // A heart: every kind, since none was said.
    let (status, after) = add(&w, user, json!({"sku": "tea-500"})).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["wishes"].as_array().unwrap().len(), 1, "{after}");
    let tea = &after["wishes"][0];
    assert_eq!(
        (&tea["item"], &tea["sku"], &tea["name"], &tea["price_yen"]),
        (
            &json!("tea-500"),
            &json!("tea-500"),
            &json!("緑茶 500ml"),
            &json!(150)
        )
    );
    assert_eq!(tea["kinds"], json!(["restock", "price_drop", "last_one"]));
    // Twice is once.
    let (status, again) = add(&w, user, json!({"sku": "tea-500", "wants": ["price_drop"]})).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["wishes"], after["wishes"]);
    let (_, found) = search(&w, user, "緑茶").await;
    assert_eq!(found["items"][0]["wished"], true, "the heart is filled");

    // Only the kinds asked for.
    let (status, _) = add(&w, user, json!({"sku": "coffee-1", "wants": ["restock"]})).await;
    assert_eq!(status, 200);
    let listed = wishes(&w, user).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let coffee = listed.iter().find(|w| w["sku"] == "coffee-1").unwrap();
    assert_eq!(coffee["kinds"], json!(["restock"]));
    assert_eq!(coffee["name"], "ブラックコーヒー");

    // An English reader reads the catalogue's English names (Japanese where it has none).
    let (status, _) = w
        .post(
            "/v1/cards/me/profile",
            json!({"id_token": w.id_token(user), "language": "en", "marketing": true}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, found) = search(&w, user, "tea").await;
    assert_eq!(found["items"][0]["name"], "Green tea 500ml");
    let listed = wishes(&w, user).await;
    let names: Vec<&Value> = listed.iter().map(|w| &w["name"]).collect();
    assert!(names.contains(&&json!("Green tea 500ml")), "{names:?}");
    assert!(names.contains(&&json!("ブラックコーヒー")), "{names:?}");

    // Removed: gone from the list, the heart empty again.
    let (status, after) = remove(&w, user, "tea-500").await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(
        after["wishes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["item"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["coffee-1"]
    );
    let (_, found) = search(&w, user, "tea").await;
    assert_eq!(found["items"][0]["wished"], false);
    let (status, _) = remove(&w, user, "tea-500").await;
    assert_eq!(status, 404, "nothing left to remove");
}

#[tokio::test]
async fn a_heart_joins_the_wish_made_at_the_counter_for_the_same_item() {
    let w = world(ScenarioSettings::default(), 1).await;
    catalogue(&w).await;
    let user = "U00000000000000000000000000fa0c01";
    let member_id = w.sign_up(user).await;
    // At the counter the cashier scanned the tea's barcode: a wish for its restock.
    w.hub
        .store
        .add_wish(
            member_id.clone(),
            TEA_JAN.into(),
            vec![tenpo_protocol::events::WishKind::Restock],
            Utc::now(),
        )
        .await
        .unwrap();
    let (_, found) = search(&w, user, "緑茶").await;
    assert_eq!(found["items"][0]["wished"], true, "{found}");
    let listed = wishes(&w, user).await;
    assert_eq!(
        (&listed[0]["item"], &listed[0]["sku"]),
        (&json!(TEA_JAN), &json!("tea-500"))
    );

    let (status, after) = add(&w, user, json!({"sku": "tea-500"})).await;
    assert_eq!(status, 200, "{after}");
    let after = after["wishes"].as_array().unwrap();
    assert_eq!(after.len(), 1, "one wish for one item: {after:?}");
    assert_eq!(after[0]["item"], TEA_JAN);
    assert_eq!(
        after[0]["kinds"],
        json!(["restock", "price_drop", "last_one"])
    );
    // The heart, tapped again in the search, removes it by the sku.
    let (status, after) = remove(&w, user, "tea-500").await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["wishes"], json!([]));
}

#[tokio::test]
async fn a_member_neither_sees_nor_removes_anothers_favourites() {
    let w = world(ScenarioSettings::default(), 1).await;
    catalogue(&w).await;
    let (ann, ben) = (
        "U00000000000000000000000000fa00a1",
        "U00000000000000000000000000fa00b2",
    );
    w.sign_up(ann).await;
    let ben_id = w.sign_up(ben).await;
    let (status, _) = add(&w, ben, json!({"sku": "tea-500"})).await;
    assert_eq!(status, 200);

    assert!(wishes(&w, ann).await.is_empty(), "Ann sees none of Ben's");
    let (_, found) = search(&w, ann, "緑茶").await;
    assert_eq!(
        found["items"][0]["wished"], false,
        "Ben's heart is not Ann's"
    );
    let (status, answer) = remove(&w, ann, "tea-500").await;
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not among your favourites")
    );
    assert_eq!(wishes(&w, ben).await.len(), 1, "Ben's wish stays");
    assert_eq!(w.hub.store.member_wishes(ben_id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn bad_requests_are_refused_and_change_nothing() {
    let w = world(ScenarioSettings::default(), 1).await;
    catalogue(&w).await;
    let user = "U00000000000000000000000000fa0bad";
    let member_id = w.sign_up(user).await;

    for (query, words) in [
        ("", "type a name"),
        ("   ", "type a name"),
        (&*"茶".repeat(101), "at most 100 characters"),
        ("tea\0", "control characters"),
    ] {
        let (status, answer) = search(&w, user, query).await;
        assert_eq!(status, 422, "{query:?}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{message}");
    }
    let (status, _) = search(&w, user, &"茶".repeat(100)).await;
    assert_eq!(status, 200, "100 characters are fine");

    for (body, status, words) in [
        (json!({"sku": "no-such-item"}), 404, "not in the catalogue"),
        (json!({"sku": ""}), 422, "`sku` is 1 to 64"),
        (json!({"sku": "tea\u{0}500"}), 422, "`sku` is 1 to 64"),
        (json!({"sku": "x".repeat(65)}), 422, "`sku` is 1 to 64"),
        (json!({"sku": "tea-500", "wants": []}), 422, "at least one"),
        (json!({"sku": "tea-500", "wants": ["soon"]}), 422, ""),
        (json!({"sku": "tea-500", "member_id": "someone"}), 422, ""),
    ] {
        let (got, answer) = add(&w, user, body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{message}");
    }
    for (item, status) in [("", 422), ("a\0b", 422), ("tea-500", 404)] {
        let (got, answer) = remove(&w, user, item).await;
        assert_eq!(got, status, "{item:?}: {answer}");
    }

    // Tokens LINE would not vouch for: forged, expired, another channel's; and a LINE user
    // who is not a member.
    let good = w.id_token(user);
    let (head, signature) = good.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let forged = format!("{head}.{flipped}{}", &signature[1..]);
    let expired = w
        .standin
        .id_token(&tenpo_line::standin::IdTokenClaims::new(CHANNEL, user, -60))
        .unwrap();
    for token in [forged.as_str(), expired.as_str(), "", "not-a-token"] {
        for (path, body) in [
            ("/v1/cards/me/catalog/search", json!({"query": "tea"})),
            ("/v1/cards/me/wishes", json!({})),
            ("/v1/cards/me/wishes/add", json!({"sku": "tea-500"})),
            ("/v1/cards/me/wishes/remove", json!({"item": "tea-500"})),
        ] {
            let mut body = body;
            body["id_token"] = json!(token);
            let (status, answer) = w.post(path, body).await;
            assert_eq!(status, 401, "{path} with {token:?}: {answer}");
            assert_eq!(answer["error"]["code"], "line_token_rejected");
        }
    }
    let stranger = "U00000000000000000000000000fa0c0d";
    let (status, answer) = add(&w, stranger, json!({"sku": "tea-500"})).await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["error"]["code"], "member_not_found");

    // Nothing was kept: no wish, and no unknown item asked for.
    assert!(
        w.hub
            .store
            .member_wishes(member_id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(w.hub.store.unknown_wished_items().await.unwrap().is_empty());
}
