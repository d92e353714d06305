//! A copy of the database before every schema migration, so an upgrade can always be undone.
//!
//! Before [`super::Store::open`] migrates an existing database, it copies it with SQLite's
//! `VACUUM INTO` (a consistent snapshot, WAL included, readable by any SQLite) to
//! `<data-dir>/backups/tenpo-v{old}-{YYYYMMDDTHHMMSSZ}.db`, and keeps the newest
//! [`KEEP`] of them. If the copy cannot be made (no disk space, say), the migration does not run:
//! the agent refuses to start and says why, and the database stays as the old agent left it.
//!
//! To go back: stop the agent, install the previous version, and put the backup in place of
//! `tenpo.db` (removing `tenpo.db-wal` and `tenpo.db-shm`). Events recorded after the backup are
//! only in the newer file: keep it.

use std::path::{Path, PathBuf};

use chrono::Utc;
use rusqlite::Connection;

/// The folder inside the data directory.
pub const BACKUP_DIR: &str = "backups";
/// How many pre-migration backups are kept.
pub const KEEP: usize = 5;
const PREFIX: &str = "tenpo-v";

/// Why a backup could not be made.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot back up the database to {path} before upgrading it: {detail}; \
     free some disk space (or fix the folder's permissions) and start the agent again — \
     the database was not changed"
)]
pub struct BackupError {
    pub path: PathBuf,
    pub detail: String,
}

/// Copies the database open on `conn` (file `db_path`, at schema `version`) into the backup
/// folder beside it, then removes all but the newest [`KEEP`] backups. Returns the copy's path.
pub fn before_migration(
    conn: &Connection,
    db_path: &Path,
    version: u32,
) -> Result<PathBuf, BackupError> {
    let dir = db_path
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join(BACKUP_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| BackupError {
        path: dir.clone(),
        detail: e.to_string(),
    })?;
    let data_dir = dir.parent().unwrap_or_else(|| Path::new("."));
    give_to_owner(&dir, data_dir);
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let mut path = dir.join(format!("{PREFIX}{version}-{stamp}.db"));
    let mut n = 1;
    while path.exists() {
        path = dir.join(format!("{PREFIX}{version}-{stamp}-{n}.db"));
        n += 1;
    }
    let target = path.to_str().ok_or_else(|| BackupError {
        path: path.clone(),
        detail: "the path is not valid UTF-8".into(),
    })?;
    if let Err(e) = conn.execute("VACUUM INTO ?1", [target]) {
        // A half-written copy is worse than none: it could be mistaken for a good one.
        let _ = std::fs::remove_file(&path);
        return Err(BackupError {
            path,
            detail: e.to_string(),
        });
    }
    give_to_owner(&path, data_dir);
    tracing::info!(backup = %path.display(), from_version = version, "database backed up before migrating");
    prune(&dir);
    Ok(path)
}

/// Gives `path` the owner and group of `dir` when they differ: a command run as root on an
/// installed agent's data (`sudo tenpo-agent enroll`, say) must not leave files the agent's own
/// user cannot read or replace. Only root can change an owner; for anyone else a file they make
/// is already theirs, so there is nothing to do. No-op off Unix.
pub fn match_owner(path: &Path, dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let (file, want) = (std::fs::metadata(path)?, std::fs::metadata(dir)?);
        if (file.uid(), file.gid()) != (want.uid(), want.gid()) {
            std::os::unix::fs::chown(path, Some(want.uid()), Some(want.gid()))?;
        }
    }
    #[cfg(not(unix))]
    let _ = (path, dir);
    Ok(())
}

fn give_to_owner(path: &Path, dir: &Path) {
    if let Err(e) = match_owner(path, dir) {
        tracing::warn!(path = %path.display(), error = %e, "cannot give the backup to the data directory's owner");
    }
}

/// The backups in `dir`, oldest first (by the time in their name).
pub fn list(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let rest = name.strip_prefix(PREFIX)?.strip_suffix(".db")?;
            // `{version}-{stamp}[-n]`: order by stamp, then n.
            let (version, stamp) = rest.split_once('-')?;
            version.parse::<u32>().ok()?;
            Some((stamp.to_owned(), e.path()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, p)| p).collect()
}

