//! How the console shows values: times in the hub's time zone, yen with separators, and the
//! names of the kinds of history and audit entries in the page's language.

use chrono::DateTime;
use chrono_tz::Tz;

use super::text::{Lang, T};

/// A stored time (RFC 3339) as staff read it: in the hub's time zone, to the second. Text that
/// is not a time is shown as it is.
pub fn when(tz: Tz, stored: &str) -> String {
    match DateTime::parse_from_rfc3339(stored) {
        Ok(at) => at
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        Err(_) => stored.to_owned(),
    }
}

/// Yen as a price is written (`¥48,000`): the reports' own.
pub use crate::wishes::report::yen;

/// A clock difference in seconds to a tenth, signed: `+1.5`, `-62.0`, and `0.0` for less than
/// 50 ms either way.
pub fn seconds(ms: i64) -> String {
    let tenths = (ms as f64 / 100.0).round() as i64;
    if tenths == 0 {
        return "0.0".to_owned();
    }
    let sign = if tenths < 0 { "-" } else { "+" };
    let t = tenths.unsigned_abs();
    format!("{sign}{}.{}", t / 10, t % 10)
}

/// The name of a history entry's or audit entry's kind; one the console does not know is shown
/// as it is stored.
pub fn kind(lang: Lang, kind: &str) -> &str {
    let key = match kind {
        "sale" => T::Sale,
        "refund" => T::KindRefund,
        "wish" => T::KindWish,
        "member_provisional" => T::KindProvisional,
        "adjust_points" => T::AdjustPoints,
        "replace_card" => T::ReplaceCard,
        "unlink_line" => T::UnlinkLine,
        "issue_coupon" => T::IssueCoupon,
        "load_rules" => T::KindLoadRules,
        "release_held" => T::KindRelease,
        "dismiss_held" => T::KindDismiss,
        "sign_in_locked" => T::KindLocked,
        other => return other,
    };
    lang.t(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_the_hubs_and_yen_is_grouped() {
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap_or(Tz::UTC);
        assert_eq!(
            when(tokyo, "2026-12-03T05:47:19.543296060+00:00"),
            "2026-12-03 14:47:19"
        );
        assert_eq!(when(tokyo, "not a time"), "not a time");
        assert_eq!(yen(48_000), "¥48,000");
        assert_eq!(yen(-1_234_567), "-¥1,234,567");
        assert_eq!(yen(0), "¥0");
        assert_eq!(yen(999), "¥999");
        assert_eq!(seconds(-30), "0.0");
        assert_eq!(seconds(1_549), "+1.5");
        assert_eq!(seconds(-62_000), "-62.0");
        assert_eq!(kind(Lang::En, "replace_card"), "Replace a lost card");
        assert_eq!(kind(Lang::Ja, "refund"), "返品");
        assert_eq!(kind(Lang::En, "something_new"), "something_new");
    }
}
