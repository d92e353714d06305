//! `tenpo-hub migrate --to postgres://…`: a SQLite hub moved to PostgreSQL (docs/hub.md).
//!
//! Every table is copied whole (PostgreSQL's `COPY`, binary), each value turned into the
//! column's PostgreSQL type (RFC 3339 text into `timestamptz`, 0/1 into `boolean`, …). The
//! conversions are strict: a value that does not fit its column exactly (text where a number
//! belongs, a flag other than 0 or 1, a time or date that does not parse) stops the move,
//! naming the table and column; only a time's digits below the microsecond, which PostgreSQL
//! does not keep, are dropped. Then the copy is checked: the same number of rows and the same
//! content hash on both sides, from the values converted and the values PostgreSQL gives back. Ids, the feed's epoch, its runs and positions, and
//! the card-signing key move as they are, so terminals carry on without enrolling again and
//! their feed cursors stay good (each run's reach is what it was on SQLite).

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};
use sha2::{Digest, Sha256};
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::{DatabaseUrl, migrate, pool};
use crate::store::{SqliteStore, StoreError};

/// Rows read back from PostgreSQL at a time.
const READ_PAGE: i32 = 10_000;

/// One table as moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableMoved {
    pub table: String,
    pub rows: u64,
    /// SHA-256 of the rows' content, the same on both sides (hex).
    pub hash: String,
}

/// One column of a PostgreSQL table, as the move converts into it.
#[derive(Debug, Clone)]
struct Column {
    name: String,
    ty: Type,
    /// Not in the SQLite schema (`feed_runs.reached`): written NULL, filled in after.
    pg_only: bool,
}

/// A value in the PostgreSQL column's type.
#[derive(Debug, Clone)]
enum Cell {
    Text(Option<String>),
    Int8(Option<i64>),
    Int4(Option<i32>),
    Bool(Option<bool>),
    Bytes(Option<Vec<u8>>),
    Time(Option<DateTime<Utc>>),
    Date(Option<NaiveDate>),
    Uuid(Option<uuid::Uuid>),
}

impl Cell {
    fn sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Cell::Text(v) => v,
            Cell::Int8(v) => v,
            Cell::Int4(v) => v,
            Cell::Bool(v) => v,
            Cell::Bytes(v) => v,
            Cell::Time(v) => v,
            Cell::Date(v) => v,
            Cell::Uuid(v) => v,
        }
    }

    /// The value as the content hash sees it: the same on both sides for the same value.
    fn canonical(&self, out: &mut Vec<u8>) {
        let text = match self {
            Cell::Text(v) => v.as_ref().map(|s| format!("s{s}")),
            Cell::Int8(v) => v.map(|n| format!("i{n}")),
            Cell::Int4(v) => v.map(|n| format!("i{n}")),
            Cell::Bool(v) => v.map(|b| format!("b{}", u8::from(b))),
            Cell::Bytes(v) => v.as_ref().map(|b| format!("x{}", hex::encode(b))),
            // PostgreSQL keeps microseconds.
            Cell::Time(v) => v.map(|t| format!("t{}", t.timestamp_micros())),
            Cell::Date(v) => v.map(|d| format!("d{d}")),
            Cell::Uuid(v) => v.map(|u| format!("u{u}")),
        };
        match text {
            Some(t) => {
                out.extend_from_slice(&(t.len() as u64).to_le_bytes());
                out.extend_from_slice(t.as_bytes());
            }
            None => out.extend_from_slice(&u64::MAX.to_le_bytes()),
        }
    }

    /// A SQLite value in `ty`.
    fn from_sqlite(ty: &Type, value: Value) -> Result<Cell, String> {
        let bad = |what: &str| Err(format!("{what} where the column holds {ty}"));
        Ok(match (ty, value) {
            (t, Value::Null) => Cell::null(t)?,
            (&Type::TEXT, Value::Text(s)) => Cell::Text(Some(s)),
            (&Type::INT8, Value::Integer(n)) => Cell::Int8(Some(n)),
            (&Type::INT4, Value::Integer(n)) => Cell::Int4(Some(
                i32::try_from(n).map_err(|_| format!("{n} is out of range"))?,
            )),
            (&Type::BOOL, Value::Integer(n @ (0 | 1))) => Cell::Bool(Some(n == 1)),
            (&Type::BOOL, Value::Integer(n)) => return Err(format!("{n} is not 0 or 1")),
            (&Type::BYTEA, Value::Blob(b)) => Cell::Bytes(Some(b)),
            (&Type::TIMESTAMPTZ, Value::Text(s)) => Cell::Time(Some(
                DateTime::parse_from_rfc3339(&s)
                    .map_err(|e| format!("{s:?} is not a time: {e}"))?
                    .with_timezone(&Utc),
            )),
            (&Type::DATE, Value::Text(s)) => Cell::Date(Some(
                NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                    .map_err(|e| format!("{s:?} is not a date: {e}"))?,
            )),
            (&Type::UUID, Value::Text(s)) => Cell::Uuid(Some(
                uuid::Uuid::parse_str(&s).map_err(|e| format!("{s:?} is not a UUID: {e}"))?,
            )),
            (_, Value::Integer(_)) => return bad("a number"),
            (_, Value::Real(_)) => return bad("a real number"),
            (_, Value::Text(_)) => return bad("text"),
            (_, Value::Blob(_)) => return bad("bytes"),
        })
    }

    fn null(ty: &Type) -> Result<Cell, String> {
        Ok(match *ty {
            Type::TEXT => Cell::Text(None),
            Type::INT8 => Cell::Int8(None),
            Type::INT4 => Cell::Int4(None),
            Type::BOOL => Cell::Bool(None),
            Type::BYTEA => Cell::Bytes(None),
            Type::TIMESTAMPTZ => Cell::Time(None),
            Type::DATE => Cell::Date(None),
            Type::UUID => Cell::Uuid(None),
            ref other => return Err(format!("the move does not know the type {other}")),
        })
    }

    fn from_row(ty: &Type, row: &tokio_postgres::Row, i: usize) -> Result<Cell, StoreError> {
        Ok(match *ty {
            Type::TEXT => Cell::Text(row.try_get(i)?),
            Type::INT8 => Cell::Int8(row.try_get(i)?),
            Type::INT4 => Cell::Int4(row.try_get(i)?),
            Type::BOOL => Cell::Bool(row.try_get(i)?),
            Type::BYTEA => Cell::Bytes(row.try_get(i)?),
            Type::TIMESTAMPTZ => Cell::Time(row.try_get(i)?),
            Type::DATE => Cell::Date(row.try_get(i)?),
            Type::UUID => Cell::Uuid(row.try_get(i)?),
            ref other => {
                return Err(StoreError::Invalid(format!(
                    "the move does not know the type {other}"
                )));
            }
        })
    }
}

