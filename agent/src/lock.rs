//! One agent per data directory: the running agent holds an exclusive lock on
//! `<data-dir>/agent.lock` and writes its API address to `<data-dir>/agent.addr`, so the CLI
//! (`sync --now`, `status`, `doctor`) finds it whatever port it listens on, and never writes to
//! the database beside it (docs/design.md §2: one writer per SQLite file).

use std::fs::{File, OpenOptions, TryLockError};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

const LOCK_FILE: &str = "agent.lock";
const ADDR_FILE: &str = "agent.addr";

/// Held for as long as this process owns the data directory.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another tenpo-agent is using {dir}{}", .addr.map(|a| format!(" (its API is at {a})")).unwrap_or_default())]
    InUse {
        dir: PathBuf,
        addr: Option<SocketAddr>,
    },
    #[error("cannot lock {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn lock_file(dir: &Path) -> Result<File, LockError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| LockError::Io {
            path: path.clone(),
            source,
        })?;
    // Made by root (`sudo tenpo-agent enroll`), the lock file must still be the agent's, who
    // owns the data directory: else the service cannot take it (files are 0600).
    if let Err(e) = crate::store::backup::match_owner(&path, dir) {
        tracing::warn!(path = %path.display(), error = %e, "cannot give the lock file to the data directory's owner");
    }
    Ok(file)
}

impl DataDirLock {
    /// Takes the data directory, or says which agent has it.
    pub fn acquire(dir: &Path) -> Result<DataDirLock, LockError> {
        let file = lock_file(dir)?;
        match file.try_lock() {
            Ok(()) => Ok(DataDirLock {
                _file: file,
                dir: dir.to_owned(),
            }),
            Err(TryLockError::WouldBlock) => Err(LockError::InUse {
                dir: dir.to_owned(),
                addr: recorded_addr(dir),
            }),
            Err(TryLockError::Error(source)) => Err(LockError::Io {
                path: dir.join(LOCK_FILE),
                source,
            }),
        }
    }

    /// Records where this agent's API listens.
    pub fn record_addr(&self, addr: SocketAddr) -> std::io::Result<()> {
        std::fs::write(self.dir.join(ADDR_FILE), addr.to_string())
    }
}

fn recorded_addr(dir: &Path) -> Option<SocketAddr> {
    std::fs::read_to_string(dir.join(ADDR_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The API address of the agent running on this data directory, if one is.
pub fn running_agent(dir: &Path) -> Option<SocketAddr> {
    let file = File::open(dir.join(LOCK_FILE)).ok()?;
    match file.try_lock() {
        // Nobody holds it: no agent runs here (the lock is released with this handle).
        Ok(()) => None,
        Err(_) => recorded_addr(dir),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_its_address_is_found() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(running_agent(dir.path()), None);
        let held = DataDirLock::acquire(dir.path()).unwrap();
        held.record_addr("127.0.0.1:7999".parse().unwrap()).unwrap();
        assert_eq!(
            running_agent(dir.path()),
            Some("127.0.0.1:7999".parse().unwrap())
        );
        let err = DataDirLock::acquire(dir.path()).unwrap_err();
        assert!(err.to_string().contains("127.0.0.1:7999"), "{err}");
        drop(held);
        assert_eq!(running_agent(dir.path()), None);
        assert!(DataDirLock::acquire(dir.path()).is_ok());
    }
}
