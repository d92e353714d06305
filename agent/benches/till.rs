//! The till's hot paths as the POS and IT meet them (docs/design.md §8): the real `tenpo-agent`
//! and `tenpo-hub` processes on loopback, each figure beside its floor measured in the same run,
//! request by request, so both see the same disk and the same moment:
//!
//! - `POST /v1/sales` over keep-alive HTTP, against `GET /v1/health` on the same agent (what HTTP
//!   costs) and a one-row `INSERT` + commit in a WAL database with `synchronous=FULL` in the same
//!   directory (what durability costs);
//! - a card's first sale at this till, which asks the hub whether the card is a member: once
//!   for each members' card before the timed reps, against the hub's own `GET /v1/health` and
//!   the commit;
//! - the same for a sale with no member card (most sales at a till): two pages to commit, not
//!   four; and for regular customers, whose states carry a point lot for each sale that earned;
//! - members' sales on a quiet till, as most tills sell: each after 1.5 s of quiet, longer
//!   than the agent's checkpoint round, and each floor after as long
//!   (`TENPO_BENCH_QUIET_SALES`, default 12);
//! - the same with the hub down: the sale's time and the agent's CPU per sale, against online;
//! - catch-up: the hub back on its address, how long until the agent pushes and until nothing is
//!   pending;
//! - then the hub gone again with nothing to push (a closed store whose line is down
//!   overnight): the idle agent's wake-ups over 30 s, which docs/design.md §8 keeps to none
//!   faster than a second (not in A/B runs).
//!
//! Run: `cargo build --release -p tenpo-hub && cargo bench -p tenpo-agent --bench till`
//! (`TENPO_BENCH_SALES` sets the sales per rep, default 1,000; three reps of each). Prints a
//! Markdown table. With `TENPO_BENCH_AGENT_B` naming another build of `tenpo-agent`, runs
//! `TENPO_BENCH_PAIRS` (default 10) A/B pairs of this build and that one and prints the medians
//! of their ratios to the goals (`ab`). `TENPO_BENCH_TIMES=<file>` appends every sale's times
//! and its floors' to that file as CSV ([`write_times`]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod ab;
mod common;
mod pos;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use common::{Hub, cpu, enrol, rules_file, start_hub, start_hub_at};
use pos::{Agent, Pos, median_of, pct, sale_body, start_agent};
use serde_json::Value;

const REPS: usize = 3;
/// The members' cards the sales go round.
const MEMBERS: usize = 200;
/// The pause before each sale of a quiet till: longer than the agent's checkpoint round (1 s),
/// as between the sales of most tills, so every sale comes after a round.
const QUIET_PAUSE: Duration = Duration::from_millis(1_500);
/// Members who shop often: a rep's sales go round these few, so each carries a point lot for
/// each sale (a few kilobytes of state by the last rep).
const REGULARS: usize = 20;
/// How long the idle agent's wake-ups are counted, once tokio's blocking threads (which linger
/// 10 s after their last job) have gone: long enough to hold a few of the engine's attempts,
/// which back off to one in at most 30 s.
const IDLE_WINDOW: Duration = Duration::from_secs(30);

/// The one-row commit the sale's durability cannot beat: WAL, `synchronous=FULL`, one
/// statement in autocommit, a payload the size of a sale's event.
struct Floor {
    conn: rusqlite::Connection,
    payload: Vec<u8>,
}

impl Floor {
    fn open(path: &Path) -> Floor {
        let _ = std::fs::remove_file(path);
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "synchronous", "FULL").unwrap();
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)")
            .unwrap();
        Floor {
            conn,
            payload: vec![b'x'; 600],
        }
    }

    fn commit(&self) -> Duration {
        let t = Instant::now();
        self.conn
            .execute("INSERT INTO t (payload) VALUES (?1)", [&self.payload])
            .unwrap();
        t.elapsed()
    }
}

#[derive(Default)]
struct Times {
    sale: Vec<Duration>,
    health: Vec<Duration>,
    commit: Vec<Duration>,
    /// When each sale was sent, to set beside the agent's log.
    at: Vec<SystemTime>,
}

/// One rep: each sale of `sales`, followed by `GET /v1/health` on `health_of` (the agent, or
/// for sales that ask the hub first, the hub) and a floor commit, each after `pause`. A quiet
/// till's sales ([`QUIET_PAUSE`]) have each floor after as long a pause as the sale: on this
/// machine the disk and the threads are slower after a pause (a commit after 1.5 s of quiet
/// took four times as long as the one right after it), so a floor measured right after the
/// sale would not be the same moment as the sale's.
fn rep(
    pos: &Pos,
    agent: &Agent,
    floor: &Floor,
    sales: impl Iterator<Item = Value>,
    health_of: &str,
    pause: Duration,
) -> Times {
    let mut times = Times::default();
    for body in sales {
        std::thread::sleep(pause);
        times.at.push(SystemTime::now());
        times.sale.push(pos.sell(agent, &body));
        std::thread::sleep(pause);
        let health = pos.health(health_of);
        std::thread::sleep(pause);
        let commit = floor.commit();
        times.health.push(health);
        times.commit.push(commit);
    }
    times
}

