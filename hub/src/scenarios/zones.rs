//! Stores' time zones (docs/design.md §10): a member lives in their home store's time zone. The
//! daily scan runs once per business day of each zone, for that zone's members, and marketing
//! waits out quiet hours in the member's own time. A chain in one time zone (most) is one group:
//! everyone.

use std::collections::BTreeMap;

use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Tz;

use super::QuietHours;
use crate::store::HomeStores;

/// The hub's time zone and the stores that keep another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zones {
    /// Each time zone with the members it covers; the hub's own first.
    groups: Vec<(Tz, HomeStores)>,
}

impl Zones {
    /// Every store in `default`.
    pub fn single(default: Tz) -> Zones {
        Zones {
            groups: vec![(default, HomeStores::All)],
        }
    }

    /// `default` for every store but those in `stores` (store id → its time zone).
    pub fn new(default: Tz, stores: &BTreeMap<String, Tz>) -> Zones {
        // By the zone's name: `Tz` is not ordered.
        let mut elsewhere: BTreeMap<&str, (Tz, Vec<String>)> = BTreeMap::new();
        for (store, tz) in stores.iter().filter(|(_, tz)| **tz != default) {
            elsewhere
                .entry(tz.name())
                .or_insert_with(|| (*tz, Vec::new()))
                .1
                .push(store.clone());
        }
        if elsewhere.is_empty() {
            return Zones::single(default);
        }
        let others = elsewhere
            .values()
            .flat_map(|(_, s)| s.iter().cloned())
            .collect();
        let mut groups = vec![(default, HomeStores::Except(others))];
        groups.extend(
            elsewhere
                .into_values()
                .map(|(tz, s)| (tz, HomeStores::Only(s))),
        );
        Zones { groups }
    }

    /// The hub's own time zone (stores not named otherwise).
    pub fn default_zone(&self) -> Tz {
        self.groups.first().map_or(chrono_tz::Asia::Tokyo, |g| g.0)
    }

    /// Each time zone and its members.
    pub fn groups(&self) -> &[(Tz, HomeStores)] {
        &self.groups
    }

    /// The time zone of a member whose home store is `home`, and the members who share it.
    pub fn group_of(&self, home: Option<&str>) -> (Tz, HomeStores) {
        self.groups
            .iter()
            .find(|(_, stores)| stores.covers(home))
            .cloned()
            .unwrap_or((self.default_zone(), HomeStores::All))
    }

    /// Who may be sent marketing at `now`: the members whose local hour is out of `quiet`;
    /// `None` when it is quiet hours for everyone.
    pub fn awake(&self, now: DateTime<Utc>, quiet: QuietHours) -> Option<HomeStores> {
        let is_awake = |tz: &Tz| !quiet.contains(now.with_timezone(tz).hour());
        let awake: Vec<bool> = self.groups.iter().map(|(tz, _)| is_awake(tz)).collect();
        if awake.iter().all(|a| *a) {
            return Some(HomeStores::All);
        }
        if !awake.iter().any(|a| *a) {
            return None;
        }
        // Stores named in the groups other than the first (the hub's own, "everyone else").
        let named = |want: bool| -> Vec<String> {
            self.groups
                .iter()
                .zip(&awake)
                .skip(1)
                .filter(|(_, a)| **a == want)
                .flat_map(|((_, stores), _)| match stores {
                    HomeStores::Only(s) => s.clone(),
                    _ => Vec::new(),
                })
                .collect()
        };
        Some(if awake[0] {
            HomeStores::Except(named(false))
        } else {
            HomeStores::Only(named(true))
        })
    }
}

impl Zones {
    /// When the first of the groups in quiet hours at `now` wakes (their hours end): rows of
    /// members still asleep are looked at again then. `now` + 1 hour if none can tell.
    pub fn next_wake(&self, now: DateTime<Utc>, quiet: QuietHours) -> DateTime<Utc> {
        let fallback = now + chrono::Duration::hours(1);
        self.groups
            .iter()
            .filter(|(tz, _)| quiet.contains(now.with_timezone(tz).hour()))
            .filter_map(|(tz, _)| wake_after(now, *tz, quiet.end))
            .min()
            .unwrap_or(fallback)
    }
}

