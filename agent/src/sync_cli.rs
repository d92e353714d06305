//! `tenpo-agent sync --now`: sync at once and wait until nothing is pending, with a progress bar.
//! With the agent running, it asks the agent (`POST /v1/sync`) and watches `/v1/status`; with the
//! agent stopped, it runs the same engine in this process.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use tenpo_protocol::agent::Status;

use crate::config::{Settings, SettingsArgs};
use crate::daemon;

fn bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} events pushed  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// `give_up`: how long to let a running agent retry a hub that does not answer.
pub fn sync_now(args: &SettingsArgs, give_up: Duration) -> Result<()> {
    let settings = Settings::resolve(args)?;
    if settings.credentials.is_none() {
        bail!(
            "this terminal is not enrolled: run `tenpo-agent enroll --hub URL --code CODE` first"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        // An agent running on this data directory does the sync; this process only asks it
        // and watches. Otherwise this process syncs, holding the directory meanwhile.
        if let Some(addr) = crate::lock::running_agent(&settings.data_dir) {
            let settings = Settings {
                listen: addr,
                ..settings
            };
            let Some(status) = crate::locate::live_status(addr).await else {
                bail!(
                    "the agent running on {} does not answer at {addr}",
                    settings.data_dir.display()
                );
            };
            return through_running_agent(&settings, status, give_up).await;
        }
        let _lock = crate::lock::DataDirLock::acquire(&settings.data_dir)?;
        in_process(&settings).await
    })
}

async fn through_running_agent(
    settings: &Settings,
    first: Status,
    give_up: Duration,
) -> Result<()> {
    let token = std::fs::read_to_string(settings.data_dir.join(crate::api::auth::TOKEN_FILE))
        .context("cannot read the agent's API token")?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let base = format!("http://{}", settings.listen);
    let passes_before = first.sync.as_ref().map_or(0, |s| s.passes);
    let start_pending = first.pending_events;
    client
        .post(format!("{base}/v1/sync"))
        .bearer_auth(token.trim())
        .send()
        .await
        .context("cannot reach the agent")?
        .error_for_status()
        .context("the agent refused to sync")?;
    let bar = bar(start_pending);
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let Some(status) = crate::locate::live_status(settings.listen).await else {
            bail!("the agent stopped answering");
        };
        let sync = status.sync.clone();
        bar.set_position(start_pending.saturating_sub(status.pending_events));
        let members = sync.as_ref().map_or(0, |s| s.members_cached);
        let error = sync
            .as_ref()
            .and_then(|s| s.last_error.clone())
            .unwrap_or_default();
        bar.set_message(format!("{members} members cached {error}"));
        let passes = sync.as_ref().map_or(0, |s| s.passes);
        let online = sync.as_ref().is_some_and(|s| s.online);
        if status.pending_events == 0 && passes > passes_before && online {
            bar.finish_with_message(format!("{members} members cached; nothing pending"));
            return Ok(());
        }
        // Not reached after the agent's own retries: say so, and fail.
        if !error.is_empty() && started.elapsed() > give_up {
            bar.abandon();
            bail!("the hub could not be reached, nothing was synced: {error}");
        }
    }
}

async fn in_process(settings: &Settings) -> Result<()> {
    let terminal = daemon::open(settings).await?;
    let Some(link) = terminal.sync.clone() else {
        bail!("this terminal is not enrolled");
    };
    let pending = terminal.store.outbox_counts()?.pending;
    let bar = bar(pending);
    let shared = link.shared.clone();
    let watcher = {
        let bar = bar.clone();
        tokio::spawn(async move {
            loop {
                bar.set_position(shared.events_pushed.load(Ordering::SeqCst));
                bar.set_message(format!(
                    "{} changes pulled",
                    shared.changes_applied.load(Ordering::SeqCst)
                ));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let result = link.engine.sync_once().await;
    watcher.abort();
    match result {
        Ok((pushed, pulled)) => {
            bar.finish_with_message(format!("{pushed} events pushed, {pulled} changes pulled"));
            Ok(())
        }
        Err(e) => {
            bar.abandon();
            Err(e).context("sync failed")
        }
    }
}