/// The content hash of a table: the XOR of each row's SHA-256, so neither side needs to sort.
#[derive(Debug, Default)]
struct ContentHash {
    acc: [u8; 32],
    rows: u64,
}

impl ContentHash {
    fn add(&mut self, row: &[Cell]) {
        let mut bytes = Vec::with_capacity(256);
        for cell in row {
            cell.canonical(&mut bytes);
        }
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        for (a, d) in self.acc.iter_mut().zip(digest) {
            *a ^= d;
        }
        self.rows += 1;
    }

    fn hex(&self) -> String {
        hex::encode(self.acc)
    }
}

/// Moves the SQLite hub database at `db` into the empty PostgreSQL database at `to`, and checks
/// every table. The SQLite file is locked (no hub may serve it meanwhile) and left as it was.
pub async fn move_from_sqlite(
    db: &Path,
    to: &DatabaseUrl,
    now: DateTime<Utc>,
) -> Result<Vec<TableMoved>, StoreError> {
    // Opening takes the lock and brings the file to the current schema.
    let store = SqliteStore::open(db, now)?;
    let conn = Connection::open_with_flags(store.path(), OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| StoreError::Open {
            path: db.to_owned(),
            detail: e.to_string(),
        })?;
    let mut client = pool(to, 1)?.get().await?;
    migrate(&mut client).await?;
    let tables = tables(&client).await?;
    for (table, _) in &tables {
        let rows: i64 = client
            .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
            .await?
            .try_get(0)?;
        if rows > 0 {
            return Err(StoreError::Invalid(format!(
                "{to} is not empty (its table {table} has {rows} row(s)): move into a new, \
                 empty database"
            )));
        }
    }
    let lite_columns = sqlite_columns(&conn)?;
    let mut moved = Vec::with_capacity(tables.len());
    let mut copied = Vec::with_capacity(tables.len());
    let tx = client.transaction().await?;
    // Each link's friendship is copied as SQLite kept it, then checked in `finish`: schema 9's
    // triggers (a lookup and a lock a row) are off for this transaction alone, and a move
    // that fails leaves them on.
    tx.batch_execute(FRIENDSHIP_TRIGGERS_OFF).await?;
    for (table, mut columns) in tables {
        for c in &mut columns {
            c.pg_only = !lite_columns.contains(&(table.clone(), c.name.clone()));
        }
        let hash = copy_table(&conn, &tx, &table, &columns).await?;
        moved.push(TableMoved {
            table,
            rows: hash.rows,
            hash: hash.hex(),
        });
        copied.push(columns);
    }
    finish(&conn, &tx).await?;
    tx.batch_execute(FRIENDSHIP_TRIGGERS_ON).await?;
    // Checked inside the transaction: nothing lands unless every table matches.
    for (m, columns) in moved.iter().zip(&copied) {
        let (rows, hash) = read_back(&tx, &m.table, columns).await?;
        if rows != m.rows || hash != m.hash {
            return Err(StoreError::Corrupt {
                what: "moved table",
                detail: format!(
                    "{}: {} row(s) with hash {} read from SQLite, {rows} with hash {hash} in \
                     PostgreSQL; nothing was written",
                    m.table, m.rows, m.hash
                ),
            });
        }
    }
    tx.commit().await?;
    // The planner's statistics, as after any bulk load: without them it plans for the empty
    // tables the schema made until autovacuum gets round to each, and a sender's claim read
    // every waiting message to sort it (docs/benchmarks.md, "Messaging").
    // The move itself is done: a failure here is said, not the move's.
    if let Err(e) = client.batch_execute("ANALYZE").await {
        tracing::warn!(error = %e, "moved; the database's statistics were not made: run ANALYZE on it");
    }
    drop(store);
    Ok(moved)
}

