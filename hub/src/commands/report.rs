//! `tenpo-hub report …`: the admin API's reports, for a person (a table) or a program (CSV,
//! JSON).

use anyhow::Result;
use clap::{Subcommand, ValueEnum};
use tenpo_hub::wishes::report;

use crate::HubArgs;

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// What wish notifications brought in, per week (Monday to Sunday in the hub's time zone),
    /// kind and channel: sent, delivered, clicked, bought, yen and bought / delivered.
    Notifications {
        #[command(flatten)]
        hub: HubArgs,
        /// The first day (YYYY-MM-DD); the report starts on its week's Monday.
        #[arg(long)]
        from: String,
        /// The last day (YYYY-MM-DD), included; at most 3 years after `from`.
        #[arg(long)]
        to: String,
        /// How to print it.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for people: yen as ¥12,345, the rate as a percentage.
    Table,
    /// CSV with a header, plain numbers (the rate as a fraction).
    Csv,
    /// The API's JSON.
    Json,
}

pub async fn run(command: ReportCommand) -> Result<()> {
    match command {
        ReportCommand::Notifications {
            hub,
            from,
            to,
            format,
        } => notifications(&hub, &from, &to, format).await,
    }
}

async fn notifications(hub: &HubArgs, from: &str, to: &str, format: Format) -> Result<()> {
    let made = super::client(hub)?.notification_report(from, to).await?;
    match format {
        Format::Table => print!("{}", report::table(&made)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&made)?),
        Format::Csv => {
            let mut out = csv::Writer::from_writer(std::io::stdout().lock());
            out.write_record([
                "week",
                "kind",
                "channel",
                "sent",
                "delivered",
                "clicked",
                "bought",
                "yen",
                "conversion_rate",
            ])?;
            for r in &made.rows {
                out.write_record([
                    r.week.clone(),
                    r.kind.clone(),
                    r.channel.clone(),
                    r.sent.to_string(),
                    r.delivered.to_string(),
                    r.clicked.to_string(),
                    r.bought.to_string(),
                    r.yen.to_string(),
                    r.conversion_rate.to_string(),
                ])?;
            }
            out.flush()?;
        }
    }
    Ok(())
}
