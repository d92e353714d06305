//! `tenpo-hub catalog import`: a catalogue's first load from CSV files, sent to a running hub's
//! feed endpoints with the catalogue token, as the retailer's stock system would send it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde::Serialize;
use tenpo_hub::admin::client::FeedClient;
use tenpo_hub::catalog_import::{self, BadLine, Batch, CsvFile};
use tenpo_hub::config::{self, CATALOG_TOKEN_ENV, CATALOG_TOKEN_FILE_ENV};
use tenpo_protocol::catalog::{BatchReport, ItemsBatch, MAX_CATALOG_ROWS, StockBatch};

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Send items (and stock) from CSV files to the hub's catalogue feed. Importing the same
    /// files again changes nothing. Exit 1 when a line was not taken, after saying which.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The hub's base URL.
    #[arg(long, env = "TENPO_HUB_URL", default_value = "http://127.0.0.1:7400")]
    hub: String,
    /// A file holding the catalogue token (else $TENPO_HUB_CATALOG_TOKEN).
    #[arg(long, env = CATALOG_TOKEN_FILE_ENV)]
    token_file: Option<PathBuf>,
    /// Items: `sku,jan,name_ja,name_en,price_yen,image_url,url` (jan, name_en and the URLs may
    /// be empty or absent).
    #[arg(long)]
    items: PathBuf,
    /// Stock per store: `sku,store_id,quantity`; sent after the items.
    #[arg(long)]
    stock: Option<PathBuf>,
    /// Rows per batch (at most 10,000).
    #[arg(long, default_value_t = MAX_CATALOG_ROWS)]
    batch_size: usize,
    /// Print what each batch did as JSON (for scripts).
    #[arg(long)]
    json: bool,
}

/// A row the hub refused, by its line.
#[derive(Debug, Serialize)]
struct Refused {
    line: Option<u64>,
    sku: Option<String>,
    reason: String,
}

/// What the hub did with one batch.
#[derive(Debug, Serialize)]
struct Sent {
    file: String,
    batch_id: String,
    first_line: u64,
    last_line: u64,
    first_time: bool,
    applied: u64,
    unchanged: u64,
    stale: u64,
    notifications: u64,
    rejected: Vec<Refused>,
}

/// A line of a file not sent.
#[derive(Debug, Serialize)]
struct NotSent {
    file: String,
    #[serde(flatten)]
    line: BadLine,
}

#[derive(Debug, Default, Serialize)]
struct Import {
    not_sent: Vec<NotSent>,
    batches: Vec<Sent>,
}

impl Import {
    fn refused(&self) -> usize {
        self.not_sent.len() + self.batches.iter().map(|b| b.rejected.len()).sum::<usize>()
    }
}

fn token(args: &ImportArgs) -> Result<String> {
    if let Some(path) = &args.token_file {
        return Ok(config::read_catalog_token_file(path)?);
    }
    match std::env::var(CATALOG_TOKEN_ENV) {
        Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_owned()),
        _ => bail!(
            "no catalogue token: pass --token-file (the hub's catalog_token_file) or set \
             ${CATALOG_TOKEN_ENV}"
        ),
    }
}

fn read_file<T>(
    path: &Path,
    read: impl Fn(&[u8]) -> Result<CsvFile<T>, catalog_import::CatalogFileError>,
) -> Result<CsvFile<T>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    read(&bytes).with_context(|| path.display().to_string())
}

pub async fn run(command: CatalogCommand) -> Result<()> {
    let CatalogCommand::Import(args) = command;
    if !(1..=MAX_CATALOG_ROWS).contains(&args.batch_size) {
        bail!("--batch-size must be between 1 and {MAX_CATALOG_ROWS}");
    }
    // Both files are read before anything is sent: a file that is not CSV sends nothing.
    let items = read_file(&args.items, catalog_import::read_items)?;
    let stock = match &args.stock {
        Some(path) => Some((path, read_file(path, catalog_import::read_stock)?)),
        None => None,
    };
    let client = FeedClient::new(&args.hub, token(&args)?)?;
    let mut import = Import::default();
    let name = args.items.display().to_string();
    not_sent(&mut import, &name, &items.bad, args.json);
    for batch in catalog_import::batches("items", items, args.batch_size) {
        let request = ItemsBatch {
            batch_id: batch.batch_id.clone(),
            items: batch.rows.clone(),
        };
        let report = client
            .put_items(&request)
            .await
            .with_context(|| sending(&name, &batch))?;
        sent(&mut import, &name, &batch, report, args.json);
    }
    if let Some((path, stock)) = stock {
        let name = path.display().to_string();
        not_sent(&mut import, &name, &stock.bad, args.json);
        for batch in catalog_import::batches("stock", stock, args.batch_size) {
            let request = StockBatch {
                batch_id: batch.batch_id.clone(),
                stock: batch.rows.clone(),
            };
            let report = client
                .put_stock(&request)
                .await
                .with_context(|| sending(&name, &batch))?;
            sent(&mut import, &name, &batch, report, args.json);
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&import)?);
    }
    match import.refused() {
        0 => Ok(()),
        n => bail!(
            "{n} line(s) were not taken: fix them and import the files again (lines taken \
             already come back unchanged)"
        ),
    }
}

fn sending<T>(file: &str, batch: &Batch<T>) -> String {
    format!(
        "sending {file} lines {} to {} (batch {}): batches before it were taken; run the \
         import again to send the rest (what was taken comes back unchanged)",
        batch.lines.first().unwrap_or(&0),
        batch.lines.last().unwrap_or(&0),
        batch.batch_id
    )
}

fn not_sent(import: &mut Import, file: &str, bad: &[BadLine], json: bool) {
    for b in bad {
        if !json {
            println!("{file} line {}: not sent — {}", b.line, b.reason);
        }
        import.not_sent.push(NotSent {
            file: file.to_owned(),
            line: b.clone(),
        });
    }
}

fn sent<T>(import: &mut Import, file: &str, batch: &Batch<T>, report: BatchReport, json: bool) {
    let rejected: Vec<Refused> = report
        .rejected
        .into_iter()
        .map(|r| Refused {
            line: batch.line_of(r.index),
            sku: r.sku,
            reason: r.reason,
        })
        .collect();
    let s = Sent {
        file: file.to_owned(),
        batch_id: report.batch_id,
        first_line: batch.lines.first().copied().unwrap_or(0),
        last_line: batch.lines.last().copied().unwrap_or(0),
        first_time: report.first_time,
        applied: report.applied,
        unchanged: report.unchanged,
        stale: report.stale,
        notifications: report.notifications,
        rejected,
    };
    if !json {
        let again = if s.first_time {
            ""
        } else {
            " (sent before: the hub's first answer, nothing changed now)"
        };
        let lines = if s.first_line == s.last_line {
            format!("line {}", s.first_line)
        } else {
            format!("lines {}-{}", s.first_line, s.last_line)
        };
        println!(
            "{} {lines}: {} applied, {} unchanged, {} stale, {} rejected, {} notification(s){again}",
            s.file,
            s.applied,
            s.unchanged,
            s.stale,
            s.rejected.len(),
            s.notifications
        );
        for r in &s.rejected {
            let line = r.line.map_or_else(|| "?".to_owned(), |l| l.to_string());
            println!(
                "{} line {line}: {} — {}",
                s.file,
                r.sku.as_deref().unwrap_or("-"),
                r.reason
            );
        }
    }
    import.batches.push(s);
}
