//! A hub years in (docs/design.md §8): `GET /metrics` beside millions of events. A chain's hub
//! keeps every event of every till, hundreds of millions a year; a scrape, every 15–60 s, must
//! not read them.
//!
//! The hub in-process, over loopback HTTP, on SQLite or (`TENPO_BENCH_HUB_DATABASE=postgres`)
//! on a PostgreSQL server the bench starts. Its tables are filled with SQL beside it:
//! `TENPO_BENCH_HUB_TERMINALS` terminals (default 300) with their events, each terminal's mark
//! at its last, in two steps up to `TENPO_BENCH_HUB_EVENTS` events in all (default 6,000,000),
//! and at the end ten more held past a gap. At each step, 20 scrapes (p50 and the slowest) and,
//! on the same database, `SELECT COUNT(*) FROM events`: what each scrape read before the hub
//! counted the events by the terminals' marks. Then `TENPO_BENCH_HUB_MESSAGES` messages
//! (default 3,000,000, a chain's year or two of scenarios), 20 scrapes again and the count of
//! every message per state that each scrape made before the hub kept the counts. Then
//! `TENPO_BENCH_HUB_MEMBERS` members (default 1,000,000, a chain's), 20 scrapes and the
//! `SELECT COUNT(*) FROM members` each scrape made before the hub kept that count. The rows are
//! small (a sale's event is about a kilobyte), which makes those counts, if anything, faster
//! than on a real hub's tables.
//!
//! Run: `cargo bench -p tenpo-hub --bench metrics`. Prints a Markdown table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tenpo_hub::store::SqliteStore;
use tenpo_hub::store::postgres::{DatabaseUrl, PgStore};

use common::{TOKEN, env_usize, serve};

const SCRAPES: usize = 20;
/// Events held past a gap at the end, for the last step.
const WAITING: u64 = 10;

/// The hub's database, written beside the hub with SQL.
enum Tables {
    Sqlite(rusqlite::Connection),
    Postgres(tokio_postgres::Client),
}

impl Tables {
    async fn batch(&self, sql: &str) {
        match self {
            Tables::Sqlite(c) => c.execute_batch(sql).unwrap(),
            Tables::Postgres(c) => c.batch_execute(sql).await.unwrap(),
        }
    }

