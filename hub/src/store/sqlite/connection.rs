//! How the SQLite store holds its file: opening it (one hub per database, a private file,
//! WAL and the checkpointer, migrations, what a first start makes), the writer and the pool of
//! readers, a transaction per call with panics contained, and backups.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};
use tenpo_loyalty::RuleSet;
use tenpo_support::checkpointer::Checkpointer;

use super::{SqliteStore, admin, feed, members, outbox, schema};
use crate::store::StoreError;
use crate::store::outbox::Planner;

/// The writer's page cache, in KiB (SQLite's negative `cache_size`): 32 MB.
const WRITER_CACHE_KIB: i64 = -32_768;

/// Read connections kept open for reuse.
const READERS_KEPT: usize = 4;

#[derive(Debug)]
pub(super) struct Inner {
    /// Copies the WAL into the file off the writer's path, so a request or a scan page carries
    /// a checkpoint only if this falls behind (the writer's fallback). First, so it is the
    /// first to stop when the store is dropped, while the lock below is still held.
    pub(super) _checkpointer: Checkpointer,
    pub(super) path: PathBuf,
    /// An exclusive lock on `<database>.lock` for as long as the store is open: one hub per
    /// database (it keeps rule sets in memory, and feed runs assume one hub at a time).
    pub(super) _lock: std::fs::File,
    pub(super) writer: Mutex<Writer>,
    pub(super) readers: Mutex<Vec<Connection>>,
    /// Every rule-set version loaded (they never change once loaded).
    pub(super) rules: RwLock<BTreeMap<u32, Arc<RuleSet>>>,
    /// Names this database in feed cursors.
    pub(super) epoch: String,
    /// Names this run of the hub in feed cursors (recorded in `feed_runs`).
    pub(super) run: String,
    /// The scenarios: which messages a cause brings (none until set).
    pub(super) planner: RwLock<Option<Arc<dyn Planner>>>,
    /// How wishes notify (`CatalogStore::set_wish_settings`).
    pub(super) wishes: RwLock<Arc<crate::wishes::WishSettings>>,
}

/// How often the checkpoint thread looks at the WAL; it copies it into the file from 1,000
/// pages (`tenpo_support::checkpointer::COPY_FROM_PAGES`).
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// WAL, `synchronous=FULL`, foreign keys, the busy timeout: as the agent opens its file.
fn configure(conn: &mut Connection) -> Result<(), rusqlite::Error> {
    tenpo_support::sqlite::configure(conn)
}

/// Creates the database file readable by the hub's user only (it holds the signing key and
/// personal data).
fn create_private(path: &Path) -> Result<(), std::io::Error> {
    if path.exists() {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map(drop)
}

/// Takes `<database>.lock` (a file beside the database, not the database itself, whose locks
/// are SQLite's own).
fn lock(db: &Path) -> Result<std::fs::File, StoreError> {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    let path = PathBuf::from(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse {
            path: db.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(StoreError::Io { path, source }),
    }
}

/// Copies the database at `db` to the new file `to` (SQLite's `VACUUM INTO`): one consistent
/// snapshot, taken while a hub may be serving it, without its lock.
pub fn backup(db: &Path, to: &Path) -> Result<(), StoreError> {
    if to.exists() {
        return Err(StoreError::Invalid(format!(
            "{} already exists: give a new file name",
            to.display()
        )));
    }
    let conn =
        Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|source| {
            StoreError::Open {
                path: db.to_owned(),
                detail: source.to_string(),
            }
        })?;
    tenpo_support::sqlite::configure_reader(&conn)?;
    create_private(to).map_err(|source| StoreError::Io {
        path: to.to_owned(),
        source,
    })?;
    let copied = to
        .to_str()
        .ok_or_else(|| StoreError::Invalid(format!("{} is not a UTF-8 path", to.display())))
        .and_then(|path| Ok(conn.execute("VACUUM INTO ?1", [path])?));
    if copied.is_err() {
        let _ = std::fs::remove_file(to);
    }
    copied.map(drop)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, migrates it, and makes the feed
    /// epoch and the first card signing key on first start.
    pub fn open(path: &Path, now: DateTime<Utc>) -> Result<SqliteStore, StoreError> {
        let open_err = |source: rusqlite::Error| StoreError::Open {
            path: path.to_owned(),
            detail: source.to_string(),
        };
        create_private(path).map_err(|source| StoreError::Io {
            path: path.to_owned(),
            source,
        })?;
        let lock = lock(path)?;
        let mut writer = Connection::open(path).map_err(open_err)?;
        configure(&mut writer).map_err(open_err)?;
        // Room for a scan page's dirty pages (about 3 MB): a smaller cache spills them to the
        // WAL mid-transaction, and writes them again at the commit.
        writer
            .pragma_update(None, "cache_size", WRITER_CACHE_KIB)
            .map_err(open_err)?;
        schema::migrate(&mut writer)?;
        let (epoch, run) = start(&mut writer, now)?;
        let rules = admin::all_rules(&writer)?;
        let checkpointer =
            Checkpointer::start(path, &mut writer, CHECKPOINT_EVERY).map_err(|e| {
                StoreError::Open {
                    path: path.to_owned(),
                    detail: e.to_string(),
                }
            })?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                _checkpointer: checkpointer,
                path: path.to_owned(),
                _lock: lock,
                writer: Mutex::new(Writer {
                    conn: writer,
                    durability: Durability::Full,
                }),
                readers: Mutex::new(Vec::new()),
                rules: RwLock::new(rules),
                epoch,
                run,
                planner: RwLock::new(None),
                wishes: RwLock::new(Arc::default()),
            }),
        })
    }
}

