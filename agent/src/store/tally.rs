//! How many sales, refunds and cached members the store holds, for `/metrics` and `/v1/status`,
//! kept in memory (docs/design.md §8).
//!
//! A count of a whole table reads every page of it: a till two years in, with a million sales
//! and a million cached members, took 28 ms a scrape and read the tables' ~100 MB each time
//! (docs/benchmarks.md, `--bench aged`), and more each year. The tables are counted once, when
//! the store opens, and each write transaction then says what it added and removed; its
//! changes are applied once it has committed, still under the writer's lock, as the members'
//! held states are (store/held.rs). Nothing else writes these tables while the store is open
//! (`agent.lock` keeps a second agent out), so the counts stay equal to the tables'.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::Connection;

use super::StoreError;

/// The counts, as of the last commit.
#[derive(Debug)]
pub(crate) struct Tally {
    sales: AtomicU64,
    refunds: AtomicU64,
    members: AtomicU64,
}

/// What one write transaction changed, applied to the [`Tally`] once it has committed.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    sales: Cell<u64>,
    refunds: Cell<u64>,
    /// The members' count counted inside the transaction, after a change too wide to follow
    /// row by row (the hub's part of the cache cleared).
    members_counted: Cell<Option<u64>>,
    members_added: Cell<u64>,
    members_removed: Cell<u64>,
}

impl Changes {
    pub(crate) fn sale(&self) {
        self.sales.set(self.sales.get() + 1);
    }

    pub(crate) fn refund(&self) {
        self.refunds.set(self.refunds.get() + 1);
    }

    pub(crate) fn member_added(&self) {
        self.members_added.set(self.members_added.get() + 1);
    }

    pub(crate) fn members_removed(&self, n: usize) {
        self.members_removed
            .set(self.members_removed.get() + n as u64);
    }

    /// Counts the members anew inside the transaction `tx` that changed them; what it added or
    /// removed before is in the count, what it adds or removes after is added to it.
    pub(crate) fn recount_members(&self, tx: &Connection) -> Result<(), StoreError> {
        self.members_counted.set(Some(count(tx, "members")?));
        self.members_added.set(0);
        self.members_removed.set(0);
        Ok(())
    }
}

/// `SELECT COUNT(*)` of `table`.
fn count(conn: &Connection, table: &str) -> Result<u64, StoreError> {
    Ok(conn
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| {
            r.get::<_, i64>(0)
        })?
        .unsigned_abs())
}

impl Tally {
    /// Counts the tables on `conn`, a connection no other thread is writing with.
    pub(crate) fn count(conn: &Connection) -> Result<Tally, StoreError> {
        Ok(Tally {
            sales: AtomicU64::new(count(conn, "sales")?),
            refunds: AtomicU64::new(count(conn, "refunds")?),
            members: AtomicU64::new(count(conn, "members")?),
        })
    }

    /// Applies what a committed transaction changed; called under the writer's lock, so no
    /// two are applied at once.
    pub(crate) fn apply(&self, changes: Changes) {
        self.sales.fetch_add(changes.sales.get(), Ordering::SeqCst);
        self.refunds
            .fetch_add(changes.refunds.get(), Ordering::SeqCst);
        let base = changes
            .members_counted
            .get()
            .unwrap_or_else(|| self.members.load(Ordering::SeqCst));
        let members =
            (base + changes.members_added.get()).saturating_sub(changes.members_removed.get());
        self.members.store(members, Ordering::SeqCst);
    }

    pub(crate) fn sales(&self) -> u64 {
        self.sales.load(Ordering::SeqCst)
    }

    pub(crate) fn refunds(&self) -> u64 {
        self.refunds.load(Ordering::SeqCst)
    }

    pub(crate) fn members(&self) -> u64 {
        self.members.load(Ordering::SeqCst)
    }
}
