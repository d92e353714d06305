//! Sync budgets (docs/design.md §8) against a real `tenpo-hub` process on loopback:
//!
//! - pushing a backlog of 10,000 sales (≤ 2 s), by a real `tenpo-agent sync --now` process,
//!   start to exit, beside its peer in the same run: PouchDB replicating the same documents to
//!   express-pouchdb on loopback (agent/benches/pouchdb, installed from npm on the first run;
//!   needs Node.js and npm). Median of three reps, each the two one after the other;
//! - the first sync of 1,000,000 members: time (≤ 60 s), the agent's peak RSS (≤ 150 MB) and
//!   the member cache's size on disk (≤ 300 bytes a member), measured on a real
//!   `tenpo-agent sync --now` process; then, in process on the file it left, how long a member
//!   takes to leave that cache (erased or merged at the hub).
//!
//! Run: `cargo build --release -p tenpo-hub && cargo bench -p tenpo-agent --bench sync`
//! (`TENPO_BENCH_MEMBERS` changes the member count; the populated hub is kept under
//! `target/tmp/tenpo-sync-bench/` for later runs). Prints a Markdown table. With
//! `TENPO_BENCH_HUB_DATABASE=postgres` the first sync is from a hub on PostgreSQL: the populated
//! SQLite hub moved with `tenpo-hub migrate --to` into a server the bench starts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::{Hub, bin_dir, enrol, hub_cmd, rules_file, run, start_hub, start_hub_on};
use tenpo_agent::ledger::Ledger;
use tenpo_agent::store::{Identity, Store};
use tenpo_e2e::harness::free_port;
use tenpo_loyalty::RuleSet;
use tenpo_protocol::agent::{SaleLine, SaleRequest};

