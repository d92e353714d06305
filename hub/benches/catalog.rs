//! The catalogue feed (docs/design.md §8, §11): a chain's stock feed of 100,000 items × 100
//! stores that changes 5 % of the stock values, with members' wishes waiting on the items.
//! Measured as the retailer's stock system sees it: from the first batch sent to the last answer,
//! over loopback HTTP, batches of 10,000 (`PUT /v1/catalog/stock`), every trigger evaluated
//! and its notifications queued in the batch's own transaction.
//!
//! Set-up (not timed): the items and every store's stock (10,000,000 rows) written through the
//! store; 2,000 members who chose email, each wishing for 50 items (100,000 wishes, restock and
//! last one) through a till's pushed wish events. The changes are random quantities 0–19, so a
//! change is to 0, to 1, or back from 0 about one time in twenty each.
//!
//! Run: `cargo bench -p tenpo-hub --bench catalog` (sizes: `TENPO_BENCH_ITEMS`,
//! `TENPO_BENCH_STORES`, `TENPO_BENCH_CHANGE_PERCENT`). Prints a Markdown table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use tenpo_hub::api::{self, AppState};
use tenpo_hub::review::ReviewLimits;
use tenpo_hub::store::outbox::{Channel, Profile};
use tenpo_hub::store::{AdminStore, CatalogStore, LineStore, SqliteStore, TillStore};
use tenpo_hub::wishes::WishSettings;
use tenpo_protocol::catalog::{
    BatchReport, CatalogItem, ItemName, ItemsBatch, MAX_CATALOG_ROWS, StockBatch, StockLevel,
};
use tenpo_protocol::events::{Event, EventBody, WishEvent, WishKind, encode};
use tenpo_protocol::sync::PushItem;

use common::{TOKEN, env_usize};

const CATALOG_TOKEN: &str = "bench-catalogue-token-0123456789";
const MEMBERS: usize = 2_000;
const WISHES_PER_MEMBER: usize = 50;

/// A small, fast, repeatable random sequence (the bench's changes are the same every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn sku(i: usize) -> String {
    format!("sku-{i:06}")
}

fn store_id(i: usize) -> String {
    format!("store-{i:03}")
}

fn card(n: usize) -> String {
    tenpo_protocol::codes::with_check_digit(&format!("23{n:010}")).unwrap()
}

async fn seed(store: &SqliteStore, items: usize, stores: usize, rng: &mut Rng) {
    let started = Instant::now();
    let now = Utc::now();
    for (b, chunk) in (0..items)
        .collect::<Vec<_>>()
        .chunks(MAX_CATALOG_ROWS)
        .enumerate()
    {
        let batch = ItemsBatch {
            batch_id: format!("seed-items-{b}"),
            items: chunk
                .iter()
                .map(|&i| CatalogItem {
                    sku: sku(i),
                    jan: None,
                    name: ItemName {
                        ja: format!("商品 {i}"),
                        en: Some(format!("Item {i}")),
                    },
                    price_yen: 100 + (i % 5_000) as i64,
                    image_url: None,
                    url: None,
                    version: None,
                })
                .collect(),
        };
        store
            .take_items(batch, format!("seed-i-{b}"), now)
            .await
            .unwrap();
    }
    let mut rows = Vec::with_capacity(MAX_CATALOG_ROWS);
    let mut b = 0;
    for s in 0..stores {
        for i in 0..items {
            rows.push(StockLevel {
                sku: sku(i),
                store_id: store_id(s),
                quantity: 1 + rng.below(19) as i64,
                version: None,
            });
            if rows.len() == MAX_CATALOG_ROWS {
                let batch = StockBatch {
                    batch_id: format!("seed-stock-{b}"),
                    stock: std::mem::take(&mut rows),
                };
                store
                    .take_stock(batch, format!("seed-s-{b}"), now)
                    .await
                    .unwrap();
                b += 1;
            }
        }
    }
    eprintln!(
        "seeded {items} items and {} stock rows in {:.1} s",
        items * stores,
        started.elapsed().as_secs_f64()
    );
}

