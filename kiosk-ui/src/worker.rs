//! The screens' network side: a thread with a small tokio runtime that carries out the state
//! machines' commands against the agent and hands back events. Each event wakes the UI
//! (`notify`), so the UI draws only when something changed.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use tenpo_protocol::signup::SignupState;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use crate::client::AgentClient;
use crate::{counter, kiosk};

/// How long one signup question waits at the agent.
pub const WATCH_WAIT_SECS: u64 = 25;
/// How often the counter reads the terminal's status.
pub const STATUS_EVERY: Duration = Duration::from_secs(5);

/// What wakes the UI after an event (`egui::Context::request_repaint` in the app).
pub type Notify = Arc<dyn Fn() + Send + Sync>;

/// A running worker: send commands, receive events.
pub struct Worker<C, E> {
    commands: UnboundedSender<C>,
    events: mpsc::Receiver<E>,
}

impl<C, E> std::fmt::Debug for Worker<C, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").finish_non_exhaustive()
    }
}

impl<C, E> Worker<C, E> {
    pub fn send(&self, commands: impl IntoIterator<Item = C>) {
        for c in commands {
            // The worker thread ends only with the process; a send after that is moot.
            let _ = self.commands.send(c);
        }
    }

    /// Events that arrived, without waiting.
    pub fn drain(&self) -> Vec<E> {
        self.events.try_iter().collect()
    }

    /// Waits up to `timeout` for the next event (tests and benchmarks).
    pub fn recv_timeout(&self, timeout: Duration) -> Option<E> {
        self.events.recv_timeout(timeout).ok()
    }
}

struct Out<E> {
    tx: mpsc::Sender<E>,
    notify: Notify,
}

impl<E> Clone for Out<E> {
    fn clone(&self) -> Self {
        Out {
            tx: self.tx.clone(),
            notify: self.notify.clone(),
        }
    }
}

impl<E> Out<E> {
    fn send(&self, event: E) {
        if self.tx.send(event).is_ok() {
            (self.notify)();
        }
    }
}

fn start<C, E, F, Fut>(name: &str, notify: Notify, run: F) -> std::io::Result<Worker<C, E>>
where
    C: Send + 'static,
    E: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::UnboundedReceiver<C>, Out<E>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (commands, command_rx) = unbounded_channel();
    let (tx, events) = mpsc::channel();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || runtime.block_on(run(command_rx, Out { tx, notify })))?;
    Ok(Worker { commands, events })
}

/// Follows the scan stream for ever, reconnecting with a growing pause.
async fn follow_scans<E: Send + 'static>(
    client: AgentClient,
    out: Out<E>,
    on_scan: fn(tenpo_protocol::agent::ScanEvent) -> E,
    on_link: Option<fn(bool) -> E>,
) {
    let mut pause = Duration::from_millis(500);
    loop {
        let connected_out = out.clone();
        let scan_out = out.clone();
        let result = client
            .follow_scans(
                || {
                    if let Some(f) = on_link {
                        connected_out.send(f(true));
                    }
                },
                |scan| scan_out.send(on_scan(scan)),
            )
            .await;
        if let Some(f) = on_link {
            out.send(f(false));
        }
        if result.is_ok() {
            pause = Duration::from_millis(500);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(10));
    }
}

/// The kiosk's worker.
pub fn kiosk(
    client: AgentClient,
    notify: Notify,
) -> std::io::Result<Worker<kiosk::Command, kiosk::Event>> {
    start(
        "tenpo-kiosk-net",
        notify,
        move |mut commands, out| async move {
            tokio::spawn(follow_scans(
                client.clone(),
                out.clone(),
                kiosk::Event::Scan,
                None,
            ));
            while let Some(command) = commands.recv().await {
                let (client, out) = (client.clone(), out.clone());
                tokio::spawn(async move {
                    match command {
                        kiosk::Command::OpenSession { card_code } => {
                            let card_link = card_code.is_some();
                            out.send(match client.open_signup(card_code).await {
                                Ok(s) => kiosk::Event::SessionOpened(s),
                                Err(failure) => kiosk::Event::SessionFailed { card_link, failure },
                            });
                        }
                        kiosk::Command::Watch { token } => {
                            // A long poll that ends with nothing new (still waiting, the hub
                            // reachable) is asked again here without waking the screen.
                            let event = loop {
                                match client.signup_status(&token, WATCH_WAIT_SECS).await {
                                    Ok(s) if s.state == SignupState::Waiting && s.hub_reachable => {
                                    }
                                    Ok(status) => break kiosk::Event::Status { token, status },
                                    Err(failure) => {
                                        break kiosk::Event::StatusFailed { token, failure };
                                    }
                                }
                            };
                            out.send(event);
                        }
                        kiosk::Command::RecordWish(wish) => {
                            out.send(match client.record_wish(&wish).await {
                                Ok(r) => kiosk::Event::WishRecorded(r),
                                Err(f) => kiosk::Event::WishFailed(f),
                            });
                        }
                        kiosk::Command::Resume { token } => {
                            let event = match client.signup_status(&token, 0).await {
                                Ok(status) => kiosk::Event::Status { token, status },
                                Err(failure) => kiosk::Event::StatusFailed { token, failure },
                            };
                            out.send(event);
                        }
                    }
                });
            }
        },
    )
}

/// The counter's worker.
pub fn counter(
    client: AgentClient,
    notify: Notify,
) -> std::io::Result<Worker<counter::Command, counter::Event>> {
    start(
        "tenpo-counter-net",
        notify,
        move |mut commands, out| async move {
            tokio::spawn(follow_scans(
                client.clone(),
                out.clone(),
                counter::Event::Scan,
                Some(counter::Event::StreamConnected),
            ));
            let (status_client, status_out) = (client.clone(), out.clone());
            tokio::spawn(async move {
                let mut last = None;
                loop {
                    let now = status_client.status().await;
                    // Only a change wakes the screen.
                    if last.as_ref() != Some(&now) {
                        last = Some(now.clone());
                        status_out.send(counter::Event::Status(now));
                    }
                    tokio::time::sleep(STATUS_EVERY).await;
                }
            });
            while let Some(command) = commands.recv().await {
                let (client, out) = (client.clone(), out.clone());
                tokio::spawn(async move {
                    match command {
                        counter::Command::RecordSale(sale) => {
                            out.send(match client.record_sale(&sale).await {
                                Ok(r) => counter::Event::SaleRecorded(r),
                                Err(f) => counter::Event::SaleFailed(f),
                            });
                        }
                        counter::Command::LookupMember(code) => {
                            if let Ok(m) = client.member(&code).await {
                                out.send(counter::Event::Member(m));
                            }
                        }
                        counter::Command::RecordWish(wish) => {
                            out.send(match client.record_wish(&wish).await {
                                Ok(r) => counter::Event::WishRecorded(r),
                                Err(f) => counter::Event::WishFailed(f),
                            });
                        }
                    }
                });
            }
        },
    )
}
