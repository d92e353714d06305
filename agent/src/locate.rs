//! Which agent a CLI command (`status`, `doctor`) is about: the one running on this machine's
//! data directory if there is one, whatever flags or config it was started with, else the
//! terminal the settings describe.
//!
//! A running agent is found by its lock on `<data-dir>/agent.lock` (the configured data
//! directory, then the demo's `.tenpo-demo` here) and asked for its status; what it reports
//! (its store, terminal, rules and scanners) wins over what this command's own settings say.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tenpo_protocol::agent::Status;

use crate::config::{ConfigError, DEMO_DATA_DIR, Settings, SettingsArgs, default_data_dir};

/// A running agent, as found.
#[derive(Debug, Clone)]
pub struct Running {
    pub data_dir: PathBuf,
    pub address: SocketAddr,
    /// Its status, when it answered within 2 s.
    pub status: Option<Status>,
}

/// What a command looks at.
#[derive(Debug)]
pub struct Located {
    /// The settings of the terminal looked at: the running agent's data directory and address
    /// when one runs.
    pub settings: Result<Settings, ConfigError>,
    /// The config file this command was given does not resolve, though a running agent was
    /// found (and is looked at): the error, for a command that reports on the config too.
    pub config_error: Option<ConfigError>,
    pub running: Option<Running>,
}

/// Finds the terminal a command is about (see the module's comment).
pub async fn locate(args: &SettingsArgs) -> Located {
    let own = Settings::resolve(args);
    let mut dirs = vec![match &own {
        Ok(s) => s.data_dir.clone(),
        Err(_) => args.data_dir.clone().unwrap_or_else(default_data_dir),
    }];
    // Next to `tenpo-agent run --demo`, a bare `status` or `doctor` is about that agent.
    if args.data_dir.is_none() && args.config.is_none() {
        dirs.push(PathBuf::from(DEMO_DATA_DIR));
    }
    let found = dirs
        .into_iter()
        .find_map(|dir| crate::lock::running_agent(&dir).map(|addr| (dir, addr)));
    let Some((data_dir, address)) = found else {
        return Located {
            settings: own,
            config_error: None,
            running: None,
        };
    };
    let status = live_status(address).await;
    let running = Running {
        data_dir: data_dir.clone(),
        address,
        status,
    };
    // The running agent's own directory and address, with this command's other settings …
    let mut at_running = args.clone();
    at_running.data_dir = Some(data_dir);
    at_running.listen = Some(address.to_string());
    let named_config = args.config.is_some();
    let (settings, config_error) = match Settings::resolve(&at_running) {
        Ok(s) => (Ok(s), own.err().filter(|_| named_config)),
        // … or, when those do not resolve (it was started with flags this command was not
        // given), what the agent says of itself.
        Err(e) => match &running.status {
            Some(live) => {
                let mut from_live = at_running.clone();
                from_live.config = None;
                from_live.store_id = Some(live.store_id.clone());
                from_live.terminal_id = Some(live.terminal_id.clone());
                from_live.time_zone = Some(live.time_zone.clone());
                from_live.rules = None;
                // Supplies a rule set so the settings resolve; the agent's own is in `live`.
                from_live.demo = true;
                (
                    Settings::resolve(&from_live),
                    Some(e).filter(|_| named_config),
                )
            }
            None => (Err(e), None),
        },
    };
    Located {
        settings,
        config_error,
        running: Some(running),
    }
}

/// Asks a running agent for its status (2 s timeout).
pub async fn live_status(listen: SocketAddr) -> Option<Status> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()?;
    let response = client
        .get(format!("http://{listen}/v1/status"))
        .send()
        .await
        .ok()?;
    response.json::<Status>().await.ok()
}
