//! Members' states between sales: held in memory, written to `member_states` in batches.
//!
//! A member's state is the hub's snapshot plus this till's sales and refunds since
//! (docs/design.md §4). The ledger used to write it in every sale's transaction: a page a sale,
//! of a row that grows by a lot with each sale that earns, and about one sale in twenty then
//! rebalanced the table's b-tree and wrote 4–6 pages more (docs/benchmarks.md). Now a
//! sale's transaction writes only the ledger (its outbox event and its id), and the member's
//! state after it is held here; [`Store::flush_states`] writes what is held in one transaction
//! every 30 seconds (the agent's daemon) and when the store closes.
//!
//! Nothing is lost when the process dies with states held: the state is a cache of the outbox,
//! which the sale's own transaction wrote. A row of `member_states` says through which outbox
//! `seq` it counts this till's events (`through`; for the hub's snapshot, `snapshot_through`),
//! and a member's state is read as
//! 1. the state held here if there is one, else the row, else the snapshot;
//! 2. plus, for a row or snapshot, the outcomes of this till's events about the member (or a
//!    provisional id merged into it) after that `seq`, applied in order as the feed's replay
//!    applies them (a held state has none after it: each sale and refund holds its own).
//!
//! Step 1 holds because anything that writes a member's row or snapshot (the feed, a member
//! removed or merged, a full snapshot) forgets what is held for it, under the writer's lock;
//! and a state is held only after its transaction committed, under the same lock.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};
use tenpo_loyalty::MemberState;
use tenpo_protocol::events::{EventBody, RefundEvent, SaleEvent};

use super::cache::{MEMBER_EVENTS_AFTER, member_and_aliases};
use super::{Event, LocalOutcome, MemberRow, Store, StoreError, WriteTx, from_json, packed};

/// A member's state after this till's events through `through`. Shared, not copied, with a
/// lookup that reads it: a regular customer's state holds a lot for each sale that earned.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Held {
    pub state: Arc<MemberState>,
    pub through: u64,
    /// When it was last changed (the row's `updated_at` once written).
    pub at: String,
}

/// The states held, by member id.
#[derive(Debug, Default)]
pub(crate) struct HeldStates(Mutex<HashMap<String, Held>>);

impl HeldStates {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Held>> {
        // A map of cached states: a panic while it was held left it whole (no operation on it
        // panics half way), and forgetting it all would also be sound.
        self.0.lock().unwrap_or_else(|poisoned| {
            self.0.clear_poison();
            poisoned.into_inner()
        })
    }

    pub fn get(&self, member_id: &str) -> Option<Held> {
        self.lock().get(member_id).cloned()
    }

    /// What is held for `member_id`, shared or moved out as `how` says.
    fn read(&self, member_id: &str, how: UseHeld) -> Option<Held> {
        match how {
            UseHeld::Share => self.get(member_id),
            UseHeld::Take => self.lock().remove(member_id),
        }
    }

    pub fn put(&self, member_id: String, held: Held) {
        self.lock().insert(member_id, held);
    }

    /// Always sound: what is not held is read from the database.
    pub fn forget(&self, member_id: &str) {
        self.lock().remove(member_id);
    }

    pub fn forget_all(&self) {
        self.lock().clear();
    }

    pub fn take_all(&self) -> HashMap<String, Held> {
        std::mem::take(&mut *self.lock())
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }
}

/// How a read uses the state held for a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UseHeld {
    /// Shared: the state stays held (a lookup, or a write that reads a member it does not
    /// change).
    Share,
    /// Moved out, not copied: for a write that changes the state and holds the new one when it
    /// commits. A regular customer's state holds a lot for each sale that earned, and a copy a
    /// sale grew with their history (docs/benchmarks.md, "A member years in"). If the write
    /// holds no new state (it is refused or rolled back), the state is read from the database
    /// next time, which is always sound.
    Take,
}

/// Where a member's state is read from before this till's later events are applied: a held
/// state, the `member_states` row, or the hub's snapshot, with the `seq` it counts through.
#[derive(Debug)]
pub(crate) enum Base {
    Held(Held),
    Stored { bytes: Vec<u8>, through: u64 },
}

/// The columns a member's state is read from, to go with `FROM members m`.
pub(crate) const BASE_COLUMNS: &str = "COALESCE(s.state, m.snapshot),
     CASE WHEN s.state IS NULL THEN m.snapshot_through ELSE s.through END";

/// The join that goes with [`BASE_COLUMNS`].
pub(crate) const BASE_JOIN: &str = "LEFT JOIN member_states s ON s.member_id = m.member_id";

/// The base of `member_id` from the row's columns at `first` ([`BASE_COLUMNS`]), unless a state
/// is held for it (then its stored bytes are not read).
pub(crate) fn base_from_row(
    row: &rusqlite::Row<'_>,
    first: usize,
    held: Option<Held>,
) -> rusqlite::Result<Base> {
    Ok(match held {
        Some(held) => Base::Held(held),
        None => Base::Stored {
            bytes: row.get(first)?,
            through: row.get::<_, i64>(first + 1)?.unsigned_abs(),
        },
    })
}

