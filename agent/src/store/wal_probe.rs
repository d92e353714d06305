//! For tests: how many pages a write puts in the write-ahead log, counted from the log's size
//! after emptying it first (docs/design.md §8: a commit's fsync costs by the pages it carries).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

/// SQLite's page size for a new file, as tenpo leaves it.
const PAGE: u64 = 4096;

/// The frames (pages) that `write` appends to the log of the database at `db`. The log is
/// emptied first with a truncating checkpoint. SQLite's busy timeout covers the writer and the
/// readers but not another checkpoint in progress (the store's own thread's round), which makes
/// it answer "busy" at once: then it is tried again, a bounded number of times.
pub(crate) fn frames_of(db: &Path, write: impl FnOnce()) -> u64 {
    let side = rusqlite::Connection::open(db).unwrap();
    side.busy_timeout(Duration::from_secs(10)).unwrap();
    let page_size: i64 = side
        .pragma_query_value(None, "page_size", |r| r.get(0))
        .unwrap();
    assert_eq!(page_size.unsigned_abs(), PAGE);
    let wal = db.with_extension("db-wal");
    let emptied = (0..500).any(|_| {
        let busy: i64 = side
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .unwrap();
        if busy != 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
        busy == 0
    });
    assert!(emptied, "the log could not be emptied in 5 s");
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
    write();
    // A 32-byte header, then each frame: a 24-byte header and the page.
    let len = std::fs::metadata(&wal).unwrap().len();
    len.saturating_sub(32) / (24 + PAGE)
}
