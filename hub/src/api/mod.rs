//! The hub's HTTP API (axum), generic over the storage ([`HubStore`]): handlers only parse,
//! call one store operation, and answer.

pub mod auth;
pub mod catalog;
pub mod error;
pub mod links;
pub mod metrics;
pub mod terminal;
pub mod terminal_reports;

use std::future::Future;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use tenpo_loyalty::Date;
use tenpo_protocol::sync::MAX_PUSH_BODY_BYTES;
use tokio::net::TcpListener;

pub use error::ApiError;

use crate::store::HubStore;

/// Body limit of the small JSON endpoints (enrolment, coupons, codes).
pub const SMALL_BODY_BYTES: usize = 64 * 1024;
/// Body limit of admin bulk endpoints (member import, rule sets).
pub const ADMIN_BODY_BYTES: usize = 8 * 1024 * 1024;
pub use catalog::CATALOG_BODY_BYTES;

/// What every handler can reach.
pub struct AppState<S> {
    pub store: Arc<S>,
    /// SHA-256 of the admin token.
    pub admin_token_hash: [u8; 32],
    /// SHA-256 of the catalogue feed's token; the feed is off without one.
    pub catalog_token_hash: Option<[u8; 32]>,
    /// Days after a notification a purchase is counted for it (what the report says).
    pub attribution_days: u32,
    /// The time zone of business dates (import dates, coupon validity).
    pub time_zone: Tz,
    /// `time_zone` and the stores elsewhere: a member's own business date.
    pub zones: crate::scenarios::zones::Zones,
    /// How long a new enrolment code is valid unless the request says.
    pub enrollment_code_hours: u32,
    /// Signup with LINE: settings, LINE's verify endpoint, waiting terminals.
    pub signup: Arc<crate::signup::SignupService>,
    /// How far a till's outcome may exceed the hub's evaluation before it is held.
    pub review: crate::review::ReviewLimits,
    /// The official LINE account: its webhook secret and the Messaging API.
    pub line: Arc<crate::line::OfficialAccount>,
    /// The key of email's unsubscribe links (`CatalogStore::unsubscribe_key`): with it, the
    /// pages at `/u/{token}` are served.
    pub unsubscribe_key: Option<[u8; 32]>,
    /// What terminals said of themselves, and when it was last written.
    pub terminal_reports: Arc<terminal_reports::TerminalReports>,
    /// The console's sessions and sign-in limits (`[console]`).
    pub console: crate::console::ConsoleSettings,
    /// The console's reports, worked out in the background.
    pub reports: Arc<crate::console::report_data::ReportCache>,
    /// What erasing a member does with their points (`[privacy]`).
    pub privacy: crate::privacy::PrivacySettings,
}

impl<S> Clone for AppState<S> {
    fn clone(&self) -> Self {
        AppState {
            store: self.store.clone(),
            admin_token_hash: self.admin_token_hash,
            catalog_token_hash: self.catalog_token_hash,
            attribution_days: self.attribution_days,
            time_zone: self.time_zone,
            zones: self.zones.clone(),
            enrollment_code_hours: self.enrollment_code_hours,
            signup: self.signup.clone(),
            review: self.review,
            line: self.line.clone(),
            unsubscribe_key: self.unsubscribe_key,
            terminal_reports: self.terminal_reports.clone(),
            console: self.console,
            reports: self.reports.clone(),
            privacy: self.privacy,
        }
    }
}

impl<S> std::fmt::Debug for AppState<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("time_zone", &self.time_zone)
            .field("enrollment_code_hours", &self.enrollment_code_hours)
            .finish_non_exhaustive()
    }
}

impl<S> AppState<S> {
    pub fn new(store: Arc<S>, admin_token: &str, time_zone: Tz) -> AppState<S> {
        AppState {
            store,
            admin_token_hash: crate::secrets::sha256(admin_token.as_bytes()),
            catalog_token_hash: None,
            attribution_days: crate::wishes::WishSettings::default().attribution_days,
            time_zone,
            zones: crate::scenarios::zones::Zones::single(time_zone),
            enrollment_code_hours: 24,
            signup: Arc::new(crate::signup::SignupService::disabled()),
            review: crate::review::ReviewLimits::default(),
            line: Arc::new(crate::line::OfficialAccount::default()),
            unsubscribe_key: None,
            terminal_reports: Arc::default(),
            console: crate::console::ConsoleSettings::default(),
            reports: Arc::default(),
            privacy: crate::privacy::PrivacySettings::default(),
        }
    }

    /// Turns the catalogue feed on with `token` (`catalog_token_file`), or leaves it off. The
    /// feed's credential is its own: one that is also the admin token is refused.
    pub fn set_catalog_token(
        &mut self,
        token: Option<&crate::config::CatalogToken>,
    ) -> Result<(), crate::config::ConfigError> {
        match token {
            Some(t) if crate::secrets::same(&t.hash, &self.admin_token_hash) => {
                Err(crate::config::ConfigError::Secret {
                    what: "catalogue token",
                    path: t.path.clone(),
                    problem: "is the admin token: give the catalogue feed a token of its own"
                        .into(),
                })
            }
            Some(t) => {
                self.catalog_token_hash = Some(t.hash);
                tracing::info!(token = %t.path.display(), "catalogue feed on at /v1/catalog");
                Ok(())
            }
            None => {
                self.catalog_token_hash = None;
                tracing::info!("catalogue feed off: set catalog_token_file to turn it on");
                Ok(())
            }
        }
    }

