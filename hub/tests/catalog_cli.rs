//! The catalogue's CLI as IT runs it: `tenpo-hub catalog import` sends CSV files to a hub's
//! feed (a rejected row named by its line, the same files twice changing nothing), `tenpo-hub
//! report notifications` prints what notifications brought in, and `serve` refuses a catalogue
//! token that is the admin token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use chrono::{Duration, Utc};
use common::{ADMIN_TOKEN, Hub};
use serde_json::{Value, json};
use tenpo_hub::store::catalog::{EmailClaim, EmailOutcome};
use tenpo_hub::store::outbox::{Channel, Profile};
use tenpo_hub::store::{CatalogStore, HomeStores, LineStore, TillStore};
use tenpo_hub::wishes::WishSettings;
use tenpo_protocol::events::WishKind;

const BIN: &str = env!("CARGO_BIN_EXE_tenpo-hub");
const CATALOG_TOKEN: &str = "test-catalog-token-fedcba9876543210";

async fn feed_hub() -> Hub {
    let dir = tempfile::tempdir().unwrap();
    common::start_with(dir, |state| {
        state.catalog_token_hash = Some(tenpo_hub::secrets::sha256(CATALOG_TOKEN.as_bytes()));
    })
    .await
}

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// `tenpo-hub ARGS` (async: the hub under test runs on this test's runtime).
async fn tenpo_hub(args: &[&str], env: &[(&str, &str)]) -> Ran {
    let out = tokio::process::Command::new(BIN)
        .args(args)
        .env_remove("TENPO_HUB_CATALOG_TOKEN")
        .env_remove("TENPO_HUB_CATALOG_TOKEN_FILE")
        .env_remove("TENPO_HUB_ADMIN_TOKEN_FILE")
        .env_remove("TENPO_HUB_CONFIG")
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap();
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

async fn import(hub: &Hub, dir: &Path, extra: &[&str]) -> Ran {
    let token = write(dir, "catalog-token", &format!("{CATALOG_TOKEN}\n"));
    let items = dir.join("items.csv").display().to_string();
    let stock = dir.join("stock.csv").display().to_string();
    let mut args = vec![
        "catalog",
        "import",
        "--hub",
        &hub.base,
        "--token-file",
        &token,
        "--items",
        &items,
        "--stock",
        &stock,
        "--batch-size",
        "2",
    ];
    args.extend_from_slice(extra);
    tenpo_hub(&args, &[]).await
}

async fn price(hub: &Hub, sku: &str) -> Option<i64> {
    let found = hub.store.search_catalog(sku.into(), 10).await.unwrap();
    found
        .into_iter()
        .find(|i| i.sku == sku)
        .map(|i| i.price_yen)
}

/// Lines 2 to 8 of the items file, cut in batches of two rows: lines 5 and 8 are not sent, so
/// the bad check digit on line 6 is the second row (index 1) of the second batch.
const ITEMS: &str = "sku,jan,name_ja,name_en,price_yen,image_url,url
tea,4901234567894,緑茶,Green tea,150,https://img.example.jp/tea.jpg,https://shop.example.jp/tea
rice,,米 5kg,Rice 5 kg,2400,,
mochi,,\"きなこ餅, 黒蜜\",,380,,
bun,,パン,,abc,,
cake,4901234567890,ケーキ,,420,,
milk,,牛乳,,198,,
water,,水,,100,,https://shop.example.jp/water,extra
";

const STOCK: &str = "sku,store_id,quantity
tea,shibuya,12
rice,shibuya,0
ghost,shibuya,1
";

#[tokio::test]
async fn a_csv_import_reports_each_refused_line_and_changes_nothing_the_second_time() {
    let hub = feed_hub().await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "items.csv", ITEMS);
    write(dir.path(), "stock.csv", STOCK);
    let ran = import(&hub, dir.path(), &[]).await;
    assert_eq!(ran.code, Some(1), "{}{}", ran.stdout, ran.stderr);
    let out = &ran.stdout;
    for said in [
        "items.csv line 5: not sent — price_yen \"abc\" is not a whole number",
        "items.csv line 8: not sent — 8 fields where the header has 7",
        "items.csv lines 2-3: 2 applied, 0 unchanged, 0 stale, 0 rejected",
        "items.csv lines 4-6: 1 applied, 0 unchanged, 0 stale, 1 rejected",
        "items.csv line 6: cake — jan \"4901234567890\" has a wrong check digit",
        "items.csv line 7: 1 applied, 0 unchanged, 0 stale, 0 rejected",
        "stock.csv lines 2-3: 2 applied, 0 unchanged, 0 stale, 0 rejected",
        "stock.csv line 4: ghost — sku \"ghost\" is not in the catalogue",
    ] {
        assert!(out.contains(said), "{said:?} not in:\n{out}");
    }
    assert!(
        ran.stderr.contains("4 line(s) were not taken"),
        "{}",
        ran.stderr
    );
    assert_eq!(price(&hub, "mochi").await, Some(380));
    assert_eq!(price(&hub, "milk").await, Some(198));
    for not_taken in ["bun", "cake", "water"] {
        assert_eq!(price(&hub, not_taken).await, None, "{not_taken}");
    }

    // The same files again: the same batches, answered as the first time; nothing changes
    // (a price changed since stays as it is now).
    hub.store
        .take_items(
            serde_json::from_value(json!({"batch_id": "later", "items": [
                {"sku": "milk", "name": {"ja": "牛乳"}, "price_yen": 178}]}))
            .unwrap(),
            "later".into(),
            Utc::now(),
        )
        .await
        .unwrap();
    let again = import(&hub, dir.path(), &["--json"]).await;
    assert_eq!(again.code, Some(1), "{}", again.stderr);
    let report: Value = serde_json::from_str(&again.stdout).unwrap();
    let batches = report["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 5);
    assert!(batches.iter().all(|b| b["first_time"] == false));
    assert_eq!(batches[1]["rejected"][0]["line"], 6);
    assert_eq!(report["not_sent"][0]["line"], 5);
    assert_eq!(price(&hub, "milk").await, Some(178));

    // The file put right: what was taken comes back unchanged, the rest is applied.
    let fixed = ITEMS
        .replace("bun,,パン,,abc,,", "bun,,パン,,120,,")
        .replace("4901234567890", "4901234567887")
        .replace(",extra", "");
    write(dir.path(), "items.csv", &fixed);
    write(dir.path(), "stock.csv", &STOCK.replace("ghost", "cake"));
    let ran = import(&hub, dir.path(), &["--json"]).await;
    assert_eq!(ran.code, Some(0), "{}{}", ran.stdout, ran.stderr);
    let report: Value = serde_json::from_str(&ran.stdout).unwrap();
    let sum = |key: &str| -> u64 {
        report["batches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b[key].as_u64().unwrap())
            .sum()
    };
    // Applied: bun, cake and water, milk back to the file's price, and cake's stock; tea, rice,
    // mochi and the two stock rows as held.
    assert_eq!((sum("applied"), sum("unchanged")), (5, 5), "{report}");
    assert_eq!(price(&hub, "water").await, Some(100));
    hub.stop().await;
}

#[tokio::test]
async fn a_csv_import_names_what_it_lacks() {
    let hub = feed_hub().await;
    let dir = tempfile::tempdir().unwrap();
    let items = write(dir.path(), "items.csv", "sku,name_ja,price\ntea,緑茶,150\n");
    let ran = tenpo_hub(
        &["catalog", "import", "--hub", &hub.base, "--items", &items],
        &[("TENPO_HUB_CATALOG_TOKEN", CATALOG_TOKEN)],
    )
    .await;
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr.contains("unknown column `price`"),
        "{}",
        ran.stderr
    );
    let items = write(
        dir.path(),
        "items.csv",
        "sku,name_ja,price_yen\ntea,緑茶,150\n",
    );
    let ran = tenpo_hub(
        &["catalog", "import", "--hub", &hub.base, "--items", &items],
        &[],
    )
    .await;
    assert_eq!(ran.code, Some(1));
    assert!(ran.stderr.contains("no catalogue token"), "{}", ran.stderr);
    // The admin token is not the feed's.
    let ran = tenpo_hub(
        &["catalog", "import", "--hub", &hub.base, "--items", &items],
        &[("TENPO_HUB_CATALOG_TOKEN", ADMIN_TOKEN)],
    )
    .await;
    assert_eq!(ran.code, Some(1));
    assert!(ran.stderr.contains("401"), "{}", ran.stderr);
    assert_eq!(price(&hub, "tea").await, None);
    hub.stop().await;
}

fn batch<T: serde::de::DeserializeOwned>(id: &str, mut body: Value) -> T {
    body["batch_id"] = json!(id);
    serde_json::from_value(body).unwrap()
}

#[tokio::test]
async fn the_report_command_prints_a_table_csv_or_json() {
    let hub = feed_hub().await;
    hub.load_demo_rules().await;
    let code = common::card(31);
    common::import(&hub, &[(&code, 0, 0, None)]).await;
    let member = hub
        .store
        .member_by_code(code)
        .await
        .unwrap()
        .unwrap()
        .member_id;
    hub.store.set_wish_settings(WishSettings {
        email: true,
        ..WishSettings::default()
    });
    let profile = Profile {
        channel: Channel::Email,
        email: Some("jiro@example.jp".into()),
        ..Profile::default()
    };
    hub.store
        .save_profile(member.clone(), profile, Utc::now())
        .await
        .unwrap();
    for sku in ["tea", "rice"] {
        hub.store
            .add_wish(
                member.clone(),
                sku.into(),
                vec![WishKind::Restock],
                Utc::now(),
            )
            .await
            .unwrap();
    }
    let items = json!({"items": [
        {"sku": "tea", "name": {"ja": "緑茶"}, "price_yen": 150},
        {"sku": "rice", "name": {"ja": "米"}, "price_yen": 2400}]});
    hub.store
        .take_items(batch("i", items), "i".into(), Utc::now())
        .await
        .unwrap();
    let stock = json!({"stock": [
        {"sku": "tea", "store_id": "shibuya", "quantity": 3},
        {"sku": "rice", "store_id": "shibuya", "quantity": 3}]});
    let taken = hub
        .store
        .take_stock(batch("s", stock), "s".into(), Utc::now())
        .await
        .unwrap();
    assert_eq!(taken.notifications, 2);
    let claim = EmailClaim {
        limit: 1,
        lease: Duration::seconds(60),
        awake: HomeStores::All,
        quiet_until: Utc::now(),
    };
    let jobs = hub.store.claim_emails(claim, Utc::now()).await.unwrap();
    hub.store
        .finish_email(jobs[0].id, jobs[0].attempts, EmailOutcome::Sent, Utc::now())
        .await
        .unwrap();

    let today = Utc::now()
        .with_timezone(&chrono_tz::Asia::Tokyo)
        .date_naive()
        .to_string();
    let report = |format: &'static str| {
        let (hub, today) = (hub.base.clone(), today.clone());
        async move {
            let args = [
                "report",
                "notifications",
                "--hub",
                &hub,
                "--from",
                &today,
                "--to",
                &today,
                "--format",
                format,
            ];
            tenpo_hub(&args, &[("TENPO_HUB_ADMIN_TOKEN", ADMIN_TOKEN)]).await
        }
    };
    let table = report("table").await;
    assert_eq!(table.code, Some(0), "{}", table.stderr);
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(
        lines[0].starts_with("Notifications queued "),
        "{}",
        table.stdout
    );
    assert!(lines[0].ends_with(&format!(" to {today} (a purchase counts within 14 days)")));
    let head: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        head,
        [
            "week",
            "kind",
            "channel",
            "sent",
            "delivered",
            "clicked",
            "bought",
            "yen",
            "rate"
        ]
    );
    let row: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        row[1..],
        ["restock", "email", "2", "1", "0", "0", "¥0", "0.0%"]
    );
    assert_eq!(lines.len(), 3);

    let csv = report("csv").await;
    assert_eq!(csv.code, Some(0), "{}", csv.stderr);
    let csv_lines: Vec<&str> = csv.stdout.lines().collect();
    assert_eq!(
        csv_lines[0],
        "week,kind,channel,sent,delivered,clicked,bought,yen,conversion_rate"
    );
    assert!(
        csv_lines[1].ends_with(",restock,email,2,1,0,0,0,0"),
        "{}",
        csv.stdout
    );

    let json = report("json").await;
    let made: tenpo_protocol::catalog::NotificationReport =
        serde_json::from_str(&json.stdout).unwrap();
    assert_eq!((made.rows[0].sent, made.rows[0].delivered), (2, 1));

    let bad = tenpo_hub(
        &[
            "report",
            "notifications",
            "--hub",
            &hub.base,
            "--from",
            "2026-12-01",
            "--to",
            "2026-11-01",
        ],
        &[("TENPO_HUB_ADMIN_TOKEN", ADMIN_TOKEN)],
    )
    .await;
    assert_eq!(bad.code, Some(1));
    assert!(
        bad.stderr.starts_with("error: the hub refused (422")
            && bad
                .stderr
                .contains("from 2026-12-01 is after to 2026-11-01"),
        "{}",
        bad.stderr
    );
    hub.stop().await;
}

#[tokio::test]
async fn the_hub_will_not_serve_the_feed_with_the_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let token = write(dir.path(), "catalog-token", &format!("{ADMIN_TOKEN}\n"));
    let data = dir.path().join("data").display().to_string();
    let args = ["serve", "--listen", "127.0.0.1:0", "--data-dir", &data];
    let env = [
        ("TENPO_HUB_ADMIN_TOKEN", ADMIN_TOKEN),
        ("TENPO_HUB_CATALOG_TOKEN_FILE", token.as_str()),
    ];
    let ran = tenpo_hub(&args, &env).await;
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("catalogue token") && ran.stderr.contains("is the admin token"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains(ADMIN_TOKEN), "the token was printed");
    // A token too short is named by `validate`, with its file.
    let short = write(dir.path(), "short-token", "abc\n");
    let config = write(
        dir.path(),
        "hub.toml",
        &format!("catalog_token_file = {short:?}\n"),
    );
    let ran = tenpo_hub(&["validate", &config], &[]).await;
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr.contains("catalogue token") && ran.stderr.contains("at least 16"),
        "{}",
        ran.stderr
    );
}
