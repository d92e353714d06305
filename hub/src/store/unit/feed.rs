//! The change feed (docs/design.md §3): pages of the change log after a cursor, each read in
//! one consistent snapshot, and the check that a cursor is a place in this database's history.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tenpo_loyalty::RuleSet;
use tenpo_protocol::sync::{Change, MemberSnapshot};

use crate::cursor::FeedPosition;
use crate::store::{ChangesPage, StoreError, from_json};

/// One row of the change log: a thing at its latest change.
#[derive(Debug, Clone)]
pub(crate) struct LogRow {
    pub pos: u64,
    pub kind: String,
    pub key: String,
}

/// The reads a feed page needs, in one snapshot.
pub(crate) trait FeedReads {
    /// The highest position the log ever reached (positions are never reused).
    async fn log_end(&mut self) -> Result<u64, StoreError>;

    /// How far the log had got by the time `run` last handed out a cursor (for a run that
    /// goes on, at least that far), or `None` when this database never saw the run.
    async fn run_reached(&mut self, run: &str) -> Result<Option<u64>, StoreError>;

    /// Up to `limit` rows after `from`, in log order.
    async fn log_after(&mut self, from: u64, limit: u32) -> Result<Vec<LogRow>, StoreError>;

    async fn member(&mut self, member_id: &str) -> Result<Option<MemberSnapshot>, StoreError>;

    /// The members of a page, by id (one read where the backend can; those gone are absent).
    async fn members(
        &mut self,
        member_ids: &[&str],
    ) -> Result<HashMap<String, MemberSnapshot>, StoreError> {
        let mut found = HashMap::with_capacity(member_ids.len());
        for id in member_ids {
            if let Some(member) = self.member(id).await? {
                found.insert((*id).to_owned(), member);
            }
        }
        Ok(found)
    }

    /// The newest rule set, as stored.
    async fn newest_rules(&mut self) -> Result<Option<String>, StoreError>;

    /// The public half of a card-signing key, while it is active.
    async fn active_public_key(&mut self, key_id: u32) -> Result<Option<Vec<u8>>, StoreError>;

    /// The feed entry of a completed signup.
    async fn signup_change(&mut self, signup_id: &str) -> Result<Option<Change>, StoreError>;
}

fn reset<T>(why: &str) -> Result<T, StoreError> {
    Err(StoreError::CursorReset(format!(
        "{why}: start again from an empty cursor"
    )))
}

/// Where a cursor points, once it is known to be a place in this database's history.
async fn checked_position(
    db: &mut impl FeedReads,
    epoch: &str,
    after: &FeedPosition,
) -> Result<u64, StoreError> {
    if after.epoch != epoch {
        return reset("the cursor is from another hub database (replaced or restored)");
    }
    let end = match &after.run {
        Some(run) => match db.run_reached(run).await? {
            Some(end) => end,
            None => {
                return reset(
                    "the cursor was made by a hub run this database never saw (restored from a \
                     backup?)",
                );
            }
        },
        None => db.log_end().await?,
    };
    if after.position > end {
        return reset(
            "the cursor is ahead of what this hub's change log held at the time (restored from \
             a backup?)",
        );
    }
    Ok(after.position)
}

/// The page after `after` (`None`: from the start), at most `limit` things, made by `run`.
pub(crate) async fn changes(
    db: &mut impl FeedReads,
    epoch: &str,
    run: &str,
    after: Option<&FeedPosition>,
    limit: u32,
) -> Result<ChangesPage, StoreError> {
    let from = match after {
        None => 0,
        Some(p) => checked_position(db, epoch, p).await?,
    };
    let mut rows = db.log_after(from, limit.saturating_add(1)).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let ids: Vec<&str> = rows
        .iter()
        .filter(|r| r.kind == "member")
        .map(|r| r.key.as_str())
        .collect();
    let mut members = db.members(&ids).await?;
    let mut next = from;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        next = row.pos;
        let change = match row.kind.as_str() {
            "member" => Some(match members.remove(&row.key) {
                Some(member) => Change::Member { member },
                None => Change::MemberRemoved { member_id: row.key },
            }),
            _ => materialize(db, &row.kind, row.key).await?,
        };
        if let Some(change) = change {
            out.push(change);
        }
    }
    Ok(ChangesPage {
        changes: out,
        next: FeedPosition {
            epoch: epoch.to_owned(),
            run: Some(run.to_owned()),
            position: next,
        },
        more,
    })
}

/// The current state of one thing in the log (members are read for the whole page at once).
async fn materialize(
    db: &mut impl FeedReads,
    kind: &str,
    key: String,
) -> Result<Option<Change>, StoreError> {
    Ok(match kind {
        // Labels are for members: a till from before them would refuse the rule set.
        "rule_set" => match db.newest_rules().await? {
            Some(t) => Some(Change::RuleSet {
                rules: from_json::<RuleSet>("rule set", &t)?.for_tills(),
            }),
            None => None,
        },
        "signing_key" => {
            let key_id: u32 = key.parse().map_err(|_| StoreError::Corrupt {
                what: "change log",
                detail: format!("signing key id {key:?}"),
            })?;
            db.active_public_key(key_id)
                .await?
                .map(|p| Change::SigningKey {
                    key_id,
                    public_key: STANDARD.encode(p),
                })
        }
        "code_revoked" => Some(Change::CodeRevoked { code: key }),
        "member" => {
            return Err(StoreError::Bug(
                "a member's change is read with its page".into(),
            ));
        }
        "signup" => db.signup_change(&key).await?,
        other => {
            return Err(StoreError::Corrupt {
                what: "change log",
                detail: format!("unknown kind {other:?}"),
            });
        }
    })
}
