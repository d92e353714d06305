//! Signup with LINE at the hub (docs/design.md §5): the LIFF page, completing a kiosk's signup or
//! card link with LINE's ID token, and the terminal's question about its own session.
//!
//! - [`line`]: LINE's verify endpoint, as the hub calls it (`aud` and `exp` checked again here).
//! - [`api`]: the HTTP handlers; [`page`]: the LIFF page; [`card`]: the digital member card the
//!   page shows (a rotating signed QR, drawn by [`qr`]).
//! - The storage side is [`crate::store::HubStore::complete_signup`]: one transaction decides
//!   "new member, existing member, or refusal" and records the signup id as used.
//!
//! The LINE user id is personal data: it stays in the hub's database (`line_users`) and is never
//! logged, put in the feed or sent to a terminal (docs/design.md §7).

pub mod api;
pub mod card;
pub mod line;
pub mod page;
pub mod qr;

use std::fmt;

use chrono::{DateTime, Utc};
use tenpo_loyalty::Date;
use tenpo_protocol::signup::{SignupKind, SignupToken};
use tenpo_protocol::sync::MemberSnapshot;
use tokio::sync::watch;

pub use line::{LineClient, LineError, VerifiedIdToken};

/// LINE's API base, used unless configured otherwise.
pub const DEFAULT_LINE_API: &str = "https://api.line.me";
/// Stamps a new member starts with unless configured otherwise (the kiosk's "first stamp").
pub const DEFAULT_WELCOME_STAMPS: u32 = 1;

/// The `[line]` settings of the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineSettings {
    /// The LINE Login channel's id: the `aud` every ID token must carry.
    pub channel_id: Option<String>,
    /// The LIFF app's id, for the LIFF page.
    pub liff_id: Option<String>,
    /// LINE's API base (`https://api.line.me`; the stand-in's address in tests and the demo).
    pub api_base: String,
    /// Stamps a new member starts with (capped below the card size of the program in force).
    pub welcome_stamps: u32,
}

impl Default for LineSettings {
    fn default() -> LineSettings {
        LineSettings {
            channel_id: None,
            liff_id: None,
            api_base: DEFAULT_LINE_API.into(),
            welcome_stamps: DEFAULT_WELCOME_STAMPS,
        }
    }
}

/// What a completion asks of the store, once the token and the ID token are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteSignup {
    pub token: SignupToken,
    /// LINE's `sub`: personal data, kept at the hub only.
    pub line_user_id: String,
    pub today: Date,
    /// Stamps a new member starts with.
    pub welcome_stamps: u32,
}

/// A completed signup as the store holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct SignupRecord {
    pub signup_id: String,
    pub kind: SignupKind,
    pub store_id: String,
    pub terminal_id: String,
    pub member: MemberSnapshot,
    pub line_user_id: String,
    /// The LINE account already had this member (nothing new was made).
    pub existing_member: bool,
    pub completed_at: DateTime<Utc>,
}

impl fmt::Debug for SignupRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignupRecord")
            .field("signup_id", &self.signup_id)
            .field("kind", &self.kind)
            .field("terminal_id", &self.terminal_id)
            .field("member_id", &self.member.member_id)
            .field("line_user_id", &"<personal>")
            .finish_non_exhaustive()
    }
}

/// Why the store refused a completion, in words for the customer's phone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this code was already used by another LINE account: scan a fresh code at the kiosk")]
    Used,
    #[error(
        "this card is already linked to another LINE account: ask the staff to help with this card"
    )]
    CardLinkedElsewhere,
    #[error(
        "this LINE account already has member number {number}: one member per LINE account; \
         ask the staff to move the card's points"
    )]
    LineAccountTaken { number: String },
    #[error("this card was cancelled by the head office: ask the staff for help")]
    CardRevoked,
}

/// The hub's card-signing key (the secret half): never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct CardKey {
    pub key_id: u32,
    pub secret: [u8; 32],
}

impl fmt::Debug for CardKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardKey")
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Signup as the handlers see it: settings, LINE, and a signal for waiting terminals.
#[derive(Debug)]
pub struct SignupService {
    pub settings: LineSettings,
    line: Option<LineClient>,
    completed: watch::Sender<u64>,
}

impl SignupService {
    /// Signup with these settings; without a channel id, completions are refused with a
    /// message saying so.
    pub fn new(settings: LineSettings) -> Result<SignupService, LineError> {
        let line = match &settings.channel_id {
            Some(channel) => Some(LineClient::new(&settings.api_base, channel)?),
            None => None,
        };
        Ok(SignupService {
            settings,
            line,
            completed: watch::Sender::new(0),
        })
    }

    /// Signup not configured (no LINE channel).
    pub fn disabled() -> SignupService {
        SignupService {
            settings: LineSettings::default(),
            line: None,
            completed: watch::Sender::new(0),
        }
    }

    pub fn line(&self) -> Option<&LineClient> {
        self.line.as_ref()
    }

    /// Wakes terminals waiting on their session.
    pub fn notify(&self) {
        self.completed.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.completed.subscribe()
    }
}
