//! Enrolment: a one-time code from the hub gives this terminal its id and secret, kept in
//! `<data-dir>/hub.json` readable by the agent's user only. The secret never appears in logs.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const CREDENTIALS_FILE: &str = "hub.json";

/// Who this terminal is at the hub, and how it proves it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub hub_url: String,
    pub store_id: String,
    pub terminal_id: String,
    pub secret: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("hub_url", &self.hub_url)
            .field("store_id", &self.store_id)
            .field("terminal_id", &self.terminal_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is damaged ({detail}): enrol the terminal again with a new code")]
    Damaged { path: PathBuf, detail: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "this terminal is already enrolled as {terminal_id} (see {path}); pass --force to enrol it again"
    )]
    AlreadyEnrolled { path: PathBuf, terminal_id: String },
}

impl Credentials {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(CREDENTIALS_FILE)
    }

    /// The terminal's credentials, or `None` if it is not enrolled.
    pub fn load(data_dir: &Path) -> Result<Option<Credentials>, CredentialsError> {
        let path = Self::path(data_dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CredentialsError::Read { path, source }),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| CredentialsError::Damaged {
                path,
                detail: e.to_string(),
            })
    }

    /// Writes the credentials (mode 0600), replacing old ones only when `force`.
    pub fn save(&self, data_dir: &Path, force: bool) -> Result<(), CredentialsError> {
        let path = Self::path(data_dir);
        if !force && let Some(existing) = Self::load(data_dir)? {
            return Err(CredentialsError::AlreadyEnrolled {
                path,
                terminal_id: existing.terminal_id,
            });
        }
        let write_err = |source| CredentialsError::Write {
            path: path.clone(),
            source,
        };
        let tmp = path.with_extension("json.tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp).map_err(write_err)?;
        let text =
            serde_json::to_string_pretty(self).map_err(|e| write_err(std::io::Error::other(e)))?;
        file.write_all(text.as_bytes()).map_err(write_err)?;
        file.sync_all().map_err(write_err)?;
        std::fs::rename(&tmp, &path).map_err(write_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn saved_private_and_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let c = Credentials {
            hub_url: "http://127.0.0.1:7400".into(),
            store_id: "s1".into(),
            terminal_id: "s1-t1".into(),
            secret: "ab".repeat(32),
        };
        assert_eq!(Credentials::load(dir.path()).unwrap(), None);
        c.save(dir.path(), false).unwrap();
        assert_eq!(Credentials::load(dir.path()).unwrap(), Some(c.clone()));
        assert!(!format!("{c:?}").contains(&c.secret));
        assert!(matches!(
            c.save(dir.path(), false),
            Err(CredentialsError::AlreadyEnrolled { .. })
        ));
        c.save(dir.path(), true).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(Credentials::path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
