//! The default backend: one embedded SQLite file (WAL, `synchronous=FULL`; only the daily
//! scan's pages, which are written again if lost, commit without waiting for the disk).
//!
//! One writer connection behind a mutex (every write is one `BEGIN IMMEDIATE` transaction) and
//! a small pool of read connections, each read in its own transaction so a feed page is one
//! consistent snapshot. SQLite is synchronous: every operation runs on the blocking pool.

mod admin;
mod audit;
mod catalog;
mod catalog_store;
mod connection;
mod console;
mod console_store;
mod feed;
mod inspect;
mod line;
mod line_statements;
mod members;
mod metrics;
mod outbox;
mod privacy;
mod profiles;
mod review;
mod scan;
mod schema;
mod signup;
mod staff;
mod staff_store;
mod statements;
mod wishes;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tenpo_loyalty::{Date, RuleSet};
use tenpo_protocol::sync::MemberSnapshot;

use super::outbox::Planner;
use super::unit::{self, intake::Applying};
use super::{
    AdminStore, ChangesPage, Claim, Enrolled, Finished, Friendship, Greeting, HomeStores,
    HubCounts, LineEvent, LineIntake, LineStore, MessageView, OutboxCounts, OutboxMessage,
    PlannedPage, PushOutcome, ScanMessage, StoreError, Terminal, TillStore,
};
pub(crate) use super::{from_json, to_json};
use crate::admin::{
    ConflictView, CouponReport, CouponRequest, DiscrepancyView, HeldAction, HeldView, ImportReport,
    ImportRow, Revoked,
};
use crate::admin::{TerminalEvents, TerminalView};
use crate::cursor::FeedPosition;
use crate::intake::Incoming;
use crate::review::ReviewLimits;

pub use connection::backup;
use connection::{Durability, Inner};
pub use inspect::{Inspection, inspect};
pub use schema::CURRENT_VERSION;

/// The SQLite hub store. Cheap to clone: clones share the connections.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

/// SQLite's errors, as the store's own (the trait names no backend's types).
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Database(e.to_string())
    }
}