/// Schema 9's triggers that keep each link's friendship, off and on again.
const FRIENDSHIP_TRIGGERS_OFF: &str = "
    ALTER TABLE line_users DISABLE TRIGGER line_users_following;
    ALTER TABLE line_friends DISABLE TRIGGER line_friends_following;";
const FRIENDSHIP_TRIGGERS_ON: &str = "
    ALTER TABLE line_users ENABLE TRIGGER line_users_following;
    ALTER TABLE line_friends ENABLE TRIGGER line_friends_following;";

/// The hub's tables in PostgreSQL, with their columns in order: all but the schema's version
/// and the counts of messages and members, which [`finish`] makes from the rows moved.
async fn tables(client: &Client) -> Result<Vec<(String, Vec<Column>)>, StoreError> {
    let rows = client
        .query(
            "SELECT c.table_name::text, c.column_name::text, a.atttypid
             FROM information_schema.columns c
             JOIN information_schema.tables t USING (table_schema, table_name)
             JOIN pg_attribute a ON a.attrelid = (quote_ident(c.table_name))::regclass
                                AND a.attname = c.column_name
             WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
               AND c.table_name NOT IN ('tenpo_schema', 'message_tallies', 'member_tallies')
             ORDER BY c.table_name, c.ordinal_position",
            &[],
        )
        .await?;
    let mut tables: Vec<(String, Vec<Column>)> = Vec::new();
    for row in rows {
        let table: String = row.try_get(0)?;
        let name: String = row.try_get(1)?;
        let oid: u32 = row.try_get(2)?;
        let ty = Type::from_oid(oid).ok_or_else(|| {
            StoreError::Invalid(format!("{table}.{name}: a type the move does not know"))
        })?;
        let column = Column {
            name,
            ty,
            pg_only: false,
        };
        match tables.last_mut() {
            Some((t, columns)) if *t == table => columns.push(column),
            _ => tables.push((table, vec![column])),
        }
    }
    // Parents before the tables that refer to them.
    let order = [
        "terminals",
        "events",
        "members",
        "member_codes",
        "member_aliases",
        "coupon_grants",
        "line_users",
        "member_profiles",
        "wishes",
        "notifications",
        "attributions",
        "staff",
        "staff_sessions",
    ];
    tables.sort_by_key(|(t, _)| order.iter().position(|o| o == t).unwrap_or(0));
    Ok(tables)
}

fn sqlite_columns(
    conn: &Connection,
) -> Result<std::collections::BTreeSet<(String, String)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
         WHERE m.type = 'table'",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Copies one table; answers the content hash of what it read.
