//! Sends an [`OutgoingEmail`] through the configured SMTP server (lettre's async transport over
//! rustls; connections pooled), under the configured rate, and says what became of it: the
//! server's acceptance ([`Delivered`]) or a [`SendError`] that is either *transient* (send again
//! later, with back-off) or *permanent* (never again), with the server's reply code and text.

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::message::OutgoingEmail;
use super::settings::{EmailSettings, TlsMode};

/// The mailer cannot be set up from its settings.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("the SMTP server {server} cannot be used with tls = {tls}: {detail}")]
    Transport {
        server: String,
        tls: &'static str,
        detail: String,
    },
    /// The unsubscribe key is too short to sign with (it must be the hub's 32 random bytes).
    #[error("the unsubscribe key is {0} bytes; it must be 32 random bytes")]
    ShortKey(usize),
}

/// The server took the message: its reply (`250 2.0.0 Ok: queued as 4Xyz`), whose text often
/// holds the server's queue id, which its logs are searched by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The reply code, `250`.
    pub code: u16,
    /// The reply's text, its lines joined by spaces.
    pub reply: String,
}

/// An email not sent. [`SendError::is_permanent`] tells whether to try again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The server refused the recipient or the message for good (a 5xx reply): never sent
    /// again.
    #[error(
        "the mail server {server} refused this email for good: {code} {text} (it is not sent \
         again; a 5xx about the recipient means the member's address is wrong or gone)"
    )]
    Rejected {
        server: String,
        code: u16,
        text: String,
    },
    /// The recipient's address cannot be written to at all (never sent).
    #[error(
        "the member's email address is not one mail can go to ({problem}); it is not sent: the \
         member can correct it in their profile"
    )]
    InvalidAddress { problem: String },
    /// The message could not be put together (never sent).
    #[error("the email could not be put together ({0}); it is not sent")]
    Unbuildable(String),
    /// The server asked to try later (a 4xx reply).
    #[error("the mail server {server} asked to try later: {code} {text} (sent again later)")]
    Deferred {
        server: String,
        code: u16,
        text: String,
    },
    /// Nothing answered at the server's address.
    #[error(
        "cannot reach the mail server {server}: {detail} (sent again later; check \
         email.smtp_host and email.smtp_port, and that the server is up and lets this \
         machine in)"
    )]
    Unreachable { server: String, detail: String },
    /// The connection broke before the server's answer.
    #[error(
        "the connection to the mail server {server} broke before it answered: {detail} (sent \
         again later)"
    )]
    Dropped { server: String, detail: String },
    /// The server did not answer in time.
    #[error(
        "the mail server {server} did not answer within {seconds} s (sent again later; \
         email.timeout_seconds sets the wait)"
    )]
    Timeout { server: String, seconds: u64 },
    /// The hub's side of the conversation is wrong: TLS, the login, the sender address. Every
    /// email fails alike until someone fixes the settings; each is sent again later.
    #[error(
        "the mail server {server} does not accept the hub's settings: {detail} (sent again \
         later; check email.tls, email.username, email.password_file and email.from)"
    )]
    Setup { server: String, detail: String },
}

