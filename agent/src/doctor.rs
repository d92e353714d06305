//! `tenpo-agent doctor`: what is wrong with this terminal, each problem with its fix in one
//! line, and an exit code for scripts (0 when nothing failed).

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tenpo_hw::source::{Kind, ScannerConfig, usb};
use tenpo_protocol::agent::{ScannerStatus, Status};

use crate::config::Settings;
use crate::daemon::DB_FILE;
use crate::store::{CURRENT_VERSION, ReadOnly, Store, backup};

/// Free disk below this fails (new sales, and the copy of the database before an upgrade).
const DISK_FAIL_BYTES: u64 = 256 * 1024 * 1024;
/// Free disk below this is warned about.
const DISK_WARN_BYTES: u64 = 1024 * 1024 * 1024;
/// An event the hub has not taken for this long is warned about …
const PENDING_WARN_SECS: i64 = 60 * 60;
/// … and for this long, fails.
const PENDING_FAIL_SECS: i64 = 24 * 60 * 60;
/// A clock this far from the hub's is warned about; beyond the LINE card's allowance
/// (`scan.card_skew_secs`, at most 2 minutes) it fails.
const SKEW_WARN_SECS: i64 = 10;

/// How to start the agent, on this OS.
const START_HINT: &str = if cfg!(windows) {
    "start it: `sc start tenpo-agent` (or Services → tenpo-agent → Start)"
} else {
    "start it: `systemctl start tenpo-agent`, or `tenpo-agent run --config …`"
};

pub use tenpo_support::doctor::{Check, Level};
use tenpo_support::doctor::{fail, ok, warn};

