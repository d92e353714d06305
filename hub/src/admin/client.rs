//! A client of the hub's admin API, for the `tenpo-hub` admin commands (and tests).

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tenpo_protocol::ErrorBody;

use crate::admin::{
    ConflictView, CouponReport, CouponRequest, DiscrepancyView, EnrollmentCodeRequest,
    EnrollmentCodeResponse, HeldView, ImportReport, ImportRequest, ImportRow, ResolveHeldRequest,
    RevokeRequest, Revoked, RulesLoaded,
};
use crate::admin::{TerminalEvents, TerminalView};
use tenpo_protocol::catalog::{
    BatchReport, ItemsBatch, NotificationReport, StockBatch, UnknownWishedItem,
};

/// Why an admin call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the hub at {url}: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("the hub refused ({status}, {code}): {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("the hub answered {status} with a body this client does not understand: {detail}")]
    Unexpected { status: u16, detail: String },
}

/// The admin API of one hub.
#[derive(Debug, Clone)]
pub struct AdminClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl AdminClient {
    pub fn new(base: &str, token: String) -> Result<AdminClient, ClientError> {
        let base = base.trim_end_matches('/').to_owned();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|source| ClientError::Unreachable {
                url: base.clone(),
                source,
            })?;
        Ok(AdminClient { base, token, http })
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<T, ClientError> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|source| ClientError::Unreachable {
                url: url.to_owned(),
                source,
            })?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|source| ClientError::Unreachable {
                url: url.to_owned(),
                source,
            })?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&bytes).map_err(|e| ClientError::Unexpected {
                status,
                detail: e.to_string(),
            });
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(ClientError::Refused {
                status,
                code: serde_json::to_value(body.error.code)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                message: body.error.message,
            }),
            Err(_) => Err(ClientError::Unexpected {
                status,
                detail: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            }),
        }
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        self.send(self.http.post(&url).json(body), &url).await
    }

    async fn put<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        self.send(self.http.put(&url).json(body), &url).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        self.send(self.http.get(&url), &url).await
    }

    pub async fn enrollment_code(
        &self,
        store_id: &str,
        valid_hours: Option<u32>,
    ) -> Result<EnrollmentCodeResponse, ClientError> {
        self.enrollment_code_for(store_id, None, valid_hours).await
    }

    /// A code for `terminal_id` (new credentials for that terminal), or for a new terminal.
    pub async fn enrollment_code_for(
        &self,
        store_id: &str,
        terminal_id: Option<&str>,
        valid_hours: Option<u32>,
    ) -> Result<EnrollmentCodeResponse, ClientError> {
        self.post(
            "/v1/admin/enrollment-codes",
            &EnrollmentCodeRequest {
                store_id: store_id.to_owned(),
                valid_hours,
                terminal_id: terminal_id.map(str::to_owned),
            },
        )
        .await
    }

    /// Loads a rule set from its TOML text.
    pub async fn load_rules(&self, toml_text: String) -> Result<RulesLoaded, ClientError> {
        let url = format!("{}/v1/admin/rule-sets", self.base);
        let request = self
            .http
            .post(&url)
            .header("content-type", "application/toml")
            .body(toml_text);
        self.send(request, &url).await
    }

    pub async fn import_members(&self, rows: Vec<ImportRow>) -> Result<ImportReport, ClientError> {
        self.post("/v1/admin/members/import", &ImportRequest { rows })
            .await
    }

    pub async fn issue_coupons(
        &self,
        request: &CouponRequest,
    ) -> Result<CouponReport, ClientError> {
        self.post("/v1/admin/coupons", request).await
    }

    pub async fn revoke_code(&self, code: &str) -> Result<Revoked, ClientError> {
        self.post(
            "/v1/admin/codes/revoke",
            &RevokeRequest {
                code: code.to_owned(),
            },
        )
        .await
    }

    pub async fn conflicts(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ConflictView>, ClientError> {
        self.get(&format!("/v1/admin/conflicts?after={after}&limit={limit}"))
            .await
    }

    pub async fn discrepancies(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<DiscrepancyView>, ClientError> {
        self.get(&format!(
            "/v1/admin/discrepancies?after={after}&limit={limit}"
        ))
        .await
    }

    /// Discrepancies of one class only (`stamps`, `tier`, `balance`, `rules_unknown`,
    /// `amount`).
    pub async fn discrepancies_of_class(
        &self,
        after: i64,
        limit: u32,
        class: &str,
    ) -> Result<Vec<DiscrepancyView>, ClientError> {
        self.get(&format!(
            "/v1/admin/discrepancies?after={after}&limit={limit}&class={class}"
        ))
        .await
    }

    /// Enrolled terminals whose ids sort after `after`.
    pub async fn terminals(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<Vec<TerminalView>, ClientError> {
        // Terminal ids are the hub's own (`t` and hex digits), but `after` is the caller's.
        let escaped =
            percent_encoding::utf8_percent_encode(after, percent_encoding::NON_ALPHANUMERIC);
        self.get(&format!(
            "/v1/admin/terminals?after={escaped}&limit={limit}"
        ))
        .await
    }

    /// What `scenario` would send the member with `code` now.
    pub async fn preview_message(
        &self,
        code: &str,
        scenario: &str,
    ) -> Result<tenpo_protocol::admin::MessagePreview, ClientError> {
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        self.get(&format!(
            "/v1/admin/members/{}/messages/{}/preview",
            enc(code),
            enc(scenario)
        ))
        .await
    }

    /// Every enrolled terminal, a page of 1000 at a time.
    pub async fn all_terminals(&self) -> Result<Vec<TerminalView>, ClientError> {
        let mut all: Vec<TerminalView> = Vec::new();
        loop {
            let after = all
                .last()
                .map(|t| t.terminal_id.clone())
                .unwrap_or_default();
            let page = self.terminals(&after, 1000).await?;
            if page.is_empty() {
                return Ok(all);
            }
            all.extend(page);
        }
    }

    /// A terminal's events as the hub holds them, after `after`.
    pub async fn terminal_events(
        &self,
        terminal_id: &str,
        after: u64,
        limit: u32,
    ) -> Result<TerminalEvents, ClientError> {
        self.get(&format!(
            "/v1/admin/terminals/{terminal_id}/events?after={after}&limit={limit}"
        ))
        .await
    }

    /// Every event a terminal sent about one of its sales.
    pub async fn terminal_sale(
        &self,
        terminal_id: &str,
        sale_id: &str,
    ) -> Result<TerminalEvents, ClientError> {
        // A sale id may hold `/`, `?` or `#`: escaped as a path segment.
        let escaped =
            percent_encoding::utf8_percent_encode(sale_id, percent_encoding::NON_ALPHANUMERIC);
        self.get(&format!(
            "/v1/admin/terminals/{terminal_id}/sales/{escaped}"
        ))
        .await
    }

    pub async fn held(
        &self,
        after: i64,
        limit: u32,
        open: bool,
    ) -> Result<Vec<HeldView>, ClientError> {
        self.get(&format!(
            "/v1/admin/held?after={after}&limit={limit}&open={open}"
        ))
        .await
    }

    pub async fn resolve_held(
        &self,
        terminal_id: &str,
        seq: u64,
        request: &ResolveHeldRequest,
    ) -> Result<HeldView, ClientError> {
        // Terminal ids are the hub's own (`t` and hex digits): nothing to escape.
        self.post(&format!("/v1/admin/held/{terminal_id}/{seq}"), request)
            .await
    }

    /// What the notifications queued from the Monday of `from` to `to` brought in.
    pub async fn notification_report(
        &self,
        from: &str,
        to: &str,
    ) -> Result<NotificationReport, ClientError> {
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        self.get(&format!(
            "/v1/admin/reports/notifications?from={}&to={}",
            enc(from),
            enc(to)
        ))
        .await
    }

    /// Items members wished for that the catalogue does not have.
    pub async fn unknown_wished_items(&self) -> Result<Vec<UnknownWishedItem>, ClientError> {
        self.get("/v1/admin/wishes/unknown").await
    }
}

/// A client of the catalogue feed (`PUT /v1/catalog/...`) with the catalogue token, for `tenpo-hub
/// catalog import` (and tests). Its answers and errors are the admin client's.
#[derive(Debug, Clone)]
pub struct FeedClient(AdminClient);

impl FeedClient {
    pub fn new(base: &str, catalog_token: String) -> Result<FeedClient, ClientError> {
        Ok(FeedClient(AdminClient::new(base, catalog_token)?))
    }

    pub async fn put_items(&self, batch: &ItemsBatch) -> Result<BatchReport, ClientError> {
        self.0.put("/v1/catalog/items", batch).await
    }

    pub async fn put_stock(&self, batch: &StockBatch) -> Result<BatchReport, ClientError> {
        self.0.put("/v1/catalog/stock", batch).await
    }
}
