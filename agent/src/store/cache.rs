//! The member cache's operations: what the hub's change feed writes, and what a member view is
//! built from (the hub's snapshot plus this terminal's outcomes the snapshot does not include).
//!
//! Nothing here touches the ledger or the outbox: the cache can be cleared and rebuilt.

use std::sync::LazyLock;

use rusqlite::{CachedStatement, OptionalExtension, Statement, params};
use tenpo_loyalty::MemberState;
use tenpo_protocol::events::EventBody;

use super::held::{BASE_COLUMNS, BASE_JOIN, Base, HeldStates, base_from_row, state_now_of};
use super::{ReadOnly, Store, StoreError, WriteTx, from_json, packed};

/// Whether this till recorded an event about member `?1` after seq `?2` (a provisional
/// member's own creation aside). Reads the index of members' events, which holds only events
/// that name a member (schema 7).
pub(crate) const MEMBER_EVENT_AFTER: &str =
    "SELECT EXISTS (SELECT 1 FROM outbox WHERE member_id = ?1 AND seq > ?2
                    AND kind <> 'member_provisional')";

/// This till's events about member `?1` after seq `?2`, in order, from the same index.
pub(crate) const MEMBER_EVENTS_AFTER: &str = "SELECT seq, payload FROM outbox
     WHERE member_id = ?1 AND seq > ?2 AND kind <> 'member_provisional' ORDER BY seq";

/// The provisional ids merged into member `?1`: read for every echo of a member's sale, and
/// found by key (schema 10), for a till learns one alias for each new card it sells.
pub(crate) const MEMBER_ALIASES: &str =
    "SELECT alias_id FROM member_aliases WHERE member_id = ?1 ORDER BY alias_id";

/// A local event about a member, in recording order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalOutcome {
    pub seq: u64,
    pub body: EventBody,
}

/// A member as the hub sends it.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot<'a> {
    pub member_id: &'a str,
    pub number: &'a str,
    pub provisional: bool,
    pub codes: &'a [String],
    pub state: &'a MemberState,
    /// The last of this terminal's events the hub applied to this member.
    pub through: u64,
    /// Provisional ids (made at tills) the hub merged into this member.
    pub merged_ids: &'a [String],
}

fn is_revoked(conn: &rusqlite::Connection, code: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM revoked_codes WHERE code = ?1)")?
        .query_row([code], |r| r.get(0))?)
}

/// The member's id and the provisional ids merged into it.
pub(crate) fn member_and_aliases(
    c: &rusqlite::Connection,
    member_id: &str,
) -> Result<Vec<String>, StoreError> {
    let mut ids = vec![member_id.to_owned()];
    let mut stmt = c.prepare_cached(MEMBER_ALIASES)?;
    for alias in stmt.query_map([member_id], |r| r.get::<_, String>(0))? {
        ids.push(alias?);
    }
    Ok(ids)
}

/// Whether the cache already holds the member exactly as `s` would leave it, so that writing
/// `s` would change nothing: the same number and provisional flag, every code of `s` already
/// this member's, every id the hub merged already an alias of it, no event of this terminal
/// about it (or its aliases) after `s.through` (so the state to write is `s.state` itself),
/// and that state the one cached. Extra codes held here are no difference: writing `s` keeps
/// them too.
fn holds(
    c: &rusqlite::Connection,
    held: &HeldStates,
    s: &Snapshot<'_>,
) -> Result<bool, StoreError> {
    let held = held.get(s.member_id);
    if held.as_ref().is_some_and(|h| h.through > s.through) {
        // A sale or refund here after the snapshot's events, not yet written.
        return Ok(false);
    }
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT m.number, m.provisional, {BASE_COLUMNS} FROM members m {BASE_JOIN}
             WHERE m.member_id = ?1"
        )
    });
    let row: Option<(String, bool, Base)> = c
        .prepare_cached(&SQL)?
        .query_row([s.member_id], |r| {
            Ok((r.get(0)?, r.get(1)?, base_from_row(r, 2, held)?))
        })
        .optional()?;
    let Some((number, provisional, base)) = row else {
        return Ok(false);
    };
    if number != s.number || provisional != s.provisional {
        return Ok(false);
    }
    let mut owner = c.prepare_cached("SELECT member_id FROM member_codes WHERE code = ?1")?;
    for code in s.codes {
        let held_by: Option<String> = owner.query_row([code], |r| r.get(0)).optional()?;
        if held_by.as_deref() != Some(s.member_id) {
            return Ok(false);
        }
    }
    let ids = member_and_aliases(c, s.member_id)?;
    if s.merged_ids.iter().any(|merged| !ids.contains(merged)) {
        return Ok(false);
    }
    let mut later = c.prepare_cached(MEMBER_EVENT_AFTER)?;
    for id in &ids {
        if later.query_row(params![id, s.through as i64], |r| r.get::<_, bool>(0))? {
            return Ok(false);
        }
    }
    // A row that no longer reads is not held: writing the snapshot mends it.
    Ok(state_now_of(c, &ids, base).is_ok_and(|held| *held == *s.state))
}