/// Runs every check. `live` is the running agent's status, if it answered.
pub fn run(settings: &Settings, live: Option<&Status>) -> Vec<Check> {
    let rules = settings.rules.as_ref().map_or_else(
        || "from the hub".to_owned(),
        |r| format!("{} v{}", r.name, r.version),
    );
    let mut checks = vec![match live {
        // What the running agent runs with, whatever flags or config it was started with.
        Some(s) => ok(format!(
            "running agent: store {}, terminal {}, rules {} v{}, data in {}",
            s.store_id,
            s.terminal_id,
            s.rule_set_name,
            s.rule_set_version,
            settings.data_dir.display()
        )),
        None => ok(format!(
            "config: store {}, terminal {}, rules {rules}",
            settings.store_id, settings.terminal_id
        )),
    }];
    checks.extend(database(settings));
    checks.push(disk(&settings.data_dir));
    checks.push(match live {
        Some(s) => ok(format!(
            "agent running at {} ({} pending events, business date {})",
            settings.listen, s.pending_events, s.business_date
        )),
        // An enrolled terminal whose agent is stopped sells nothing to members and syncs
        // nothing: that is a failure, not a warning.
        None if settings.credentials.is_some() => fail(
            format!("agent not running (not answering at {})", settings.listen),
            START_HINT,
        ),
        None => warn(
            format!("agent not answering at {}", settings.listen),
            START_HINT,
        ),
    });
    if let Some(sync) = live.and_then(|s| s.sync.as_ref()) {
        checks.push(match (&sync.last_error, sync.online) {
            (None, true) => ok(format!(
                "agent syncing with {} ({} passes since start)",
                sync.hub_url, sync.passes
            )),
            (error, _) => warn(
                format!(
                    "agent's last sync with {} failed: {}",
                    sync.hub_url,
                    error.as_deref().unwrap_or("not reached yet")
                ),
                "see the hub checks below; the agent retries by itself",
            ),
        });
    }
    let ports = usb::list_ports();
    // A running agent's scanners are the ones it reports (it may have been started with
    // `--scanner`); the configured ones otherwise.
    let live_scanners = live.map(|l| l.scanners.as_slice()).unwrap_or_default();
    for scanner in live_scanners {
        checks.push(live_scanner_check(scanner));
    }
    if live.is_none() {
        for scanner in &settings.scanners {
            checks.push(scanner_check(scanner, &ports, None));
        }
    }
    if live_scanners.is_empty() && (live.is_some() || settings.scanners.is_empty()) {
        checks.push(warn(
            "no scanner configured",
            if cfg!(windows) {
                "add a [[scanners]] table to the config, or run with --scanner serial:COM3"
            } else {
                "add a [[scanners]] table to the config, or run with --scanner serial:/dev/ttyACM0"
            },
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

fn database(settings: &Settings) -> Vec<Check> {
    let data_dir = &settings.data_dir;
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
        Ok(c) => {
            checks.push(ok(format!(
                "{} events recorded, {} pending, {} quarantined",
                c.last_seq, c.pending, c.quarantined
            )));
            if c.quarantined > 0 {
                checks.push(warn(
                    format!("{} events were refused by the hub and kept aside", c.quarantined),
                    "ask the hub's administrator (`tenpo-hub conflicts`); `tenpo-agent export` lists them with the reason",
                ));
            }
            if settings.credentials.is_some() {
                checks.push(pending_age(&store, c.pending, Utc::now()));
            }
        }
        Err(e) => checks.push(fail(format!("outbox: {e}"), "restore from backup")),
    }
    let backups = backup::list(&data_dir.join(backup::BACKUP_DIR));
    if let Some(newest) = backups.last() {
        checks.push(ok(format!(
            "{} database backup(s) from before upgrades, newest {}",
            backups.len(),
            newest.display()
        )));
    }
    checks
}

/// How long the oldest event the hub has not taken has waited.
fn pending_age(store: &ReadOnly, pending: u64, now: DateTime<Utc>) -> Check {
    if pending == 0 {
        return ok("no events waiting for the hub");
    }
    let fix = "the hub has not taken this terminal's events (see the hub checks); they are safe \
               here and go out when it answers: `tenpo-agent sync --now` tries at once";
    let oldest = match store.oldest_pending() {
        Ok(Some(at)) => at,
        Ok(None) => return ok("no events waiting for the hub"),
        Err(e) => return fail(format!("outbox: {e}"), "restore from backup"),
    };
    let Ok(at) = DateTime::parse_from_rfc3339(&oldest) else {
        return warn(
            format!(
                "{pending} events waiting for the hub; the oldest has a damaged time ({oldest:?})"
            ),
            fix,
        );
    };
    let secs = (now - at.with_timezone(&Utc)).num_seconds();
    let what = format!(
        "{pending} events waiting for the hub, the oldest recorded {} ago",
        age(secs)
    );
    if secs > PENDING_FAIL_SECS {
        fail(what, fix)
    } else if secs > PENDING_WARN_SECS {
        warn(what, fix)
    } else {
        ok(what)
    }
}

fn age(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..60 => format!("{secs} s"),
        60..3_600 => format!("{} min", secs / 60),
        3_600..172_800 => format!("{} h {} min", secs / 3_600, secs % 3_600 / 60),
        _ => format!("{} days", secs / 86_400),
    }
}

/// Free space on the disk that holds the data directory, against the database's size.
fn disk(data_dir: &Path) -> Check {
    let fix = format!(
        "free space on the disk that holds {}: sales need room, and each upgrade first copies \
         the database (old copies are in {}/{})",
        data_dir.display(),
        data_dir.display(),
        backup::BACKUP_DIR
    );
    tenpo_support::doctor::disk(
        data_dir,
        &data_dir.join(DB_FILE),
        DISK_FAIL_BYTES,
        DISK_WARN_BYTES,
        fix,
    )
}

/// The hub, checked from here: reachable, this terminal's credentials accepted, the clocks
/// agreeing. Nothing to check on a standalone terminal.
pub async fn hub(settings: &Settings) -> Vec<Check> {
    let Some(credentials) = &settings.credentials else {
        return vec![ok(
            "hub: none, this terminal runs standalone (to connect it: `tenpo-agent enroll --hub URL --code CODE`)",
        )];
    };
    let base = credentials.hub_url.trim_end_matches('/');
    let client = match reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            return vec![fail(
                format!("cannot make an HTTP client: {e}"),
                "reinstall the agent",
            )];
        }
    };
    let mut checks = Vec::new();
    let sent = Utc::now();
    let health = match client.get(format!("{base}/v1/health")).send().await {
        Ok(r) if r.status().is_success() => r
            .json::<tenpo_protocol::sync::HubHealth>()
            .await
            .map_err(|e| format!("its answer is not a tenpo hub's ({e})")),
        Ok(r) => Err(format!("it answered {}", r.status())),
        Err(e) => Err(e.to_string()),
    };
    let received = Utc::now();
    match health {
        Ok(h) => {
            checks.push(ok(format!(
                "hub {base} reachable ({} ms)",
                (received - sent).num_milliseconds()
            )));
            // The hub read its clock between `sent` and `received`.
            let middle = sent + (received - sent) / 2;
            checks.push(clock(
                (h.hub_time - middle).num_seconds(),
                settings.code_rules.card_skew_secs,
            ));
        }
        Err(e) => {
            checks.push(fail(
                format!("hub {base} not reachable: {e}"),
                "check the network, proxy and firewall between this terminal and the hub; the till works offline meanwhile and sends everything later",
            ));
            return checks;
        }
    }
    let bearer = tenpo_protocol::sync::bearer(&credentials.terminal_id, &credentials.secret);
    let read = client
        .get(format!("{base}/v1/changes"))
        .query(&[("limit", "1")])
        .header(reqwest::header::AUTHORIZATION, bearer)
        .send()
        .await;
    checks.push(match read {
        Ok(r) if r.status().is_success() => ok(format!(
            "the hub accepts this terminal's credentials (store {}, terminal {})",
            credentials.store_id, credentials.terminal_id
        )),
        Ok(r) if matches!(r.status().as_u16(), 401 | 403) => {
            let status = r.status();
            let message = r
                .json::<tenpo_protocol::ErrorBody>()
                .await
                .map(|b| b.error.message)
                .unwrap_or_default();
            fail(
                format!("the hub refuses this terminal's credentials ({status}: {message})"),
                "enrol again with a new code from the hub (`tenpo-hub enroll-code --store STORE`): `tenpo-agent enroll --force --hub URL --code CODE`",
            )
        }
        Ok(r) => warn(
            format!("the hub answered {} to this terminal's read", r.status()),
            "see the hub's log",
        ),
        Err(e) => fail(
            format!("hub {base} stopped answering: {e}"),
            "check the network between this terminal and the hub",
        ),
    });
    checks
}

