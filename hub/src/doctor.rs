//! `tenpo-hub doctor`: what is wrong with this hub, each problem with its fix in one line, and
//! an exit code for scripts (1 when something failed). It reads; it never writes, migrates or
//! makes anything (not even the admin token `serve` would make). The running hub's health check
//! it asks for is the hub's own: the hub checks that it can write.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tenpo_support::doctor::{Check, fail, ok, warn};

use crate::config::{ADMIN_TOKEN_ENV, ADMIN_TOKEN_FILE, DB_FILE, Database, Settings};
use crate::store::postgres::DatabaseUrl;
use crate::store::sqlite::{self, CURRENT_VERSION};

/// Free disk below this fails: events, members and the backup before a migration need room.
const DISK_FAIL_BYTES: u64 = 512 * 1024 * 1024;
/// Free disk below this is warned about.
const DISK_WARN_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// A clock this far behind the hub's own records has gone back.
const CLOCK_BEHIND_SECS: i64 = 60;

/// Every check but the running hub's (see [`running`]).
pub async fn run(settings: &Settings, now: DateTime<Utc>) -> Vec<Check> {
    let stores_elsewhere = settings.zones.groups().len().saturating_sub(1);
    let mut checks = vec![ok(format!(
        "config: {}, listening on {}, time zone {}{}, LINE messages {}",
        match &settings.database {
            Database::Sqlite => format!("data in {}", settings.data_dir.display()),
            Database::Postgres { url, .. } => format!("data in PostgreSQL {url}"),
        },
        settings.listen,
        settings.time_zone,
        match stores_elsewhere {
            0 => String::new(),
            n => format!(" (and {n} other time zone(s) for stores)"),
        },
        if settings.messaging.access_token.is_some() {
            "on"
        } else {
            "off"
        },
    ))];
    checks.extend(data_dir(&settings.data_dir));
    match &settings.database {
        Database::Sqlite => {
            checks.extend(database(&settings.data_dir, now));
            checks.push(admin_token(settings));
            checks.push(disk(&settings.data_dir));
        }
        Database::Postgres { url, .. } => {
            checks.extend(postgres(url, now).await);
            checks.push(admin_token(settings));
        }
    }
    checks
}

/// The hub's PostgreSQL database: reachable, its schema, and the two clocks.
async fn postgres(url: &DatabaseUrl, now: DateTime<Utc>) -> Vec<Check> {
    let found = match crate::store::postgres::inspect(url).await {
        Ok(found) => found,
        Err(e) => {
            return vec![fail(
                format!("database {url}: {e}"),
                "check that the server is up and that the URL, user and password file are right: \
                 `psql` with the same URL connects",
            )];
        }
    };
    let mut checks = vec![ok(format!(
        "database {url} reachable (PostgreSQL {})",
        found.server_version
    ))];
    let known = crate::store::postgres::CURRENT_VERSION;
    let v = found.schema_version;
    checks.push(if v == known {
        ok(format!(
            "database schema version {v}: {} terminal(s), about {} member(s)",
            found.terminals, found.members_estimate
        ))
    } else if v == 0 {
        warn(
            format!("no hub tables in {url} yet"),
            "`tenpo-hub serve` makes them at its first start; check the URL if some were expected",
        )
    } else if v < known {
        warn(
            format!("database schema version {v}; this hub writes {known}"),
            format!(
                "the first hub to start migrates it; take a backup first: `pg_dump -Fc` \
                 (docs/hub.md) (migrations pending: {})",
                known - v
            ),
        )
    } else {
        fail(
            format!("database schema version {v} is newer than this hub knows ({known})"),
            "install the newer tenpo-hub on every hub machine; this one will not open it",
        )
    });
    let skew = (found.server_now - now).num_seconds();
    checks.push(if skew.abs() > CLOCK_BEHIND_SECS {
        fail(
            format!(
                "clock: this machine says {}, the database server {} ({skew:+} s)",
                now.format("%Y-%m-%d %H:%M:%S UTC"),
                found.server_now.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            "set both clocks by NTP (`timedatectl set-ntp true`): hubs on several machines \
             must agree on the time",
        )
    } else {
        ok(format!(
            "clock: within {} s of the database server's",
            skew.abs().max(1)
        ))
    });
    checks
}

/// How to read what only the hub's user may.
const AS_HUB_USER: &str = "run doctor as the hub's user: `sudo -u tenpo-hub tenpo-hub doctor …`";

fn data_dir(dir: &Path) -> Option<Check> {
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            return Some(fail(
                format!("the data directory {}: {e}", dir.display()),
                AS_HUB_USER,
            ));
        }
        Ok(_) => {}
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(dir) {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                return Some(warn(
                    format!(
                        "the data directory {} is open to other users (mode {:o})",
                        dir.display(),
                        m.permissions().mode() & 0o777
                    ),
                    format!(
                        "chmod 700 {}: it holds members' data and the signing key",
                        dir.display()
                    ),
                ));
            }
            Ok(_) => {}
            Err(e) => {
                return Some(fail(
                    format!("the data directory {}: {e}", dir.display()),
                    AS_HUB_USER,
                ));
            }
        }
    }
    None
}

