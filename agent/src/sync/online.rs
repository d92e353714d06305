//! What a sale asks the hub while it waits: whether the hub answers now (before a redemption,
//! docs/design.md §4), and who a card this till has not cached belongs to. Each question is
//! one round trip with a short timeout of its own, apart from the engine's sync passes.

use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;

use super::{Engine, PROBE_TIMEOUT, SyncError, apply, blocking};

/// How long an online lookup may take before the till treats the code as unknown.
pub const ONLINE_LOOKUP_TIMEOUT: Duration = Duration::from_millis(400);

impl Engine {
    /// Makes sure "online" is true only if the hub answers now: a network that drops packets
    /// silently would otherwise look online until a sync request times out, and the offline
    /// redemption cap (docs/design.md §4) would not apply. Called before every redemption: one
    /// round trip to the hub, at most [`PROBE_TIMEOUT`] when it has gone quiet.
    pub async fn confirm_online(&self) -> bool {
        match self.client.health(PROBE_TIMEOUT).await {
            Ok(health) => {
                self.saw_hub(health.hub_time);
                true
            }
            Err(e) => {
                self.shared.online.store(false, Ordering::SeqCst);
                self.shared.update(|v| v.last_error = Some(e.to_string()));
                false
            }
        }
    }

    /// Looks a code up at the hub (within [`ONLINE_LOOKUP_TIMEOUT`]) and caches the member it
    /// knows.
    pub async fn lookup_online(&self, code: &str) -> Result<OnlineLookup, SyncError> {
        let found = match self
            .client
            .member_by_code(code, ONLINE_LOOKUP_TIMEOUT)
            .await
        {
            Ok(found) => found,
            Err(e) if e.is_unreachable() => return Ok(OnlineLookup::Unreachable),
            Err(e) => return Err(e.into()),
        };
        let Some(lookup) = found else {
            return Ok(OnlineLookup::Unknown);
        };
        self.saw_hub(lookup.hub_time);
        let store = self.ledger.store().clone();
        let terminal = self.ledger.identity().terminal_id.clone();
        let now = Utc::now().to_rfc3339();
        blocking(move || {
            store.write(|tx| apply::cache_member(tx, &terminal, &lookup.member, &now))
        })
        .await?;
        Ok(OnlineLookup::Found)
    }
}

/// What the hub said of a code this till has not cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnlineLookup {
    /// A member: now in the cache.
    Found,
    /// The hub knows no member with this code: a new card.
    Unknown,
    /// The hub did not answer in time: whether the card is a member is not known here yet.
    Unreachable,
}
