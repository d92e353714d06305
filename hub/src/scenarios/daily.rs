//! The daily scan (docs/design.md §10): once per business day of each stores' time zone, for
//! the members of those stores, inside the hub (no external cron), the birthday month's coupons
//! are issued (and announced) and every member linked to LINE is looked at for points about to
//! lapse. Each message has a dedupe key, so running a day again, or on two hub processes, sends
//! nothing twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tenpo_loyalty::Date;
use tenpo_protocol::admin::CouponRequest;

use futures_util::{StreamExt, TryStreamExt};

use crate::store::outbox::ScanMessage;
use crate::store::{HomeStores, HubStore, LineStore};

use super::ScenarioSettings;
use super::zones::Zones;

/// Linked members looked at per transaction.
const PAGE: u32 = 5_000;

/// What one day's scan did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayReport {
    pub members: u64,
    pub messages: u64,
    pub birthday_coupons: u64,
}

/// The business date of `now` in `tz`.
pub fn business_date(now: DateTime<Utc>, tz: Tz) -> Option<Date> {
    now.with_timezone(&tz).date_naive().to_string().parse().ok()
}

/// Runs `today`'s scan to the end for the members of `stores` (those of a time zone whose
/// business date `today` is).
pub async fn run_day<S: HubStore>(
    store: &S,
    settings: &ScenarioSettings,
    stores: &HomeStores,
    today: Date,
) -> Result<DayReport, crate::store::StoreError> {
    let mut report = DayReport::default();
    if let Some(birthday) = &settings.birthday {
        let issued = store
            .issue_coupons(
                CouponRequest {
                    coupon_id: None,
                    member_ids: Vec::new(),
                    card_codes: Vec::new(),
                    birthday_month: Some(today.month()),
                    benefit: birthday.benefit,
                    valid_days: birthday.valid_days,
                },
                stores.clone(),
                today,
                Utc::now(),
            )
            .await?;
        report.birthday_coupons = issued.issued;
    }
    if settings.points_expiring.is_some() {
        let (members, messages) = queue_linked_members(store, stores, today, PAGE).await?;
        report.members = members;
        report.messages = messages;
        // Statistics for the sender's plans: worth having, never worth the day's scan again.
        if let Err(e) = store.scan_queued(report.messages).await {
            tracing::warn!(error = %e, messages = report.messages,
                "the database's statistics of the outbox were not brought up to date; \
                 the database's own autovacuum will");
        }
    }
    Ok(report)
}

/// Every linked member of `stores` looked at, `page` at a time, and their messages queued:
/// answers how many members and how many new messages. A page is read and planned while the
/// pages before it are written (on connections of their own), up to
/// [`LineStore::scan_writers`] of them at once. Their writes start in page order, which is the
/// order a backend that numbers a page as its write starts (PostgreSQL) numbers them in. Each
/// write checks each member's link again, so a page read a moment ago writes nothing to a
/// LINE user the member has since unlinked.
pub async fn queue_linked_members<S: LineStore>(
    store: &S,
    stores: &HomeStores,
    today: Date,
    page: u32,
) -> Result<(u64, u64), crate::store::StoreError> {
    // One planned page waits while the reader reads the next: reading is the cheaper half.
    let (planned, mut pages) = tokio::sync::mpsc::channel::<Vec<ScanMessage>>(1);
    let read = async move {
        let mut members = 0;
        let mut after = String::new();
        loop {
            let page = store
                .plan_linked(today, stores.clone(), after, page)
                .await?;
            members += page.members;
            // Closed only once a write has failed, whose error the scan answers.
            if planned.send(page.messages).await.is_err() {
                break;
            }
            match page.next {
                Some(next) => after = next,
                None => break,
            }
        }
        Ok(members)
    };
    let write = futures_util::stream::poll_fn(move |cx| pages.poll_recv(cx))
        .map(|messages| store.queue_linked(messages, Utc::now()))
        .buffered(store.scan_writers().max(1))
        .try_fold(0, |sum, written| std::future::ready(Ok(sum + written)));
    tokio::try_join!(read, write)
}

/// Which time zones' days are done, so each runs once per business day.
#[derive(Debug, Default)]
pub struct Calendar {
    done: HashMap<&'static str, Date>,
}

impl Calendar {
    /// The groups of `zones` (by index) whose business date at `now` has not been run, and
    /// that date.
    pub fn due(&self, zones: &Zones, now: DateTime<Utc>) -> Vec<(usize, Date)> {
        zones
            .groups()
            .iter()
            .enumerate()
            .filter_map(|(i, (tz, _))| {
                let today = business_date(now, *tz)?;
                (self.done.get(tz.name()) != Some(&today)).then_some((i, today))
            })
            .collect()
    }

    /// Records `today` as run for the zone `tz`.
    pub fn mark(&mut self, tz: Tz, today: Date) {
        self.done.insert(tz.name(), today);
    }
}

/// Runs the scan each business day of each time zone, from the hub's start: the first run at
/// start (a hub started mid-day catches up), then after each midnight in that zone.
pub async fn schedule<S: HubStore>(store: Arc<S>, settings: ScenarioSettings, zones: Zones) {
    let mut calendar = Calendar::default();
    loop {
        for (i, today) in calendar.due(&zones, Utc::now()) {
            let Some((tz, stores)) = zones.groups().get(i) else {
                continue;
            };
            match run_day(store.as_ref(), &settings, stores, today).await {
                Ok(r) => {
                    tracing::info!(%today, time_zone = %tz, members = r.members,
                        messages = r.messages, birthday_coupons = r.birthday_coupons,
                        "daily scenarios done");
                    calendar.mark(*tz, today);
                }
                Err(e) => {
                    tracing::error!(%today, time_zone = %tz, error = %e,
                        "daily scenarios failed; again in a minute")
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;

    use chrono::TimeZone;
    use chrono_tz::{Asia::Tokyo, Pacific::Honolulu};

    use super::*;

    #[test]
    fn each_time_zone_runs_once_on_each_of_its_own_days() {
        let stores = BTreeMap::from([("waikiki".to_owned(), Honolulu)]);
        let zones = Zones::new(Tokyo, &stores);
        let d = |s: &str| s.parse::<Date>().unwrap();
        let mut calendar = Calendar::default();
        // 2027-01-01 15:00 UTC: 2 January in Tokyo, 1 January 05:00 in Honolulu.
        let now = Utc.with_ymd_and_hms(2027, 1, 1, 15, 0, 0).unwrap();
        assert_eq!(
            calendar.due(&zones, now),
            [(0, d("2027-01-02")), (1, d("2027-01-01"))]
        );
        calendar.mark(Tokyo, d("2027-01-02"));
        calendar.mark(Honolulu, d("2027-01-01"));
        assert!(calendar.due(&zones, now).is_empty(), "each day runs once");
        // Nine hours on, Honolulu's day turns; Tokyo's has not.
        let later = Utc.with_ymd_and_hms(2027, 1, 2, 10, 0, 0).unwrap();
        assert_eq!(calendar.due(&zones, later), [(1, d("2027-01-02"))]);
        // A failed run is not marked: it is due again.
        assert_eq!(calendar.due(&zones, later), [(1, d("2027-01-02"))]);
    }
}
