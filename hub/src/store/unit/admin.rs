//! Enrolment of terminals and loading rule sets (docs/design.md §2, §6), for both backends,
//! and the statements of every admin operation ([`AdminStatements`]; the CRM's decisions over
//! them are `cards`, `coupons` and `review`).

use chrono::{DateTime, Utc};
use tenpo_loyalty::RuleSet;

use super::Statements;
use crate::admin::HeldView;
use crate::secrets;
use crate::store::{Enrolled, StoreError};

/// An enrolment code as stored (by its hash).
#[derive(Debug, Clone)]
pub(crate) struct CodeRow {
    pub store_id: String,
    pub expires_at: DateTime<Utc>,
    pub used: bool,
    /// The terminal the code is for, when the administrator named one.
    pub for_terminal: Option<String>,
}

/// A terminal's new credentials.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewTerminal<'a> {
    pub terminal_id: &'a str,
    pub store_id: &'a str,
    pub name: Option<&'a str>,
    pub secret_hash: &'a [u8; 32],
}

/// The statements of the admin operations: enrolment, rule sets, coupons, revocation and the
/// decisions on held outcomes.
pub(crate) trait AdminStatements: Statements {
    async fn enrollment_code(&mut self, hash: &[u8; 32]) -> Result<Option<CodeRow>, StoreError>;

    async fn insert_enrollment_code(
        &mut self,
        hash: &[u8; 32],
        store_id: &str,
        for_terminal: Option<&str>,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Marks a code used by `terminal_id`.
    async fn use_code(
        &mut self,
        hash: &[u8; 32],
        terminal_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The store a terminal belongs to, if the hub knows it.
    async fn terminal_store(&mut self, terminal_id: &str) -> Result<Option<String>, StoreError>;

    async fn insert_terminal(
        &mut self,
        terminal: NewTerminal<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// New credentials for a known terminal; its seq and mark stay.
    async fn renew_terminal(
        &mut self,
        terminal: NewTerminal<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    async fn newest_rules_version(&mut self) -> Result<Option<u32>, StoreError>;

    async fn insert_rules(&mut self, rules: &RuleSet, now: DateTime<Utc>)
    -> Result<(), StoreError>;

    /// Every member whose birthday is in `month` (1 to 12), with their home store.
    async fn birthday_members(
        &mut self,
        month: u32,
    ) -> Result<Vec<(String, Option<String>)>, StoreError>;

    /// Records that `member_id` was given `coupon_id`, unless they were before (whichever hub
    /// gave it); answers whether it is new.
    async fn grant_coupon(
        &mut self,
        coupon_id: &str,
        member_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// The card code names nobody any more, and is kept as revoked (the first revocation, with
    /// the member it named then, stays).
    async fn revoke(
        &mut self,
        code: &str,
        owner: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The outcome held for the terminal's event `seq`, if one is; held against other
    /// decisions on it until the transaction ends.
    async fn held_event(
        &mut self,
        terminal_id: &str,
        seq: u64,
    ) -> Result<Option<HeldView>, StoreError>;

    /// Records a person's decision (`released` or `dismissed`) on a held outcome.
    async fn decide_held(
        &mut self,
        terminal_id: &str,
        seq: u64,
        resolution: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// Uses a one-time enrolment code: a new terminal of the code's store with a new secret.
pub(crate) async fn enroll(
    db: &mut impl AdminStatements,
    code: &str,
    terminal_name: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Enrolled, StoreError> {
    let hash = secrets::sha256(secrets::normalize_enrollment_code(code).as_bytes());
    let Some(row) = db.enrollment_code(&hash).await? else {
        return Err(StoreError::EnrollmentCode(
            "is unknown (check for typing mistakes)",
        ));
    };
    if row.used {
        return Err(StoreError::EnrollmentCode(
            "was already used: codes work once",
        ));
    }
    if row.expires_at <= now {
        return Err(StoreError::EnrollmentCode("has expired"));
    }
    let secret = secrets::new_secret()?;
    let secret_hash = secrets::sha256(secret.as_bytes());
    let existing = match &row.for_terminal {
        Some(id) => db.terminal_store(id).await?,
        None => None,
    };
    let terminal_id = match (row.for_terminal, existing) {
        // Known: new credentials, the same terminal (its seq and acknowledgement mark stay).
        (Some(id), Some(store)) => {
            if store != row.store_id {
                return Err(StoreError::EnrollmentCode(
                    "is for a terminal of another store: ask for a new code",
                ));
            }
            let terminal = NewTerminal {
                terminal_id: &id,
                store_id: &row.store_id,
                name: terminal_name,
                secret_hash: &secret_hash,
            };
            db.renew_terminal(terminal, now).await?;
            tracing::info!(terminal_id = %id, "terminal enrolled again: new credentials");
            id
        }
        // Unknown here (a hub restored from a backup older than it): made again under its id,
        // so the terminal's events, sent again from seq 1, stay its own.
        (Some(id), None) => id,
        (None, _) => new_terminal_id(db).await?,
    };
    if db.terminal_store(&terminal_id).await?.is_none() {
        let terminal = NewTerminal {
            terminal_id: &terminal_id,
            store_id: &row.store_id,
            name: terminal_name,
            secret_hash: &secret_hash,
        };
        db.insert_terminal(terminal, now).await?;
    }
    db.use_code(&hash, &terminal_id, now).await?;
    Ok(Enrolled {
        store_id: row.store_id,
        terminal_id,
        secret,
    })
}

/// A terminal id no terminal has had here: `t` and 10 random hex digits. Random rather than
/// counted, so that a hub restored from a backup never hands out again the id of a terminal
/// enrolled after the backup (whose agent still holds it).
async fn new_terminal_id(db: &mut impl AdminStatements) -> Result<String, StoreError> {
    loop {
        let id = format!("t{}", &hex::encode(secrets::random_bytes::<5>()?));
        if db.terminal_store(&id).await?.is_none() {
            return Ok(id);
        }
    }
}

/// A new one-time enrolment code for `store_id` (and, with `for_terminal`, that terminal).
pub(crate) async fn create_enrollment_code(
    db: &mut impl AdminStatements,
    store_id: &str,
    for_terminal: Option<&str>,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    if let Some(terminal_id) = for_terminal
        && let Some(store) = db.terminal_store(terminal_id).await?
        && store != store_id
    {
        return Err(StoreError::Invalid(format!(
            "terminal {terminal_id} belongs to store {store}, not {store_id}"
        )));
    }
    let code = secrets::new_enrollment_code()?;
    let hash = secrets::sha256(secrets::normalize_enrollment_code(&code).as_bytes());
    db.insert_enrollment_code(&hash, store_id, for_terminal, expires_at, now)
        .await?;
    Ok(code)
}

/// Adds a rule set as the newest version.
pub(crate) async fn load_rules(
    db: &mut impl AdminStatements,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    rules
        .validate()
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    if let Some(latest) = db.newest_rules_version().await?
        && rules.version <= latest
    {
        return Err(StoreError::RulesVersion {
            version: rules.version,
            latest,
        });
    }
    db.insert_rules(rules, now).await?;
    db.log_change("rule_set", "current").await?;
    tracing::info!(version = rules.version, name = %rules.name, "rule set loaded");
    Ok(())
}
