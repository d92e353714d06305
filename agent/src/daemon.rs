//! `tenpo-agent run`: open the store, start the local API, stop cleanly on Ctrl-C or SIGTERM.

use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::Utc;
use tokio::net::TcpListener;

use crate::api::{self, AppState};
use crate::config::Settings;
use crate::ledger::Ledger;
use crate::store::{Identity, Store};

/// The database file inside the data directory.
pub const DB_FILE: &str = "tenpo.db";

/// Runs the agent until Ctrl-C or SIGTERM.
pub async fn run(settings: Settings) -> Result<()> {
    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            settings.data_dir.display()
        )
    })?;
    let db = settings.data_dir.join(DB_FILE);
    let store = Arc::new(Store::open(&db).with_context(|| format!("opening {}", db.display()))?);
    let token = api::auth::load_or_create(&settings.data_dir)?;
    let who = Identity {
        store_id: settings.store_id.clone(),
        terminal_id: settings.terminal_id.clone(),
    };
    let ledger = Arc::new(Ledger::new(
        store.clone(),
        Arc::new(settings.rules.clone()),
        settings.time_zone,
        who,
    ));
    if settings.demo {
        let now = Utc::now();
        let members = crate::demo::seed(
            &store,
            ledger.rules(),
            ledger.business_date(now),
            &now.to_rfc3339(),
        )
        .context("seeding the demo members")?;
        for m in &members {
            tracing::info!(code = %m.code, "demo member: {}", m.note);
        }
    }
    let listener = TcpListener::bind(settings.listen).await.with_context(|| {
        format!(
            "cannot listen on {}: is another agent running?",
            settings.listen
        )
    })?;
    let counts = store.outbox_counts()?;
    tracing::info!(
        listen = %settings.listen,
        data_dir = %settings.data_dir.display(),
        store_id = %settings.store_id,
        terminal_id = %settings.terminal_id,
        rules = %format!("{} v{}", settings.rules.name, settings.rules.version),
        pending_events = counts.pending,
        mode = "standalone",
        "tenpo-agent ready"
    );
    let state = AppState {
        ledger,
        token: token.into(),
    };
    api::serve(listener, state, shutdown_signal())
        .await
        .context("the local API stopped with an error")?;
    tracing::info!("tenpo-agent stopped");
    Ok(())
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C: stopping"),
        () = term => tracing::info!("SIGTERM: stopping"),
    }
}
