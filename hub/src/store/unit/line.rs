//! Members in LINE, for both backends (docs/design.md §5, §10): LINE's webhook events and each
//! user's friendship, greeting a member who became reachable, unlinking, and a member's profile
//! choices. The statements they need, and those of signups (`signup.rs`), the outbox's claim
//! (`outbox.rs`) and the daily scan (`scan.rs`), are [`LineStatements`].

use chrono::{DateTime, Utc};
use tenpo_protocol::sync::MemberSnapshot;

use super::Statements;
use crate::store::StoreError;
use crate::store::model::{LineEvent, LineIntake};
use crate::store::outbox::{
    Greeting, MessageAction, MessageClass, NewMessage, OutboxMessage, Profile,
};

/// A completed signup as stored.
#[derive(Debug, Clone)]
pub(crate) struct SignupRow {
    pub kind: String,
    pub store_id: String,
    pub terminal_id: String,
    pub member_id: String,
    pub line_user_id: String,
    pub existing_member: bool,
    pub completed_at: DateTime<Utc>,
}

/// A signup to record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewSignup<'a> {
    pub signup_id: &'a str,
    pub kind: &'a str,
    pub store_id: &'a str,
    pub terminal_id: &'a str,
    pub card_code: Option<&'a str>,
    pub member_id: &'a str,
    pub line_user_id: &'a str,
    pub existing_member: bool,
}

/// A member linked to LINE, as the daily scan reads them.
#[derive(Debug, Clone)]
pub(crate) struct LinkedRow {
    pub member_id: String,
    pub line_user_id: String,
    pub snapshot: String,
    pub language: Option<String>,
    pub marketing: Option<bool>,
    pub home_store: Option<String>,
}