impl Store {
    /// For each snapshot, whether the cache already holds the member exactly so (see `holds`):
    /// the hub's echo of this till's own sales is such a snapshot, and writing it would rewrite
    /// a page of the file per member to change nothing. Read on the reader connection, so the
    /// sales of the moment are not kept waiting (docs/design.md §4).
    pub fn holds(&self, snapshots: &[Snapshot<'_>]) -> Result<Vec<bool>, StoreError> {
        self.read(|c| snapshots.iter().map(|s| holds(c, &self.held, s)).collect())
    }

    /// Whether the hub revoked this card code.
    pub fn is_revoked(&self, code: &str) -> Result<bool, StoreError> {
        self.read(|c| is_revoked(c, code))
    }

    /// Every card key the hub sent, for verifying the LINE card's QR.
    pub fn card_keys(&self) -> Result<Vec<(u32, [u8; 32])>, StoreError> {
        self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT key_id, public_key FROM card_keys ORDER BY key_id")?;
            let rows =
                stmt.query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
            let mut keys = Vec::new();
            for row in rows {
                let (id, bytes) = row?;
                if let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice()) {
                    keys.push((id, key));
                }
            }
            Ok(keys)
        })
    }

    /// How many members the cache holds (for `/v1/status` and `/metrics`; store/tally.rs).
    pub fn members_cached(&self) -> Result<u64, StoreError> {
        Ok(self.tally.members())
    }
}

impl ReadOnly {
    pub fn members_cached(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM members", [], |r| r.get::<_, i64>(0))?
            .unsigned_abs())
    }
}

