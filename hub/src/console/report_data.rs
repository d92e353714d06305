//! What the reports count (docs/design.md §13), worked out in the background: with a million
//! members it takes a while (every member's tier; every sale and refund's points), so a page
//! never waits for it. The page asks [`ReportCache::get`], which starts a computation when the
//! last one is older than [`FRESH_FOR`] and answers with the last result meanwhile.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use tenpo_loyalty::Date;
use tenpo_protocol::events::{Event, EventBody};

use crate::store::{HubStore, StoreError};

/// How long a computation's result serves before the next is started.
pub const FRESH_FOR: Duration = Duration::minutes(15);
/// Signups are shown for these last days.
pub const SIGNUP_DAYS: i64 = 30;
/// Members and events read per store call.
const PAGE: u32 = 1000;

/// The reports' numbers, as of `at`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reports {
    pub at: DateTime<Utc>,
    /// (day, store, signups).
    pub signups: Vec<(String, String, u64)>,
    pub members: u64,
    pub linked: u64,
    /// (tier, members), in the rule set's order.
    pub tiers: Vec<(String, u64)>,
    /// (month, issued, redeemed, expired).
    pub points: Vec<(String, i64, i64, i64)>,
    /// (kind, sent, delivered, clicked, bought, yen).
    pub funnel: Vec<(String, u64, u64, u64, u64, i64)>,
}

/// The last reports, and whether a computation is running.
#[derive(Debug, Default)]
pub struct ReportCache {
    last: Mutex<Option<Arc<Reports>>>,
    failed: Mutex<Option<String>>,
    running: AtomicBool,
}

impl ReportCache {
    /// The last reports (if any) and the last failure; starts a computation in the background
    /// when there are none or they are older than [`FRESH_FOR`].
    pub fn get<S: HubStore>(
        self: &Arc<Self>,
        store: &Arc<S>,
        zone: Tz,
        now: DateTime<Utc>,
    ) -> (Option<Arc<Reports>>, Option<String>) {
        let last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let stale = last.as_ref().is_none_or(|r| now - r.at > FRESH_FOR);
        if stale && !self.running.swap(true, Ordering::SeqCst) {
            let (cache, store) = (self.clone(), store.clone());
            tokio::spawn(async move {
                let result = compute(&*store, zone, Utc::now()).await;
                match result {
                    Ok(r) => {
                        *cache
                            .last
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(r));
                        *cache
                            .failed
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "the console's reports could not be computed");
                        *cache
                            .failed
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) =
                            Some(e.to_string());
                    }
                }
                cache.running.store(false, Ordering::SeqCst);
            });
        }
        let failed = self
            .failed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        (last, failed)
    }
}

fn month(d: Date) -> String {
    d.to_string().get(..7).unwrap_or_default().to_owned()
}

/// A lot's points as the events left them: its last day, and the points still in it.
#[derive(Debug, Default)]
struct Lots(HashMap<String, (Date, i64)>);

impl Lots {
    fn add(&mut self, id: &str, expires_on: Date, points: i64) {
        self.0.entry(id.to_owned()).or_insert((expires_on, 0)).1 += points;
    }

    fn take(&mut self, id: &str, points: i64) {
        if let Some(lot) = self.0.get_mut(id) {
            lot.1 -= points;
        }
    }
}

