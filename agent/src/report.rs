//! `tenpo-agent status`: one report, in the same shape whether the agent runs or not (text for
//! people, JSON with `--json`). What only a running agent knows (whether the hub answers, when
//! it calls it next, its scanners) is absent when it is stopped, and says so; nothing claims
//! the hub answers while it does not.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tenpo_loyalty::Date;
use tenpo_protocol::agent::{Mode, ScannerStatus, Status};

use crate::config::Settings;
use crate::daemon::DB_FILE;
use crate::locate::Running;
use crate::store::Store;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Whether an agent runs on this data directory and answered.
    pub running: bool,
    pub address: SocketAddr,
    pub data_dir: PathBuf,
    pub store_id: String,
    pub terminal_id: String,
    pub mode: Mode,
    /// The running agent's version.
    pub agent_version: Option<String>,
    /// The rule set the running agent applies, as `name vN`.
    pub rule_set: Option<String>,
    pub business_date: Option<Date>,
    /// What the database holds; `null` before the agent first started.
    pub database: Option<Database>,
    /// The hub; `null` on a standalone terminal.
    pub hub: Option<Hub>,
    /// The running agent's scanners (empty when it is stopped).
    pub scanners: Vec<ScannerStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Database {
    pub path: PathBuf,
    pub schema_version: u32,
    pub events_recorded: u64,
    /// Recorded here, not yet taken by the hub.
    pub pending_events: u64,
    /// Refused by the hub, kept for IT (`tenpo-agent export`).
    pub quarantined: u64,
    pub members_cached: u64,
}

/// How the terminal stands with its hub, now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HubState {
    /// The hub answered the agent's last call.
    Online,
    /// The hub did not answer the last call; the till sells offline meanwhile.
    Offline,
    /// Nobody syncs: the agent is not running.
    NotSyncing,
}

#[derive(Debug, Clone, Serialize)]
pub struct Hub {
    pub url: String,
    pub state: HubState,
    pub last_push_at: Option<DateTime<Utc>>,
    pub last_pull_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// When the agent calls the hub next by itself.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub clock_skew_secs: Option<i64>,
}

/// Builds the report for `settings`, from the running agent when there is one and from the
/// database either way.
pub fn build(settings: &Settings, running: Option<&Running>) -> Report {
    let live: Option<&Status> = running.and_then(|r| r.status.as_ref());
    let database = read_database(settings);
    let hub = settings.credentials.as_ref().map(|c| {
        let sync = live.and_then(|l| l.sync.as_ref());
        match sync {
            Some(s) => Hub {
                url: s.hub_url.clone(),
                state: if s.online && s.last_error.is_none() {
                    HubState::Online
                } else {
                    HubState::Offline
                },
                last_push_at: s.last_push_at,
                last_pull_at: s.last_pull_at,
                last_error: s.last_error.clone(),
                next_attempt_at: s.next_attempt_at,
                clock_skew_secs: s.clock_skew_secs,
            },
            None => Hub {
                url: c.hub_url.clone(),
                state: HubState::NotSyncing,
                last_push_at: None,
                last_pull_at: None,
                last_error: None,
                next_attempt_at: None,
                clock_skew_secs: None,
            },
        }
    });
    Report {
        running: live.is_some(),
        address: running.map_or(settings.listen, |r| r.address),
        data_dir: settings.data_dir.clone(),
        store_id: live.map_or_else(|| settings.store_id.clone(), |l| l.store_id.clone()),
        terminal_id: live.map_or_else(|| settings.terminal_id.clone(), |l| l.terminal_id.clone()),
        mode: if settings.credentials.is_some() {
            Mode::Enrolled
        } else {
            Mode::Standalone
        },
        agent_version: live.map(|l| l.agent_version.clone()),
        rule_set: live.map(|l| format!("{} v{}", l.rule_set_name, l.rule_set_version)),
        business_date: live.map(|l| l.business_date),
        database,
        hub,
        scanners: live.map(|l| l.scanners.clone()).unwrap_or_default(),
    }
}

fn read_database(settings: &Settings) -> Option<Database> {
    let path = settings.data_dir.join(DB_FILE);
    if !path.exists() {
        return None;
    }
    let store = Store::open_read_only(&path).ok()?;
    let counts = store.outbox_counts().ok()?;
    Some(Database {
        schema_version: store.schema_version().ok()?,
        events_recorded: counts.last_seq,
        pending_events: counts.pending,
        quarantined: counts.quarantined,
        members_cached: store.members_cached().ok()?,
        path,
    })
}

fn time(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (at - now).num_seconds();
    let when = at.format("%Y-%m-%d %H:%M:%S UTC");
    match secs {
        0.. => format!("{when} (in {secs} s)"),
        _ => format!("{when} ({} s ago)", -secs),
    }
}

/// The report as text: one `label: value` line each, the same labels whether the agent runs.
pub fn render(r: &Report, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: String| {
        let _ = writeln!(out, "{:<15} {value}", format!("{label}:"));
    };
    line(
        "agent",
        match (&r.agent_version, r.running) {
            (Some(v), true) => format!("running at {} (version {v})", r.address),
            _ => format!("NOT running (expected at {})", r.address),
        },
    );
    line(
        "terminal",
        format!("store {}, terminal {}", r.store_id, r.terminal_id),
    );
    line(
        "rules",
        r.rule_set
            .clone()
            .unwrap_or_else(|| "- (the agent is not running)".into()),
    );
    line(
        "business date",
        r.business_date
            .map_or_else(|| "- (the agent is not running)".into(), |d| d.to_string()),
    );
    match &r.hub {
        None => line("hub", "none: this terminal runs standalone".into()),
        Some(h) => {
            let state = match h.state {
                HubState::Online => "online (it answered the last call)".to_owned(),
                HubState::Offline => format!(
                    "OFFLINE: {}",
                    h.last_error.as_deref().unwrap_or("not reached yet")
                ),
                HubState::NotSyncing => "not syncing: the agent is not running".to_owned(),
            };
            line("hub", format!("{} {state}", h.url));
            let never = || "never, since the agent started".to_owned();
            if h.state != HubState::NotSyncing {
                line(
                    "last push",
                    h.last_push_at.map_or_else(never, |t| time(t, now)),
                );
                line(
                    "last pull",
                    h.last_pull_at.map_or_else(never, |t| time(t, now)),
                );
                line(
                    "next sync",
                    h.next_attempt_at.map_or_else(
                        || "now (in progress)".into(),
                        |t| {
                            format!(
                                "{} by itself; `tenpo-agent sync --now` for now",
                                time(t, now)
                            )
                        },
                    ),
                );
            }
        }
    }
    match &r.database {
        Some(d) => {
            line(
                "database",
                format!("{} (schema {})", d.path.display(), d.schema_version),
            );
            line(
                "events",
                format!(
                    "{} recorded, {} pending, {} quarantined",
                    d.events_recorded, d.pending_events, d.quarantined
                ),
            );
            line("members", format!("{} cached", d.members_cached));
        }
        None => line(
            "database",
            format!(
                "none yet at {} (made at the first start)",
                r.data_dir.join(DB_FILE).display()
            ),
        ),
    }
    let scanners = if !r.running {
        "- (the agent is not running)".to_owned()
    } else if r.scanners.is_empty() {
        "none configured".to_owned()
    } else {
        r.scanners
            .iter()
            .map(|s| {
                let state = if s.connected {
                    "connected"
                } else {
                    "NOT connected"
                };
                format!("{} {state}, {} scans", s.name, s.scans)
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    line("scanners", scanners);
    out
}
