//! The daily scan (docs/design.md §10): once per business day in the hub's time zone, inside
//! the hub (no external cron), the birthday month's coupons are issued (and announced) and every
//! member linked to LINE is looked at for points about to lapse. Each message has a dedupe key,
//! so running a day again, or on two hub processes, sends nothing twice.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tenpo_loyalty::Date;
use tenpo_protocol::admin::CouponRequest;

use crate::store::HubStore;

use super::ScenarioSettings;

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

/// Runs `today`'s scan to the end.
pub async fn run_day<S: HubStore>(
    store: &S,
    settings: &ScenarioSettings,
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
                today,
                Utc::now(),
            )
            .await?;
        report.birthday_coupons = issued.issued;
    }
    if settings.points_expiring.is_some() {
        // Each page is written while the next is read and planned (two threads, two
        // connections): the write checks each member's link again, so a page read a moment
        // ago writes nothing to a LINE user the member has since unlinked.
        let mut page = store.plan_linked(today, String::new(), PAGE).await?;
        loop {
            report.members += page.members;
            let write = store.queue_linked(std::mem::take(&mut page.messages), Utc::now());
            let Some(after) = page.next.take() else {
                report.messages += write.await?;
                break;
            };
            let (written, next) = tokio::join!(write, store.plan_linked(today, after, PAGE));
            report.messages += written?;
            page = next?;
        }
    }
    Ok(report)
}

/// Runs the scan each business day, from the hub's start: the first run at start (a hub
/// started mid-day catches up), then after each midnight in `tz`.
pub async fn schedule<S: HubStore>(store: Arc<S>, settings: ScenarioSettings, tz: Tz) {
    let mut done: Option<Date> = None;
    loop {
        if let Some(today) = business_date(Utc::now(), tz)
            && done != Some(today)
        {
            match run_day(store.as_ref(), &settings, today).await {
                Ok(r) => {
                    tracing::info!(%today, members = r.members, messages = r.messages,
                        birthday_coupons = r.birthday_coupons, "daily scenarios done");
                    done = Some(today);
                }
                Err(e) => {
                    tracing::error!(%today, error = %e, "daily scenarios failed; again in a minute")
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
}
