//! The `tenpo-agent` command as IT uses it: validate, run and stop, status, export.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn agent() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tenpo-agent"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Starts nothing: waits for an agent started with `--listen 127.0.0.1:0` to record the port
/// the system gave it (no race with other tests for a "free" port).
fn recorded_port(dir: &std::path::Path) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(port) = std::fs::read_to_string(dir.join("agent.addr"))
            .ok()
            .and_then(|a| a.trim().parse::<std::net::SocketAddr>().ok())
            .map(|a| a.port())
            .filter(|p| *p != 0)
        {
            return port;
        }
        assert!(
            Instant::now() < deadline,
            "the agent did not record its address"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A bare HTTP/1.1 exchange, so this test depends on nothing but the agent.
fn http(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn validate_names_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let rules = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../loyalty/examples/demo-rules.toml"
    );
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        format!("store_id = \"s-01\"\nterminal_id = \"till-1\"\nrules = \"{rules}\"\ntime_zone = \"Asia/Tokyo\"\n"),
    )
    .unwrap();
    let out = agent().arg("validate").arg(&good).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("valid"), "{}", text(&out));

    for (content, key) in [
        (
            "store_id = \"s\"\nterminal_id = \"t\"\nrules = \"x\"\nlisten_on = \"127.0.0.1:1\"\n",
            "listen_on",
        ),
        (
            &format!(
                "store_id = \"s\"\nterminal_id = \"t\"\nrules = \"{rules}\"\nlisten = \"0.0.0.0:7480\"\n"
            ),
            "listen",
        ),
        (
            &format!(
                "store_id = \"s\"\nterminal_id = \"t\"\nrules = \"{rules}\"\ntime_zone = \"Tokyo\"\n"
            ),
            "time_zone",
        ),
        ("terminal_id = \"t\"\n", "store_id"),
        ("store_id = 12\n", "store_id"),
    ] {
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, content).unwrap();
        let out = agent().arg("validate").arg(&bad).output().unwrap();
        assert!(!out.status.success(), "{content}");
        assert!(text(&out).contains(key), "{content}: {}", text(&out));
    }
}

#[test]
fn runs_logs_json_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = agent()
        .args([
            "--log-format",
            "json",
            "run",
            "--demo",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "no ready line");
        let line = lines.next().unwrap().unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"));
        if v["fields"]["message"] == "tenpo-agent ready" {
            break;
        }
    }
    let port = recorded_port(dir.path());
    assert!(
        http(
            port,
            "GET /v1/health HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
        )
        .contains("\"ok\"")
    );
    let token = std::fs::read_to_string(dir.path().join("api-token")).unwrap();
    let body = r#"{"sale_id":"cli-1","member_code":"2000000000015","lines":[{"sku":"a","quantity":1,"amount_yen":2500}]}"#;
    let answer = http(
        port,
        &format!(
            "POST /v1/sales HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            token.trim(),
            body.len()
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "SIGTERM should stop the agent cleanly: {status}"
    );
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("tenpo-agent stopped")),
        "{rest:?}"
    );

    // Stopped: status reads the database, export writes the ledger.
    let out = agent()
        .args(["status", "--demo", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("NOT running"), "{}", text(&out));
    assert!(
        text(&out).contains("1 recorded, 1 pending, 0 quarantined"),
        "{}",
        text(&out)
    );

    let file = dir.path().join("export.jsonl");
    let out = agent()
        .args(["export", "--demo"])
        .arg("--data-dir")
        .arg(dir.path())
        .arg("-o")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let export = std::fs::read_to_string(&file).unwrap();
    let records: Vec<serde_json::Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2, "{export}");
    assert_eq!(records[0]["record"], "sale");
    assert_eq!(records[0]["sale_id"], "cli-1");
    assert_eq!(records[1]["record"], "event");
    assert_eq!(records[1]["acked"], false);
}

#[test]
fn refuses_to_listen_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let out = agent()
        .args(["run", "--demo", "--listen", "0.0.0.0:7480"])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("loopback"), "{}", text(&out));
}