fn database(dir: &Path, now: DateTime<Utc>) -> Vec<Check> {
    let path = dir.join(DB_FILE);
    // Not `exists()`: a directory the hub's user alone may read must not look empty.
    match std::fs::metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return vec![warn(
                format!("no database yet at {}", path.display()),
                "`tenpo-hub serve` makes it at its first start; check `data_dir` if one was \
                 expected",
            )];
        }
        Err(e) => {
            return vec![fail(
                format!("database {}: {e}", path.display()),
                AS_HUB_USER,
            )];
        }
        Ok(_) => {}
    }
    let found = match sqlite::inspect(&path) {
        Ok(found) => found,
        Err(e) => {
            return vec![fail(
                format!("database {}: {e}", path.display()),
                "run doctor as the hub's user; if the file is damaged, restore the latest backup \
                 (docs/hub.md)",
            )];
        }
    };
    let mut checks = Vec::new();
    let v = found.schema_version;
    checks.push(if v == CURRENT_VERSION {
        ok(format!(
            "database schema version {v}: {} terminal(s), {} member(s)",
            found.terminals, found.members
        ))
    } else if v < CURRENT_VERSION {
        warn(
            format!("database schema version {v}; this hub writes {CURRENT_VERSION}"),
            format!(
                "the hub migrates it when it starts; take a copy first: `tenpo-hub backup --to \
                 FILE` (migrations pending: {})",
                CURRENT_VERSION - v
            ),
        )
    } else {
        fail(
            format!("database schema version {v} is newer than this hub knows ({CURRENT_VERSION})"),
            "install the newer tenpo-hub; this one will not open the database",
        )
    });
    checks.push(if found.integrity == "ok" {
        ok("database integrity (quick_check)")
    } else {
        fail(
            format!("database integrity: {}", found.integrity),
            "stop the hub and restore the latest backup; terminals send again what it lost \
             (docs/hub.md)",
        )
    });
    checks.push(clock(found.newest_record, now));
    checks
}

/// This machine's clock against the latest time the hub wrote down.
fn clock(newest: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Check {
    match newest {
        Some(t) if (t - now).num_seconds() > CLOCK_BEHIND_SECS => fail(
            format!(
                "clock: now is {}, but the hub recorded {} already: the clock went back",
                now.format("%Y-%m-%d %H:%M:%S UTC"),
                t.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            "set the time (NTP: `timedatectl set-ntp true`); business dates, enrolment codes \
             and card QR codes depend on it",
        ),
        _ => ok(format!(
            "clock: {} (not behind the hub's records)",
            now.format("%Y-%m-%d %H:%M:%S UTC")
        )),
    }
}

fn admin_token(settings: &Settings) -> Check {
    let fix = "the admin commands need it: set admin_token_file, or let `serve` make \
               <data-dir>/admin-token at its start";
    if let Some(file) = &settings.admin_token_file {
        return match crate::config::read_token_file(file) {
            Ok(_) => ok(format!("admin token: file {}", file.display())),
            Err(e) => fail(format!("admin token: {e}"), fix),
        };
    }
    if std::env::var(ADMIN_TOKEN_ENV).is_ok_and(|t| !t.trim().is_empty()) {
        return ok(format!("admin token: ${ADMIN_TOKEN_ENV}"));
    }
    let made = settings.data_dir.join(ADMIN_TOKEN_FILE);
    match std::fs::metadata(&made) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => warn("admin token: none yet", fix),
        Err(e) => fail(format!("admin token {}: {e}", made.display()), AS_HUB_USER),
        Ok(_) => match crate::config::read_token_file(&made) {
            Ok(_) => ok(format!("admin token: file {}", made.display())),
            Err(e) => fail(format!("admin token: {e}"), fix),
        },
    }
}

fn disk(dir: &Path) -> Check {
    let fix = format!(
        "free space on the disk that holds {}: a migration or `tenpo-hub backup` copies the \
         whole database",
        dir.display()
    );
    tenpo_support::doctor::disk(
        dir,
        &dir.join(DB_FILE),
        DISK_FAIL_BYTES,
        DISK_WARN_BYTES,
        fix,
    )
}

/// Where a process on this machine reaches a hub listening on `listen`.
fn local(listen: SocketAddr) -> SocketAddr {
    let mut at = listen;
    if at.ip().is_unspecified() {
        at.set_ip(if at.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    at
}

/// The hub on this machine: answering its health check (which also takes a write).
pub async fn running(settings: &Settings) -> Check {
    let url = format!("http://{}/v1/health", local(settings.listen));
    let client = match reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(5))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            return fail(
                format!("cannot make an HTTP client: {e}"),
                "reinstall tenpo-hub",
            );
        }
    };
    let start = "start it: `systemctl start tenpo-hub`, or `tenpo-hub serve --config …`";
    match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => ok(format!("hub answering at {url}")),
        Ok(r) => {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            fail(
                format!("hub at {url} answered {status}: {}", body.trim()),
                "see the hub's log (`journalctl -u tenpo-hub`)",
            )
        }
        Err(e) if e.is_connect() => fail(format!("hub not running (nothing at {url})"), start),
        Err(e) => fail(format!("hub at {url}: {e}"), start),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_clock_behind_the_hubs_records_fails() {
        let now = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
        let later = now + chrono::Duration::minutes(10);
        assert_eq!(
            clock(Some(later), now).level,
            tenpo_support::doctor::Level::Fail
        );
        let just_before = now - chrono::Duration::seconds(5);
        assert_eq!(
            clock(Some(just_before), now).level,
            tenpo_support::doctor::Level::Ok
        );
        assert_eq!(clock(None, now).level, tenpo_support::doctor::Level::Ok);
    }

    #[test]
    fn a_hub_on_every_address_is_reached_on_loopback() {
        assert_eq!(
            local("0.0.0.0:7400".parse().unwrap()),
            "127.0.0.1:7400".parse().unwrap()
        );
        assert_eq!(
            local("[::]:7400".parse().unwrap()),
            "[::1]:7400".parse().unwrap()
        );
        assert_eq!(
            local("10.0.0.5:7400".parse().unwrap()),
            "10.0.0.5:7400".parse().unwrap()
        );
    }
}
