//! The hub's side of the official LINE account (docs/design.md §10): the webhook LINE posts
//! to ([`webhook`]) and each LINE user's friendship with the account, kept so that nobody who
//! blocked the account is sent a LINE message. The LINE platform itself (signatures, events, the
//! Messaging API client) is `tenpo-line`.
//!
//! LINE user ids are personal data: they stay in the hub's database and are never logged.

pub mod sender;
pub mod webhook;

use std::sync::Arc;

use chrono::Duration;
use tenpo_line::messaging::MessagingClient;
use tokio::sync::Notify;

use crate::scenarios::Scenarios;
use crate::store::outbox::{Greeting, MessageAction, MessageClass, NewMessage};
use sender::SenderSettings;

/// The `[line]` settings of the Messaging API channel (the official account).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MessagingSettings {
    /// The channel secret webhooks are signed with (from `channel_secret_file`).
    pub channel_secret: Option<String>,
    /// The channel access token the hub sends with (from `access_token_file`).
    pub access_token: Option<String>,
    /// The rich menu members get (`member_rich_menu_id`).
    pub member_rich_menu_id: Option<String>,
    /// How the outbox's sender paces itself.
    pub sender: SenderSettings,
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
            .field("sender", &self.sender)
            .finish()
    }
}

/// The official account as the handlers see it.
#[derive(Debug, Default)]
pub struct OfficialAccount {
    pub settings: MessagingSettings,
    /// The Messaging API, when an access token is set.
    pub client: Option<MessagingClient>,
    /// Notified after rows are written to the outbox, so the sender goes at once.
    pub outbox_written: Arc<Notify>,
    /// Which messages members get, in their language.
    pub scenarios: Arc<Scenarios>,
    /// The month's quota as the sender last read it (the console shows it).
    pub quota: sender::QuotaBoard,
}

impl OfficialAccount {
    /// What unlinking a member's LINE account writes to the outbox: back to the account's
    /// default rich menu, if this hub gave the member one (the member in LINE and staff in the
    /// console unlink alike).
    pub fn unlink_goodbye(&self) -> Option<crate::store::outbox::NewMessage> {
        use crate::store::outbox::{MessageAction, MessageClass, NewMessage};
        (self.client.is_some() && self.settings.member_rich_menu_id.is_some()).then(|| NewMessage {
            scenario: "rich_menu".into(),
            class: MessageClass::Transactional,
            action: MessageAction::UnlinkRichMenu,
            expires_after: Some(chrono::Duration::days(1)),
        })
    }

    /// The account for these settings and LINE's API base.
    pub fn new(
        settings: MessagingSettings,
        api_base: &str,
    ) -> Result<OfficialAccount, tenpo_line::messaging::ApiError> {
        let client = match &settings.access_token {
            Some(token) => Some(MessagingClient::new(api_base, token)?),
            None => None,
        };
        Ok(OfficialAccount {
            settings,
            client,
            outbox_written: Arc::new(Notify::new()),
            scenarios: Arc::new(Scenarios::default()),
            quota: sender::QuotaBoard::default(),
        })
    }

    /// What a member who has just become reachable in LINE gets: the member rich menu (if one
    /// is set) and the welcome. Nothing without an access token: no sender could send it.
    pub fn greeting(&self) -> Greeting {
        if self.client.is_none() {
            return Greeting::default();
        }
        let rich_menu = self
            .settings
            .member_rich_menu_id
            .as_ref()
            .map(|id| NewMessage {
                scenario: "rich_menu".into(),
                class: MessageClass::Transactional,
                action: MessageAction::LinkRichMenu {
                    rich_menu_id: id.clone(),
                },
                expires_after: Some(Duration::days(1)),
            });
        let welcome = self
            .scenarios
            .welcome()
            .and_then(|messages| serde_json::to_string(&messages).ok())
            .map(|messages_json| NewMessage {
                scenario: "welcome".into(),
                class: MessageClass::Transactional,
                action: MessageAction::Push { messages_json },
                // A welcome a week late is worse than none.
                expires_after: Some(Duration::days(7)),
            });
        Greeting { rich_menu, welcome }
    }
}
