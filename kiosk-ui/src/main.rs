//! `tenpo-kiosk`: the kiosk (customer signup, card link) or counter (cashier) screen.
//!
//! ```sh
//! tenpo-kiosk --agent http://127.0.0.1:7480 --token-file /var/lib/tenpo/api-token
//! tenpo-kiosk --mode counter --windowed
//! ```

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser, ValueEnum};
use tenpo_kiosk::app::{CounterApp, FirstFrame, KioskApp};
use tenpo_kiosk::client::{AgentClient, read_token};
use tenpo_kiosk::kiosk::KioskConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Customer signup and card link.
    Kiosk,
    /// The cashier's view.
    Counter,
}

/// tenpo's store screens.
#[derive(Debug, Parser)]
#[command(name = "tenpo-kiosk", version)]
struct Cli {
    #[arg(long, value_enum, default_value = "kiosk", env = "TENPO_KIOSK_MODE")]
    mode: Mode,
    /// The agent's local API.
    #[arg(long, env = "TENPO_AGENT_URL", default_value = "http://127.0.0.1:7480")]
    agent: String,
    /// The agent's write token (`<data-dir>/api-token`).
    #[arg(
        long,
        env = "TENPO_API_TOKEN_FILE",
        default_value = "/var/lib/tenpo/api-token"
    )]
    token_file: PathBuf,
    /// A window instead of full screen (for trying it out).
    #[arg(long)]
    windowed: bool,
    /// Seconds without a touch before the kiosk returns to its start screen.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(i64).range(10..=3600))]
    idle_secs: i64,
    /// Prefix of the counter's sale ids (unique per counter of a terminal).
    #[arg(long, default_value = "ctr")]
    sale_prefix: String,
    /// Print the time to the first frame and exit (benchmark).
    #[arg(long, hide = true)]
    exit_after_first_frame: bool,
    /// Write the manual page into DIR and exit (the package is built with it).
    #[arg(long, hide = true, value_name = "DIR")]
    man: Option<PathBuf>,
}

fn main() -> Result<()> {
    let started = Instant::now();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Some(dir) = &cli.man {
        std::fs::create_dir_all(dir)?;
        clap_mangen::Man::new(Cli::command()).generate_to(dir)?;
        return Ok(());
    }
    let token = read_token(&cli.token_file)?;
    let client = AgentClient::new(&cli.agent, &token)?;
    let font = tenpo_kiosk::fonts::find()?;
    let fonts = tenpo_kiosk::fonts::definitions(&font)?;
    let first = Some(FirstFrame {
        started,
        exit: cli.exit_after_first_frame,
    });
    let title = match cli.mode {
        Mode::Kiosk => "tenpo kiosk",
        Mode::Counter => "tenpo counter",
    };
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(title)
            .with_inner_size([1280.0, 800.0])
            .with_fullscreen(!cli.windowed),
        ..eframe::NativeOptions::default()
    };
    let mode = cli.mode;
    let config = KioskConfig {
        idle_secs: cli.idle_secs,
        ..KioskConfig::default()
    };
    let prefix = cli.sale_prefix.clone();
    eframe::run_native(
        title,
        options,
        Box::new(move |cc| {
            cc.egui_ctx.set_fonts(fonts);
            tenpo_kiosk::ui::style(&cc.egui_ctx);
            Ok(match mode {
                Mode::Kiosk => Box::new(KioskApp::new(&cc.egui_ctx, client, config, first)?),
                Mode::Counter => Box::new(CounterApp::new(&cc.egui_ctx, client, &prefix, first)?),
            })
        }),
    )
    .map_err(|e| anyhow::anyhow!("the screen could not start: {e}"))
    .context("is there a display (DISPLAY or WAYLAND_DISPLAY)?")
}
