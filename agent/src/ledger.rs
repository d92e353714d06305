//! The agent's core operations: look a member up, record a sale, record a refund (`refund.rs`).
//!
//! Each write evaluates the loyalty rules and writes the sale, the member's new state and the
//! outbox event in one transaction ([`Store::write`]). Bad input is refused before anything is
//! written; a refusal inside the transaction rolls everything back. No HTTP in here: the local
//! API and the tests call these functions.

use std::sync::{Arc, RwLock, RwLockReadGuard};

use chrono::{DateTime, FixedOffset, Utc};
use chrono_tz::Tz;
use sha2::{Digest, Sha256};
use tenpo_loyalty::{
    Date, LATE_RECORDING_DAYS, Line, MemberState, Points, RefundError, RuleSet, Sale, SaleError,
    check_sale_lines, evaluate_sale,
};
use tenpo_protocol::agent::{
    CouponView, ExpiringPoints, FieldError, MemberView, Mode, NextTier, PointsView, SaleRequest,
    SaleResponse, StampsView, Status,
};
use tenpo_protocol::events::{EventBody, SaleEvent};

use crate::store::{Identity, MemberRow, SaleRecord, Store, StoreError, WriteTx};
use tenpo_hw::{CodeRules, MemberCode, Rejection, parse_member_code};

mod refund;

/// How far ahead of the terminal's clock a POS timestamp may be (clocks drift).
const MAX_CLOCK_AHEAD: chrono::Duration = chrono::Duration::minutes(5);
/// Expiry dates shown in a member view.
const EXPIRING_SHOWN: usize = 3;

/// Why an operation was refused, in words a cashier or IT person can act on.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("{0}")]
    Field(#[from] FieldError),
    #[error("{0}")]
    Code(#[from] Rejection),
    #[error("no member has the code {0}: check the card, or record the sale to enrol it")]
    MemberNotFound(String),
    #[error(
        "card {0} is not known at this till yet and the head office cannot be reached to ask: \
         record the sale as usual; its points join the member's when the till is back online"
    )]
    NotKnownHere(String),
    #[error("no sale {0} was recorded on this terminal")]
    SaleNotFound(String),
    #[error("sale {0} was already recorded with different content: use a new sale id")]
    SaleConflict(String),
    #[error("refund {0} was already recorded with different content: use a new refund id")]
    RefundConflict(String),
    #[error("{0}")]
    Sale(#[from] SaleError),
    #[error("{0}")]
    Refund(#[from] RefundError),
    #[error("redeeming points or using coupons needs a member: scan the member's card")]
    MemberRequired,
    #[error("`occurred_at` {0} is in the future: check the POS's and the terminal's clocks")]
    InTheFuture(String),
    #[error(
        "`occurred_at` {at} is more than {days} days ago: a sale or refund that old cannot be \
         recorded at the till; record it with today's time, or ask head office to adjust the \
         member's points"
    )]
    TooOld { at: String, days: i64 },
    #[error("member {0} of this sale is missing from the member cache: run `tenpo-agent doctor`")]
    MemberMissing(String),
    #[error(
        "card {0} was cancelled by the head office: ask the customer for their LINE card or a new card"
    )]
    Revoked(String),
    #[error(
        "the head office cannot be reached, so this till can redeem at most {allowed} more points \
         for this member today (limit {limit}): redeem fewer points, or try again when online"
    )]
    OfflineRedeemLimit { allowed: Points, limit: Points },
    #[error(transparent)]
    Wish(#[from] crate::wish::WishError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a sale does with a card this till has not cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NewCard {
    /// Enrols it: a provisional member, in the sale's transaction.
    Enrol,
    /// Records nothing: the caller asks the hub for the card first.
    Ask,
}

/// Whether a write was new or the replay of one already recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    New,
    Replay,
}

/// The agent's ledger over its store, with the program in force.
#[derive(Debug)]
pub struct Ledger {
    store: Arc<Store>,
    /// The program in force; replaced whole when the hub publishes a new version.
    rules: RwLock<Arc<RuleSet>>,
    /// Which scans are member codes; the card keys in it change as the hub sends them.
    code_rules: RwLock<CodeRules>,
    time_zone: Tz,
    who: Identity,
    offline: Option<OfflineGuard>,
}

