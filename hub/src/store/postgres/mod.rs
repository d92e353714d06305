//! The hub's store on PostgreSQL (docs/design.md §12): for a chain that runs several hub
//! processes on one database.
//!
//! Built so far: how the hub names its database without showing the password
//! ([`DatabaseUrl`]), its connection pool ([`pool`]), the schema's forward-only migrations
//! ([`migrate`], `schema.rs`), and [`PgStore`]'s `TillStore` (`store.rs`) and `AdminStore`
//! (`admin_api.rs`) halves. `LineStore` comes next; until it lands, `tenpo-hub serve` keeps to
//! SQLite.

mod admin;
mod admin_api;
mod catalog_store;
mod claim_ahead;
mod console;
mod console_store;
mod feed;
mod from_sqlite;
mod inspect;
mod line;
mod line_store;
mod outbox_pages;
#[cfg(test)]
mod plans;
mod privacy;
mod read_ahead;
mod schema;
mod staff_store;
mod statements;
mod store;
mod transaction;
mod wishes;

use std::fmt;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};

pub use from_sqlite::{TableMoved, move_from_sqlite};
pub use inspect::{Inspection, inspect};
pub use schema::CURRENT_VERSION;
pub use store::PgStore;

use super::StoreError;

/// The advisory lock every migration runs under, so that two hubs starting at once on one
/// database migrate it once ("tenpo" in ASCII).
const MIGRATION_LOCK: i64 = 0x74_656e_706f;

/// How long a request waits for a connection, or for PostgreSQL to accept one.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the hub's database is: a `postgres://` URL or PostgreSQL's `key=value` form. Shown
/// (in logs, errors, `Debug`) without its password.
#[derive(Clone)]
pub struct DatabaseUrl {
    config: Config,
    shown: String,
}

impl DatabaseUrl {
    /// Reads `text`; the problem, if any, never repeats the text (it may hold a password).
    pub fn parse(text: &str) -> Result<DatabaseUrl, String> {
        let mut config: Config = text.parse().map_err(|e: tokio_postgres::Error| {
            format!(
                "not a PostgreSQL connection string ({e}): write it as \
                 postgres://USER@HOST:PORT/DATABASE"
            )
        })?;
        if config.get_hosts().is_empty() {
            return Err("names no host: write it as postgres://USER@HOST:PORT/DATABASE".into());
        }
        // `postgres://u:p@ss@db/…` reads as host `ss@db`: a password with `@` in it, unescaped,
        // whose tail would then show wherever the host does.
        let odd_host = config.get_hosts().iter().any(|h| match h {
            Host::Tcp(name) => name.contains('@'),
            #[cfg(unix)]
            Host::Unix(_) => false,
        });
        if odd_host {
            return Err(
                "has an `@` in its host: write it as postgres://USER@HOST:PORT/DATABASE, with \
                 a password's `@` as `%40` (better, keep the password in its file)"
                    .into(),
            );
        }
        if config.get_user().is_none_or(str::is_empty) {
            return Err("names no user: write it as postgres://USER@HOST:PORT/DATABASE".into());
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("tenpo-hub");
        let shown = shown(&config);
        Ok(DatabaseUrl { config, shown })
    }

    /// Sets the password (from a file or the environment, never the command line).
    pub fn with_password(mut self, password: &str) -> DatabaseUrl {
        self.config.password(password);
        self.shown = shown(&self.config);
        self
    }

    /// The driver's settings (password included): for connecting, never for showing.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

/// `postgres://user:***@host:port/database`: what a person needs to tell databases apart.
fn shown(config: &Config) -> String {
    let user = config.get_user().unwrap_or("");
    let password = if config.get_password().is_some() {
        ":***"
    } else {
        ""
    };
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let name = match h {
                Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                Host::Unix(path) => path.display().to_string(),
            };
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            format!("{name}:{port}")
        })
        .collect();
    let database = config.get_dbname().unwrap_or(user);
    format!("postgres://{user}{password}@{}/{database}", hosts.join(","))
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl").field(&self.shown).finish()
    }
}

/// A pool of at most `size` connections to `url`; none is opened until one is asked for.
pub fn pool(url: &DatabaseUrl, size: usize) -> Result<Pool, StoreError> {
    let manager = Manager::from_config(
        url.config.clone(),
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(CONNECT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|e| StoreError::Database(format!("cannot set up the pool for {url}: {e}")))
}

/// What went wrong, in PostgreSQL's words where it gave some.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

fn database(e: tokio_postgres::Error) -> StoreError {
    StoreError::from(e)
}

/// PostgreSQL's errors, as the store's own: a connection that is gone is
/// [`StoreError::Unavailable`], the rest [`StoreError::Database`] with PostgreSQL's words.
impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        if e.is_closed() || (e.as_db_error().is_none() && is_io(&e)) {
            return StoreError::Unavailable(e.to_string());
        }
        if is_contention(&e) {
            return StoreError::Contention(describe(&e));
        }
        // The server shutting down or refusing new work (SQLSTATE class 57, 08).
        if let Some(db) = e.as_db_error()
            && (db.code().code().starts_with("57") || db.code().code().starts_with("08"))
        {
            return StoreError::Unavailable(describe(&e));
        }
        StoreError::Database(describe(&e))
    }
}