/// `skew`: the hub's clock minus this terminal's, in seconds.
fn clock(skew: i64, card_skew_secs: i64) -> Check {
    let limit = card_skew_secs.clamp(5, 120);
    let what = match skew {
        -1..=1 => "clock agrees with the hub's".to_owned(),
        s if s > 0 => format!("clock {s} s behind the hub's"),
        s => format!("clock {} s ahead of the hub's", -s),
    };
    let fix = format!(
        "set the time right and keep it synced (Linux: `timedatectl set-ntp true`; Windows: \
         `w32tm /resync`); LINE card codes are refused beyond {limit} s, and business dates follow the clock"
    );
    if skew.abs() > limit {
        fail(what, fix)
    } else if skew.abs() > SKEW_WARN_SECS {
        warn(what, fix)
    } else {
        ok(what)
    }
}

/// A scanner as the running agent reports it.
fn live_scanner_check(st: &ScannerStatus) -> Check {
    if st.connected {
        ok(format!(
            "scanner {}: connected ({}), {} scans, {} rejected",
            st.name,
            st.detail.as_deref().unwrap_or("-"),
            st.scans,
            st.rejections
        ))
    } else {
        fail(
            format!(
                "scanner {}: not connected: {}",
                st.name,
                st.last_error.as_deref().unwrap_or("unknown")
            ),
            "check the cable and the port in the config; the agent retries by itself",
        )
    }
}

fn scanner_check(s: &ScannerConfig, ports: &[usb::PortInfo], live: Option<&Status>) -> Check {
    if let Some(st) = live.and_then(|l| l.scanners.iter().find(|x| x.name == s.name)) {
        return live_scanner_check(st);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn clock_skew_levels() {
        assert_eq!(clock(0, 60).level, Level::Ok);
        assert_eq!(clock(-8, 60).level, Level::Ok);
        assert_eq!(clock(30, 60).level, Level::Warn);
        assert_eq!(clock(-61, 60).level, Level::Fail);
        // The allowance is capped: a generous `card_skew_secs` does not hide a bad clock.
        assert_eq!(clock(600, 3_600).level, Level::Fail);
        let c = clock(-90, 60);
        assert!(c.what.contains("90 s ahead"), "{c}");
        assert!(c.fix.unwrap_or_default().contains("timedatectl"));
    }

    #[test]
    fn pending_events_by_age() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let store = Store::open(&path).unwrap();
        let who = crate::store::Identity {
            store_id: "s1".into(),
            terminal_id: "t1".into(),
        };
        let body = tenpo_protocol::events::EventBody::MemberProvisional {
            member_id: "m1".into(),
            code: "2000000000046".into(),
        };
        store
            .write(|tx| tx.append_event(&who, body, "2026-11-20T09:00:00+00:00"))
            .unwrap();
        let ro = Store::open_read_only(&path).unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            pending_age(&ro, 0, at("2026-11-20T09:00:00Z")).level,
            Level::Ok
        );
        let fresh = pending_age(&ro, 1, at("2026-11-20T09:10:00Z"));
        assert_eq!(fresh.level, Level::Ok, "{fresh}");
        assert!(fresh.what.contains("10 min ago"), "{fresh}");
        assert_eq!(
            pending_age(&ro, 1, at("2026-11-20T12:00:00Z")).level,
            Level::Warn
        );
        let stale = pending_age(&ro, 1, at("2026-11-23T09:00:00Z"));
        assert_eq!(stale.level, Level::Fail, "{stale}");
        assert!(stale.what.contains("3 days"), "{stale}");
        // Once the hub has it, nothing waits.
        store.write(|tx| tx.advance_acked(1)).unwrap();
        let done = pending_age(&ro, 1, at("2026-11-23T09:00:00Z"));
        assert_eq!(done.level, Level::Ok, "{done}");
    }

    #[test]
    fn free_disk_is_measured_even_before_the_first_start() {
        let dir = tempfile::tempdir().unwrap();
        let c = disk(&dir.path().join("not/yet/made"));
        assert!(c.what.starts_with("free disk: "), "{c}");
    }
}
