//! `tenpo-agent run`: open the store, start the scanners, the sync engine and the local API,
//! stop cleanly on Ctrl-C or SIGTERM.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use tokio::net::TcpListener;

use crate::api::{self, AppState, SyncLink};
use crate::config::Settings;
use crate::ledger::{Ledger, OfflineGuard};
use crate::scan::{self, Pipeline, Scanners};
use crate::store::{Identity, Store};
use crate::sync::{self, Engine, HubClient, Shared};

/// The database file inside the data directory.
pub const DB_FILE: &str = "tenpo.db";

/// An open terminal: its ledger, and its sync engine when enrolled.
#[derive(Debug)]
pub struct Terminal {
    pub store: Arc<Store>,
    pub ledger: Arc<Ledger>,
    pub sync: Option<Arc<SyncLink>>,
}

/// Opens the store and builds the ledger (and the sync engine of an enrolled terminal). An
/// enrolled terminal that has never received a rule set pulls the hub first: it will not
/// evaluate a sale on a program it does not have.
pub async fn open(settings: &Settings) -> Result<Terminal> {
    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            settings.data_dir.display()
        )
    })?;
    let db = settings.data_dir.join(DB_FILE);
    let store = Arc::new(Store::open(&db).with_context(|| format!("opening {}", db.display()))?);
    let who = Identity {
        store_id: settings.store_id.clone(),
        terminal_id: settings.terminal_id.clone(),
    };
    let hub_rules = store.write(|tx| sync::apply::cached_rules(tx))?;
    let rules = hub_rules.clone().or_else(|| settings.rules.clone());
    let mut ledger = Ledger::new(
        store.clone(),
        Arc::new(rules.clone().unwrap_or_else(tenpo_loyalty::RuleSet::demo)),
        settings.code_rules.clone(),
        settings.time_zone,
        who,
    );
    let Some(credentials) = &settings.credentials else {
        return Ok(Terminal {
            store,
            ledger: Arc::new(ledger),
            sync: None,
        });
    };
    let shared = Shared::new(&credentials.hub_url);
    ledger = ledger.with_offline_guard(OfflineGuard {
        limit: settings.offline_redeem_limit,
        online: shared.online.clone(),
    });
    let ledger = Arc::new(ledger);
    ledger.add_card_keys(&store.card_keys()?);
    let client = HubClient::new(credentials)?;
    let engine = Engine::new(
        ledger.clone(),
        client,
        shared.clone(),
        settings.sync.clone(),
    );
    if rules.is_none() {
        tracing::info!(hub = %credentials.hub_url, "first start: fetching the program and members from the hub");
        engine
            .pull_all()
            .await
            .context("this terminal has no rule set yet and the hub cannot be read: start it when the hub is reachable, or give --rules")?;
        if store.write(|tx| sync::apply::cached_rules(tx))?.is_none() {
            bail!(
                "the hub has no rule set yet: load one with `tenpo-hub load-rules`, then start the agent again"
            );
        }
    }
    let signups = crate::signup::Signups::start(
        settings.signup.clone(),
        credentials,
        ledger.clone(),
        &shared,
    )?;
    Ok(Terminal {
        store,
        ledger,
        sync: Some(Arc::new(SyncLink {
            shared,
            engine,
            signups,
        })),
    })
}

/// Runs the agent until Ctrl-C or SIGTERM.
pub async fn run(settings: Settings) -> Result<()> {
    run_until(settings, shutdown_signal()).await
}

