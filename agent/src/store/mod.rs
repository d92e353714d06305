//! The agent's SQLite store: the ledger, the outbox and the member cache, in one file.
//!
//! One writer: every write goes through [`Store::write`], which runs a closure inside one
//! `BEGIN IMMEDIATE` transaction on the single writer connection, so a sale, its effects and its
//! outbox event commit together or not at all. WAL mode with `synchronous=FULL`: once `write`
//! returns, the data survives a power cut. Reads use their own connection and never wait for a
//! write to finish.
//!
//! No HTTP and no loyalty rules in here: callers decide what to write.

pub mod backup;
pub mod cache;
mod export;
mod held;
mod packed;
mod refunds;
mod sales;
mod schema;
mod sync;
mod tally;
mod wishes;

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tenpo_loyalty::{Date, MemberState};
use tenpo_protocol::events::{Event, EventBody, encode};
use tenpo_support::checkpointer::Checkpointer;

pub use cache::LocalOutcome;
pub use export::{ExportError, export_jsonl};
#[cfg(test)]
pub(crate) use held::packed_for_tests;
pub use held::replay;
pub use refunds::RefundRow;
pub use sales::{SaleRecord, SaleRow};
pub use schema::CURRENT_VERSION;
pub use wishes::WishRow;

/// What can go wrong with the database, in words IT can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "the database is at schema version {found}, newer than this agent knows ({known}): \
         install the newer tenpo-agent again; the database was not touched"
    )]
    SchemaTooNew { found: u32, known: u32 },
    #[error(
        "damaged record in the database ({what}): {detail}; run `tenpo-agent export` and contact support"
    )]
    Corrupt { what: &'static str, detail: String },
    #[error("cannot open the database at {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the agent hit a bug handling this request ({0}); nothing was written")]
    Bug(String),
    #[error(transparent)]
    Backup(#[from] backup::BackupError),
    #[error("cannot start the database's checkpoints: {0}")]
    Checkpoints(#[from] tenpo_support::checkpointer::StartError),
}

/// A member's local state as stored: none when it is the snapshot (no row in `member_states`
/// since schema 8; NULL in `members.state` in versions 4 to 7), else its packed bytes.
pub(crate) fn state_bytes(
    snapshot: &MemberState,
    state: &MemberState,
) -> Result<Option<Vec<u8>>, StoreError> {
    if state == snapshot {
        Ok(None)
    } else {
        packed::pack(state).map(Some)
    }
}

/// How often the checkpoint thread looks at the WAL: once a second, the most an idle agent may
/// wake (docs/design.md §8). It copies the log only from 1,000 pages
/// ([`tenpo_support::checkpointer::COPY_FROM_PAGES`]): a log copied whole starts over at the
/// next sale, which then syncs the log's header as well as its pages.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The open store.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    /// How many sales, refunds and members the tables hold, for `/v1/status` and `/metrics`:
    /// counted at open and kept by each commit (store/tally.rs).
    tally: tally::Tally,
    /// Members' states changed by sales and refunds, not yet written (store/held.rs).
    held: held::HeldStates,
    /// Copies the WAL into the database off the sale's path (docs/design.md §8): SQLite's own
    /// auto-checkpoint ran inside every ~95th sale, which was the sale's p99.
    _checkpoints: Checkpointer,
}

/// The terminal this store belongs to, stamped on every event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub store_id: String,
    pub terminal_id: String,
}

/// A cached member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    pub member_id: String,
    pub number: String,
    pub provisional: bool,
    /// Shared with what is held for the member (store/held.rs), not copied for each read.
    pub state: Arc<MemberState>,
}

/// Counts for `/v1/status` and `doctor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxCounts {
    pub last_seq: u64,
    pub acked_through: u64,
    pub pending: u64,
    pub quarantined: u64,
}

fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt {
        what: "value to store",
        detail: e.to_string(),
    })
}