/// A mode's times, rep by rep, each sale's at the same index in each (until the percentiles
/// sort them).
struct Mode {
    sale: Vec<Vec<Duration>>,
    health: Vec<Vec<Duration>>,
    commit: Vec<Vec<Duration>>,
    at: Vec<Vec<SystemTime>>,
    cpu_per_sale: Duration,
    /// The hub's CPU per sale over the same reps (zero when it is down).
    hub_cpu_per_sale: Duration,
    wall: Duration,
}

impl Mode {
    /// Each sale's own floors added up, its health check's and its commit's: what an HTTP
    /// exchange and a durable commit take together at that moment, the least a sale can take.
    /// Its p99 is the tail a sale cannot beat, as the two floors' p99s added would overstate
    /// it (they are seldom slow at once). Taken before any percentile sorts the times.
    fn floors_added(&self) -> Vec<Vec<Duration>> {
        self.health
            .iter()
            .zip(&self.commit)
            .map(|(h, c)| h.iter().zip(c).map(|(h, c)| *h + *c).collect())
            .collect()
    }
}

/// Which sales a mode sends: their ids' prefix, and how many members' cards they go round
/// (none: no card).
struct Sales {
    tag: &'static str,
    cards: usize,
}

fn mode(pos: &Pos, agent: &Agent, floor: &Floor, hub: Option<u32>, sales: Sales, n: usize) -> Mode {
    let Sales { tag, cards } = sales;
    let (mut sale, mut health, mut commit, mut at) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let cpu0 = cpu(agent.child.id());
    let hub0 = hub.map(cpu);
    let t = Instant::now();
    for r in 0..REPS {
        let tag = format!("{tag}{r}");
        let sales = (0..n).map(|i| sale_body(&tag, i, cards));
        let times = rep(pos, agent, floor, sales, &agent.url, Duration::ZERO);
        sale.push(times.sale);
        health.push(times.health);
        commit.push(times.commit);
        at.push(times.at);
    }
    let wall = t.elapsed();
    let cpu_per_sale = (cpu(agent.child.id()) - cpu0) / (REPS * n) as u32;
    let hub_cpu_per_sale = match (hub, hub0) {
        (Some(pid), Some(before)) => (cpu(pid) - before) / (REPS * n) as u32,
        _ => Duration::ZERO,
    };
    Mode {
        sale,
        health,
        commit,
        at,
        cpu_per_sale,
        hub_cpu_per_sale,
        wall,
    }
}

/// With `TENPO_BENCH_TIMES` naming a file, appends each sale of `m` to it, in the order made,
/// as CSV: the mode (quoted: it may hold a comma), the rep, the sale's index, when it was sent
/// (µs since 1970, to set beside the agent's log), and the sale's, its health check's and its
/// commit's times in ms. To see whether the slowest sales came with slow floors (the machine)
/// or alone (the agent).
fn write_times(what: &str, m: &Mode) {
    use std::io::Write;
    let Some(path) = std::env::var_os("TENPO_BENCH_TIMES") else {
        return;
    };
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let ms = |d: &Duration| d.as_secs_f64() * 1e3;
    let reps = m.sale.iter().zip(&m.health).zip(&m.commit).zip(&m.at);
    for (r, (((sale, health), commit), at)) in reps.enumerate() {
        for (i, (((s, h), c), at)) in sale.iter().zip(health).zip(commit).zip(at).enumerate() {
            let at = at
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_micros();
            writeln!(
                out,
                "\"{what}\",{r},{i},{at},{:.4},{:.4},{:.4}",
                ms(s),
                ms(h),
                ms(c)
            )
            .unwrap();
        }
    }
}

/// What one run of the bench found, as the ratios to the goals that A/B pairs compare.
struct Report {
    /// Each mode's name, its p50 × the p50 goal, its p99 × the commit's p99 and its p99 × the
    /// p99 of each sale's health check and commit added up.
    modes: Vec<(&'static str, f64, f64, f64)>,
    /// The agent's CPU per sale, online and with the hub down, in ms.
    cpu: (f64, f64),
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("till bench: run with `cargo bench -p tenpo-agent --bench till`");
        return;
    }
    let n = common::count_from_env("TENPO_BENCH_SALES", 1_000);
    let this = Path::new(env!("CARGO_BIN_EXE_tenpo-agent"));
    match std::env::var_os("TENPO_BENCH_AGENT_B") {
        None => {
            run(this, n, true);
        }
        Some(other) => {
            let pairs = common::count_from_env("TENPO_BENCH_PAIRS", 10);
            ab::compare(this, Path::new(&other), pairs, |bin| run(bin, n, false));
        }
    }
}

