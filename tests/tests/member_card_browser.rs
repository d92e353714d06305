//! The member card page in a real browser (docs/design.md §5, §6, §10): headless Chromium,
//! driven through chromedriver, opens the kiosk's signup link on the `tenpo-hub` binary, with
//! the LINE stand-in's LIFF SDK logging a LINE user in. The member joins, the card shows, its QR
//! code (read back from the page) is accepted by the terminal's agent, the page outlives its ID
//! token (LIFF logs in again), the profile form is saved (a bad email refused first), the
//! member finds an item in the catalogue, hearts it, sees it among their favourites and removes
//! it, and the member unlinks LINE.
//!
//! The catalogue is put in with the hub's own store API (`CatalogStore::take_items`) on its
//! database while the hub is stopped: the catalogue feed has no HTTP route yet.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use fantoccini::Locator;
use serde_json::{Value, json};
use tenpo_e2e::browser::{Browser, PHONE};
use tenpo_e2e::harness::{Hub, LineStandIn, World, wait_for};
use tenpo_hub::store::{CatalogStore, SqliteStore};
use tenpo_protocol::catalog::{CatalogItem, ItemName, ItemsBatch};

const CHANNEL: &str = "1234567890";
const LIFF: &str = "1234567890-AbCdEfGh";
const USER: &str = "U0000000000000000000000000c4a2d5";
/// The stand-in's ID tokens last this long: the test outlives one.
const TOKEN_SECS: u64 = 10;
/// An item of the catalogue whose name is markup: the page must show it as text.
const ITEM_SKU: &str = "tea-dark-1";
const ITEM_NAME: &str = "<b>濃い</b>緑茶 & \"お茶\"";

