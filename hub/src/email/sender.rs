//! Email's sender (docs/design.md §11): claims due email notifications from the store, sends
//! each over SMTP, and records how it went.
//!
//! - **Once.** A notification is claimed with a lease before it is sent and finished after; a
//!   sender that dies in between leaves it to be claimed again when the lease runs out, with
//!   the same `Message-ID` (mail systems drop a second message with one they have seen).
//! - **Under a rate** (`[email] send_rate_per_second`, kept by the [`Mailer`]) and in each
//!   member's waking hours (the quiet hours of their store's time zone, as LINE's sender).
//! - **Failures.** A server that is away, busy or says "later" (4xx) is tried again with
//!   back-off (2 s doubling to 10 minutes); a refusal for good (5xx: no such mailbox) is kept
//!   with the server's reason and never retried.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sha2::{Digest, Sha256};
use tenpo_support::Backoff;
use tokio::sync::Notify;

use super::{Mailer, OutgoingEmail, SendError};
use crate::scenarios::QuietHours;
use crate::scenarios::zones::Zones;
use crate::store::HubStore;
use crate::store::catalog::{EmailClaim, EmailJob, EmailOutcome};

/// How the email sender paces itself.
#[derive(Debug, Clone)]
pub struct EmailSenderSettings {
    /// Notifications claimed at once.
    pub batch: u32,
    /// How long a claim holds a notification before another sender may take it.
    pub lease: Duration,
    /// No email then, in the member's store's time: it waits.
    pub quiet_hours: QuietHours,
    pub zones: Zones,
    /// The hub's address as members reach it: the unsubscribe links point there.
    pub public_url: String,
}

/// How long the sender sleeps with nothing due, unless woken.
const IDLE: Duration = Duration::from_secs(1);

/// The email's `Message-ID` of a notification: derived from its link's id, the same on every
/// attempt, without showing the link's id itself (mail servers log message ids).
fn message_id(link_id: &str) -> String {
    hex::encode(&Sha256::digest(link_id.as_bytes())[..16])
}

/// The email sender of one hub process.
pub struct EmailSender<S> {
    store: Arc<S>,
    mailer: Mailer,
    settings: EmailSenderSettings,
    key: [u8; 32],
    wake: Arc<Notify>,
}

impl<S> std::fmt::Debug for EmailSender<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSender")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<S: HubStore> EmailSender<S> {
    /// `key` signs the unsubscribe links (`CatalogStore::unsubscribe_key`); `wake` is notified
    /// by whatever queues notifications, so they go at once.
    pub fn new(
        store: Arc<S>,
        mailer: Mailer,
        settings: EmailSenderSettings,
        key: [u8; 32],
        wake: Arc<Notify>,
    ) -> EmailSender<S> {
        EmailSender {
            store,
            mailer,
            settings,
            key,
            wake,
        }
    }

    /// Sends until the process ends. Errors are logged and waited out, never fatal: the
    /// notifications stay in the store.
    pub async fn run(self) {
        let mut store_trouble = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
        let mut setup_trouble = Backoff::new(Duration::from_secs(5), Duration::from_secs(300));
        loop {
            let now = Utc::now();
            let quiet = self.settings.quiet_hours;
            let Some(awake) = self.settings.zones.awake(now, quiet) else {
                // Quiet everywhere: nothing goes until the first store wakes.
                let until = self.settings.zones.next_wake(now, quiet);
                let wait = (until - now)
                    .to_std()
                    .unwrap_or(IDLE)
                    .min(Duration::from_secs(60));
                tokio::time::sleep(wait).await;
                continue;
            };
            let claim = EmailClaim {
                limit: self.settings.batch,
                lease: chrono::Duration::from_std(self.settings.lease)
                    .unwrap_or(chrono::Duration::seconds(60)),
                awake,
                quiet_until: self.settings.zones.next_wake(now, quiet),
            };
            let jobs = match self.store.claim_emails(claim, now).await {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::error!(error = %e, "cannot claim email notifications");
                    tokio::time::sleep(store_trouble.next_delay()).await;
                    continue;
                }
            };
            store_trouble.reset();
            if jobs.is_empty() {
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(IDLE) => {}
                }
                continue;
            }
            let mut setup = false;
            for job in jobs {
                // The hub's own settings are wrong (the login, TLS, the sender): every email
                // would fail alike, so the rest wait for the next round, untried.
                let outcome = if setup {
                    held_back(job.attempts)
                } else {
                    let (outcome, bad_setup) = self.send(&job).await;
                    setup = bad_setup;
                    outcome
                };
                if let Err(e) = self
                    .store
                    .finish_email(job.id, job.attempts, outcome, Utc::now())
                    .await
                {
                    // Sent again after its lease, with the same Message-ID.
                    tracing::error!(error = %e, id = job.id, "cannot record how an email went");
                }
            }
            if setup {
                let pause = setup_trouble.next_delay();
                tracing::error!(
                    pause_s = pause.as_secs(),
                    "email paused: the mail server refused the hub's own settings; check [email]"
                );
                tokio::time::sleep(pause).await;
            } else {
                setup_trouble.reset();
            }
        }
    }

    /// One attempt; `true` when the failure was the hub's settings, not the email.
    async fn send(&self, job: &EmailJob) -> (EmailOutcome, bool) {
        let unsubscribe = match super::unsubscribe_url(
            &self.settings.public_url,
            &self.key,
            &job.member_id,
            job.notice.language,
        ) {
            Ok(url) => url,
            Err(e) => {
                let failed = EmailOutcome::Failed {
                    error: e.to_string(),
                };
                return (failed, false);
            }
        };
        let email = OutgoingEmail::wish(
            &job.notice,
            &job.address,
            &message_id(&job.link_id),
            &unsubscribe,
        );
        match self.mailer.send(&email).await {
            Ok(_) => {
                tracing::info!(id = job.id, kind = job.notice.kind.as_str(), "email sent");
                (EmailOutcome::Sent, false)
            }
            Err(e) => {
                let setup = matches!(e, SendError::Setup { .. });
                (outcome_of(&e, job.attempts), setup)
            }
        }
    }
}

/// A claimed email not tried this round (it goes back as it was, due again soon).
fn held_back(attempts: u32) -> EmailOutcome {
    EmailOutcome::Retry {
        not_before: Utc::now() + chrono::Duration::seconds(5),
        error: format!(
            "not tried (attempt {attempts}): the mail server refused the hub's settings"
        ),
    }
}

/// What a failed attempt means for the notification.
fn outcome_of(e: &SendError, attempts: u32) -> EmailOutcome {
    if e.is_permanent() {
        tracing::warn!(error = %e, "the mail server refused an email for good");
        EmailOutcome::Failed {
            error: e.to_string(),
        }
    } else {
        let after = crate::retry::retry_delay(attempts);
        tracing::warn!(error = %e, retry_in_s = after.as_secs(), "email not sent; trying again");
        EmailOutcome::Retry {
            not_before: Utc::now()
                + chrono::Duration::from_std(after).unwrap_or(chrono::Duration::seconds(600)),
            error: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notifications_message_id_is_its_own_and_the_same_every_time() {
        let a = "0123456789abcdef0123456789abcdef";
        assert_eq!(message_id(a), message_id(a));
        assert_ne!(
            message_id(a),
            message_id("f123456789abcdef0123456789abcdef")
        );
        assert_eq!(message_id(a).len(), 32);
        assert!(!message_id(a).contains(a));
    }
}
