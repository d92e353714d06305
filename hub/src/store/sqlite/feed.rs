//! The change feed from the SQLite store: one read transaction per page, so a page is one
//! consistent snapshot of the things it names.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction};
use tenpo_loyalty::RuleSet;
use tenpo_protocol::sync::Change;

use super::from_json;
use super::members;
use crate::cursor::FeedPosition;
use crate::store::{ChangesPage, StoreError};

/// The highest position the log ever reached (positions are never reused).
fn log_end(tx: &Transaction<'_>) -> Result<u64, StoreError> {
    let end: Option<i64> = tx
        .prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = 'changes'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    Ok(end.unwrap_or(0).unsigned_abs())
}

/// Records a run of the hub, starting where the log ends now.
pub(crate) fn record_run(
    tx: &Transaction<'_>,
    run: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO feed_runs (run, started_after, started_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(rusqlite::params![
        run,
        log_end(tx)? as i64,
        now.to_rfc3339()
    ])?;
    Ok(())
}

/// How far the log had got when `run` ended (the next run's start), or `None` when this
/// database never saw that run. The current run has not ended: the log's end.
fn run_end(tx: &Transaction<'_>, run: &str) -> Result<Option<u64>, StoreError> {
    let id: Option<i64> = tx
        .prepare_cached("SELECT id FROM feed_runs WHERE run = ?1")?
        .query_row([run], |r| r.get(0))
        .optional()?;
    let Some(id) = id else {
        return Ok(None);
    };
    let next: Option<i64> = tx
        .prepare_cached("SELECT started_after FROM feed_runs WHERE id > ?1 ORDER BY id LIMIT 1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    match next {
        Some(end) => Ok(Some(end.unsigned_abs())),
        None => log_end(tx).map(Some),
    }
}

/// Where a cursor points, once it is known to be a place in this database's history.
fn checked_position(
    tx: &Transaction<'_>,
    epoch: &str,
    after: &FeedPosition,
) -> Result<u64, StoreError> {
    let reset = |why: &str| {
        Err(StoreError::CursorReset(format!(
            "{why}: start again from an empty cursor"
        )))
    };
    if after.epoch != epoch {
        return reset("the cursor is from another hub database (replaced or restored)");
    }
    let end = match &after.run {
        Some(run) => match run_end(tx, run)? {
            Some(end) => end,
            None => {
                return reset(
                    "the cursor was made by a hub run this database never saw (restored from a \
                     backup?)",
                );
            }
        },
        None => log_end(tx)?,
    };
    if after.position > end {
        return reset(
            "the cursor is ahead of what this hub's change log held at the time (restored from \
             a backup?)",
        );
    }
    Ok(after.position)
}

pub(crate) fn changes(
    tx: &Transaction<'_>,
    epoch: &str,
    run: &str,
    after: Option<&FeedPosition>,
    limit: u32,
) -> Result<ChangesPage, StoreError> {
    let from = match after {
        None => 0,
        Some(p) => checked_position(tx, epoch, p)?,
    };
    let mut stmt = tx.prepare_cached(
        "SELECT pos, kind, key FROM changes WHERE pos > ?1 ORDER BY pos LIMIT ?2",
    )?;
    let rows: Vec<(i64, String, String)> = stmt
        .query_map(rusqlite::params![from as i64, i64::from(limit) + 1], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    let more = rows.len() > limit as usize;
    let mut next = from;
    let mut out = Vec::with_capacity(rows.len().min(limit as usize));
    for (pos, kind, key) in rows.into_iter().take(limit as usize) {
        next = pos.unsigned_abs();
        if let Some(change) = materialize(tx, &kind, key)? {
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

/// The current state of one thing in the log.
fn materialize(
    tx: &Transaction<'_>,
    kind: &str,
    key: String,
) -> Result<Option<Change>, StoreError> {
    Ok(match kind {
        "member" => Some(match members::load(tx, &key)? {
            Some(member) => Change::Member { member },
            None => Change::MemberRemoved { member_id: key },
        }),
        "rule_set" => {
            let text: Option<String> = tx
                .prepare_cached("SELECT rules FROM rule_sets ORDER BY version DESC LIMIT 1")?
                .query_row([], |r| r.get(0))
                .optional()?;
            match text {
                // Labels are for members: a till from before them would refuse the rule set.
                Some(t) => Some(Change::RuleSet {
                    rules: from_json::<RuleSet>("rule set", &t)?.for_tills(),
                }),
                None => None,
            }
        }
        "signing_key" => {
            let key_id: u32 = key.parse().map_err(|_| StoreError::Corrupt {
                what: "change log",
                detail: format!("signing key id {key:?}"),
            })?;
            let public: Option<Vec<u8>> = tx
                .prepare_cached(
                    "SELECT public_key FROM signing_keys WHERE key_id = ?1 AND active = 1",
                )?
                .query_row([key_id], |r| r.get(0))
                .optional()?;
            public.map(|p| Change::SigningKey {
                key_id,
                public_key: STANDARD.encode(p),
            })
        }
        "code_revoked" => Some(Change::CodeRevoked { code: key }),
        "signup" => super::signup::change(tx, &key)?,
        other => {
            return Err(StoreError::Corrupt {
                what: "change log",
                detail: format!("unknown kind {other:?}"),
            });
        }
    })
}
