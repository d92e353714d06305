//! Hub intake (docs/design.md §8), measured on this machine over loopback HTTP:
//!
//! - several terminals pushing at once, batches of 500 member-sale events: events per second,
//!   and p50/p99 latency of a push;
//! - one terminal pushing a 10,000-event backlog (the budget is ≤ 2 s).
//!
//! Every event is a real member sale (evaluated as a till would, on the till's view of the
//! member), so the hub stores, applies and re-evaluates each one. Request bodies are built
//! before the clock starts.
//!
//! Run: `cargo bench -p tenpo-hub --bench intake` (sizes: `TENPO_BENCH_HUB_TERMINALS`,
//! `TENPO_BENCH_HUB_EVENTS` per terminal). Prints a Markdown table. On PostgreSQL:
//! `TENPO_BENCH_HUB_DATABASE=postgres` (a server the bench starts, on this machine's disk, with
//! `fsync` on), with `TENPO_BENCH_HUBS=2` for two hubs on the one database, the terminals split
//! between them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tenpo_hub::admin::ImportRow;
use tenpo_hub::admin::client::AdminClient;
use tenpo_hub::store::postgres::{DatabaseUrl, PgStore};
use tenpo_hub::store::{SqliteStore, TillStore};
use tenpo_loyalty::{Date, Line, MemberState, RuleSet, Sale, evaluate_sale};
use tenpo_protocol::events::{Event, EventBody, SaleEvent, encode};
use tenpo_protocol::sync::{EnrollResponse, PushItem, PushRequest, PushResponse, bearer};

use common::{TOKEN, env_usize, serve};

const BATCH: usize = 500;
const MEMBERS_PER_TERMINAL: usize = 200;

fn card(n: usize) -> String {
    tenpo_protocol::codes::with_check_digit(&format!("22{n:010}")).unwrap()
}

struct Terminal {
    auth: String,
    bodies: Vec<Vec<u8>>,
    events: usize,
}

/// Builds a terminal's backlog: `n` member sales, in batches, as request bodies.
fn backlog(
    rules: &RuleSet,
    enrolled: &EnrollResponse,
    members: &[(String, MemberState)],
    n: usize,
) -> Terminal {
    let mut views: Vec<MemberState> = members.iter().map(|(_, s)| s.clone()).collect();
    let day: Date = "2026-11-20".parse().unwrap();
    let mut items = Vec::with_capacity(n);
    for i in 0..n {
        let m = i % members.len();
        let sale_id = format!("{}-{i}", enrolled.terminal_id);
        let lines = vec![Line {
            sku: format!("sku-{}", i % 50),
            category: None,
            quantity: 1,
            amount_yen: 500 + (i as i64 % 40) * 100,
        }];
        let redeem = if i % 7 == 0 {
            views[m].balance(day).min(100)
        } else {
            0
        };
        let outcome = evaluate_sale(
            rules,
            &views[m],
            &Sale {
                sale_id: sale_id.clone(),
                store_id: enrolled.store_id.clone(),
                business_date: day,
                lines: lines.clone(),
                redeem_points: redeem,
                coupon_ids: vec![],
            },
        )
        .unwrap();
        views[m].apply_sale(&outcome);
        let event = Event {
            event_id: uuid::Uuid::now_v7().to_string(),
            seq: i as u64 + 1,
            store_id: enrolled.store_id.clone(),
            terminal_id: enrolled.terminal_id.clone(),
            // Recorded on its business day (the hub refuses a sale recorded much later).
            recorded_at: format!("{day}T03:00:00+00:00"),
            body: EventBody::Sale(SaleEvent {
                sale_id,
                member_id: Some(members[m].0.clone()),
                occurred_at: Utc::now().to_rfc3339(),
                business_date: day,
                lines,
                redeem_points: redeem,
                coupon_ids: vec![],
                outcome: Some(outcome),
            }),
        };
        // As an agent sends it: the bytes it stored when it recorded the event.
        items.push(PushItem::from_stored(encode(&event).unwrap()).unwrap());
    }
    let bodies = items
        .chunks(BATCH)
        .map(|c| serde_json::to_vec(&PushRequest { events: c.to_vec() }).unwrap())
        .collect();
    Terminal {
        auth: bearer(&enrolled.terminal_id, &enrolled.secret),
        bodies,
        events: n,
    }
}