/// The member's state now: its base and this till's events about it after the base's `seq`.
pub(crate) fn state_now(
    conn: &Connection,
    member_id: &str,
    base: Base,
) -> Result<Arc<MemberState>, StoreError> {
    match base {
        // Complete as it is: the only events that change a state (sales and refunds) hold their
        // state in their own transaction, so none about the member comes after it. A sale's
        // read costs no look at the outbox.
        Base::Held(held) => Ok(held.state),
        base => state_now_of(conn, &member_and_aliases(conn, member_id)?, base),
    }
}

/// [`state_now`] for a member whose id and merged provisional ids (`ids`, as
/// `member_and_aliases` reads them) the caller has already read.
pub(crate) fn state_now_of(
    conn: &Connection,
    ids: &[String],
    base: Base,
) -> Result<Arc<MemberState>, StoreError> {
    let (state, through) = match base {
        Base::Held(held) => return Ok(held.state),
        Base::Stored { bytes, through } => (packed::unpack("member state", &bytes)?, through),
    };
    let later = local_outcomes(conn, ids, through)?;
    if later.is_empty() {
        return Ok(Arc::new(state));
    }
    Ok(Arc::new(replay(&state, &later)))
}

/// The state of a cached member now, or `None` if it is not cached, moved out of what is held
/// (for a write that changes it: [`UseHeld::Take`]).
fn member_state(
    conn: &Connection,
    held: &HeldStates,
    member_id: &str,
) -> Result<Option<Arc<MemberState>>, StoreError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!("SELECT {BASE_COLUMNS} FROM members m {BASE_JOIN} WHERE m.member_id = ?1")
    });
    let base = conn
        .prepare_cached(&SQL)?
        .query_row([member_id], |r| {
            base_from_row(r, 0, held.read(member_id, UseHeld::Take))
        })
        .optional()?;
    base.map(|base| state_now(conn, member_id, base))
        .transpose()
}

/// This till's events about these members after `after_seq`, in recording order.
pub(crate) fn local_outcomes(
    conn: &Connection,
    member_ids: &[String],
    after_seq: u64,
) -> Result<Vec<LocalOutcome>, StoreError> {
    let mut out = Vec::new();
    let mut stmt = conn.prepare_cached(MEMBER_EVENTS_AFTER)?;
    for id in member_ids {
        let rows = stmt.query_map(params![id, after_seq as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (seq, payload) = row?;
            let event: Event = from_json("outbox event", &payload)?;
            out.push(LocalOutcome {
                seq: seq.unsigned_abs(),
                body: event.body,
            });
        }
    }
    out.sort_by_key(|o| o.seq);
    Ok(out)
}

/// `state` with the local outcomes on top, in recording order (applied, not compacted, as the
/// hub applies them; compaction is the hub's, and the next sale's).
pub fn replay(state: &MemberState, local: &[LocalOutcome]) -> MemberState {
    let mut state = state.clone();
    for outcome in local {
        match &outcome.body {
            EventBody::Sale(SaleEvent {
                outcome: Some(o), ..
            }) => state.take_sale(o, None),
            EventBody::Refund(RefundEvent {
                outcome: Some(o), ..
            }) => state.take_refund(o, None),
            _ => {}
        }
    }
    state
}

/// A cached member found by one of its card codes, with its state now.
pub(crate) fn member_by_code(
    conn: &Connection,
    held: &HeldStates,
    code: &str,
    how: UseHeld,
) -> Result<Option<MemberRow>, StoreError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT m.member_id, m.number, m.provisional, {}
             FROM member_codes c JOIN members m ON m.member_id = c.member_id {}
             WHERE c.code = ?1",
            BASE_COLUMNS, BASE_JOIN
        )
    });
    let row = conn
        .prepare_cached(&SQL)?
        .query_row([code], |r| {
            let member_id = r.get::<_, String>(0)?;
            let base = base_from_row(r, 3, held.read(&member_id, how))?;
            Ok((
                member_id,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
                base,
            ))
        })
        .optional()?;
    row.map(|(member_id, number, provisional, base)| {
        let state = state_now(conn, &member_id, base)?;
        Ok(MemberRow {
            member_id,
            number,
            provisional,
            state,
        })
    })
    .transpose()
}

