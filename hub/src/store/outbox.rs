//! The message outbox in the store's language (docs/design.md §10): what a cause writes in its
//! own transaction ([`NewMessage`]), what a sender claims ([`OutboxMessage`]) and what it reports
//! back ([`MessageOutcome`]). The rows name LINE users, who are personal data: the types here
//! never print them.

use std::fmt;

use chrono::{DateTime, Duration, Utc};

/// Why a message is sent, which decides what waits when the month's quota runs short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageClass {
    /// The member's own business (a welcome, a coupon issued): outside the caps, sent first.
    Transactional,
    /// The store's news: capped per member, waits when the quota is short.
    Marketing,
    /// What the member asked to be told (a wish's notification, docs/design.md §11): outside
    /// the marketing cap (its own is counted when it is written), but it waits out the quiet
    /// hours and a short quota like marketing.
    Requested,
}

impl MessageClass {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageClass::Transactional => "transactional",
            MessageClass::Marketing => "marketing",
            MessageClass::Requested => "requested",
        }
    }

    pub fn parse(text: &str) -> Option<MessageClass> {
        match text {
            "transactional" => Some(MessageClass::Transactional),
            "marketing" => Some(MessageClass::Marketing),
            "requested" => Some(MessageClass::Requested),
            _ => None,
        }
    }
}

/// What sending a row does at LINE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageAction {
    /// Push these LINE messages (a JSON array of 1 to 5 message objects).
    Push { messages_json: String },
    /// Push what a scenario says (its words' inputs and the language, a small JSON object),
    /// composed into LINE messages when it is sent: a row is a tenth of the rendered message,
    /// which is what lets a day's scan queue a million of them in seconds.
    Compose { said_json: String },
    /// Link this rich menu to the user (the member menu).
    LinkRichMenu { rich_menu_id: String },
    /// Back to the account's default menu (the user unlinked their membership).
    UnlinkRichMenu,
}

impl MessageAction {
    /// The action's name and body as the store keeps them.
    pub fn to_parts(&self) -> (&'static str, &str) {
        match self {
            MessageAction::Push { messages_json } => ("push", messages_json),
            MessageAction::Compose { said_json } => ("compose", said_json),
            MessageAction::LinkRichMenu { rich_menu_id } => ("link_rich_menu", rich_menu_id),
            MessageAction::UnlinkRichMenu => ("unlink_rich_menu", ""),
        }
    }

    pub fn from_parts(action: &str, body: String) -> Option<MessageAction> {
        match action {
            "push" => Some(MessageAction::Push {
                messages_json: body,
            }),
            "compose" => Some(MessageAction::Compose { said_json: body }),
            "link_rich_menu" => Some(MessageAction::LinkRichMenu { rich_menu_id: body }),
            "unlink_rich_menu" => Some(MessageAction::UnlinkRichMenu),
            _ => None,
        }
    }
}

/// Why a row is `unreachable`.
pub(crate) const BLOCKED: &str = "the LINE user has blocked the official account";

/// Why a member's waiting row lapsed: they unlinked the LINE account it was for.
pub(crate) const UNLINKED: &str = "the member unlinked their LINE account";

/// Why a member's waiting store news lapsed: they turned it off.
pub(crate) const NEWS_OFF: &str = "the member turned store news off";

/// The state a new row starts in, and why, given the user's friendship with the account: a
/// user who blocked it gets the row `unreachable` (as the rows already waiting are set when the
/// unfollow arrives); one the hub has not seen follow gets it `pending`, sent once they follow.
pub(crate) fn first_state(following: Option<bool>) -> (&'static str, Option<&'static str>) {
    match following {
        Some(false) => ("unreachable", Some(BLOCKED)),
        Some(true) | None => ("pending", None),
    }
}

/// A message a cause writes in its own transaction. Whom it goes to is the cause's business
/// (the member's linked LINE user); the store adds the retry key and the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// The scenario that wrote it (`welcome`, `rich_menu`, …): reports and caps count by it.
    pub scenario: String,
    pub class: MessageClass,
    pub action: MessageAction,
    /// Not sent at all once this old: a welcome a week late is worse than none.
    pub expires_after: Option<Duration>,
}

