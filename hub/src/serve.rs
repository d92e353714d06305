//! `tenpo-hub serve`: open the store, start the API, stop cleanly on Ctrl-C or SIGTERM.

use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::Utc;
use tenpo_hub::api::{self, AppState};
use tenpo_hub::config::{self, DB_FILE, Database, Settings};
use tenpo_hub::store::postgres::PgStore;
use tenpo_hub::store::{HubStore, SqliteStore};
use tokio::net::TcpListener;

pub async fn run(settings: Settings) -> Result<()> {
    make_private_dir(&settings.data_dir)?;
    match settings.database.clone() {
        Database::Sqlite => {
            let db = settings.data_dir.join(DB_FILE);
            let store = SqliteStore::open(&db, Utc::now())
                .with_context(|| format!("opening the hub database {}", db.display()))?;
            serve(Arc::new(store), settings, db.display().to_string()).await
        }
        Database::Postgres { url, connections } => {
            let store = PgStore::open(&url, connections, Utc::now())
                .await
                .with_context(|| format!("opening the hub database {url}"))?;
            serve(Arc::new(store), settings, url.to_string()).await
        }
    }
}

/// Serves the API on `store`, described in the log as `database` (never with a password).
async fn serve<S: HubStore>(store: Arc<S>, settings: Settings, database: String) -> Result<()> {
    let (token, token_from) = config::admin_token(
        settings.admin_token_file.as_deref(),
        std::env::var(config::ADMIN_TOKEN_ENV).ok(),
        &settings.data_dir,
    )?;
    let mut state = AppState::new(store, &token, settings.time_zone);
    state.zones = settings.zones.clone();
    drop(token);
    state.enrollment_code_hours = settings.enrollment_code_hours;
    state.review = settings.review;
    state.console = settings.console;
    state.privacy = settings.privacy;
    state.set_catalog_token(settings.catalog_token.as_ref())?;
    state.attribution_days = settings.wishes.attribution_days;
    state.signup = Arc::new(
        tenpo_hub::signup::SignupService::new(settings.line.clone())
            .context("setting up signup with LINE")?,
    );
    match &settings.line.channel_id {
        Some(channel) => {
            tracing::info!(%channel, line_api = %settings.line.api_base, "signup with LINE enabled")
        }
        None => tracing::info!("signup with LINE off: set [line] channel_id to enable it"),
    }
    let mut account =
        tenpo_hub::line::OfficialAccount::new(settings.messaging.clone(), &settings.line.api_base)
            .context("setting up the official LINE account")?;
    let scenarios = Arc::new(tenpo_hub::scenarios::Scenarios {
        settings: settings.scenarios.clone(),
    });
    account.scenarios = scenarios.clone();
    state.line = Arc::new(account);
    match &state.line.client {
        Some(client) => {
            let sender = tenpo_hub::line::sender::Sender::new(
                state.store.clone(),
                client.clone(),
                scenarios.clone(),
                settings.messaging.sender.clone(),
                state.line.outbox_written.clone(),
            )
            .with_board(state.line.quota.clone());
            tokio::spawn(sender.run());
            // Causes write their scenarios' messages only when they can be sent.
            state.store.set_planner(scenarios.clone());
            tracing::info!(
                rate_per_second = settings.messaging.sender.rate_per_second.get(),
                "LINE messages: the outbox is sent"
            );
        }
        None => tracing::info!("LINE messages off: set [line] access_token_file to send them"),
    }
    start_wishes(&mut state, &settings).await?;
    if state.line.client.is_some() || settings.scenarios.birthday.is_some() {
        // The daily scan: the birthday month's coupons (with or without LINE) and the
        // messages of the day.
        tokio::spawn(tenpo_hub::scenarios::daily::schedule(
            state.store.clone(),
            settings.scenarios.clone(),
            settings.zones.clone(),
        ));
    }
    if settings.messaging.channel_secret.is_some() {
        tracing::info!("LINE webhook enabled at /line/webhook");
    } else {
        tracing::info!("LINE webhook off: set [line] channel_secret_file to enable it");
    }
    let shutdown = shutdown_signal();
    let listener = TcpListener::bind(settings.listen).await.with_context(|| {
        format!(
            "cannot listen on {}: is another hub running?",
            settings.listen
        )
    })?;
    let listen = listener
        .local_addr()
        .context("cannot read the listening address")?;
    if !listen.ip().is_loopback() {
        tracing::warn!(%listen, "listening beyond loopback without TLS: put a TLS proxy in front");
    }
    tracing::info!(
        listen = %listen,
        data_dir = %settings.data_dir.display(),
        %database,
        time_zone = %settings.time_zone,
        admin_token = %token_from,
        "tenpo-hub ready"
    );
    api::serve(listener, state, shutdown)
        .await
        .context("the hub's API stopped with an error")?;
    tracing::info!("tenpo-hub stopped");
    Ok(())
}

fn make_private_dir(dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(dir)
            .with_context(|| format!("cannot read the data directory {}", dir.display()))?;
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("cannot make {} private (mode 0700)", dir.display()))?;
        }
    }
    Ok(())
}

/// Listens for Ctrl-C and (on Unix) SIGTERM from now on; the future resolves on either.
/// Installed before the hub says it is ready, so a stop request is never lost.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM: stopping"),
                    _ = int.recv() => tracing::info!("Ctrl-C: stopping"),
                },
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM or Ctrl-C; stop with SIGKILL");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        tracing::info!("Ctrl-C: stopping");
    }
}

/// Wishes' notifications (docs/design.md §11): in LINE when its messages are sent, by email
/// when `[email]` names a server; the unsubscribe pages, and email's sender.
async fn start_wishes<S: HubStore>(state: &mut AppState<S>, settings: &Settings) -> Result<()> {
    let mut wishes = settings.wishes.clone();
    wishes.line = state.line.client.is_some();
    wishes.email = settings.email.is_some();
    let key = state
        .store
        .unsubscribe_key()
        .await
        .context("reading the key of email's unsubscribe links")?;
    state.unsubscribe_key = Some(key);
    match (&settings.email, &wishes.public_url) {
        (Some(email), Some(public_url)) => {
            let mailer = tenpo_hub::email::Mailer::new(email).context("setting up email")?;
            let sender = tenpo_hub::email::sender::EmailSender::new(
                state.store.clone(),
                mailer,
                tenpo_hub::email::sender::EmailSenderSettings {
                    batch: 32,
                    lease: std::time::Duration::from_secs(120),
                    quiet_hours: settings.messaging.sender.quiet_hours,
                    zones: settings.zones.clone(),
                    public_url: public_url.clone(),
                },
                key,
                Arc::new(tokio::sync::Notify::new()),
            );
            tokio::spawn(sender.run());
            tracing::info!(server = %email.server(), "email notifications: sent");
        }
        (Some(_), None) => anyhow::bail!(
            "[email] is set but [wishes] public_url is not: an email's links (the item, \
             unsubscribing) need the hub's https:// address as members reach it"
        ),
        (None, _) => {
            tracing::info!("email off: set [email] smtp_host to send notifications by email")
        }
    }
    tracing::info!(
        line = wishes.line,
        email = wishes.email,
        per_week = wishes.per_week,
        attribution_days = wishes.attribution_days,
        "wishes notify members"
    );
    state.store.set_wish_settings(wishes);
    Ok(())
}