fn is_io(e: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// A connection from the pool; none to be had in time is [`StoreError::Unavailable`].
impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> StoreError {
        match e {
            deadpool_postgres::PoolError::Backend(e) => StoreError::from(e),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

/// Whether a transaction failed only because another one, at the same time, took what it
/// needed (a serialization failure, a deadlock, the same new row): run again, it succeeds.
fn is_contention(e: &tokio_postgres::Error) -> bool {
    e.as_db_error()
        .is_some_and(|db| matches!(db.code().code(), "40001" | "40P01" | "23505"))
}

/// Brings the database up to [`CURRENT_VERSION`], one migration per transaction, each under
/// the migration lock (another hub migrating waits, then finds the work done). A database
/// newer than this binary is refused untouched. Answers the version found.
pub async fn migrate(client: &mut Client) -> Result<u32, StoreError> {
    migrate_to(client, CURRENT_VERSION).await
}

/// [`migrate`], stopping at version `target` (to test each migration from the one before).
pub async fn migrate_to(client: &mut Client, target: u32) -> Result<u32, StoreError> {
    let mut found = None;
    loop {
        let tx = client.transaction().await.map_err(database)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(database)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS tenpo_schema (version integer NOT NULL)")
            .await
            .map_err(database)?;
        let version: i32 = tx
            .query_opt("SELECT version FROM tenpo_schema", &[])
            .await
            .map_err(database)?
            .map_or(0, |row| row.get(0));
        let version = u32::try_from(version).map_err(|_| StoreError::Corrupt {
            what: "schema version",
            detail: version.to_string(),
        })?;
        let first = *found.get_or_insert(version);
        if version > CURRENT_VERSION {
            return Err(StoreError::SchemaTooNew {
                found: version,
                known: CURRENT_VERSION,
            });
        }
        let step = match schema::MIGRATIONS.get(version as usize) {
            Some(step) if version < target => Some(step),
            _ => None,
        };
        let Some(step) = step else {
            tx.commit().await.map_err(database)?;
            return Ok(first);
        };
        tx.batch_execute(step).await.map_err(|e| {
            StoreError::Database(format!(
                "migration to schema version {} failed: {}",
                version + 1,
                describe(&e)
            ))
        })?;
        let next = i32::try_from(version + 1).unwrap_or(i32::MAX);
        tx.execute("DELETE FROM tenpo_schema", &[])
            .await
            .map_err(database)?;
        tx.execute("INSERT INTO tenpo_schema (version) VALUES ($1)", &[&next])
            .await
            .map_err(database)?;
        tx.commit().await.map_err(database)?;
        tracing::info!(version = next, "PostgreSQL schema migrated");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_password_is_never_shown() {
        let url = DatabaseUrl::parse("postgres://tenpo:s3cret-pw@db.example:6543/hub").unwrap();
        assert_eq!(url.to_string(), "postgres://tenpo:***@db.example:6543/hub");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(url.config().get_password(), Some(&b"s3cret-pw"[..]));
        let kv = DatabaseUrl::parse("host=127.0.0.1 port=55432 user=tenpo dbname=hub")
            .unwrap()
            .with_password("from-a-file");
        assert_eq!(kv.to_string(), "postgres://tenpo:***@127.0.0.1:55432/hub");
        let plain = DatabaseUrl::parse("postgres://tenpo@localhost").unwrap();
        assert_eq!(plain.to_string(), "postgres://tenpo@localhost:5432/tenpo");
    }

    #[test]
    fn a_bad_url_says_how_to_write_one_without_repeating_it() {
        for bad in [
            "postgres://tenpo:s3cret@db.example:notaport/hub",
            "postgres://tenpo:s3cret@tail@db.example/hub",
            "mysql://tenpo:s3cret@db/hub",
            "postgres://:s3cret@db.example/hub",
        ] {
            let e = DatabaseUrl::parse(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} was taken"));
            assert!(!e.contains("s3cret"), "{e}");
            assert!(e.contains("postgres://USER@HOST:PORT/DATABASE"), "{e}");
        }
    }
}