/// Members who chose email, each wishing for `WISHES_PER_MEMBER` items at their store (a
/// store's till pushes its members' wish events, as a cashier records them).
async fn wishes(store: &SqliteStore, items: usize, stores: usize, rng: &mut Rng) {
    let started = Instant::now();
    let now = Utc::now();
    let day: tenpo_loyalty::Date = "2026-11-20".parse().unwrap();
    let rows: Vec<tenpo_hub::admin::ImportRow> = (0..MEMBERS)
        .map(|m| tenpo_hub::admin::ImportRow {
            line: m as u64 + 1,
            card_code: card(m),
            points: 0,
            qualifying_spend_yen: 0,
            birthday: None,
        })
        .collect();
    store
        .load_rules(tenpo_loyalty::RuleSet::demo(), now)
        .await
        .unwrap();
    for chunk in rows.chunks(1000) {
        store
            .import_members(chunk.to_vec(), day, now)
            .await
            .unwrap();
    }
    let mut members = Vec::with_capacity(MEMBERS);
    for m in 0..MEMBERS {
        let member = store
            .member_by_code(card(m))
            .await
            .unwrap()
            .unwrap()
            .member_id;
        let profile = Profile {
            channel: Channel::Email,
            email: Some(format!("member{m}@example.jp")),
            ..Profile::default()
        };
        store
            .save_profile(member.clone(), profile, now)
            .await
            .unwrap();
        members.push(member);
    }
    let wants = vec![WishKind::Restock, WishKind::LastOne];
    for s in 0..stores {
        let code = store
            .create_enrollment_code(store_id(s), None, now + chrono::Duration::hours(1), now)
            .await
            .unwrap();
        let enrolled = store.enroll(code, None, now).await.unwrap();
        let terminal = store
            .terminal(enrolled.terminal_id.clone())
            .await
            .unwrap()
            .unwrap();
        let mut items_out = Vec::new();
        for (m, member) in members.iter().enumerate().filter(|(m, _)| m % stores == s) {
            for w in 0..WISHES_PER_MEMBER {
                let event = Event {
                    event_id: uuid::Uuid::now_v7().to_string(),
                    seq: items_out.len() as u64 + 1,
                    store_id: store_id(s),
                    terminal_id: enrolled.terminal_id.clone(),
                    recorded_at: "2026-11-20T03:00:00+00:00".into(),
                    body: EventBody::Wish(WishEvent {
                        member_id: member.clone(),
                        item: sku((m * WISHES_PER_MEMBER + w + rng.below(items)) % items),
                        wants: wants.clone(),
                        occurred_at: "2026-11-20T03:00:00+00:00".into(),
                    }),
                };
                let item = PushItem::from_stored(encode(&event).unwrap()).unwrap();
                items_out.push(serde_json::value::to_raw_value(&item).unwrap());
            }
        }
        let mut rest = items_out;
        while !rest.is_empty() {
            let batch: Vec<_> = rest.drain(..rest.len().min(500)).collect();
            let incoming = tenpo_hub::intake::prepare(&terminal, batch, day).unwrap();
            let terminal = store
                .terminal(enrolled.terminal_id.clone())
                .await
                .unwrap()
                .unwrap();
            let outcome = store
                .push(terminal, incoming, ReviewLimits::default(), now)
                .await
                .unwrap();
            assert!(outcome.results.iter().all(|r| r.reason.is_none()));
        }
    }
    eprintln!(
        "{MEMBERS} members made {} wishes in {:.1} s",
        MEMBERS * WISHES_PER_MEMBER * 2,
        started.elapsed().as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let items = env_usize("TENPO_BENCH_ITEMS", 100_000);
    let stores = env_usize("TENPO_BENCH_STORES", 100);
    let percent = env_usize("TENPO_BENCH_CHANGE_PERCENT", 5);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("hub.db"), Utc::now()).unwrap());
    store.set_wish_settings(WishSettings {
        email: true,
        ..WishSettings::default()
    });
    let mut rng = Rng(0x7e9b_0c1d_5a3f_2468);
    seed(&store, items, stores, &mut rng).await;
    wishes(&store, items, stores, &mut rng).await;

    // The changes, as the stock system's request bodies, built before the clock starts: two
    // feeds of `percent` % each, of different rows. The first in the order a stock system
    // exports (by item, then store); the second shuffled (each batch's rows anywhere in the
    // table), the worst case for the disk. Each (item, store) at most once: a stride through
    // all of them, odd and not a multiple of 5, so coprime to a count of 10^n, reaches each once.
    let changes = items * stores * percent / 100;
    let all = items * stores;
    let stride = 7_368_787 % all.max(1);
    let start = rng.below(all);
    let mut keys: Vec<usize> = (0..changes * 2)
        .map(|c| (start + c * stride) % all)
        .collect();
    let shuffled = keys.split_off(changes);
    let mut sorted = keys;
    sorted.sort_unstable_by_key(|at| (at % items, at / items));
    let bodies = |name: &str, keys: &[usize], rng: &mut Rng| -> Vec<Vec<u8>> {
        keys.chunks(MAX_CATALOG_ROWS)
            .enumerate()
            .map(|(b, chunk)| {
                let batch = StockBatch {
                    batch_id: format!("{name}-{b}"),
                    stock: chunk
                        .iter()
                        .map(|at| StockLevel {
                            sku: sku(at % items),
                            store_id: store_id(at / items),
                            quantity: rng.below(20) as i64,
                            version: None,
                        })
                        .collect(),
                };
                serde_json::to_vec(&batch).unwrap()
            })
            .collect()
    };
    let feeds = [
        ("by item, then store", bodies("sorted", &sorted, &mut rng)),
        ("shuffled", bodies("shuffled", &shuffled, &mut rng)),
    ];

    let mut state = AppState::new(store.clone(), TOKEN, chrono_tz::Asia::Tokyo);
    state.catalog_token_hash = Some(tenpo_hub::secrets::sha256(CATALOG_TOKEN.as_bytes()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(api::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    println!("| what | value |");
    println!("|---|---|");
    println!("| catalogue | {items} items × {stores} stores |");
    println!(
        "| wishes waiting | {} ({MEMBERS} members) |",
        MEMBERS * WISHES_PER_MEMBER * 2
    );
    for (order, bodies) in &feeds {
        let started = Instant::now();
        let (mut applied, mut notifications, mut unchanged) = (0, 0, 0);
        for body in bodies {
            let r = http
                .put(format!("{base}/v1/catalog/stock"))
                .bearer_auth(CATALOG_TOKEN)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            let report: BatchReport = r.json().await.unwrap();
            assert!(report.rejected.is_empty(), "{:?}", report.rejected);
            applied += report.applied;
            notifications += report.notifications;
            unchanged += report.unchanged;
        }
        let elapsed = started.elapsed();
        println!(
            "| feed {order}: {changes} stock rows ({percent} %), {} batches | {applied} changed \
             ({unchanged} as held), {notifications} notifications queued |",
            bodies.len()
        );
        println!(
            "| **feed {order}: first batch to last answer** | **{:.2} s** ({:.0} rows/s) |",
            elapsed.as_secs_f64(),
            changes as f64 / elapsed.as_secs_f64()
        );
    }
    let _ = stop.send(());
    let _ = server.await;
}