/// The statements of members in LINE.
pub(crate) trait LineStatements: Statements {
    // Signups.
    async fn signup_row(&mut self, signup_id: &str) -> Result<Option<SignupRow>, StoreError>;
    async fn insert_signup(
        &mut self,
        signup: NewSignup<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The member a LINE user is linked to.
    async fn member_of_line_user(&mut self, line_user: &str) -> Result<Option<String>, StoreError>;
    async fn link_line_user(
        &mut self,
        line_user: &str,
        member_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The next hub-issued member number's counter, held until the transaction ends.
    async fn number_counter(&mut self) -> Result<Option<u64>, StoreError>;
    async fn set_number_counter(&mut self, next: u64) -> Result<(), StoreError>;
    /// A member as stored, read without holding it.
    async fn member_snapshot(
        &mut self,
        member_id: &str,
    ) -> Result<Option<MemberSnapshot>, StoreError>;

    // LINE's webhook and friendships.
    /// Takes a webhook event once; answers whether it was new.
    async fn take_webhook_event(
        &mut self,
        event: &LineEvent,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Holds, for the rest of the transaction, what writing these LINE users' friendships
    /// takes, all in one order: PostgreSQL keeps each friendship on its link behind a lock a
    /// user shares with others (schema 9), and a delivery that took them one by one could wait
    /// on another in a circle. SQLite has one writer and holds nothing.
    async fn hold_friendships(&mut self, users: &[&str]) -> Result<(), StoreError>;
    /// Sets a friendship unless a later change is already held.
    async fn set_friendship(
        &mut self,
        line_user: &str,
        following: bool,
        at_ms: i64,
    ) -> Result<(), StoreError>;
    /// Whether the user follows the account now (as far as the hub has seen).
    async fn follows(&mut self, line_user: &str) -> Result<bool, StoreError>;
    /// The user's waiting rows go `unreachable`; one in flight is not tried again.
    async fn mark_blocked(&mut self, line_user: &str) -> Result<(), StoreError>;
    /// When the user's current link was made, as the dedupe key of its rich menu names it.
    async fn linked_at(&mut self, line_user: &str) -> Result<Option<String>, StoreError>;
    /// A rich-menu row written before that never went (lapsed or unreachable) is due again.
    async fn requeue_menu(
        &mut self,
        member_id: &str,
        dedupe_key: &str,
        now_ms: i64,
        expires_at_ms: Option<i64>,
    ) -> Result<(), StoreError>;
    /// The link goes; the user's waiting rows are not sent; one in flight is not tried again.
    async fn remove_link(&mut self, line_user: &str, member_id: &str) -> Result<(), StoreError>;

    // Profiles.
    async fn upsert_profile(
        &mut self,
        member_id: &str,
        profile: &Profile,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The member's waiting store news is not sent.
    async fn expire_marketing(&mut self, member_id: &str) -> Result<(), StoreError>;
    async fn set_birthday(
        &mut self,
        member_id: &str,
        birthday: Option<tenpo_loyalty::Date>,
    ) -> Result<(), StoreError>;

    // The outbox's claim.
    /// Rows whose lease ran out are due again; rows past their expiry lapse; rows first tried
    /// before `retry_cutoff_ms` and still unsent fail (LINE forgets the retry key).
    async fn lapse(&mut self, now_ms: i64, retry_cutoff_ms: i64) -> Result<(), StoreError>;
    /// Up to `limit` due rows of one class for users who follow, oldest first; with several
    /// senders, none another is claiming.
    async fn due(
        &mut self,
        class: MessageClass,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StoreError>;
    /// The home store of the member a row is for.
    async fn home_store_of_message(&mut self, id: i64) -> Result<Option<String>, StoreError>;
    /// Marketing rows sent (since `since`) or being sent to the member a row is for.
    async fn recent_marketing(&mut self, id: i64, since: DateTime<Utc>) -> Result<u64, StoreError>;
    async fn set_not_before(&mut self, id: i64, until_ms: i64) -> Result<(), StoreError>;
    /// Leases a row; answers its retry key (made at the first claim, then kept).
    async fn lease(
        &mut self,
        id: i64,
        until_ms: i64,
        now_ms: i64,
        new_key: &str,
    ) -> Result<String, StoreError>;

    // The daily scan.
    /// Up to `limit` members linked to LINE after `after`, in member id order.
    async fn linked_page(&mut self, after: &str, limit: u32) -> Result<Vec<LinkedRow>, StoreError>;
}

/// Stores one delivery of LINE's webhook: each event once; follow and unfollow set the
/// friendship unless a later change is already held; a new follow from a member writes
/// `greeting` to the outbox.
pub(crate) async fn take(
    db: &mut impl LineStatements,
    events: &[LineEvent],
    greeting: &Greeting,
    now: DateTime<Utc>,
) -> Result<LineIntake, StoreError> {
    let mut tally = LineIntake::default();
    let users: Vec<&str> = events
        .iter()
        .filter(|e| e.following.is_some())
        .filter_map(|e| e.user_id.as_deref())
        .collect();
    db.hold_friendships(&users).await?;
    for e in events {
        if !db.take_webhook_event(e, now).await? {
            tally.duplicate += 1;
            continue;
        }
        tally.new += 1;
        let (Some(user), Some(following)) = (&e.user_id, e.following) else {
            continue;
        };
        // An older change arriving late (redelivered after a newer one) changes nothing.
        db.set_friendship(user, following, e.occurred_at_ms).await?;
        if !db.follows(user).await? {
            db.mark_blocked(user).await?;
        } else if following && let Some(member_id) = db.member_of_line_user(user).await? {
            greet(db, greeting, &member_id, user, now).await?;
        }
    }
    Ok(tally)
}

/// Greets a member who has just become reachable in LINE: the rich menu (once per link and
/// menu: LINE keeps a user's menu across a block and unblock) and the welcome (once per member,
/// ever).
pub(crate) async fn greet(
    db: &mut impl LineStatements,
    greeting: &Greeting,
    member_id: &str,
    line_user_id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if let Some(menu) = &greeting.rich_menu {
        let linked_at = db.linked_at(line_user_id).await?.unwrap_or_default();
        // The link's time as both backends give it back (PostgreSQL keeps microseconds, SQLite
        // the text written), so a hub moved between them keeps its members' keys.
        let linked_at = DateTime::parse_from_rfc3339(&linked_at)
            .map(|t| t.timestamp_micros().to_string())
            .unwrap_or(linked_at);
        let key = match &menu.action {
            MessageAction::LinkRichMenu { rich_menu_id } => {
                format!("rich_menu:{member_id}:{linked_at}:{rich_menu_id}")
            }
            MessageAction::Push { .. }
            | MessageAction::Compose { .. }
            | MessageAction::UnlinkRichMenu => format!("rich_menu:{member_id}:{linked_at}"),
        };
        if !db
            .enqueue(&key, Some(member_id), line_user_id, menu, now)
            .await?
        {
            // Written before but never linked (it lapsed waiting for the follow, or the user
            // had blocked the account): linking a menu twice is harmless, so it goes again.
            let now_ms = now.timestamp_millis();
            let expires = menu
                .expires_after
                .map(|d| now_ms.saturating_add(d.num_milliseconds()));
            db.requeue_menu(member_id, &key, now_ms, expires).await?;
        }
    }
    if let Some(welcome) = &greeting.welcome {
        let key = format!("welcome:{member_id}");
        db.enqueue(&key, Some(member_id), line_user_id, welcome, now)
            .await?;
    }
    Ok(())
}

/// A LINE user unlinks their account from the member: the link goes, their waiting messages
/// are not sent, and `goodbye` (the rich menu's unlink) is written. Answers the member's id.
pub(crate) async fn unlink(
    db: &mut impl LineStatements,
    line_user_id: &str,
    goodbye: Option<&NewMessage>,
    now: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    let Some(member_id) = db.member_of_line_user(line_user_id).await? else {
        return Ok(None);
    };
    db.remove_link(line_user_id, &member_id).await?;
    if let Some(m) = goodbye {
        let key = format!("unlink:{member_id}:{}", now.timestamp_millis());
        db.enqueue(&key, None, line_user_id, m, now).await?;
    }
    db.log_change("member", &member_id).await?;
    Ok(Some(member_id))
}

/// Saves a member's profile choices (the birthday is the member's). Store news turned off:
/// what is queued of it is not sent either.
pub(crate) async fn save_profile(
    db: &mut impl LineStatements,
    member_id: &str,
    profile: &Profile,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    db.upsert_profile(member_id, profile, now).await?;
    if !profile.marketing {
        db.expire_marketing(member_id).await?;
    }
    db.set_birthday(member_id, profile.birthday).await
}
