//! The statements of members in LINE on a SQLite transaction (`unit::line::LineStatements`):
//! each is a function of the module that owns its tables.

use chrono::{DateTime, Utc};
use tenpo_loyalty::Date;
use tenpo_protocol::sync::MemberSnapshot;

use super::statements::SqliteUnit;
use super::{line, members, outbox, profiles, scan, signup};
use crate::store::StoreError;
use crate::store::model::LineEvent;
use crate::store::outbox::{MessageClass, OutboxMessage, Profile};
use crate::store::unit::line::{LineStatements, LinkedRow, NewSignup, SignupRow};

impl LineStatements for SqliteUnit<'_> {
    async fn signup_row(&mut self, signup_id: &str) -> Result<Option<SignupRow>, StoreError> {
        signup::signup_row(self.tx(), signup_id)
    }

    async fn insert_signup(
        &mut self,
        s: NewSignup<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        signup::insert_signup(self.tx(), &s, now)
    }

    async fn member_of_line_user(&mut self, line_user: &str) -> Result<Option<String>, StoreError> {
        signup::member_of_line_user(self.tx(), line_user)
    }

    async fn link_line_user(
        &mut self,
        line_user: &str,
        member_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        signup::link(self.tx(), line_user, member_id, &now.to_rfc3339())
    }

    async fn number_counter(&mut self) -> Result<Option<u64>, StoreError> {
        signup::number_counter(self.tx())
    }

    async fn set_number_counter(&mut self, next: u64) -> Result<(), StoreError> {
        signup::set_number_counter(self.tx(), next)
    }

    async fn member_snapshot(
        &mut self,
        member_id: &str,
    ) -> Result<Option<MemberSnapshot>, StoreError> {
        members::load(self.tx(), member_id)
    }

    async fn take_webhook_event(
        &mut self,
        event: &LineEvent,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        line::take_webhook_event(self.tx(), event, now)
    }

    async fn hold_friendships(&mut self, _users: &[&str]) -> Result<(), StoreError> {
        // One writer: nothing to wait for.
        Ok(())
    }

    async fn set_friendship(
        &mut self,
        line_user: &str,
        following: bool,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        line::set_friendship(self.tx(), line_user, following, at_ms)
    }

    async fn follows(&mut self, line_user: &str) -> Result<bool, StoreError> {
        line::follows(self.tx(), line_user)
    }

    async fn mark_blocked(&mut self, line_user: &str) -> Result<(), StoreError> {
        outbox::blocked(self.tx(), line_user)
    }

    async fn linked_at(&mut self, line_user: &str) -> Result<Option<String>, StoreError> {
        outbox::linked_at(self.tx(), line_user)
    }

    async fn requeue_menu(
        &mut self,
        member_id: &str,
        dedupe_key: &str,
        now_ms: i64,
        expires_at_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        outbox::requeue_menu(self.tx(), member_id, dedupe_key, now_ms, expires_at_ms)
    }

    async fn remove_link(&mut self, line_user: &str, member_id: &str) -> Result<(), StoreError> {
        line::remove_link(self.tx(), line_user, member_id)
    }

    async fn upsert_profile(
        &mut self,
        member_id: &str,
        profile: &Profile,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        profiles::upsert_profile(self.tx(), member_id, profile, now)
    }

    async fn expire_marketing(&mut self, member_id: &str) -> Result<(), StoreError> {
        profiles::expire_marketing(self.tx(), member_id)
    }

    async fn set_birthday(
        &mut self,
        member_id: &str,
        birthday: Option<Date>,
    ) -> Result<(), StoreError> {
        profiles::set_birthday(self.tx(), member_id, birthday)
    }

    async fn lapse(&mut self, now_ms: i64, retry_cutoff_ms: i64) -> Result<(), StoreError> {
        outbox::lapse(self.tx(), now_ms, retry_cutoff_ms)
    }

    async fn due(
        &mut self,
        class: MessageClass,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        outbox::due(self.tx(), class, now_ms, limit)
    }

    async fn home_store_of_message(&mut self, id: i64) -> Result<Option<String>, StoreError> {
        outbox::home_store_of_message(self.tx(), id)
    }

    async fn recent_marketing(&mut self, id: i64, since: DateTime<Utc>) -> Result<u64, StoreError> {
        outbox::recent_marketing(self.tx(), id, since)
    }

    async fn set_not_before(&mut self, id: i64, until_ms: i64) -> Result<(), StoreError> {
        outbox::set_not_before(self.tx(), id, until_ms)
    }

    async fn lease(
        &mut self,
        id: i64,
        until_ms: i64,
        now_ms: i64,
        new_key: &str,
    ) -> Result<String, StoreError> {
        outbox::lease(self.tx(), id, until_ms, now_ms, new_key)
    }

    async fn linked_page(&mut self, after: &str, limit: u32) -> Result<Vec<LinkedRow>, StoreError> {
        scan::linked_page(self.tx(), after, limit)
    }
}