/// What a member who has just become reachable in LINE gets (a signup linking their LINE
/// account, or a follow of the account by a member): the member rich menu, linked each time,
/// and the welcome, written only if the member was never welcomed. `None`: nothing of that kind
/// (no rich menu configured, or no access token to send with).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Greeting {
    pub rich_menu: Option<NewMessage>,
    pub welcome: Option<NewMessage>,
}

/// A row a sender has claimed: it holds it until its lease runs out.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: i64,
    /// The message's UUID: LINE's `X-Line-Retry-Key`, the same on every attempt.
    pub message_id: String,
    /// The recipient (personal data: never logged).
    pub line_user_id: String,
    pub scenario: String,
    pub class: MessageClass,
    pub action: MessageAction,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

impl fmt::Debug for OutboxMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxMessage")
            .field("id", &self.id)
            .field("message_id", &self.message_id)
            .field("scenario", &self.scenario)
            .field("class", &self.class)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// What a sender asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// At most this many rows.
    pub limit: u32,
    /// Held this long; then another sender may take the row again (same retry key).
    pub lease: Duration,
    /// Only transactional rows: the month's quota is short, or it is quiet hours everywhere.
    pub transactional_only: bool,
    /// Members who may be sent marketing now: those whose store's time is out of quiet hours.
    /// A marketing row of anyone else waits until `quiet_until`.
    pub marketing_to: HomeStores,
    /// When the first of the time zones in quiet hours now wakes.
    pub quiet_until: DateTime<Utc>,
    /// Marketing messages a member may be sent in any 7 days.
    pub marketing_per_week: u32,
}

/// Members by their home store (docs/design.md §10): the store they joined at, or else the
/// first that sent a sale of theirs; not known for a member imported who has not shopped since.
/// The store's time zone is theirs: the day their scan runs, and their quiet hours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum HomeStores {
    /// Everyone: the chain is in one time zone.
    #[default]
    All,
    /// Members whose home store is one of these.
    Only(Vec<String>),
    /// Members whose home store is none of these, or is not known.
    Except(Vec<String>),
}

impl HomeStores {
    /// Whether a member with home store `home` is one of these.
    pub fn covers(&self, home: Option<&str>) -> bool {
        match self {
            HomeStores::All => true,
            HomeStores::Only(stores) => home.is_some_and(|h| stores.iter().any(|s| s == h)),
            HomeStores::Except(stores) => !home.is_some_and(|h| stores.iter().any(|s| s == h)),
        }
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageOutcome {
    /// LINE has it (first time, or `409`: accepted before).
    Sent { request_id: Option<String> },
    /// Try again from `not_before` (429, 5xx, no answer).
    Retry {
        not_before: DateTime<Utc>,
        error: String,
    },
    /// LINE refused it for good (another 4xx): kept with LINE's reason, never retried.
    Failed { error: String },
}

/// How one claimed row's attempt ended: `attempt` is the row's attempt count its claim gave,
/// which names the lease. A sender whose lease ran out (and whose row another sender holds
/// now) cannot undo that sender's attempt with a retry or a failure; a `Sent` always counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub id: i64,
    pub attempt: u32,
    pub outcome: MessageOutcome,
}

impl Finished {
    pub fn of(message: &OutboxMessage, outcome: MessageOutcome) -> Finished {
        Finished {
            id: message.id,
            attempt: message.attempts,
            outcome,
        }
    }
}

/// Rows per state, for `/metrics` and the operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxCounts {
    /// Waiting to be sent (including rows waiting for the user to follow the account).
    pub pending: u64,
    /// Claimed by a sender now.
    pub sending: u64,
    pub sent: u64,
    /// Refused by LINE for good.
    pub failed: u64,
    /// Not sent: the user blocked the account and no other channel reaches them.
    pub unreachable: u64,
    /// Not sent in time.
    pub expired: u64,
}

impl OutboxCounts {
    /// Adds `n` rows in `state` (as the store keeps it).
    pub(crate) fn add(&mut self, state: &str, n: u64) -> Result<(), super::StoreError> {
        let count = match state {
            "pending" => &mut self.pending,
            "sending" => &mut self.sending,
            "sent" => &mut self.sent,
            "failed" => &mut self.failed,
            "unreachable" => &mut self.unreachable,
            "expired" => &mut self.expired,
            other => {
                return Err(super::StoreError::Corrupt {
                    what: "message state",
                    detail: other.to_owned(),
                });
            }
        };
        *count += n;
        Ok(())
    }
}

