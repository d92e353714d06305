//! `tenpo-hub serve` settings: one TOML file, and a flag and an environment variable for each
//! setting. Precedence: flag or environment, then the file, then the default. Unknown keys and
//! bad values are errors that name the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use clap::Args;
use serde::Deserialize;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7400";
pub const DEFAULT_DATA_DIR: &str = "/var/lib/tenpo-hub";
pub use tenpo_support::config::DEFAULT_TIME_ZONE;
/// The database file inside the data directory.
pub const DB_FILE: &str = "hub.db";
/// Where `serve` keeps the admin token it made, when none is given.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";
/// The environment variable holding the admin token (for `serve` and the admin commands).
pub const ADMIN_TOKEN_ENV: &str = "TENPO_HUB_ADMIN_TOKEN";
/// Shortest admin token accepted.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

/// `--log-format` / `log_format` (shared with the other binary: `tenpo_support::logging`).
pub use tenpo_support::logging::LogFormat;

/// The config file. Every key is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    /// IANA time zone of business dates (import dates, coupon validity), and of every store not
    /// in `[store_time_zones]`.
    pub time_zone: Option<String>,
    /// Stores in another time zone than `time_zone`: store id = IANA time zone. Their members'
    /// daily scan and quiet hours follow it.
    #[serde(default)]
    pub store_time_zones: std::collections::BTreeMap<String, String>,
    /// A file holding the admin token.
    pub admin_token_file: Option<PathBuf>,
    /// A file holding the catalogue feed's token: `PUT /v1/catalog/...` is off without it.
    pub catalog_token_file: Option<PathBuf>,
    /// How long new enrolment codes are valid, in hours (default 24).
    pub enrollment_code_hours: Option<u32>,
    pub log_format: Option<LogFormat>,
    /// Signup with LINE (the `[line]` table).
    #[serde(default)]
    pub line: LineSection,
    /// When a till's outcome is held for review (the `[review]` table).
    #[serde(default)]
    pub review: ReviewSection,
    /// Which messages members get (the `[scenarios]` table).
    #[serde(default)]
    pub scenarios: crate::scenarios::config::ScenariosSection,
    /// PostgreSQL instead of the embedded SQLite file (the `[database]` table).
    #[serde(default)]
    pub database: DatabaseSection,
    /// How members' wishes notify them (the `[wishes]` table).
    #[serde(default)]
    pub wishes: crate::wishes::WishesSection,
    /// Email to members through an SMTP server (the `[email]` table).
    #[serde(default)]
    pub email: crate::email::EmailSection,
    /// Staff sessions and lock-out in the console (the `[console]` table).
    #[serde(default)]
    pub console: crate::console::ConsoleSection,
    /// What erasing a member does with their points (the `[privacy]` table).
    #[serde(default)]
    pub privacy: crate::privacy::PrivacySection,
}

/// The `[database]` table: a PostgreSQL database that several hub processes share
/// (docs/hub.md). Without it the hub keeps its embedded SQLite file in `data_dir`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    /// `postgres://USER@HOST:PORT/DATABASE` (a password here is taken, but keep it in
    /// `password_file`: the config file is read by more people than the secret should be).
    pub url: Option<String>,
    /// A file holding the database user's password.
    pub password_file: Option<PathBuf>,
    /// Connections this hub process keeps at most (default 16).
    pub connections: Option<u32>,
}

/// Where a hub keeps its data.
#[derive(Debug, Clone)]
pub enum Database {
    /// The embedded SQLite file, `<data_dir>/hub.db` (one hub process).
    Sqlite,
    /// A PostgreSQL database (any number of hub processes).
    Postgres {
        url: Box<crate::store::postgres::DatabaseUrl>,
        connections: usize,
    },
}

/// The environment variable naming the hub's PostgreSQL database.
pub const DATABASE_ENV: &str = "TENPO_HUB_DATABASE_URL";
/// Connections a hub process keeps to PostgreSQL unless told.
pub const DEFAULT_CONNECTIONS: u32 = 16;

/// The `[review]` table: how far a till's outcome may exceed the hub's own evaluation of the
/// same sale before it is held for a person instead of applied (docs/design.md §7).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewSection {
    /// Points earned beyond the hub's figure, per event (default 2000).
    pub max_extra_points: Option<i64>,
    /// Yen off (points and coupons) beyond the hub's figure, per event (default 5000).
    pub max_extra_yen: Option<i64>,
}

