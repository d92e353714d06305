//! `GET /metrics`: the hub's numbers in Prometheus' text format (version 0.0.4). Counts only —
//! no member, terminal or store is named — yet, like every hub call but the health probe, it
//! needs a token (docs/design.md §7): the admin token (Prometheus:
//! `authorization: {credentials_file: …}` in the scrape config). A wrong or missing token is 401.
//!
//! | metric | type | what |
//! |---|---|---|
//! | `tenpo_hub_info{version}` | gauge | always 1 |
//! | `tenpo_hub_terminals`, `tenpo_hub_stores` | gauge | enrolled terminals, and their stores |
//! | `tenpo_hub_events_stored_total` | counter | event slots held (stored, rejected, conflicting) |
//! | `tenpo_hub_events_waiting` | gauge | events held after a gap in their terminal's seq, not applied yet |
//! | `tenpo_hub_conflicts_total` | counter | replays that came with other content |
//! | `tenpo_hub_discrepancies_total` | counter | sales the hub would have evaluated differently |
//! | `tenpo_hub_members` | gauge | members |
//! | `tenpo_hub_rule_set_version` | gauge | the newest rule set loaded (0: none) |
//! | `tenpo_hub_log_lines_dropped_total` | counter | this process's log lines dropped because the log's reader was not reading |

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::auth::AdminAuth;
use super::{ApiError, AppState};
use crate::store::{HubCounts, HubStore};

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn metrics<S: HubStore>(
    State(app): State<AppState<S>>,
    _admin: AdminAuth,
) -> Result<Response, ApiError> {
    let counts = app.store.counts().await?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], render(&counts)).into_response())
}

/// The text exposition of `c`.
pub fn render(c: &HubCounts) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    family(
        "tenpo_hub_terminals",
        "gauge",
        "Enrolled terminals.",
        c.terminals,
    );
    family(
        "tenpo_hub_stores",
        "gauge",
        "Stores with an enrolled terminal.",
        c.stores,
    );
    family(
        "tenpo_hub_events_stored_total",
        "counter",
        "Event slots held: stored, rejected or conflicting, ever.",
        c.events,
    );
    family(
        "tenpo_hub_events_waiting",
        "gauge",
        "Events held after a gap in their terminal's seq, not applied yet.",
        c.events_waiting,
    );
    family(
        "tenpo_hub_conflicts_total",
        "counter",
        "Replays that came with other content than the event held.",
        c.conflicts,
    );
    family(
        "tenpo_hub_discrepancies_total",
        "counter",
        "Sales the hub would have evaluated differently from the till.",
        c.discrepancies,
    );
    family("tenpo_hub_members", "gauge", "Members.", c.members);
    family(
        "tenpo_hub_rule_set_version",
        "gauge",
        "The newest rule-set version loaded (0: none yet).",
        c.rule_set_version,
    );
    family(
        "tenpo_hub_log_lines_dropped_total",
        "counter",
        "Log lines this process dropped because standard error's reader was not reading.",
        tenpo_support::logging::lines_dropped(),
    );
    let m = &c.messages;
    let _ = writeln!(
        out,
        "# HELP tenpo_hub_line_messages Messages in the outbox, per state (docs/design.md §10).\n\
         # TYPE tenpo_hub_line_messages gauge"
    );
    for (state, n) in [
        ("pending", m.pending),
        ("sending", m.sending),
        ("sent", m.sent),
        ("failed", m.failed),
        ("unreachable", m.unreachable),
        ("expired", m.expired),
    ] {
        let _ = writeln!(out, "tenpo_hub_line_messages{{state=\"{state}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP tenpo_hub_info The hub's version.\n# TYPE tenpo_hub_info gauge\n\
         tenpo_hub_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_count_is_a_sample() {
        let text = render(&HubCounts {
            terminals: 3,
            events: 120,
            events_waiting: 2,
            conflicts: 1,
            messages: crate::store::OutboxCounts {
                failed: 2,
                ..Default::default()
            },
            ..HubCounts::default()
        });
        for line in [
            "tenpo_hub_terminals 3",
            "tenpo_hub_events_stored_total 120",
            "tenpo_hub_events_waiting 2",
            "tenpo_hub_conflicts_total 1",
            "tenpo_hub_discrepancies_total 0",
            "# TYPE tenpo_hub_conflicts_total counter",
            "tenpo_hub_line_messages{state=\"failed\"} 2",
            "tenpo_hub_line_messages{state=\"sent\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}