fn body_of(response: &str) -> serde_json::Value {
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

/// `--scanner stdin` on a bare machine: typed codes become scans; `doctor` sees the scanner,
/// and fails with a fix and exit code 1 for a scanner that is not plugged in.
#[test]
fn a_stdin_scanner_and_doctor() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = agent()
        .args([
            "run",
            "--demo",
            "--scanner",
            "stdin",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let port = recorded_port(dir.path());
    let listen = format!("127.0.0.1:{port}");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"2000000000015\n2000000000016\n").unwrap();
    stdin.flush().unwrap();
    let status = loop {
        let s = body_of(&http(
            port,
            "GET /v1/status HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n",
        ));
        if s["scanners"][0]["scans"] == 2 {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the typed codes were not scanned: {s}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status["scanners"][0]["name"], "stdin-1");
    assert_eq!(status["scanners"][0]["rejections"], 1);

    let out = agent()
        .args([
            "doctor",
            "--demo",
            "--scanner",
            "stdin",
            "--listen",
            &listen,
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let report = text(&out);
    assert!(report.contains("scanner stdin-1: connected"), "{report}");
    assert!(report.contains("agent running at"), "{report}");
    assert!(report.contains("database integrity"), "{report}");
    assert!(report.contains("serial ports seen"), "{report}");

    // Without the flags the agent was started with (`--demo`, `--scanner`), next to it:
    // doctor checks what that agent runs with, not what a bare command line would.
    let out = agent()
        .arg("doctor")
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    assert!(
        report.contains("running agent: store demo-store"),
        "{report}"
    );
    assert!(report.contains("scanner stdin-1: connected"), "{report}");
    assert!(!report.contains("no scanner configured"), "{report}");
    assert!(!report.contains("FAIL config"), "{report}");
    drop(stdin);
    child.kill().unwrap();
    child.wait().unwrap();

    // Stopped, doctor checks the configured scanners themselves.
    let missing = dir.path().join("ttyNOPE");
    let out = agent()
        .args(["doctor", "--demo", "--listen", &listen, "--scanner"])
        .arg(format!("serial:{}", missing.display()))
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = text(&out);
    assert!(
        report.contains("FAIL scanner serial-1") && report.contains("not found"),
        "{report}"
    );
    assert!(report.contains("fix: "), "{report}");
    // A standalone terminal's stopped agent is a warning, not a failure.
    assert!(report.contains("WARN agent not answering"), "{report}");
}

#[cfg(unix)]
#[test]
fn the_data_directory_and_its_files_are_private_whatever_the_umask() {
    // The finding: run by hand with umask 022, the data directory was 0755 and tenpo.db 0644.
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = format!(
        "umask 022; exec '{}' run --demo --listen 127.0.0.1:0 --data-dir '{}'",
        env!("CARGO_BIN_EXE_tenpo-agent"),
        data.display()
    );
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let port = recorded_port(&data);
    assert!(
        http(
            port,
            "GET /v1/health HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
        )
        .contains("\"ok\"")
    );
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "the data directory");
    let mut files = 0;
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        let expected = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(&path), expected, "{}", path.display());
        files += 1;
    }
    assert!(files >= 3, "tenpo.db, api-token, agent.lock at least");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn an_expected_error_is_one_line_without_a_backtrace() {
    // The finding: with RUST_BACKTRACE=1 in the environment, errors came with a Rust backtrace.
    let out = agent()
        .args(["validate", "/nonexistent/agent.toml"])
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(!stderr.to_lowercase().contains("backtrace"), "{stderr}");
}

#[test]
fn enrol_is_refused_while_an_agent_runs_on_the_data_directory() {
    // The finding: `enroll --force` was accepted while the agent ran; the running agent then
    // failed every sync with 401.
    let dir = tempfile::tempdir().unwrap();
    let mut child = agent()
        .args(["run", "--demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    recorded_port(dir.path());
    let out = agent()
        .args([
            "enroll",
            "--hub",
            "http://127.0.0.1:9",
            "--code",
            "AAAA-BBBB-CCCC",
            "--force",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("stop the running agent"),
        "{}",
        text(&out)
    );
    assert!(!dir.path().join("hub.json").exists(), "nothing was written");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn logs_to_a_file_or_the_journal_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = agent()
        .args(["run", "--demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("NO_COLOR")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.take(40) {
        let line = line.unwrap();
        let ready = line.contains("tenpo-agent ready");
        seen.push(line);
        if ready {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        seen.iter().any(|l| l.contains("tenpo-agent ready")),
        "{seen:?}"
    );
    assert!(
        seen.iter().all(|l| !l.contains('\u{1b}')),
        "colour codes in a piped log: {seen:?}"
    );
}
