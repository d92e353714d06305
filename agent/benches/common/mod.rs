//! What the agent's benchmarks share: a real `tenpo-hub` process (the release build beside the
//! bench), enrolling a terminal with it, and the demo rules on disk.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tenpo_agent::sync::Credentials;
use tenpo_e2e::harness::free_port;

/// The count in environment variable `name`, or `default` when it is unset or not a count.
pub fn count_from_env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The agent's CPU time so far (user + system), from `/proc` (Linux's 100 ticks a second).
pub fn cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

pub fn bin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tenpo-agent"))
        .parent()
        .unwrap()
        .to_owned()
}

pub struct Hub {
    pub port: u16,
    pub child: Child,
    pub url: String,
    pub token: String,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn hub_cmd(hub: &Hub) -> Command {
    let mut c = Command::new(bin_dir().join("tenpo-hub"));
    c.env("TENPO_HUB_URL", &hub.url)
        .env("TENPO_HUB_ADMIN_TOKEN", &hub.token);
    c
}

pub fn start_hub(data: &Path) -> Hub {
    start_hub_on(data, None)
}

/// The hub on `data`, keeping its data in the PostgreSQL database `database` when given.
pub fn start_hub_on(data: &Path, database: Option<&str>) -> Hub {
    start_hub_at(data, database, free_port())
}

/// The hub on `data` listening on `port` (a hub started again where its terminals know it).
pub fn start_hub_at(data: &Path, database: Option<&str>, port: u16) -> Hub {
    let bin = bin_dir().join("tenpo-hub");
    assert!(
        bin.exists(),
        "build the hub first: cargo build --release -p tenpo-hub"
    );
    let mut cmd = Command::new(bin);
    cmd.env_remove("TENPO_HUB_DATABASE_URL");
    if let Some(url) = database {
        cmd.env("TENPO_HUB_DATABASE_URL", url);
    }
    let child = cmd
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the hub did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let token = std::fs::read_to_string(data.join("admin-token"))
        .unwrap()
        .trim()
        .to_owned();
    Hub {
        port,
        child,
        url: format!("http://127.0.0.1:{port}"),
        token,
    }
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn enrol(hub: &Hub, agent_dir: &Path) -> Credentials {
    let text = run(hub_cmd(hub).args(["enroll-code", "--store", "bench-store"]));
    let code = text
        .split_whitespace()
        .find(|w| w.len() == 14 && w.matches('-').count() == 2)
        .unwrap_or_else(|| panic!("no code in {text:?}"))
        .to_owned();
    run(Command::new(env!("CARGO_BIN_EXE_tenpo-agent"))
        .args(["enroll", "--hub", &hub.url, "--code", &code])
        .arg("--data-dir")
        .arg(agent_dir));
    Credentials::load(agent_dir).unwrap().unwrap()
}

pub fn rules_file(dir: &Path) -> PathBuf {
    let path = dir.join("rules.toml");
    std::fs::write(
        &path,
        include_str!("../../../loyalty/examples/demo-rules.toml"),
    )
    .unwrap();
    path
}

/// Context switches of each thread of a process, by thread id, with the thread's name: each
/// is a wake-up.
pub fn switches(pid: u32) -> BTreeMap<String, (String, u64)> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return BTreeMap::new();
    };
    tasks
        .flatten()
        .map(|t| {
            let n = std::fs::read_to_string(t.path().join("status"))
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("ctxt_switches"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
            let name = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            let tid = t.file_name().to_string_lossy().into_owned();
            (tid, (name.trim().to_owned(), n))
        })
        .collect()
}

/// The wake-ups of process `pid`'s threads since `before` (a [`switches`] reading), added up
/// by thread name (tokio's workers and blocking threads share one); a thread started since
/// counts from nothing.
pub fn woke_since(pid: u32, before: &BTreeMap<String, (String, u64)>) -> BTreeMap<String, u64> {
    let mut by_name = BTreeMap::new();
    for (tid, (name, n)) in switches(pid) {
        let was = before.get(&tid).map_or(0, |(_, n)| *n);
        *by_name.entry(name).or_insert(0) += n.saturating_sub(was);
    }
    by_name
}

/// `woke_since`'s figures as text: the total, then each name's share.
pub fn wake_ups_text(by_name: &BTreeMap<String, u64>) -> String {
    let total: u64 = by_name.values().sum();
    let each: Vec<String> = by_name.iter().map(|(k, n)| format!("{k} {n}")).collect();
    format!("{total} ({})", each.join(", "))
}
