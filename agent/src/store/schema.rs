//! The database schema and its forward-only migrations.
//!
//! The schema version is SQLite's `user_version`. Each migration runs in its own transaction with
//! the version bump, so a crash mid-upgrade leaves the previous version intact. A database newer
//! than this binary knows is refused, never touched.
//!
//! Two kinds of table, kept apart on purpose (docs/design.md §4):
//! - the ledger (`sales`, `refunds`, `wishes`, `outbox`, `quarantine`, `meta`): what happened
//!   here; never thrown away (a sale's lines and outcome are read from its outbox event);
//! - the member cache (`members`, `member_states`, `member_codes`): may be dropped and rebuilt
//!   from the hub's snapshot plus the ledger's outcomes, and nothing in the ledger refers to it
//!   by key.

use rusqlite::Connection;

use super::StoreError;

/// Each entry moves the schema from version `index` to `index + 1`. Append only.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the ledger, the outbox and the member cache.
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;

    -- Events for the hub, one per thing that happened, gap-free `seq` per terminal.
    CREATE TABLE outbox (
        seq         INTEGER PRIMARY KEY,
        event_id    TEXT NOT NULL UNIQUE,
        kind        TEXT NOT NULL,
        payload     TEXT NOT NULL,
        recorded_at TEXT NOT NULL
    ) STRICT;

    -- Events the hub rejected (4xx), for IT to inspect; they never block the queue.
    CREATE TABLE quarantine (
        seq            INTEGER PRIMARY KEY REFERENCES outbox(seq),
        reason         TEXT NOT NULL,
        quarantined_at TEXT NOT NULL
    ) STRICT;

    -- Every POS sale, keyed by the POS's sale id (the idempotency record).
    CREATE TABLE sales (
        sale_id       TEXT PRIMARY KEY,
        request_hash  BLOB NOT NULL,
        member_id     TEXT,
        business_date TEXT NOT NULL,
        occurred_at   TEXT NOT NULL,
        lines         TEXT NOT NULL,
        outcome       TEXT,
        response      TEXT NOT NULL,
        seq           INTEGER NOT NULL UNIQUE REFERENCES outbox(seq)
    ) STRICT;

    CREATE TABLE refunds (
        refund_id     TEXT PRIMARY KEY,
        sale_id       TEXT NOT NULL REFERENCES sales(sale_id),
        request_hash  BLOB NOT NULL,
        business_date TEXT NOT NULL,
        occurred_at   TEXT NOT NULL,
        lines         TEXT NOT NULL,
        outcome       TEXT,
        response      TEXT NOT NULL,
        seq           INTEGER NOT NULL UNIQUE REFERENCES outbox(seq)
    ) STRICT;
    CREATE INDEX refunds_by_sale ON refunds(sale_id);

    -- The member cache. `snapshot` is the member's state as the hub last sent it (empty for a
    -- member made here); `state` is the snapshot plus the outcomes of local events it does not
    -- include, kept up to date in the same transaction as each sale (since version 4, the empty
    -- text when it is the snapshot; since version 5 packed bytes, NULL when it is the snapshot).
    CREATE TABLE members (
        member_id   TEXT PRIMARY KEY,
        number      TEXT NOT NULL UNIQUE,
        provisional INTEGER NOT NULL,
        snapshot    TEXT NOT NULL,
        state       TEXT NOT NULL,
        updated_at  TEXT NOT NULL
    ) STRICT;

    CREATE TABLE member_codes (
        code      TEXT PRIMARY KEY,
        member_id TEXT NOT NULL REFERENCES members(member_id) ON DELETE CASCADE
    ) STRICT, WITHOUT ROWID;
    "#,
    // 2: sync with a hub. Outbox events name their member (to replay local outcomes on top of
    // the hub's snapshot), sales record the points they redeemed (the offline redemption
    // bound), the snapshot records which of this terminal's events it includes, and the cache
    // learns aliases (provisional members the hub merged), revoked codes and card keys.
    r#"
    ALTER TABLE outbox ADD COLUMN member_id TEXT;
    UPDATE outbox SET member_id = json_extract(payload, '$.body.member_id');
    CREATE INDEX outbox_by_member ON outbox(member_id, seq);

    ALTER TABLE sales ADD COLUMN redeemed_points INTEGER NOT NULL DEFAULT 0;
    UPDATE sales SET redeemed_points = COALESCE(json_extract(outcome, '$.redeemed_points'), 0);
    CREATE INDEX sales_by_member_day ON sales(member_id, business_date);

    ALTER TABLE members ADD COLUMN snapshot_through INTEGER NOT NULL DEFAULT 0;

    CREATE TABLE member_aliases (
        alias_id  TEXT PRIMARY KEY,
        member_id TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE revoked_codes (
        code TEXT PRIMARY KEY
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE card_keys (
        key_id     INTEGER PRIMARY KEY,
        public_key BLOB NOT NULL
    ) STRICT;
    "#,
    // 3: members' wishes (docs/design.md §11). The wish itself is its outbox event; this is the
    // idempotency record of each wish id and the answer given, as `sales` is of each sale id.
    r#"
    CREATE TABLE wishes (
        wish_id      TEXT PRIMARY KEY,
        request_hash BLOB NOT NULL,
        member_id    TEXT NOT NULL,
        response     TEXT NOT NULL,
        seq          INTEGER NOT NULL UNIQUE REFERENCES outbox(seq)
    ) STRICT;
    "#,
    // 4: a member's `state` is kept only where it differs from the hub's `snapshot`; the empty
    // text means "the snapshot" (docs/design.md §8: a cached member costs half the bytes, and
    // after a first sync every state equals its snapshot).
    r#"
    UPDATE members SET state = '' WHERE state = snapshot;
    "#,
    // 5: the member cache at docs/design.md §8's 300 bytes a member. Members are keyed by their
    // id alone (`WITHOUT ROWID`: no second index holding every id again), a state is packed
    // bytes (store/packed.rs; rows copied here keep their JSON, which is still read, until next
    // written), and a state equal to the snapshot is NULL. `member_codes` is remade beside
    // `members` so that dropping the old table deletes no code through its foreign key.
    r#"
    CREATE TABLE members_v5 (
        member_id        TEXT PRIMARY KEY,
        number           TEXT NOT NULL UNIQUE,
        provisional      INTEGER NOT NULL,
        snapshot         BLOB NOT NULL,
        state            BLOB,
        updated_at       TEXT NOT NULL,
        snapshot_through INTEGER NOT NULL DEFAULT 0
    ) STRICT, WITHOUT ROWID;
    INSERT INTO members_v5
        SELECT member_id, number, provisional, CAST(snapshot AS BLOB),
               CAST(NULLIF(state, '') AS BLOB), updated_at, snapshot_through
        FROM members;

    CREATE TABLE member_codes_v5 (
        code      TEXT PRIMARY KEY,
        member_id TEXT NOT NULL REFERENCES members_v5(member_id) ON DELETE CASCADE
    ) STRICT, WITHOUT ROWID;
    INSERT INTO member_codes_v5 SELECT code, member_id FROM member_codes;

    DROP TABLE member_codes;
    DROP TABLE members;
    ALTER TABLE members_v5 RENAME TO members;
    ALTER TABLE member_codes_v5 RENAME TO member_codes;
    "#,
    // 6: a sale writes fewer pages (docs/design.md §8). A sale's commit carries one page per
    // b-tree it touches, and its fsync costs by the pages; three were indexes nothing on the
    // sale's path needs. The outbox keeps `event_id` without an index (a fresh UUIDv7 made here,
    // never looked up here). A sale is stored under its `seq`, the table itself in recording
    // order, with one index on `sale_id` for replays (before, `sale_id` and `seq` were each an
    // index beside the table). The index behind the offline redemption bound holds only the
    // sales that redeemed points, the only ones it sums. Foreign keys are checked by the
    // migration runner after the tables are remade.
    r#"
    CREATE TABLE outbox_v6 (
        seq         INTEGER PRIMARY KEY,
        event_id    TEXT NOT NULL,
        kind        TEXT NOT NULL,
        payload     TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        member_id   TEXT
    ) STRICT;
    INSERT INTO outbox_v6 (seq, event_id, kind, payload, recorded_at, member_id)
        SELECT seq, event_id, kind, payload, recorded_at, member_id FROM outbox;
    DROP TABLE outbox;
    ALTER TABLE outbox_v6 RENAME TO outbox;
    CREATE INDEX outbox_by_member ON outbox(member_id, seq);

    CREATE TABLE sales_v6 (
        seq             INTEGER PRIMARY KEY REFERENCES outbox(seq),
        sale_id         TEXT NOT NULL UNIQUE,
        request_hash    BLOB NOT NULL,
        member_id       TEXT,
        business_date   TEXT NOT NULL,
        occurred_at     TEXT NOT NULL,
        lines           TEXT NOT NULL,
        outcome         TEXT,
        response        TEXT NOT NULL,
        redeemed_points INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    INSERT INTO sales_v6 (seq, sale_id, request_hash, member_id, business_date, occurred_at,
                          lines, outcome, response, redeemed_points)
        SELECT seq, sale_id, request_hash, member_id, business_date, occurred_at,
               lines, outcome, response, redeemed_points FROM sales;
    DROP TABLE sales;
    ALTER TABLE sales_v6 RENAME TO sales;
    CREATE INDEX sales_redeemed ON sales(member_id, business_date) WHERE redeemed_points > 0;
    "#,
    // 7: a sale without a member card writes one page fewer (docs/design.md §8). The index of a
    // member's events is only ever read for one member (`member_id = ?`), so the events that
    // name no member (most sales at a till: no card shown) need no entry in it.
    r#"
    DROP INDEX outbox_by_member;
    CREATE INDEX outbox_by_member ON outbox(member_id, seq) WHERE member_id IS NOT NULL;
    "#,
    // 8: a regular customer's sale writes as few pages as anyone's (docs/design.md §8). A
    // member's local state (the snapshot plus this till's outcomes) gains a point lot for each
    // sale that earns, kept until the lot expires, so a member who shops often carries a few
    // kilobytes of it. In `members`, a `WITHOUT ROWID` table, a row keeps at most about 1,000
    // bytes on its page and the rest in a chain of overflow pages; each sale rewrote the chain,
    // 8–9 pages a commit instead of 5. Local states now live in a table of their own with rowid
    // pages, where a row keeps up to about 4,000 bytes on its page, and a sale changes only that
    // row (the members row, the hub's view, stays as it was). Only the members sold to here
    // since the hub last sent them have a row in it, so the cache of a million members does not
    // grow.
    r#"
    CREATE TABLE member_states (
        member_id  TEXT PRIMARY KEY REFERENCES members(member_id) ON DELETE CASCADE,
        state      BLOB NOT NULL,
        updated_at TEXT NOT NULL
    ) STRICT;
    INSERT INTO member_states (member_id, state, updated_at)
        SELECT member_id, state, updated_at FROM members WHERE state IS NOT NULL;
    ALTER TABLE members DROP COLUMN state;
    "#,
    // 9: every sale writes two pages fewer, and its lines and outcome are stored once
    // (docs/design.md §8). A sale's lines, time and outcome are in its outbox event, which the
    // ledger keeps for ever; the sales table kept a second copy in a rowid table beside an
    // index of sale ids, two more b-trees a sale. The request's hash and the answer given now
    // go on the event's own outbox row (appended at the end of the outbox, as the event is),
    // and `sales` is the index of sale ids alone, with what the offline redemption bound and
    // refunds look up: small rows in one b-tree.
    r#"
    ALTER TABLE outbox ADD COLUMN request_hash BLOB;
    ALTER TABLE outbox ADD COLUMN response TEXT;
    UPDATE outbox SET request_hash = s.request_hash, response = s.response
        FROM sales s WHERE s.seq = outbox.seq;

    CREATE TABLE sales_v9 (
        sale_id         TEXT PRIMARY KEY,
        seq             INTEGER NOT NULL REFERENCES outbox(seq),
        member_id       TEXT,
        business_date   TEXT NOT NULL,
        redeemed_points INTEGER NOT NULL DEFAULT 0
    ) STRICT, WITHOUT ROWID;
    INSERT INTO sales_v9 (sale_id, seq, member_id, business_date, redeemed_points)
        SELECT sale_id, seq, member_id, business_date, redeemed_points FROM sales;
    DROP TABLE sales;
    ALTER TABLE sales_v9 RENAME TO sales;
    CREATE INDEX sales_redeemed ON sales(member_id, business_date) WHERE redeemed_points > 0;
    "#,
    // 10: a member leaves the cache without a scan of every card code (docs/design.md §8).
    // `member_codes` named its member through a foreign key with no index on `member_id`, so
    // each member removed (erased or merged at the hub, or its number given to another) had
    // SQLite read every code twice, once for the delete and once for the key: 0.2 s a member
    // with 1,000,000 cached, inside the write transaction the sales wait on. An index would
    // cost ~60 bytes a member, over the cache's budget; instead a member's row lists the codes
    // it holds besides its number (NULL for most members, whose one code is the number), and
    // removing it deletes those by key. The foreign key goes. And a member's aliases (the
    // provisional ids merged into it, one for each new card a till sold) are found by key: they
    // are read for every echo of a member's sale.
    r#"
    CREATE INDEX member_aliases_by_member ON member_aliases(member_id);

    CREATE TABLE member_codes_v10 (
        code      TEXT PRIMARY KEY,
        member_id TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;
    INSERT INTO member_codes_v10 SELECT code, member_id FROM member_codes;
    DROP TABLE member_codes;
    ALTER TABLE member_codes_v10 RENAME TO member_codes;

    ALTER TABLE members ADD COLUMN codes TEXT;
    UPDATE members SET codes = x.codes
        FROM (SELECT c.member_id, json_group_array(c.code) AS codes
              FROM member_codes c JOIN members m ON m.member_id = c.member_id
              WHERE c.code <> m.number
              GROUP BY c.member_id) AS x
        WHERE x.member_id = members.member_id;
    "#,
    // 11: a sale no longer writes its member's state (docs/design.md §8; store/held.rs). The
    // state after a sale is held in memory and written in batches; a row says through which
    // outbox `seq` it counts this till's events, and a member's state is the row plus the
    // outcomes of its later events. Every row written before counted every event recorded.
    r#"
    ALTER TABLE member_states ADD COLUMN through INTEGER NOT NULL DEFAULT 0;
    UPDATE member_states SET through = (SELECT COALESCE(MAX(seq), 0) FROM outbox);
    "#,
];

/// The schema version this binary writes.
pub const CURRENT_VERSION: u32 = MIGRATIONS.len() as u32;

pub(crate) fn version(conn: &Connection) -> Result<u32, StoreError> {
    Ok(tenpo_support::sqlite::version(conn)?)
}

/// Brings the database up to [`CURRENT_VERSION`], one migration per transaction.
pub(crate) fn migrate(conn: &mut Connection) -> Result<u32, StoreError> {
    migrate_to(conn, CURRENT_VERSION)
}

/// Brings the database up to `target` (older versions are how the upgrade tests make old files).
pub(crate) fn migrate_to(conn: &mut Connection, target: u32) -> Result<u32, StoreError> {
    use tenpo_support::sqlite::MigrateError;
    tenpo_support::sqlite::migrate(conn, MIGRATIONS, target).map_err(|e| match e {
        MigrateError::TooNew { found, known } => StoreError::SchemaTooNew { found, known },
        MigrateError::Sqlite(e) => e.into(),
    })
}