/// While the hub is unreachable, redemption at this till is capped per member and business day
/// (docs/design.md §4), so two tills offline at once cannot spend much twice.
#[derive(Debug, Clone)]
pub struct OfflineGuard {
    /// Points per member per business day this terminal may redeem without the hub.
    pub limit: Points,
    /// Set by the sync engine: whether the hub answered recently.
    pub online: Arc<std::sync::atomic::AtomicBool>,
}

pub(crate) fn hash_of(parts: &[&[u8]]) -> Vec<u8> {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().to_vec()
}

pub(crate) fn json_bytes<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Serialising our own plain structs cannot fail; an empty hash input would only make a
    // replay look like a conflict, never the reverse.
    serde_json::to_vec(value).unwrap_or_default()
}

pub(crate) fn response_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt {
        what: "response",
        detail: e.to_string(),
    })
}

pub(crate) fn stored_response<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        what: "recorded response",
        detail: e.to_string(),
    })
}

impl Ledger {
    pub fn new(
        store: Arc<Store>,
        rules: Arc<RuleSet>,
        code_rules: CodeRules,
        time_zone: Tz,
        who: Identity,
    ) -> Ledger {
        Ledger {
            store,
            rules: RwLock::new(rules),
            code_rules: RwLock::new(code_rules),
            time_zone,
            who,
            offline: None,
        }
    }

    /// Caps redemption while the hub is unreachable.
    pub fn with_offline_guard(mut self, guard: OfflineGuard) -> Ledger {
        self.offline = Some(guard);
        self
    }

    /// Puts a new rule set in force (from the hub's change feed).
    pub fn set_rules(&self, rules: RuleSet) {
        let mut current = self.rules.write().unwrap_or_else(|e| e.into_inner());
        if rules.version != current.version {
            tracing::info!(name = %rules.name, version = rules.version, "rule set now in force");
        }
        *current = Arc::new(rules);
    }

    /// Adds the hub's card keys to the ones the LINE card QR is checked against.
    pub fn add_card_keys(&self, keys: &[(u32, [u8; 32])]) {
        let mut code_rules = self.code_rules.write().unwrap_or_else(|e| e.into_inner());
        for (id, key) in keys {
            if let Err(e) = code_rules.card_keys.insert(*id, *key) {
                tracing::warn!(key_id = id, error = %e, "card key from the hub refused");
            }
        }
    }

    pub fn identity(&self) -> &Identity {
        &self.who
    }

    /// The rules that decide which scans are member codes.
    pub fn code_rules(&self) -> RwLockReadGuard<'_, CodeRules> {
        // A panic while holding the lock cannot leave the rules half-written (they are
        // replaced whole), so a poisoned lock is still safe to read.
        self.code_rules.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The cache key of a scanned or typed code (after its checks).
    pub fn code_key(&self, raw: &str, now: DateTime<Utc>) -> Result<String, Rejection> {
        self.parse_code(raw, now).map(|c| c.key().to_owned())
    }