/// Makes what a new database needs (its epoch and a card signing key) and records this run of
/// the hub. Returns the epoch and the run.
fn start(conn: &mut Connection, now: DateTime<Utc>) -> Result<(String, String), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let epoch: Option<String> = tx
        .query_row("SELECT value FROM meta WHERE key = 'epoch'", [], |r| {
            r.get(0)
        })
        .optional()?;
    let epoch = match epoch {
        Some(e) => e,
        None => {
            let e = hex::encode(crate::secrets::random_bytes::<8>()?);
            tx.execute("INSERT INTO meta (key, value) VALUES ('epoch', ?1)", [&e])?;
            e
        }
    };
    let keys: i64 = tx.query_row(
        "SELECT COUNT(*) FROM signing_keys WHERE active = 1",
        [],
        |r| r.get(0),
    )?;
    if keys == 0 {
        let secret = crate::secrets::random_bytes::<32>()?;
        let signing = ed25519_dalek::SigningKey::from_bytes(&secret);
        let public = signing.verifying_key().to_bytes();
        tx.execute(
            "INSERT INTO signing_keys (public_key, secret_key, active, created_at)
             VALUES (?1, ?2, 1, ?3)",
            rusqlite::params![public.as_slice(), secret.as_slice(), now.to_rfc3339()],
        )?;
        let key_id = tx.last_insert_rowid();
        members::log_change(&tx, "signing_key", &key_id.to_string())?;
        tracing::info!(key_id, "made a new card signing key");
    }
    let run = hex::encode(crate::secrets::random_bytes::<8>()?);
    feed::record_run(&tx, &run, now)?;
    let released = outbox::release_leases(&tx)?;
    if released > 0 {
        // Sent again with their retry keys: LINE answers 409 for any it had accepted.
        tracing::info!(
            released,
            "messages claimed by the previous run are due again"
        );
    }
    tx.commit()?;
    Ok((epoch, run))
}

/// Runs `f`, turning a panic (a bug) into an error for this call alone.
fn contain_panic<T>(f: impl FnOnce() -> T) -> Result<T, StoreError> {
    tenpo_support::panic::contained(f).map_err(|what| {
        tracing::error!(panic = %what, "a request hit a bug in the hub; rolled back");
        StoreError::Bug(what)
    })
}

/// The one connection that writes, and the sync level set on it now (`configure` sets FULL).
#[derive(Debug)]
pub(super) struct Writer {
    conn: Connection,
    durability: Durability,
}

/// Whether a write's commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Durability {
    /// `FULL`: a 2xx means it is on disk.
    Full,
    /// `NORMAL`: for work done again if lost (see [`Inner::write_redone_if_lost`]).
    Normal,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        }
    }
}