/// The `[line]` table: the LINE Login channel and LIFF app that signup uses.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineSection {
    /// The LINE Login channel id: the `aud` of every ID token accepted.
    pub channel_id: Option<String>,
    /// The LIFF app id of the signup page.
    pub liff_id: Option<String>,
    /// LINE's API base (default `https://api.line.me`).
    pub api_base: Option<String>,
    /// Stamps a new member starts with (default 1; 0 for none).
    pub welcome_stamps: Option<u32>,
    /// A file holding the Messaging API channel's secret: webhooks are checked with it.
    pub channel_secret_file: Option<PathBuf>,
    /// A file holding the Messaging API channel's access token: messages are sent with it.
    pub access_token_file: Option<PathBuf>,
    /// The rich menu members get (`richmenu-…`).
    pub member_rich_menu_id: Option<String>,
    /// Where the LIFF page loads the LIFF SDK from (default LINE's; the stand-in's in tests and
    /// demos).
    pub liff_sdk_url: Option<String>,
    /// Requests to LINE per second at most (default 100; LINE allows 2,000 pushes a second).
    pub send_rate_per_second: Option<u32>,
    /// When less than this share of the month's quota is left, only transactional messages go
    /// (default 10).
    pub quota_reserve_percent: Option<u8>,
}

/// Flags of `tenpo-hub serve`.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// The config file (TOML).
    #[arg(long, env = "TENPO_HUB_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the database lives [default: /var/lib/tenpo-hub].
    #[arg(long, env = "TENPO_HUB_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:7400]; put TLS in front for other machines.
    #[arg(long, env = "TENPO_HUB_LISTEN")]
    pub listen: Option<String>,
    /// IANA time zone of business dates [default: Asia/Tokyo].
    #[arg(long, env = "TENPO_HUB_TIME_ZONE")]
    pub time_zone: Option<String>,
    /// A file holding the admin token (else $TENPO_HUB_ADMIN_TOKEN, else <data-dir>/admin-token,
    /// made on first start).
    #[arg(long, env = "TENPO_HUB_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// A file holding the catalogue feed's token (`catalog_token_file`); without it the feed's
    /// endpoints are off.
    #[arg(long, env = CATALOG_TOKEN_FILE_ENV)]
    pub catalog_token_file: Option<PathBuf>,
    /// The LINE Login channel id for signup (`[line] channel_id`).
    #[arg(long, env = "TENPO_HUB_LINE_CHANNEL_ID")]
    pub line_channel_id: Option<String>,
    /// The LIFF app id of the signup page (`[line] liff_id`).
    #[arg(long, env = "TENPO_HUB_LIFF_ID")]
    pub liff_id: Option<String>,
    /// LINE's API base (`[line] api_base`) [default: https://api.line.me].
    #[arg(long, env = "TENPO_HUB_LINE_API")]
    pub line_api: Option<String>,
    /// A file holding the Messaging API channel secret (`[line] channel_secret_file`).
    #[arg(long, env = "TENPO_HUB_LINE_CHANNEL_SECRET_FILE")]
    pub line_channel_secret_file: Option<PathBuf>,
    /// A file holding the Messaging API access token (`[line] access_token_file`).
    #[arg(long, env = "TENPO_HUB_LINE_ACCESS_TOKEN_FILE")]
    pub line_access_token_file: Option<PathBuf>,
    /// Points a till may give beyond the hub's evaluation before the sale is held for review
    /// (`[review] max_extra_points`) [default: 2000].
    #[arg(long, env = "TENPO_HUB_REVIEW_MAX_EXTRA_POINTS")]
    pub review_max_extra_points: Option<i64>,
    /// Yen a till may take off beyond the hub's evaluation before the sale is held for review
    /// (`[review] max_extra_yen`) [default: 5000].
    #[arg(long, env = "TENPO_HUB_REVIEW_MAX_EXTRA_YEN")]
    pub review_max_extra_yen: Option<i64>,
    /// Keep the data in PostgreSQL (`[database] url`): postgres://USER@HOST:PORT/DATABASE,
    /// without its password (a command line shows in `ps`; give it in the environment variable
    /// or in --database-password-file).
    #[arg(long, env = DATABASE_ENV)]
    pub database: Option<String>,
    /// A file holding the PostgreSQL password (`[database] password_file`).
    #[arg(long, env = "TENPO_HUB_DATABASE_PASSWORD_FILE")]
    pub database_password_file: Option<PathBuf>,
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub time_zone: Tz,
    /// `time_zone` and the stores elsewhere.
    pub zones: crate::scenarios::zones::Zones,
    pub admin_token_file: Option<PathBuf>,
    /// The catalogue feed's token, when the feed is on.
    pub catalog_token: Option<CatalogToken>,
    pub enrollment_code_hours: u32,
    pub log_format: Option<LogFormat>,
    pub line: crate::signup::LineSettings,
    /// The official account (the Messaging API channel).
    pub messaging: crate::line::MessagingSettings,
    pub review: crate::review::ReviewLimits,
    pub scenarios: crate::scenarios::ScenarioSettings,
    pub database: Database,
    /// How wishes notify (which channels are set up is decided when the hub starts).
    pub wishes: crate::wishes::WishSettings,
    /// The SMTP server members' email goes through; `None`: no email.
    pub email: Option<crate::email::EmailSettings>,
    /// Staff sessions and lock-out in the console.
    pub console: crate::console::ConsoleSettings,
    /// What erasing a member does with their points.
    pub privacy: crate::privacy::PrivacySettings,
}