async fn copy_table(
    conn: &Connection,
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    columns: &[Column],
) -> Result<ContentHash, StoreError> {
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let select: Vec<&str> = columns
        .iter()
        .map(|c| if c.pg_only { "NULL" } else { c.name.as_str() })
        .collect();
    let sink = tx
        .copy_in(&format!(
            "COPY {table} ({}) FROM STDIN (FORMAT binary)",
            names.join(", ")
        ))
        .await?;
    let types: Vec<Type> = columns.iter().map(|c| c.ty.clone()).collect();
    let writer = BinaryCopyInWriter::new(sink, &types);
    let mut writer = std::pin::pin!(writer);
    let mut stmt = conn.prepare(&format!("SELECT {} FROM {table}", select.join(", ")))?;
    let mut rows = stmt.query([])?;
    let mut hash = ContentHash::default();
    while let Some(row) = rows.next()? {
        let mut cells = Vec::with_capacity(columns.len());
        for (i, c) in columns.iter().enumerate() {
            let value: Value = row.get(i)?;
            let cell = Cell::from_sqlite(&c.ty, value).map_err(|why| StoreError::Corrupt {
                what: "value to move",
                detail: format!("{table}.{}: {why}", c.name),
            })?;
            cells.push(cell);
        }
        hash.add(&cells);
        let values: Vec<&(dyn ToSql + Sync)> = cells.iter().map(Cell::sql).collect();
        writer.as_mut().write(&values).await?;
    }
    writer.as_mut().finish().await?;
    Ok(hash)
}

/// What SQLite keeps outside its tables: where each identity and the change log had got, and
/// how far each run's cursors reach (on SQLite, to where the next run began); and the message
/// counts per state and the member count, made from the rows moved (schema 7: a copy queues no
/// message; schema 8's trigger counted the members' `COPY` in this process's row, replaced here
/// by one row that says the same).
async fn finish(conn: &Connection, tx: &tokio_postgres::Transaction<'_>) -> Result<(), StoreError> {
    tx.batch_execute(
        "INSERT INTO message_tallies (state, shard, n)
             SELECT state, 0, COUNT(*) FROM messages GROUP BY state;
         DELETE FROM member_tallies;
         INSERT INTO member_tallies (shard, n)
             SELECT 0, COUNT(*) FROM members HAVING COUNT(*) > 0;",
    )
    .await?;
    for (table, column) in [
        ("conflicts", "id"),
        ("discrepancies", "id"),
        ("signing_keys", "key_id"),
        ("feed_runs", "id"),
        ("held_events", "id"),
        ("messages", "id"),
        ("notifications", "id"),
        ("staff_actions", "id"),
    ] {
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'),
                               (SELECT COALESCE(MAX({column}), 0) + 1 FROM {table}), false)"
            ),
            &[],
        )
        .await?;
    }
    let log_end: i64 = conn
        .query_row(
            "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0)",
            [],
            |r| r.get(0),
        )
        .map_err(StoreError::from)?;
    tx.execute(
        "SELECT setval('changes_pos', GREATEST($1, (SELECT COALESCE(MAX(pos), 0) FROM changes), 1),
                       $1 > 0 OR EXISTS (SELECT 1 FROM changes))",
        &[&log_end],
    )
    .await?;
    tx.execute(
        "UPDATE feed_runs r SET reached = COALESCE(
             (SELECT n.started_after FROM feed_runs n WHERE n.id > r.id ORDER BY n.id LIMIT 1),
             $1)",
        &[&log_end],
    )
    .await?;
    // The links' friendships came as SQLite kept them, past schema 9's triggers: each must be
    // what `line_friends` says.
    let differ: i64 = tx
        .query_one(
            "SELECT COUNT(*) FROM line_users u LEFT JOIN line_friends f USING (line_user_id)
             WHERE u.following IS DISTINCT FROM f.following",
            &[],
        )
        .await?
        .try_get(0)?;
    if differ > 0 {
        return Err(StoreError::Corrupt {
            what: "moved links",
            detail: format!(
                "{differ} LINE link(s) in the SQLite hub whose friendship is not what its \
                 line_friends says; nothing was written"
            ),
        });
    }
    Ok(())
}

/// The rows and content hash of a table as PostgreSQL gives them back (its SQLite columns
/// only: a column PostgreSQL alone has is the move's, not the data's).
async fn read_back(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    columns: &[Column],
) -> Result<(u64, String), StoreError> {
    let select: Vec<&str> = columns
        .iter()
        .map(|c| if c.pg_only { "NULL" } else { c.name.as_str() })
        .collect();
    // Read through a portal, a page at a time: a table of millions of rows is never held.
    let portal = tx
        .bind(&format!("SELECT {} FROM {table}", select.join(", ")), &[])
        .await?;
    let mut hash = ContentHash::default();
    loop {
        let rows = tx.query_portal(&portal, READ_PAGE).await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let mut cells = Vec::with_capacity(columns.len());
            for (i, c) in columns.iter().enumerate() {
                cells.push(if c.pg_only {
                    Cell::null(&c.ty).map_err(StoreError::Invalid)?
                } else {
                    Cell::from_row(&c.ty, row, i)?
                });
            }
            hash.add(&cells);
        }
    }
    Ok((hash.rows, hash.hex()))
}
