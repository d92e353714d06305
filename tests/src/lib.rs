//! tenpo's end-to-end tests: the real `tenpo-hub` and `tenpo-agent` processes over loopback,
//! each agent talking to the hub through its own fault-injecting proxy.
//!
//! - [`proxy`]: the fault-injecting TCP proxy.
//! - [`browser`]: headless Chromium through chromedriver, for the pages people use.
//! - [`harness`]: a test's world (a temporary directory, logs), the hub and agent processes
//!   (start, stop, SIGKILL, restart, enrol, the admin CLI, the local API), and polling.
//! - [`postgres`]: a throwaway PostgreSQL server the tests start themselves (for the hub's
//!   PostgreSQL store, here and in the hub's own tests).
//! - [`smtp`]: a real SMTP server (aiosmtpd) the tests start themselves, which keeps what it
//!   receives and refuses or drops on demand (for the hub's email).
//! - [`workload`]: the exactly-once workload (two tills, every fault mode).
//! - [`checks`]: what must hold afterwards: the hub's ledger is the union of the agents'
//!   ledgers, each event once with the same content; every member view agrees.
//!
//! The binaries are found next to the test executable (`target/<profile>/`); `cargo test
//! --workspace` builds them before it runs the tests.

pub mod browser;
pub mod checks;
pub mod harness;
pub mod postgres;
pub mod proxy;
pub mod smtp;
pub mod workload;

/// A 13-digit in-store card code (prefix 2) with its GS1 check digit, from a number: distinct
/// numbers give distinct codes. `prefix` (20 to 29) keeps tests' codes apart.
pub fn card_code(prefix: u8, n: u64) -> String {
    let body = format!("{prefix:02}{:010}", n % 10_000_000_000);
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_codes_carry_their_check_digit() {
        // The demo members' codes (README) come out of the same rule.
        assert_eq!(card_code(20, 1), "2000000000015");
        assert_eq!(card_code(20, 2), "2000000000022");
        assert_eq!(card_code(20, 3), "2000000000039");
        assert_eq!(card_code(29, 1_234_567_890), "2912345678906");
    }
}
