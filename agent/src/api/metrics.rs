//! `GET /metrics`: the terminal's numbers in Prometheus' text format (version 0.0.4), for the
//! store's monitoring. Read-only, on loopback like the rest of the API; no member data, only
//! counts.
//!
//! | metric | type | what |
//! |---|---|---|
//! | `tenpo_agent_info{version,store_id,terminal_id,mode}` | gauge | always 1 |
//! | `tenpo_agent_events_recorded_total` | counter | outbox events ever recorded (the last seq) |
//! | `tenpo_agent_events_pending` | gauge | events the hub has not acknowledged |
//! | `tenpo_agent_events_quarantined` | gauge | events the hub refused, kept for IT |
//! | `tenpo_agent_oldest_pending_event_age_seconds` | gauge | sync lag: how long the oldest pending event has waited (0 if none) |
//! | `tenpo_agent_sales_total`, `tenpo_agent_refunds_total` | counter | recorded here, ever |
//! | `tenpo_agent_members_cached` | gauge | members in the local cache |
//! | `tenpo_agent_log_lines_dropped_total` | counter | log lines dropped since start because the log's reader was not reading |
//! | `tenpo_agent_scans_total{scanner}` | counter | scans read since start |
//! | `tenpo_agent_scan_rejections_total{scanner}` | counter | scans rejected (check digit, signature, expired) |
//! | `tenpo_agent_scanner_connected{scanner}` | gauge | 1 when the scanner is open |
//! | `tenpo_agent_hub_online` | gauge | enrolled only: 1 when the hub answered the last call |
//! | `tenpo_agent_hub_clock_skew_seconds` | gauge | enrolled only: the hub's clock minus this one's |
//! | `tenpo_agent_last_pull_age_seconds` | gauge | enrolled only: since the last read of the hub's changes |
//! | `tenpo_agent_events_pushed_total`, `tenpo_agent_changes_applied_total`, `tenpo_agent_sync_passes_total` | counter | enrolled only, since start |

use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::{ApiError, AppState, blocking};

/// The Prometheus text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Writes metrics in the text format.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// Starts a metric family.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        self
    }

    /// One sample; `labels` as (name, value) pairs.
    pub fn sample(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        value: impl Into<f64>,
    ) -> &mut Self {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", value.into());
        self
    }

    /// A family with one unlabelled sample.
    pub fn single(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        value: impl Into<f64>,
    ) -> &mut Self {
        self.family(name, kind, help).sample(name, &[], value)
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Label values escape `\`, `"` and new lines.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn since(t: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    (now - t).num_milliseconds().max(0) as f64 / 1000.0
}

pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let ledger = state.ledger.clone();
    let (counts, ledger_counts, members, oldest) = blocking(move || {
        let store = ledger.store();
        Ok((
            store.outbox_counts()?,
            store.ledger_counts()?,
            store.members_cached()?,
            store.oldest_pending()?,
        ))
    })
    .await?;
    let now = Utc::now();
    let who = state.ledger.identity();
    let mode = if state.sync.is_some() {
        "enrolled"
    } else {
        "standalone"
    };
    let mut m = Exposition::default();
    m.family(
        "tenpo_agent_info",
        "gauge",
        "The agent's version and identity.",
    )
    .sample(
        "tenpo_agent_info",
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("store_id", &who.store_id),
            ("terminal_id", &who.terminal_id),
            ("mode", mode),
        ],
        1,
    );
    let oldest_age = oldest
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map_or(0.0, |t| since(t.with_timezone(&Utc), now));
    m.single(
        "tenpo_agent_events_recorded_total",
        "counter",
        "Outbox events recorded on this terminal, ever.",
        counts.last_seq as f64,
    )
    .single(
        "tenpo_agent_events_pending",
        "gauge",
        "Events the hub has not acknowledged yet.",
        counts.pending as f64,
    )
    .single(
        "tenpo_agent_events_quarantined",
        "gauge",
        "Events the hub refused, kept for IT.",
        counts.quarantined as f64,
    )
    .single(
        "tenpo_agent_oldest_pending_event_age_seconds",
        "gauge",
        "How long the oldest event the hub has not acknowledged has waited (0 when none).",
        oldest_age,
    )
    .single(
        "tenpo_agent_sales_total",
        "counter",
        "Sales recorded on this terminal, ever.",
        ledger_counts.sales as f64,
    )
    .single(
        "tenpo_agent_refunds_total",
        "counter",
        "Refunds recorded on this terminal, ever.",
        ledger_counts.refunds as f64,
    )
    .single(
        "tenpo_agent_members_cached",
        "gauge",
        "Members in the local cache.",
        members as f64,
    )
    .single(
        "tenpo_agent_log_lines_dropped_total",
        "counter",
        "Log lines dropped since start because standard error's reader was not reading.",
        tenpo_support::logging::lines_dropped() as f64,
    );
    let scanners = state.scans.scanners().snapshot();
    for (name, kind, help) in [
        (
            "tenpo_agent_scans_total",
            "counter",
            "Scans read since the agent started.",
        ),
        (
            "tenpo_agent_scan_rejections_total",
            "counter",
            "Scans rejected (check digit, signature, time window) since the agent started.",
        ),
        (
            "tenpo_agent_scanner_connected",
            "gauge",
            "1 when the scanner is open.",
        ),
    ] {
        m.family(name, kind, help);
        for s in &scanners {
            let value = match name {
                "tenpo_agent_scans_total" => s.scans as f64,
                "tenpo_agent_scan_rejections_total" => s.rejections as f64,
                _ => f64::from(u8::from(s.connected)),
            };
            m.sample(name, &[("scanner", &s.name)], value);
        }
    }
    if let Some(link) = &state.sync {
        let sync = link
            .shared
            .status(counts.acked_through, members, counts.quarantined);
        m.single(
            "tenpo_agent_hub_online",
            "gauge",
            "1 when the hub answered the last call.",
            u8::from(sync.online),
        );
        if let Some(skew) = sync.clock_skew_secs {
            m.single(
                "tenpo_agent_hub_clock_skew_seconds",
                "gauge",
                "The hub's clock minus this terminal's, at the last answer.",
                skew as f64,
            );
        }
        if let Some(at) = sync.last_pull_at {
            m.single(
                "tenpo_agent_last_pull_age_seconds",
                "gauge",
                "Seconds since the hub's changes were last read.",
                since(at, now),
            );
        }
        m.single(
            "tenpo_agent_events_pushed_total",
            "counter",
            "Events the hub newly acknowledged since the agent started.",
            link.shared.events_pushed.load(Ordering::SeqCst) as f64,
        )
        .single(
            "tenpo_agent_changes_applied_total",
            "counter",
            "Changes from the hub applied since the agent started.",
            link.shared.changes_applied.load(Ordering::SeqCst) as f64,
        )
        .single(
            "tenpo_agent_sync_passes_total",
            "counter",
            "Completed sync passes since the agent started.",
            sync.passes as f64,
        );
    }
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], m.finish()).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format() {
        let mut m = Exposition::default();
        m.single("a_total", "counter", "Things.", 3.0)
            .family("b", "gauge", "Per x.");
        m.sample("b", &[("x", "say \"hi\"\\\n")], 1);
        assert_eq!(
            m.finish(),
            "# HELP a_total Things.\n# TYPE a_total counter\na_total 3\n\
             # HELP b Per x.\n# TYPE b gauge\nb{x=\"say \\\"hi\\\"\\\\\\n\"} 1\n"
        );
    }
}
