//! The daily scan of members linked to LINE, a page per transaction (docs/design.md §10).

use chrono::{DateTime, Utc};
use rusqlite::{Transaction, params};
use tenpo_loyalty::{Date, RuleSet};

use super::{members, outbox};
use crate::store::StoreError;
use crate::store::outbox::{LinkedPage, Planner};

/// Plans the day's messages for up to `limit` linked members after `after` (member id order).
pub(crate) fn linked(
    tx: &Transaction<'_>,
    planner: &dyn Planner,
    rules: &RuleSet,
    today: Date,
    after: &str,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<LinkedPage, StoreError> {
    let ids: Vec<String> = tx
        .prepare_cached(
            "SELECT member_id FROM line_users WHERE member_id > ?1 ORDER BY member_id LIMIT ?2",
        )?
        .query_map(params![after, limit], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut page = LinkedPage::default();
    for id in &ids {
        let Some(member) = members::load(tx, id)? else {
            continue;
        };
        page.members += 1;
        let written = outbox::plan(tx, &member, now, |r| planner.daily(r, rules, today))?;
        page.messages += u64::from(written);
    }
    if ids.len() as u32 == limit {
        page.next = ids.last().cloned();
    }
    Ok(page)
}
