//! The daily scan of members linked to LINE, a page per transaction (docs/design.md §10).

use chrono::{DateTime, Utc};
use rusqlite::{Transaction, params};
use tenpo_loyalty::{Date, RuleSet};

use tenpo_protocol::sync::MemberSnapshot;

use super::{from_json, outbox};
use crate::store::StoreError;
use crate::store::outbox::{Language, LinkedPage, Planner, Profile, Recipient};

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
    // One statement for the page: the member, their LINE user, whether that user follows the
    // account, and their profile choices.
    let mut stmt = tx.prepare_cached(
        "SELECT lu.member_id, lu.line_user_id, m.snapshot, p.language, p.marketing, f.following
         FROM line_users lu
         JOIN members m ON m.member_id = lu.member_id
         LEFT JOIN member_profiles p ON p.member_id = lu.member_id
         LEFT JOIN line_friends f ON f.line_user_id = lu.line_user_id
         WHERE lu.member_id > ?1 ORDER BY lu.member_id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after, limit], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, Option<bool>>(4)?,
            r.get::<_, Option<bool>>(5)?,
        ))
    })?;
    let mut page = LinkedPage::default();
    let mut last = None;
    let mut seen = 0u32;
    for row in rows {
        let (member_id, line_user, snapshot, language, marketing, following) = row?;
        seen += 1;
        let member: MemberSnapshot = from_json("member snapshot", &snapshot)?;
        let profile = match (language, marketing) {
            (Some(language), Some(marketing)) => Profile {
                language: Language::parse(&language).unwrap_or_default(),
                marketing,
                ..Profile::default()
            },
            _ => Profile::default(),
        };
        let recipient = Recipient {
            member_id: &member.member_id,
            number: &member.number,
            state: &member.state,
            profile: &profile,
        };
        page.members += 1;
        let mut written = false;
        for p in planner.daily(&recipient, rules, today) {
            if outbox::insert(
                tx,
                &p.dedupe_key,
                Some(&member_id),
                &line_user,
                &p.message,
                now,
            )? {
                page.messages += 1;
                written = true;
            }
        }
        if written && following == Some(false) {
            outbox::blocked(tx, &line_user)?;
        }
        last = Some(member_id);
    }
    if seen == limit {
        page.next = last;
    }
    Ok(page)
}
