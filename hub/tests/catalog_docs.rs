//! docs/wishes.md's examples of the catalogue feed and the report are run as written: each
//! `sh` block by bash, with `tenpo-hub` the binary under test and curl, against a hub whose
//! notifications were queued at known times; what they print must be the lines the docs show
//! after `#   `. The CSV files are the docs' `csv` blocks; the setting is the docs' `toml` block
//! (and the packaged config's commented one), checked by `tenpo-hub validate`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use common::{ADMIN_TOKEN, Hub};
use serde_json::{Value, json};
use tenpo_hub::store::catalog::{EmailClaim, EmailOutcome};
use tenpo_hub::store::outbox::{Channel, Profile};
use tenpo_hub::store::{CatalogStore, HomeStores, LineStore, TillStore};
use tenpo_hub::wishes::WishSettings;
use tenpo_loyalty::{Line, Sale, evaluate_sale};
use tenpo_protocol::events::{EventBody, SaleEvent, WishKind};

const BIN: &str = env!("CARGO_BIN_EXE_tenpo-hub");
const CATALOG_TOKEN: &str = "docs-catalog-token-0123456789abcdef";
/// What the docs name the token's file, and the hub.
const DOCS_TOKEN_FILE: &str = "/etc/tenpo-hub/catalog-token";
const DOCS_HUB: &str = "http://127.0.0.1:7400";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A fenced block: its language, the line of text before it, its body.
#[derive(Debug)]
struct Block {
    lang: String,
    before: String,
    body: String,
}

/// The fenced blocks of the sections titled `titles`, in order.
fn blocks(doc: &str, titles: &[&str]) -> Vec<Block> {
    let mut out = Vec::new();
    for section in doc.split("\n## ").skip(1) {
        if !titles.contains(&section.lines().next().unwrap_or_default()) {
            continue;
        }
        let mut rest = section;
        while let Some(at) = rest.find("\n```") {
            let before = rest[..at].lines().last().unwrap_or_default().to_owned();
            let (lang, after) = rest[at + 4..].split_once('\n').unwrap();
            let end = after.find("\n```").unwrap();
            out.push(Block {
                lang: lang.trim().to_owned(),
                before,
                body: after[..=end].to_owned(),
            });
            rest = &after[end + 4..];
        }
    }
    out
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
}

async fn take_items(hub: &Hub, id: &str, items: Value, now: &str) {
    let batch = serde_json::from_value(json!({"batch_id": id, "items": items})).unwrap();
    let r = hub
        .store
        .take_items(batch, id.into(), at(now))
        .await
        .unwrap();
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
}

async fn take_stock(hub: &Hub, id: &str, stock: Value, now: &str) -> u64 {
    let batch = serde_json::from_value(json!({"batch_id": id, "stock": stock})).unwrap();
    let r = hub
        .store
        .take_stock(batch, id.into(), at(now))
        .await
        .unwrap();
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    r.notifications
}

