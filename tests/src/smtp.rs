//! A real SMTP server for the tests: aiosmtpd (from PyPI, in a virtualenv) running
//! `tests/scripts/smtp_sink.py` on a free loopback port, one process per [`SmtpServer`], killed
//! when it is dropped (and gone by itself when the test process is).
//!
//! The virtualenv is made once per machine, under the target directory (`smtp-venv`, or
//! `TENPO_SMTP_VENV`), behind a lock file, so tests starting together wait for the one that
//! makes it. It needs `python3` with `venv` (Debian: python3 python3-venv) and PyPI the first
//! time; without them the test that asked fails, saying what is missing: never skipped.
//!
//! The server keeps each message it accepts ([`SmtpServer::received`], parsed with
//! `mail-parser`) and can be told to refuse an address at `MAIL`, `RCPT` or `DATA` with any
//! reply, to drop the connection after `354`, to never answer `DATA`, or to require a login.

// Test support: a server that cannot start fails the test that asked for it, with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use mail_parser;
use serde_json::{Value, json};

/// The aiosmtpd release the tests run on.
pub const AIOSMTPD: &str = "1.4.6";
/// The script, written into each server's directory.
const SCRIPT: &str = include_str!("../scripts/smtp_sink.py");

/// Where in the conversation a refusal comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `MAIL FROM` (the address is the sender's).
    Mail,
    /// `RCPT TO`.
    Rcpt,
    /// After the message's data, for messages to the address.
    Data,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Mail => "mail",
            Stage::Rcpt => "rcpt",
            Stage::Data => "data",
        }
    }
}

/// A message the server accepted.
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope's sender (`MAIL FROM`).
    pub mail_from: String,
    /// The envelope's recipients (`RCPT TO`).
    pub rcpt_to: Vec<String>,
    /// The data as it arrived.
    pub raw: Vec<u8>,
}

impl Received {
    /// The message, parsed (MIME parts, encoded words decoded).
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(&self.raw)
            .expect("the received message parses as an email")
    }

    /// The header block as it arrived (up to the first empty line).
    pub fn raw_headers(&self) -> String {
        let text = String::from_utf8_lossy(&self.raw);
        text.split("\r\n\r\n").next().unwrap_or_default().to_owned()
    }
}

/// An aiosmtpd process on 127.0.0.1, its own.
#[derive(Debug)]
pub struct SmtpServer {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    control: Mutex<Control>,
}

#[derive(Debug, Default)]
struct Control {
    rules: Vec<Value>,
    login: Option<(String, String)>,
}

impl SmtpServer {
    /// Starts one (making the virtualenv first if this machine has none yet).
    pub fn start() -> SmtpServer {
        let python = venv_python();
        let dir = tempfile::Builder::new()
            .prefix("tenpo-smtp-")
            .tempdir()
            .unwrap();
        let script = dir.path().join("smtp_sink.py");
        std::fs::write(&script, SCRIPT).unwrap();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let mut child = Command::new(&python)
            .arg(&script)
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
        let port_file = dir.path().join("port");
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            if let Some(port) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|t| t.trim().parse().ok())
            {
                break port;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the test SMTP server exited ({status}) before it listened: {}",
                    std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the test SMTP server did not listen within 30 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        SmtpServer {
            child,
            dir,
            port,
            control: Mutex::new(Control::default()),
        }
    }