    /// The hub's business date at `now`.
    pub fn business_date(&self, now: DateTime<Utc>) -> Date {
        let local = now.with_timezone(&self.time_zone).date_naive();
        Date::from_ymd(local.year(), local.month(), local.day()).unwrap_or(Date::MIN)
    }
}

/// The hub's routes.
pub fn router<S: HubStore>(state: AppState<S>) -> Router {
    use crate::admin::api as a;
    use crate::admin::reports;
    use terminal as t;
    let admin = Router::new()
        .route("/v1/admin/enrollment-codes", post(a::enrollment_code::<S>))
        .route("/v1/admin/coupons", post(a::issue_coupons::<S>))
        .route("/v1/admin/codes/revoke", post(a::revoke_code::<S>))
        .route("/v1/admin/conflicts", get(a::conflicts::<S>))
        .route("/v1/admin/discrepancies", get(a::discrepancies::<S>))
        .route("/v1/admin/held", get(a::held::<S>))
        .route("/v1/admin/terminals", get(a::terminals::<S>))
        .route(
            "/v1/admin/reports/notifications",
            get(reports::notifications::<S>),
        )
        .route(
            "/v1/admin/wishes/unknown",
            get(reports::unknown_wishes::<S>),
        )
        .route(
            "/v1/admin/members/{code}/messages/{scenario}/preview",
            get(a::preview_message::<S>),
        )
        .route(
            "/v1/admin/terminals/{terminal_id}/events",
            get(a::terminal_events::<S>),
        )
        .route(
            "/v1/admin/terminals/{terminal_id}/sales/{sale_id}",
            get(a::terminal_sale::<S>),
        )
        .route(
            "/v1/admin/held/{terminal_id}/{seq}",
            post(a::resolve_held::<S>),
        )
        .layer(DefaultBodyLimit::max(SMALL_BODY_BYTES))
        .merge(
            Router::new()
                .route("/v1/admin/rule-sets", post(a::load_rules::<S>))
                .route("/v1/admin/members/import", post(a::import_members::<S>))
                .layer(DefaultBodyLimit::max(ADMIN_BODY_BYTES)),
        );
    Router::new()
        .route("/v1/health", get(t::health::<S>))
        .route("/metrics", get(metrics::metrics::<S>))
        .route("/v1/openapi.json", get(openapi_json))
        .route("/v1/enroll", post(t::enroll::<S>))
        .route("/v1/changes", get(t::changes::<S>))
        .route("/v1/members/by-code/{code}", get(t::member_by_code::<S>))
        .route("/r/{link_id}", get(links::follow::<S>))
        .layer(DefaultBodyLimit::max(SMALL_BODY_BYTES))
        .merge(
            Router::new()
                .route("/v1/events", post(t::push::<S>))
                .layer(DefaultBodyLimit::max(MAX_PUSH_BODY_BYTES)),
        )
        .merge(admin)
        .merge(
            Router::new()
                .route("/v1/catalog/items", put(catalog::put_items::<S>))
                .route("/v1/catalog/stock", put(catalog::put_stock::<S>))
                .layer(DefaultBodyLimit::max(CATALOG_BODY_BYTES)),
        )
        .merge(crate::signup::api::routes::<S>())
        .merge(crate::console::routes::<S>())
        .merge(
            Router::new()
                .route("/line/webhook", post(crate::line::webhook::webhook::<S>))
                .layer(DefaultBodyLimit::max(
                    crate::line::webhook::MAX_WEBHOOK_BYTES,
                )),
        )
        .merge(unsubscribe_pages(&state))
        .fallback(tenpo_edge::not_found)
        .method_not_allowed_fallback(tenpo_edge::method_not_allowed)
        .with_state(state)
}

/// Email's unsubscribe pages, when the hub has their key.
fn unsubscribe_pages<S: HubStore>(state: &AppState<S>) -> Router<AppState<S>> {
    let Some(key) = &state.unsubscribe_key else {
        return Router::new();
    };
    match crate::email::unsubscribe::routes(state.store.clone(), key) {
        Ok(pages) => pages,
        Err(e) => {
            // A 32-byte key is never too short; say so if it ever is, and serve without them.
            tracing::error!(error = %e, "email's unsubscribe pages are off");
            Router::new()
        }
    }
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes requests in flight.
pub async fn serve<S: HubStore>(
    listener: TcpListener,
    state: AppState<S>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Bounded: header-read and request timeouts, a connection limit, panics answered 500.
    tenpo_edge::serve(listener, router(state), tenpo_edge::Limits::HUB, shutdown).await
}

async fn openapi_json() -> Response {
    Json(tenpo_protocol::openapi::hub_api()).into_response()
}