/// A setting that cannot be used, naming it (shared with the agent: `tenpo_support::config`).
pub use tenpo_support::config::ConfigError;
use tenpo_support::config::invalid;

/// Reads and parses a config file; unknown keys are errors naming the key.
pub fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    tenpo_support::config::read_toml(path)
}

impl Settings {
    pub fn resolve(args: &ServeArgs) -> Result<Settings, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        Settings::from_parts(args, file)
    }

    pub fn from_parts(args: &ServeArgs, file: FileConfig) -> Result<Settings, ConfigError> {
        let listen_text = args
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen = listen_text.parse().map_err(|_| {
            invalid(
                "listen",
                format!("{listen_text:?} is not an address like {DEFAULT_LISTEN}"),
            )
        })?;
        let time_zone =
            tenpo_support::config::time_zone(args.time_zone.clone().or(file.time_zone))?;
        let mut stores = std::collections::BTreeMap::new();
        for (store, zone) in &file.store_time_zones {
            tenpo_protocol::agent::check_id("store id", store)
                .map_err(|e| invalid("store_time_zones", format!("{store:?}: {e}")))?;
            let tz: Tz = zone.parse().map_err(|_| {
                invalid(
                    "store_time_zones",
                    format!(
                        "store {store:?}: {zone:?} is not an IANA time zone like \
                         {DEFAULT_TIME_ZONE}"
                    ),
                )
            })?;
            stores.insert(store.clone(), tz);
        }
        let zones = crate::scenarios::zones::Zones::new(time_zone, &stores);
        let hours = file.enrollment_code_hours.unwrap_or(24);
        if !(1..=24 * 30).contains(&hours) {
            return Err(invalid(
                "enrollment_code_hours",
                "must be between 1 and 720",
            ));
        }
        let line = crate::signup::LineSettings {
            channel_id: args.line_channel_id.clone().or(file.line.channel_id),
            liff_id: args.liff_id.clone().or(file.line.liff_id),
            api_base: args
                .line_api
                .clone()
                .or(file.line.api_base)
                .unwrap_or_else(|| crate::signup::DEFAULT_LINE_API.into()),
            welcome_stamps: file
                .line
                .welcome_stamps
                .unwrap_or(crate::signup::DEFAULT_WELCOME_STAMPS),
            liff_sdk_url: file
                .line
                .liff_sdk_url
                .clone()
                .unwrap_or_else(|| crate::signup::page::LIFF_SDK.into()),
        };
        if !(line.liff_sdk_url.starts_with("https://") || line.liff_sdk_url.starts_with("http://"))
        {
            return Err(invalid("line.liff_sdk_url", "must be an http(s):// URL"));
        }
        if let Some(id) = &line.channel_id
            && (id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(invalid("line.channel_id", "must be the channel's digits"));
        }
        if !(line.api_base.starts_with("https://") || line.api_base.starts_with("http://")) {
            return Err(invalid("line.api_base", "must be an http(s):// URL"));
        }
        if line.welcome_stamps > 100 {
            return Err(invalid("line.welcome_stamps", "must be at most 100"));
        }
        let secret = |what, path: Option<PathBuf>| {
            path.map(|p| tenpo_support::config::read_secret_file(what, &p))
                .transpose()
        };
        let scenarios = crate::scenarios::config::resolve(file.scenarios)?;
        let wishes = crate::wishes::resolve(file.wishes)?;
        let console = crate::console::resolve(file.console)?;
        let privacy = crate::privacy::resolve(file.privacy);
        let messaging = crate::line::MessagingSettings {
            channel_secret: secret(
                "LINE channel secret",
                args.line_channel_secret_file
                    .clone()
                    .or(file.line.channel_secret_file),
            )?,
            access_token: secret(
                "LINE access token",
                args.line_access_token_file
                    .clone()
                    .or(file.line.access_token_file),
            )?,
            member_rich_menu_id: file.line.member_rich_menu_id,
            sender: {
                let defaults = crate::line::sender::SenderSettings::default();
                let rate = file
                    .line
                    .send_rate_per_second
                    .unwrap_or(defaults.rate_per_second.get());
                let Some(rate_per_second) =
                    std::num::NonZeroU32::new(rate).filter(|r| r.get() <= 2000)
                else {
                    return Err(invalid(
                        "line.send_rate_per_second",
                        "must be 1 to 2000 (LINE's limit for pushes)",
                    ));
                };
                let reserve_percent = file
                    .line
                    .quota_reserve_percent
                    .unwrap_or(defaults.reserve_percent);
                if reserve_percent > 100 {
                    return Err(invalid("line.quota_reserve_percent", "must be 0 to 100"));
                }
                crate::line::sender::SenderSettings {
                    rate_per_second,
                    reserve_percent,
                    marketing_per_week: scenarios.marketing_per_week,
                    quiet_hours: scenarios.quiet_hours,
                    zones: zones.clone(),
                    ..defaults
                }
            },
        };
        if let Some(menu) = &messaging.member_rich_menu_id
            && !(menu.starts_with("richmenu-")
                && menu.len() <= 100
                && menu.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            return Err(invalid(
                "line.member_rich_menu_id",
                "must be a rich menu id like richmenu-88c05ef6921ae53f8b58a25f3a65faf7",
            ));
        }
        let defaults = crate::review::ReviewLimits::default();
        let review = crate::review::ReviewLimits {
            max_extra_points: args
                .review_max_extra_points
                .or(file.review.max_extra_points)
                .unwrap_or(defaults.max_extra_points),
            max_extra_yen: args
                .review_max_extra_yen
                .or(file.review.max_extra_yen)
                .unwrap_or(defaults.max_extra_yen),
        };
        if review.max_extra_points < 0 {
            return Err(invalid("review.max_extra_points", "must be 0 or more"));
        }
        if review.max_extra_yen < 0 {
            return Err(invalid("review.max_extra_yen", "must be 0 or more"));
        }
        let database = database(args, file.database)?;
        let email = crate::email::settings::resolve(file.email)?;
        let catalog_token = args
            .catalog_token_file
            .clone()
            .or(file.catalog_token_file)
            .map(|path| CatalogToken::read(&path))
            .transpose()?;
        Ok(Settings {
            catalog_token,
            console,
            privacy,
            database,
            email,
            review,
            scenarios,
            wishes,
            line,
            messaging,
            data_dir: args
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            listen,
            time_zone,
            zones,
            admin_token_file: args.admin_token_file.clone().or(file.admin_token_file),
            enrollment_code_hours: hours,
            log_format: file.log_format,
        })
    }
}