/// One run of every mode against the agent built at `bin`: prints its table, returns its ratios.
/// With `idle`, also counts the idle agent's wake-ups with the hub down at the end.
fn run(bin: &Path, n: usize, idle: bool) -> Report {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tenpo-till-bench");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rules = rules_file(&dir);
    let hub_dir = dir.join("hub");
    let hub: Hub = start_hub(&hub_dir);
    common::run(common::hub_cmd(&hub).arg("load-rules").arg(&rules));
    let agent_dir = dir.join("agent");
    enrol(&hub, &agent_dir);
    let agent = start_agent(bin, &agent_dir, &rules, &[]);
    let floor = Floor::open(&dir.join("floor.db"));
    let pos = Pos::new();

    let run = |hub, sales| mode(&pos, &agent, &floor, hub, sales, n);
    eprintln!("the first sale of each of {MEMBERS} cards …");
    // Each card's first sale at this till asks the hub whether the card is a member before it
    // is recorded: another kind of sale, with the hub's round trip in its floor, made before
    // the timed reps so as not to be mixed into their percentiles.
    let firsts = (0..MEMBERS).map(|i| sale_body("first", i, MEMBERS));
    let mut first = rep(&pos, &agent, &floor, firsts, &hub.url, Duration::ZERO);
    eprintln!("{REPS} reps of {n} sales online …");
    let mut online = run(
        Some(hub.child.id()),
        Sales {
            tag: "on",
            cards: MEMBERS,
        },
    );
    eprintln!("{REPS} reps of {n} sales without a member card …");
    let mut no_card = run(
        Some(hub.child.id()),
        Sales {
            tag: "cash",
            cards: 0,
        },
    );
    eprintln!("{REPS} reps of {n} sales to {REGULARS} regular customers …");
    let mut regulars = run(
        Some(hub.child.id()),
        Sales {
            tag: "reg",
            cards: REGULARS,
        },
    );
    let quiet_sales = common::count_from_env("TENPO_BENCH_QUIET_SALES", 12);
    eprintln!(
        "{quiet_sales} sales to members on a quiet till, {} s apart …",
        QUIET_PAUSE.as_secs_f64()
    );
    let mut quiet_till = {
        let sales = (0..quiet_sales).map(|i| sale_body("quiet", i, MEMBERS));
        let t = Instant::now();
        let times = rep(&pos, &agent, &floor, sales, &agent.url, QUIET_PAUSE);
        Mode {
            sale: vec![times.sale],
            health: vec![times.health],
            commit: vec![times.commit],
            at: vec![times.at],
            cpu_per_sale: Duration::ZERO,
            hub_cpu_per_sale: Duration::ZERO,
            wall: t.elapsed(),
        }
    };
    // Let the pushes of the online sales finish.
    let deadline = Instant::now() + Duration::from_secs(60);
    while pos.pending(&agent) != Some(0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }

    eprintln!("the hub down: {REPS} reps of {n} sales …");
    let port = hub.port;
    drop(hub);
    let mut offline = run(
        None,
        Sales {
            tag: "off",
            cards: MEMBERS,
        },
    );
    let waiting = pos.pending(&agent).unwrap_or(0);

    eprintln!("the hub back with {waiting} events waiting …");
    // The agent's backoff has had the offline run to grow; a quiet till (nothing sold) must
    // still catch up at once.
    let quiet = Duration::from_secs(5);
    std::thread::sleep(quiet);
    let hub = start_hub_at(&hub_dir, None, port);
    let back = Instant::now();
    let mut started = None;
    let deadline = back + Duration::from_secs(180);
    let drained = loop {
        let left = pos.pending(&agent).unwrap_or(waiting);
        if started.is_none() && left < waiting {
            started = Some(back.elapsed());
        }
        if left == 0 {
            break Some(back.elapsed());
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(hub);
    let idle = idle.then(|| {
        eprintln!("the hub gone again, nothing pending: the agent left idle …");
        let pending = pos.pending(&agent);
        std::thread::sleep(Duration::from_secs(12));
        let before = common::switches(agent.child.id());
        std::thread::sleep(IDLE_WINDOW);
        (
            common::wake_ups_text(&common::woke_since(agent.child.id(), &before)),
            pending,
        )
    });

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut report = Report {
        modes: Vec::new(),
        cpu: (ms(online.cpu_per_sale), ms(offline.cpu_per_sale)),
    };
    let mut line = |what: &'static str, m: &mut Mode| {
        write_times(what, m);
        let mut both = m.floors_added();
        let (s50, s99) = (median_of(&mut m.sale, 0.5), median_of(&mut m.sale, 0.99));
        let (h50, h99) = (
            median_of(&mut m.health, 0.5),
            median_of(&mut m.health, 0.99),
        );
        let (c50, c99) = (
            median_of(&mut m.commit, 0.5),
            median_of(&mut m.commit, 0.99),
        );
        let b99 = median_of(&mut both, 0.99);
        println!(
            "| `POST /v1/sales`, {what} | p50 {s50:.3} ms, p99 {s99:.3} ms | health p50 {h50:.3} ms, p99 {h99:.3} ms; commit p50 {c50:.3} ms, p99 {c99:.3} ms; health + commit, each sale's, p99 {b99:.3} ms ({:.2}× commit p99) | p50 {:.2}× health + commit, {:.2}× the goal; p99 {:.2}× commit p99, {:.2}× the goal, {:.2}× health + commit's p99 |",
            b99 / c99,
            s50 / (h50 + c50),
            s50 / (h50 + 1.5 * c50),
            s99 / c99,
            s99 / (2.0 * c99),
            s99 / b99
        );
        report
            .modes
            .push((what, s50 / (h50 + 1.5 * c50), s99 / c99, s99 / b99));
        (h50, c50)
    };
    println!("| what | tenpo | floor, same run | ratio |");
    println!("|---|---|---|---|");
    let (h50, c50) = line("hub up", &mut online);
    line("hub up, no member card", &mut no_card);
    line("hub up, regular customers", &mut regulars);
    line("hub down", &mut offline);
    line(
        "a quiet till (members' sales, each and each floor after 1.5 s of quiet)",
        &mut quiet_till,
    );
    let (f50, f99) = (pct(&mut first.sale, 0.5), pct(&mut first.sale, 0.99));
    let (hub50, hub99) = (pct(&mut first.health, 0.5), pct(&mut first.health, 0.99));
    let (fc50, fc99) = (pct(&mut first.commit, 0.5), pct(&mut first.commit, 0.99));
    println!(
        "| `POST /v1/sales`, a card's first sale at this till ({MEMBERS} cards; the agent asks the hub first) | p50 {f50:.3} ms, p99 {f99:.3} ms | the hub's health p50 {hub50:.3} ms, p99 {hub99:.3} ms; commit p50 {fc50:.3} ms, p99 {fc99:.3} ms | p50 {:.2}× the hub's health + commit; p99 {:.2}× their p99s |",
        f50 / (hub50 + fc50),
        f99 / (hub99 + fc99)
    );
    println!(
        "| goal for the online p50 (health + 1.5× commit) | {:.3} ms | — | — |",
        h50 + 1.5 * c50
    );
    println!(
        "| agent CPU per sale | online {:.3} ms, hub down {:.3} ms (no member card {:.3} ms, regular customers {:.3} ms) | — | {:.2}× |",
        ms(online.cpu_per_sale),
        ms(offline.cpu_per_sale),
        ms(no_card.cpu_per_sale),
        ms(regulars.cpu_per_sale),
        offline.cpu_per_sale.as_secs_f64() / online.cpu_per_sale.as_secs_f64().max(1e-9)
    );
    println!(
        "| hub CPU per online sale (the hub shares the till's two cores here) | {:.3} ms (no member card {:.3} ms, regular customers {:.3} ms) | — | — |",
        ms(online.hub_cpu_per_sale),
        ms(no_card.hub_cpu_per_sale),
        ms(regulars.hub_cpu_per_sale)
    );
    println!(
        "| {} sales, wall time | online {:.1} s, hub down {:.1} s | — | — |",
        REPS * n,
        online.wall.as_secs_f64(),
        offline.wall.as_secs_f64()
    );
    println!(
        "| catch-up of {waiting} events after {} s of quiet: first push / nothing pending | {} / {} | — | — |",
        quiet.as_secs(),
        started.map_or("never".into(), |d| format!("{:.2} s", d.as_secs_f64())),
        drained.map_or("not within 180 s".into(), |d| format!(
            "{:.2} s",
            d.as_secs_f64()
        )),
    );
    if let Some((woke, pending)) = idle {
        println!(
            "| the agent idle, the hub gone and nothing to push ({} events pending): wake-ups of all threads, by name | {woke} in {} s | none faster than 1 s | — |",
            pending.map_or("?".into(), |p| p.to_string()),
            IDLE_WINDOW.as_secs()
        );
    }
    report
}
