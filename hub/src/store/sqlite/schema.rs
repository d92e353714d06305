//! The hub database's schema and its forward-only migrations (SQLite's `user_version`), one
//! transaction per migration with its version bump. A database newer than this binary knows is
//! refused, never touched.
//!
//! - `events` holds every pushed event slot forever, keyed by (terminal, seq); `conflicts` and
//!   `discrepancies` are what the CRM and IT are shown.
//! - `members` holds each member's [`tenpo_protocol::sync::MemberSnapshot`] as JSON (what the
//!   feed sends, so a feed read is one row per member) beside the personal data terminals never
//!   see (`birthday`). `member_codes` and `member_aliases` index it.
//! - `changes` is the feed's log: one row per thing (member, rule set, key, revoked code) at
//!   the position of its latest change, so reading from the start is a full snapshot and reading
//!   from a cursor gives what changed since.
//! - `feed_runs` records each start of the hub, so feed cursors can name the run that made them.

use rusqlite::Connection;

use crate::store::StoreError;

/// Each entry moves the schema from version `index` to `index + 1`. Append only.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: everything.
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;

    CREATE TABLE enrollment_codes (
        code_hash   BLOB PRIMARY KEY,
        store_id    TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        expires_at  TEXT NOT NULL,
        used_at     TEXT,
        terminal_id TEXT
    ) STRICT;

    CREATE TABLE terminals (
        terminal_id   TEXT PRIMARY KEY,
        store_id      TEXT NOT NULL,
        name          TEXT,
        secret_hash   BLOB NOT NULL,
        enrolled_at   TEXT NOT NULL,
        -- Highest contiguous seq held; every event through it is applied.
        acked_through INTEGER NOT NULL DEFAULT 0
    ) STRICT;

    -- Every event slot a terminal pushed, forever. status: stored | rejected | conflict.
    CREATE TABLE events (
        terminal_id TEXT NOT NULL,
        seq         INTEGER NOT NULL,
        event_id    TEXT,
        kind        TEXT,
        status      TEXT NOT NULL,
        reason      TEXT,
        hash        TEXT NOT NULL,
        payload     TEXT NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (terminal_id, seq)
    ) STRICT;
    CREATE INDEX events_by_id ON events(event_id);

    CREATE TABLE conflicts (
        id             INTEGER PRIMARY KEY,
        terminal_id    TEXT NOT NULL,
        seq            INTEGER NOT NULL,
        kind           TEXT NOT NULL,
        event_id       TEXT,
        first_payload  TEXT NOT NULL,
        second_payload TEXT NOT NULL,
        second_hash    TEXT NOT NULL,
        detected_at    TEXT NOT NULL,
        UNIQUE (terminal_id, seq, kind, second_hash)
    ) STRICT;

    CREATE TABLE discrepancies (
        id            INTEGER PRIMARY KEY,
        terminal_id   TEXT NOT NULL,
        seq           INTEGER NOT NULL,
        event_id      TEXT NOT NULL,
        sale_id       TEXT NOT NULL,
        member_id     TEXT NOT NULL,
        rules_version INTEGER NOT NULL,
        till          TEXT NOT NULL,
        hub           TEXT NOT NULL,
        detail        TEXT NOT NULL,
        detected_at   TEXT NOT NULL
    ) STRICT;

    CREATE TABLE members (
        member_id  TEXT PRIMARY KEY,
        number     TEXT NOT NULL,
        snapshot   TEXT NOT NULL,
        birthday   TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    ) STRICT;
    CREATE INDEX members_by_birthday_month ON members(substr(birthday, 6, 2))
        WHERE birthday IS NOT NULL;

    CREATE TABLE member_codes (
        code      TEXT PRIMARY KEY,
        member_id TEXT NOT NULL REFERENCES members(member_id)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE member_aliases (
        alias_id  TEXT PRIMARY KEY,
        member_id TEXT NOT NULL REFERENCES members(member_id)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE revoked_codes (
        code       TEXT PRIMARY KEY,
        member_id  TEXT,
        revoked_at TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE coupon_grants (
        coupon_id  TEXT NOT NULL,
        member_id  TEXT NOT NULL,
        granted_at TEXT NOT NULL,
        PRIMARY KEY (coupon_id, member_id)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE rule_sets (
        version   INTEGER PRIMARY KEY,
        name      TEXT NOT NULL,
        rules     TEXT NOT NULL,
        loaded_at TEXT NOT NULL
    ) STRICT;

    -- Card-QR signing keys. The secret never leaves the hub.
    CREATE TABLE signing_keys (
        key_id     INTEGER PRIMARY KEY,
        public_key BLOB NOT NULL,
        secret_key BLOB NOT NULL,
        active     INTEGER NOT NULL,
        created_at TEXT NOT NULL
    ) STRICT;

    -- The feed's log: kind in (member, rule_set, signing_key, code_revoked).
    CREATE TABLE changes (
        pos  INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        key  TEXT NOT NULL,
        UNIQUE (kind, key)
    ) STRICT;
    "#,
    // 2: signup with LINE (docs/design.md §5). One member per LINE user, ever; the LINE user id is
    // personal data and stays here. Each signup id (the token's nonce) is used once.
    r#"
    CREATE TABLE line_users (
        line_user_id TEXT PRIMARY KEY,
        member_id    TEXT NOT NULL UNIQUE REFERENCES members(member_id),
        linked_at    TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE signups (
        signup_id       TEXT PRIMARY KEY,
        kind            TEXT NOT NULL,
        store_id        TEXT NOT NULL,
        terminal_id     TEXT NOT NULL,
        card_code       TEXT,
        member_id       TEXT NOT NULL,
        line_user_id    TEXT NOT NULL,
        existing_member INTEGER NOT NULL,
        completed_at    TEXT NOT NULL
    ) STRICT;
    "#,
    // 3: every run of the hub (one per start) and where the change log ended when it began, so
    // that a cursor from a run a restored database never saw is refused (see `cursor.rs`).
    r#"
    CREATE TABLE feed_runs (
        id            INTEGER PRIMARY KEY,
        run           TEXT NOT NULL UNIQUE,
        started_after INTEGER NOT NULL,
        started_at    TEXT NOT NULL
    ) STRICT;
    "#,
    // 4: an enrolment code can be for an existing terminal id: enrolling with it gives that
    // terminal new credentials and keeps its identity and its events (a lost credentials file,
    // or a hub restored from a backup older than the terminal).
    r#"
    ALTER TABLE enrollment_codes ADD COLUMN for_terminal TEXT;
    "#,
    // 5: one terminal cannot mint value (docs/design.md §7). Discrepancies are classified
    // (stamps, tier, balance, rules_unknown: expected; amount: suspicious), and an outcome that
    // gives more than the hub computes beyond the configured limits is held for a person: the
    // event is stored, its outcome not applied until released.
    r#"
    ALTER TABLE discrepancies ADD COLUMN class TEXT NOT NULL DEFAULT 'unclassified';
    CREATE INDEX discrepancies_by_class ON discrepancies(class, id);

    CREATE TABLE held_events (
        id                INTEGER PRIMARY KEY,
        terminal_id       TEXT NOT NULL,
        seq               INTEGER NOT NULL,
        event_id          TEXT NOT NULL,
        sale_id           TEXT NOT NULL,
        member_id         TEXT NOT NULL,
        reason            TEXT NOT NULL,
        till              TEXT NOT NULL,
        hub               TEXT NOT NULL,
        held_at           TEXT NOT NULL,
        -- released (the till's outcome applied) | dismissed (never applied)
        resolution        TEXT,
        resolution_reason TEXT,
        resolved_at       TEXT,
        UNIQUE (terminal_id, seq)
    ) STRICT;
    CREATE INDEX held_open ON held_events(id) WHERE resolution IS NULL;
    "#,
    // LINE webhook events, once each (LINE redelivers), and each LINE user's friendship with
    // the official account (docs/design.md §10). Times from LINE are its ms timestamps.
    r#"
    CREATE TABLE line_webhook_events (
        webhook_event_id TEXT PRIMARY KEY,
        kind             TEXT NOT NULL,
        occurred_at_ms   INTEGER NOT NULL,
        received_at      TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE line_friends (
        line_user_id         TEXT PRIMARY KEY,
        following            INTEGER NOT NULL,
        changed_at_ms        INTEGER NOT NULL,
        first_followed_at_ms INTEGER
    ) STRICT, WITHOUT ROWID;
    "#,
    // The message outbox (docs/design.md §10): a message is a row written in the same
    // transaction as its cause; senders claim rows (a lease), and `message_id` is LINE's
    // `X-Line-Retry-Key` on every attempt, so a resend after a crash is never a second message.
    // `dedupe_key` is what makes a cause write its message once (`welcome:<member>`).
    r#"
    CREATE TABLE messages (
        id             INTEGER PRIMARY KEY,
        message_id     TEXT NOT NULL UNIQUE,
        dedupe_key     TEXT NOT NULL UNIQUE,
        member_id      TEXT,
        line_user_id   TEXT NOT NULL,
        scenario       TEXT NOT NULL,
        class          TEXT NOT NULL,
        channel        TEXT NOT NULL,
        action         TEXT NOT NULL,
        body           TEXT NOT NULL,
        -- pending | sending | sent | failed | unreachable | expired
        state          TEXT NOT NULL,
        attempts       INTEGER NOT NULL DEFAULT 0,
        -- LINE keeps a retry key for 24 hours after its first request: an outcome still
        -- unknown after that is failed, never risked twice
        first_attempt_ms INTEGER,
        not_before_ms  INTEGER NOT NULL,
        expires_at_ms  INTEGER,
        lease_until_ms INTEGER,
        last_error     TEXT,
        request_id     TEXT,
        created_at     TEXT NOT NULL,
        sent_at        TEXT
    ) STRICT;
    CREATE INDEX messages_state ON messages(state, class, id);
    CREATE INDEX messages_pending_by_user ON messages(line_user_id) WHERE state = 'pending';
    CREATE INDEX messages_pending_expiry ON messages(expires_at_ms) WHERE state = 'pending';
    CREATE INDEX messages_retrying ON messages(first_attempt_ms)
        WHERE state = 'pending' AND attempts > 0;
    "#,
    // What a member chose in their profile (docs/design.md §10): the language of their
    // messages, whether they want store news, and the name and email they gave (the birthday
    // is `members.birthday`). Personal data, the hub's alone. Marketing
    // messages are capped per member: `messages_by_member` counts what each was sent.
    r#"
    CREATE TABLE member_profiles (
        member_id  TEXT PRIMARY KEY REFERENCES members(member_id),
        language   TEXT NOT NULL,
        marketing  INTEGER NOT NULL,
        -- line | email: how the member wants to be written to
        channel    TEXT NOT NULL DEFAULT 'line',
        name       TEXT,
        email      TEXT,
        updated_at TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX messages_by_member ON messages(member_id, class, sent_at);
    "#,
    // The daily scan writes up to a row per member (docs/benchmarks.md): what each row costs
    // to write is what the scan costs.
    // - A message's retry key (`message_id`) is made when it is first claimed, not when it is
    //   written: a fresh UUID per row with a unique index on it was a fifth of the scan. A v7
    //   UUID needs no index to be unique.
    // - A user's waiting messages are found through their member (`messages_by_member`, in
    //   the scan's order), not by LINE user id: an index on random ids wrote a page per row.
    //   Only rows with no member (the rich menu's unlink after the link is gone) keep one.
    // SQLite cannot drop a constraint in place: the table is rebuilt, rows, ids and keys as
    // they were.
    r#"
    CREATE TABLE messages_v9 (
        id             INTEGER PRIMARY KEY,
        -- LINE's X-Line-Retry-Key, the same on every attempt; NULL until the first claim
        message_id     TEXT,
        dedupe_key     TEXT NOT NULL UNIQUE,
        member_id      TEXT,
        line_user_id   TEXT NOT NULL,
        scenario       TEXT NOT NULL,
        class          TEXT NOT NULL,
        channel        TEXT NOT NULL,
        action         TEXT NOT NULL,
        body           TEXT NOT NULL,
        state          TEXT NOT NULL,
        attempts       INTEGER NOT NULL DEFAULT 0,
        first_attempt_ms INTEGER,
        not_before_ms  INTEGER NOT NULL,
        expires_at_ms  INTEGER,
        lease_until_ms INTEGER,
        last_error     TEXT,
        request_id     TEXT,
        created_at     TEXT NOT NULL,
        sent_at        TEXT
    ) STRICT;
    INSERT INTO messages_v9
        SELECT id, message_id, dedupe_key, member_id, line_user_id, scenario, class, channel,
               action, body, state, attempts, first_attempt_ms, not_before_ms, expires_at_ms,
               lease_until_ms, last_error, request_id, created_at, sent_at
        FROM messages;
    DROP TABLE messages;
    ALTER TABLE messages_v9 RENAME TO messages;
    CREATE INDEX messages_state ON messages(state, class, id);
    CREATE INDEX messages_pending_no_member ON messages(line_user_id)
        WHERE state = 'pending' AND member_id IS NULL;
    CREATE INDEX messages_pending_expiry ON messages(expires_at_ms) WHERE state = 'pending';
    CREATE INDEX messages_retrying ON messages(first_attempt_ms)
        WHERE state = 'pending' AND attempts > 0;
    CREATE INDEX messages_by_member ON messages(member_id, class, sent_at);
    "#,
    // 10: a linked member's friendship with the account, kept on their link, so that the daily
    // scan reads it from the index it walks in member order (docs/benchmarks.md): looking each
    // member's LINE user up in `line_friends` was a random read per member, a third of the scan.
    // `line_friends` stays the truth (it has users who are not members); the triggers copy it
    // to the link whichever is written first, so no code path can let the two differ.
    r#"
    ALTER TABLE line_users ADD COLUMN following INTEGER;
    UPDATE line_users SET following =
        (SELECT f.following FROM line_friends f WHERE f.line_user_id = line_users.line_user_id);
    CREATE INDEX line_users_by_member ON line_users(member_id, following);
    CREATE TRIGGER line_friends_inserted AFTER INSERT ON line_friends BEGIN
        UPDATE line_users SET following = NEW.following WHERE line_user_id = NEW.line_user_id;
    END;
    CREATE TRIGGER line_friends_updated AFTER UPDATE OF following ON line_friends BEGIN
        UPDATE line_users SET following = NEW.following WHERE line_user_id = NEW.line_user_id;
    END;
    CREATE TRIGGER line_friends_deleted AFTER DELETE ON line_friends BEGIN
        UPDATE line_users SET following = NULL WHERE line_user_id = OLD.line_user_id;
    END;
    CREATE TRIGGER line_users_linked AFTER INSERT ON line_users BEGIN
        UPDATE line_users SET following =
            (SELECT f.following FROM line_friends f WHERE f.line_user_id = NEW.line_user_id)
        WHERE line_user_id = NEW.line_user_id;
    END;
    CREATE TRIGGER line_users_relinked AFTER UPDATE OF line_user_id ON line_users BEGIN
        UPDATE line_users SET following =
            (SELECT f.following FROM line_friends f WHERE f.line_user_id = NEW.line_user_id)
        WHERE line_user_id = NEW.line_user_id;
    END;
    "#,
    // 11: a message's dedupe key is unique per member (every key names its member), checked by
    // the member's index, which the daily scan writes in order anyway; a global unique index on
    // the keys was one more index written per row (docs/benchmarks.md). Rows with no member (the
    // rich menu's unlink) keep a small unique index of their own. Caps and a member's opt-out
    // find the member's rows through the same index. The table is rebuilt to drop the column's UNIQUE, rows, ids and
    // keys as they were.
    r#"
    CREATE TABLE messages_v11 (
        id             INTEGER PRIMARY KEY,
        -- LINE's X-Line-Retry-Key, the same on every attempt; NULL until the first claim
        message_id     TEXT,
        dedupe_key     TEXT NOT NULL,
        member_id      TEXT,
        line_user_id   TEXT NOT NULL,
        scenario       TEXT NOT NULL,
        class          TEXT NOT NULL,
        channel        TEXT NOT NULL,
        action         TEXT NOT NULL,
        body           TEXT NOT NULL,
        -- pending | sending | sent | failed | unreachable | expired
        state          TEXT NOT NULL,
        attempts       INTEGER NOT NULL DEFAULT 0,
        -- LINE keeps a retry key for 24 hours after its first request: an outcome still
        -- unknown after that is failed, never risked twice
        first_attempt_ms INTEGER,
        not_before_ms  INTEGER NOT NULL,
        expires_at_ms  INTEGER,
        lease_until_ms INTEGER,
        last_error     TEXT,
        request_id     TEXT,
        created_at     TEXT NOT NULL,
        sent_at        TEXT
    ) STRICT;
    INSERT INTO messages_v11
        SELECT id, message_id, dedupe_key, member_id, line_user_id, scenario, class, channel,
               action, body, state, attempts, first_attempt_ms, not_before_ms, expires_at_ms,
               lease_until_ms, last_error, request_id, created_at, sent_at
        FROM messages;
    DROP TABLE messages;
    ALTER TABLE messages_v11 RENAME TO messages;
    CREATE INDEX messages_state ON messages(state, class, id);
    CREATE UNIQUE INDEX messages_by_member ON messages(member_id, dedupe_key);
    CREATE UNIQUE INDEX messages_no_member ON messages(dedupe_key) WHERE member_id IS NULL;
    CREATE INDEX messages_pending_no_member ON messages(line_user_id)
        WHERE state = 'pending' AND member_id IS NULL;
    CREATE INDEX messages_pending_expiry ON messages(expires_at_ms) WHERE state = 'pending';
    CREATE INDEX messages_retrying ON messages(first_attempt_ms)
        WHERE state = 'pending' AND attempts > 0;
    "#,
    // 12: each member's home store, whose time zone is theirs: the day the daily scan runs for
    // them, and their quiet hours (docs/design.md §10). The store they joined at with LINE, or
    // else the first store a sale or card of theirs came from (set as events are applied).
    // Members from before this who never signed up with LINE get theirs at their next sale.
    r#"
    ALTER TABLE members ADD COLUMN home_store TEXT;
    UPDATE members SET home_store =
        (SELECT s.store_id FROM signups s WHERE s.member_id = members.member_id
         ORDER BY s.completed_at LIMIT 1);
    "#,
    // 13: wishes and notifications (docs/design.md §11). The retailer's catalogue and stock per
    // store, as its feed last sent them (`version`: the feed's own, an older row is skipped);
    // the feed's batches, each answered once; members' wishes, one per member, item and kind
    // (`fired`: notified in this episode, armed again when the condition ends); the
    // notifications a change queued, LINE's through the message outbox and email's in their
    // own columns here; and the purchases attributed to them. Email from a member who
    // unsubscribed stops (`member_profiles.email_unsubscribed`).
    r#"
    CREATE TABLE catalog_items (
        sku        TEXT PRIMARY KEY,
        jan        TEXT UNIQUE,
        name_ja    TEXT NOT NULL,
        name_en    TEXT,
        price_yen  INTEGER NOT NULL CHECK (price_yen >= 0),
        image_url  TEXT,
        url        TEXT,
        version    INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE catalog_stock (
        sku        TEXT NOT NULL,
        store_id   TEXT NOT NULL,
        quantity   INTEGER NOT NULL CHECK (quantity >= 0),
        version    INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (sku, store_id)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE catalog_batches (
        batch_id     TEXT PRIMARY KEY,
        kind         TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        report       TEXT NOT NULL,
        received_at  TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE wishes (
        member_id  TEXT NOT NULL REFERENCES members(member_id),
        -- as asked: a barcode or a sku
        item       TEXT NOT NULL,
        -- restock | price_drop | last_one
        kind       TEXT NOT NULL,
        -- the catalogue's item, once it has it
        sku        TEXT,
        -- where it was asked, whose stock it watches (the member's home store for LINE)
        store_id   TEXT,
        -- till | kiosk | line
        source     TEXT NOT NULL,
        -- the price when wished (or when the catalogue first had the item): a price drop is
        -- a price below it
        price_yen  INTEGER,
        fired      INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        PRIMARY KEY (member_id, item, kind)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX wishes_by_sku ON wishes(sku, kind) WHERE sku IS NOT NULL;
    CREATE INDEX wishes_unknown ON wishes(item) WHERE sku IS NULL;
    CREATE TABLE notifications (
        id             INTEGER PRIMARY KEY,
        -- in the link /r/{link_id}: counted, then on to the item
        link_id        TEXT NOT NULL UNIQUE,
        member_id      TEXT NOT NULL,
        sku            TEXT NOT NULL,
        kind           TEXT NOT NULL,
        -- line | email
        channel        TEXT NOT NULL,
        store_id       TEXT,
        price_yen      INTEGER NOT NULL,
        was_price_yen  INTEGER,
        -- LINE: the outbox row that carries it
        message_row    INTEGER,
        -- email: pending | sending | sent | failed | unreachable, as the outbox's
        email_state    TEXT,
        attempts       INTEGER NOT NULL DEFAULT 0,
        not_before_ms  INTEGER NOT NULL,
        lease_until_ms INTEGER,
        last_error     TEXT,
        delivered_at   TEXT,
        created_at     TEXT NOT NULL,
        created_ms     INTEGER NOT NULL,
        clicks         INTEGER NOT NULL DEFAULT 0,
        first_click_at TEXT
    ) STRICT;
    CREATE INDEX notifications_by_member ON notifications(member_id, created_ms);
    CREATE INDEX notifications_by_time ON notifications(created_ms);
    CREATE INDEX notifications_email_due ON notifications(not_before_ms)
        WHERE email_state = 'pending';
    CREATE TABLE attributions (
        terminal_id     TEXT NOT NULL,
        sale_id         TEXT NOT NULL,
        sku             TEXT NOT NULL,
        notification_id INTEGER NOT NULL REFERENCES notifications(id),
        quantity        INTEGER NOT NULL,
        yen             INTEGER NOT NULL,
        refunded_yen    INTEGER NOT NULL DEFAULT 0,
        occurred_at     TEXT NOT NULL,
        PRIMARY KEY (terminal_id, sale_id, sku)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX attributions_by_notification ON attributions(notification_id);
    ALTER TABLE member_profiles ADD COLUMN email_unsubscribed INTEGER NOT NULL DEFAULT 0;
    -- Until when a purchase of the member's may count for a notification: a sale of anyone
    -- else is not looked at (read with the member's row, which a sale reads anyway).
    ALTER TABLE members ADD COLUMN notified_until_ms INTEGER;
    "#,
    // 14: the console (docs/design.md §13). Staff accounts (an argon2id hash, never the
    // password; wrong passwords in a row lock the account a while) and their sessions (the
    // cookie's token by its SHA-256 only); the audit log of every change a person made; each
    // event's member, so a member's history is one index read; what each terminal says of
    // itself on every call (its version, its outbox's newest seq, its clock against the hub's).
    r#"
    CREATE TABLE staff (
        name            TEXT PRIMARY KEY,
        -- admin | crm | it | viewer
        role            TEXT NOT NULL,
        password_hash   TEXT NOT NULL,
        failed_attempts INTEGER NOT NULL DEFAULT 0,
        locked_until_ms INTEGER,
        disabled        INTEGER NOT NULL DEFAULT 0,
        created_at      TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE staff_sessions (
        token_hash BLOB PRIMARY KEY,
        name       TEXT NOT NULL REFERENCES staff(name),
        csrf       TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        seen_ms    INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX staff_sessions_by_name ON staff_sessions(name);
    CREATE TABLE staff_actions (
        id        INTEGER PRIMARY KEY,
        at        TEXT NOT NULL,
        staff     TEXT NOT NULL,
        action    TEXT NOT NULL,
        member_id TEXT,
        reason    TEXT NOT NULL,
        detail    TEXT NOT NULL
    ) STRICT;
    CREATE INDEX staff_actions_by_member ON staff_actions(member_id, id)
        WHERE member_id IS NOT NULL;
    ALTER TABLE events ADD COLUMN member_id TEXT;
    UPDATE events SET member_id = json_extract(payload, '$.body.member_id')
        WHERE json_valid(payload);
    CREATE INDEX events_by_member ON events(member_id, received_at)
        WHERE member_id IS NOT NULL;
    CREATE INDEX events_refused ON events(terminal_id) WHERE status <> 'stored';
    ALTER TABLE terminals ADD COLUMN agent_version TEXT;
    ALTER TABLE terminals ADD COLUMN reported_at TEXT;
    ALTER TABLE terminals ADD COLUMN outbox_seq INTEGER;
    ALTER TABLE terminals ADD COLUMN clock_skew_ms INTEGER;
    "#,
    // 15: a member's erasure (docs/design.md §7): when their personal data was erased. The row
    // stays, anonymous, for the ledger; the feed sends the member as removed from then on.
    r#"
    ALTER TABLE members ADD COLUMN erased_at TEXT;
    "#,
    // 16: the outbox counted per state without reading it (docs/design.md §8). `/metrics` and
    // the console counted every message ever queued (`GROUP BY state`), 160–180 ms at 3,000,000
    // messages, a chain's year or two of scenarios, and growing. The counts are kept here, a
    // row for each state, in the transaction of each change: a state changed or a row deleted
    // by triggers, so that every statement that does it, whichever it is, keeps them; a message
    // queued by the two statements that queue messages (`outbox::insert`, `scan::queue`), as
    // a trigger on each message queued made the daily scan of 1,000,000 members take 8.7 s
    // instead of 4.6–5.2 s (docs/benchmarks.md).
    r#"
    CREATE TABLE message_tallies (
        state TEXT PRIMARY KEY,
        n     INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    WITH s(state) AS (VALUES ('pending'), ('sending'), ('sent'), ('failed'), ('unreachable'),
                             ('expired'))
    INSERT INTO message_tallies (state, n)
        SELECT s.state, (SELECT COUNT(*) FROM messages m WHERE m.state = s.state) FROM s;
    CREATE TRIGGER messages_tally_delete AFTER DELETE ON messages BEGIN
        UPDATE message_tallies SET n = n - 1 WHERE state = OLD.state;
    END;
    CREATE TRIGGER messages_tally_update AFTER UPDATE OF state ON messages
        WHEN OLD.state IS NOT NEW.state BEGIN
        UPDATE message_tallies SET n = n - 1 WHERE state = OLD.state;
        UPDATE message_tallies SET n = n + 1 WHERE state = NEW.state;
    END;
    "#,
    // 17: the members counted without reading them (docs/design.md §8). `/metrics` counted
    // every member at each scrape: 17 ms at 1,000,000 here, 60–150 ms on PostgreSQL
    // (docs/benchmarks.md). Members are added one a statement (a signup, a card sold, a row of
    // an import) and never deleted (an erasure blanks the row), so triggers keep the count in
    // the transaction of each change at the cost of one row's update.
    r#"
    CREATE TABLE member_tallies (
        n INTEGER NOT NULL
    ) STRICT;
    INSERT INTO member_tallies (n) SELECT COUNT(*) FROM members;
    CREATE TRIGGER members_tally_insert AFTER INSERT ON members BEGIN
        UPDATE member_tallies SET n = n + 1;
    END;
    CREATE TRIGGER members_tally_delete AFTER DELETE ON members BEGIN
        UPDATE member_tallies SET n = n - 1;
    END;
    "#,
];

/// The schema version this binary writes.
pub const CURRENT_VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings the database up to [`CURRENT_VERSION`], one migration per transaction.
pub(crate) fn migrate(conn: &mut Connection) -> Result<u32, StoreError> {
    use tenpo_support::sqlite::MigrateError;
    tenpo_support::sqlite::migrate(conn, MIGRATIONS, CURRENT_VERSION).map_err(|e| match e {
        MigrateError::TooNew { found, known } => StoreError::SchemaTooNew { found, known },
        MigrateError::Sqlite(e) => e.into(),
    })
}
