//! Finding the member for a code: the cache first, then, for a valid code this till has not
//! cached, the hub (bounded by the sync engine's lookup timeout), so a member who joined at
//! another store or was imported at the hub shows with their points at once. Used by the local
//! API's member lookup, sale and wish, and by the scan pipeline. Offline, a code the till does not
//! know is said to be not known here, never shown as a new member with 0 points, and nothing is
//! created by looking (docs/design.md §4).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tenpo_hw::MemberCode;
use tenpo_protocol::agent::MemberView;

use crate::ledger::{Ledger, LedgerError};
use crate::sync::{Engine, OnlineLookup};

/// What a till knows of a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Member(Box<MemberView>),
    /// The hub says no member has it (or there is no hub): a new card, enrolled by its first
    /// sale.
    NewCard(String),
    /// Not cached, and the hub could not be asked now.
    NotKnownHere(String),
}

/// What a sale needs from the hub before the ledger records it, on an enrolled terminal:
/// whether the hub answers now (a redemption is capped offline, docs/design.md §4), and the
/// member of a code this till has not cached (so the sale earns on their real state; a card
/// nobody knows, or a hub out of reach, becomes a provisional member in the sale). Standalone,
/// nothing: the ledger's own read serves.
pub async fn before_sale(
    ledger: &Arc<Ledger>,
    engine: Option<&Engine>,
    req: &tenpo_protocol::agent::SaleRequest,
    now: DateTime<Utc>,
) -> Result<(), LedgerError> {
    let Some(engine) = engine else {
        return Ok(());
    };
    if req.redeem_points.unwrap_or(0) > 0 {
        engine.confirm_online().await;
    }
    if let Some(raw) = &req.member_code
        && let Ok(code) = ledger.parse_code(raw, now)
    {
        find(ledger, Some(engine), &code, now).await?;
    }
    Ok(())
}

/// What a wish needs from the hub before the ledger records it, on an enrolled terminal: the
/// member of a card this till has not cached, asked of the hub and cached. `true` when the card
/// is not cached and the hub could not be asked (so "no member here" may only mean "not yet").
pub async fn before_wish(
    ledger: &Arc<Ledger>,
    engine: Option<&Engine>,
    member_code: &str,
    now: DateTime<Utc>,
) -> Result<bool, LedgerError> {
    let Some(engine) = engine else {
        return Ok(false);
    };
    let Ok(code) = ledger.parse_code(member_code, now) else {
        return Ok(false);
    };
    Ok(matches!(
        find(ledger, Some(engine), &code, now).await?,
        Found::NotKnownHere(_)
    ))
}

/// The member for a checked code, asking the hub when the cache does not have it.
pub async fn find(
    ledger: &Arc<Ledger>,
    engine: Option<&Engine>,
    code: &MemberCode,
    now: DateTime<Utc>,
) -> Result<Found, LedgerError> {
    if let Some(view) = cached(ledger, code, now).await? {
        return Ok(Found::Member(Box::new(view)));
    }
    let key = code.key().to_owned();
    let Some(engine) = engine else {
        return Ok(Found::NewCard(key));
    };
    match engine.lookup_online(&key).await {
        Ok(OnlineLookup::Found) => match cached(ledger, code, now).await? {
            Some(view) => Ok(Found::Member(Box::new(view))),
            None => Ok(Found::NotKnownHere(key)),
        },
        Ok(OnlineLookup::Unknown) => Ok(Found::NewCard(key)),
        Ok(OnlineLookup::Unreachable) => Ok(Found::NotKnownHere(key)),
        Err(e) => {
            tracing::warn!(error = %e, "online member lookup failed");
            Ok(Found::NotKnownHere(key))
        }
    }
}

/// The cashier's view of the member for a typed or scanned code (`GET /v1/members/{code}`).
pub async fn view(
    ledger: &Arc<Ledger>,
    engine: Option<&Engine>,
    raw: &str,
    now: DateTime<Utc>,
) -> Result<MemberView, LedgerError> {
    let code = ledger.parse_code(raw, now)?;
    match find(ledger, engine, &code, now).await? {
        Found::Member(view) => Ok(*view),
        Found::NewCard(key) => Err(LedgerError::MemberNotFound(key)),
        Found::NotKnownHere(key) => Err(LedgerError::NotKnownHere(key)),
    }
}

async fn cached(
    ledger: &Arc<Ledger>,
    code: &MemberCode,
    now: DateTime<Utc>,
) -> Result<Option<MemberView>, LedgerError> {
    let ledger = ledger.clone();
    let code = code.clone();
    tokio::task::spawn_blocking(move || ledger.cached_member(&code, now))
        .await
        .map_err(|e| {
            LedgerError::Store(crate::store::StoreError::Bug(format!(
                "member lookup worker: {e}"
            )))
        })?
}