/// One message as operators and the member's history see it (no recipient, no body).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MessageView {
    /// LINE's retry key, made at the first attempt (`None`: not tried yet).
    pub message_id: Option<String>,
    pub scenario: String,
    pub class: &'static str,
    /// pending | sending | sent | failed | unreachable | expired
    pub state: String,
    pub attempts: u32,
    /// Why the last attempt did not send it (LINE's reason and request id).
    pub last_error: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
}

/// A message a scenario plans for a member: written unless `dedupe_key` was ever written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub dedupe_key: String,
    pub message: NewMessage,
}

/// A LINE-linked member as the scenarios see them.
#[derive(Debug, Clone, Copy)]
pub struct Recipient<'a> {
    pub member_id: &'a str,
    pub number: &'a str,
    pub state: &'a tenpo_loyalty::MemberState,
    /// The member's choices from their profile (defaults until they fill it in).
    pub profile: &'a Profile,
}

/// What a member chose in their profile form (docs/design.md §10). Personal data: the hub's
/// alone, never logged (its `Debug` shows only the choices).
#[derive(Clone, PartialEq, Eq)]
pub struct Profile {
    /// `ja` or `en`.
    pub language: Language,
    /// Store news (tier progress, points expiring): messages the member may turn off.
    pub marketing: bool,
    /// How they want to be written to.
    pub channel: Channel,
    pub birthday: Option<tenpo_loyalty::Date>,
    pub name: Option<String>,
    pub email: Option<String>,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            language: Language::Ja,
            marketing: true,
            channel: Channel::Line,
            birthday: None,
            name: None,
            email: None,
        }
    }
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("language", &self.language)
            .field("marketing", &self.marketing)
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

/// How a member wants to be written to. Email is kept as the member's choice; messages go by
/// email once the email channel exists (wishes and notifications), by LINE until then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Channel {
    #[default]
    Line,
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Line => "line",
            Channel::Email => "email",
        }
    }

    pub fn parse(text: &str) -> Option<Channel> {
        match text {
            "line" => Some(Channel::Line),
            "email" => Some(Channel::Email),
            _ => None,
        }
    }
}

/// The languages messages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Ja,
    En,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Ja => "ja",
            Language::En => "en",
        }
    }

    pub fn parse(text: &str) -> Option<Language> {
        match text {
            "ja" => Some(Language::Ja),
            "en" => Some(Language::En),
            _ => None,
        }
    }
}

/// Decides which messages a cause brings (the hub's scenarios, `crate::scenarios`). The store
/// calls it inside the cause's transaction for members linked to LINE, and writes what it
/// plans; it must be quick and pure (no I/O).
pub trait Planner: Send + Sync + fmt::Debug {
    /// After one of the member's sales was applied at the hub (`state` is after it).
    fn after_sale(
        &self,
        member: &Recipient<'_>,
        outcome: &tenpo_loyalty::SaleOutcome,
        rules: Option<&tenpo_loyalty::RuleSet>,
    ) -> Vec<Planned>;

    /// The daily scan, once per business day (`today`), for each linked member.
    fn daily(
        &self,
        member: &Recipient<'_>,
        rules: &tenpo_loyalty::RuleSet,
        today: tenpo_loyalty::Date,
    ) -> Vec<Planned>;

    /// A birthday coupon was granted to the member now.
    fn birthday_coupon(
        &self,
        member: &Recipient<'_>,
        coupon: &tenpo_loyalty::Coupon,
    ) -> Vec<Planned>;
}

/// One page of the daily scan, read and planned, not yet written: its two halves run side by
/// side (the next page is planned while this one is written).
#[derive(Debug, Clone, Default)]
pub struct PlannedPage {
    /// Members looked at.
    pub members: u64,
    /// The messages planned, each for a member and the LINE user they were linked to.
    pub messages: Vec<ScanMessage>,
    /// Where the next page starts; `None`: the scan is done.
    pub next: Option<String>,
}

/// A message the daily scan planned for a linked member.
#[derive(Debug, Clone)]
pub struct ScanMessage {
    pub member_id: String,
    pub line_user_id: String,
    pub planned: Planned,
}
