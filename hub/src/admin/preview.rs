//! What a scenario would send a member now, in their language, with nothing written or sent:
//! read by the CRM team before they turn a scenario on (`tenpo-hub preview-message` through the
//! admin API, and the console's messaging page).

use tenpo_line::messaging::Message;

use crate::api::AppState;
use crate::scenarios::{PreviewError, SCENARIOS};
use crate::store::outbox::{Language, MessageClass, Recipient};
use crate::store::{HubStore, StoreError};

/// A scenario's messages for one member.
#[derive(Debug, Clone)]
pub struct Preview {
    pub class: MessageClass,
    pub language: Language,
    pub messages: Vec<Message>,
}

/// Why there is no preview.
#[derive(Debug, thiserror::Error)]
pub enum PreviewRefused {
    #[error(transparent)]
    Scenario(#[from] PreviewError),
    #[error("no member has this card code or member number")]
    NoMember,
    #[error("no rule set is loaded yet: load one first")]
    NoRules,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What `scenario` would send the member with the card code or number `code` today.
pub async fn preview<S: HubStore>(
    app: &AppState<S>,
    code: &str,
    scenario: &str,
) -> Result<Preview, PreviewRefused> {
    if !SCENARIOS.contains(&scenario) {
        return Err(PreviewError::Unknown(scenario.to_owned()).into());
    }
    let Some(member) = app.store.member_by_code(code.trim().to_owned()).await? else {
        return Err(PreviewRefused::NoMember);
    };
    let Some(rules) = app.store.current_rules().await? else {
        return Err(PreviewRefused::NoRules);
    };
    let profile = app.store.member_profile(member.member_id.clone()).await?;
    let recipient = Recipient {
        member_id: &member.member_id,
        number: &member.number,
        state: &member.state,
        profile: &profile,
    };
    let today = app.business_date(chrono::Utc::now());
    let (class, messages) = app
        .line
        .scenarios
        .preview(scenario, &recipient, &rules, today)?;
    Ok(Preview {
        class,
        language: profile.language,
        messages,
    })
}
