//! Windows: the agent as a service, and the MSI's install step.
//!
//! - `tenpo-agent service [--config FILE]` is what the service manager starts (the MSI registers
//!   it as `tenpo-agent`, automatic start, LocalSystem). It runs the same daemon as `run`, stops
//!   cleanly on the manager's Stop or Shutdown, and logs to `%ProgramData%\tenpo\logs`
//!   (`tenpo-agent.YYYY-MM-DD.log`, 14 days kept). Config: `%ProgramData%\tenpo\agent.toml`;
//!   data: `%ProgramData%\tenpo\data`.
//! - `tenpo-agent windows-setup` is run by the MSI (as SYSTEM) once the files are in place. It
//!   makes those folders, keeps `data` (which holds the hub secret and the API token) to SYSTEM
//!   and Administrators, writes `agent.toml` from the example beside the program when there is
//!   none — never over an existing one, so an upgrade keeps IT's settings — and starts the
//!   service when the terminal is already set up (an upgrade), not on a fresh install.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tenpo_agent::config::{self, Settings, SettingsArgs};
use tenpo_agent::daemon;
use tenpo_support::logging::{self, LogFormat, LogGuard};
use windows_service::service::{
    ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::{define_windows_service, service_dispatcher};

/// The service's name, as the MSI registers it.
pub const SERVICE_NAME: &str = "tenpo-agent";
/// Log files kept.
const LOG_DAYS: usize = 14;

/// The settings the service runs with, handed from `main` to the service's thread.
static ARGS: OnceLock<SettingsArgs> = OnceLock::new();

define_windows_service!(ffi_service_main, service_main);

/// `%ProgramData%\tenpo`.
fn root() -> PathBuf {
    config::program_data().join("tenpo")
}

/// The installed agent's config file.
pub fn default_config() -> PathBuf {
    root().join("agent.toml")
}

/// `tenpo-agent service`: hands the process to the service manager until the service stops.
pub fn run(mut args: SettingsArgs) -> Result<()> {
    if args.config.is_none() && default_config().exists() {
        args.config = Some(default_config());
    }
    let _ = ARGS.set(args);
    service_dispatcher::start(SERVICE_NAME, ffi_service_main).context(
        "`tenpo-agent service` is started by Windows' service manager: use `sc start tenpo-agent`, \
         or `tenpo-agent run --config …` to run the agent in this window",
    )
}

fn service_main(_arguments: Vec<OsString>) {
    let _log = init_logging();
    if let Err(e) = run_service() {
        tracing::error!("the service stopped: {e:#}");
    }
}

/// Logs to daily files under `%ProgramData%\tenpo\logs` (a service has no console), from the
/// log's own thread as `tenpo_support::logging` does for standard error.
fn init_logging() -> Option<LogGuard> {
    use tracing_appender::rolling::{RollingFileAppender, Rotation};
    let dir = root().join("logs");
    let appender = std::fs::create_dir_all(&dir).ok().and_then(|()| {
        RollingFileAppender::builder()
            .rotation(Rotation::DAILY)
            .filename_prefix("tenpo-agent")
            .filename_suffix("log")
            .max_log_files(LOG_DAYS)
            .build(&dir)
            .ok()
    });
    let out: Box<dyn std::io::Write + Send> = match appender {
        Some(appender) => Box::new(appender),
        None => Box::new(std::io::stderr()),
    };
    // A process that cannot start a thread will not start the agent either; it then runs with
    // no log rather than not at all.
    logging::init_writing_to(out, LogFormat::Text, false).ok()
}

fn run_service() -> Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop_tx = Mutex::new(Some(stop_tx));
    let handler = move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            if let Some(tx) = stop_tx.lock().ok().and_then(|mut s| s.take()) {
                let _ = tx.send(());
            }
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let handle = service_control_handler::register(SERVICE_NAME, handler)
        .context("cannot register with the service manager")?;
    let report = |state: ServiceState, failed: bool| {
        let controls_accepted = if state == ServiceState::Running {
            ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN
        } else {
            ServiceControlAccept::empty()
        };
        let status = ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted,
            exit_code: if failed {
                ServiceExitCode::ServiceSpecific(1)
            } else {
                ServiceExitCode::Win32(0)
            },
            checkpoint: 0,
            wait_hint: Duration::from_secs(30),
            process_id: None,
        };
        if let Err(e) = handle.set_service_status(status) {
            tracing::warn!(error = %e, "cannot tell the service manager the service's state");
        }
    };
    report(ServiceState::StartPending, false);
    let result = serve(stop_rx, || report(ServiceState::Running, false));
    report(ServiceState::Stopped, result.is_err());
    result
}

fn serve(stop: tokio::sync::oneshot::Receiver<()>, running: impl FnOnce()) -> Result<()> {
    let args = ARGS.get().cloned().unwrap_or_default();
    let settings = Settings::resolve(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(8)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    running();
    runtime.block_on(daemon::run_until(settings, async move {
        let _ = stop.await;
        tracing::info!("the service manager asked to stop: stopping");
    }))
}

/// `tenpo-agent windows-setup`: the MSI's step after the files are installed.
pub fn setup() -> Result<()> {
    let root = root();
    let data = config::default_data_dir();
    for dir in [&root, &data, &root.join("logs")] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    lock_down(&data)?;
    let conf = default_config();
    if conf.exists() {
        println!("keeping {}", conf.display());
    } else {
        let example = std::env::current_exe()
            .context("cannot find the program's folder")?
            .with_file_name("agent.example.toml");
        std::fs::copy(&example, &conf)
            .with_context(|| format!("cannot copy {} to {}", example.display(), conf.display()))?;
        println!("wrote {} from {}", conf.display(), example.display());
    }
    let args = SettingsArgs {
        config: Some(conf),
        ..SettingsArgs::default()
    };
    match Settings::resolve(&args) {
        Ok(_) => {
            let started = Command::new("sc.exe")
                .args(["start", SERVICE_NAME])
                .status()
                .context("cannot run sc.exe")?;
            println!("starting the service: {started}");
        }
        Err(e) => println!("not starting the service until the terminal is set up: {e}"),
    }
    Ok(())
}

/// Keeps `dir` and everything in it to SYSTEM (S-1-5-18) and Administrators (S-1-5-32-544).
fn lock_down(dir: &Path) -> Result<()> {
    let status = Command::new("icacls.exe")
        .arg(dir)
        .args([
            "/inheritance:r",
            "/grant:r",
            "*S-1-5-18:(OI)(CI)F",
            "*S-1-5-32-544:(OI)(CI)F",
        ])
        .status()
        .context("cannot run icacls.exe")?;
    if !status.success() {
        bail!("icacls could not restrict {} ({status})", dir.display());
    }
    Ok(())
}
