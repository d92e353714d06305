//! A member's own data, for both backends (docs/design.md §7): everything the hub holds about
//! them handed over, and erased on request.
//!
//! [`HOLDINGS`] is the one list of every table that names a member or their LINE account, and
//! what erasure does with each: delete or scrub the personal data, or keep what accounting and
//! the audit need under an id that no longer leads to a person. The export reads every table on
//! the list; a test (`hub/tests/store_conformance_privacy.rs`) fails when a table that names a
//! member is missing from it.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use tenpo_loyalty::{Date, RuleSet};

use super::console::ConsoleStatements;
use super::members::Touched;
use crate::store::console::Actor;
use crate::store::outbox::NewMessage;
use crate::store::{StoreError, to_json};

/// Which of the member's keys a table names them by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// `member_id`.
    Member,
    /// `line_user_id`, the member's linked LINE account.
    LineUser,
}

/// What erasure does with a table's rows for the member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Erase {
    /// This statement (`$1`: the key) removes or scrubs the personal data.
    Sql(&'static str),
    /// Kept, anonymous, for this reason; erasure handles the table through the code named.
    Keep(&'static str),
}

/// A table holding rows about a member.
#[derive(Debug, Clone, Copy)]
pub struct Holding {
    pub table: &'static str,
    pub column: &'static str,
    pub key: Key,
    pub erase: Erase,
}

const fn holding(table: &'static str, key: Key, erase: Erase) -> Holding {
    Holding {
        table,
        column: match key {
            Key::Member => "member_id",
            Key::LineUser => "line_user_id",
        },
        key,
        erase,
    }
}

/// Every table that names a member or their LINE account (docs/design.md §7).
pub const HOLDINGS: &[Holding] = &[
    holding(
        "members",
        Key::Member,
        Erase::Sql("UPDATE members SET birthday = NULL WHERE member_id = $1"),
    ),
    holding(
        "member_profiles",
        Key::Member,
        Erase::Sql("DELETE FROM member_profiles WHERE member_id = $1"),
    ),
    holding(
        "line_users",
        Key::Member,
        Erase::Sql("DELETE FROM line_users WHERE member_id = $1"),
    ),
    // Who follows the official account is LINE's to say, member or not: the row names no
    // member once the link is gone, and the rich menu's goodbye is sent by it.
    holding(
        "line_friends",
        Key::LineUser,
        Erase::Keep("the official account's friends, members or not; no member named"),
    ),
    // The signup id stays (each is used once); who signed up, and with which card, goes.
    holding(
        "signups",
        Key::Member,
        Erase::Sql("UPDATE signups SET line_user_id = '', card_code = NULL WHERE member_id = $1"),
    ),
    // Nothing waiting is sent; what was sent keeps its scenario and time for the reports, not
    // its text or its addressee. A row a sender holds now is let go as expired.
    holding(
        "messages",
        Key::Member,
        Erase::Sql(
            "UPDATE messages SET
                 state = CASE WHEN state = 'pending' THEN 'expired' ELSE state END,
                 last_error = CASE WHEN state = 'pending'
                     THEN 'the member erased their account' ELSE last_error END,
                 expires_at_ms = CASE WHEN state = 'sending' THEN 0 ELSE expires_at_ms END,
                 lease_until_ms = CASE WHEN state = 'pending' THEN NULL ELSE lease_until_ms END,
                 body = CASE WHEN state = 'sending' THEN body ELSE '{}' END,
                 line_user_id = CASE WHEN state = 'sending' THEN line_user_id ELSE '' END
             WHERE member_id = $1",
        ),
    ),
    holding(
        "wishes",
        Key::Member,
        Erase::Sql("DELETE FROM wishes WHERE member_id = $1"),
    ),
    // What wishes brought in stays measured (docs/design.md §11); an email not yet sent is not.
    holding(
        "notifications",
        Key::Member,
        Erase::Sql(
            "UPDATE notifications SET email_state = 'unreachable',
                 last_error = 'the member erased their account'
             WHERE member_id = $1 AND email_state = 'pending'",
        ),
    ),
    holding(
        "member_codes",
        Key::Member,
        Erase::Keep("every code is revoked: terminals refuse it, the feed tells them"),
    ),
    holding(
        "revoked_codes",
        Key::Member,
        Erase::Keep("a revoked code is never given to anyone again"),
    ),
    holding(
        "member_aliases",
        Key::Member,
        Erase::Keep("a till's provisional id still leads to the anonymous member"),
    ),
    holding(
        "coupon_grants",
        Key::Member,
        Erase::Keep("accounting: which coupons were given"),
    ),
    holding(
        "events",
        Key::Member,
        Erase::Keep("the ledger: sales and points keep their yen under the anonymous id"),
    ),
    holding(
        "held_events",
        Key::Member,
        Erase::Keep("the ledger: an outcome held for review"),
    ),
    holding(
        "discrepancies",
        Key::Member,
        Erase::Keep("the ledger: a till's outcome against the hub's"),
    ),
    holding(
        "staff_actions",
        Key::Member,
        Erase::Keep("the audit log of what staff did, the erasure included"),
    ),
];

/// The statements the export and erasure add to the console's.
pub(crate) trait PrivacyStatements: ConsoleStatements {
    /// Every row of `table` whose `column` is `key`, as JSON objects (column name → value).
    /// `table` and `column` come from [`HOLDINGS`], never from input.
    async fn rows_where(
        &mut self,
        table: &str,
        column: &str,
        key: &str,
    ) -> Result<Vec<Value>, StoreError>;

    /// Runs one of [`HOLDINGS`]' statements; answers the rows it wrote.
    async fn erase_rows(&mut self, sql: &str, key: &str) -> Result<u64, StoreError>;

    /// `None`: no such member; `Some(None)`: not erased; else when.
    async fn erased_at(&mut self, member_id: &str) -> Result<Option<Option<String>>, StoreError>;

    async fn mark_erased(&mut self, member_id: &str, now: DateTime<Utc>) -> Result<(), StoreError>;
}

/// A text column's value in an export: an object or array kept as text (a payload, a snapshot)
/// is given as JSON; every other text as the string it is (a number's digits stay digits).
pub(crate) fn text_value(text: String) -> Value {
    if text.starts_with('{') || text.starts_with('[') {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    } else {
        Value::String(text)
    }
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound(format!("no member has the id {id}"))
}

/// The member's id (a merged provisional id leads to its member) and their LINE account.
async fn whose(
    db: &mut impl PrivacyStatements,
    member_id: &str,
) -> Result<(String, Option<String>), StoreError> {
    let real = db
        .resolve(member_id)
        .await?
        .ok_or_else(|| not_found(member_id))?;
    let line_user = db.line_user_of_member(&real).await?;
    Ok((real, line_user))
}

/// Everything the hub holds about a member, table by table (docs/design.md §7). Handed over
/// by a person, it is in the audit log (after it is read: the export does not show itself).
pub(crate) async fn export(
    db: &mut impl PrivacyStatements,
    member_id: &str,
    actor: Option<&Actor>,
    now: DateTime<Utc>,
) -> Result<Value, StoreError> {
    let (real, line_user) = whose(db, member_id).await?;
    let erased_at = db
        .erased_at(&real)
        .await?
        .ok_or_else(|| not_found(member_id))?;
    let mut tables = Map::new();
    for h in HOLDINGS {
        let key = match h.key {
            Key::Member => Some(real.as_str()),
            Key::LineUser => line_user.as_deref(),
        };
        let rows = match key {
            Some(key) => db.rows_where(h.table, h.column, key).await?,
            None => Vec::new(),
        };
        tables.insert(h.table.to_owned(), Value::Array(rows));
    }
    if let Some(actor) = actor {
        db.record_action(actor, "export_member", Some(&real), "{}", now)
            .await?;
    }
    Ok(json!({
        "member_id": real,
        "exported_at": now,
        "erased_at": erased_at,
        "line_user_id": line_user,
        "tables": tables,
    }))
}

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    pub member_id: String,
    /// The member was erased before: nothing was done this time.
    pub already: bool,
    /// Points the member held, forfeited as the program's terms say.
    pub forfeited_points: i64,
    pub codes_revoked: Vec<String>,
    pub line_unlinked: bool,
}

