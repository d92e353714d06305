//! The console's member search and member page (docs/design.md §8, §13), as staff meet them:
//! a signed-in browser's requests over loopback HTTP to the hub, with 1,000,000 members and a
//! year of history (a sale every day, and staff changes) for the member shown.
//!
//! Set-up (not timed): the members imported through the store, 10,000 a transaction; one
//! member's year of sales pushed by a till; a staff account and its session.
//!
//! Timed: `GET /console/members?q=CODE` (a random member's card code; answered with a redirect
//! to the member) and `GET /console/members/{id}` (the member with the year of history), each
//! request's time from sending to the last byte of the answer, so the server's time and
//! loopback's. Reports p50, p95 and p99.
//!
//! Run: `cargo bench -p tenpo-hub --bench console` (`TENPO_BENCH_MEMBERS`, default
//! 1,000,000; `TENPO_BENCH_REQUESTS`, default 500). Prints a Markdown table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tenpo_hub::admin::ImportRow;
use tenpo_hub::api::{self, AppState};
use tenpo_hub::review::ReviewLimits;
use tenpo_hub::store::console::{Actor, ConsoleStore, NewSession, Role, StaffStore};
use tenpo_hub::store::{AdminStore, SqliteStore, TillStore};
use tenpo_loyalty::{Date, Line, MemberState, RuleSet, Sale, evaluate_sale};
use tenpo_protocol::events::{Event, EventBody, SaleEvent, encode};
use tenpo_protocol::sync::PushItem;

use common::{TOKEN, env_usize};

