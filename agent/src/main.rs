//! The `tenpo-agent` command.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{CommandFactory, Parser, Subcommand};
use tenpo_agent::config::{self, LogFormat, Settings, SettingsArgs};
use tenpo_agent::daemon::{self, DB_FILE};
use tenpo_agent::store::{Store, export_jsonl};
use tenpo_support::logging;

#[cfg(windows)]
mod service;

/// tenpo's store-terminal agent: members, points and stamps at the till, online or offline.
#[derive(Debug, Parser)]
#[command(name = "tenpo-agent", version)]
struct Cli {
    /// Log format.
    #[arg(long, value_enum, global = true, env = "TENPO_LOG_FORMAT")]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Writes the manual pages (section 1: the command and each subcommand) into DIR; the
    /// packages are built with them.
    #[command(hide = true)]
    Man {
        /// Where the pages go (made if missing).
        dir: PathBuf,
    },
    /// Run the agent: the local API on loopback, standalone when no hub is configured.
    Run(SettingsArgs),
    /// Show the terminal's state: from the running agent, or from its database when stopped.
    /// Exits 0 when the agent runs, 3 when it does not.
    Status {
        #[command(flatten)]
        settings: SettingsArgs,
        /// The same report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Say what is wrong with this terminal: config, database, scanners, the running agent.
    /// Exits 1 when something failed.
    Doctor(SettingsArgs),
    /// Check a config file (and the rule set it names): unknown keys and bad values are errors.
    Validate {
        /// The config file to check.
        config: PathBuf,
    },
    /// Enrol this terminal with a hub using a one-time code made at the hub.
    Enroll {
        /// The hub's address, e.g. https://hub.example.jp
        #[arg(long, env = "TENPO_HUB")]
        hub: String,
        /// The one-time enrolment code.
        #[arg(long)]
        code: String,
        /// A name for this terminal, shown at the hub.
        #[arg(long)]
        name: Option<String>,
        /// Where the credentials go (`<data-dir>/hub.json`) [default: /var/lib/tenpo; on
        /// Windows %ProgramData%\tenpo\data].
        #[arg(long, env = "TENPO_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Enrol again even if already enrolled.
        #[arg(long)]
        force: bool,
    },
    /// Push pending events and pull the hub's changes now, with a progress bar.
    Sync {
        #[command(flatten)]
        settings: SettingsArgs,
        /// Required: sync at once and wait until nothing is pending.
        #[arg(long)]
        now: bool,
        /// With a running agent: give up (exit 1) when the hub has not answered for this many
        /// seconds; the agent keeps retrying by itself.
        #[arg(long, env = "TENPO_SYNC_WAIT_SECS", default_value_t = 20)]
        wait_secs: u64,
    },
    /// Run as a Windows service (started by the service manager: `sc start tenpo-agent`).
    #[cfg(windows)]
    Service(SettingsArgs),
    /// The MSI's install step: folders and their permissions under %ProgramData%\tenpo, the
    /// config from its example, and the service started again when already set up.
    #[cfg(windows)]
    #[command(hide = true)]
    WindowsSetup,
    /// Write the ledger and the outbox as JSON lines, for audit.
    Export {
        #[command(flatten)]
        settings: SettingsArgs,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// Errors a person can act on are printed as one line, `error: ` and the causes joined by `: `,
/// never as a Rust backtrace (whatever `RUST_BACKTRACE` says), and the exit code is 1.
fn main() -> ExitCode {
    private_files();
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Status { settings, json } => status(&settings, json),
        Command::Doctor(args) => doctor(&args),
        command => run_command(command, cli.log_format).map(|()| ExitCode::SUCCESS),
    }
}

/// The commands that exit 0 on success and 1 on an error.
fn run_command(command: Command, log_format: Option<LogFormat>) -> Result<()> {
    match command {
        Command::Run(args) => {
            let settings = Settings::resolve(&args)?;
            let _log = logging::init(log_format.or(settings.log_format).unwrap_or_default())?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .max_blocking_threads(8)
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(daemon::run(settings))
        }
        // Answered by `run`, with their own exit codes.
        Command::Status { .. } | Command::Doctor(_) => Ok(()),
        Command::Validate { config } => validate(&config),
        Command::Man { dir } => man(&dir),
        Command::Enroll {
            hub,
            code,
            name,
            data_dir,
            force,
        } => enroll(
            &hub,
            &code,
            name,
            &data_dir.unwrap_or_else(config::default_data_dir),
            force,
        ),
        Command::Sync {
            settings,
            now,
            wait_secs,
        } => {
            if !now {
                bail!("say `tenpo-agent sync --now`: the running agent syncs by itself otherwise");
            }
            let _log = logging::init(log_format.unwrap_or_default())?;
            tenpo_agent::sync_cli::sync_now(&settings, std::time::Duration::from_secs(wait_secs))
        }
        Command::Export { settings, output } => export(&settings, output),
        #[cfg(windows)]
        Command::Service(args) => service::run(args),
        #[cfg(windows)]
        Command::WindowsSetup => service::setup(),
    }
}

fn validate(path: &std::path::Path) -> Result<()> {
    let file = config::read_file(path)?;
    let args = SettingsArgs {
        config: Some(path.to_owned()),
        ..SettingsArgs::default()
    };
    let settings = Settings::from_parts(&args, file)?;
    let rules = settings.rules.as_ref().map_or_else(
        || "from the hub".to_owned(),
        |r| format!("{} v{}", r.name, r.version),
    );
    println!(
        "{}: valid (store {}, terminal {}, rules {}, listen {}, data {}, {} scanner(s))",
        path.display(),
        settings.store_id,
        settings.terminal_id,
        rules,
        settings.listen,
        settings.data_dir.display(),
        settings.scanners.len()
    );
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// LSB's "program is not running", as `systemctl status` answers.
const NOT_RUNNING: u8 = 3;

fn status(args: &SettingsArgs, json: bool) -> Result<ExitCode> {
    let located = runtime()?.block_on(tenpo_agent::locate::locate(args));
    let settings = located.settings?;
    let report = tenpo_agent::report::build(&settings, located.running.as_ref());
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!(
            "{}",
            tenpo_agent::report::render(&report, chrono::Utc::now())
        );
    }
    Ok(if report.running {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(NOT_RUNNING)
    })
}

fn enroll(
    hub: &str,
    code: &str,
    name: Option<String>,
    data_dir: &std::path::Path,
    force: bool,
) -> Result<()> {
    use tenpo_agent::sync::{Credentials, HubClient};
    if !force && let Some(existing) = Credentials::load(data_dir)? {
        bail!(
            "this terminal is already enrolled as {} at {}; pass --force to enrol it again",
            existing.terminal_id,
            existing.hub_url
        );
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    // One writer per data directory: a running agent would keep the old credentials (and
    // fail every sync with 401) while this writes new ones and re-stamps its outbox. Taken
    // before the code is used, so a refusal costs no code.
    let _lock = tenpo_agent::lock::DataDirLock::acquire(data_dir).context(
        "stop the running agent first (`systemctl stop tenpo-agent`), enrol, then start it \
         again",
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let answer = runtime
        .block_on(HubClient::enroll(hub, code, name))
        .context("enrolment failed")?;
    let credentials = Credentials {
        hub_url: hub.trim_end_matches('/').to_owned(),
        store_id: answer.store_id,
        terminal_id: answer.terminal_id,
        secret: answer.secret,
    };
    credentials.save(data_dir, force)?;
    let db = data_dir.join(DB_FILE);
    if db.exists() {
        let store = Store::open(&db).with_context(|| format!("opening {}", db.display()))?;
        let who = tenpo_agent::store::Identity {
            store_id: credentials.store_id.clone(),
            terminal_id: credentials.terminal_id.clone(),
        };
        let restamped = store.write(|tx| tx.restamp_unsent(&who))?;
        if restamped > 0 {
            println!("{restamped} events recorded before enrolment will be sent as this terminal");
        }
    }
    // Run as root on an installed terminal (`sudo tenpo-agent enroll …`), the credentials must
    // still belong to the agent's user, who owns the data directory.
    let saved = Credentials::path(data_dir);
    tenpo_agent::store::backup::match_owner(&saved, data_dir).with_context(|| {
        format!(
            "{} was written but cannot be given to the owner of {}: run the command as the \
             agent's user (`sudo -u tenpo tenpo-agent enroll …`)",
            saved.display(),
            data_dir.display()
        )
    })?;
    println!(
        "enrolled: store {}, terminal {}; credentials in {}",
        credentials.store_id,
        credentials.terminal_id,
        saved.display()
    );
    if cfg!(windows) {
        println!("start the agent (`sc start tenpo-agent`) and it syncs by itself");
    } else {
        println!(
            "start the agent (`systemctl restart tenpo-agent`, or `tenpo-agent run`) and it syncs by itself"
        );
    }
    Ok(())
}

fn doctor(args: &SettingsArgs) -> Result<ExitCode> {
    let runtime = runtime()?;
    let located = runtime.block_on(tenpo_agent::locate::locate(args));
    let fail = |e: &dyn std::fmt::Display| {
        println!(
            "FAIL config: {e}\n     fix: correct it; `tenpo-agent validate FILE` names the key"
        );
    };
    if let Some(e) = &located.config_error {
        fail(e);
    }
    let settings = match located.settings {
        Ok(s) => s,
        Err(e) => {
            fail(&e);
            println!("1 problem(s) found");
            return Ok(ExitCode::FAILURE);
        }
    };
    let live = located.running.as_ref().and_then(|r| r.status.as_ref());
    let mut checks = tenpo_agent::doctor::run(&settings, live);
    checks.extend(runtime.block_on(tenpo_agent::doctor::hub(&settings)));
    for check in &checks {
        println!("{check}");
    }
    let failed = checks
        .iter()
        .filter(|c| c.level == tenpo_agent::doctor::Level::Fail)
        .count()
        + usize::from(located.config_error.is_some());
    if failed > 0 {
        println!("{failed} problem(s) found");
        return Ok(ExitCode::FAILURE);
    }
    println!("no problems found");
    Ok(ExitCode::SUCCESS)
}

fn export(args: &SettingsArgs, output: Option<PathBuf>) -> Result<()> {
    let settings = Settings::resolve(args)?;
    let db = settings.data_dir.join(DB_FILE);
    if !db.exists() {
        bail!("no database at {}: check --data-dir", db.display());
    }
    let store = Store::open_read_only(&db).with_context(|| format!("opening {}", db.display()))?;
    let mut out: Box<dyn Write> = match &output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let n = export_jsonl(store.connection(), &mut out)?;
    out.flush().context("writing the export")?;
    eprintln!("exported {n} records");
    Ok(())
}

/// Everything the agent makes (database, token, credentials, backups, logs) is readable by its
/// user only, whatever umask it was started with (docs/design.md §7).
fn private_files() {
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// The manual pages, from the command-line definition itself: they cannot drift from `--help`.
fn man(dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    clap_mangen::generate_to(Cli::command(), dir)
        .with_context(|| format!("cannot write the manual pages to {}", dir.display()))
}