impl WriteTx<'_> {
    pub fn is_revoked(&self, code: &str) -> Result<bool, StoreError> {
        is_revoked(&self.tx, code)
    }

    /// Replaces (or adds) one member from the hub's snapshot: [`MemberWriter::upsert`]. A page
    /// of members takes one [`WriteTx::member_writer`] for all of them.
    pub fn upsert_snapshot(
        &self,
        s: &Snapshot<'_>,
        state: Option<&MemberState>,
        now: &str,
    ) -> Result<(), StoreError> {
        self.member_writer()?.upsert(s, state, now)
    }

    /// The writer of the hub's members into the cache, for as many members as this
    /// transaction writes.
    pub fn member_writer(&self) -> Result<MemberWriter<'_>, StoreError> {
        MemberWriter::new(self)
    }

    /// Whether this till has recorded any event (the outbox keeps every one).
    pub fn has_events(&self) -> Result<bool, StoreError> {
        Ok(self
            .tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM outbox)")?
            .query_row([], |r| r.get(0))?)
    }

    pub fn member_and_aliases(&self, member_id: &str) -> Result<Vec<String>, StoreError> {
        member_and_aliases(&self.tx, member_id)
    }

    /// Provisional members made at this till that hold `number` or one of `codes` but are not
    /// `member_id` nor among `known` (its aliases and the ids the hub says it merged).
    pub fn local_members_claiming(
        &self,
        member_id: &str,
        number: &str,
        codes: &[String],
        known: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let mut found: Vec<String> = Vec::new();
        let mut by_code = self.tx.prepare_cached(
            "SELECT m.member_id FROM member_codes c JOIN members m ON m.member_id = c.member_id
             WHERE c.code = ?1 AND m.provisional = 1",
        )?;
        let mut by_number = self.tx.prepare_cached(
            "SELECT member_id FROM members WHERE number = ?1 AND provisional = 1",
        )?;
        let mut candidates = Vec::new();
        for code in codes {
            for id in by_code.query_map([code], |r| r.get::<_, String>(0))? {
                candidates.push(id?);
            }
        }
        for id in by_number.query_map([number], |r| r.get::<_, String>(0))? {
            candidates.push(id?);
        }
        for id in candidates {
            if id != member_id && !known.contains(&id) && !found.contains(&id) {
                found.push(id);
            }
        }
        Ok(found)
    }

    /// The member a (possibly merged, provisional) id now stands for.
    pub fn resolve_alias(&self, member_id: &str) -> Result<String, StoreError> {
        Ok(self
            .tx
            .prepare_cached("SELECT member_id FROM member_aliases WHERE alias_id = ?1")?
            .query_row([member_id], |r| r.get(0))
            .optional()?
            .unwrap_or_else(|| member_id.to_owned()))
    }

    /// This terminal's events about these members after `after_seq`, in order.
    pub fn local_outcomes(
        &self,
        member_ids: &[String],
        after_seq: u64,
    ) -> Result<Vec<LocalOutcome>, StoreError> {
        super::held::local_outcomes(&self.tx, member_ids, after_seq)
    }

    /// The hub's snapshot of a member and the seq it includes, if cached.
    pub fn snapshot_of(&self, member_id: &str) -> Result<Option<(MemberState, u64)>, StoreError> {
        let row: Option<(Vec<u8>, i64)> = self
            .tx
            .prepare_cached("SELECT snapshot, snapshot_through FROM members WHERE member_id = ?1")?
            .query_row([member_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        row.map(|(s, through)| {
            Ok((
                packed::unpack("member snapshot", &s)?,
                through.unsigned_abs(),
            ))
        })
        .transpose()
    }

    /// Removes a member from the cache with its local state and every card code it holds,
    /// each found by key: its number and the codes its row lists (schema 10).
    pub fn remove_member(&self, member_id: &str) -> Result<(), StoreError> {
        if let Some((number, codes)) = self.codes_of(member_id)? {
            let mut delete = self
                .tx
                .prepare_cached("DELETE FROM member_codes WHERE code = ?1 AND member_id = ?2")?;
            for code in std::iter::once(&number).chain(&codes) {
                delete.execute(params![code, member_id])?;
            }
        }
        self.forget_held(member_id);
        self.tx
            .prepare_cached("DELETE FROM member_states WHERE member_id = ?1")?
            .execute([member_id])?;
        let removed = self
            .tx
            .prepare_cached("DELETE FROM members WHERE member_id = ?1")?
            .execute([member_id])?;
        self.changes.members_removed(removed);
        Ok(())
    }

    /// A cached member's number and the other codes its row lists.
    fn codes_of(&self, member_id: &str) -> Result<Option<(String, Vec<String>)>, StoreError> {
        let mut row = self.tx.prepare_cached(CODES_OF)?;
        codes_of(&self.tx, &mut row, member_id)
    }

    /// A card the hub revoked: it no longer finds a member, and a sale cannot enrol it again.
    pub fn revoke_code(&self, code: &str) -> Result<(), StoreError> {
        self.tx
            .prepare_cached("INSERT OR IGNORE INTO revoked_codes (code) VALUES (?1)")?
            .execute([code])?;
        self.tx
            .prepare_cached("DELETE FROM member_codes WHERE code = ?1")?
            .execute([code])?;
        Ok(())
    }

    pub fn put_card_key(&self, key_id: u32, key: &[u8; 32]) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO card_keys (key_id, public_key) VALUES (?1, ?2)",
            )?
            .execute(params![key_id, key.as_slice()])?;
        Ok(())
    }

    /// Forgets what the hub sent (members, aliases, revoked codes, keys) before a full
    /// snapshot. Members made at this till that the hub has not confirmed stay; the ledger and
    /// the outbox are not touched.
    pub fn clear_hub_cache(&self) -> Result<(), StoreError> {
        self.held.forget_all();
        self.tx.execute_batch(
            "DELETE FROM member_codes WHERE member_id IN (SELECT member_id FROM members WHERE provisional = 0);
             DELETE FROM member_states WHERE member_id IN (SELECT member_id FROM members WHERE provisional = 0);
             DELETE FROM members WHERE provisional = 0;
             DELETE FROM member_aliases;
             DELETE FROM revoked_codes;
             DELETE FROM card_keys;",
        )?;
        self.changes.recount_members(&self.tx)
    }
}

/// A cached member's number and the other codes its row lists.
const CODES_OF: &str = "SELECT number, codes FROM members WHERE member_id = ?1";

/// A cached member's number and the other codes its row lists, read with `row` ([`CODES_OF`]).
fn codes_of(
    c: &rusqlite::Connection,
    row: &mut Statement<'_>,
    member_id: &str,
) -> Result<Option<(String, Vec<String>)>, StoreError> {
    let row: Option<(String, Option<String>)> = row
        .query_row([member_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((number, codes)) = row else {
        return Ok(None);
    };
    let codes = match codes.map(|text| from_json::<Vec<String>>("a member's codes", &text)) {
        None => Vec::new(),
        Some(Ok(codes)) => codes,
        // A list that no longer reads is not trusted to be whole: the member's codes are
        // read the slow way, from every code, and the next write of the member mends it.
        Some(Err(e)) => {
            tracing::warn!(member = member_id, error = %e, "a cached member's list of codes does not read; reading its codes from the whole table");
            c.prepare_cached("SELECT code FROM member_codes WHERE member_id = ?1")?
                .query_map([member_id], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        }
    };
    Ok(Some((number, codes)))
}

/// Writes the hub's members into the cache, with the statements it runs for each member
/// prepared once: looked up in rusqlite's statement cache for every member instead (by hashing
/// and comparing their SQL, and putting them back), they cost a first sync of a million members
/// about a second (docs/benchmarks.md).
pub struct MemberWriter<'t> {
    tx: &'t WriteTx<'t>,
    /// Other members holding the number.
    numbered: CachedStatement<'t>,
    /// [`CODES_OF`].
    codes_row: CachedStatement<'t>,
    member: CachedStatement<'t>,
    /// A code, given to this member, from whichever member held it.
    code: CachedStatement<'t>,
}

impl std::fmt::Debug for MemberWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberWriter").finish_non_exhaustive()
    }
}

