//! The eframe apps: a state machine, its worker, and the screen.

use std::time::Instant;

use chrono::Utc;

use crate::counter::{self, Counter};
use crate::kiosk::{self, Kiosk, KioskConfig};
use crate::qr::QrTexture;
use crate::worker::{self, Notify, Worker};
use crate::{client::AgentClient, ui};

/// Reports the first frame (for the benchmark and `--exit-after-first-frame`).
#[derive(Debug, Clone, Copy)]
pub struct FirstFrame {
    pub started: Instant,
    pub exit: bool,
}

fn first_frame(ui: &egui::Ui, first: &mut Option<FirstFrame>) {
    if let Some(f) = first.take() {
        println!(
            "first frame after {:.1} ms",
            f.started.elapsed().as_secs_f64() * 1000.0
        );
        if f.exit {
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }
}

fn notify_of(ctx: &egui::Context) -> Notify {
    let ctx = ctx.clone();
    std::sync::Arc::new(move || ctx.request_repaint())
}

/// The kiosk app.
pub struct KioskApp {
    pub model: Kiosk,
    worker: Worker<kiosk::Command, kiosk::Event>,
    qr: QrTexture,
    first: Option<FirstFrame>,
}

impl std::fmt::Debug for KioskApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KioskApp")
            .field("model", &self.model)
            .finish()
    }
}

impl KioskApp {
    pub fn new(
        ctx: &egui::Context,
        client: AgentClient,
        config: KioskConfig,
        first: Option<FirstFrame>,
    ) -> std::io::Result<KioskApp> {
        let worker = worker::kiosk(client, notify_of(ctx))?;
        let (model, commands) = Kiosk::new(config, Utc::now());
        worker.send(commands);
        Ok(KioskApp {
            model,
            worker,
            qr: QrTexture::default(),
            first,
        })
    }
}

impl eframe::App for KioskApp {
    fn logic(&mut self, _ctx: &egui::Context, _frame: &mut eframe::Frame) {
        let now = Utc::now();
        for event in self.worker.drain() {
            let commands = self.model.on_event(event, now);
            self.worker.send(commands);
        }
        let commands = self.model.tick(now);
        self.worker.send(commands);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let now = Utc::now();
        if let Some(tap) = ui::kiosk::show(ui, &self.model, &mut self.qr, now) {
            let commands = self.model.on_tap(tap, now);
            self.worker.send(commands);
            ui.ctx().request_repaint();
        }
        if let Some(wait) = self.model.next_wake(now) {
            ui.ctx().request_repaint_after(wait);
        }
        first_frame(ui, &mut self.first);
    }
}

/// The counter app.
pub struct CounterApp {
    pub model: Counter,
    worker: Worker<counter::Command, counter::Event>,
    first: Option<FirstFrame>,
}

impl std::fmt::Debug for CounterApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CounterApp")
            .field("model", &self.model)
            .finish()
    }
}

impl CounterApp {
    pub fn new(
        ctx: &egui::Context,
        client: AgentClient,
        sale_prefix: &str,
        first: Option<FirstFrame>,
    ) -> std::io::Result<CounterApp> {
        Ok(CounterApp {
            model: Counter::new(sale_prefix),
            worker: worker::counter(client, notify_of(ctx))?,
            first,
        })
    }
}

impl eframe::App for CounterApp {
    fn logic(&mut self, _ctx: &egui::Context, _frame: &mut eframe::Frame) {
        for event in self.worker.drain() {
            let commands = self.model.on_event(event);
            self.worker.send(commands);
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let commands = ui::counter::show(ui, &mut self.model, Utc::now());
        self.worker.send(commands);
        first_frame(ui, &mut self.first);
    }
}