/// Records 10,000 sales on an enrolled terminal, then times pushing them all.
fn bench_backlog(dir: &Path) -> (Duration, u64) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let hub = start_hub(&dir.join("hub"));
    run(hub_cmd(&hub).arg("load-rules").arg(rules_file(dir)));
    let agent_dir = dir.join("agent");
    let credentials = enrol(&hub, &agent_dir);
    let store = Arc::new(Store::open(&agent_dir.join("tenpo.db")).unwrap());
    let ledger = Arc::new(Ledger::new(
        store.clone(),
        Arc::new(RuleSet::demo()),
        tenpo_hw::CodeRules::default(),
        chrono_tz::Asia::Tokyo,
        Identity {
            store_id: credentials.store_id.clone(),
            terminal_id: credentials.terminal_id.clone(),
        },
    ));
    let now = Utc::now();
    for i in 0..10_000 {
        let sale = SaleRequest {
            sale_id: format!("backlog-{i:05}"),
            // 500 members, as a day at a busy till: the hub evaluates each sale again on its
            // member's state.
            member_code: Some(tenpo_agent::demo::jan(&format!("23{:010}", i % 500))),
            occurred_at: None,
            lines: vec![SaleLine {
                sku: "4901234567894".into(),
                category: None,
                quantity: 1,
                amount_yen: 100 + (i % 50) as i64,
            }],
            redeem_points: None,
            coupon_ids: None,
        };
        ledger.record_sale(&sale, now).unwrap();
    }
    drop(ledger);
    // The same events as documents for the PouchDB peer: each event's exact JSON, its id the
    // event id.
    let mut docs = std::io::BufWriter::new(std::fs::File::create(dir.join("docs.jsonl")).unwrap());
    store
        .read(|c| {
            let mut stmt = c.prepare("SELECT event_id, payload FROM outbox ORDER BY seq")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let mut doc: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(&row.get::<_, String>(1)?).unwrap();
                doc.insert("_id".into(), row.get::<_, String>(0)?.into());
                serde_json::to_writer(&mut docs, &doc).unwrap();
                docs.write_all(b"\n").unwrap();
            }
            Ok(())
        })
        .unwrap();
    docs.flush().unwrap();
    drop(store);
    // As IT runs it: `tenpo-agent sync --now`, start to exit (no agent running, so the
    // command syncs in-process until nothing is pending).
    let t = Instant::now();
    run(Command::new(env!("CARGO_BIN_EXE_tenpo-agent"))
        .args([
            "sync",
            "--now",
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .arg("--data-dir")
        .arg(&agent_dir)
        .env("RUST_LOG", "warn"));
    let took = t.elapsed();
    let store = Store::open_read_only(&agent_dir.join("tenpo.db")).unwrap();
    let counts = store.outbox_counts().unwrap();
    assert_eq!(counts.acked_through, counts.last_seq, "everything pushed");
    (took, counts.acked_through)
}

/// The peer for the backlog: PouchDB pushing the same documents to express-pouchdb on loopback
/// (agent/benches/pouchdb/replicate.js), installed from npm into `dir` on the first run. `None`
/// (with the reason on stderr) where Node.js or npm is missing or the install fails.
fn pouchdb_backlog(dir: &Path, docs: &Path) -> Option<(Duration, u64)> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/pouchdb");
    std::fs::create_dir_all(dir).unwrap();
    for file in ["package.json", "replicate.js"] {
        std::fs::copy(source.join(file), dir.join(file)).unwrap();
    }
    if !dir.join("node_modules/pouchdb").exists() {
        eprintln!("installing PouchDB and express-pouchdb from npm …");
        let installed = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(dir)
            .status();
        if !installed.as_ref().is_ok_and(|s| s.success()) {
            eprintln!("PouchDB peer not measured: `npm install` failed ({installed:?})");
            return None;
        }
    }
    let out = Command::new("node")
        .arg(dir.join("replicate.js"))
        .arg(docs)
        .arg(dir.join("work"))
        .stderr(Stdio::inherit())
        .output();
    let out = match out {
        Ok(o) if o.status.success() => o,
        other => {
            eprintln!("PouchDB peer not measured: {other:?}");
            return None;
        }
    };
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    Some((
        Duration::from_secs_f64(answer["ms"].as_f64().unwrap() / 1e3),
        answer["docs"].as_u64().unwrap(),
    ))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Imports `members` paper-card members into a hub (once; kept for later runs).
fn populated_hub(dir: &Path, members: usize) -> (Hub, Duration) {
    let data = dir.join(format!("hub-{members}"));
    let ready = dir.join(format!("hub-{members}.ready"));
    if !ready.exists() {
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).unwrap();
        let hub = start_hub(&data);
        run(hub_cmd(&hub).arg("load-rules").arg(rules_file(dir)));
        let csv = dir.join("members.csv");
        let mut f = std::io::BufWriter::new(std::fs::File::create(&csv).unwrap());
        writeln!(f, "card_code,points,qualifying_spend_yen,birthday").unwrap();
        for i in 0..members {
            let code = tenpo_agent::demo::jan(&format!("21{i:010}"));
            writeln!(f, "{code},{},{},", 50 + i % 900, 1_000 + (i % 60) * 1_000).unwrap();
        }
        f.flush().unwrap();
        drop(f);
        let t = Instant::now();
        run(hub_cmd(&hub).arg("import-members").arg(&csv));
        let took = t.elapsed();
        std::fs::write(&ready, format!("{}", took.as_millis())).unwrap();
        return (hub, took);
    }
    let took = Duration::from_millis(
        std::fs::read_to_string(&ready)
            .unwrap()
            .trim()
            .parse()
            .unwrap_or(0),
    );
    (start_hub(&data), took)
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The populated hub moved into a fresh PostgreSQL database (`tenpo-hub migrate --to`, on a
/// server the bench starts with `fsync` on), served from there; and how long the move took.
fn postgres_hub(dir: &Path, members: usize) -> (Hub, Duration) {
    let (hub, _) = populated_hub(dir, members);
    drop(hub);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = runtime.block_on(tenpo_e2e::postgres::durable_cluster().fresh_database());
    let data = dir.join(format!("hub-{members}"));
    let t = Instant::now();
    run(Command::new(bin_dir().join("tenpo-hub"))
        .args(["migrate", "--to", &url])
        .arg("--data-dir")
        .arg(&data)
        .env("RUST_LOG", "warn"));
    let moved = t.elapsed();
    // The cluster lives as long as this process (its runtime is not needed to serve).
    std::mem::forget(runtime);
    (start_hub_on(&data, Some(&url)), moved)
}

/// CPU time a process has used so far, its threads' user and system time together, from
/// `/proc/{pid}/stat` (fields 14 and 15, in clock ticks).
fn cpu_time(pid: u32, ticks_per_second: f64) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, field 2, may hold spaces; the fields after it do not.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_secs_f64(ticks as f64 / ticks_per_second))
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}

