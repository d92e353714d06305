//! The admin commands: each calls a running hub's admin API and prints what it did.

pub mod catalog;
pub mod report;
pub mod staff;

use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use tenpo_hub::admin::client::AdminClient;
use tenpo_hub::admin::{CouponRequest, MAX_IMPORT_ROWS, RowRejection};
use tenpo_hub::config::{self, ADMIN_TOKEN_ENV};
use tenpo_loyalty::CouponBenefit;

use crate::HubArgs;

fn client(hub: &HubArgs) -> Result<AdminClient> {
    let token = match &hub.admin_token_file {
        Some(path) => config::read_token_file(path)?,
        None => match std::env::var(ADMIN_TOKEN_ENV) {
            Ok(t) if !t.trim().is_empty() => t.trim().to_owned(),
            _ => bail!(
                "no admin token: set ${ADMIN_TOKEN_ENV} or pass --admin-token-file (a hub that \
                 made its own token keeps it in <data-dir>/{})",
                config::ADMIN_TOKEN_FILE
            ),
        },
    };
    Ok(AdminClient::new(&hub.hub, token)?)
}

pub async fn enroll_code(
    hub: &HubArgs,
    store: &str,
    terminal: Option<&str>,
    valid_hours: Option<u32>,
    json: bool,
) -> Result<()> {
    let made = client(hub)?
        .enrollment_code_for(store, terminal, valid_hours)
        .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&made)?);
        return Ok(());
    }
    println!("enrolment code for store {}: {}", made.store_id, made.code);
    println!("valid once, until {}", made.expires_at.to_rfc3339());
    match &made.terminal_id {
        Some(terminal) => println!(
            "on terminal {terminal}: tenpo-agent enroll --force --hub {} --code {} \
             (new credentials, the same terminal: it sends again what this hub lacks)",
            hub.hub, made.code
        ),
        None => println!(
            "on the terminal: tenpo-agent enroll --hub {} --code {}",
            hub.hub, made.code
        ),
    }
    Ok(())
}

pub async fn load_rules(hub: &HubArgs, file: &Path, json: bool) -> Result<()> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the rule set {}", file.display()))?;
    let loaded = client(hub)?
        .load_rules(text)
        .await
        .with_context(|| format!("loading {}", file.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&loaded)?);
        return Ok(());
    }
    println!(
        "rule set {:?} version {} loaded: terminals get it from the change feed",
        loaded.name, loaded.version
    );
    Ok(())
}

pub async fn import_members(
    hub: &HubArgs,
    file: &Path,
    batch_size: usize,
    json: bool,
) -> Result<()> {
    if !(1..=MAX_IMPORT_ROWS).contains(&batch_size) {
        bail!("--batch-size must be between 1 and {MAX_IMPORT_ROWS}");
    }
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let parsed = tenpo_hub::import::read(&bytes).with_context(|| format!("{}", file.display()))?;
    let client = client(hub)?;
    let total = parsed.rows.len() as u64;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} rows  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut rejected: Vec<RowRejection> = parsed.rejected;
    let mut imported = 0u64;
    let mut rows = parsed.rows;
    while !rows.is_empty() {
        let rest = rows.split_off(batch_size.min(rows.len()));
        let batch = std::mem::replace(&mut rows, rest);
        let (first, n) = (batch.first().map_or(0, |r| r.line), batch.len() as u64);
        let report = client.import_members(batch).await.with_context(|| {
            format!(
                "importing the batch from line {first}: {imported} rows were imported before \
                 it; run again to continue (rows already imported are reported as duplicates)"
            )
        })?;
        imported += report.imported;
        rejected.extend(report.rejected);
        bar.inc(n);
    }
    bar.finish_and_clear();
    rejected.sort_by_key(|r| r.line);
    if json {
        let report = serde_json::json!({ "imported": imported, "rejected": rejected });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{imported} members imported, {} rows rejected",
            rejected.len()
        );
        for r in &rejected {
            println!("line {}: {} — {}", r.line, r.card_code, r.reason);
        }
    }
    if !rejected.is_empty() {
        bail!(
            "{} rows were not imported: fix them and import the file again (rows already \
             imported come back as duplicates)",
            rejected.len()
        );
    }
    Ok(())
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("who").required(true).multiple(true).args(["card", "member", "birthday_month"]))]
#[command(group = clap::ArgGroup::new("what").required(true).args(["value_yen", "points"]))]
pub struct CouponArgs {
    #[command(flatten)]
    hub: HubArgs,
    /// A member's card code or member number (repeat for several): what staff have in hand.
    #[arg(long = "card")]
    card: Vec<String>,
    /// A member id (repeat for several).
    #[arg(long = "member")]
    member: Vec<String>,
    /// Every member whose birthday is in this month (1-12).
    #[arg(long)]
    birthday_month: Option<u32>,
    /// Yen off a sale.
    #[arg(long)]
    value_yen: Option<i64>,
    /// Bonus points added to a sale's earning.
    #[arg(long)]
    points: Option<i64>,
    /// Valid from today for this many days.
    #[arg(long)]
    valid_days: u32,
    /// The coupon id (issuing the same id again gives nobody a second one) [default:
    /// the same opaque id for a month's birthday coupons, else a new id].
    #[arg(long)]
    id: Option<String>,
    /// Print the report as JSON (for scripts).
    #[arg(long)]
    json: bool,
}

