//! The agent's settings: one TOML file, and a flag and an environment variable for each setting.
//!
//! Precedence: flag or environment variable, then the file, then the default. Unknown keys and
//! bad values are errors that name the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use clap::{Args, ValueEnum};
use serde::Deserialize;
use tenpo_loyalty::RuleSet;

/// The default address of the local API.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7480";
/// The data directory of an installed agent.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/tenpo";
/// The data directory of `run --demo` (relative to the working directory).
pub const DEMO_DATA_DIR: &str = ".tenpo-demo";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The config file (`--config`, `TENPO_CONFIG`). Every key is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Where the database and the API token live.
    pub data_dir: Option<PathBuf>,
    /// The local API's address; loopback only.
    pub listen: Option<String>,
    pub store_id: Option<String>,
    pub terminal_id: Option<String>,
    /// The store's IANA time zone, for business dates (default `Asia/Tokyo`).
    pub time_zone: Option<String>,
    /// The program's rule set, as TOML, for a terminal without a hub.
    pub rules: Option<PathBuf>,
    pub log_format: Option<LogFormat>,
}

/// The settings flags shared by the commands that open the store.
#[derive(Debug, Clone, Default, Args)]
pub struct SettingsArgs {
    /// The config file.
    #[arg(long, env = "TENPO_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the database and the API token live [default: /var/lib/tenpo; .tenpo-demo with --demo].
    #[arg(long, env = "TENPO_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The local API's address; loopback only [default: 127.0.0.1:7480].
    #[arg(long, env = "TENPO_LISTEN")]
    pub listen: Option<String>,
    #[arg(long, env = "TENPO_STORE_ID")]
    pub store_id: Option<String>,
    #[arg(long, env = "TENPO_TERMINAL_ID")]
    pub terminal_id: Option<String>,
    /// The store's IANA time zone [default: Asia/Tokyo].
    #[arg(long, env = "TENPO_TIME_ZONE")]
    pub time_zone: Option<String>,
    /// The rule set (TOML) for a terminal without a hub.
    #[arg(long, env = "TENPO_RULES")]
    pub rules: Option<PathBuf>,
    /// Run on the built-in demo program and demo members: nothing to set up.
    #[arg(long, env = "TENPO_DEMO")]
    pub demo: bool,
}

/// Settings resolved from flags, environment, file and defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub store_id: String,
    pub terminal_id: String,
    pub time_zone: Tz,
    pub rules: RuleSet,
    pub demo: bool,
    pub log_format: Option<LogFormat>,
}

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
}

fn invalid(key: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        problem: problem.into(),
    }
}

/// Reads and parses a config file; unknown keys are errors.
pub fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// Reads a rule set file and checks it.
pub fn read_rules(path: &Path) -> Result<RuleSet, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid("rules", format!("cannot read {}: {e}", path.display())))?;
    let rules: RuleSet =
        toml::from_str(&text).map_err(|e| invalid("rules", format!("{}: {e}", path.display())))?;
    rules
        .validate()
        .map_err(|e| invalid("rules", format!("{}: {e}", path.display())))?;
    Ok(rules)
}

fn check_id(key: &'static str, value: &str) -> Result<(), ConfigError> {
    tenpo_protocol::agent::check_id(key, value).map_err(|e| invalid(key, e.problem))
}

/// Parses a listen address and insists on loopback: the local API is for this machine only.
pub fn parse_listen(value: &str) -> Result<SocketAddr, ConfigError> {
    let addr: SocketAddr = value.parse().map_err(|_| {
        invalid(
            "listen",
            format!("{value:?} is not an address like {DEFAULT_LISTEN}"),
        )
    })?;
    if !addr.ip().is_loopback() {
        return Err(invalid(
            "listen",
            format!("{addr} is not a loopback address: the local API listens on this machine only"),
        ));
    }
    Ok(addr)
}

