//! The agent's settings: one TOML file, and a flag and an environment variable for each setting.
//!
//! Precedence: flag or environment variable, then the file, then the default. Unknown keys and
//! bad values are errors that name the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::time::Duration;

use chrono_tz::Tz;
use clap::Args;
use serde::Deserialize;
use tenpo_hw::source::ScannerConfig;
use tenpo_hw::{CodabarCheck, CodeRules, KeyRing};
use tenpo_loyalty::RuleSet;

use crate::sync::{Credentials, SyncConfig};

/// The default address of the local API.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7480";
/// The data directory of an installed agent.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/tenpo";
/// The folder of machine-wide program data on Windows (`%ProgramData%`, normally
/// `C:\ProgramData`): the service's config is `tenpo\agent.toml` there, its data `tenpo\data`.
pub fn program_data() -> PathBuf {
    std::env::var_os("ProgramData")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"))
}

/// The data directory of an installed agent: [`DEFAULT_DATA_DIR`], or
/// `%ProgramData%\tenpo\data` on Windows.
pub fn default_data_dir() -> PathBuf {
    if cfg!(windows) {
        program_data().join("tenpo").join("data")
    } else {
        PathBuf::from(DEFAULT_DATA_DIR)
    }
}

/// The data directory of `run --demo` (relative to the working directory).
pub const DEMO_DATA_DIR: &str = ".tenpo-demo";

/// `--log-format` / `log_format` (shared with the other binary: `tenpo_support::logging`).
pub use tenpo_support::logging::LogFormat;

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
    /// How scans become member codes.
    #[serde(default)]
    pub scan: ScanSection,
    /// The scanners attached to this terminal (`[[scanners]]` tables).
    #[serde(default)]
    pub scanners: Vec<ScannerConfig>,
    /// Sync with the hub (used once the terminal is enrolled).
    #[serde(default)]
    pub sync: SyncSection,
    /// The kiosk's signup sessions (used once the terminal is enrolled).
    #[serde(default)]
    pub signup: SignupSection,
}

/// The `[signup]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignupSection {
    /// The LIFF app id in the kiosk's QR code (`https://liff.line.me/{liff_id}?t=…`).
    pub liff_id: Option<String>,
    /// Seconds a signup QR code is valid (default 300, 60 to 1800).
    pub session_secs: Option<u32>,
}

/// The `[sync]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncSection {
    /// How often to pull the hub's changes when nothing else wakes the sync (default 15000).
    pub interval_ms: Option<u64>,
    /// Points per member per business day this till may redeem while the hub is unreachable
    /// (default 1000).
    pub offline_redeem_limit: Option<i64>,
    /// Events per push (default 1000).
    pub batch: Option<usize>,
}

/// The `[scan]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanSection {
    /// The same code from the same scanner within this many milliseconds counts once
    /// (default 1000).
    pub debounce_ms: Option<u64>,
    /// The check character scheme of the store's Codabar (NW-7) paper cards (default `none`).
    pub codabar_check: Option<CodabarCheck>,
    /// Clock-skew allowance, in seconds, for the LINE card's rotating QR (default 60).
    pub card_skew_secs: Option<i64>,
    /// Public keys that sign LINE card QR codes, as `key_id:base64` (the hub sends them too).
    #[serde(default)]
    pub card_keys: Vec<String>,
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
    /// A scanner, as `serial:/dev/ttyACM0,baud=9600,terminator=cr`, `serial:usb=0c2e:0b61`,
    /// `keyboard:/dev/input/event3,layout=jis` or `stdin`. Repeat for several; replaces the
    /// file's `[[scanners]]`.
    #[arg(long = "scanner", env = "TENPO_SCANNERS", value_delimiter = ';')]
    pub scanners: Vec<String>,
    /// The same code from the same scanner within this many milliseconds counts once.
    #[arg(long, env = "TENPO_DEBOUNCE_MS")]
    pub debounce_ms: Option<u64>,
    /// Codabar paper cards' check scheme: none, mod16, mod10_luhn, mod11, seven_dr, seven_dsr.
    #[arg(long, env = "TENPO_CODABAR_CHECK")]
    pub codabar_check: Option<String>,
    /// How often to pull the hub's changes, in milliseconds (a sale pushes at once).
    #[arg(long, env = "TENPO_SYNC_INTERVAL_MS")]
    pub sync_interval_ms: Option<u64>,
    /// Points per member per business day this till may redeem while the hub is unreachable.
    #[arg(long, env = "TENPO_OFFLINE_REDEEM_LIMIT")]
    pub offline_redeem_limit: Option<i64>,
    /// Events per push to the hub, 1 to 1000 (`[sync] batch`) [default: 1000].
    #[arg(long, env = "TENPO_SYNC_BATCH")]
    pub sync_batch: Option<usize>,
    /// The LIFF app id in the kiosk's signup QR code (`[signup] liff_id`).
    #[arg(long, env = "TENPO_LIFF_ID")]
    pub liff_id: Option<String>,
}