/// The environment variable naming the catalogue token's file (for `serve` and `catalog
/// import`).
pub const CATALOG_TOKEN_FILE_ENV: &str = "TENPO_HUB_CATALOG_TOKEN_FILE";
/// The environment variable holding the catalogue token itself (for `catalog import`).
pub const CATALOG_TOKEN_ENV: &str = "TENPO_HUB_CATALOG_TOKEN";

/// The catalogue feed's token (`catalog_token_file`), held as its SHA-256 only: the retailer's
/// stock system's credential, neither a terminal's nor the admin's. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct CatalogToken {
    /// Where it was read from (what the log and errors name).
    pub path: PathBuf,
    /// SHA-256 of the token.
    pub hash: [u8; 32],
}

impl std::fmt::Debug for CatalogToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogToken")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl CatalogToken {
    /// Reads the token file (first line, trimmed), held to the admin token's rule.
    pub fn read(path: &Path) -> Result<CatalogToken, ConfigError> {
        Ok(CatalogToken {
            path: path.to_owned(),
            hash: crate::secrets::sha256(read_catalog_token_file(path)?.as_bytes()),
        })
    }
}

/// Reads a catalogue token file (first line, trimmed): at least 16 printable characters.
pub fn read_catalog_token_file(path: &Path) -> Result<String, ConfigError> {
    let token = tenpo_support::config::read_secret_file("catalogue token", path)?;
    if token.len() < MIN_ADMIN_TOKEN_LEN {
        return Err(ConfigError::Secret {
            what: "catalogue token",
            path: path.to_owned(),
            problem: format!(
                "must be at least {MIN_ADMIN_TOKEN_LEN} printable characters without spaces"
            ),
        });
    }
    Ok(token)
}

