//! The skeleton both programs' settings stand on (docs/design.md §9): one TOML file whose
//! unknown keys are errors, a flag and an environment variable over each key, and errors that
//! name the key or the file so IT can fix it without reading code.
//!
//! Each program keeps its own keys and defaults; what is shared is how a file is read, how a
//! bad value is reported, and the settings every program has (the store's time zone).

use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use serde::de::DeserializeOwned;

/// The time zone of business dates when none is set.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Tokyo";

/// A setting that cannot be used, naming it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("setting `{key}`: {problem}")]
    Invalid { key: &'static str, problem: String },
    /// A secret kept in a file of its own (a token, a channel secret).
    #[error("the {what} in {path}: {problem}")]
    Secret {
        what: &'static str,
        path: PathBuf,
        problem: String,
    },
}

/// The error for setting `key`.
pub fn invalid(key: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        problem: problem.into(),
    }
}

/// Reads and parses a TOML config file; what the type does not know (an unknown key, with
/// `deny_unknown_fields`) is an error naming the line.
pub fn read_toml<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// Reads a secret kept in a file of its own (its first line, trimmed): a token, a channel
/// secret. `what` names it in the error; the secret itself is never in an error or a log.
pub fn read_secret_file(what: &'static str, path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Secret {
        what,
        path: path.to_owned(),
        problem: format!("cannot read it: {e}"),
    })?;
    let secret = text.lines().next().unwrap_or_default().trim().to_owned();
    if secret.is_empty() || !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConfigError::Secret {
            what,
            path: path.to_owned(),
            problem: "its first line must hold it: printable characters, no spaces".into(),
        });
    }
    Ok(secret)
}

/// The `time_zone` setting: an IANA name, [`DEFAULT_TIME_ZONE`] when unset.
pub fn time_zone(name: Option<String>) -> Result<Tz, ConfigError> {
    let name = name.unwrap_or_else(|| DEFAULT_TIME_ZONE.to_owned());
    name.parse().map_err(|_| {
        invalid(
            "time_zone",
            format!("{name:?} is not an IANA time zone like {DEFAULT_TIME_ZONE}"),
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[allow(dead_code)]
        listen: Option<String>,
    }

    #[test]
    fn files_and_zones_fail_naming_what_to_fix() {
        let dir = std::env::temp_dir().join(format!("tenpo-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:1\"\n").unwrap();
        assert!(read_toml::<File>(&path).is_ok());
        std::fs::write(&path, "lissten = 1\n").unwrap();
        let e = read_toml::<File>(&path).unwrap_err().to_string();
        assert!(e.contains("x.toml") && e.contains("lissten"), "{e}");
        let e = read_toml::<File>(&dir.join("absent.toml")).unwrap_err();
        assert!(matches!(e, ConfigError::Read { .. }), "{e}");
        std::fs::write(&path, "s3cret-value\nignored\n").unwrap();
        assert_eq!(
            read_secret_file("channel secret", &path).unwrap(),
            "s3cret-value"
        );
        std::fs::write(&path, "\n").unwrap();
        let e = read_secret_file("channel secret", &path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("channel secret") && e.contains("x.toml"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();

        assert_eq!(time_zone(None).unwrap(), chrono_tz::Asia::Tokyo);
        assert_eq!(
            time_zone(Some("Europe/Paris".into())).unwrap(),
            chrono_tz::Europe::Paris
        );
        let e = time_zone(Some("Mars/Olympus".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("time_zone") && e.contains("Mars/Olympus"), "{e}");
    }
}
