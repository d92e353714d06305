//! Member card codes, in one small crate so the scanner code (`tenpo-hw`) can check them without
//! the wire types, and the hub signs with the same code the terminal verifies against:
//!
//! - [`codes`]: the paper card's 13-digit in-store JAN and its GS1 check digit;
//! - [`card`]: the LINE digital member card's rotating QR, Ed25519-signed by the hub and checked
//!   offline at the till (docs/design.md §6).

pub mod card;
pub mod codes;
