//! The `tenpo-hub` command: the server (`serve`), a config check (`validate`), and the admin
//! commands that call a running hub's admin API.

mod commands;
mod serve;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, CommandFactory, Parser, Subcommand};
use tenpo_hub::config::{self, LogFormat, ServeArgs, Settings};
use tenpo_support::logging;

/// tenpo's reference hub: enrolment, event intake, change feed, and its admin.
#[derive(Debug, Parser)]
#[command(name = "tenpo-hub", version)]
struct Cli {
    /// Log format.
    #[arg(long, value_enum, global = true, env = "TENPO_LOG_FORMAT")]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

/// Where the admin commands find the hub and its admin token.
#[derive(Debug, Clone, Args)]
pub struct HubArgs {
    /// The hub's base URL.
    #[arg(
        long,
        env = "TENPO_HUB_URL",
        default_value = "http://127.0.0.1:7400",
        global = true
    )]
    pub hub: String,
    /// A file holding the admin token (else $TENPO_HUB_ADMIN_TOKEN).
    #[arg(long, env = "TENPO_HUB_ADMIN_TOKEN_FILE", global = true)]
    pub admin_token_file: Option<PathBuf>,
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
    /// Run the hub until Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Check this hub: its settings, database (schema, integrity), clock, admin token, free
    /// disk, and whether it is running; each problem with its fix. Exit 1 on a failure. Takes
    /// the flags of `serve`; reads only.
    Doctor(ServeArgs),
    /// Check a config file: unknown keys and bad values are errors naming the key.
    Validate {
        /// The config file to check.
        config: PathBuf,
    },
    /// Make a one-time enrolment code for a store's terminal.
    EnrollCode {
        #[command(flatten)]
        hub: HubArgs,
        /// The store the terminal belongs to.
        #[arg(long = "store")]
        store: String,
        /// Hours until the code expires [default: the hub's setting, 24].
        #[arg(long)]
        valid_hours: Option<u32>,
        /// For an existing terminal of the store: new credentials, the same terminal id (a lost
        /// credentials file, or a hub restored from a backup older than the terminal).
        #[arg(long = "terminal")]
        terminal: Option<String>,
        /// Print `{store_id, code, expires_at, terminal_id?}` as JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// Load a rule set (TOML) as the newest version; its `version` must be higher than any
    /// loaded.
    LoadRules {
        #[command(flatten)]
        hub: HubArgs,
        file: PathBuf,
        /// Print what was loaded as JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// Import paper-card members from CSV: `card_code,points,qualifying_spend_yen,birthday`.
    ImportMembers {
        #[command(flatten)]
        hub: HubArgs,
        file: PathBuf,
        /// Rows per request (at most 1000).
        #[arg(long, default_value_t = 1000)]
        batch_size: usize,
        /// Print `{imported, rejected: [{line, card_code, reason}]}` as JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// Give members a coupon: named members, or everyone with a birthday in a month.
    IssueCoupon(commands::CouponArgs),
    /// Revoke a card code: terminals stop accepting it.
    RevokeCode {
        #[command(flatten)]
        hub: HubArgs,
        code: String,
        /// Print `{code, member_id}` as JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// List replays that came with other content than the event the hub holds.
    Conflicts {
        #[command(flatten)]
        hub: HubArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List sales whose re-evaluation at the hub differs from what the till recorded.
    Discrepancies {
        #[command(flatten)]
        hub: HubArgs,
        #[arg(long)]
        json: bool,
    },
    /// What a scenario's LINE message would say to a member now, in their language (nothing is
    /// sent): welcome, tier_progress, points_expiring, birthday or stamp_card_full.
    PreviewMessage {
        #[command(flatten)]
        hub: HubArgs,
        scenario: String,
        /// The member's card code or member number.
        #[arg(long)]
        member: String,
        /// Print the LINE message objects as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The enrolled terminals: store, events held, how far each is applied, latest arrival.
    Terminals {
        #[command(flatten)]
        hub: HubArgs,
        #[arg(long)]
        json: bool,
    },
    /// A terminal's events as the hub holds them: status, whether applied, held, discrepancies.
    Events {
        #[command(flatten)]
        hub: HubArgs,
        /// The terminal's id.
        #[arg(long)]
        terminal: String,
        /// Only events after this seq.
        #[arg(long, default_value_t = 0)]
        after: u64,
        #[arg(long)]
        json: bool,
    },
    /// Did a terminal's sale arrive, and what was applied (the sale and its refunds).
    Sale {
        #[command(flatten)]
        hub: HubArgs,
        /// The terminal's id.
        #[arg(long)]
        terminal: String,
        /// The POS's sale id.
        sale_id: String,
        #[arg(long)]
        json: bool,
    },
    /// List till outcomes held for review (an outcome giving more than the hub computes).
    Held {
        #[command(flatten)]
        hub: HubArgs,
        /// Only those still waiting for a decision.
        #[arg(long)]
        open: bool,
        #[arg(long)]
        json: bool,
    },
    /// Release (apply the till's outcome now) or dismiss an outcome held for review.
    HeldDecide {
        #[command(flatten)]
        hub: HubArgs,
        /// The terminal that recorded the sale.
        #[arg(long)]
        terminal: String,
        /// The event's seq on that terminal.
        #[arg(long)]
        seq: u64,
        /// `release` or `dismiss`.
        #[arg(long, value_parser = parse_held_action)]
        action: tenpo_hub::admin::HeldAction,
        /// Why, for the audit trail.
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// The retailer's catalogue: a first load from CSV files, through the catalogue feed.
    Catalog {
        #[command(subcommand)]
        command: commands::catalog::CatalogCommand,
    },
    /// The console's staff accounts (docs/console.md).
    Staff {
        #[command(subcommand)]
        command: commands::staff::StaffCommand,
    },
    /// Reports from the admin API: what wish notifications brought in.
    Report {
        #[command(subcommand)]
        command: commands::report::ReportCommand,
    },
    /// Copy the hub's database to a new file, consistent, while the hub runs (see docs/hub.md,
    /// "Backups"). The copy holds signing keys and personal data: it is made readable by its
    /// owner only.
    Backup {
        /// The config file (TOML), for its `data_dir`.
        #[arg(long, env = "TENPO_HUB_CONFIG")]
        config: Option<PathBuf>,
        /// Where the database lives [default: /var/lib/tenpo-hub].
        #[arg(long, env = "TENPO_HUB_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// The file to write; it must not exist yet.
        #[arg(long)]
        to: PathBuf,
    },
    /// Move this hub from its SQLite file into an empty PostgreSQL database, and check every
    /// table (rows and content hash) before anything lands. Stop the hub first; the file is
    /// left as it was. Terminals carry on: no new enrolment, no feed reset (docs/hub.md).
    Migrate {
        /// The config file (TOML), for its `data_dir`.
        #[arg(long, env = "TENPO_HUB_CONFIG")]
        config: Option<PathBuf>,
        /// Where the SQLite database lives [default: /var/lib/tenpo-hub].
        #[arg(long, env = "TENPO_HUB_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// The PostgreSQL database: postgres://USER@HOST:PORT/DATABASE, without its password
        /// (a command line shows in `ps`).
        #[arg(long)]
        to: String,
        /// A file holding the PostgreSQL password.
        #[arg(long)]
        to_password_file: Option<PathBuf>,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Errors a person can act on are printed as one line, `error: ` and the causes joined by `: `,
/// never as a Rust backtrace (whatever `RUST_BACKTRACE` says), and the exit code is 1.
fn main() -> std::process::ExitCode {
    private_files();
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            if e.downcast_ref::<ProblemsFound>().is_none() {
                eprintln!("error: {e:#}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let settings = Settings::resolve(&args)?;
            let _log = logging::init(cli.log_format.or(settings.log_format).unwrap_or_default())?;
            runtime()?.block_on(serve::run(settings))
        }
        Command::Doctor(args) => doctor(&args),
        Command::Validate { config } => validate(&config),
        Command::Man { dir } => man(&dir),
        Command::Backup {
            config,
            data_dir,
            to,
        } => {
            let _log = logging::init(cli.log_format.unwrap_or_default())?;
            let settings = data_settings(config, data_dir)?;
            let db = settings.data_dir.join(config::DB_FILE);
            tenpo_hub::store::backup(&db, &to)
                .with_context(|| format!("backing up {} to {}", db.display(), to.display()))?;
            println!("backed up {} to {}", db.display(), to.display());
            Ok(())
        }
        Command::Migrate {
            config,
            data_dir,
            to,
            to_password_file,
        } => {
            let _log = logging::init(cli.log_format.unwrap_or_default())?;
            let settings = data_settings(config, data_dir)?;
            migrate(&settings, &to, to_password_file.as_deref())
        }
        command => {
            let _log = logging::init(cli.log_format.unwrap_or_default())?;
            runtime()?.block_on(admin(command))
        }
    }
}

/// The settings of a command that needs only where the data is (`backup`, `migrate`).
fn data_settings(config: Option<PathBuf>, data_dir: Option<PathBuf>) -> Result<Settings> {
    Ok(Settings::resolve(&ServeArgs {
        config,
        data_dir,
        ..ServeArgs::default()
    })?)
}

fn migrate(settings: &Settings, to: &str, password_file: Option<&std::path::Path>) -> Result<()> {
    // Given on the command line: a password in it would show in `ps`.
    let url = config::database_url("to", to, true, password_file)?;
    let db = settings.data_dir.join(config::DB_FILE);
    if !db.exists() {
        anyhow::bail!("no hub database at {}: check --data-dir", db.display());
    }
    let moved = runtime()?
        .block_on(tenpo_hub::store::postgres::move_from_sqlite(
            &db,
            &url,
            chrono::Utc::now(),
        ))
        .with_context(|| format!("moving {} to {url}", db.display()))?;
    for t in &moved {
        println!(
            "{:<20} {:>10} row(s)  sha256 {}  same on both sides",
            t.table, t.rows, t.hash
        );
    }
    println!(
        "moved {} table(s) from {} to {url}: start the hubs with [database] url = \"{url}\" \
         (the password in password_file)",
        moved.len(),
        db.display()
    );
    Ok(())
}

/// `doctor` found a failure: its report is on standard output already.
#[derive(Debug)]
struct ProblemsFound;

impl std::fmt::Display for ProblemsFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("problems found")
    }
}

impl std::error::Error for ProblemsFound {}

fn doctor(args: &ServeArgs) -> Result<()> {
    let checks = match Settings::resolve(args) {
        Ok(settings) => {
            let runtime = runtime()?;
            let mut checks =
                runtime.block_on(tenpo_hub::doctor::run(&settings, chrono::Utc::now()));
            checks.push(runtime.block_on(tenpo_hub::doctor::running(&settings)));
            checks
        }
        Err(e) => vec![tenpo_support::doctor::fail(
            format!("config: {e}"),
            "correct the setting it names (`tenpo-hub validate FILE` checks a file)",
        )],
    };
    for check in &checks {
        println!("{check}");
    }
    match tenpo_support::doctor::failures(&checks) {
        0 => {
            println!("no problems found");
            Ok(())
        }
        n => {
            println!("{n} problem(s) found");
            Err(ProblemsFound.into())
        }
    }
}

fn validate(path: &std::path::Path) -> Result<()> {
    let file = config::read_file(path)?;
    let args = ServeArgs {
        config: Some(path.to_owned()),
        ..ServeArgs::default()
    };
    let s = Settings::from_parts(&args, file)?;
    println!(
        "{}: valid (listen {}, data {}, time zone {}, enrolment codes valid {} h)",
        path.display(),
        s.listen,
        s.data_dir.display(),
        s.time_zone,
        s.enrollment_code_hours
    );
    Ok(())
}

async fn admin(command: Command) -> Result<()> {
    use commands as c;
    match command {
        Command::EnrollCode {
            hub,
            store,
            valid_hours,
            terminal,
            json,
        } => c::enroll_code(&hub, &store, terminal.as_deref(), valid_hours, json).await,
        Command::LoadRules { hub, file, json } => c::load_rules(&hub, &file, json).await,
        Command::ImportMembers {
            hub,
            file,
            batch_size,
            json,
        } => c::import_members(&hub, &file, batch_size, json).await,
        Command::IssueCoupon(args) => c::issue_coupon(&args).await,
        Command::RevokeCode { hub, code, json } => c::revoke_code(&hub, &code, json).await,
        Command::Conflicts { hub, json } => c::conflicts(&hub, json).await,
        Command::Discrepancies { hub, json } => c::discrepancies(&hub, json).await,
        Command::Held { hub, open, json } => c::held(&hub, open, json).await,
        Command::Terminals { hub, json } => c::terminals(&hub, json).await,
        Command::PreviewMessage {
            hub,
            scenario,
            member,
            json,
        } => c::preview_message(&hub, &scenario, &member, json).await,
        Command::Events {
            hub,
            terminal,
            after,
            json,
        } => c::events(&hub, &terminal, after, json).await,
        Command::Sale {
            hub,
            terminal,
            sale_id,
            json,
        } => c::sale(&hub, &terminal, &sale_id, json).await,
        Command::HeldDecide {
            hub,
            terminal,
            seq,
            action,
            reason,
            json,
        } => c::held_decide(&hub, &terminal, seq, action, reason, json).await,
        Command::Catalog { command } => c::catalog::run(command).await,
        Command::Report { command } => c::report::run(command).await,
        Command::Staff { command } => c::staff::run(command).await,
        Command::Serve(_)
        | Command::Doctor(_)
        | Command::Validate { .. }
        | Command::Backup { .. }
        | Command::Migrate { .. }
        | Command::Man { .. } => Ok(()),
    }
}

fn parse_held_action(s: &str) -> Result<tenpo_hub::admin::HeldAction, String> {
    match s {
        "release" => Ok(tenpo_hub::admin::HeldAction::Release),
        "dismiss" => Ok(tenpo_hub::admin::HeldAction::Dismiss),
        other => Err(format!("{other:?}: expected release or dismiss")),
    }
}

/// Everything the hub makes (database, its copies, the admin token) is readable by its user
/// only, whatever umask it was started with (docs/design.md §7).
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
