//! The change feed from the SQLite store: one read transaction per page, so a page is one
//! consistent snapshot of the things it names.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
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

pub(crate) fn changes(
    tx: &Transaction<'_>,
    epoch: &str,
    after: Option<&FeedPosition>,
    limit: u32,
) -> Result<ChangesPage, StoreError> {
    let from = match after {
        None => 0,
        Some(p) if p.epoch != epoch => {
            return Err(StoreError::CursorReset(
                "the cursor is from another hub database (replaced or restored): start again \
                 from an empty cursor"
                    .into(),
            ));
        }
        Some(p) if p.position > log_end(tx)? => {
            return Err(StoreError::CursorReset(
                "the cursor is ahead of this hub's change log (restored from a backup?): start \
                 again from an empty cursor"
                    .into(),
            ));
        }
        Some(p) => p.position,
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
                Some(t) => Some(Change::RuleSet {
                    rules: from_json::<RuleSet>("rule set", &t)?,
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