impl Inner {
    /// Takes a lock even if a thread panicked while holding it: what it guards is a connection
    /// whose transaction rolled back when the panic dropped it (checked below), or a pool of
    /// such connections. A request that fails, fails alone; it never stops the next one.
    pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|poisoned| {
            tracing::error!("a database lock was held by a thread that panicked; taken over");
            m.clear_poison();
            poisoned.into_inner()
        })
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction: commits if it returns `Ok`, and the
    /// commit waits for the disk (`synchronous=FULL`). A panic in `f` (a bug) rolls the
    /// transaction back and fails this call alone.
    pub(super) fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        Self::transact(&mut Self::lock(&self.writer), Durability::Full, f)
    }

    /// [`Self::write`] for work that is done again if a power cut loses it: the daily scan's
    /// pages (a day's scan runs again when the hub starts, and dedupe keys write each message
    /// once). Its commit does not wait for the disk (`synchronous=NORMAL`; in WAL mode the
    /// database stays whole, and the next ordinary commit's sync makes it durable). Waiting
    /// was a quarter of the scan (docs/benchmarks.md).
    pub(super) fn write_redone_if_lost<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        Self::transact(&mut Self::lock(&self.writer), Durability::Normal, f)
    }

    /// Every write transaction, on the locked writer. Each sets the sync level it needs before
    /// it begins (when it differs from the one set), so none can inherit another's: however a
    /// scan page ended (an error, a panic, a failed rollback), the next ordinary write waits
    /// for the disk.
    pub(super) fn transact<T>(
        writer: &mut Writer,
        durability: Durability,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = &mut writer.conn;
        if !conn.is_autocommit() {
            conn.execute_batch("ROLLBACK")?;
        }
        if writer.durability != durability {
            conn.pragma_update(None, "synchronous", durability.pragma())?;
            writer.durability = durability;
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = contain_panic(|| f(&tx))??;
        tx.commit()?;
        Ok(value)
    }

    /// Whether a write can begin now: the writer is free of a stuck transaction and the
    /// database takes a write lock (for `/v1/health`).
    pub(super) fn check_writable(&self) -> Result<(), StoreError> {
        self.write(|_| Ok(()))
    }

    /// Runs `f` in a read transaction on a pooled read connection.
    pub(super) fn read<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = Self::lock(&self.readers).pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(|source| StoreError::Open {
                    path: self.path.clone(),
                    detail: source.to_string(),
                })?;
                tenpo_support::sqlite::configure_reader(&c)?;
                c
            }
        };
        let result = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let value = contain_panic(|| f(&tx))??;
            tx.finish()?;
            Ok(value)
        })();
        let mut pool = Self::lock(&self.readers);
        if pool.len() < READERS_KEPT && conn.is_autocommit() {
            pool.push(conn);
        }
        result
    }

    // The rule-set cache is only ever extended whole, so a poisoned lock still guards a
    // consistent map: read it rather than report "no rules".
    pub(super) fn wishes(&self) -> Arc<crate::wishes::WishSettings> {
        self.wishes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(super) fn planner(&self) -> Option<Arc<dyn Planner>> {
        self.planner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(super) fn rules(&self, version: u32) -> Option<Arc<RuleSet>> {
        let cache = self.rules.read().unwrap_or_else(|e| e.into_inner());
        cache.get(&version).cloned()
    }

    pub(super) fn latest_rules(&self) -> Option<Arc<RuleSet>> {
        let cache = self.rules.read().unwrap_or_else(|e| e.into_inner());
        cache.values().next_back().cloned()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sync_level(tx: &Transaction<'_>) -> i64 {
        tx.query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap()
    }

    #[tokio::test]
    async fn rules_loaded_after_a_scan_page_wait_for_the_disk() {
        use crate::store::TillStore;
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("hub.db"), Utc::now()).unwrap();
        store.inner.write_redone_if_lost(|_| Ok(())).unwrap();
        store.load_rules(RuleSet::demo(), Utc::now()).await.unwrap();
        let level: i64 = Inner::lock(&store.inner.writer)
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(level, 2, "FULL");
    }

    #[test]
    fn a_write_after_a_scan_page_waits_for_the_disk_however_the_page_ended() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("hub.db"), Utc::now()).unwrap();
        let inner = &store.inner;
        let full = |inner: &Inner| {
            inner
                .write(|tx| {
                    assert_eq!(sync_level(tx), 2, "FULL");
                    Ok(())
                })
                .unwrap();
        };
        inner
            .write_redone_if_lost(|tx| {
                assert_eq!(sync_level(tx), 1, "NORMAL");
                Ok(())
            })
            .unwrap();
        full(inner);
        let failed: Result<(), StoreError> =
            inner.write_redone_if_lost(|_| Err(StoreError::Invalid("a failed page".into())));
        assert!(failed.is_err());
        full(inner);
        let panicked: Result<(), StoreError> =
            inner.write_redone_if_lost(|_| panic!("a bug in a scan page"));
        assert!(matches!(panicked, Err(StoreError::Bug(_))));
        full(inner);
    }

    #[test]
    fn a_panic_inside_a_transaction_fails_alone_and_the_next_write_succeeds() {
        // The finding: one panicking request poisoned the writer's lock and every later write
        // of every store answered 500 until a restart, while health said ok.
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("hub.db"), Utc::now()).unwrap();
        let inner = &store.inner;
        let crashed: Result<(), StoreError> = inner.write(|tx| {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('half', 'written')",
                [],
            )?;
            panic!("a bug in the middle of a push");
        });
        assert!(matches!(crashed, Err(StoreError::Bug(ref what)) if what.contains("a bug")));
        let read: Result<(), StoreError> = inner.read(|_| panic!("a bug in a read"));
        assert!(matches!(read, Err(StoreError::Bug(_))));
        inner.check_writable().unwrap();
        let half: Option<String> = inner
            .read(|tx| {
                Ok(tx
                    .query_row("SELECT value FROM meta WHERE key = 'half'", [], |r| {
                        r.get(0)
                    })
                    .optional()?)
            })
            .unwrap();
        assert_eq!(half, None, "the panicked transaction rolled back");
        inner
            .write(|tx| {
                tx.execute("INSERT INTO meta (key, value) VALUES ('next', 'ok')", [])?;
                Ok(())
            })
            .unwrap();
    }
}