fn from_json<T: DeserializeOwned>(what: &'static str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

fn parse_date(what: &'static str, text: &str) -> Result<Date, StoreError> {
    text.parse()
        .map_err(|e: tenpo_loyalty::DateError| StoreError::Corrupt {
            what,
            detail: e.to_string(),
        })
}

/// Runs `f`, turning a panic (a bug) into an error for this call alone.
fn contain_panic<T>(f: impl FnOnce() -> T) -> Result<T, StoreError> {
    tenpo_support::panic::contained(f).map_err(|what| {
        tracing::error!(panic = %what, "a request hit a bug in the agent; rolled back");
        StoreError::Bug(what)
    })
}

/// WAL, `synchronous=FULL`, foreign keys, the busy timeout: as the hub opens its file.
fn configure(conn: &mut Connection) -> Result<(), rusqlite::Error> {
    tenpo_support::sqlite::configure(conn)
}

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it to the current schema.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let mut writer = Connection::open(path).map_err(open_err)?;
        configure(&mut writer).map_err(open_err)?;
        // An existing database that needs a migration is copied first (a newer one is refused
        // by `migrate` below, untouched).
        let found = schema::version(&writer)?;
        if found > 0 && found < CURRENT_VERSION {
            backup::before_migration(&writer, path, found)?;
        }
        schema::migrate(&mut writer)?;
        let tally = tally::Tally::count(&writer)?;
        let open_reader = || -> Result<Connection, StoreError> {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(open_err)?;
            tenpo_support::sqlite::configure_reader(&conn)?;
            Ok(conn)
        };
        let reader = open_reader()?;
        let checkpoints = Checkpointer::start(path, &mut writer, CHECKPOINT_EVERY)?;
        Ok(Store {
            path: path.to_owned(),
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            tally,
            held: held::HeldStates::default(),
            _checkpoints: checkpoints,
        })
    }

    /// Opens an existing database read-only, without migrating (for `status` and `export`
    /// while the agent may be running).
    pub fn open_read_only(path: &Path) -> Result<ReadOnly, StoreError> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(
            |source| StoreError::Open {
                path: path.to_owned(),
                source,
            },
        )?;
        tenpo_support::sqlite::configure_reader(&conn)?;
        let found = schema::version(&conn)?;
        if found > CURRENT_VERSION {
            return Err(StoreError::SchemaTooNew {
                found,
                known: CURRENT_VERSION,
            });
        }
        Ok(ReadOnly { conn })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes a connection's lock even if a thread panicked holding it: a transaction open at
    /// the panic was rolled back when it was dropped (and is rolled back here if not), so the
    /// connection is sound. A request that fails, fails alone; the till keeps selling.
    fn lock(m: &Mutex<Connection>) -> Result<MutexGuard<'_, Connection>, StoreError> {
        let conn = m.lock().unwrap_or_else(|poisoned| {
            tracing::error!("a database lock was held by a thread that panicked; taken over");
            m.clear_poison();
            poisoned.into_inner()
        });
        if !conn.is_autocommit() {
            conn.execute_batch("ROLLBACK")?;
        }
        Ok(conn)
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction: commits if it returns `Ok`, rolls back
    /// otherwise. A panic in `f` (a bug) rolls back and fails this call alone.
    pub fn write<T, E>(&self, f: impl FnOnce(&mut WriteTx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut conn = Self::lock(&self.writer)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let mut wtx = WriteTx {
            tx,
            held: &self.held,
            staged: RefCell::default(),
            last_seq: Cell::default(),
            changes: tally::Changes::default(),
        };
        let value = contain_panic(|| f(&mut wtx))??;
        let WriteTx {
            tx,
            staged,
            last_seq,
            changes,
            ..
        } = wtx;
        let staged = staged.into_inner();
        let through = match (staged.is_empty(), last_seq.get()) {
            (true, _) => 0,
            (false, Some(seq)) => seq,
            (false, None) => last_seq_of(&tx)?,
        };
        tx.commit().map_err(StoreError::from)?;
        // Counted and held only now that the transaction is on disk, and still under the
        // writer's lock (store/tally.rs, store/held.rs).
        self.tally.apply(changes);
        for (member_id, state, at) in staged {
            self.held.put(
                member_id,
                held::Held {
                    state: Arc::new(state),
                    through,
                    at,
                },
            );
        }
        Ok(value)
    }

    /// Runs `f` on the read connection.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = Self::lock(&self.reader)?;
        contain_panic(|| f(&conn))?
    }

    /// Whether a sale could be written now: the writer takes a write lock on the database
    /// (`/v1/health` says ok only then).
    pub fn check_writable(&self) -> Result<(), StoreError> {
        self.write(|_| Ok::<(), StoreError>(()))
    }

    pub fn member_by_code(&self, code: &str) -> Result<Option<MemberRow>, StoreError> {
        self.read(|c| held::member_by_code(c, &self.held, code, held::UseHeld::Share))
    }

    pub fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        self.read(outbox_counts)
    }

    /// Sales and refunds recorded here, ever (for `/metrics`; store/tally.rs).
    pub fn ledger_counts(&self) -> Result<LedgerCounts, StoreError> {
        Ok(LedgerCounts {
            sales: self.tally.sales(),
            refunds: self.tally.refunds(),
        })
    }
}

/// Counts for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LedgerCounts {
    pub sales: u64,
    pub refunds: u64,
}

/// A read-only handle on a database another process may be writing.
#[derive(Debug)]
pub struct ReadOnly {
    conn: Connection,
}