impl SqliteStore {
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` on the blocking pool.
    fn blocking<T, F>(&self, f: F) -> impl Future<Output = Result<T, StoreError>> + Send + use<T, F>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        async move {
            match tokio::task::spawn_blocking(move || f(&inner)).await {
                Ok(result) => result,
                Err(e) => Err(StoreError::Worker(e.to_string())),
            }
        }
    }
}

impl TillStore for SqliteStore {
    fn enroll(
        &self,
        code: String,
        terminal_name: Option<String>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Enrolled, StoreError>> + Send {
        self.blocking(move |inner| {
            inner.write(|tx| {
                let mut db = statements::SqliteUnit::new(tx);
                let name = terminal_name.as_deref();
                unit::finish(unit::admin::enroll(&mut db, &code, name, now))
            })
        })
    }

    fn terminal(
        &self,
        terminal_id: String,
    ) -> impl Future<Output = Result<Option<Terminal>, StoreError>> + Send {
        self.blocking(move |inner| inner.read(|tx| admin::terminal(tx, &terminal_id)))
    }

    fn push(
        &self,
        terminal: Terminal,
        events: Vec<Incoming>,
        review: ReviewLimits,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<PushOutcome, StoreError>> + Send {
        self.blocking(move |inner| {
            let planner = inner.planner();
            inner.write(|tx| {
                let wishes = inner.wishes();
                let ctx = Applying {
                    rules: &|v| inner.rules(v),
                    limits: review,
                    planner: planner.as_deref(),
                    wishes: &wishes,
                    now,
                };
                let mut db = statements::SqliteUnit::new(tx);
                unit::finish(unit::intake::push(&mut db, ctx, &terminal, &events))
            })
        })
    }

    fn changes(
        &self,
        after: Option<FeedPosition>,
        limit: u32,
    ) -> impl Future<Output = Result<ChangesPage, StoreError>> + Send {
        self.blocking(move |inner| {
            inner.read(|tx| {
                let mut db = feed::FeedTx(tx);
                let page =
                    unit::feed::changes(&mut db, &inner.epoch, &inner.run, after.as_ref(), limit);
                unit::finish(page)
            })
        })
    }

    fn member_by_code(
        &self,
        code: String,
    ) -> impl Future<Output = Result<Option<MemberSnapshot>, StoreError>> + Send {
        self.blocking(move |inner| inner.read(|tx| members::by_code(tx, &code)))
    }

    fn create_enrollment_code(
        &self,
        store_id: String,
        for_terminal: Option<String>,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<String, StoreError>> + Send {
        self.blocking(move |inner| {
            inner.write(|tx| {
                let mut db = statements::SqliteUnit::new(tx);
                unit::finish(unit::admin::create_enrollment_code(
                    &mut db,
                    &store_id,
                    for_terminal.as_deref(),
                    expires_at,
                    now,
                ))
            })
        })
    }

    fn load_rules(
        &self,
        rules: RuleSet,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.blocking(move |inner| {
            // The writer lock is held across the cache update, so versions land in order.
            let mut writer = Inner::lock(&inner.writer);
            Inner::transact(&mut writer, Durability::Full, |tx| {
                let mut db = statements::SqliteUnit::new(tx);
                unit::finish(unit::admin::load_rules(&mut db, &rules, now))
            })?;
            let mut cache = inner.rules.write().unwrap_or_else(|e| e.into_inner());
            cache.insert(rules.version, Arc::new(rules));
            Ok(())
        })
    }

    fn current_rules(&self) -> impl Future<Output = Result<Option<RuleSet>, StoreError>> + Send {
        self.blocking(|inner| Ok(inner.latest_rules().map(|r| (*r).clone())))
    }

    fn check_writable(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.blocking(|inner| inner.check_writable())
    }

    fn counts(&self) -> impl Future<Output = Result<HubCounts, StoreError>> + Send {
        self.blocking(|inner| inner.read(metrics::counts))
    }
}

impl AdminStore for SqliteStore {
    fn import_members(
        &self,
        rows: Vec<ImportRow>,
        today: Date,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<ImportReport, StoreError>> + Send {
        self.blocking(move |inner| {
            let rules = inner.latest_rules().ok_or(StoreError::NoRuleSet)?;
            inner.write(|tx| {
                let mut db = statements::SqliteUnit::new(tx);
                unit::finish(unit::cards::import_members(
                    &mut db, &rules, &rows, today, now,
                ))
            })
        })
    }

    fn issue_coupons(
        &self,
        request: CouponRequest,
        stores: HomeStores,
        today: Date,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<CouponReport, StoreError>> + Send {
        self.blocking(move |inner| {
            let planner = inner.planner();
            inner.write(|tx| {
                let mut db = statements::SqliteUnit::new(tx);
                unit::finish(unit::coupons::issue_coupons(
                    &mut db,
                    &request,
                    &stores,
                    planner.as_deref(),
                    &inner.epoch,
                    today,
                    now,
                ))
            })
        })
    }

    fn revoke_code(
        &self,
        code: String,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Revoked, StoreError>> + Send {
        self.blocking(move |inner| {
            inner.write(|tx| {
                let mut db = statements::SqliteUnit::new(tx);
                unit::finish(unit::cards::revoke_code(&mut db, &code, now))
            })
        })
    }

    fn conflicts(
        &self,
        after: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<ConflictView>, StoreError>> + Send {
        self.blocking(move |inner| inner.read(|tx| admin::conflicts(tx, after, limit)))
    }

    fn discrepancies(
        &self,
        after: i64,
        limit: u32,
        class: Option<String>,
    ) -> impl Future<Output = Result<Vec<DiscrepancyView>, StoreError>> + Send {
        self.blocking(move |inner| {
            inner.read(|tx| review::discrepancies(tx, after, limit, class.as_deref()))
        })
    }

    fn held(
        &self,
        after: i64,
        limit: u32,
        open_only: bool,
    ) -> impl Future<Output = Result<Vec<HeldView>, StoreError>> + Send {
        self.blocking(move |inner| inner.read(|tx| review::held(tx, after, limit, open_only)))
    }

    fn resolve_held(
        &self,
        terminal_id: String,
        seq: u64,
        action: HeldAction,
        reason: String,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<HeldView, StoreError>> + Send {
        self.blocking(move |inner| {
            inner.write(|tx| {
                let mut db = statements::SqliteUnit::new(tx);
                unit::finish(unit::review::resolve_held(
                    &mut db,
                    &|v| inner.rules(v),
                    &terminal_id,
                    seq,
                    action,
                    &reason,
                    now,
                ))
            })
        })
    }

    fn terminals(
        &self,
        after: String,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<TerminalView>, StoreError>> + Send {
        self.blocking(move |inner| inner.read(|tx| audit::terminals(tx, &after, limit)))
    }

    fn terminal_events(
        &self,
        terminal_id: String,
        after: u64,
        limit: u32,
    ) -> impl Future<Output = Result<TerminalEvents, StoreError>> + Send {
        self.blocking(move |inner| inner.read(|tx| audit::events(tx, &terminal_id, after, limit)))
    }

    fn terminal_sale(
        &self,
        terminal_id: String,
        sale_id: String,
    ) -> impl Future<Output = Result<TerminalEvents, StoreError>> + Send {
        self.blocking(move |inner| inner.read(|tx| audit::sale(tx, &terminal_id, &sale_id)))
    }
}

impl LineStore for SqliteStore {
    fn set_planner(&self, planner: Arc<dyn Planner>) {
        *self
            .inner
            .planner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(planner);
    }

    fn line_events(
        &self,
        events: Vec<LineEvent>,
        greeting: Greeting,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<LineIntake, StoreError>> + Send {
        self.blocking(move |inner| {
            inner.write(|tx| {
                let mut db = statements::SqliteUnit::new(tx);
                unit::finish(unit::line::take(&mut db, &events, &greeting, now))
            })
        })
    }

    fn friendship(
        &self,
        line_user_id: String,
    ) -> impl Future<Output = Result<Option<Friendship>, StoreError>> + Send {
        self.blocking(move |inner| inner.read(|tx| line::friendship(tx, &line_user_id)))
    }

    fn claim_messages(
        &self,
        claim: Claim,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<OutboxMessage>, StoreError>> + Send {
        self.blocking(move |inner| inner.write(|tx| outbox::claim(tx, &claim, now)))
    }

    fn finish_messages(
        &self,
        outcomes: Vec<Finished>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.blocking(move |inner| inner.write(|tx| outbox::finish(tx, &outcomes, now)))
    }

    fn outbox_counts(&self) -> impl Future<Output = Result<OutboxCounts, StoreError>> + Send {
        self.blocking(move |inner| inner.read(outbox::counts))
    }

    fn plan_linked(
        &self,
        today: Date,
        stores: HomeStores,
        after: String,
        limit: u32,
    ) -> impl Future<Output = Result<PlannedPage, StoreError>> + Send {
        self.blocking(move |inner| {
            let (Some(planner), Some(rules)) = (inner.planner(), inner.latest_rules()) else {
                return Ok(PlannedPage::default());
            };
            let page = unit::scan::Page {
                today,
                stores: &stores,
                after: &after,
                limit,
            };
            inner.read(|tx| {
                let mut db = statements::SqliteUnit::new(tx);
                unit::finish(unit::scan::plan(&mut db, planner.as_ref(), &rules, page))
            })
        })
    }

    fn queue_linked(
        &self,
        messages: Vec<ScanMessage>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        self.blocking(move |inner| inner.write_redone_if_lost(|tx| scan::queue(tx, &messages, now)))
    }

    /// Nothing to do: the outbox's statements name the index each uses (`INDEXED BY`), so no
    /// plan depends on statistics of the queue.
    fn scan_queued(&self, _messages: u64) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(Ok(()))
    }

    fn member_profile(
        &self,
        member_id: String,
    ) -> impl Future<Output = Result<super::outbox::Profile, StoreError>> + Send {
        self.blocking(move |inner| inner.read(|tx| profiles::profile(tx, &member_id)))
    }

    fn home_store(
        &self,
        member_id: String,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send {
        self.blocking(move |inner| inner.read(|tx| members::home_store(tx, &member_id)))
    }

    fn save_profile(
        &self,
        member_id: String,
        profile: super::outbox::Profile,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.blocking(move |inner| {
            inner.write(|tx| {
                let mut db = statements::SqliteUnit::new(tx);
                unit::finish(unit::line::save_profile(&mut db, &member_id, &profile, now))
            })
        })
    }

    fn unlink_line(
        &self,
        line_user_id: String,
        goodbye: Option<super::outbox::NewMessage>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send {
        self.blocking(move |inner| {
            inner.write(|tx| {
                let mut db = statements::SqliteUnit::new(tx);
                let goodbye = goodbye.as_ref();
                unit::finish(unit::line::unlink(&mut db, &line_user_id, goodbye, now))
            })
        })
    }

    fn member_messages(
        &self,
        member_id: String,
    ) -> impl Future<Output = Result<Vec<MessageView>, StoreError>> + Send {
        self.blocking(move |inner| inner.read(|tx| outbox::of_member(tx, &member_id)))
    }

    fn complete_signup(
        &self,
        request: crate::signup::CompleteSignup,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<crate::signup::SignupRecord, StoreError>> + Send {
        self.blocking(move |inner| {
            inner.write(|tx| {
                let mut db = statements::SqliteUnit::new(tx);
                unit::finish(unit::signup::complete(&mut db, &request, now))
            })
        })
    }

    fn signup(
        &self,
        signup_id: String,
    ) -> impl Future<Output = Result<Option<crate::signup::SignupRecord>, StoreError>> + Send {
        self.blocking(move |inner| {
            inner.read(|tx| {
                let mut db = statements::SqliteUnit::new(tx);
                unit::finish(unit::signup::record(&mut db, &signup_id))
            })
        })
    }

    fn member_by_line_user(
        &self,
        line_user_id: String,
    ) -> impl Future<Output = Result<Option<MemberSnapshot>, StoreError>> + Send {
        self.blocking(move |inner| {
            inner.read(|tx| {
                let mut db = statements::SqliteUnit::new(tx);
                unit::finish(unit::signup::member_of_line(&mut db, &line_user_id))
            })
        })
    }

    fn card_key(
        &self,
    ) -> impl Future<Output = Result<Option<crate::signup::CardKey>, StoreError>> + Send {
        self.blocking(|inner| inner.read(signup::card_key))
    }
}