async fn push_all(http: reqwest::Client, base: String, t: Terminal) -> Vec<Duration> {
    let mut latencies = Vec::new();
    let mut last = 0;
    for body in t.bodies {
        let start = Instant::now();
        let r = http
            .post(format!("{base}/v1/events"))
            .header("authorization", &t.auth)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        let answer: PushResponse = r.json().await.unwrap();
        latencies.push(start.elapsed());
        assert!(answer.acked_through > last);
        last = answer.acked_through;
    }
    assert_eq!(last, t.events as u64);
    latencies
}

/// The machine's CPU time so far, busy and in all (`/proc/stat`, in ticks; zeros elsewhere).
fn cpu_ticks() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().next() else {
        return (0, 0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().sum();
    // idle and iowait are the 4th and 5th columns.
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// Each terminal's members, as the hub holds them.
async fn member_groups<S: TillStore>(
    store: &S,
    terminals: usize,
) -> Vec<Vec<(String, MemberState)>> {
    let mut groups = Vec::new();
    for t in 0..terminals {
        let mut group = Vec::new();
        for i in 0..MEMBERS_PER_TERMINAL {
            let snap = store
                .member_by_code(card(t * MEMBERS_PER_TERMINAL + i))
                .await
                .unwrap()
                .unwrap();
            group.push((snap.member_id, snap.state));
        }
        groups.push(group);
    }
    groups
}

/// The hubs under test: one on a SQLite file, or `hubs` on one PostgreSQL database (a server
/// the bench starts, which waits for the disk at each commit as SQLite does).
async fn setup(
    terminals: usize,
    postgres: bool,
    hubs: usize,
) -> (
    tempfile::TempDir,
    Vec<String>,
    AdminClient,
    RuleSet,
    Vec<Vec<(String, MemberState)>>,
) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut bases = Vec::new();
    let mut first_pg = None;
    let mut first_lite = None;
    if postgres {
        let url = tenpo_e2e::postgres::durable_cluster()
            .fresh_database()
            .await;
        let url = DatabaseUrl::parse(&url).unwrap();
        for _ in 0..hubs.max(1) {
            let store = Arc::new(PgStore::open(&url, 16, Utc::now()).await.unwrap());
            bases.push(serve(store.clone()).await);
            first_pg.get_or_insert(store);
        }
    } else {
        let store = Arc::new(SqliteStore::open(&dir.path().join("hub.db"), Utc::now()).unwrap());
        bases.push(serve(store.clone()).await);
        first_lite = Some(store);
    }
    let admin = AdminClient::new(&bases[0], TOKEN.into()).unwrap();
    let rules = RuleSet::demo();
    admin
        .load_rules(toml::to_string(&rules).unwrap())
        .await
        .unwrap();
    let rows: Vec<ImportRow> = (0..terminals * MEMBERS_PER_TERMINAL)
        .map(|i| ImportRow {
            line: i as u64 + 2,
            card_code: card(i),
            points: 1_000,
            qualifying_spend_yen: 10_000,
            birthday: None,
        })
        .collect();
    for chunk in rows.chunks(1000) {
        admin.import_members(chunk.to_vec()).await.unwrap();
    }
    let groups = match (first_pg, first_lite) {
        (Some(pg), _) => member_groups(pg.as_ref(), terminals).await,
        (None, Some(lite)) => member_groups(lite.as_ref(), terminals).await,
        (None, None) => unreachable!("a hub was started"),
    };
    (dir, bases, admin, rules, groups)
}

async fn enroll(
    http: &reqwest::Client,
    base: &str,
    admin: &AdminClient,
    store: &str,
) -> EnrollResponse {
    let code = admin.enrollment_code(store, None).await.unwrap().code;
    http.post(format!("{base}/v1/enroll"))
        .json(&serde_json::json!({ "code": code }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: keep that quick and meaningless.
    if !std::env::args().any(|a| a == "--bench") {
        println!("hub bench: run with `cargo bench -p tenpo-hub --bench intake`");
        return;
    }
    let terminals = env_usize("TENPO_BENCH_HUB_TERMINALS", 4);
    let per_terminal = env_usize("TENPO_BENCH_HUB_EVENTS", 10_000);
    let postgres = std::env::var("TENPO_BENCH_HUB_DATABASE").is_ok_and(|v| v == "postgres");
    let hubs = env_usize("TENPO_BENCH_HUBS", 1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let database = if postgres {
            format!("{hubs} hub(s) on one PostgreSQL database")
        } else {
            "one hub on SQLite".to_owned()
        };
        eprintln!(
            "setting up {database} with {} members …",
            terminals * MEMBERS_PER_TERMINAL
        );
        let (_dir, bases, admin, rules, groups) = setup(terminals + 1, postgres, hubs).await;
        let base = bases[0].clone();
        let http = reqwest::Client::new();

        eprintln!("building {terminals} × {per_terminal} sale events …");
        let mut backlogs = Vec::new();
        for (t, members) in groups.iter().take(terminals).enumerate() {
            let e = enroll(&http, &base, &admin, &format!("store-{t}")).await;
            backlogs.push(backlog(&rules, &e, members, per_terminal));
        }
        eprintln!("pushing from {terminals} terminals at once ({database}) …");
        let cpu_before = cpu_ticks();
        let start = Instant::now();
        let tasks: Vec<_> = backlogs
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                let base = bases[i % bases.len()].clone();
                tokio::spawn(push_all(http.clone(), base, t))
            })
            .collect();
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await.unwrap());
        }
        let wall = start.elapsed();
        let cpu_after = cpu_ticks();
        let busy = (cpu_after.0 - cpu_before.0) as f64
            / ((cpu_after.1 - cpu_before.1).max(1)) as f64;
        latencies.sort();
        let total = terminals * per_terminal;

        eprintln!("one terminal pushing a 10,000-event backlog …");
        let solo = enroll(&http, &base, &admin, "store-solo").await;
        let backlog_10k = backlog(&rules, &solo, &groups[terminals], 10_000);
        let start = Instant::now();
        let solo_latencies = push_all(http.clone(), base.clone(), backlog_10k).await;
        let solo_wall = start.elapsed();
        let discrepancies = admin.discrepancies(0, 10).await.unwrap().len();

        println!("| what | measured | budget |");
        println!("|---|---|---|");
        println!(
            "| hub intake ({database}), {terminals} terminals at once, {total} sale events in batches of {BATCH} | {:.0} events/s ({} wall) | — |",
            total as f64 / wall.as_secs_f64(),
            ms(wall)
        );
        println!(
            "| the machine's CPU busy during that intake ({} cores) | {:.0} % | — |",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            busy * 100.0
        );
        println!(
            "| push latency (batch of {BATCH}), {} pushes | p50 {}, p99 {} | — |",
            latencies.len(),
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99))
        );
        println!(
            "| 10,000-event backlog from one terminal | {} ({:.0} events/s; push p50 {}) | ≤ 2 s |",
            ms(solo_wall),
            10_000.0 / solo_wall.as_secs_f64(),
            ms({
                let mut l = solo_latencies;
                l.sort();
                percentile(&l, 0.5)
            })
        );
        eprintln!("discrepancies recorded: {discrepancies} (0 expected)");
    });
}