impl ReadOnly {
    pub fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        outbox_counts(&self.conn)
    }
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        schema::version(&self.conn)
    }
    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        meta(&self.conn, key)
    }
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

fn meta(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

/// The last `seq` the outbox holds (0 when empty).
fn last_seq_of(conn: &Connection) -> Result<u64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM outbox")?
        .query_row([], |r| r.get::<_, i64>(0))?
        .unsigned_abs())
}

fn outbox_counts(conn: &Connection) -> Result<OutboxCounts, StoreError> {
    let last_seq = conn
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM outbox")?
        .query_row([], |r| r.get::<_, i64>(0))?
        .unsigned_abs();
    let acked_through = meta(conn, "acked_through_seq")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0u64);
    let quarantined = conn
        .prepare_cached("SELECT COUNT(*) FROM quarantine")?
        .query_row([], |r| r.get::<_, i64>(0))?
        .unsigned_abs();
    Ok(OutboxCounts {
        last_seq,
        acked_through,
        pending: last_seq.saturating_sub(acked_through),
        quarantined,
    })
}

/// The operations of one write transaction.
#[derive(Debug)]
pub struct WriteTx<'c> {
    tx: Transaction<'c>,
    held: &'c held::HeldStates,
    /// Members' states to hold once this transaction commits (store/held.rs), with the time.
    staged: RefCell<Vec<(String, MemberState, String)>>,
    /// The `seq` of the last event this transaction appended.
    last_seq: Cell<Option<u64>>,
    /// What this transaction added to and removed from the counted tables (store/tally.rs).
    changes: tally::Changes,
}

impl WriteTx<'_> {
    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        meta(&self.tx, key)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.tx
            .prepare_cached("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")?
            .execute(params![key, value])?;
        Ok(())
    }

    /// Adds a member to the cache with its codes. `snapshot` is the hub's view of it (empty
    /// for a member made here).
    pub fn insert_member(
        &self,
        member: &MemberRow,
        snapshot: &MemberState,
        codes: &[&str],
        now: &str,
    ) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO members (member_id, number, provisional, snapshot, updated_at, codes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                member.member_id,
                member.number,
                member.provisional,
                packed::pack(snapshot)?,
                now,
                cache::other_codes(&member.number, codes.iter().map(|c| (*c).to_owned()))?
            ])?;
        self.changes.member_added();
        // A new member has no local state yet to clear: write one only if it differs.
        if let Some(bytes) = state_bytes(snapshot, &member.state)? {
            self.put_local_state(&member.member_id, Some(bytes), now)?;
        }
        let mut insert = self
            .tx
            .prepare_cached("INSERT INTO member_codes (code, member_id) VALUES (?1, ?2)")?;
        for code in codes {
            insert.execute(params![code, member.member_id])?;
        }
        Ok(())
    }

    /// Appends an event to the outbox with the next gap-free `seq` and a fresh UUIDv7.
    pub fn append_event(
        &self,
        who: &Identity,
        body: EventBody,
        now: &str,
    ) -> Result<u64, StoreError> {
        self.append(who, body, now, None)
    }

    /// Appends an event; `answer` is a sale's request hash and response.
    fn append(
        &self,
        who: &Identity,
        body: EventBody,
        now: &str,
        answer: Option<(&[u8], &str)>,
    ) -> Result<u64, StoreError> {
        let seq: i64 = self
            .tx
            .prepare_cached("SELECT COALESCE(MAX(seq), 0) + 1 FROM outbox")?
            .query_row([], |r| r.get(0))?;
        let event = Event {
            event_id: uuid::Uuid::now_v7().to_string(),
            seq: seq.unsigned_abs(),
            store_id: who.store_id.clone(),
            terminal_id: who.terminal_id.clone(),
            recorded_at: now.to_owned(),
            body,
        };
        // Encoded once, here: these bytes are the event from now on, hashed and pushed as they
        // are (docs/design.md §4).
        let bytes = encode(&event).map_err(|e| StoreError::Corrupt {
            what: "event to record",
            detail: e.to_string(),
        })?;
        self.tx
            .prepare_cached(
                "INSERT INTO outbox (seq, event_id, kind, payload, recorded_at, member_id,
                                     request_hash, response)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                seq,
                event.event_id,
                event.body.kind(),
                bytes,
                now,
                event.body.member_id(),
                answer.map(|(hash, _)| hash),
                answer.map(|(_, response)| response),
            ])?;
        self.last_seq.set(Some(event.seq));
        Ok(event.seq)
    }

    /// Whether the member cache holds any member.
    pub fn has_members(&self) -> Result<bool, StoreError> {
        Ok(self
            .tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM members)")?
            .query_row([], |r| r.get(0))?)
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod wal_probe;