/// The week the docs' report shows, made at the times it names: two members wish for an item
/// that is out of stock and one of them for another to be cheaper; the restock reaches both by
/// email on Tuesday, one opens the link and buys two on Thursday; the price drop is queued on
/// Wednesday and not yet delivered. And a mistyped barcode wished for twice.
async fn the_docs_week(hub: &Hub) {
    let rules = hub.load_demo_rules().await;
    let cards = [common::card(41), common::card(42)];
    common::import(hub, &[(&cards[0], 0, 0, None), (&cards[1], 0, 0, None)]).await;
    let mut members = Vec::new();
    for (i, card) in cards.iter().enumerate() {
        let member = hub
            .store
            .member_by_code(card.clone())
            .await
            .unwrap()
            .unwrap();
        let profile = Profile {
            channel: Channel::Email,
            email: Some(format!("member{i}@example.jp")),
            ..Profile::default()
        };
        hub.store
            .save_profile(member.member_id.clone(), profile, Utc::now())
            .await
            .unwrap();
        members.push(member);
    }
    hub.store.set_wish_settings(WishSettings {
        email: true,
        ..WishSettings::default()
    });
    let week = "2026-11-";
    take_items(
        hub,
        "docs-1",
        json!([{"sku": "sencha", "name": {"ja": "煎茶"}, "price_yen": 150},
               {"sku": "kettle", "name": {"ja": "やかん"}, "price_yen": 2400}]),
        &format!("{week}08T09:00:00+09:00"),
    )
    .await;
    take_stock(
        hub,
        "docs-2",
        json!([{"sku": "sencha", "store_id": "shibuya-01", "quantity": 0}]),
        &format!("{week}08T09:00:00+09:00"),
    )
    .await;
    let wish = |member: usize, item: &'static str, kind: WishKind, when: &str| {
        let member = members[member].member_id.clone();
        let when = at(when);
        async move {
            hub.store
                .add_wish(member, item.into(), vec![kind], when)
                .await
                .unwrap();
        }
    };
    wish(
        0,
        "4901234567895",
        WishKind::Restock,
        "2026-11-08T01:00:00Z",
    )
    .await;
    wish(
        1,
        "4901234567895",
        WishKind::Restock,
        "2026-11-08T02:00:00Z",
    )
    .await;
    wish(0, "sencha", WishKind::Restock, "2026-11-08T03:00:00Z").await;
    wish(1, "sencha", WishKind::Restock, "2026-11-08T03:00:00Z").await;
    wish(1, "kettle", WishKind::PriceDrop, "2026-11-08T03:00:00Z").await;
    let restocked = take_stock(
        hub,
        "docs-3",
        json!([{"sku": "sencha", "store_id": "shibuya-01", "quantity": 5}]),
        &format!("{week}10T12:00:00+09:00"),
    )
    .await;
    assert_eq!(restocked, 2);
    take_items(
        hub,
        "docs-4",
        json!([{"sku": "kettle", "name": {"ja": "やかん"}, "price_yen": 1980}]),
        &format!("{week}11T12:00:00+09:00"),
    )
    .await;
    let claim = EmailClaim {
        limit: 10,
        lease: chrono::Duration::seconds(60),
        awake: HomeStores::All,
        quiet_until: at("2026-11-11T13:00:00+09:00"),
    };
    let jobs = hub
        .store
        .claim_emails(claim, at("2026-11-11T13:00:00+09:00"))
        .await
        .unwrap();
    assert_eq!(jobs.len(), 3, "{jobs:?}");
    for job in jobs.iter().filter(|j| j.notice.kind == WishKind::Restock) {
        let sent = at("2026-11-11T13:00:05+09:00");
        hub.store
            .finish_email(job.id, job.attempts, EmailOutcome::Sent, sent)
            .await
            .unwrap();
    }
    let first = jobs
        .iter()
        .find(|j| j.notice.kind == WishKind::Restock && j.member_id == members[0].member_id)
        .unwrap();
    let followed = hub
        .store
        .follow_link(first.link_id.clone(), at("2026-11-11T20:00:00+09:00"))
        .await
        .unwrap();
    assert!(followed.is_some());

    // Two of the item at a till on Thursday.
    let till = hub.enroll("shibuya-01").await;
    let day = common::date("2026-11-12");
    let lines = vec![Line {
        sku: "sencha".into(),
        category: None,
        quantity: 2,
        amount_yen: 300,
    }];
    let outcome = evaluate_sale(
        &rules,
        &members[0].state,
        &Sale {
            sale_id: "pos-docs-1".into(),
            store_id: till.store_id.clone(),
            business_date: day,
            lines: lines.clone(),
            redeem_points: 0,
            coupon_ids: vec![],
        },
    )
    .unwrap();
    let sale = common::event(
        &till,
        1,
        EventBody::Sale(SaleEvent {
            sale_id: "pos-docs-1".into(),
            member_id: Some(members[0].member_id.clone()),
            occurred_at: "2026-11-12T15:00:00+09:00".into(),
            business_date: day,
            lines,
            redeem_points: 0,
            coupon_ids: vec![],
            outcome: Some(outcome),
        }),
    );
    let pushed = hub.push(&till, &[sale]).await;
    assert_eq!(common::statuses(&pushed), ["stored"], "{pushed}");
}