    /// `terminals` terminals, marks at 0.
    async fn add_terminals(&self, terminals: usize) {
        let last = terminals.saturating_sub(1);
        self.batch(&match self {
            Tables::Sqlite(_) => format!(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last})
                 INSERT INTO terminals (terminal_id, store_id, secret_hash, enrolled_at)
                 SELECT printf('t-%04d', i), printf('s-%04d', i / 3), x'00',
                        '2025-01-01T00:00:00Z' FROM n"
            ),
            Tables::Postgres(_) => format!(
                "INSERT INTO terminals (terminal_id, store_id, secret_hash, enrolled_at)
                 SELECT format('t-%s', lpad(i::text, 4, '0')), format('s-%s', i / 3), '\\x00',
                        now() FROM generate_series(0, {last}) i"
            ),
        })
        .await;
    }

    /// Every terminal's events `from..=to`, stored, and its mark at `to`.
    async fn add_events(&self, from: u64, to: u64) {
        self.batch(&match self {
            Tables::Sqlite(_) => format!(
                "BEGIN;
                 WITH RECURSIVE n(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM n WHERE i < {to})
                 INSERT INTO events (terminal_id, seq, event_id, kind, status, hash, payload,
                                     received_at)
                 SELECT t.terminal_id, n.i, t.terminal_id || '-' || n.i, 'sale', 'stored', 'h',
                        '{{}}', '2025-06-01T00:00:00Z'
                 FROM terminals t, n ORDER BY t.terminal_id, n.i;
                 UPDATE terminals SET acked_through = {to};
                 COMMIT;
                 PRAGMA wal_checkpoint(TRUNCATE);"
            ),
            Tables::Postgres(_) => format!(
                "BEGIN;
                 INSERT INTO events (terminal_id, seq, event_id, kind, status, hash, payload,
                                     received_at)
                 SELECT t.terminal_id, n, t.terminal_id || '-' || n, 'sale', 'stored', 'h', '{{}}',
                        now()
                 FROM terminals t, generate_series({from}, {to}) n
                 ORDER BY t.terminal_id, n;
                 UPDATE terminals SET acked_through = {to};
                 COMMIT;"
            ),
        })
        .await;
        if let Tables::Postgres(_) = self {
            // As autovacuum would soon after: the count below may then read the index alone.
            self.batch("VACUUM ANALYZE events").await;
        }
    }

    /// `n` events of the first terminal stored past a gap after seq `mark`.
    async fn add_waiting(&self, mark: u64, n: u64) {
        let (from, to) = (mark + 2, mark + 1 + n);
        self.batch(&match self {
            Tables::Sqlite(_) => format!(
                "WITH RECURSIVE n(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM n WHERE i < {to})
                 INSERT INTO events (terminal_id, seq, event_id, kind, status, hash, payload,
                                     received_at)
                 SELECT 't-0000', i, 'gap-' || i, 'sale', 'stored', 'h', '{{}}',
                        '2025-06-01T00:00:00Z' FROM n"
            ),
            Tables::Postgres(_) => format!(
                "INSERT INTO events (terminal_id, seq, event_id, kind, status, hash, payload,
                                     received_at)
                 SELECT 't-0000', i, 'gap-' || i, 'sale', 'stored', 'h', '{{}}', now()
                 FROM generate_series({from}, {to}) i"
            ),
        })
        .await;
    }

    /// `n` messages as years of scenarios leave them: most sent, one in a hundred refused, one
    /// in fifty expired, one in a thousand waiting, and the counts per state as the hub's own
    /// statements that queue messages keep them (the table had none). Returns how many are
    /// sent.
    async fn add_messages(&self, n: u64) -> u64 {
        let state = "CASE WHEN i % 1000 = 0 THEN 'pending' WHEN i % 100 = 0 THEN 'failed'
                          WHEN i % 50 = 0 THEN 'expired' ELSE 'sent' END";
        self.batch(&match self {
            Tables::Sqlite(_) => format!(
                "BEGIN;
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
                 INSERT INTO messages (dedupe_key, member_id, line_user_id, scenario, class,
                                       channel, action, body, state, not_before_ms, created_at)
                 SELECT 'bench:' || i, 'm-' || (i % 1000000), 'U' || (i % 1000000), 'birthday',
                        'marketing', 'line', 'push', '[]', {state}, 0, '2025-06-01T00:00:00Z'
                 FROM n;
                 UPDATE message_tallies SET n = n + (SELECT COUNT(*) FROM messages m
                                                     WHERE m.state = message_tallies.state);
                 COMMIT;
                 PRAGMA wal_checkpoint(TRUNCATE);"
            ),
            Tables::Postgres(_) => format!(
                "INSERT INTO messages (dedupe_key, member_id, line_user_id, scenario, class,
                                       channel, action, body, state, not_before_ms, created_at)
                 SELECT 'bench:' || i, 'm-' || (i % 1000000), 'U' || (i % 1000000), 'birthday',
                        'marketing', 'line', 'push', '[]', {state}, 0, now()
                 FROM generate_series(1, {n}) i;
                 INSERT INTO message_tallies (state, shard, n)
                     SELECT state, 0, COUNT(*) FROM messages GROUP BY state;"
            ),
        })
        .await;
        if let Tables::Postgres(_) = self {
            // As autovacuum would soon after: the count may then read the index alone.
            self.batch("VACUUM ANALYZE messages").await;
        }
        (1..=n)
            .filter(|i| i % 1000 != 0 && i % 100 != 0 && i % 50 != 0)
            .count() as u64
    }

    /// `n` members with ids as long as the hub's (a UUID's 36 characters: the count read the
    /// index of them) and a snapshot of a few hundred bytes, as an import leaves them (the
    /// schema's triggers count them).
    async fn add_members(&self, n: u64) {
        self.batch(&match self {
            Tables::Sqlite(_) => format!(
                "BEGIN;
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
                 INSERT INTO members (member_id, number, snapshot, created_at, updated_at)
                 SELECT printf('%08d-0000-4000-8000-%012d', i, i), printf('21%011d', i),
                        hex(randomblob(120)),
                        '2025-06-01T00:00:00Z', '2025-06-01T00:00:00Z'
                 FROM n;
                 COMMIT;
                 PRAGMA wal_checkpoint(TRUNCATE);"
            ),
            Tables::Postgres(_) => format!(
                "INSERT INTO members (member_id, number, snapshot, created_at, updated_at)
                 SELECT lpad(i::text, 8, '0') || '-0000-4000-8000-' || lpad(i::text, 12, '0'),
                        '21' || lpad(i::text, 11, '0'),
                        md5(i::text) || repeat('x', 200), now(), now()
                 FROM generate_series(1, {n}) i"
            ),
        })
        .await;
        if let Tables::Postgres(_) = self {
            self.batch("VACUUM ANALYZE members").await;
        }
    }

    /// What each scrape read before SQLite's schema 17 and PostgreSQL's 8 kept the count:
    /// `SELECT COUNT(*) FROM members`, timed.
    async fn count_members(&self) -> Duration {
        const SQL: &str = "SELECT COUNT(*) FROM members";
        let t = Instant::now();
        match self {
            Tables::Sqlite(c) => {
                c.query_row(SQL, [], |r| r.get::<_, i64>(0)).unwrap();
            }
            Tables::Postgres(c) => {
                c.query_one(SQL, &[]).await.unwrap();
            }
        }
        t.elapsed()
    }

    /// What each scrape read before schema 16 (SQLite) and 7 (PostgreSQL) kept the counts:
    /// `SELECT state, COUNT(*) FROM messages GROUP BY state`, timed.
    async fn count_messages(&self) -> Duration {
        const SQL: &str = "SELECT state, COUNT(*) FROM messages GROUP BY state";
        let t = Instant::now();
        match self {
            Tables::Sqlite(c) => {
                let mut stmt = c.prepare(SQL).unwrap();
                let rows = stmt.query_map([], |r| r.get::<_, i64>(1)).unwrap();
                assert!(rows.count() > 0);
            }
            Tables::Postgres(c) => assert!(!c.query(SQL, &[]).await.unwrap().is_empty()),
        }
        t.elapsed()
    }

    /// `SELECT COUNT(*) FROM events`, timed.
    async fn count_events(&self) -> (u64, Duration) {
        let t = Instant::now();
        let n: i64 = match self {
            Tables::Sqlite(c) => c
                .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
                .unwrap(),
            Tables::Postgres(c) => c
                .query_one("SELECT COUNT(*) FROM events", &[])
                .await
                .unwrap()
                .get(0),
        };
        (n.unsigned_abs(), t.elapsed())
    }
}

