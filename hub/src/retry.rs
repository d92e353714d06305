//! How long a message whose attempt failed for a reason that passes (a busy server, a cut
//! connection) waits before its next attempt: 2 s, doubling, at most 10 minutes. LINE's sender
//! and email's alike (docs/design.md §10).

use std::time::Duration;

/// The wait before the attempt after `attempts` failed ones.
pub fn retry_delay(attempts: u32) -> Duration {
    let factor = 1u32
        .checked_shl(attempts.saturating_sub(1).min(20))
        .unwrap_or(u32::MAX);
    Duration::from_secs(2)
        .saturating_mul(factor)
        .min(Duration::from_secs(600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_up_to_ten_minutes() {
        assert_eq!(retry_delay(0), Duration::from_secs(2));
        assert_eq!(retry_delay(1), Duration::from_secs(2));
        assert_eq!(retry_delay(2), Duration::from_secs(4));
        assert_eq!(retry_delay(3), Duration::from_secs(8));
        assert_eq!(retry_delay(5), Duration::from_secs(32));
        assert_eq!(retry_delay(30), Duration::from_secs(600));
        assert_eq!(retry_delay(u32::MAX), Duration::from_secs(600));
    }
}