/// What a first sync measured.
struct FirstSync {
    took: Duration,
    peak_kb: u64,
    /// CPU the agent used, as last sampled before it exited (every 20 ms).
    agent_cpu: Duration,
    /// CPU the hub used while the agent ran.
    hub_cpu: Duration,
    import: Duration,
    disk: u64,
}

/// A fresh terminal's first sync, as a real `tenpo-agent sync --now` process (from a hub on
/// PostgreSQL with `TENPO_BENCH_HUB_DATABASE=postgres`).
fn bench_first_sync(dir: &Path, members: usize) -> FirstSync {
    let postgres = std::env::var("TENPO_BENCH_HUB_DATABASE").is_ok_and(|v| v == "postgres");
    let (hub, import) = if postgres {
        postgres_hub(dir, members)
    } else {
        populated_hub(dir, members)
    };
    let agent_dir = dir.join("first-sync-agent");
    let _ = std::fs::remove_dir_all(&agent_dir);
    enrol(&hub, &agent_dir);
    let port = free_port();
    let ticks = clock_ticks_per_second();
    let hub_cpu_before = cpu_time(hub.child.id(), ticks).unwrap_or_default();
    let t = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tenpo-agent"))
        .args(["sync", "--now", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(&agent_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut peak = 0;
    let mut agent_cpu = Duration::ZERO;
    let status = loop {
        if let Some(kb) = vm_hwm_kb(child.id()) {
            peak = peak.max(kb);
        }
        if let Some(cpu) = cpu_time(child.id(), ticks) {
            agent_cpu = agent_cpu.max(cpu);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = t.elapsed();
    let hub_cpu = cpu_time(hub.child.id(), ticks)
        .unwrap_or_default()
        .saturating_sub(hub_cpu_before);
    assert!(status.success(), "sync --now failed");
    let store = Store::open_read_only(&agent_dir.join("tenpo.db")).unwrap();
    assert_eq!(
        store.members_cached().unwrap(),
        members as u64,
        "every member arrived"
    );
    drop(store);
    // The cache as it lies on the disk after the run (the WAL checkpointed at exit).
    let bytes: u64 = ["tenpo.db", "tenpo.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(agent_dir.join(f)).ok())
        .map(|m| m.len())
        .sum();
    FirstSync {
        took,
        peak_kb: peak,
        agent_cpu,
        hub_cpu,
        import,
        disk: bytes,
    }
}

/// Members leaving the cache the first sync left (in process, on its file): as a feed page of
/// members erased or merged at the hub removes them, one transaction each. Median per member.
fn bench_removals(dir: &Path, n: usize) -> Duration {
    let store = Store::open(&dir.join("first-sync-agent").join("tenpo.db")).unwrap();
    let ids: Vec<String> = store
        .read(|c| {
            let mut s = c.prepare("SELECT member_id FROM members ORDER BY member_id LIMIT ?1")?;
            let rows = s.query_map([n as i64], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .unwrap();
    let times = ids
        .iter()
        .map(|id| {
            let t = Instant::now();
            store.write(|tx| tx.remove_member(id)).unwrap();
            t.elapsed()
        })
        .collect();
    median(times)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("sync bench: run with `cargo bench -p tenpo-agent --bench sync`");
        return;
    }
    let members = common::count_from_env("TENPO_BENCH_MEMBERS", 1_000_000);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tenpo-sync-bench");
    std::fs::create_dir_all(&dir).unwrap();
    // Three reps, each the till's push then PouchDB's of the same documents.
    let (mut pushes, mut pouches) = (Vec::new(), Vec::new());
    let mut pushed = 0;
    for rep in 1..=3 {
        eprintln!("rep {rep}: pushing a 10,000-sale backlog …");
        let backlog = dir.join("backlog");
        let (took, n) = bench_backlog(&backlog);
        pushes.push(took);
        pushed = n;
        eprintln!("rep {rep}: PouchDB replicating the same documents …");
        if let Some((took, docs)) =
            pouchdb_backlog(&dir.join("pouchdb"), &backlog.join("docs.jsonl"))
        {
            assert_eq!(docs, n, "PouchDB wrote every document");
            pouches.push(took);
        }
    }
    let push = median(pushes);
    eprintln!("first sync of {members} members …");
    let FirstSync {
        took: first,
        peak_kb,
        agent_cpu,
        hub_cpu,
        import,
        disk,
    } = bench_first_sync(&dir, members);
    eprintln!("100 members removed from that cache …");
    let removal = bench_removals(&dir, 100);
    println!("| what | measured | budget |");
    println!("|---|---|---|");
    println!(
        "| a 10,000-event backlog pushed by `tenpo-agent sync --now` (a real process, start to exit) | {:.0} ms ({pushed} events acknowledged) | ≤ 2 s |",
        push.as_secs_f64() * 1e3
    );
    match pouches.len() {
        0 => println!(
            "| the same documents replicated by PouchDB to express-pouchdb on loopback | not measured (see stderr) | — |"
        ),
        _ => {
            let pouch = median(pouches);
            println!(
                "| the same documents replicated by PouchDB to express-pouchdb on loopback (the peer) | {:.0} ms: tenpo is {:.1}× faster | tenpo ≥ 5× faster |",
                pouch.as_secs_f64() * 1e3,
                pouch.as_secs_f64() / push.as_secs_f64()
            );
        }
    }
    println!(
        "| first sync of {members} members (`tenpo-agent sync --now`, a real process) | {:.1} s | ≤ 60 s |",
        first.as_secs_f64()
    );
    println!(
        "| CPU during that first sync: the agent; the hub (user and system, all threads) | {:.1} s; {:.1} s | — |",
        agent_cpu.as_secs_f64(),
        hub_cpu.as_secs_f64()
    );
    println!(
        "| agent peak RSS during that first sync (VmHWM) | {:.1} MB | ≤ 150 MB |",
        peak_kb as f64 / 1024.0
    );
    println!(
        "| the member cache on disk after it | {:.0} MB, {} bytes a member | ≤ 300 bytes a member |",
        disk as f64 / 1e6,
        disk / members.max(1) as u64
    );
    println!(
        "| a member removed from that cache (erased or merged at the hub), in process, median of 100 | {:.3} ms | — |",
        removal.as_secs_f64() * 1e3
    );
    if std::env::var("TENPO_BENCH_HUB_DATABASE").is_ok_and(|v| v == "postgres") {
        println!(
            "| for scale: `tenpo-hub migrate --to` moving that hub from SQLite to PostgreSQL | {:.1} s | — |",
            import.as_secs_f64()
        );
    } else {
        println!(
            "| for scale: the hub importing those members from CSV (first run only) | {:.1} s | — |",
            import.as_secs_f64()
        );
    }
}
