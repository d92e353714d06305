//! Applying the hub's change feed to the member cache, one page per transaction with its cursor
//! (docs/design.md §4: the cursor is stored in the same transaction as the changes it covers).
//!
//! A member's state is the hub's snapshot plus this terminal's outcomes the snapshot does not
//! include (`applied_through` for this terminal), so nothing is counted twice or dropped.

use std::collections::{HashMap, HashSet};

use base64::Engine;
use tenpo_loyalty::RuleSet;
use tenpo_protocol::sync::{Change, MemberSnapshot};

use crate::ledger::Ledger;
use crate::store::cache::{MemberWriter, Snapshot};
use crate::store::{Store, StoreError, WriteTx, replay};

/// The `meta` key of the last rule set the hub sent.
pub const HUB_RULES: &str = "hub_rules";

/// What a page changed, for the log, the progress bar and the ledger.
#[derive(Debug, Default)]
pub struct Applied {
    pub members: u64,
    pub removed: u64,
    pub revoked: u64,
    pub rules: Option<RuleSet>,
    pub keys: Vec<(u32, [u8; 32])>,
    /// Signups this terminal's kiosk showed, completed at the hub.
    pub signups: Vec<tenpo_protocol::signup::SignupCompletion>,
}

/// Caches one member from the hub (from the feed or an online lookup).
pub fn cache_member(
    tx: &WriteTx<'_>,
    terminal_id: &str,
    m: &MemberSnapshot,
    now: &str,
) -> Result<(), StoreError> {
    let mut writer = tx.member_writer()?;
    cache_member_on(tx, &mut writer, terminal_id, m, now, tx.has_events()?)
}

/// [`cache_member`] with the page's `writer`, told whether this till has recorded anything: a
/// till that has not (a first sync) has no outcomes to replay and no members of its own to
/// merge, and skips looking for them.
fn cache_member_on(
    tx: &WriteTx<'_>,
    writer: &mut MemberWriter<'_>,
    terminal_id: &str,
    m: &MemberSnapshot,
    now: &str,
    local_events: bool,
) -> Result<(), StoreError> {
    let snapshot = |merged_ids| snapshot_of(terminal_id, m, merged_ids);
    let through = snapshot(&m.merged_ids).through;
    if !local_events {
        return writer.upsert(&snapshot(&m.merged_ids), None, now);
    }
    let mut ids = tx.member_and_aliases(&m.member_id)?;
    for merged in &m.merged_ids {
        if !ids.contains(merged) {
            ids.push(merged.clone());
        }
    }
    let mut local = tx.local_outcomes(&ids, through)?;
    // A card this till sold as a new (provisional) member that the hub knows as this member,
    // before the hub has seen the till's event for it (a page in flight while the card was
    // sold): the till's member becomes an alias, and all of its outcomes count, for none of
    // them is in the hub's snapshot yet. Dropping it would hide the till's own sales.
    let unmerged = tx.local_members_claiming(&m.member_id, &m.number, &m.codes, &ids)?;
    if !unmerged.is_empty() {
        tracing::info!(member = %m.member_id, provisional = ?unmerged, "a card sold here is a member the hub knows; merged");
        local.extend(tx.local_outcomes(&unmerged, 0)?);
        local.sort_by_key(|o| o.seq);
    }
    let state = replay(&m.state, &local);
    let mut merged_ids = m.merged_ids.clone();
    merged_ids.extend(unmerged);
    writer.upsert(&snapshot(&merged_ids), Some(&state), now)
}

/// The store's view of a member the hub sent.
fn snapshot_of<'a>(
    terminal_id: &str,
    m: &'a MemberSnapshot,
    merged_ids: &'a [String],
) -> Snapshot<'a> {
    Snapshot {
        member_id: &m.member_id,
        number: &m.number,
        provisional: m.provisional,
        codes: &m.codes,
        state: &m.state,
        through: m.applied_through.get(terminal_id).copied().unwrap_or(0),
        merged_ids,
    }
}

/// Which changes of a page the cache already holds, by position: members it holds exactly as
/// sent (`Store::holds`), above all the hub's echo of this till's own sales, which every pull
/// after a push brings back. Read before the page's transaction and outside it, so that a page
/// of echoes writes its cursor alone, and the sales of the moment do not wait behind a page
/// of writes that change nothing (docs/design.md §4, docs/benchmarks.md).
///
/// Only a member sent once in the page, and touched by no other change in it (removed, or a
/// code of it revoked), is taken as held: its change then has nothing before or after it in
/// the page to be ordered against, and skipping it is the same as writing it. And only a
/// member whose snapshot includes some event of this till is looked at: an echo always does,
/// while the members of a first sync, or those other tills sold to, never do and cost no read.
pub fn held(store: &Store, terminal_id: &str, changes: &[Change]) -> Result<Vec<bool>, StoreError> {
    let mut sent: HashMap<&str, usize> = HashMap::new();
    let mut revoked: HashSet<&str> = HashSet::new();
    for change in changes {
        match change {
            Change::Member { member } => *sent.entry(&member.member_id).or_default() += 1,
            Change::MemberRemoved { member_id } => *sent.entry(member_id).or_default() += 2,
            Change::CodeRevoked { code } => {
                revoked.insert(code);
            }
            _ => {}
        }
    }
    let mut candidates = Vec::new();
    let mut positions = Vec::new();
    for (i, change) in changes.iter().enumerate() {
        if let Change::Member { member } = change
            && sent.get(member.member_id.as_str()) == Some(&1)
            && !member.codes.iter().any(|c| revoked.contains(c.as_str()))
        {
            let snapshot = snapshot_of(terminal_id, member, &member.merged_ids);
            if snapshot.through > 0 {
                candidates.push(snapshot);
                positions.push(i);
            }
        }
    }
    let mut held = vec![false; changes.len()];
    for (i, holds) in positions.into_iter().zip(store.holds(&candidates)?) {
        held[i] = holds;
    }
    Ok(held)
}