/// Settings resolved from flags, environment, file and defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub store_id: String,
    pub terminal_id: String,
    pub time_zone: Tz,
    /// The local program (file or demo). An enrolled terminal may have none: the hub sends it.
    pub rules: Option<RuleSet>,
    pub demo: bool,
    pub log_format: Option<LogFormat>,
    pub scanners: Vec<ScannerConfig>,
    pub debounce: Duration,
    pub code_rules: CodeRules,
    /// Present once the terminal is enrolled with a hub (`tenpo-agent enroll`).
    pub credentials: Option<Credentials>,
    pub sync: SyncConfig,
    pub offline_redeem_limit: i64,
    pub signup: crate::signup::SignupConfig,
}

/// A setting that cannot be used, naming it (shared with the hub: `tenpo_support::config`).
pub use tenpo_support::config::ConfigError;
use tenpo_support::config::invalid;

/// Reads and parses a config file; unknown keys are errors.
pub fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    tenpo_support::config::read_toml(path)
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
            if demo {
                PathBuf::from(DEMO_DATA_DIR)
            } else {
                default_data_dir()
            }
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
                    None => Err(invalid(
                        key,
                        "is required for a terminal without a hub: enrol it \
                         (`tenpo-agent enroll --hub URL --code CODE`), or set it in the config \
                         (or run with --demo)",
                    )),
                }
            };
        let credentials =
            Credentials::load(&data_dir).map_err(|e| invalid("data_dir", e.to_string()))?;
        let (store_id, terminal_id) = match &credentials {
            // Enrolled: the hub decided who this terminal is.
            Some(c) => (c.store_id.clone(), c.terminal_id.clone()),
            None => (
                pick(&args.store_id, file.store_id, "store_id", "demo-store")?,
                pick(
                    &args.terminal_id,
                    file.terminal_id,
                    "terminal_id",
                    "demo-till-1",
                )?,
            ),
        };
        let time_zone =
            tenpo_support::config::time_zone(args.time_zone.clone().or(file.time_zone))?;
        let rules = match args.rules.clone().or(file.rules) {
            Some(path) => Some(read_rules(&path)?),
            None if demo => Some(RuleSet::demo()),
            None if credentials.is_some() => None,
            None => {
                return Err(invalid(
                    "rules",
                    "is required without a hub (enrol with `tenpo-agent enroll`, or run with --demo)",
                ));
            }
        };
        let interval_ms = args
            .sync_interval_ms
            .or(file.sync.interval_ms)
            .unwrap_or(15_000);
        if !(1_000..=3_600_000).contains(&interval_ms) {
            return Err(invalid(
                "sync.interval_ms",
                "must be between 1000 and 3600000",
            ));
        }
        let batch = args
            .sync_batch
            .or(file.sync.batch)
            .unwrap_or(tenpo_protocol::sync::MAX_PUSH_EVENTS);
        if !(1..=tenpo_protocol::sync::MAX_PUSH_EVENTS).contains(&batch) {
            return Err(invalid("sync.batch", "must be between 1 and 1000"));
        }
        let offline_redeem_limit = args
            .offline_redeem_limit
            .or(file.sync.offline_redeem_limit)
            .unwrap_or(1_000);
        if !(0..=10_000_000).contains(&offline_redeem_limit) {
            return Err(invalid(
                "sync.offline_redeem_limit",
                "must be between 0 and 10000000",
            ));
        }
        let scanners = if args.scanners.is_empty() {
            file.scanners
        } else {
            args.scanners
                .iter()
                .enumerate()
                .map(|(i, spec)| ScannerConfig::from_spec(spec, i + 1))
                .collect::<Result<_, _>>()
                .map_err(|e| invalid("scanner", e.to_string()))?
        };
        let mut names = std::collections::BTreeSet::new();
        for scanner in &scanners {
            scanner
                .check()
                .map_err(|e| invalid("scanners", e.to_string()))?;
            if !names.insert(scanner.name.as_str()) {
                return Err(invalid(
                    "scanners",
                    format!("two scanners are named {:?}", scanner.name),
                ));
            }
        }
        let debounce_ms = args.debounce_ms.or(file.scan.debounce_ms).unwrap_or(1_000);
        if debounce_ms > 60_000 {
            return Err(invalid("scan.debounce_ms", "must be at most 60000"));
        }
        let codabar_check = match &args.codabar_check {
            Some(text) => {
                serde_json::from_value(serde_json::Value::String(text.clone())).map_err(|_| {
                    invalid(
                        "scan.codabar_check",
                        format!(
                            "{text:?} is not none, mod16, mod10_luhn, mod11, seven_dr or seven_dsr"
                        ),
                    )
                })?
            }
            None => file.scan.codabar_check.unwrap_or(CodabarCheck::None),
        };
        let card_skew_secs = file.scan.card_skew_secs.unwrap_or(60);
        if !(0..=3_600).contains(&card_skew_secs) {
            return Err(invalid("scan.card_skew_secs", "must be between 0 and 3600"));
        }
        let mut card_keys = KeyRing::new();
        for entry in &file.scan.card_keys {
            let (id, key) = parse_card_key(entry).map_err(|p| invalid("scan.card_keys", p))?;
            card_keys
                .insert(id, key)
                .map_err(|e| invalid("scan.card_keys", e.to_string()))?;
        }
        let liff_id = args.liff_id.clone().or(file.signup.liff_id);
        if let Some(id) = &liff_id
            && (id.is_empty()
                || id.len() > 64
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            return Err(invalid(
                "signup.liff_id",
                format!("{id:?} is not a LIFF id like 1234567890-AbCdEfGh"),
            ));
        }
        let session_secs = file
            .signup
            .session_secs
            .unwrap_or(crate::signup::DEFAULT_SESSION_SECS);
        if !(60..=1_800).contains(&session_secs) {
            return Err(invalid(
                "signup.session_secs",
                "must be between 60 and 1800",
            ));
        }
        Ok(Settings {
            signup: crate::signup::SignupConfig {
                liff_id,
                session_secs,
            },
            data_dir,
            listen,
            store_id,
            terminal_id,
            time_zone,
            rules,
            demo,
            log_format: file.log_format,
            scanners,
            debounce: Duration::from_millis(debounce_ms),
            code_rules: CodeRules {
                codabar_check,
                card_keys,
                card_skew_secs,
            },
            credentials,
            sync: SyncConfig {
                interval: Duration::from_millis(interval_ms),
                batch,
                ..SyncConfig::default()
            },
            offline_redeem_limit,
        })
    }
}

