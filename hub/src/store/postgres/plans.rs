//! Tests' reading of PostgreSQL's plans: a statement's `EXPLAIN (FORMAT JSON, …)`, and its
//! nodes, for tests that check how the server runs the hub's hot statements.
#![allow(clippy::unwrap_used)]

use chrono::Utc;
use serde_json::Value;
use tokio_postgres::{Client, SimpleQueryMessage};

use super::{DatabaseUrl, PgStore};

/// A fresh database at the hub's schema, and a plain client of it.
pub(super) async fn fresh_database() -> (PgStore, Client) {
    let (store, url) = fresh_store().await;
    (store, connect(&url).await)
}

/// A fresh database at the hub's schema (the store has one connection), and its URL.
pub(super) async fn fresh_store() -> (PgStore, String) {
    let url = tenpo_e2e::postgres::cluster().fresh_database().await;
    let store = PgStore::open(&DatabaseUrl::parse(&url).unwrap(), 1, Utc::now())
        .await
        .unwrap();
    (store, url)
}

/// A plain client of the database at `url`.
pub(super) async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// The plan of `sql` as text (for a failure's message) and as JSON. `options` follow
/// `FORMAT JSON` (`", ANALYZE"` runs it). Asked as simple text, so `sql` has its values
/// written in: EXPLAIN answers `json`.
pub(super) async fn explain(client: &Client, options: &str, sql: &str) -> (String, Value) {
    let answer = client
        .simple_query(&format!("EXPLAIN (FORMAT JSON{options}) {sql}"))
        .await
        .unwrap();
    let text = answer
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
        .unwrap();
    let plan = serde_json::from_str(&text).unwrap();
    (text, plan)
}

/// Every node of `plan` (as [`explain`] answers it) for which `wanted` holds.
pub(super) fn nodes(plan: &Value, wanted: impl Fn(&Value) -> bool) -> Vec<&Value> {
    let mut found = Vec::new();
    let mut left = vec![&plan[0]["Plan"]];
    while let Some(node) = left.pop() {
        if wanted(node) {
            found.push(node);
        }
        left.extend(node["Plans"].as_array().into_iter().flatten());
    }
    found
}