/// Applies a page of changes and stores the cursor that follows it. `held` marks, by
/// position, the changes the cache already holds (from [`held`]; a shorter slice holds none
/// of the rest): they are counted, not written.
pub fn apply_page(
    tx: &WriteTx<'_>,
    terminal_id: &str,
    changes: &[Change],
    held: &[bool],
    next_cursor: &str,
    now: &str,
) -> Result<Applied, StoreError> {
    let mut applied = Applied::default();
    let local_events = tx.has_events()?;
    let mut writer = tx.member_writer()?;
    for (i, change) in changes.iter().enumerate() {
        match change {
            Change::Member { member } => {
                if !held.get(i).copied().unwrap_or(false) {
                    cache_member_on(tx, &mut writer, terminal_id, member, now, local_events)?;
                }
                applied.members += 1;
            }
            Change::MemberRemoved { member_id } => {
                tx.remove_member(member_id)?;
                applied.removed += 1;
            }
            Change::RuleSet { rules } => {
                if rules.validate().is_ok() {
                    let json = serde_json::to_string(rules).map_err(|e| StoreError::Corrupt {
                        what: "rule set from the hub",
                        detail: e.to_string(),
                    })?;
                    tx.set_meta(HUB_RULES, &json)?;
                    applied.rules = Some(rules.clone());
                } else {
                    tracing::error!(
                        version = rules.version,
                        "the hub sent a rule set that does not validate; keeping the current one"
                    );
                }
            }
            // Followed by the signup module (the kiosk's sessions); the member itself arrives
            // as a `member` change.
            Change::SignupCompleted { signup } => {
                if signup.terminal_id == terminal_id {
                    applied.signups.push(signup.clone());
                }
            }
            Change::CodeRevoked { code } => {
                tx.revoke_code(code)?;
                applied.revoked += 1;
            }
            Change::SigningKey { key_id, public_key } => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(public_key)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok());
                match bytes {
                    Some(key) => {
                        tx.put_card_key(*key_id, &key)?;
                        applied.keys.push((*key_id, key));
                    }
                    None => tracing::error!(
                        key_id,
                        "the hub sent a card key that is not 32 bytes of base64"
                    ),
                }
            }
        }
    }
    tx.set_feed_cursor(next_cursor)?;
    Ok(applied)
}

/// Puts what a committed page changed into force in the ledger.
pub fn take_effect(ledger: &Ledger, applied: &Applied) {
    if let Some(rules) = &applied.rules {
        ledger.set_rules(rules.clone());
    }
    if !applied.keys.is_empty() {
        ledger.add_card_keys(&applied.keys);
    }
}

/// The rule set the hub last sent, if any (used at start-up).
///
/// A cached rule set that no longer reads is an error, not "no rule set yet": the terminal
/// would otherwise start on another program (or refuse to start offline) without saying why.
pub fn cached_rules(tx: &WriteTx<'_>) -> Result<Option<RuleSet>, StoreError> {
    tx.meta(HUB_RULES)?
        .map(|text| {
            serde_json::from_str::<RuleSet>(&text).map_err(|e| StoreError::Corrupt {
                what: "the hub's rule set cached in the database",
                detail: e.to_string(),
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::store::Store;

    #[test]
    fn a_damaged_cached_rule_set_is_an_error_not_none() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("tenpo.db")).unwrap();
        assert!(store.write(|tx| cached_rules(tx)).unwrap().is_none());
        let json = serde_json::to_string(&RuleSet::demo()).unwrap();
        store.write(|tx| tx.set_meta(HUB_RULES, &json)).unwrap();
        assert_eq!(
            store.write(|tx| cached_rules(tx)).unwrap().map(|r| r.name),
            Some("demo".to_owned())
        );
        store
            .write(|tx| tx.set_meta(HUB_RULES, "{\"version\": 1, \"name\":"))
            .unwrap();
        let err = store.write(|tx| cached_rules(tx)).unwrap_err();
        assert!(err.to_string().contains("rule set"), "{err}");
    }
}
