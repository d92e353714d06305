//! A real PostgreSQL server for the tests, started by the tests themselves: one throwaway
//! cluster per test binary (initdb + pg_ctl in a temporary directory, on a free loopback port),
//! a fresh database per test. As root it runs as the `postgres` user (PostgreSQL refuses root).
//! A watchdog process stops the cluster and removes its directory once the test binary exits,
//! however it exits.
//!
//! The server binaries are found in `TENPO_PG_BINDIR`, else the newest
//! `/usr/lib/postgresql/*/bin` (Debian's `postgresql` package), else on the PATH.

// Test support: a cluster that cannot start fails the test that asked for it, with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug)]
pub struct Cluster {
    pub port: u16,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static DURABLE: OnceLock<Cluster> = OnceLock::new();
static DATABASES: AtomicU32 = AtomicU32::new(0);

/// The test binary's cluster, started on first use.
pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| start(false))
}

/// A cluster that waits for the disk at each commit, as a production server does (the tests'
/// own skips `fsync`): for benchmarks, whose figures must mean what they say.
pub fn durable_cluster() -> &'static Cluster {
    DURABLE.get_or_init(|| start(true))
}

impl Cluster {
    /// A URL for `database` as the cluster's superuser, `tenpo` (trust auth on loopback).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://tenpo@127.0.0.1:{}/{database}", self.port)
    }

    /// A new, empty database of its own: its URL.
    pub async fn fresh_database(&self) -> String {
        self.fresh_database_in(None).await
    }

    /// A new, empty database made with `locale` (as `CREATE DATABASE … LOCALE`, which the
    /// machine must have; the cluster's own, `C`, when `None`): its URL. A chain's server in
    /// Japan is often made with `ja_JP.UTF-8`.
    pub async fn fresh_database_in(&self, locale: Option<&str>) -> String {
        let n = DATABASES.fetch_add(1, Ordering::SeqCst);
        let name = format!("t{}_{n}", std::process::id());
        let (client, conn) = tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
            .await
            .expect("the test cluster answers");
        let conn = tokio::spawn(conn);
        client
            .batch_execute(&match locale {
                None => format!("CREATE DATABASE {name}"),
                Some(l) => format!(
                    "CREATE DATABASE {name} TEMPLATE template0 LOCALE '{}'",
                    l.replace('\'', "''")
                ),
            })
            .await
            .unwrap();
        drop(client);
        let _ = conn.await;
        self.url(&name)
    }

    /// A backup of the database at `url` taken now with `pg_dump`, restored with `pg_restore`
    /// into a new database (docs/hub.md): the restored database's URL.
    pub async fn copy_database(&self, url: &str) -> String {
        let restored = self.fresh_database().await;
        let dump = tempfile::NamedTempFile::new().unwrap();
        let mut c = Command::new(tool("pg_dump"));
        c.args(["--format=custom", "--no-owner", "--file"])
            .arg(dump.path())
            .arg(url);
        run(c, "pg_dump");
        let mut c = Command::new(tool("pg_restore"));
        c.args(["--no-owner", "--exit-on-error", "--dbname", &restored])
            .arg(dump.path());
        run(c, "pg_restore");
        restored
    }
}

fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("TENPO_PG_BINDIR") {
        return Some(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn tool(name: &str) -> PathBuf {
    bin_dir().map_or_else(|| PathBuf::from(name), |d| d.join(name))
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// `program args…`, as the `postgres` user when we are root.
fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(mut c: Command, what: &str) {
    let out = c.output().unwrap_or_else(|e| {
        panic!("{what}: cannot run ({e}); install PostgreSQL (Debian: postgresql)")
    });
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(durable: bool) -> Cluster {
    let dir = tempfile::Builder::new()
        .prefix("tenpo-pg-")
        .tempdir()
        .unwrap()
        .keep();
    let data = dir.join("data");
    // First the watchdog: it stops the cluster and removes the directory when this process is
    // gone, passed or failed or killed, and however far the start below got. Paths go to the
    // shell as arguments, never inside the script.
    let pg_ctl = tool("pg_ctl");
    let runuser = if is_root() {
        "runuser -u postgres --"
    } else {
        ""
    };
    let watchdog = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         [ -f \"$2/postmaster.pid\" ] && {runuser} \"$3\" -D \"$2\" stop -m immediate >/dev/null 2>&1; \
         rm -rf \"$1\"",
        pid = std::process::id(),
    );
    // `setsid -f` forks it off in a session of its own and returns at once.
    let started = Command::new("setsid")
        .args(["-f", "sh", "-c", &watchdog, "watchdog"])
        .arg(&dir)
        .arg(&data)
        .arg(&pg_ctl)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("setsid starts the cluster's watchdog");
    assert!(started.success(), "the cluster's watchdog did not start");
    if is_root() {
        run(
            {
                let mut c = Command::new("chown");
                c.arg("postgres:postgres").arg(&dir);
                c
            },
            "chown the cluster's directory to postgres",
        );
    }
    run(
        {
            let mut c = as_owner(&tool("initdb"));
            c.arg("-D").arg(&data);
            c.args([
                "-A",
                "trust",
                "-U",
                "tenpo",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]);
            c
        },
        "initdb",
    );
    let port = free_port();
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync={} -c max_connections=200",
        dir.display(),
        if durable { "on" } else { "off" },
    );
    let log = dir.join("log");
    let mut c = as_owner(&pg_ctl);
    c.arg("-D").arg(&data).args(["-o", &options, "-l"]);
    c.arg(&log).args(["-w", "start"]);
    let out = c.output().expect("pg_ctl runs");
    assert!(
        out.status.success(),
        "pg_ctl start failed: {}{}\nthe server's log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    Cluster { port }
}