impl Settings {
    /// Resolves flags and environment over the config file over defaults.
    pub fn resolve(args: &SettingsArgs) -> Result<Settings, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        Settings::from_parts(args, file)
    }

    pub fn from_parts(args: &SettingsArgs, file: FileConfig) -> Result<Settings, ConfigError> {
        let demo = args.demo;
        let data_dir = args.data_dir.clone().or(file.data_dir).unwrap_or_else(|| {
            PathBuf::from(if demo {
                DEMO_DATA_DIR
            } else {
                DEFAULT_DATA_DIR
            })
        });
        let listen = parse_listen(
            args.listen
                .as_deref()
                .or(file.listen.as_deref())
                .unwrap_or(DEFAULT_LISTEN),
        )?;
        let pick =
            |flag: &Option<String>, file: Option<String>, key: &'static str, demo_default: &str| {
                match flag.clone().or(file) {
                    Some(v) => check_id(key, &v).map(|()| v),
                    None if demo => Ok(demo_default.to_owned()),
                    None => Err(invalid(key, "is required (or run with --demo)")),
                }
            };
        let store_id = pick(&args.store_id, file.store_id, "store_id", "demo-store")?;
        let terminal_id = pick(
            &args.terminal_id,
            file.terminal_id,
            "terminal_id",
            "demo-till-1",
        )?;
        let tz_name = args
            .time_zone
            .clone()
            .or(file.time_zone)
            .unwrap_or_else(|| "Asia/Tokyo".into());
        let time_zone: Tz = tz_name.parse().map_err(|_| {
            invalid(
                "time_zone",
                format!("{tz_name:?} is not an IANA time zone like Asia/Tokyo"),
            )
        })?;
        let rules = match args.rules.clone().or(file.rules) {
            Some(path) => read_rules(&path)?,
            None if demo => RuleSet::demo(),
            None => {
                return Err(invalid(
                    "rules",
                    "is required without a hub (or run with --demo)",
                ));
            }
        };
        Ok(Settings {
            data_dir,
            listen,
            store_id,
            terminal_id,
            time_zone,
            rules,
            demo,
            log_format: file.log_format,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FileConfig, String> {
        toml::from_str::<FileConfig>(text).map_err(|e| e.to_string())
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = parse("store_id = \"s1\"\nlisten_addr = \"127.0.0.1:1\"\n")
            .err()
            .unwrap_or_default();
        assert!(err.contains("listen_addr"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let args = SettingsArgs {
            demo: true,
            ..SettingsArgs::default()
        };
        let cases = [
            ("listen = \"0.0.0.0:7480\"", "listen"),
            ("listen = \"nowhere\"", "listen"),
            ("time_zone = \"Mars/Olympus\"", "time_zone"),
            ("store_id = \"has space\"", "store_id"),
            ("rules = \"/nonexistent/rules.toml\"", "rules"),
        ];
        for (text, key) in cases {
            let file = parse(text).unwrap_or_default();
            match Settings::from_parts(&args, file) {
                Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{text}"),
                other => panic!("{text}: expected an error naming {key}, got {other:?}"),
            }
        }
    }

    #[test]
    fn flags_override_the_file_and_demo_fills_defaults() {
        let args = SettingsArgs {
            demo: true,
            store_id: Some("flag-store".into()),
            ..SettingsArgs::default()
        };
        let file = parse("store_id = \"file-store\"\nterminal_id = \"till-9\"").unwrap_or_default();
        let s = Settings::from_parts(&args, file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.store_id, "flag-store");
        assert_eq!(s.terminal_id, "till-9");
        assert_eq!(s.time_zone, chrono_tz::Asia::Tokyo);
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(s.rules, RuleSet::demo());
    }

    #[test]
    fn without_demo_the_identity_and_rules_are_required() {
        let err = Settings::from_parts(&SettingsArgs::default(), FileConfig::default());
        assert!(
            matches!(
                err,
                Err(ConfigError::Invalid {
                    key: "store_id",
                    ..
                })
            ),
            "{err:?}"
        );
    }
}