/// Checks a token's shape.
fn check_token(path: &Path, token: &str) -> Result<(), ConfigError> {
    if token.len() < MIN_ADMIN_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConfigError::Secret {
            what: "admin token",
            path: path.to_owned(),
            problem: format!(
                "must be at least {MIN_ADMIN_TOKEN_LEN} printable characters without spaces"
            ),
        });
    }
    Ok(())
}

/// Reads an admin token file (first line, trimmed), held to the admin token's rule.
pub fn read_token_file(path: &Path) -> Result<String, ConfigError> {
    let token = tenpo_support::config::read_secret_file("admin token", path)?;
    check_token(path, &token)?;
    Ok(token)
}

/// The admin token `serve` uses: from `file`, else from `env_token`, else from
/// `<data_dir>/admin-token`, made (mode 0600) when missing. The token itself is never logged.
pub fn admin_token(
    file: Option<&Path>,
    env_token: Option<String>,
    data_dir: &Path,
) -> Result<(String, String), ConfigError> {
    if let Some(path) = file {
        return Ok((read_token_file(path)?, format!("file {}", path.display())));
    }
    if let Some(token) = env_token.map(|t| t.trim().to_owned()) {
        check_token(Path::new(ADMIN_TOKEN_ENV), &token)?;
        return Ok((token, format!("${ADMIN_TOKEN_ENV}")));
    }
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    if path.exists() {
        return Ok((read_token_file(&path)?, format!("file {}", path.display())));
    }
    let make_err = |problem: String| ConfigError::Secret {
        what: "admin token",
        path: path.clone(),
        problem,
    };
    let token =
        hex::encode(crate::secrets::random_bytes::<32>().map_err(|e| make_err(e.to_string()))?);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    let mut f = options
        .open(&path)
        .map_err(|e| make_err(format!("cannot create it: {e}")))?;
    f.write_all(format!("{token}\n").as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| make_err(format!("cannot write it: {e}")))?;
    Ok((token, format!("file {} (made now)", path.display())))
}

/// The database a hub uses: PostgreSQL when a URL is given (flag, environment or file), with
/// the password from its file; else the embedded SQLite file.
fn database(args: &ServeArgs, file: DatabaseSection) -> Result<Database, ConfigError> {
    let from_flag = args.database.is_some();
    let Some(text) = args.database.clone().or(file.url) else {
        if file.password_file.is_some() || args.database_password_file.is_some() {
            return Err(invalid(
                "database.password_file",
                "is set but no database url is: set [database] url too",
            ));
        }
        return Ok(Database::Sqlite);
    };
    // A flag's value shows in `ps` to every user of the machine; the environment does not.
    let on_command_line = from_flag && std::env::var(DATABASE_ENV).ok().as_ref() != Some(&text);
    let password_file = args.database_password_file.clone().or(file.password_file);
    let url = database_url(
        "database.url",
        &text,
        on_command_line,
        password_file.as_deref(),
    )?;
    let connections = file.connections.unwrap_or(DEFAULT_CONNECTIONS);
    if !(1..=1000).contains(&connections) {
        return Err(invalid("database.connections", "must be 1 to 1000"));
    }
    Ok(Database::Postgres {
        url: Box::new(url),
        connections: connections as usize,
    })
}

/// A PostgreSQL URL given as `key`, with the password from `password_file`. One given on the
/// command line may not hold a password itself: `ps` would show it to every user.
pub fn database_url(
    key: &'static str,
    text: &str,
    on_command_line: bool,
    password_file: Option<&Path>,
) -> Result<crate::store::postgres::DatabaseUrl, ConfigError> {
    let url = crate::store::postgres::DatabaseUrl::parse(text).map_err(|e| invalid(key, e))?;
    if on_command_line && url.config().get_password().is_some() {
        return Err(invalid(
            key,
            "holds a password on the command line, where `ps` shows it: give the password in \
             its file instead (--database-password-file or [database] password_file; for \
             `migrate`, --to-password-file)",
        ));
    }
    Ok(match password_file {
        Some(path) => url.with_password(&tenpo_support::config::read_secret_file(
            "PostgreSQL password",
            path,
        )?),
        None => url,
    })
}
