//! What the hub's benchmarks share: the admin token they serve with, their sizes from the
//! environment, and a hub served in-process on loopback.
#![allow(dead_code)]

use std::sync::Arc;

use tenpo_hub::api::{self, AppState};
use tenpo_hub::store::HubStore;

/// The admin token of the hubs the benches serve.
pub const TOKEN: &str = "bench-admin-token-0123456789";

/// The count in environment variable `name`, or `default` when it is unset or not a count.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Serves `store` on loopback with [`TOKEN`]; answers the hub's base URL.
pub async fn serve<S: HubStore>(store: Arc<S>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState::new(store, TOKEN, chrono_tz::Asia::Tokyo);
    tokio::spawn(async move {
        api::serve(listener, state, std::future::pending())
            .await
            .unwrap();
    });
    base
}
