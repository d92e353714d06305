//! Upgrading keeps the data: a database written by the previous release (schema v1, made by
//! the v1 agent itself, `packaging/tests/upgrade-v1/`) is opened by this agent, as a process, which
//! backs it up, migrates it, and still knows every sale: each POS retry gets the answer the v1
//! agent gave, byte for byte, and the outbox keeps every event, in order, unsent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tenpo_e2e::harness::free_port;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/tests/upgrade-v1")
}

/// One HTTP/1.1 exchange; returns the status and the body.
fn http(port: u16, method: &str, path: &str, token: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_owned())
}

struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_v1_database_opens_after_the_upgrade_with_nothing_lost() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let sql = std::fs::read_to_string(fixture().join("tenpo-v1.sql")).unwrap();
    rusqlite::Connection::open(data.join("tenpo.db"))
        .unwrap()
        .execute_batch(&sql)
        .unwrap();

    let port = free_port();
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../loyalty/examples/demo-rules.toml");
    let mut agent = Agent(
        Command::new(env!("CARGO_BIN_EXE_tenpo-agent"))
            .args([
                "run",
                "--store-id",
                "demo-store",
                "--terminal-id",
                "demo-till-1",
            ])
            .arg("--rules")
            .arg(&rules)
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = agent.0.try_wait().unwrap() {
            let mut log = String::new();
            agent
                .0
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut log)
                .unwrap();
            panic!("the agent stopped ({status}):\n{log}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the agent did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // A backup of the v1 file was taken before the migration.
    let backups: Vec<PathBuf> = std::fs::read_dir(data.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let name = backups[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(name.starts_with("tenpo-v1-"), "{name}");
    let old = rusqlite::Connection::open(&backups[0]).unwrap();
    let (version, sales): (u32, i64) = (
        old.pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap(),
        old.query_row("SELECT COUNT(*) FROM sales", [], |r| r.get(0))
            .unwrap(),
    );
    assert_eq!((version, sales), (1, 7));

    // Every sale and refund is there: the POS's retry gets the v1 agent's answer, unchanged.
    let token = std::fs::read_to_string(data.join("api-token")).unwrap();
    let requests = std::fs::read_to_string(fixture().join("requests.tsv")).unwrap();
    let mut replayed = 0;
    for (i, line) in requests.lines().enumerate() {
        let (path, body) = line.split_once('\t').unwrap();
        let expected =
            std::fs::read_to_string(fixture().join(format!("answer-{}.json", i + 1))).unwrap();
        let (status, answer) = http(port, "POST", path, token.trim(), body);
        assert_eq!(status, 200, "{path} {body}: {answer}");
        assert_eq!(answer, expected, "{path} {body}");
        replayed += 1;
    }
    assert_eq!(replayed, 8);

    // The outbox: all nine events, still pending (this terminal never had a hub).
    let (status, body) = http(port, "GET", "/v1/status", "", "");
    assert_eq!(status, 200, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["pending_events"], 9, "{status}");
    drop(agent);

    let out = Command::new(env!("CARGO_BIN_EXE_tenpo-agent"))
        .args([
            "export",
            "--store-id",
            "demo-store",
            "--terminal-id",
            "demo-till-1",
        ])
        .arg("--rules")
        .arg(&rules)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let export = String::from_utf8(out.stdout).unwrap();
    for id in [
        "v1-0001",
        "v1-0002",
        "v1-0003",
        "v1-0004",
        "v1-0005",
        "v1-0006",
        "v1-0007",
        "v1-0001-r1",
    ] {
        assert!(
            export.contains(&format!("\"{id}\"")),
            "{id} missing from the export"
        );
    }
    let seqs: Vec<u64> = export
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["record"] == "event")
        .filter_map(|v| v["seq"].as_u64())
        .collect();
    assert_eq!(seqs, (1..=9).collect::<Vec<_>>(), "gap-free outbox");
}