/// Runs an `sh` block as written (the docs' token file and hub put where the test's are), all
/// output to one pipe; answers what it printed.
async fn run(script: &str, dir: &Path, hub: &Hub, token_file: &Path) -> String {
    let script = script
        .replace(DOCS_TOKEN_FILE, &token_file.display().to_string())
        .replace(DOCS_HUB, &hub.base);
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(format!("exec 2>&1\n{script}"))
        .current_dir(dir)
        .env("PATH", path)
        .env("TENPO_HUB_URL", &hub.base)
        .env("TENPO_HUB_ADMIN_TOKEN", ADMIN_TOKEN)
        .env_remove("TENPO_HUB_CATALOG_TOKEN")
        .env_remove("TENPO_HUB_CATALOG_TOKEN_FILE")
        .env_remove("TENPO_HUB_ADMIN_TOKEN_FILE")
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `tenpo-hub validate` on `text` as a config file, with the docs' token file put where the
/// test's is.
fn validates(text: &str, dir: &Path, token_file: &Path) {
    let config = dir.join("hub.toml");
    let text = text.replace(DOCS_TOKEN_FILE, &token_file.display().to_string());
    std::fs::write(&config, &text).unwrap();
    let out = std::process::Command::new(BIN)
        .arg("validate")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{text}\ndoes not validate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn the_catalogue_feeds_and_the_reports_examples_print_what_the_docs_say() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("catalog-token");
    std::fs::write(&token_file, format!("{CATALOG_TOKEN}\n")).unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let hub = common::start_with(tempfile::tempdir().unwrap(), |state| {
        state.catalog_token_hash = Some(tenpo_hub::secrets::sha256(CATALOG_TOKEN.as_bytes()));
    })
    .await;
    the_docs_week(&hub).await;

    let doc = std::fs::read_to_string(root().join("docs/wishes.md")).unwrap();
    let found = blocks(&doc, &["The catalogue feed", "The report"]);
    let (mut scripts, mut files, mut configs) = (0, 0, 0);
    for block in &found {
        match block.lang.as_str() {
            "toml" => {
                validates(&block.body, dir.path(), &token_file);
                configs += 1;
            }
            "csv" => {
                let name = block
                    .before
                    .split('`')
                    .rfind(|w| w.ends_with(".csv"))
                    .unwrap_or_else(|| panic!("no file named before {block:?}"));
                std::fs::write(work.join(name), &block.body).unwrap();
                files += 1;
            }
            "sh" => {
                let expected: Vec<&str> = block
                    .body
                    .lines()
                    .filter_map(|l| l.strip_prefix("#   "))
                    .collect();
                let printed = run(&block.body, &work, &hub, &token_file).await;
                let printed: Vec<&str> = printed.lines().collect();
                assert_eq!(
                    printed, expected,
                    "docs/wishes.md:\n{}\nprinted other lines",
                    block.body
                );
                scripts += 1;
            }
            other => panic!("a {other:?} block in the feed's docs: run it here"),
        }
    }
    assert_eq!((scripts, files, configs), (4, 2, 1), "{found:#?}");

    // The packaged config names the setting, commented out: turned on, it validates too.
    let packaged = std::fs::read_to_string(root().join("packaging/linux/hub.toml")).unwrap();
    let line = packaged
        .lines()
        .find(|l| l.starts_with("# catalog_token_file = "))
        .expect("packaging/linux/hub.toml names catalog_token_file");
    validates(&line["# ".len()..], dir.path(), &token_file);
    hub.stop().await;
}
