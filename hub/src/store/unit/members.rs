//! Members changed in one transaction: each loaded once, changed in memory, written once at the
//! end; and the provisional members tills make for new cards.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use tenpo_loyalty::MemberState;
use tenpo_protocol::sync::MemberSnapshot;

use super::Statements;
use crate::store::{StoreError, from_json};

/// Members changed in one transaction, written once each at the end.
#[derive(Debug, Default)]
pub(crate) struct Touched {
    map: HashMap<String, MemberSnapshot>,
    /// Loaded or made without a home store: the first store an event of theirs names is it.
    homeless: HashSet<String>,
    /// Until when each loaded member's purchases may count for a notification.
    notified_until: HashMap<String, i64>,
}

impl Touched {
    /// The snapshot of `member_id` (a real member's id), loaded once per transaction.
    pub(crate) async fn get<'m>(
        &'m mut self,
        db: &mut impl Statements,
        member_id: &str,
    ) -> Result<Option<&'m mut MemberSnapshot>, StoreError> {
        if !self.map.contains_key(member_id) {
            let Some(row) = db.member_row(member_id).await? else {
                return Ok(None);
            };
            if row.home_store.is_none() {
                self.homeless.insert(member_id.to_owned());
            }
            if let Some(until) = row.notified_until_ms {
                self.notified_until.insert(member_id.to_owned(), until);
            }
            self.map.insert(
                member_id.to_owned(),
                from_json("member snapshot", &row.snapshot)?,
            );
        }
        Ok(self.map.get_mut(member_id))
    }

    /// Until when a loaded member's purchases may count for a wish's notification.
    pub(crate) fn notified_until(&self, member_id: &str) -> Option<i64> {
        self.notified_until.get(member_id).copied()
    }

    /// [`Touched::get`] for an event from `store_id`: a member without a home store gets this
    /// one (one write per member and transaction, none for a member who has one).
    pub(crate) async fn get_from<'m>(
        &'m mut self,
        db: &mut impl Statements,
        member_id: &str,
        store_id: &str,
    ) -> Result<Option<&'m mut MemberSnapshot>, StoreError> {
        if self.get(db, member_id).await?.is_none() {
            return Ok(None);
        }
        if self.homeless.remove(member_id) {
            db.claim_home_store(member_id, store_id).await?;
        }
        Ok(self.map.get_mut(member_id))
    }

    pub(crate) async fn flush(
        self,
        db: &mut impl Statements,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // In id order: two transactions that touch the same members lock them in one order.
        let mut members: Vec<&MemberSnapshot> = self.map.values().collect();
        members.sort_unstable_by(|a, b| a.member_id.cmp(&b.member_id));
        db.save_members(&members, now).await
    }

    /// A provisional member a till made for a new card: merged into the member that already
    /// has the code, or a new member under the till's id. Idempotent.
    pub(crate) async fn register_provisional(
        &mut self,
        db: &mut impl Statements,
        member_id: &str,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if db.resolve(member_id).await?.is_some() {
            return Ok(());
        }
        if let Some(owner) = db.code_owner(code).await? {
            db.insert_alias(member_id, &owner).await?;
            if let Some(m) = self.get(db, &owner).await?
                && !m.merged_ids.iter().any(|id| id == member_id)
            {
                m.merged_ids.push(member_id.to_owned());
            }
            tracing::info!(provisional = %member_id, member = %owner, "provisional member merged into the card's member");
            return Ok(());
        }
        let member = MemberSnapshot {
            member_id: member_id.to_owned(),
            number: code.to_owned(),
            codes: vec![code.to_owned()],
            provisional: false,
            state: MemberState::default(),
            applied_through: Default::default(),
            merged_ids: Vec::new(),
        };
        db.insert_member(&member, None, now).await?;
        self.homeless.insert(member_id.to_owned());
        self.map.insert(member_id.to_owned(), member);
        tracing::info!(member = %member_id, "member created from a till's provisional member");
        Ok(())
    }
}
