//! `tenpo-hub staff …`: the console's staff accounts (docs/design.md §7, §13), written to the
//! hub's database directly (SQLite: with the hub stopped; PostgreSQL: any time). Passwords are
//! typed without echo (or read from standard input with `--password-stdin`) and only their
//! argon2id hash is kept.

use std::io::BufRead;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use clap::Subcommand;
use tenpo_hub::config::{DB_FILE, Database, ServeArgs, Settings};
use tenpo_hub::console::auth::{check_name, hash_password};
use tenpo_hub::store::console::{ConsoleStore, Role};
use tenpo_hub::store::postgres::PgStore;
use tenpo_hub::store::{SqliteStore, StoreError};

#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// A new account: its person sets the password.
    Add {
        name: String,
        /// admin, crm, it or viewer.
        #[arg(long)]
        role: String,
        #[command(flatten)]
        args: ServeArgs,
        /// Read the password from standard input (one line) instead of the terminal.
        #[arg(long)]
        password_stdin: bool,
    },
    /// A new password: lifts a lock-out and ends the account's sessions.
    Password {
        name: String,
        #[command(flatten)]
        args: ServeArgs,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Closes the account and ends its sessions.
    Disable {
        name: String,
        #[command(flatten)]
        args: ServeArgs,
    },
    /// Every account: name, role, locked or closed.
    List {
        #[command(flatten)]
        args: ServeArgs,
    },
}

fn password(stdin: bool) -> Result<String> {
    if stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = rpassword::prompt_password("password: ").context("reading the password")?;
    let again = rpassword::prompt_password("again: ").context("reading the password")?;
    if first != again {
        bail!("the two passwords differ: nothing was changed");
    }
    Ok(first)
}

fn hash(stdin: bool) -> Result<String> {
    Ok(hash_password(&password(stdin)?)?)
}

pub async fn run(command: StaffCommand) -> Result<()> {
    let args = match &command {
        StaffCommand::Add { args, .. }
        | StaffCommand::Password { args, .. }
        | StaffCommand::Disable { args, .. }
        | StaffCommand::List { args } => args.clone(),
    };
    let settings = Settings::resolve(&args)?;
    match settings.database.clone() {
        Database::Sqlite => {
            let db = settings.data_dir.join(DB_FILE);
            let store = SqliteStore::open(&db, Utc::now()).map_err(|e| match e {
                StoreError::InUse { .. } => anyhow::anyhow!(
                    "{e}; staff accounts are written with the hub stopped (on PostgreSQL, any time)"
                ),
                other => anyhow::Error::new(other).context(format!("opening {}", db.display())),
            })?;
            act(&store, command).await
        }
        Database::Postgres { url, .. } => {
            let store = PgStore::open(&url, 2, Utc::now())
                .await
                .with_context(|| format!("opening the hub database {url}"))?;
            act(&store, command).await
        }
    }
}

async fn act<S: ConsoleStore>(store: &S, command: StaffCommand) -> Result<()> {
    match command {
        StaffCommand::Add {
            name,
            role,
            password_stdin,
            ..
        } => {
            check_name(&name)?;
            let Some(role) = Role::parse(&role) else {
                bail!("--role must be admin, crm, it or viewer (not {role:?})");
            };
            let hash = hash(password_stdin)?;
            store
                .add_staff(name.clone(), role, hash, Utc::now())
                .await?;
            println!("staff account {name} added ({role})");
        }
        StaffCommand::Password {
            name,
            password_stdin,
            ..
        } => {
            let account = store
                .staff_account(name.clone())
                .await?
                .with_context(|| format!("no staff account is named {name}"))?;
            let hash = hash(password_stdin)?;
            store
                .update_staff(name.clone(), Some(hash), None, account.disabled)
                .await?;
            println!("new password for {name}; its sessions ended");
        }
        StaffCommand::Disable { name, .. } => {
            store.update_staff(name.clone(), None, None, true).await?;
            println!("staff account {name} closed; its sessions ended");
        }
        StaffCommand::List { .. } => {
            let now = Utc::now().timestamp_millis();
            for a in store.staff_accounts().await? {
                let state = if a.disabled {
                    "closed"
                } else if a.locked_until_ms.is_some_and(|t| t > now) {
                    "locked"
                } else {
                    "active"
                };
                println!("{}\t{}\t{state}", a.name, a.role);
            }
        }
    }
    Ok(())
}
