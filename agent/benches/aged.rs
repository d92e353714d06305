//! A till years in (docs/design.md §8): the agent keeps its ledger for ever and its member cache
//! holds the chain's members, so a till that has sold for two years holds a million events and
//! as many members where a new one holds a few. Does its sale slow down, or what IT polls?
//!
//! Two standalone agents of this build, side by side on the same disk: one as a new till leaves
//! it, one aged — its ledger given `TENPO_BENCH_AGED_EVENTS` more events (default 1,000,000,
//! about two years at 1,500 sales a day) and its cache `TENPO_BENCH_AGED_MEMBERS` more members
//! (default 1,000,000), copied with SQL from its own sales and members while it is stopped.
//! Both first make the same sales (each of 200 cards' first, then a thousand more) and are
//! restarted. Then the same members' sales go to each in turn, in blocks of 250, the order
//! alternating block by block so that both see the same moments of the machine, with
//! `GET /v1/status` and `GET /metrics` after each block. Three reps of `TENPO_BENCH_SALES`
//! sales each (default 2,000); the medians of the reps' percentiles.
//!
//! Run: `cargo build --release -p tenpo-agent && cargo bench -p tenpo-agent --bench aged`.
//! Prints a Markdown table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;
mod pos;

use std::path::Path;
use std::time::{Duration, Instant};

use common::rules_file;
use pos::{Agent, Pos, median_of, pct, sale_body, start_agent};

const REPS: usize = 3;
/// The members' cards the timed sales go round.
const CARDS: usize = 200;
/// Sales to one agent before the other takes its turn.
const BLOCK: usize = 250;
/// What a till with no hub is told of itself.
const STANDALONE: &[&str] = &["--store-id", "bench-store", "--terminal-id", "till-1"];

/// Gives the stopped agent's database `events` more events in its ledger and `members` more
/// members in its cache, as two years of a till's sales and a chain's members would: copies of
/// its own last member's sale and last sale with no card, in turn, each with an event id and a
/// sale id of its own and its member one of the added members; and copies of one of its cached
/// members, each with an id and a card number of its own.
fn age(db: &Path, events: usize, members: usize) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(30)).unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    let last = |with_member: bool| -> i64 {
        let filter = if with_member {
            "IS NOT NULL"
        } else {
            "IS NULL"
        };
        tx.query_row(
            &format!("SELECT MAX(seq) FROM outbox WHERE kind = 'sale' AND member_id {filter}"),
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    let (member_sale, cash_sale) = (last(true), last(false));
    let before: i64 = tx
        .query_row("SELECT MAX(seq) FROM outbox", [], |r| r.get(0))
        .unwrap();
    tx.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO outbox (event_id, kind, payload, recorded_at, member_id, request_hash, response)
         SELECT printf('aged-%08d', n.i), o.kind, o.payload, o.recorded_at,
                CASE WHEN o.member_id IS NULL THEN NULL
                     ELSE printf('aged-%08d', (n.i * 7919) % ?4) END,
                randomblob(32), o.response
         FROM n JOIN outbox o ON o.seq = CASE n.i % 2 WHEN 0 THEN ?2 ELSE ?3 END",
        rusqlite::params![events as i64, member_sale, cash_sale, members.max(1) as i64],
    )
    .unwrap();
    tx.execute(
        "INSERT INTO sales (sale_id, seq, member_id, business_date, redeemed_points)
         SELECT printf('aged-%08d', seq), seq, member_id, '2025-06-01', 0
         FROM outbox WHERE seq > ?1",
        [before],
    )
    .unwrap();
    tx.execute(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?1 - 1)
         INSERT INTO members (member_id, number, provisional, snapshot, updated_at,
                              snapshot_through, codes)
         SELECT printf('aged-%08d', n.i), printf('29%011d', n.i), 0, m.snapshot,
                m.updated_at, 0, NULL
         FROM n JOIN (SELECT * FROM members LIMIT 1) m",
        [members as i64],
    )
    .unwrap();
    tx.commit().unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
}

/// What one agent measured over the reps.
#[derive(Default)]
struct Side {
    sale: Vec<Vec<Duration>>,
    status: Vec<Duration>,
    metrics: Vec<Duration>,
    /// From the process's start to its port answering, after the first sales.
    start: Duration,
}