fn prune(dir: &Path) {
    let all = list(dir);
    let excess = all.len().saturating_sub(KEEP);
    for old in &all[..excess] {
        match std::fs::remove_file(old) {
            Ok(()) => tracing::info!(backup = %old.display(), "old database backup removed"),
            Err(e) => {
                tracing::warn!(backup = %old.display(), error = %e, "cannot remove an old backup")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::super::{CURRENT_VERSION, Store, StoreError, schema};
    use super::*;

    /// A database at schema v1 with `n` sales written the way the v1 agent wrote them.
    fn v1_database(path: &Path, sales: u32) {
        let mut conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        schema::migrate_to(&mut conn, 1).unwrap();
        for n in 1..=sales {
            let payload = serde_json::json!({
                "event_id": format!("0190-{n}"), "seq": n, "store_id": "s1",
                "terminal_id": "t1", "recorded_at": "2026-11-01T01:00:00Z",
                "body": {"kind": "sale", "sale_id": format!("pos-{n}"), "member_id": "m1"}
            });
            conn.execute(
                "INSERT INTO outbox (seq, event_id, kind, payload, recorded_at)
                 VALUES (?1, ?2, 'sale', ?3, '2026-11-01T01:00:00Z')",
                rusqlite::params![n, format!("0190-{n}"), payload.to_string()],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO sales (sale_id, request_hash, member_id, business_date, occurred_at,
                                    lines, outcome, response, seq)
                 VALUES (?1, x'01', 'm1', '2026-11-01', '2026-11-01T10:00:00+09:00', '[]',
                         '{\"redeemed_points\": 5}', '{}', ?2)",
                rusqlite::params![format!("pos-{n}"), n],
            )
            .unwrap();
        }
    }

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn an_upgrade_backs_up_first_and_keeps_every_sale() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("tenpo.db");
        v1_database(&db, 7);
        let store = Store::open(&db).unwrap();
        assert_eq!(store.read(schema::version).unwrap(), CURRENT_VERSION);
        let backups = list(&dir.path().join(BACKUP_DIR));
        assert_eq!(backups.len(), 1, "{backups:?}");
        let name = backups[0].file_name().unwrap().to_str().unwrap().to_owned();
        assert!(
            name.starts_with("tenpo-v1-") && name.ends_with("Z.db"),
            "{name}"
        );
        // The backup is the old database as it was: schema v1, every sale.
        let old = Connection::open(&backups[0]).unwrap();
        assert_eq!(schema::version(&old).unwrap(), 1);
        assert_eq!(count(&old, "SELECT COUNT(*) FROM sales"), 7);
        // The upgraded database lost nothing, and v2's columns were filled from v1's data.
        store
            .read(|c| {
                assert_eq!(count(c, "SELECT COUNT(*) FROM sales"), 7);
                assert_eq!(count(c, "SELECT COUNT(*) FROM outbox"), 7);
                assert_eq!(count(c, "SELECT SUM(redeemed_points) FROM sales"), 35);
                assert_eq!(
                    count(c, "SELECT COUNT(*) FROM outbox WHERE member_id = 'm1'"),
                    7
                );
                Ok(())
            })
            .unwrap();
        drop(store);
        // Opening the current schema again takes no new backup.
        drop(Store::open(&db).unwrap());
        assert_eq!(list(&dir.path().join(BACKUP_DIR)).len(), 1);
    }

    #[test]
    fn a_new_database_and_a_newer_one_take_no_backup() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("tenpo.db");
        drop(Store::open(&db).unwrap());
        assert!(!dir.path().join(BACKUP_DIR).exists(), "nothing to back up");
        Connection::open(&db)
            .unwrap()
            .pragma_update(None, "user_version", CURRENT_VERSION + 1)
            .unwrap();
        let before = std::fs::read(&db).unwrap();
        assert!(matches!(
            Store::open(&db),
            Err(StoreError::SchemaTooNew { .. })
        ));
        assert!(!dir.path().join(BACKUP_DIR).exists(), "refused, not copied");
        assert_eq!(std::fs::read(&db).unwrap(), before, "and not touched");
    }

    #[test]
    fn keeps_the_newest_few() {
        let dir = tempfile::tempdir().unwrap();
        let backups = dir.path().join(BACKUP_DIR);
        std::fs::create_dir_all(&backups).unwrap();
        for day in 1..=7 {
            std::fs::write(
                backups.join(format!("tenpo-v1-202001{day:02}T000000Z.db")),
                b"x",
            )
            .unwrap();
        }
        std::fs::write(backups.join("notes.txt"), b"kept").unwrap();
        let db = dir.path().join("tenpo.db");
        v1_database(&db, 1);
        drop(Store::open(&db).unwrap());
        let left = list(&backups);
        assert_eq!(left.len(), KEEP);
        let names: Vec<_> = left
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
            .collect();
        assert_eq!(names[0], "tenpo-v1-20200104T000000Z.db", "{names:?}");
        assert!(names[KEEP - 1].starts_with("tenpo-v1-2"), "{names:?}");
        assert!(
            backups.join("notes.txt").exists(),
            "other files are left alone"
        );
    }

    #[test]
    fn no_backup_no_migration() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("tenpo.db");
        v1_database(&db, 2);
        // A file where the backup folder should be: the copy cannot be made.
        std::fs::write(dir.path().join(BACKUP_DIR), b"in the way").unwrap();
        let err = Store::open(&db).unwrap_err();
        assert!(matches!(err, StoreError::Backup(_)), "{err}");
        assert!(
            err.to_string().contains("the database was not changed"),
            "{err}"
        );
        let conn = Connection::open(&db).unwrap();
        assert_eq!(schema::version(&conn).unwrap(), 1, "still the old schema");
    }
}