pub async fn issue_coupon(args: &CouponArgs) -> Result<()> {
    let benefit = match (args.value_yen, args.points) {
        (Some(value_yen), None) => CouponBenefit::Discount { value_yen },
        (None, Some(points)) => CouponBenefit::PointsBonus { points },
        _ => bail!("give either --value-yen or --points"),
    };
    let report = client(&args.hub)?
        .issue_coupons(&CouponRequest {
            coupon_id: args.id.clone(),
            member_ids: args.member.clone(),
            card_codes: args.card.clone(),
            birthday_month: args.birthday_month,
            benefit,
            valid_days: args.valid_days,
        })
        .await?;
    let unknown = report.unknown_members.len() + report.unknown_cards.len();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_coupon_report(&report);
    }
    if unknown > 0 {
        bail!("{unknown} of the members named are unknown: nothing was issued to them");
    }
    Ok(())
}

fn print_coupon_report(report: &tenpo_hub::admin::CouponReport) {
    println!(
        "coupon {} (valid {} to {}): issued to {} members, {} already had it",
        report.coupon_id,
        report.valid_from,
        report.valid_until,
        report.issued,
        report.already_issued
    );
    for id in &report.unknown_members {
        println!("unknown member: {id}");
    }
    for code in &report.unknown_cards {
        println!("no member has the card: {code}");
    }
}

pub async fn revoke_code(hub: &HubArgs, code: &str, json: bool) -> Result<()> {
    let revoked = client(hub)?.revoke_code(code).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&revoked)?);
        return Ok(());
    }
    match revoked.member_id {
        Some(m) => println!("code {} revoked (it named member {m})", revoked.code),
        None => println!("code {} revoked (it named no member)", revoked.code),
    }
    Ok(())
}

/// Every row of a listing read page by page (`after` the last row's id), in order.
async fn every_page<T, F, Fut>(mut page: F, id: impl Fn(&T) -> i64) -> Result<Vec<T>>
where
    F: FnMut(i64) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, tenpo_hub::admin::client::ClientError>>,
{
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let rows = page(after).await?;
        let Some(last) = rows.last() else {
            return Ok(all);
        };
        after = id(last);
        all.extend(rows);
    }
}

pub async fn conflicts(hub: &HubArgs, json: bool) -> Result<()> {
    let client = client(hub)?;
    let all = every_page(|after| client.conflicts(after, 1000), |row| row.id).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    println!("{} conflicts", all.len());
    for c in &all {
        println!(
            "#{} {} terminal {} seq {} event {} (by {})",
            c.id,
            c.detected_at,
            c.terminal_id,
            c.seq,
            c.event_id.as_deref().unwrap_or("-"),
            c.kind
        );
    }
    Ok(())
}

pub async fn discrepancies(hub: &HubArgs, json: bool) -> Result<()> {
    let client = client(hub)?;
    let all = every_page(|after| client.discrepancies(after, 1000), |row| row.id).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    println!("{} discrepancies", all.len());
    for d in &all {
        println!(
            "#{} {} [{}] terminal {} seq {} sale {} member {} rules v{}: {}",
            d.id,
            d.detected_at,
            d.class,
            d.terminal_id,
            d.seq,
            d.sale_id,
            d.member_id,
            d.rules_version,
            d.detail
        );
    }
    Ok(())
}

/// `tenpo-hub held`: till outcomes held for review.
pub async fn held(hub: &HubArgs, open: bool, json: bool) -> Result<()> {
    let client = client(hub)?;
    let all = every_page(|after| client.held(after, 1000, open), |row| row.id).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    println!("{} held for review", all.len());
    for h in &all {
        println!(
            "#{} {} terminal {} seq {} sale {} member {}: {} [{}]",
            h.id,
            h.held_at,
            h.terminal_id,
            h.seq,
            h.sale_id,
            h.member_id,
            h.reason,
            h.resolution.as_deref().unwrap_or("waiting")
        );
    }
    Ok(())
}