impl SendError {
    /// Never to be sent again: the server refused it for good, or the address is not one.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            SendError::Rejected { .. }
                | SendError::InvalidAddress { .. }
                | SendError::Unbuildable(_)
        )
    }

    /// To be sent again later, with back-off.
    pub fn is_transient(&self) -> bool {
        !self.is_permanent()
    }

    /// The server's reply code, when the server answered with one.
    pub fn reply_code(&self) -> Option<u16> {
        match self {
            SendError::Rejected { code, .. } | SendError::Deferred { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Sends emails through one SMTP server. Cheap to clone: clones share the connection pool and
/// the rate.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    settings: Arc<EmailSettings>,
    rate: Arc<DefaultDirectRateLimiter>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.settings.server())
            .field("tls", &self.settings.tls)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer for `settings`. Connects to nothing yet: the first [`Mailer::send`] does.
    pub fn new(settings: &EmailSettings) -> Result<Mailer, EmailError> {
        let host = settings
            .smtp_host
            .trim_start_matches('[')
            .trim_end_matches(']');
        let transport_error = |e: lettre::transport::smtp::Error| EmailError::Transport {
            server: settings.server(),
            tls: settings.tls.as_str(),
            detail: chain(&e),
        };
        let tls = match settings.tls {
            TlsMode::None => Tls::None,
            TlsMode::Starttls => {
                Tls::Required(TlsParameters::new(host.into()).map_err(transport_error)?)
            }
            TlsMode::Tls => Tls::Wrapper(TlsParameters::new(host.into()).map_err(transport_error)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(settings.smtp_port)
            .tls(tls)
            .timeout(Some(settings.timeout));
        if let Some(login) = &settings.login {
            builder = builder.credentials(Credentials::new(
                login.username.clone(),
                login.password.expose().to_owned(),
            ));
        }
        Ok(Mailer {
            transport: builder.build(),
            settings: Arc::new(settings.clone()),
            rate: Arc::new(RateLimiter::direct(Quota::per_second(
                settings.rate_per_second,
            ))),
        })
    }

    /// The settings it sends with.
    pub fn settings(&self) -> &EmailSettings {
        &self.settings
    }

    /// Sends `email`, waiting for its turn under the rate; then the whole exchange with the
    /// server, connecting included, has `timeout_seconds`.
    pub async fn send(&self, email: &OutgoingEmail) -> Result<Delivered, SendError> {
        let message = email.to_message(&self.settings)?;
        self.rate.until_ready().await;
        let server = self.settings.server();
        let bound = self.settings.timeout;
        match tokio::time::timeout(bound, self.transport.send(message)).await {
            Err(_) => Err(SendError::Timeout {
                server,
                seconds: bound.as_secs(),
            }),
            Ok(Ok(response)) => Ok(Delivered {
                code: code_number(response.code()),
                reply: response.message().collect::<Vec<_>>().join(" "),
            }),
            Ok(Err(e)) => Err(classify(&e, server, self.settings.timeout)),
        }
    }
}

fn code_number(code: lettre::transport::smtp::response::Code) -> u16 {
    code.to_string().parse().unwrap_or(0)
}

/// An error and its causes, `outer: inner: innermost`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// The first I/O error among `e`'s causes.
fn io_kind(e: &lettre::transport::smtp::Error) -> Option<std::io::ErrorKind> {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = s.source();
    }
    None
}

/// Whether a permanent reply is about the hub's own settings rather than this email: the
/// login (530, 534, 535, 538; enhanced 5.7.8), or the sender's address (enhanced 5.1.7, 5.1.8).
fn about_the_hub(code: u16, text: &str) -> bool {
    matches!(code, 530 | 534 | 535 | 538)
        || text
            .split_whitespace()
            .take(1)
            .any(|first| matches!(first, "5.7.8" | "5.1.7" | "5.1.8" | "5.7.9" | "5.7.11"))
}

/// What a lettre error means for the email: see [`SendError`].
fn classify(e: &lettre::transport::smtp::Error, server: String, timeout: Duration) -> SendError {
    // The server's text, without lettre's "permanent error (550): " in front.
    let text = e.source().map(|s| s.to_string()).unwrap_or_default();
    if let Some(code) = e.status() {
        let code = code_number(code);
        if e.is_permanent() {
            if about_the_hub(code, &text) {
                return SendError::Setup {
                    server,
                    detail: format!("{code} {text}"),
                };
            }
            return SendError::Rejected { server, code, text };
        }
        return SendError::Deferred { server, code, text };
    }
    if e.is_timeout() {
        return SendError::Timeout {
            server,
            seconds: timeout.as_secs(),
        };
    }
    let detail = chain(e);
    if e.is_tls() || e.is_client() {
        // TLS that failed, STARTTLS not offered, no login mechanism in common.
        return SendError::Setup { server, detail };
    }
    use std::io::ErrorKind as K;
    match io_kind(e) {
        Some(K::InvalidData) if !e.is_response() => SendError::Setup {
            // A TLS handshake that failed (a certificate not trusted, not for this name).
            server,
            detail,
        },
        Some(
            K::ConnectionRefused
            | K::NotFound
            | K::AddrNotAvailable
            | K::HostUnreachable
            | K::NetworkUnreachable,
        ) => SendError::Unreachable { server, detail },
        Some(K::TimedOut) => SendError::Timeout {
            server,
            seconds: timeout.as_secs(),
        },
        _ if e.is_response() => SendError::Dropped { server, detail },
        Some(_) => SendError::Dropped { server, detail },
        // No I/O error and no reply: the name did not resolve, or the like.
        None => SendError::Unreachable { server, detail },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_or_sender_refusal_is_the_hubs_not_the_members() {
        assert!(about_the_hub(
            535,
            "5.7.8 Authentication credentials invalid"
        ));
        assert!(about_the_hub(553, "5.1.8 Sender address rejected"));
        assert!(!about_the_hub(
            550,
            "5.1.1 <x@y.example>: Recipient address rejected"
        ));
        assert!(!about_the_hub(554, "Message rejected as spam"));
    }

    #[test]
    fn which_errors_are_sent_again() {
        let s = || "smtp.example.jp:587".to_owned();
        let rejected = SendError::Rejected {
            server: s(),
            code: 550,
            text: "5.1.1 no such user".into(),
        };
        assert!(rejected.is_permanent() && !rejected.is_transient());
        assert_eq!(rejected.reply_code(), Some(550));
        assert!(rejected.to_string().contains("550 5.1.1 no such user"));
        let setup = SendError::Setup {
            server: s(),
            detail: "535 5.7.8 bad login".into(),
        };
        assert!(setup.is_transient());
        assert!(
            SendError::InvalidAddress {
                problem: "Missing domain or user".into()
            }
            .is_permanent()
        );
    }
}