/// A 13-digit in-store card code (prefix 2) with its GS1 check digit.
fn card(n: u64) -> String {
    let body = format!("21{n:010}");
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

/// A small, fast, repeatable random sequence.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn import(store: &SqliteStore, members: usize, today: Date) {
    let started = Instant::now();
    let mut n = 0u64;
    while (n as usize) < members {
        let rows: Vec<ImportRow> = (n..(n + 10_000).min(members as u64))
            .map(|i| ImportRow {
                line: i + 2,
                card_code: card(i),
                points: (i % 500) as i64,
                qualifying_spend_yen: ((i * 37) % 60_000) as i64,
                birthday: None,
            })
            .collect();
        n += rows.len() as u64;
        let report = store.import_members(rows, today, Utc::now()).await.unwrap();
        assert!(report.rejected.is_empty(), "{:?}", report.rejected.first());
    }
    eprintln!(
        "imported {members} members in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// A year of the member's sales, one a day, pushed by one till.
async fn a_year_of_sales(store: &SqliteStore, rules: &RuleSet, code: &str) -> usize {
    let now = Utc::now();
    let code_for_till = store
        .create_enrollment_code(
            "shibuya".into(),
            None,
            now + chrono::Duration::hours(1),
            now,
        )
        .await
        .unwrap();
    let enrolled = store.enroll(code_for_till, None, now).await.unwrap();
    let terminal = store
        .terminal(enrolled.terminal_id.clone())
        .await
        .unwrap()
        .unwrap();
    let member = store.member_by_code(code.into()).await.unwrap().unwrap();
    let mut state: MemberState = member.state.clone();
    let first: Date = "2025-12-01".parse().unwrap();
    let mut items = Vec::new();
    for day in 0..365u64 {
        let business_date = first.add_days(day as i64);
        let sale = Sale {
            sale_id: format!("s-{day}"),
            store_id: "shibuya".into(),
            business_date,
            lines: vec![Line {
                sku: "tea".into(),
                category: None,
                quantity: 1,
                amount_yen: 480 + (day as i64 % 7) * 100,
            }],
            redeem_points: 0,
            coupon_ids: vec![],
        };
        let outcome = evaluate_sale(rules, &state, &sale).unwrap();
        state.apply_sale(&outcome);
        let event = Event {
            event_id: uuid::Uuid::now_v7().to_string(),
            seq: day + 1,
            store_id: "shibuya".into(),
            terminal_id: enrolled.terminal_id.clone(),
            recorded_at: now.to_rfc3339(),
            body: EventBody::Sale(SaleEvent::new(
                sale,
                Some(member.member_id.clone()),
                now.to_rfc3339(),
                Some(outcome),
            )),
        };
        let bytes = encode(&event).unwrap();
        items
            .push(serde_json::value::to_raw_value(&PushItem::from_stored(bytes).unwrap()).unwrap());
    }
    let sales = items.len();
    for chunk in items.chunks(100) {
        let incoming =
            tenpo_hub::intake::prepare(&terminal, chunk.to_vec(), first.add_days(400)).unwrap();
        let terminal = store
            .terminal(enrolled.terminal_id.clone())
            .await
            .unwrap()
            .unwrap();
        store
            .push(terminal, incoming, ReviewLimits::default(), Utc::now())
            .await
            .unwrap();
    }
    sales
}

#[tokio::main]
async fn main() {
    let members = env_usize("TENPO_BENCH_MEMBERS", 1_000_000);
    let requests = env_usize("TENPO_BENCH_REQUESTS", 500);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("hub.db"), Utc::now()).unwrap());
    let rules = RuleSet::demo();
    store.load_rules(rules.clone(), Utc::now()).await.unwrap();
    let today: Date = "2025-11-30".parse().unwrap();
    import(&store, members, today).await;
    let shown = card(members as u64 / 2);
    let sales = a_year_of_sales(&store, &rules, &shown).await;
    let member = store.member_by_code(shown.clone()).await.unwrap().unwrap();
    for i in 0..20 {
        let actor = Actor::new("bench", &format!("goodwill {i}")).unwrap();
        store
            .adjust_points(member.member_id.clone(), 10, actor, today, Utc::now())
            .await
            .unwrap();
    }

    let cookie = session(&store).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState::new(store.clone(), TOKEN, chrono_tz::Asia::Tokyo);
    tokio::spawn(async move {
        api::serve(listener, state, std::future::pending())
            .await
            .unwrap();
    });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: String| {
        let (http, base, cookie) = (http.clone(), base.clone(), cookie.clone());
        async move {
            let started = Instant::now();
            let answer = http
                .get(format!("{base}{path}"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            let status = answer.status();
            let body = answer.bytes().await.unwrap();
            (started.elapsed(), status, body.len())
        }
    };
    // Warm: the first of each, not counted.
    let page = format!("/console/members/{}", member.member_id);
    let (_, status, bytes) = get(page.clone()).await;
    assert!(status.is_success(), "the member page answered {status}");
    eprintln!("member page: {bytes} bytes");

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut search = Vec::with_capacity(requests);
    let mut shown_page = Vec::with_capacity(requests);
    for _ in 0..requests {
        let code = card(rng.next() % members as u64);
        let (took, status, _) = get(format!("/console/members?q={code}")).await;
        assert!(status.is_redirection(), "search answered {status}");
        search.push(took);
        let (took, status, _) = get(page.clone()).await;
        assert!(status.is_success(), "the member page answered {status}");
        shown_page.push(took);
    }
    search.sort_unstable();
    shown_page.sort_unstable();
    println!(
        "| {members} members, {sales} sales and 20 changes for the member shown | p50 | p95 | p99 |"
    );
    println!("|---|---|---|---|");
    for (what, times) in [
        ("member search (`GET /console/members?q=CODE`)", &search),
        ("member page (`GET /console/members/{id}`)", &shown_page),
    ] {
        println!(
            "| {what} | {} | {} | {} |",
            ms(percentile(times, 0.5)),
            ms(percentile(times, 0.95)),
            ms(percentile(times, 0.99))
        );
    }
}

/// A staff account and a signed-in session for it, as a browser's cookie.
async fn session(store: &SqliteStore) -> String {
    let now = Utc::now();
    store
        .add_staff("bench".into(), Role::Viewer, "unused".into(), now)
        .await
        .unwrap();
    let token = "bench-session-token-0123456789abcdef";
    let hash = tenpo_hub::secrets::sha256(token.as_bytes());
    let session = NewSession {
        token_hash: hash,
        csrf: "bench-csrf".into(),
        expires_ms: (now + chrono::Duration::hours(12)).timestamp_millis(),
    };
    store.sign_in("bench".into(), session, now).await.unwrap();
    format!("tenpo_console={token}")
}