/// What one step measured.
struct Step {
    events: u64,
    scrape_p50: Duration,
    scrape_max: Duration,
    count: Duration,
}

/// What a scrape must report.
#[derive(Clone, Copy)]
struct Expect {
    events: u64,
    waiting: u64,
    sent: u64,
    members: u64,
}

/// `SCRAPES` scrapes of `/metrics`, each checked against `expect`.
async fn scrape(http: &reqwest::Client, base: &str, expect: Expect) -> Vec<Duration> {
    let mut times = Vec::new();
    for _ in 0..SCRAPES {
        let t = Instant::now();
        let text = http
            .get(format!("{base}/metrics"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .text()
            .await
            .unwrap();
        times.push(t.elapsed());
        let value = |name: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in /metrics"))
        };
        assert_eq!(value("tenpo_hub_events_stored_total"), expect.events);
        assert_eq!(value("tenpo_hub_events_waiting"), expect.waiting);
        assert_eq!(
            value("tenpo_hub_line_messages{state=\"sent\"}"),
            expect.sent
        );
        assert_eq!(value("tenpo_hub_members"), expect.members);
    }
    times.sort();
    times
}

async fn open(postgres: bool, dir: &Path) -> (String, Tables, &'static str) {
    if postgres {
        let url = tenpo_e2e::postgres::durable_cluster()
            .fresh_database()
            .await;
        let parsed = DatabaseUrl::parse(&url).unwrap();
        let store = Arc::new(PgStore::open(&parsed, 4, Utc::now()).await.unwrap());
        let base = serve(store).await;
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        (base, Tables::Postgres(client), "PostgreSQL")
    } else {
        let path = dir.join("hub.db");
        let store = Arc::new(SqliteStore::open(&path, Utc::now()).unwrap());
        let base = serve(store).await;
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.busy_timeout(Duration::from_secs(30)).unwrap();
        (base, Tables::Sqlite(conn), "SQLite")
    }
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: keep that quick and meaningless.
    if !std::env::args().any(|a| a == "--bench") {
        println!("hub bench: run with `cargo bench -p tenpo-hub --bench metrics`");
        return;
    }
    let terminals = env_usize("TENPO_BENCH_HUB_TERMINALS", 300).max(1);
    let total = env_usize("TENPO_BENCH_HUB_EVENTS", 6_000_000);
    let postgres = std::env::var("TENPO_BENCH_HUB_DATABASE").is_ok_and(|v| v == "postgres");
    let per_terminal = (total / terminals).max(2) as u64;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let (base, tables, backend) = open(postgres, dir.path()).await;
        let http = reqwest::Client::new();
        tables.add_terminals(terminals).await;
        let mut steps = Vec::new();
        let mut mark = 0;
        for to in [per_terminal / 6, per_terminal] {
            eprintln!("{backend}: {terminals} terminals, events to seq {to} each …");
            let t = Instant::now();
            tables.add_events(mark + 1, to).await;
            eprintln!("written in {:.1} s", t.elapsed().as_secs_f64());
            mark = to;
            let events = mark * terminals as u64;
            let expect = Expect {
                events,
                waiting: 0,
                sent: 0,
                members: 0,
            };
            let times = scrape(&http, &base, expect).await;
            let (counted, count) = tables.count_events().await;
            assert_eq!(counted, events);
            steps.push(Step {
                events,
                scrape_p50: times[times.len() / 2],
                scrape_max: times[times.len() - 1],
                count,
            });
        }
        tables.add_waiting(mark, WAITING).await;
        let events = mark * terminals as u64 + WAITING;
        let mut expect = Expect {
            events,
            waiting: WAITING,
            sent: 0,
            members: 0,
        };
        let times = scrape(&http, &base, expect).await;
        let (_, count) = tables.count_events().await;
        steps.push(Step {
            events,
            scrape_p50: times[times.len() / 2],
            scrape_max: times[times.len() - 1],
            count,
        });

        let messages = env_usize("TENPO_BENCH_HUB_MESSAGES", 3_000_000) as u64;
        eprintln!("{backend}: {messages} messages …");
        let t = Instant::now();
        let sent = tables.add_messages(messages).await;
        eprintln!("written in {:.1} s", t.elapsed().as_secs_f64());
        expect.sent = sent;
        let times = scrape(&http, &base, expect).await;
        let grouped = tables.count_messages().await;
        let with_messages = Step {
            events,
            scrape_p50: times[times.len() / 2],
            scrape_max: times[times.len() - 1],
            count: grouped,
        };

        let members = env_usize("TENPO_BENCH_HUB_MEMBERS", 1_000_000) as u64;
        eprintln!("{backend}: {members} members …");
        let t = Instant::now();
        tables.add_members(members).await;
        eprintln!("written in {:.1} s", t.elapsed().as_secs_f64());
        expect.members = members;
        let times = scrape(&http, &base, expect).await;
        let with_members = Step {
            events,
            scrape_p50: times[times.len() / 2],
            scrape_max: times[times.len() - 1],
            count: tables.count_members().await,
        };

        let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
        println!("| {backend}, {terminals} terminals | `GET /metrics`, p50 | slowest of {SCRAPES} | `SELECT COUNT(*) FROM events` |");
        println!("|---|---|---|---|");
        for (i, s) in steps.iter().enumerate() {
            let gap = if i == steps.len() - 1 {
                format!(", {WAITING} past a gap")
            } else {
                String::new()
            };
            println!(
                "| {} events{gap} | {} | {} | {} |",
                s.events,
                ms(s.scrape_p50),
                ms(s.scrape_max),
                ms(s.count)
            );
        }
        println!();
        println!("| {backend}, the same events and | `GET /metrics`, p50 | slowest of {SCRAPES} | `SELECT state, COUNT(*) FROM messages GROUP BY state` |");
        println!("|---|---|---|---|");
        println!(
            "| {messages} messages | {} | {} | {} |",
            ms(with_messages.scrape_p50),
            ms(with_messages.scrape_max),
            ms(with_messages.count)
        );
        println!();
        println!("| {backend}, the same events and messages, and | `GET /metrics`, p50 | slowest of {SCRAPES} | `SELECT COUNT(*) FROM members` |");
        println!("|---|---|---|---|");
        println!(
            "| {members} members | {} | {} | {} |",
            ms(with_members.scrape_p50),
            ms(with_members.scrape_max),
            ms(with_members.count)
        );
    });
}