/// The next `end_hour`:00 in `tz` after `now`.
fn wake_after(now: DateTime<Utc>, tz: Tz, end_hour: u32) -> Option<DateTime<Utc>> {
    use chrono::TimeZone;
    let local = now.with_timezone(&tz);
    let at = chrono::NaiveTime::from_hms_opt(end_hour, 0, 0)?;
    [local.date_naive(), local.date_naive().succ_opt()?]
        .into_iter()
        .filter_map(|day| tz.from_local_datetime(&day.and_time(at)).earliest())
        .map(|t| t.with_timezone(&Utc))
        .find(|t| *t > now)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::{America::Los_Angeles, Asia::Tokyo, Pacific::Honolulu};

    fn stores(pairs: &[(&str, Tz)]) -> BTreeMap<String, Tz> {
        pairs.iter().map(|(s, tz)| (s.to_string(), *tz)).collect()
    }

    const QUIET: QuietHours = QuietHours { start: 21, end: 9 };

    #[test]
    fn a_chain_in_one_zone_is_one_group_of_everyone() {
        let z = Zones::new(Tokyo, &stores(&[("shibuya", Tokyo)]));
        assert_eq!(z, Zones::single(Tokyo));
        assert_eq!(z.groups(), &[(Tokyo, HomeStores::All)]);
    }

    #[test]
    fn stores_elsewhere_are_their_zones_members_and_no_one_elses() {
        let z = Zones::new(
            Tokyo,
            &stores(&[
                ("ala-moana", Honolulu),
                ("waikiki", Honolulu),
                ("la", Los_Angeles),
            ]),
        );
        let g = z.groups();
        assert_eq!(g.len(), 3);
        assert_eq!(g[0].0, Tokyo);
        assert_eq!(
            g[0].1,
            HomeStores::Except(vec!["la".into(), "ala-moana".into(), "waikiki".into()])
        );
        assert!(
            g[0].1.covers(None),
            "a member with no home store is the hub's"
        );
        assert!(g[0].1.covers(Some("shibuya")));
        assert!(!g[0].1.covers(Some("waikiki")));
        assert_eq!(g[1], (Los_Angeles, HomeStores::Only(vec!["la".into()])));
        assert_eq!(
            g[2],
            (
                Honolulu,
                HomeStores::Only(vec!["ala-moana".into(), "waikiki".into()])
            )
        );
        assert!(!g[2].1.covers(None));
        assert_eq!(z.default_zone(), Tokyo);
        assert_eq!(z.group_of(Some("waikiki")), g[2]);
        assert_eq!(z.group_of(Some("shibuya")), g[0]);
        assert_eq!(z.group_of(None), g[0]);
        assert_eq!(
            Zones::single(Tokyo).group_of(Some("waikiki")),
            (Tokyo, HomeStores::All)
        );
    }

    #[test]
    fn quiet_hours_are_each_members_own() {
        let z = Zones::new(Tokyo, &stores(&[("waikiki", Honolulu)]));
        let at = |h: u32| Utc.with_ymd_and_hms(2027, 1, 15, h, 0, 0).unwrap();
        // 01:00 UTC: 10:00 in Tokyo, 15:00 the day before in Honolulu. Everyone is awake.
        assert_eq!(z.awake(at(1), QUIET), Some(HomeStores::All));
        // 13:00 UTC: 22:00 in Tokyo (quiet), 03:00 in Honolulu (quiet).
        assert_eq!(z.awake(at(13), QUIET), None);
        // 20:00 UTC: 05:00 in Tokyo (quiet), 10:00 in Honolulu: only Honolulu's members.
        assert_eq!(
            z.awake(at(20), QUIET),
            Some(HomeStores::Only(vec!["waikiki".into()]))
        );
        // 07:00 UTC: 16:00 in Tokyo, 21:00 in Honolulu (quiet): everyone but Honolulu's.
        assert_eq!(
            z.awake(at(7), QUIET),
            Some(HomeStores::Except(vec!["waikiki".into()]))
        );
        // Honolulu's members wake at 09:00 there: 19:00 UTC.
        assert_eq!(
            z.next_wake(at(7), QUIET),
            Utc.with_ymd_and_hms(2027, 1, 15, 19, 0, 0).unwrap()
        );
        // 20:00 UTC: Tokyo asleep until 09:00 there, 00:00 UTC the next day.
        assert_eq!(
            z.next_wake(at(20), QUIET),
            Utc.with_ymd_and_hms(2027, 1, 16, 0, 0, 0).unwrap()
        );
        // 13:00 UTC: both asleep; Honolulu wakes first (09:00 there, 19:00 UTC), Tokyo at
        // 00:00 UTC.
        assert_eq!(
            z.next_wake(at(13), QUIET),
            Utc.with_ymd_and_hms(2027, 1, 15, 19, 0, 0).unwrap()
        );
    }
}
