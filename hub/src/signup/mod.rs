//! Signup with LINE at the hub (docs/design.md §5): the LIFF page, completing a kiosk's signup or
//! card link with LINE's ID token, and the terminal's question about its own session.
//!
//! - LINE's verify endpoint is `tenpo_line::login` (`aud` and `exp` checked again there).
//! - [`api`]: the HTTP handlers; [`page`]: the LIFF page; [`card`]: the digital member card the
//!   page shows (a rotating signed QR, drawn by [`qr`]); [`favourites`]: the member's wishes,
//!   searched for and hearted on the card page.
//! - The storage side is [`crate::store::HubStore::complete_signup`]: one transaction decides
//!   "new member, existing member, or refusal" and records the signup id as used.
//!
//! The LINE user id is personal data: it stays in the hub's database (`line_users`) and is never
//! logged, put in the feed or sent to a terminal (docs/design.md §7).

pub mod api;
pub mod card;
pub mod favourites;
pub mod my_data;
pub mod page;
pub mod profile;
pub mod qr;

use tokio::sync::watch;

pub use tenpo_line::login::{LoginClient, LoginError, VerifiedIdToken};

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
    /// Where the LIFF page loads LINE's LIFF SDK from: LINE's ([`page::LIFF_SDK`]) unless a
    /// test or demo serves the stand-in's (`[line] liff_sdk_url`).
    pub liff_sdk_url: String,
}

impl Default for LineSettings {
    fn default() -> LineSettings {
        LineSettings {
            channel_id: None,
            liff_id: None,
            api_base: DEFAULT_LINE_API.into(),
            welcome_stamps: DEFAULT_WELCOME_STAMPS,
            liff_sdk_url: page::LIFF_SDK.into(),
        }
    }
}

pub use crate::store::model::{CardKey, CompleteSignup, Refusal, SignupRecord};

/// Signup as the handlers see it: settings, LINE, and a signal for waiting terminals.
#[derive(Debug)]
pub struct SignupService {
    pub settings: LineSettings,
    line: Option<LoginClient>,
    completed: watch::Sender<u64>,
}

impl SignupService {
    /// Signup with these settings; without a channel id, completions are refused with a
    /// message saying so.
    pub fn new(settings: LineSettings) -> Result<SignupService, LoginError> {
        let line = match &settings.channel_id {
            Some(channel) => Some(LoginClient::new(&settings.api_base, channel)?),
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

    pub fn line(&self) -> Option<&LoginClient> {
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
