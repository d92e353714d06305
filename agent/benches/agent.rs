//! The agent's budgets (docs/design.md §8), measured on this machine:
//!
//! - recording a sale (effects + outbox, `synchronous=FULL`): p50 and p99, and the ratio to the
//!   same writes as raw SQL in one transaction with the same durability;
//! - member lookup with 1,000,000 cached members: in the ledger, and over HTTP on loopback;
//! - the idle agent process: RSS and wake-ups.
//!
//! Run: `cargo bench -p tenpo-agent --bench agent` (sizes: `TENPO_BENCH_MEMBERS`,
//! `TENPO_BENCH_SALES`). Prints a Markdown table for docs/benchmarks.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use rusqlite::{Connection, params};
use tenpo_agent::api::{self, AppState};
use tenpo_agent::ledger::Ledger;
use tenpo_agent::store::{Identity, MemberRow, Store};
use tenpo_loyalty::{MemberState, PointLot, RuleSet, StampCard};
use tenpo_protocol::agent::{SaleLine, SaleRequest};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Stats {
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    Stats {
        p50: at(0.50),
        p99: at(0.99),
        mean,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn code_for(i: usize) -> String {
    tenpo_agent::demo::jan(&format!("21{i:010}"))
}

/// A member as the hub would send it: a few lots, stamps, a year of spend.
fn typical_state(rules: &RuleSet, i: usize) -> MemberState {
    let today: tenpo_loyalty::Date = "2026-11-22".parse().unwrap();
    let mut state = MemberState {
        stamps: StampCard {
            count: (i % 10) as u32,
            last_stamp_on: Some(today.add_days(-((i % 30) as i64) - 1)),
            ..StampCard::default()
        },
        ..MemberState::default()
    };
    for k in 0..4 {
        let earned_on = today.add_months(-(k * 3 + 1));
        state.lots.push(PointLot {
            lot_id: format!("import-{i}-{k}"),
            earned_on,
            expires_on: rules.expiry_for(earned_on),
            points: 50 + (i % 400) as i64,
        });
        state.spend.insert(earned_on, 3_000 + (i % 9_000) as i64);
    }
    state
        .lots
        .sort_by(|a, b| (a.expires_on, &a.lot_id).cmp(&(b.expires_on, &b.lot_id)));
    state
}

/// Fills the member cache with `n` members, as the hub's snapshots, through the store's own
/// writes, one transaction per 50,000.
fn populate(store: &Store, rules: &RuleSet, n: usize) {
    let mut done = 0;
    while done < n {
        store
            .write(|tx| {
                for i in done..(done + 50_000).min(n) {
                    let code = code_for(i);
                    let member = MemberRow {
                        member_id: format!("m{i:08}"),
                        number: code.clone(),
                        provisional: false,
                        state: typical_state(rules, i).into(),
                    };
                    tx.insert_member(&member, &member.state, &[code.as_str()], "bench")?;
                }
                Ok::<(), tenpo_agent::store::StoreError>(())
            })
            .unwrap();
        done = (done + 50_000).min(n);
    }
}

fn ledger(store: Arc<Store>, rules: &RuleSet) -> Arc<Ledger> {
    Arc::new(Ledger::new(
        store,
        Arc::new(rules.clone()),
        tenpo_hw::CodeRules {
            codabar_check: tenpo_hw::CodabarCheck::None,
            card_keys: tenpo_hw::KeyRing::new(),
            card_skew_secs: 60,
        },
        chrono_tz::Asia::Tokyo,
        Identity {
            store_id: "bench-store".into(),
            terminal_id: "bench-till".into(),
        },
    ))
}

fn sale(i: usize, code: &str) -> SaleRequest {
    SaleRequest {
        sale_id: format!("bench-{i:07}"),
        member_code: Some(code.to_owned()),
        occurred_at: None,
        lines: vec![
            SaleLine {
                sku: "4901234567894".into(),
                category: Some("food".into()),
                quantity: 2,
                amount_yen: 1_280,
            },
            SaleLine {
                sku: "4909876543210".into(),
                category: None,
                quantity: 1,
                amount_yen: 398,
            },
        ],
        redeem_points: Some(if i.is_multiple_of(5) { 10 } else { 0 }),
        coupon_ids: None,
    }
}

/// The same writes as a recorded sale, as raw SQL in one transaction: idempotency check,
/// member read, next seq, outbox insert, sale insert, member update.
fn raw_sale(conn: &mut Connection, i: usize, code: &str, payload: &str, state: &[u8]) {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let id = format!("raw-{i:07}");
    let exists: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM sales WHERE sale_id = ?1)")
        .unwrap()
        .query_row([&id], |r| r.get(0))
        .unwrap();
    assert!(!exists);
    let (member_id, _state): (String, Vec<u8>) = tx
        .prepare_cached("SELECT m.member_id, COALESCE(s.state, m.snapshot) FROM member_codes c JOIN members m ON m.member_id = c.member_id LEFT JOIN member_states s ON s.member_id = m.member_id WHERE c.code = ?1")
        .unwrap()
        .query_row([code], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    let seq: i64 = tx
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) + 1 FROM outbox")
        .unwrap()
        .query_row([], |r| r.get(0))
        .unwrap();
    tx.prepare_cached("INSERT INTO outbox (seq, event_id, kind, payload, recorded_at, request_hash, response) VALUES (?1, ?2, 'sale', ?3, 'now', x'00', '{}')")
        .unwrap()
        .execute(params![seq, format!("raw-event-{i}"), payload])
        .unwrap();
    tx.prepare_cached("INSERT INTO sales (sale_id, member_id, business_date, seq) VALUES (?1, ?2, '2026-11-22', ?3)")
        .unwrap()
        .execute(params![id, member_id, seq])
        .unwrap();
    tx.prepare_cached("INSERT INTO member_states (member_id, state, updated_at) VALUES (?1, ?2, 'now') ON CONFLICT(member_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at")
        .unwrap()
        .execute(params![member_id, state])
        .unwrap();
    tx.commit().unwrap();
}

/// Agent sales and raw-SQL sales alternate on the same file, so both see the same disk, the
/// same WAL size and the same checkpoints.
fn bench_sales(dir: &Path, rules: &RuleSet, n: usize) -> (Stats, Stats) {
    let path = dir.join("sales.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let store = Arc::new(Store::open(&path).unwrap());
    populate(&store, rules, 1_000);
    let ledger = ledger(store.clone(), rules);
    let now = Utc::now();
    for i in 0..50 {
        ledger
            .record_sale(&sale(1_000_000 + i, &code_for(i)), now)
            .unwrap();
    }
    let (payload, state): (String, Vec<u8>) = store
        .read(|c| {
            Ok(c.query_row(
                "SELECT o.payload, m.state FROM outbox o, member_states m
                 WHERE o.kind = 'sale' LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .unwrap();
    let mut conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    for i in 0..50 {
        raw_sale(&mut conn, 1_000_000 + i, &code_for(i), &payload, &state);
    }
    let mut agent = Vec::with_capacity(n);
    let mut raw = Vec::with_capacity(n);
    for i in 0..n {
        let req = sale(i, &code_for(i % 1_000));
        let t = Instant::now();
        ledger.record_sale(&req, now).unwrap();
        agent.push(t.elapsed());
        let t = Instant::now();
        raw_sale(&mut conn, i, &code_for((i + 500) % 1_000), &payload, &state);
        raw.push(t.elapsed());
    }
    (stats(agent), stats(raw))
}

/// The bench's member cache of `members`, named by the schema version: a cache an older agent
/// wrote is built again, not migrated.
fn cache_path(dir: &Path, members: usize) -> std::path::PathBuf {
    let v = tenpo_agent::store::CURRENT_VERSION;
    dir.join(format!("members-{members}-v{v}.db"))
}

fn bench_lookup(dir: &Path, rules: &RuleSet, members: usize) -> (Duration, Stats, Stats, u64) {
    let path = cache_path(dir, members);
    let ready = path.with_extension("ready");
    let t = Instant::now();
    if !ready.exists() {
        let _ = std::fs::remove_file(&path);
        populate(&Store::open(&path).unwrap(), rules, members);
        std::fs::write(&ready, b"").unwrap();
    }
    let fill = t.elapsed();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let store = Arc::new(Store::open(&path).unwrap());
    let ledger = ledger(store, rules);
    let now = Utc::now();
    // A spread of members across the whole cache, every lookup a different member.
    let step = 7_919; // prime: visits members all over the file
    let lookups = 20_000;
    for i in 0..2_000 {
        ledger.lookup(&code_for((i * step) % members), now).unwrap();
    }
    let mut samples = Vec::with_capacity(lookups);
    for i in 0..lookups {
        let code = code_for((i * step + 13) % members);
        let t = Instant::now();
        let view = ledger.lookup(&code, now).unwrap();
        samples.push(t.elapsed());
        std::hint::black_box(view);
    }
    let direct = stats(samples);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let http = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState {
            ledger: ledger.clone(),
            token: "unused".into(),
            scans: Arc::new(tenpo_agent::scan::Pipeline::new(
                ledger.clone(),
                Arc::new(tenpo_agent::scan::Scanners::new(&[])),
                Duration::from_secs(1),
            )),
            sync: None,
            in_flight: Default::default(),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(api::serve(listener, state, async {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::new();
        let mut samples = Vec::with_capacity(5_000);
        for i in 0..5_500 {
            let code = code_for((i * step + 29) % members);
            let t = Instant::now();
            let r = client
                .get(format!("{url}/v1/members/{code}"))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
            let _ = r.bytes().await.unwrap();
            if i >= 500 {
                samples.push(t.elapsed());
            }
        }
        let _ = stop.send(());
        stats(samples)
    });
    (fill, direct, http, size)
}

/// From the last byte of a scan written to a real pseudo-terminal (the scanner's end) to the scan
/// event published by the pipeline, one scan at a time, each a different member of the cache.
#[cfg(unix)]
fn bench_scan(dir: &Path, rules: &RuleSet, members: usize) -> Stats {
    use serialport::{SerialPort, TTYPort};
    use std::io::Write;
    use tenpo_hw::source::{Kind, ScannerConfig};
    let path = cache_path(dir, members);
    let store = Arc::new(Store::open(&path).unwrap());
    let ledger = ledger(store, rules);
    let (mut master, slave) = TTYPort::pair().unwrap();
    let mut scanner = ScannerConfig::new("bench", Kind::Serial);
    scanner.path = Some(slave.name().unwrap().into());
    let scanners = Arc::new(tenpo_agent::scan::Scanners::new(std::slice::from_ref(
        &scanner,
    )));
    let pipeline = Arc::new(tenpo_agent::scan::Pipeline::new(
        ledger,
        scanners.clone(),
        Duration::from_millis(1),
    ));
    let mut events = pipeline.subscribe();
    let running = tenpo_agent::scan::start(pipeline, &[scanner]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !scanners.snapshot()[0].connected {
        assert!(Instant::now() < deadline, "the scanner did not connect");
        std::thread::sleep(Duration::from_millis(5));
    }
    let step = 104_729; // prime: members all over the cache
    let mut samples = Vec::with_capacity(2_000);
    for i in 0..2_200 {
        let code = code_for((i * step + 7) % members);
        let bytes = format!("{code}\r");
        let t = Instant::now();
        master.write_all(bytes.as_bytes()).unwrap();
        let event = events.blocking_recv().unwrap();
        let elapsed = t.elapsed();
        assert!(
            matches!(
                event.outcome,
                tenpo_protocol::agent::ScanOutcome::Member { .. }
            ),
            "{event:?}"
        );
        if i >= 200 {
            samples.push(elapsed);
        }
    }
    running.stop();
    stats(samples)
}

fn proc_status(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn bench_idle(dir: &Path) -> (u64, u64, u64, Duration) {
    let data = dir.join("idle");
    let _ = std::fs::remove_dir_all(&data);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tenpo-agent"))
        .args(["run", "--demo", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(&data)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "agent did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Serve a few requests first, so the idle figure is after real work.
    for _ in 0..20 {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(
            b"GET /v1/members/2000000000015 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .unwrap();
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    }
    // tokio's blocking threads linger 10 s after their last job: let them go first.
    std::thread::sleep(Duration::from_secs(12));
    let window = Duration::from_secs(10);
    let before = common::switches(child.id());
    std::thread::sleep(window);
    let woke = common::woke_since(child.id(), &before).values().sum();
    let rss = proc_status(child.id(), "VmRSS:");
    let hwm = proc_status(child.id(), "VmHWM:");
    let _ = child.kill();
    let _ = child.wait();
    (rss, hwm, woke, window)
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: keep that quick and meaningless.
    if !std::env::args().any(|a| a == "--bench") {
        println!("agent bench: run with `cargo bench -p tenpo-agent --bench agent`");
        return;
    }
    let rules = RuleSet::demo();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tenpo-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let members = env_usize("TENPO_BENCH_MEMBERS", 1_000_000);
    let sales = env_usize("TENPO_BENCH_SALES", 2_000);

    eprintln!("recording {sales} sales, then the same writes as raw SQL …");
    let (agent, raw) = bench_sales(&dir, &rules, sales);
    eprintln!("filling a cache of {members} members (kept for later runs) …");
    let (fill, direct, http, size) = bench_lookup(&dir, &rules, members);
    eprintln!("scanning 2,000 cards through a pseudo-terminal …");
    let scan = bench_scan(&dir, &rules, members);
    eprintln!("starting the agent and leaving it idle …");
    let (rss, hwm, woke, window) = bench_idle(&dir);

    println!("| what | measured | budget |");
    println!("|---|---|---|");
    println!(
        "| sale recorded, agent (`synchronous=FULL`, {sales} sales) | p50 {}, p99 {}, mean {} | p50 ≤ 3 ms |",
        ms(agent.p50),
        ms(agent.p99),
        ms(agent.mean)
    );
    println!(
        "| same writes as raw SQL, one transaction | p50 {}, p99 {}, mean {} | — |",
        ms(raw.p50),
        ms(raw.p99),
        ms(raw.mean)
    );
    println!(
        "| ratio agent / raw SQL | p50 {:.2}×, p99 {:.2}× | ≤ 1.5× |",
        agent.p50.as_secs_f64() / raw.p50.as_secs_f64(),
        agent.p99.as_secs_f64() / raw.p99.as_secs_f64()
    );
    println!(
        "| member lookup in the ledger, {members} cached members | p50 {}, p99 {} | p99 ≤ 2 ms (scan → view) |",
        us(direct.p50),
        us(direct.p99)
    );
    println!(
        "| `GET /v1/members/{{code}}` over loopback HTTP, {members} members | p50 {}, p99 {} | — |",
        us(http.p50),
        us(http.p99)
    );
    // 13 digits and a CR, each byte 10 bits on the wire (8N1) at 9,600 baud.
    let wire = Duration::from_secs_f64(14.0 * 10.0 / 9_600.0);
    println!(
        "| scan → event published (pty → frame → check → lookup → broadcast), {members} members | p50 {}, p99 {} | p99 ≤ 2 ms |",
        us(scan.p50),
        us(scan.p99)
    );
    println!(
        "| for scale: the same 14 bytes on a 9,600 baud line | {} | — |",
        ms(wire)
    );
    println!(
        "| member cache on disk | {:.0} MB ({} to fill, first run only) | — |",
        size as f64 / 1e6,
        ms(fill)
    );
    println!(
        "| agent idle RSS (peak) | {:.1} MB ({:.1} MB) | ≤ 25 MB |",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    println!(
        "| agent idle wake-ups (all threads) | {woke} in {} s | none faster than 1 s |",
        window.as_secs()
    );
}