impl WriteTx<'_> {
    /// The cached member with this code, its state shared (a write that does not change it).
    pub fn member_by_code(&self, code: &str) -> Result<Option<MemberRow>, StoreError> {
        self.member_by_code_as(code, UseHeld::Share)
    }

    /// The cached member with this code, for a write that changes its state and saves the new
    /// one ([`Self::save_member_state`]): the state held is moved out, not copied ([`UseHeld`]).
    pub fn member_to_change(&self, code: &str) -> Result<Option<MemberRow>, StoreError> {
        self.member_by_code_as(code, UseHeld::Take)
    }

    fn member_by_code_as(&self, code: &str, how: UseHeld) -> Result<Option<MemberRow>, StoreError> {
        match member_by_code(&self.tx, self.held, code, how)? {
            Some(mut m) => {
                if let Some(state) = self.staged_state(&m.member_id) {
                    m.state = Arc::new(state);
                }
                Ok(Some(m))
            }
            None => Ok(None),
        }
    }

    /// A state this transaction has already changed, not yet held.
    fn staged_state(&self, member_id: &str) -> Option<MemberState> {
        self.staged
            .borrow()
            .iter()
            .rev()
            .find(|(id, _, _)| id == member_id)
            .map(|(_, state, _)| state.clone())
    }

    /// A sale's or refund's new state for the member: held once the transaction commits, and
    /// written to `member_states` with the next flush, not in this transaction. Every
    /// transaction that records an event changing a member's state calls this for it: a held
    /// state is read as complete.
    pub fn save_member_state(
        &self,
        member_id: &str,
        state: MemberState,
        now: &str,
    ) -> Result<(), StoreError> {
        let mut staged = self.staged.borrow_mut();
        staged.retain(|(id, _, _)| id != member_id);
        staged.push((member_id.to_owned(), state, now.to_owned()));
        Ok(())
    }

    /// Writes a member's local state as of every event recorded so far (`None`: it is the
    /// snapshot, and no row is kept). Touches only `member_states`: a sale leaves the member's
    /// cache row as the hub sent it. What was held for the member is forgotten: this is newer.
    pub(crate) fn put_local_state(
        &self,
        member_id: &str,
        bytes: Option<Vec<u8>>,
        now: &str,
    ) -> Result<(), StoreError> {
        self.forget_held(member_id);
        match bytes {
            Some(bytes) => {
                self.tx
                    .prepare_cached(
                        "INSERT INTO member_states (member_id, state, updated_at, through)
                         VALUES (?1, ?2, ?3, (SELECT COALESCE(MAX(seq), 0) FROM outbox))
                         ON CONFLICT(member_id) DO UPDATE SET state = excluded.state,
                             updated_at = excluded.updated_at, through = excluded.through",
                    )?
                    .execute(params![member_id, bytes, now])?;
            }
            None => {
                self.tx
                    .prepare_cached("DELETE FROM member_states WHERE member_id = ?1")?
                    .execute([member_id])?;
            }
        }
        Ok(())
    }

    /// Forgets the state held for a member whose row or snapshot this transaction writes
    /// (always sound: what is not held is read from the database).
    pub(crate) fn forget_held(&self, member_id: &str) {
        self.held.forget(member_id);
    }

    /// A cached member's state, for a write that changes it and saves the new one
    /// ([`Self::save_member_state`]): the state held is moved out, not copied ([`UseHeld`]).
    pub fn member_state_to_change(
        &self,
        member_id: &str,
    ) -> Result<Option<MemberState>, StoreError> {
        if let Some(state) = self.staged_state(member_id) {
            return Ok(Some(state));
        }
        // Taken, the state is this read's alone and is not copied here.
        Ok(member_state(&self.tx, self.held, member_id)?.map(Arc::unwrap_or_clone))
    }
}

impl Store {
    /// Writes the states held since the last flush to `member_states`, in one transaction, and
    /// returns how many. Run every 30 s by the daemon and when the store closes; if it
    /// fails, the states are read from the outbox instead (see the module's notes).
    pub fn flush_states(&self) -> Result<usize, StoreError> {
        self.write(|tx| {
            // Taken inside the transaction, under the writer's lock: no sale or feed page can
            // change what is held meanwhile. If the commit fails they are read from the outbox.
            let held = tx.held.take_all();
            let mut put = tx.tx.prepare_cached(
                "INSERT INTO member_states (member_id, state, updated_at, through)
                 SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM members WHERE member_id = ?1)
                 ON CONFLICT(member_id) DO UPDATE SET state = excluded.state,
                     updated_at = excluded.updated_at, through = excluded.through",
            )?;
            for (member_id, h) in &held {
                put.execute(params![
                    member_id,
                    packed::pack(&h.state)?,
                    h.at,
                    h.through as i64
                ])?;
            }
            Ok::<_, StoreError>(held.len())
        })
    }

    /// How many members' states are held, not yet written.
    pub fn states_held(&self) -> usize {
        self.held.len()
    }
}

/// What is held is written when the store closes (a process that dies first loses nothing:
/// see the module's notes).
impl Drop for Store {
    fn drop(&mut self) {
        if self.held.len() == 0 {
            return;
        }
        if let Err(e) = self.flush_states() {
            tracing::warn!(error = %e, "cannot write the members' states at close; they are read from the outbox at the next start");
        }
    }
}

/// The bytes a state is written as, for tests that read rows.
#[cfg(test)]
pub(crate) fn packed_for_tests(state: &MemberState) -> Result<Vec<u8>, StoreError> {
    packed::pack(state)
}