/// Every report, read from the store now.
pub async fn compute<S: HubStore>(
    store: &S,
    zone: Tz,
    now: DateTime<Utc>,
) -> Result<Reports, StoreError> {
    let today = {
        use chrono::Datelike;
        let d = now.with_timezone(&zone).date_naive();
        Date::from_ymd(d.year(), d.month(), d.day()).unwrap_or(Date::MIN)
    };
    let mut signups: BTreeMap<(String, String), u64> = BTreeMap::new();
    for s in store
        .signups_since(now - Duration::days(SIGNUP_DAYS))
        .await?
    {
        let day = s
            .completed_at
            .with_timezone(&zone)
            .format("%Y-%m-%d")
            .to_string();
        *signups.entry((day, s.store_id)).or_default() += 1;
    }
    let rules = store.current_rules().await?;
    let mut tiers: Vec<(String, u64)> = rules
        .iter()
        .flat_map(|r| r.tiers.levels.iter().map(|l| (l.name.clone(), 0)))
        .collect();
    let mut members = 0;
    let mut after = String::new();
    loop {
        let page = store.members_page(after.clone(), PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.member_id.clone();
        members += page.len() as u64;
        if let Some(rules) = &rules {
            for m in &page {
                let spend = m.state.qualifying_spend(rules, today);
                let tier = &rules.tier_for(spend).name;
                if let Some(t) = tiers.iter_mut().find(|(name, _)| name == tier) {
                    t.1 += 1;
                }
            }
        }
    }
    let mut months: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    let mut lots = Lots::default();
    let mut cursor = None;
    loop {
        let page = store.point_events(cursor.clone(), PAGE).await?;
        let Some((t, seq, _)) = page.last() else {
            break;
        };
        cursor = Some((t.clone(), *seq));
        for (_, _, payload) in &page {
            let Ok(event) = serde_json::from_str::<Event>(payload) else {
                continue;
            };
            match &event.body {
                EventBody::Sale(s) => {
                    if let Some(o) = &s.outcome {
                        let m = months.entry(month(o.business_date)).or_default();
                        m.0 += o.earned_points;
                        m.1 += o.redeemed_points;
                        if let Some(lot) = &o.earned_lot {
                            lots.add(&lot.lot_id, lot.expires_on, lot.points);
                        }
                        for t in &o.lots_consumed {
                            lots.take(&t.lot_id, t.points);
                        }
                    }
                }
                EventBody::Refund(r) => {
                    if let Some(o) = &r.outcome {
                        let m = months.entry(month(o.business_date)).or_default();
                        m.0 -= o.reversed_points;
                        m.1 -= o.returned_points;
                        for t in &o.points_reversed {
                            lots.take(&t.lot_id, t.points);
                        }
                        for l in &o.points_returned {
                            lots.add(&l.lot_id, l.expires_on, l.points);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let mut before = None;
    loop {
        let page = store.staff_actions(before, PAGE, None).await?;
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        for a in page.iter().filter(|a| a.action == "adjust_points") {
            let d = &a.detail;
            let Some(day) = d["business_date"]
                .as_str()
                .and_then(|s| s.parse::<Date>().ok())
            else {
                continue;
            };
            let points = d["points"].as_i64().unwrap_or(0);
            let m = months.entry(month(day)).or_default();
            if points > 0 {
                m.0 += points;
            } else {
                m.1 -= points;
            }
            if let Some(lot) = d["added"].as_object() {
                let expires = lot
                    .get("expires_on")
                    .and_then(|v| v.as_str())
                    .and_then(|s| s.parse().ok());
                if let (Some(id), Some(expires)) =
                    (lot.get("lot_id").and_then(|v| v.as_str()), expires)
                {
                    lots.add(id, expires, points);
                }
            }
            for t in d["taken"].as_array().into_iter().flatten() {
                if let (Some(id), Some(p)) = (t["lot_id"].as_str(), t["points"].as_i64()) {
                    lots.take(id, p);
                }
            }
        }
    }
    for (expires_on, left) in lots.0.values() {
        if *expires_on < today && *left > 0 {
            months.entry(month(*expires_on)).or_default().2 += left;
        }
    }
    let mut funnel: BTreeMap<String, (u64, u64, u64, u64, i64)> = BTreeMap::new();
    for f in store.notice_facts(now - Duration::weeks(12), now).await? {
        let e = funnel.entry(f.kind.clone()).or_default();
        e.0 += 1;
        e.1 += u64::from(f.delivered);
        e.2 += u64::from(f.clicked);
        e.3 += u64::from(f.bought);
        e.4 += f.yen;
    }
    Ok(Reports {
        at: now,
        signups: signups.into_iter().map(|((d, s), n)| (d, s, n)).collect(),
        members,
        linked: store.linked_members().await?,
        tiers,
        points: months
            .into_iter()
            .map(|(m, (i, r, e))| (m, i, r, e))
            .collect(),
        funnel: funnel
            .into_iter()
            .map(|(k, (s, d, c, b, y))| (k, s, d, c, b, y))
            .collect(),
    })
}