/// `tenpo-hub held-decide`: release or dismiss one held outcome.
pub async fn held_decide(
    hub: &HubArgs,
    terminal: &str,
    seq: u64,
    action: tenpo_hub::admin::HeldAction,
    reason: String,
    json: bool,
) -> Result<()> {
    let view = client(hub)?
        .resolve_held(
            terminal,
            seq,
            &tenpo_hub::admin::ResolveHeldRequest { action, reason },
        )
        .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        println!(
            "terminal {} seq {} (sale {}): {}",
            view.terminal_id,
            view.seq,
            view.sale_id,
            view.resolution.as_deref().unwrap_or("waiting")
        );
    }
    Ok(())
}

/// `tenpo-hub events --terminal T`: a terminal's events as the hub holds them.
/// `tenpo-hub terminals`: every enrolled terminal, one line each.
pub async fn preview_message(
    hub: &HubArgs,
    scenario: &str,
    member: &str,
    json: bool,
) -> Result<()> {
    let preview = client(hub)?.preview_message(member, scenario).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&preview)?);
        return Ok(());
    }
    println!(
        "{} ({}, in {}):",
        preview.scenario, preview.class, preview.language
    );
    for m in &preview.messages {
        // A text message's text, or a Flex bubble's texts and its button.
        let mut lines = Vec::new();
        if let Some(t) = m["text"].as_str() {
            lines.push(t.to_owned());
        }
        for part in m["contents"]["body"]["contents"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(t) = part["text"].as_str() {
                lines.push(t.to_owned());
            }
        }
        for b in m["contents"]["footer"]["contents"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let a = &b["action"];
            if let (Some(label), Some(uri)) = (a["label"].as_str(), a["uri"].as_str()) {
                lines.push(format!("[{label}] → {uri}"));
            }
        }
        for l in lines {
            println!("  {l}");
        }
    }
    Ok(())
}

pub async fn terminals(hub: &HubArgs, json: bool) -> Result<()> {
    let all = client(hub)?.all_terminals().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    println!("{} terminals", all.len());
    for t in &all {
        println!(
            "{} store {}: {} events held, applied through seq {}, last event {} (enrolled {})",
            t.terminal_id,
            t.store_id,
            t.events_held,
            t.acked_through,
            t.last_received_at.as_deref().unwrap_or("never"),
            t.enrolled_at
        );
    }
    Ok(())
}

pub async fn events(hub: &HubArgs, terminal: &str, after: u64, json: bool) -> Result<()> {
    let client = client(hub)?;
    let mut after = after;
    let mut all: Option<tenpo_hub::admin::TerminalEvents> = None;
    loop {
        let page = client.terminal_events(terminal, after, 1000).await?;
        let Some(last) = page.events.last().map(|e| e.seq) else {
            all.get_or_insert(page);
            break;
        };
        after = last;
        match &mut all {
            Some(all) => all.events.extend(page.events),
            None => all = Some(page),
        }
    }
    let Some(all) = all else { return Ok(()) };
    if json {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    println!(
        "terminal {} (store {}): {} events held, all through seq {}",
        all.terminal_id,
        all.store_id,
        all.events.len(),
        all.acked_through
    );
    for e in &all.events {
        print_event(e);
    }
    Ok(())
}

/// `tenpo-hub sale --terminal T SALE_ID`: did the sale arrive, and what was applied.
pub async fn sale(hub: &HubArgs, terminal: &str, sale_id: &str, json: bool) -> Result<()> {
    let found = client(hub)?.terminal_sale(terminal, sale_id).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&found)?);
        return Ok(());
    }
    println!(
        "sale {sale_id} of terminal {}: {} event(s)",
        found.terminal_id,
        found.events.len()
    );
    for e in &found.events {
        print_event(e);
    }
    Ok(())
}

fn print_event(e: &tenpo_hub::admin::EventAudit) {
    let mut notes = Vec::new();
    notes.push(if e.applied { "applied" } else { "not applied" }.to_owned());
    if let Some(h) = &e.held {
        notes.push(format!("held for review: {h}"));
    }
    if !e.discrepancies.is_empty() {
        notes.push(format!("discrepancy: {}", e.discrepancies.join(", ")));
    }
    if let Some(r) = &e.reason {
        notes.push(r.clone());
    }
    println!(
        "seq {} {} {} ({}) hash {}… {}",
        e.seq,
        e.kind.as_deref().unwrap_or("?"),
        e.status,
        notes.join("; "),
        &e.content_hash.get(..12).unwrap_or(&e.content_hash),
        e.received_at
    );
}
