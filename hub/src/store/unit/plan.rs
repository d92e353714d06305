//! Writing what the scenarios plan for a member (docs/design.md §10) in the cause's own
//! transaction.

use chrono::{DateTime, Utc};
use tenpo_protocol::sync::MemberSnapshot;

use super::Statements;
use crate::store::StoreError;
use crate::store::outbox::{Planned, Recipient};

/// Writes what `plan` plans for `member` if they are linked to LINE (nobody else can be sent
/// a LINE message); answers how many messages were new.
pub(crate) async fn write(
    db: &mut impl Statements,
    member: &MemberSnapshot,
    now: DateTime<Utc>,
    plan: impl FnOnce(&Recipient<'_>) -> Vec<Planned>,
) -> Result<u32, StoreError> {
    let Some(line_user) = db.line_user_of_member(&member.member_id).await? else {
        return Ok(0);
    };
    let profile = db
        .profile_row(&member.member_id)
        .await?
        .unwrap_or_default()
        .profile();
    let recipient = Recipient {
        member_id: &member.member_id,
        number: &member.number,
        state: &member.state,
        profile: &profile,
    };
    let mut written = 0;
    for p in plan(&recipient) {
        let member_id = Some(member.member_id.as_str());
        if db
            .enqueue(&p.dedupe_key, member_id, &line_user, &p.message, now)
            .await?
        {
            written += 1;
        }
    }
    Ok(written)
}
