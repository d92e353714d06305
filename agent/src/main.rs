//! The `tenpo-agent` command.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use tenpo_agent::config::{self, LogFormat, Settings, SettingsArgs};
use tenpo_agent::daemon::{self, DB_FILE};
use tenpo_agent::store::{Store, export_jsonl};
use tracing_subscriber::EnvFilter;

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
    /// Run the agent: the local API on loopback, standalone when no hub is configured.
    Run(SettingsArgs),
    /// Show the terminal's state: from the running agent, or from its database when stopped.
    Status(SettingsArgs),
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

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only for a person at a terminal: a log file or the journal gets plain text (and
    // NO_COLOR is honoured).
    use std::io::IsTerminal;
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Errors a person can act on are printed as one line, `error: ` and the causes joined by `: `,
/// never as a Rust backtrace (whatever `RUST_BACKTRACE` says), and the exit code is 1.
fn main() -> std::process::ExitCode {
    private_files();
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => {
            let settings = Settings::resolve(&args)?;
            init_logging(cli.log_format.or(settings.log_format).unwrap_or_default());
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .max_blocking_threads(8)
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(daemon::run(settings))
        }
        Command::Status(args) => status(&args),
        Command::Doctor(args) => doctor(&args),
        Command::Validate { config } => validate(&config),
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
        Command::Sync { settings, now } => {
            if !now {
                bail!("say `tenpo-agent sync --now`: the running agent syncs by itself otherwise");
            }
            init_logging(cli.log_format.unwrap_or_default());
            tenpo_agent::sync_cli::sync_now(&settings)
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

fn status(args: &SettingsArgs) -> Result<()> {
    let settings = Settings::resolve(args)?;
    let listen = tenpo_agent::lock::running_agent(&settings.data_dir).unwrap_or(settings.listen);
    let url = format!("http://{listen}/v1/status");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let live = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .ok()?;
        let response = client.get(&url).send().await.ok()?;
        response.json::<serde_json::Value>().await.ok()
    });
    if let Some(status) = live {
        println!("agent running at {listen}");
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    let db = settings.data_dir.join(DB_FILE);
    if !db.exists() {
        bail!(
            "the agent is not running at {} and has no database at {}",
            settings.listen,
            db.display()
        );
    }
    let store = Store::open_read_only(&db).with_context(|| format!("opening {}", db.display()))?;
    let counts = store.outbox_counts()?;
    println!(
        "agent NOT running at {} (read from {})",
        settings.listen,
        db.display()
    );
    println!("schema version:  {}", store.schema_version()?);
    println!("events recorded: {}", counts.last_seq);
    println!("pending events:  {}", counts.pending);
    println!("quarantined:     {}", counts.quarantined);
    Ok(())
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

fn doctor(args: &SettingsArgs) -> Result<()> {
    let settings = match Settings::resolve(args) {
        Ok(s) => s,
        Err(e) => {
            println!(
                "FAIL config: {e}\n     fix: correct it; `tenpo-agent validate FILE` names the key"
            );
            std::process::exit(1);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let listen = tenpo_agent::lock::running_agent(&settings.data_dir).unwrap_or(settings.listen);
    let settings = Settings { listen, ..settings };
    let live = runtime.block_on(tenpo_agent::doctor::live_status(settings.listen));
    let mut checks = tenpo_agent::doctor::run(&settings, live.as_ref());
    checks.extend(runtime.block_on(tenpo_agent::doctor::hub(&settings)));
    for check in &checks {
        println!("{check}");
    }
    let failed = checks
        .iter()
        .filter(|c| c.level == tenpo_agent::doctor::Level::Fail)
        .count();
    if failed > 0 {
        println!("{failed} problem(s) found");
        std::process::exit(1);
    }
    println!("no problems found");
    Ok(())
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