    /// Its address's host: `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    fn change(&self, f: impl FnOnce(&mut Control)) {
        let mut control = self.control.lock().unwrap();
        f(&mut control);
        let mut text = json!({ "rules": control.rules });
        if let Some((username, password)) = &control.login {
            text["login"] = json!({"username": username, "password": password});
        }
        let path = self.dir.path().join("control.json");
        let tmp = self.dir.path().join("control.json.tmp");
        std::fs::write(&tmp, text.to_string()).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }

    fn add_rule(&self, rule: Value) {
        self.change(|c| c.rules.push(rule));
    }

    /// From now on, a sender must log in (`AUTH PLAIN` or `LOGIN`) as `username` with
    /// `password` before `MAIL`.
    pub fn require_login(&self, username: &str, password: &str) {
        self.change(|c| c.login = Some((username.to_owned(), password.to_owned())));
    }

    /// Answers `reply` (`550 5.1.1 No such user`, `451 4.3.0 Try later` …) at `at` for
    /// `address`, instead of accepting.
    pub fn refuse(&self, address: &str, at: Stage, reply: &str) {
        self.add_rule(json!({"address": address, "at": at.as_str(), "reply": reply}));
    }

    /// Closes the connection right after answering `354` to `DATA` for messages to `address`,
    /// while the client sends the message.
    pub fn drop_mid_data(&self, address: &str) {
        self.add_rule(json!({"address": address, "at": "data", "action": "drop"}));
    }

    /// Never answers the end of the data for messages to `address`.
    pub fn stall_at_data(&self, address: &str) {
        self.add_rule(json!({"address": address, "at": "data", "action": "stall"}));
    }

    /// Accepts everything again (a login, if required, stays required).
    pub fn accept_all(&self) {
        self.change(|c| c.rules.clear());
    }

    /// The messages accepted so far, in the order they were.
    pub fn received(&self) -> Vec<Received> {
        let messages = self.dir.path().join("messages");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&messages)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .iter()
            .map(|json_path| {
                let envelope: Value =
                    serde_json::from_slice(&std::fs::read(json_path).unwrap()).unwrap();
                Received {
                    mail_from: envelope["mail_from"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    rcpt_to: envelope["rcpt_tos"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| v.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                    raw: std::fs::read(json_path.with_extension("eml")).unwrap(),
                }
            })
            .collect()
    }

    /// The messages accepted, once there are at least `count`; fails the test after `within`.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= count {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "the test SMTP server got {} message(s), not {count}, within {within:?}; its \
                 log:\n{}",
                got.len(),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The refusals the server has given, in order: `(address, reply)`.
    pub fn refused(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(self.dir.path().join("refused.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| {
                let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
                (text("address"), text("reply"))
            })
            .collect()
    }

    /// What the server wrote to its log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The target directory the test executable was built into (`target/<profile>/deps/<test>`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    exe.ancestors()
        .find(|p| p.join("CACHEDIR.TAG").exists())
        .or_else(|| exe.ancestors().nth(3))
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir)
}

fn run(command: &mut Command, what: &str) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {command:?} ({e})"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The virtualenv's python, with aiosmtpd: made now if missing, under a lock.
fn venv_python() -> PathBuf {
    let venv = std::env::var_os("TENPO_SMTP_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("smtp-venv"));
    let python = venv.join("bin").join("python");
    let marker = venv.join(format!("tenpo-aiosmtpd-{AIOSMTPD}"));
    let ready = || {
        marker.exists()
            && Command::new(&python)
                .args(["-c", "import aiosmtpd.smtp"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    };
    if ready() {
        return python;
    }
    let parent = venv.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).unwrap();
    let lock_path = venv.with_extension("lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", lock_path.display()));
    // Held until `lock` is closed at the end of this function; whoever comes next finds the
    // virtualenv made.
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", lock_path.display()));
    if ready() {
        return python;
    }
    let _ = std::fs::remove_dir_all(&venv);
    let hint = "the SMTP tests need python3 with venv (Debian: python3 python3-venv) and, the \
                first time, PyPI to install aiosmtpd";
    run(
        Command::new("python3").arg("-m").arg("venv").arg(&venv),
        &format!("making the virtualenv {} ({hint})", venv.display()),
    );
    run(
        Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--timeout",
            "60",
            &format!("aiosmtpd=={AIOSMTPD}"),
        ]),
        &format!(
            "installing aiosmtpd {AIOSMTPD} into {} ({hint})",
            venv.display()
        ),
    );
    std::fs::write(&marker, "").unwrap();
    assert!(ready(), "aiosmtpd does not import from {}", venv.display());
    drop(lock);
    python
}
