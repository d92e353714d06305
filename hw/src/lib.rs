//! `tenpo-hw`: what a barcode scanner at the till sends, turned into member codes.
//!
//! The pure core, with no I/O, goes in this order:
//!
//! 1. [`framing`]: bytes as they arrive (split across reads, several codes in one read, noise,
//!    odd line ends) become frames, one per scanned code.
//! 2. [`aim`]: a frame's AIM symbology identifier (`]E0`, `]F0`, `]Q1` …) says what was scanned.
//! 3. [`code::parse_frame`]: a frame becomes a [`code::Scan`] (symbology and UTF-8 payload).
//! 4. [`code::classify`]: a scan becomes a [`code::MemberCode`] (paper card JAN or Codabar, the
//!    LINE card's static barcode or its signed rotating QR), or a [`code::Rejection`] a cashier
//!    can act on.
//! 5. [`debounce`]: the same code read twice in a row by the same scanner counts once.
//!
//! [`symbology`] holds the symbologies and their check-digit rules; [`product`] the product
//! barcodes a member's wish names. [`source`] holds the I/O: serial ports, keyboard wedges and
//! stdin.

pub mod aim;
pub mod code;
pub mod debounce;
pub mod framing;
pub mod product;
pub mod source;
pub mod symbology;

pub use code::{
    CodeRules, KeyError, KeyRing, MemberCode, Rejection, Scan, classify, parse_frame,
    parse_member_code,
};
pub use debounce::Debouncer;
pub use framing::{FrameEvent, Framer, FramerConfig, Terminator};
pub use product::{ProductCode, ProductError, parse_product, product_code};
pub use symbology::{CodabarCheck, Symbology};
