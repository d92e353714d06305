//! The hub's side of the official LINE account (docs/design.md §10): the webhook LINE posts
//! to ([`webhook`]) and each LINE user's friendship with the account, kept so that nobody who
//! blocked the account is sent a LINE message. The LINE platform itself (signatures, events, the
//! Messaging API client) is `tenpo-line`.
//!
//! LINE user ids are personal data: they stay in the hub's database and are never logged.

pub mod webhook;

use tenpo_line::messaging::MessagingClient;

/// The `[line]` settings of the Messaging API channel (the official account).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MessagingSettings {
    /// The channel secret webhooks are signed with (from `channel_secret_file`).
    pub channel_secret: Option<String>,
    /// The channel access token the hub sends with (from `access_token_file`).
    pub access_token: Option<String>,
    /// The rich menu members get (`member_rich_menu_id`).
    pub member_rich_menu_id: Option<String>,
}

impl std::fmt::Debug for MessagingSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets are never printed, only whether they are set.
        f.debug_struct("MessagingSettings")
            .field(
                "channel_secret",
                &self.channel_secret.as_ref().map(|_| "<set>"),
            )
            .field("access_token", &self.access_token.as_ref().map(|_| "<set>"))
            .field("member_rich_menu_id", &self.member_rich_menu_id)
            .finish()
    }
}

/// The official account as the handlers see it.
#[derive(Debug, Default)]
pub struct OfficialAccount {
    pub settings: MessagingSettings,
    /// The Messaging API, when an access token is set.
    pub client: Option<MessagingClient>,
}

impl OfficialAccount {
    /// The account for these settings and LINE's API base.
    pub fn new(
        settings: MessagingSettings,
        api_base: &str,
    ) -> Result<OfficialAccount, tenpo_line::messaging::ApiError> {
        let client = match &settings.access_token {
            Some(token) => Some(MessagingClient::new(api_base, token)?),
            None => None,
        };
        Ok(OfficialAccount { settings, client })
    }
}