/// The QR code the page draws (its SVG's unit squares), read back with an independent decoder.
async fn read_qr(browser: &Browser) -> String {
    let svg = browser
        .client
        .execute("return document.querySelector('#qr svg').outerHTML", vec![])
        .await
        .unwrap();
    let svg = svg.as_str().unwrap();
    let view: Vec<u32> = svg
        .split("viewBox=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    let (w, h) = (view[2], view[3]);
    let scale = 4;
    let mut luma = vec![255u8; (w * h * scale * scale) as usize];
    let path = svg
        .split(" d=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    for square in path.split('M').filter(|s| !s.is_empty()) {
        let xy: Vec<u32> = square
            .split('h')
            .next()
            .unwrap()
            .split(' ')
            .map(|n| n.parse().unwrap())
            .collect();
        for dy in 0..scale {
            for dx in 0..scale {
                let (x, y) = (xy[0] * scale + dx, xy[1] * scale + dy);
                luma[(y * w * scale + x) as usize] = 0;
            }
        }
    }
    rxing::helpers::detect_in_luma(luma, w * scale, h * scale, None)
        .expect("the page's QR code reads")
        .getText()
        .to_owned()
}

#[tokio::test]
async fn a_customer_joins_from_the_kiosk_and_uses_the_card_in_a_real_browser() {
    let world = World::new("member-card-browser");
    let line = LineStandIn::start(&world, CHANNEL, "login-channel-secret", "messaging-token").await;
    let sdk = format!(
        "{}/liff/sdk.js?channel={CHANNEL}&user={USER}&valid={TOKEN_SECS}",
        line.url()
    );
    let mut hub = world
        .start_hub_with(&format!(
            "[line]\nchannel_id = \"{CHANNEL}\"\nliff_id = \"{LIFF}\"\napi_base = \"{}\"\n\
             liff_sdk_url = \"{sdk}\"\n",
            line.url()
        ))
        .await;
    stock_the_catalogue(&mut hub).await;
    let mut agent = world
        .enroll_agent("till", &hub, "shibuya-01", &hub.url())
        .await;
    agent.set_args(&["--liff-id", LIFF]);
    agent.start().await;
    let session = agent.open_signup().await;
    assert!(session.ok(), "{:?}", session.body);
    let token = session.body["token"].as_str().unwrap().to_owned();
    assert!(
        session.body["liff_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("?t={token}"))
    );

    // The kiosk's QR code, opened in LINE: LIFF logs the user in and the page joins them.
    let browser = Browser::start(&world, PHONE).await;
    browser
        .client
        .goto(&format!("{}/liff/signup?t={token}", hub.url()))
        .await
        .unwrap();
    browser.until_text("title", "ようこそ").await;
    let number = wait_for("the member number", Duration::from_secs(30), || async {
        let n = browser.text("number").await;
        (n.len() == 13).then_some(n)
    })
    .await;
    assert_eq!(
        browser.text("stamp-count").await,
        "1 / 10",
        "the welcome stamp"
    );
    assert!(browser.text("coupons").await.contains("ありません"));

    // The QR code on the screen is the member at the till.
    let qr = read_qr(&browser).await;
    let code =
        percent_encoding::utf8_percent_encode(&qr, percent_encoding::NON_ALPHANUMERIC).to_string();
    let seen = agent.member(&code).await;
    assert!(
        seen.ok(),
        "the agent refused the card's QR: {:?}",
        seen.body
    );
    assert_eq!(seen.body["number"], number.as_str());

    // The ID token lapses; the page logs in again through LIFF and shows the card again.
    tokio::time::sleep(Duration::from_secs(TOKEN_SECS - 3)).await;
    browser
        .client
        .execute(
            "window.oldPage = true; window.tenpoRefresh(); return true;",
            vec![],
        )
        .await
        .unwrap();
    wait_for("a second LIFF login", Duration::from_secs(30), || async {
        (line.record().await["liff_logins"].as_u64() >= Some(2)).then_some(())
    })
    .await;
    // LIFF returns to the same URL (the kiosk's link again, which answers as before): a new
    // page, showing the card.
    wait_for(
        "the card again, on a new page",
        Duration::from_secs(30),
        || async {
            let old = browser
                .client
                .execute("return window.oldPage === true;", vec![])
                .await
                .ok()?;
            (old == json!(false) && browser.text("number").await == number).then_some(())
        },
    )
    .await;

    // The profile form: a bad email is refused with the hub's words, then saved.
    browser
        .client
        .find(Locator::Id("open-profile"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let email = browser.client.find(Locator::Id("email")).await.unwrap();
    email.send_keys("hanako@").await.unwrap();
    browser
        .client
        .find(Locator::Id("save-profile"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .until_text("profile-result", "not an email address")
        .await;
    email.clear().await.unwrap();
    email.send_keys("hanako@example.jp").await.unwrap();
    for choice in ["#language option[value=en]", "#channel option[value=email]"] {
        browser
            .client
            .find(Locator::Css(choice))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    browser
        .client
        .find(Locator::Id("save-profile"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.until_text("profile-result", "保存しました").await;
    // What the hub kept, asked as the page asks.
    let kept = card_of(&line, &hub.url()).await;
    assert_eq!(kept.0, 200);
    assert_eq!(kept.1["profile"]["channel"], "email");
    assert_eq!(kept.1["profile"]["email"], "hanako@example.jp");
    let preview = hub
        .admin(&["preview-message", "welcome", "--member", &number])
        .await;
    assert!(preview.contains("in en"), "{preview}");

    // Favourites, on the card as the menu opens it: find, heart, see, remove.
    browser
        .client
        .goto(&format!("{}/liff/signup", hub.url()))
        .await
        .unwrap();
    browser.until_text("number", &number).await;
    favourites(&browser).await;
    let (status, left) = post_as_page(&line, &hub.url(), "/v1/cards/me/wishes").await;
    assert_eq!(status, 200, "{left}");
    assert_eq!(left["wishes"], json!([]), "the hub kept no wish");

    // "My data": what the hub holds, as the member sees it; deleting asks for the tick first.
    browser
        .client
        .find(Locator::Id("open-mydata"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.until_text("mydata-view", "hanako@example.jp").await;
    assert!(browser.text("mydata-view").await.contains(&number));
    browser
        .client
        .find(Locator::Id("confirm-erase"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .until_text("erase-result", "Tick the box first")
        .await;
    assert_eq!(card_of(&line, &hub.url()).await.0, 200, "nothing erased");

    // Unlink LINE: the card and its points stay at the till.
    browser
        .client
        .find(Locator::Id("open-unlink"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .client
        .find(Locator::Id("confirm-unlink"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.until_text("title", "LINE連携を解除しました").await;
    assert!(browser.text("result").await.contains(&number));
    let (status, _) = card_of(&line, &hub.url()).await;
    assert_eq!(status, 404, "the LINE account has no card now");
    let seen = agent.member(&number).await;
    assert!(seen.ok(), "{:?}", seen.body);
    browser.client.close().await.unwrap();
}

/// The hub's catalogue: one item, put in with the hub's store API while the hub is stopped.
async fn stock_the_catalogue(hub: &mut Hub) {
    hub.stop().await;
    let store = SqliteStore::open(
        &hub.data_dir().join(tenpo_hub::config::DB_FILE),
        chrono::Utc::now(),
    )
    .unwrap();
    let item = CatalogItem {
        sku: ITEM_SKU.into(),
        jan: None,
        name: ItemName {
            ja: ITEM_NAME.into(),
            en: None,
        },
        price_yen: 1_280,
        image_url: None,
        url: None,
        version: None,
    };
    let batch = ItemsBatch {
        batch_id: "browser-1".into(),
        items: vec![item],
    };
    let report = store
        .take_items(batch, "browser-1".into(), chrono::Utc::now())
        .await
        .unwrap();
    assert!(report.rejected.is_empty(), "{report:?}");
    drop(store);
    hub.start().await;
}

/// What the favourites panel shows now.
async fn favourites_state(browser: &Browser) -> Value {
    browser
        .client
        .execute(
            "const heart = document.querySelector('#fav-results button.heart');
             const text = (id) => (document.getElementById(id) || {}).textContent || '';
             return {
               number: text('number'),
               heart: heart ? [heart.dataset.sku, heart.getAttribute('aria-pressed'), heart.textContent] : null,
               results: text('fav-results'),
               wishes: text('wishes'),
               removes: document.querySelectorAll('#wishes button.remove').length,
               markup: document.querySelectorAll('#favourites b, #favourites script, #favourites img').length,
             };",
            vec![],
        )
        .await
        .unwrap_or(Value::Null)
}

/// Waits (bounded) until the panel's state satisfies `done`; `false` when the page was loaded
/// again meanwhile (LIFF renews a lapsing ID token by loading the page again).
async fn settle(browser: &Browser, done: impl Fn(&Value) -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        let s = favourites_state(browser).await;
        if done(&s) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn click(browser: &Browser, css: &str) {
    if let Ok(e) = browser.client.find(Locator::Css(css)).await {
        let _ = e.click().await;
    }
}

/// Searches the catalogue, hearts the item, sees it among the favourites with its kinds, and
/// removes it. Each step is taken again if the page was loaded again under it (LIFF renews the
/// stand-in's short-lived ID token that way), within a bounded time.
async fn favourites(browser: &Browser) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let listed = |s: &Value| s["wishes"].as_str().unwrap_or("").contains(ITEM_NAME);
    let pressed = |s: &Value| s["heart"][1] == "true";
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the item was not hearted: {}",
            favourites_state(browser).await
        );
        let s = favourites_state(browser).await;
        if listed(&s) && pressed(&s) {
            break;
        }
        if s["number"].as_str().unwrap_or("").is_empty() {
            // The card (and with it the panel) is still loading.
        } else if s["heart"].is_null() {
            if let Ok(q) = browser.client.find(Locator::Id("fav-query")).await {
                let _ = q.clear().await;
                let _ = q.send_keys("緑茶").await;
                click(browser, "#fav-go").await;
                settle(browser, |s| !s["heart"].is_null()).await;
            }
        } else {
            assert_eq!(s["heart"][0], ITEM_SKU, "{s}");
            assert_eq!(s["heart"][2], "♡", "an empty heart first: {s}");
            click(browser, "#fav-results button.heart").await;
            settle(browser, |s| pressed(s) || s["heart"].is_null()).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let s = favourites_state(browser).await;
    assert_eq!(s["heart"][2], "♥", "a filled heart: {s}");
    let wishes = s["wishes"].as_str().unwrap();
    for kind in ["再入荷", "値下げ", "残り1点", "¥1,280"] {
        assert!(wishes.contains(kind), "{kind} in {wishes:?}");
    }
    // The retailer's markup is shown as the text it is, never made into elements.
    assert!(s["results"].as_str().unwrap().contains(ITEM_NAME), "{s}");
    assert_eq!(s["markup"], 0, "{s}");

    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the favourite was not removed: {}",
            favourites_state(browser).await
        );
        let s = favourites_state(browser).await;
        if !listed(&s)
            && s["wishes"]
                .as_str()
                .unwrap_or("")
                .contains("まだありません")
        {
            if !s["heart"].is_null() {
                assert_eq!(s["heart"][1], "false", "the heart empties too: {s}");
            }
            break;
        }
        if s["removes"].as_u64() > Some(0) {
            click(browser, "#wishes button.remove").await;
            settle(browser, |s| !listed(s)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `POST /v1/cards/me` with a fresh ID token for the page's LINE user: what the page is told.
async fn card_of(line: &LineStandIn, hub: &str) -> (u16, Value) {
    post_as_page(line, hub, "/v1/cards/me").await
}

/// POSTs to the hub's `path` with a fresh ID token for the page's LINE user, as the page does.
async fn post_as_page(line: &LineStandIn, hub: &str, path: &str) -> (u16, Value) {
    let fresh = reqwest::get(format!(
        "{}/standin/liff/id-token?channel={CHANNEL}&user={USER}",
        line.url()
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let r = reqwest::Client::new()
        .post(format!("{hub}{path}"))
        .json(&json!({ "id_token": fresh }))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}