/// The data directory and the files in it, readable by the agent's user only (0700, 0600),
/// also when an older version or a hand-made directory left them open to others.
fn make_private(dir: &std::path::Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let tighten = |path: &std::path::Path, mode: u32| -> Result<()> {
            let meta = std::fs::symlink_metadata(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if !meta.file_type().is_symlink() && meta.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                    .with_context(|| {
                        format!("cannot make {} private (mode {mode:o})", path.display())
                    })?;
            }
            Ok(())
        };
        tighten(dir, 0o700)?;
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read the data directory {}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let mode = if path.is_dir() { 0o700 } else { 0o600 };
            tighten(&path, mode)?;
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Runs the agent until `shutdown` resolves (the Windows service's stop request, say).
pub async fn run_until(
    settings: Settings,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            settings.data_dir.display()
        )
    })?;
    make_private(&settings.data_dir)?;
    let lock = crate::lock::DataDirLock::acquire(&settings.data_dir)?;
    let terminal = open(&settings).await?;
    let token = api::auth::load_or_create(&settings.data_dir)?;
    let (store, ledger) = (terminal.store.clone(), terminal.ledger.clone());
    if settings.demo && terminal.sync.is_none() {
        let now = Utc::now();
        let members = crate::demo::seed(
            &store,
            &ledger.rules(),
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
    // The address actually bound (with `--listen 127.0.0.1:0`, the port the system chose).
    let bound = listener.local_addr().unwrap_or(settings.listen);
    if let Err(e) = lock.record_addr(bound) {
        tracing::warn!(error = %e, "cannot record the API address in the data directory");
    }
    let counts = store.outbox_counts()?;
    let rules = ledger.rules();
    tracing::info!(
        listen = %settings.listen,
        data_dir = %settings.data_dir.display(),
        store_id = %settings.store_id,
        terminal_id = %settings.terminal_id,
        rules = %format!("{} v{}", rules.name, rules.version),
        pending_events = counts.pending,
        mode = if terminal.sync.is_some() { "enrolled" } else { "standalone" },
        "tenpo-agent ready"
    );
    let scanners = Arc::new(Scanners::new(&settings.scanners));
    let mut pipeline = Pipeline::new(ledger.clone(), scanners, settings.debounce);
    if let Some(link) = &terminal.sync {
        pipeline = pipeline.with_hub(link.engine.clone(), tokio::runtime::Handle::current());
    }
    let pipeline = Arc::new(pipeline);
    let running = scan::start(pipeline.clone(), &settings.scanners)
        .context("cannot start the scanner threads")?;
    for s in &settings.scanners {
        tracing::info!(scanner = %s.name, kind = ?s.kind, "scanner configured");
    }
    let stop_sync = Arc::new(tokio::sync::Notify::new());
    let sync_task = terminal.sync.as_ref().map(|link| {
        let engine = link.engine.clone();
        let stop = stop_sync.clone();
        tokio::spawn(async move { engine.run(async move { stop.notified().await }).await })
    });
    let flusher = tokio::spawn(flush_states_every(store.clone(), FLUSH_STATES_EVERY));
    let state = AppState {
        ledger,
        token: token.into(),
        scans: pipeline,
        sync: terminal.sync.clone(),
        in_flight: Default::default(),
    };
    let served = api::serve(listener, state, shutdown).await;
    running.stop();
    if let Some(task) = sync_task {
        stop_sync.notify_one();
        let _ = task.await;
    }
    flusher.abort();
    let flushed = tokio::task::spawn_blocking(move || store.flush_states()).await;
    if let Ok(Err(e)) = flushed {
        tracing::warn!(error = %e, "cannot write the members' states at shutdown; they are read from the outbox at the next start");
    }
    served.context("the local API stopped with an error")?;
    tracing::info!("tenpo-agent stopped");
    Ok(())
}

/// How often the members' states held since the last sales are written (store/held.rs): a
/// batch of rows twice a minute, not a row in every sale's commit. Seldom enough that a quiet
/// till, selling every few seconds, does not pay a second commit for each sale; often enough
/// that a till killed meanwhile reads back half a minute of its events at most.
const FLUSH_STATES_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Writes the states held every `every`, off the runtime's workers.
async fn flush_states_every(store: Arc<Store>, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let store = store.clone();
        match tokio::task::spawn_blocking(move || store.flush_states()).await {
            Ok(Ok(n)) if n > 0 => tracing::debug!(members = n, "members' states written"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot write the members' states; trying again")
            }
            Err(e) => tracing::warn!(error = %e, "the states' writer stopped; trying again"),
        }
    }
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