/// Erases a member's personal data (docs/design.md §7), in one transaction: the LINE link
/// (with `goodbye`, the rich menu's unlink), every card code (revoked; terminals drop the
/// member and refuse the codes through the feed), and each table's personal data as
/// [`HOLDINGS`] says. The balance is forfeited when `forfeit` (an adjustment in the audit log).
/// Erasing a member erased before changes nothing.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn erase(
    db: &mut impl PrivacyStatements,
    rules: &RuleSet,
    member_id: &str,
    goodbye: Option<&NewMessage>,
    forfeit: bool,
    actor: &Actor,
    today: Date,
    now: DateTime<Utc>,
) -> Result<Erasure, StoreError> {
    let (real, line_user) = whose(db, member_id).await?;
    let erased = db
        .erased_at(&real)
        .await?
        .ok_or_else(|| not_found(member_id))?;
    if erased.is_some() {
        return Ok(Erasure {
            member_id: real,
            already: true,
            forfeited_points: 0,
            codes_revoked: Vec::new(),
            line_unlinked: false,
        });
    }
    let mut touched = Touched::default();
    let member = touched
        .get(db, &real)
        .await?
        .ok_or_else(|| not_found(member_id))?;
    let balance = member.state.balance(today);
    let forfeited_points = if forfeit && balance > 0 {
        let lot_id = format!("erase-{}", uuid::Uuid::now_v7());
        member
            .state
            .adjust_points(rules, -balance, &lot_id, today)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        balance
    } else {
        0
    };
    let codes_revoked = std::mem::take(&mut member.codes);
    for code in &codes_revoked {
        db.revoke(code, Some(&real), now).await?;
    }
    touched.flush(db, now).await?;
    for code in &codes_revoked {
        db.log_change("code_revoked", code).await?;
    }
    if let Some(line_user) = &line_user {
        super::line::unlink(db, line_user, goodbye, now).await?;
    }
    for h in HOLDINGS {
        if let (Erase::Sql(sql), Key::Member) = (h.erase, h.key) {
            db.erase_rows(sql, &real).await?;
        }
    }
    db.mark_erased(&real, now).await?;
    db.log_change("member", &real).await?;
    let detail = json!({
        "forfeited_points": forfeited_points,
        "codes_revoked": codes_revoked,
        "line_unlinked": line_user.is_some(),
        "business_date": today,
    });
    db.record_action(actor, "erase_member", Some(&real), &to_json(&detail)?, now)
        .await?;
    tracing::info!(member = %real, staff = %actor.staff, "member's personal data erased");
    Ok(Erasure {
        member_id: real,
        already: false,
        forfeited_points,
        codes_revoked,
        line_unlinked: line_user.is_some(),
    })
}