    pub fn parse_code(&self, raw: &str, now: DateTime<Utc>) -> Result<MemberCode, Rejection> {
        parse_member_code(raw, &self.code_rules(), now.timestamp())
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The program in force.
    pub fn rules(&self) -> Arc<RuleSet> {
        self.rules.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The store's business date at an instant, in the store's time zone.
    pub fn business_date(&self, at: DateTime<Utc>) -> Date {
        self.date_of(at).unwrap_or_else(|_| {
            // Only an instant outside years 1..=9999 has no business date; the clock of a
            // running terminal is never there.
            if at.timestamp() < 0 {
                Date::MIN
            } else {
                Date::MAX
            }
        })
    }

    fn date_of(&self, at: DateTime<Utc>) -> Result<Date, LedgerError> {
        let local = at.with_timezone(&self.time_zone).date_naive();
        use chrono::Datelike;
        Date::from_ymd(local.year(), local.month(), local.day()).map_err(|_| LedgerError::TooOld {
            at: at.to_rfc3339(),
            days: LATE_RECORDING_DAYS,
        })
    }

    /// The cashier's view of the member with this code, on the store's business date `now`.
    pub fn lookup(&self, raw_code: &str, now: DateTime<Utc>) -> Result<MemberView, LedgerError> {
        let code = self.parse_code(raw_code, now)?;
        let member = match self.store.member_by_code(code.key())? {
            Some(m) => m,
            None if self.store.is_revoked(code.key())? => {
                return Err(LedgerError::Revoked(code.key().to_owned()));
            }
            None => return Err(LedgerError::MemberNotFound(code.key().to_owned())),
        };
        Ok(self.view(&member, self.business_date(now)))
    }

    /// The cashier's view of the cached member a checked code belongs to: `None` when this
    /// till has no member for it (a scan never makes one: docs/design.md §4).
    pub fn cached_member(
        &self,
        code: &MemberCode,
        now: DateTime<Utc>,
    ) -> Result<Option<MemberView>, LedgerError> {
        match self.store.member_by_code(code.key())? {
            Some(member) => Ok(Some(self.view(&member, self.business_date(now)))),
            None if self.store.is_revoked(code.key())? => {
                Err(LedgerError::Revoked(code.key().to_owned()))
            }
            None => Ok(None),
        }
    }

    /// The cashier's view of a cached member on a business date.
    pub fn view(&self, m: &MemberRow, date: Date) -> MemberView {
        let s = m.state.summary(&self.rules(), date);
        MemberView {
            member_id: m.member_id.clone(),
            number: m.number.clone(),
            provisional: m.provisional,
            tier: s.tier,
            points: PointsView {
                balance: s.balance,
                expiring: s
                    .expiring
                    .iter()
                    .take(EXPIRING_SHOWN)
                    .map(|e| ExpiringPoints {
                        points: e.points,
                        expires_on: e.expires_on,
                    })
                    .collect(),
            },
            stamps: StampsView {
                count: s.stamps,
                card_size: s.card_size,
            },
            coupons: s.coupons.iter().map(CouponView::from).collect(),
            qualifying_spend_yen: s.qualifying_spend,
            next_tier: s.next_tier.map(|(name, remaining_yen)| NextTier {
                name,
                remaining_yen,
            }),
        }
    }

    pub(crate) fn occurred(
        &self,
        occurred_at: Option<DateTime<FixedOffset>>,
        now: DateTime<Utc>,
    ) -> Result<(DateTime<Utc>, Date), LedgerError> {
        let at = occurred_at.map_or(now, |t| t.with_timezone(&Utc));
        if at > now + MAX_CLOCK_AHEAD {
            return Err(LedgerError::InTheFuture(at.to_rfc3339()));
        }
        // A POS flushing its own queue records sales late, but no later than a member's state
        // remembers (docs/design.md §4): older would be evaluated on a state that forgot it.
        let date = self.date_of(at)?;
        if date < self.date_of(now)?.add_days(-LATE_RECORDING_DAYS) {
            return Err(LedgerError::TooOld {
                at: at.to_rfc3339(),
                days: LATE_RECORDING_DAYS,
            });
        }
        Ok((at, date))
    }

    /// Records a POS sale, exactly once per `sale_id`. A card this till has not seen becomes a
    /// provisional member in the same transaction.
    pub fn record_sale(
        &self,
        req: &SaleRequest,
        now: DateTime<Utc>,
    ) -> Result<(Recorded, SaleResponse), LedgerError> {
        self.record(req, now, NewCard::Enrol)?.ok_or_else(|| {
            LedgerError::Store(StoreError::Bug(
                "a sale that enrols new cards came back unrecorded".into(),
            ))
        })
    }

    /// Records a POS sale as [`Ledger::record_sale`] does when it needs nothing from the hub
    /// first: no member, a cached member, a revoked card (refused) or a sale already recorded.
    /// `None`, with nothing written, for a card this till has not cached: ask the hub for it
    /// (`lookup::before_sale`), then call `record_sale`.
    pub fn record_sale_if_cached(
        &self,
        req: &SaleRequest,
        now: DateTime<Utc>,
    ) -> Result<Option<(Recorded, SaleResponse)>, LedgerError> {
        self.record(req, now, NewCard::Ask)
    }

    fn record(
        &self,
        req: &SaleRequest,
        now: DateTime<Utc>,
        new_card: NewCard,
    ) -> Result<Option<(Recorded, SaleResponse)>, LedgerError> {
        req.check()?;
        let code = req
            .member_code
            .as_deref()
            .map(|raw| self.parse_code(raw, now))
            .transpose()?;
        let lines: Vec<Line> = req.lines.iter().map(Line::from).collect();
        check_sale_lines(&lines)?;
        let redeem_points = req.redeem_points.unwrap_or(0);
        let coupon_ids = req.coupon_ids.clone().unwrap_or_default();
        if code.is_none() && (redeem_points != 0 || !coupon_ids.is_empty()) {
            return Err(LedgerError::MemberRequired);
        }
        let (at, date) = self.occurred(req.occurred_at, now)?;
        let hash = hash_of(&[&json_bytes(req)]);
        let now_text = now.to_rfc3339();
        let rules = self.rules();
        // The engine's sale: what is evaluated, and what the event records.
        let sale = Sale {
            sale_id: req.sale_id.clone(),
            store_id: self.who.store_id.clone(),
            business_date: date,
            lines,
            redeem_points,
            coupon_ids,
        };

        self.store.write(|tx| {
            if let Some(existing) = tx.sale_record(&req.sale_id)? {
                return if existing.request_hash == hash {
                    Ok(Some((
                        Recorded::Replay,
                        stored_response(&existing.response)?,
                    )))
                } else {
                    Err(LedgerError::SaleConflict(req.sale_id.clone()))
                };
            }
            let mut member = match &code {
                Some(code) => match self.member_for_sale(tx, code, new_card, &now_text)? {
                    Some(member) => Some(member),
                    // Nothing written yet: the empty transaction commits nothing.
                    None => return Ok(None),
                },
                None => None,
            };
            let outcome = match &member {
                Some(m) => {
                    self.check_offline_redemption(tx, &m.member_id, date, redeem_points)?;
                    Some(evaluate_sale(&rules, &m.state, &sale)?)
                }
                None => None,
            };
            let mut state_after = None;
            if let (Some(m), Some(o)) = (&mut member, &outcome) {
                // Taken, not copied: a regular customer's state holds a lot for each sale that
                // earned, and only the member's id is read after this. Moved out of what is
                // held (`WriteTx::member_to_change`), the state is this sale's alone.
                let mut state = std::sync::Arc::unwrap_or_clone(std::mem::take(&mut m.state));
                state.take_sale(o, Some(&rules));
                state_after = Some(state);
            }
            let response = self.sale_response(
                &rules,
                req,
                date,
                outcome.as_ref(),
                member.as_ref(),
                state_after.as_ref(),
            );
            if let (Some(m), Some(state)) = (&member, state_after) {
                // Held once the commit is on disk: moved there, as it was moved out.
                tx.save_member_state(&m.member_id, state, &now_text)?;
            }
            let member_id = member.map(|m| m.member_id);
            let redeemed_points = outcome.as_ref().map_or(0, |o| o.redeemed_points);
            // Stored once: the event keeps the sale's lines and outcome (schema 9).
            tx.record_sale_event(
                &self.who,
                EventBody::Sale(SaleEvent::new(
                    sale.clone(),
                    member_id.clone(),
                    at.to_rfc3339(),
                    outcome,
                )),
                &now_text,
                &SaleRecord {
                    sale_id: req.sale_id.clone(),
                    request_hash: hash.clone(),
                    member_id,
                    business_date: date,
                    redeemed_points,
                    response: response_json(&response)?,
                },
            )?;
            Ok(Some((Recorded::New, response)))
        })
    }

    /// The member a sale names: from the cache, or a new provisional member for a valid card
    /// the terminal has not seen (recorded as its own outbox event, in the sale's transaction).
    /// `None` for a card not cached when `new_card` says to ask the hub first.
    fn member_for_sale(
        &self,
        tx: &WriteTx<'_>,
        code: &MemberCode,
        new_card: NewCard,
        now: &str,
    ) -> Result<Option<MemberRow>, LedgerError> {
        // The sale changes the member's state: moved out of what is held, not copied.
        if let Some(m) = tx.member_to_change(code.key())? {
            return Ok(Some(m));
        }
        if tx.is_revoked(code.key())? {
            return Err(LedgerError::Revoked(code.key().to_owned()));
        }
        if new_card == NewCard::Ask {
            return Ok(None);
        }
        let member = MemberRow {
            member_id: uuid::Uuid::now_v7().to_string(),
            number: code.key().to_owned(),
            provisional: true,
            state: Default::default(),
        };
        tx.insert_member(&member, &MemberState::default(), &[code.key()], now)?;
        tx.append_event(
            &self.who,
            EventBody::MemberProvisional {
                member_id: member.member_id.clone(),
                code: code.key().to_owned(),
            },
            now,
        )?;
        tracing::info!(member_id = %member.member_id, "provisional member created for a new card");
        Ok(Some(member))
    }

    fn sale_response(
        &self,
        rules: &RuleSet,
        req: &SaleRequest,
        date: Date,
        outcome: Option<&tenpo_loyalty::SaleOutcome>,
        member: Option<&MemberRow>,
        state: Option<&MemberState>,
    ) -> SaleResponse {
        let summary = state.map(|s| s.summary(rules, date));
        SaleResponse {
            sale_id: req.sale_id.clone(),
            member_id: member.map(|m| m.member_id.clone()),
            business_date: date,
            earned_points: outcome.map_or(0, |o| o.earned_points),
            redeemed_points: outcome.map_or(0, |o| o.redeemed_points),
            discount_yen: outcome.map_or(0, |o| o.discount_yen()),
            stamps_earned: outcome.map_or(0, |o| o.stamps.added),
            coupons_issued: outcome
                .map(|o| o.coupons_issued.iter().map(CouponView::from).collect())
                .unwrap_or_default(),
            balance_after: summary.as_ref().map_or(0, |s| s.balance),
            tier_after: summary.as_ref().map(|s| s.tier.clone()),
            next_tier: summary
                .and_then(|s| s.next_tier)
                .map(|(name, remaining_yen)| NextTier {
                    name,
                    remaining_yen,
                }),
            rule_set_version: rules.version,
        }
    }

    /// docs/design.md §4: offline, this till redeems at most the configured points per member per
    /// business day (counting its redemptions the hub has not acknowledged yet).
    fn check_offline_redemption(
        &self,
        tx: &WriteTx<'_>,
        member_id: &str,
        date: Date,
        redeem: i64,
    ) -> Result<(), LedgerError> {
        let Some(guard) = &self.offline else {
            return Ok(());
        };
        if redeem <= 0 || guard.online.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        let unsynced = tx.unsynced_redemptions(member_id, date)?;
        if unsynced + redeem > guard.limit {
            return Err(LedgerError::OfflineRedeemLimit {
                allowed: (guard.limit - unsynced).max(0),
                limit: guard.limit,
            });
        }
        Ok(())
    }

    /// `GET /v1/status`.
    pub fn status(&self, now: DateTime<Utc>) -> Result<Status, LedgerError> {
        let counts = self.store.outbox_counts()?;
        let rules = self.rules();
        Ok(Status {
            store_id: self.who.store_id.clone(),
            terminal_id: self.who.terminal_id.clone(),
            mode: Mode::Standalone,
            pending_events: counts.pending,
            rule_set_version: rules.version,
            rule_set_name: rules.name.clone(),
            business_date: self.business_date(now),
            time_zone: self.time_zone.name().to_owned(),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            scanners: Vec::new(),
            sync: None,
        })
    }
}

#[cfg(test)]
#[path = "ledger_tests.rs"]
mod tests;
