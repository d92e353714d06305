//! `tenpo-agent doctor`: what is wrong with this terminal, each problem with its fix in one
//! line, and an exit code for scripts (0 when nothing failed).

use std::fmt;
use std::path::Path;
use std::time::Duration;

use tenpo_hw::source::{Kind, ScannerConfig, usb};
use tenpo_protocol::agent::Status;

use crate::config::Settings;
use crate::daemon::DB_FILE;
use crate::store::{CURRENT_VERSION, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

/// One finding.
#[derive(Debug, Clone)]
pub struct Check {
    pub level: Level,
    pub what: String,
    /// What to do about it, for warnings and failures.
    pub fix: Option<String>,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.level {
            Level::Ok => "ok  ",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        };
        write!(f, "{tag} {}", self.what)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n     fix: {fix}")?;
        }
        Ok(())
    }
}

fn ok(what: impl Into<String>) -> Check {
    Check {
        level: Level::Ok,
        what: what.into(),
        fix: None,
    }
}

fn warn(what: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        level: Level::Warn,
        what: what.into(),
        fix: Some(fix.into()),
    }
}

fn fail(what: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        level: Level::Fail,
        what: what.into(),
        fix: Some(fix.into()),
    }
}

/// Runs every check. `live` is the running agent's status, if it answered.
pub fn run(settings: &Settings, live: Option<&Status>) -> Vec<Check> {
    let rules = settings.rules.as_ref().map_or_else(
        || "from the hub".to_owned(),
        |r| format!("{} v{}", r.name, r.version),
    );
    let mut checks = vec![ok(format!(
        "config: store {}, terminal {}, rules {rules}",
        settings.store_id, settings.terminal_id
    ))];
    checks.extend(database(&settings.data_dir));
    checks.push(match live {
        Some(s) => ok(format!(
            "agent running at {} ({} pending events, business date {})",
            settings.listen, s.pending_events, s.business_date
        )),
        None => warn(
            format!("agent not answering at {}", settings.listen),
            "start it: `systemctl start tenpo-agent`, or `tenpo-agent run --config …`",
        ),
    });
    let ports = usb::list_ports();
    for scanner in &settings.scanners {
        checks.push(scanner_check(scanner, &ports, live));
    }
    if settings.scanners.is_empty() {
        checks.push(warn(
            "no scanner configured",
            "add a [[scanners]] table to the config, or run with --scanner serial:/dev/ttyACM0",
        ));
    }
    let listed: Vec<String> = ports
        .iter()
        .map(|p| match (p.usb, &p.product) {
            (Some((v, d)), Some(name)) => {
                format!("{} (USB {v:04x}:{d:04x} {name})", p.path.display())
            }
            (Some((v, d)), None) => format!("{} (USB {v:04x}:{d:04x})", p.path.display()),
            _ => p.path.display().to_string(),
        })
        .collect();
    checks.push(ok(if listed.is_empty() {
        "serial ports seen: none".to_owned()
    } else {
        format!("serial ports seen: {}", listed.join(", "))
    }));
    checks
}

fn database(data_dir: &Path) -> Vec<Check> {
    let path = data_dir.join(DB_FILE);
    if !path.exists() {
        return vec![warn(
            format!("no database yet at {}", path.display()),
            "it is created when the agent first starts; check `data_dir` if one was expected",
        )];
    }
    let store = match Store::open_read_only(&path) {
        Ok(s) => s,
        Err(e) => {
            return vec![fail(
                format!("database {}: {e}", path.display()),
                "see the message; restore from backup if damaged",
            )];
        }
    };
    let mut checks = Vec::new();
    match store.schema_version() {
        Ok(v) if v == CURRENT_VERSION => checks.push(ok(format!("database schema version {v}"))),
        Ok(v) => checks.push(warn(
            format!("database schema version {v}; this agent writes {CURRENT_VERSION}"),
            "it migrates when the agent starts",
        )),
        Err(e) => checks.push(fail(
            format!("database schema: {e}"),
            "restore the database from backup",
        )),
    }
    let quick: Result<String, _> = store
        .connection()
        .query_row("PRAGMA quick_check", [], |r| r.get(0));
    match quick {
        Ok(text) if text == "ok" => checks.push(ok("database integrity (quick_check)")),
        Ok(text) => checks.push(fail(
            format!("database integrity: {text}"),
            "stop the agent, `tenpo-agent export` what can be read, and restore from backup",
        )),
        Err(e) => checks.push(fail(
            format!("database integrity check failed: {e}"),
            "restore from backup",
        )),
    }
    match store.outbox_counts() {
        Ok(c) => checks.push(ok(format!(
            "{} events recorded, {} pending, {} quarantined",
            c.last_seq, c.pending, c.quarantined
        ))),
        Err(e) => checks.push(fail(format!("outbox: {e}"), "restore from backup")),
    }
    checks
}

fn scanner_check(s: &ScannerConfig, ports: &[usb::PortInfo], live: Option<&Status>) -> Check {
    let state = live.and_then(|l| l.scanners.iter().find(|x| x.name == s.name));
    if let Some(st) = state {
        return if st.connected {
            ok(format!(
                "scanner {}: connected ({}), {} scans, {} rejected",
                s.name,
                st.detail.as_deref().unwrap_or("-"),
                st.scans,
                st.rejections
            ))
        } else {
            fail(
                format!(
                    "scanner {}: not connected: {}",
                    s.name,
                    st.last_error.as_deref().unwrap_or("unknown")
                ),
                "check the cable and the port in the config; the agent retries by itself",
            )
        };
    }
    match s.kind {
        Kind::Stdin => ok(format!("scanner {}: standard input", s.name)),
        Kind::Serial => match (&s.path, &s.usb) {
            (Some(path), _) if path.exists() => {
                ok(format!("scanner {}: {} present", s.name, path.display()))
            }
            (Some(path), _) => fail(
                format!("scanner {}: {} not found", s.name, path.display()),
                "plug the scanner in, or correct `path` (see the serial ports seen below)",
            ),
            (None, Some(id)) => match tenpo_hw::source::parse_usb_id(id)
                .and_then(|(v, p)| usb::find_usb(ports, v, p))
            {
                Some(path) => ok(format!(
                    "scanner {}: USB {id} at {}",
                    s.name,
                    path.display()
                )),
                None => fail(
                    format!("scanner {}: no USB device {id} plugged in", s.name),
                    "plug the scanner in, or correct `usb` (see the serial ports seen below)",
                ),
            },
            (None, None) => fail(
                format!("scanner {}: no port", s.name),
                "set `path` or `usb`",
            ),
        },
        Kind::Keyboard => {
            let path = s.path.clone().unwrap_or_default();
            match std::fs::File::open(&path) {
                Ok(_) => ok(format!("scanner {}: {} readable", s.name, path.display())),
                Err(e) => fail(
                    format!("scanner {}: cannot read {}: {e}", s.name, path.display()),
                    "add the agent's user to the `input` group, or correct `path`",
                ),
            }
        }
    }
}

/// Asks a running agent for its status (2 s timeout).
pub async fn live_status(listen: std::net::SocketAddr) -> Option<Status> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()?;
    let response = client
        .get(format!("http://{listen}/v1/status"))
        .send()
        .await
        .ok()?;
    response.json::<Status>().await.ok()
}