/// `"7:BASE64"` → key id 7 and the 32-byte Ed25519 public key.
fn parse_card_key(entry: &str) -> Result<(u32, [u8; 32]), String> {
    use base64::Engine;
    let (id, key) = entry
        .split_once(':')
        .ok_or_else(|| format!("{entry:?} is not `key_id:base64`"))?;
    let id: u32 = id.parse().map_err(|_| format!("{id:?} is not a key id"))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(key)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(key))
        .map_err(|_| format!("key {id} is not base64"))?;
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|_| format!("key {id} is not 32 bytes"))?;
    Ok((id, key))
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
        assert_eq!(s.rules, Some(RuleSet::demo()));
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

    fn demo_args() -> SettingsArgs {
        SettingsArgs {
            demo: true,
            ..SettingsArgs::default()
        }
    }

    #[test]
    fn the_push_batch_size_has_a_flag_over_the_file() {
        let file = || parse("[sync]\nbatch = 200").unwrap_or_default();
        let from_file =
            Settings::from_parts(&demo_args(), file()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(from_file.sync.batch, 200);
        let flagged = SettingsArgs {
            demo: true,
            sync_batch: Some(50),
            ..SettingsArgs::default()
        };
        let s = Settings::from_parts(&flagged, file()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.sync.batch, 50);
        // Unset, a push carries as many events as the hub takes in one (a backlog goes in
        // fewer round trips and commits: docs/benchmarks.md).
        let unset = Settings::from_parts(&demo_args(), FileConfig::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(unset.sync.batch, tenpo_protocol::sync::MAX_PUSH_EVENTS);
        let bad = SettingsArgs {
            demo: true,
            sync_batch: Some(0),
            ..SettingsArgs::default()
        };
        assert!(matches!(
            Settings::from_parts(&bad, FileConfig::default()),
            Err(ConfigError::Invalid {
                key: "sync.batch",
                ..
            })
        ));
    }
}
