//! The daily scan's plan (docs/design.md §10), for both backends: a page of members linked to
//! LINE is read and planned while the page before is written (the write, one statement a row
//! that reads again what can change, is each backend's own).

use tenpo_loyalty::{Date, RuleSet};
use tenpo_protocol::sync::MemberSnapshot;

use super::ProfileRow;
use super::line::LineStatements;
use crate::store::outbox::{HomeStores, PlannedPage, Planner, Recipient, ScanMessage};
use crate::store::{StoreError, from_json};

/// Which page of the daily scan to plan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Page<'a> {
    pub today: Date,
    /// The members whose day it is (their home store's time zone).
    pub stores: &'a HomeStores,
    /// The last member id of the page before (`""` for the first).
    pub after: &'a str,
    pub limit: u32,
}

/// Plans the day's messages for up to `limit` linked members after `after` (member id order);
/// members of other time zones are read and passed over.
pub(crate) async fn plan(
    db: &mut impl LineStatements,
    planner: &dyn Planner,
    rules: &RuleSet,
    at: Page<'_>,
) -> Result<PlannedPage, StoreError> {
    let rows = db.linked_page(at.after, at.limit).await?;
    let seen = rows.len();
    let mut page = PlannedPage::default();
    let mut last = None;
    for row in rows {
        if !at.stores.covers(row.home_store.as_deref()) {
            last = Some(row.member_id);
            continue;
        }
        let member: MemberSnapshot = from_json("member snapshot", &row.snapshot)?;
        let profile = ProfileRow {
            language: row.language,
            marketing: row.marketing,
            ..ProfileRow::default()
        }
        .profile();
        let recipient = Recipient {
            member_id: &member.member_id,
            number: &member.number,
            state: &member.state,
            profile: &profile,
        };
        page.members += 1;
        for planned in planner.daily(&recipient, rules, at.today) {
            page.messages.push(ScanMessage {
                member_id: row.member_id.clone(),
                line_user_id: row.line_user_id.clone(),
                planned,
            });
        }
        last = Some(row.member_id);
    }
    if seen == at.limit as usize {
        page.next = last;
    }
    Ok(page)
}
