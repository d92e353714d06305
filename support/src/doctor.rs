//! What `tenpo-agent doctor` and `tenpo-hub doctor` share: a finding with its fix in one line,
//! the report's summary and exit code, and the free-disk measure.

use std::fmt;
use std::path::Path;

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

pub fn ok(what: impl Into<String>) -> Check {
    Check {
        level: Level::Ok,
        what: what.into(),
        fix: None,
    }
}

pub fn warn(what: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        level: Level::Warn,
        what: what.into(),
        fix: Some(fix.into()),
    }
}

pub fn fail(what: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        level: Level::Fail,
        what: what.into(),
        fix: Some(fix.into()),
    }
}

/// How many of `checks` failed.
pub fn failures(checks: &[Check]) -> usize {
    checks.iter().filter(|c| c.level == Level::Fail).count()
}

/// A size as people read it: KiB, MiB or GiB.
pub fn bytes(n: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    const GIB: u64 = 1024 * MIB;
    if n >= GIB {
        format!("{:.1} GiB", n as f64 / GIB as f64)
    } else if n >= MIB {
        format!("{} MiB", n / MIB)
    } else {
        format!("{} KiB", n.div_ceil(1024))
    }
}

/// Free space on the disk that holds `dir`, measured at the nearest directory that exists
/// (before a first start the data directory may not): that directory and the bytes free.
pub fn free_space(dir: &Path) -> (&Path, std::io::Result<u64>) {
    let mut probe = dir;
    while !probe.exists()
        && let Some(parent) = probe.parent()
    {
        probe = parent;
    }
    (probe, fs4::available_space(probe))
}

/// Free disk where the data is, against the database (`db`, with its WAL beside it): a failure
/// under `fail_bytes` or the database's size, a warning under `warn_bytes` or twice its size.
/// `fix` says what the room is needed for.
pub fn disk(data_dir: &Path, db: &Path, fail_bytes: u64, warn_bytes: u64, fix: String) -> Check {
    let (probe, free) = free_space(data_dir);
    let db_size: u64 = [db.to_owned(), db.with_extension("db-wal")]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let free = match free {
        Ok(free) => free,
        Err(e) => {
            return warn(
                format!("free disk at {}: cannot tell ({e})", probe.display()),
                "check the disk that holds the data directory by hand",
            );
        }
    };
    let what = format!(
        "free disk: {} where the data is ({}; database {})",
        bytes(free),
        data_dir.display(),
        bytes(db_size)
    );
    if free < fail_bytes || free < db_size {
        fail(what, fix)
    } else if free < warn_bytes || free < db_size.saturating_mul(2) {
        warn(what, fix)
    } else {
        ok(what)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_finding_reads_as_one_line_and_its_fix() {
        assert_eq!(
            ok("database schema version 3").to_string(),
            "ok   database schema version 3"
        );
        assert_eq!(
            fail("hub not running", "start it").to_string(),
            "FAIL hub not running\n     fix: start it"
        );
        assert_eq!(failures(&[ok("a"), warn("b", "c"), fail("d", "e")]), 1);
        assert_eq!(bytes(1), "1 KiB");
        assert_eq!(bytes(5 * 1024 * 1024), "5 MiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024 / 2), "1.5 GiB");
    }

    #[test]
    fn free_space_is_measured_where_the_directory_will_be() {
        let dir = std::env::temp_dir();
        let not_yet = dir.join("tenpo-not-made/yet");
        let (probe, free) = free_space(&not_yet);
        assert_eq!(probe, dir.as_path());
        assert!(free.unwrap() > 0);
    }
}
