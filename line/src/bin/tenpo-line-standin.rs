//! `tenpo-line-standin`: a local stand-in for LINE's platform (`tenpo_line::standin`), for tests
//! and the demo. Never point a production hub at it.
//!
//! ```sh
//! tenpo-line-standin --listen 127.0.0.1:7410 --channel 1234567890:demo-channel-secret
//! curl -s -X POST localhost:7410/standin/id-tokens -H 'content-type: application/json' \
//!   -d '{"channel_id":"1234567890","sub":"U0123456789abcdef0123456789abcdef"}'
//! ```

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Parser;
use tenpo_line::standin::{MessagingChannel, StandIn, router};

#[derive(Debug, Parser)]
#[command(name = "tenpo-line-standin", version)]
struct Cli {
    /// Address to listen on (loopback).
    #[arg(
        long,
        env = "TENPO_LINE_STANDIN_LISTEN",
        default_value = "127.0.0.1:7410"
    )]
    listen: String,
    /// A LINE Login channel as `CHANNEL_ID:CHANNEL_SECRET`; repeat for several.
    #[arg(
        long = "channel",
        env = "TENPO_LINE_STANDIN_CHANNELS",
        value_delimiter = ';',
        required = true
    )]
    channels: Vec<String>,
    /// The Messaging API channel's access token (the stand-in answers the Messaging API only
    /// with one).
    #[arg(
        long,
        env = "TENPO_LINE_STANDIN_MESSAGING_TOKEN",
        requires = "messaging_secret"
    )]
    messaging_token: Option<String>,
    /// The Messaging API channel's secret: what its webhooks are signed with.
    #[arg(long, env = "TENPO_LINE_STANDIN_MESSAGING_SECRET")]
    messaging_secret: Option<String>,
    /// The official account's bot user id: the `destination` of its webhooks.
    #[arg(
        long,
        env = "TENPO_LINE_STANDIN_BOT_USER_ID",
        default_value = "U00000000000000000000000000000b07"
    )]
    bot_user_id: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let mut channels = Vec::new();
    for entry in &cli.channels {
        let Some((id, secret)) = entry.split_once(':') else {
            bail!("--channel {entry:?} is not CHANNEL_ID:CHANNEL_SECRET");
        };
        channels.push((id.to_owned(), secret.to_owned()));
    }
    let listener = tokio::net::TcpListener::bind(&cli.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cli.listen))?;
    let addr = listener
        .local_addr()
        .context("reading the listening address")?;
    if !addr.ip().is_loopback() {
        bail!("the LINE stand-in listens on loopback only, not {addr}");
    }
    tracing::info!(listen = %addr, channels = channels.len(), "LINE stand-in ready");
    let mut standin = StandIn::new(channels);
    if let (Some(token), Some(secret)) = (cli.messaging_token, cli.messaging_secret) {
        standin = standin.with_messaging(MessagingChannel {
            access_token: token,
            channel_secret: secret,
            bot_user_id: cli.bot_user_id,
        });
    }
    axum::serve(listener, router(Arc::new(standin)))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("the LINE stand-in stopped with an error")
}