fn size_mb(dir: &Path) -> f64 {
    let len = |name: &str| std::fs::metadata(dir.join(name)).map_or(0, |m| m.len());
    (len("tenpo.db") + len("tenpo.db-wal")) as f64 / 1e6
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("aged-till bench: run with `cargo bench -p tenpo-agent --bench aged`");
        return;
    }
    let n = common::count_from_env("TENPO_BENCH_SALES", 2_000);
    let events = common::count_from_env("TENPO_BENCH_AGED_EVENTS", 1_000_000);
    let members = common::count_from_env("TENPO_BENCH_AGED_MEMBERS", 1_000_000);
    let bin = Path::new(env!("CARGO_BIN_EXE_tenpo-agent"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tenpo-aged-bench");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rules = rules_file(&dir);
    let dirs = [dir.join("new"), dir.join("aged")];
    let pos = Pos::new();

    eprintln!("the same first sales at both tills …");
    for d in &dirs {
        let agent = start_agent(bin, d, &rules, STANDALONE);
        for i in 0..CARDS {
            pos.sell(&agent, &sale_body("first", i, CARDS));
        }
        // Half to members, half with no card, as the events copied below.
        for i in 0..1_000 {
            pos.sell(
                &agent,
                &sale_body("seed", i, if i % 2 == 0 { CARDS } else { 0 }),
            );
        }
        agent.stop();
    }
    eprintln!("ageing one: {events} more events, {members} more members …");
    let t = Instant::now();
    age(&dirs[1].join("tenpo.db"), events, members);
    eprintln!("aged in {:.1} s", t.elapsed().as_secs_f64());

    let mut sides = [Side::default(), Side::default()];
    let agents: Vec<Agent> = dirs
        .iter()
        .zip(sides.iter_mut())
        .map(|(d, side)| {
            let t = Instant::now();
            let agent = start_agent(bin, d, &rules, STANDALONE);
            side.start = t.elapsed();
            agent
        })
        .collect();
    for r in 0..REPS {
        eprintln!("rep {} of {REPS}: {n} sales to each …", r + 1);
        let mut times = [Vec::new(), Vec::new()];
        for block in 0..n.div_ceil(BLOCK) {
            let order = if block % 2 == 0 { [0, 1] } else { [1, 0] };
            for k in order {
                for i in block * BLOCK..((block + 1) * BLOCK).min(n) {
                    let body = sale_body(&format!("r{r}"), i, CARDS);
                    times[k].push(pos.sell(&agents[k], &body));
                }
                sides[k].status.push(pos.get(&agents[k], "/v1/status"));
                sides[k].metrics.push(pos.get(&agents[k], "/metrics"));
            }
        }
        for (side, t) in sides.iter_mut().zip(times) {
            side.sale.push(t);
        }
    }
    drop(agents);

    let [mut new, mut aged] = sides;
    let row = |what: &str, a: f64, b: f64, unit: &str| {
        println!(
            "| {what} | {a:.3} {unit} | {b:.3} {unit} | {:.2}× |",
            b / a.max(1e-9)
        );
    };
    println!("| what | a new till | aged: +{events} events, +{members} members | aged / new |");
    println!("|---|---|---|---|");
    row(
        "`POST /v1/sales` to a member, p50",
        median_of(&mut new.sale, 0.5),
        median_of(&mut aged.sale, 0.5),
        "ms",
    );
    row(
        "`POST /v1/sales` to a member, p99",
        median_of(&mut new.sale, 0.99),
        median_of(&mut aged.sale, 0.99),
        "ms",
    );
    row(
        "`GET /v1/status`, p50",
        pct(&mut new.status, 0.5),
        pct(&mut aged.status, 0.5),
        "ms",
    );
    row(
        "`GET /metrics`, p50",
        pct(&mut new.metrics, 0.5),
        pct(&mut aged.metrics, 0.5),
        "ms",
    );
    row(
        "`GET /metrics`, slowest",
        pct(&mut new.metrics, 1.0),
        pct(&mut aged.metrics, 1.0),
        "ms",
    );
    row(
        "start to the port answering",
        new.start.as_secs_f64() * 1e3,
        aged.start.as_secs_f64() * 1e3,
        "ms",
    );
    row(
        "database file and log, at the end",
        size_mb(&dirs[0]),
        size_mb(&dirs[1]),
        "MB",
    );
}