impl<'t> MemberWriter<'t> {
    fn new(tx: &'t WriteTx<'t>) -> Result<MemberWriter<'t>, StoreError> {
        Ok(MemberWriter {
            tx,
            numbered: tx.tx.prepare_cached(
                "SELECT member_id FROM members WHERE number = ?1 AND member_id <> ?2",
            )?,
            codes_row: tx.tx.prepare_cached(CODES_OF)?,
            member: tx.tx.prepare_cached(
                "INSERT INTO members (member_id, number, provisional, snapshot, updated_at,
                                      snapshot_through, codes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(member_id) DO UPDATE SET number = excluded.number,
                     provisional = excluded.provisional, snapshot = excluded.snapshot,
                     updated_at = excluded.updated_at,
                     snapshot_through = excluded.snapshot_through, codes = excluded.codes",
            )?,
            code: tx.tx.prepare_cached(
                "INSERT INTO member_codes (code, member_id) VALUES (?1, ?2)
                 ON CONFLICT(code) DO UPDATE SET member_id = excluded.member_id
                 WHERE member_id <> excluded.member_id",
            )?,
        })
    }

    /// Replaces (or adds) a member from the hub's snapshot with its codes; `state` is the
    /// snapshot with this terminal's later outcomes on top, or `None` on a till that has recorded
    /// nothing yet (a first sync), where the state is the snapshot and no local state can be
    /// held to clear. Provisional members the hub merged into it are removed, and remembered as
    /// aliases so their local events still count. A member holding the number is removed; a
    /// code another member held becomes this member's.
    pub fn upsert(
        &mut self,
        s: &Snapshot<'_>,
        state: Option<&MemberState>,
        now: &str,
    ) -> Result<(), StoreError> {
        let tx = self.tx;
        let merged: Vec<&String> = s
            .merged_ids
            .iter()
            .filter(|m| m.as_str() != s.member_id)
            .collect();
        if !merged.is_empty() {
            let mut alias = tx.tx.prepare_cached(
                "INSERT OR REPLACE INTO member_aliases (alias_id, member_id) VALUES (?1, ?2)",
            )?;
            for merged in merged {
                tx.remove_member(merged)?;
                alias.execute(params![merged, s.member_id])?;
            }
        }
        let others: Vec<String> = self
            .numbered
            .query_map(params![s.number, s.member_id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for other in others {
            tx.remove_member(&other)?;
        }
        // Codes are kept once held (a code leaves by revocation or by going to another member),
        // so the row goes on listing every code this member may still have a row for.
        let mut extra = match codes_of(&tx.tx, &mut self.codes_row, s.member_id)? {
            Some((number, mut codes)) => {
                codes.push(number);
                codes
            }
            None => {
                tx.changes.member_added();
                Vec::new()
            }
        };
        extra.extend(s.codes.iter().cloned());
        // The snapshot changes the member's base: what was held for it is older (store/held.rs).
        tx.forget_held(s.member_id);
        self.member.execute(params![
            s.member_id,
            s.number,
            s.provisional,
            packed::pack(s.state)?,
            now,
            s.through as i64,
            other_codes(s.number, extra)?
        ])?;
        if let Some(state) = state {
            tx.put_local_state(s.member_id, super::state_bytes(s.state, state)?, now)?;
        }
        for code in s.codes {
            self.code.execute(params![code, s.member_id])?;
        }
        Ok(())
    }
}

/// What a member's row lists of its codes: those other than its number, once each, in order;
/// NULL for none (most members: their one code is their number).
pub(crate) fn other_codes(
    number: &str,
    codes: impl IntoIterator<Item = String>,
) -> Result<Option<String>, StoreError> {
    let others: std::collections::BTreeSet<String> =
        codes.into_iter().filter(|c| c != number).collect();
    if others.is_empty() {
        return Ok(None);
    }
    super::to_json(&others).map(Some)
}
