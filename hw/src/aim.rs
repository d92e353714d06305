//! AIM symbology identifiers (ISO/IEC 15424): the `]Cm` a scanner can put before each code, with
//! `C` the symbology and `m` a modifier. Scanners send them when set to; with them the agent
//! knows an EAN-13 from a Code 128 carrying the same digits.

use crate::symbology::Symbology;

/// Splits a frame's AIM identifier from its data.
///
/// `]E0…` → EAN-13 (`]E3`, EAN-13 with an add-on, too), `]E4` → EAN-8, `]C1` → GS1-128, any
/// other `]C` → Code 128, `]F` → Codabar, `]Q` → QR, `]A` → Code 39, `]I` → ITF, any other
/// well-formed `]Xm` → `Other("Xm")`. A frame that does not start with a well-formed identifier
/// (`]`, a letter, a letter or digit) is returned whole with `None`.
pub fn split_aim(frame: &[u8]) -> (Option<Symbology>, &[u8]) {
    let [b']', code, modifier, rest @ ..] = frame else {
        return (None, frame);
    };
    if !code.is_ascii_alphabetic() || !modifier.is_ascii_alphanumeric() {
        return (None, frame);
    }
    let symbology = match (code, modifier) {
        (b'E', b'0' | b'3') => Symbology::Ean13,
        (b'E', b'4') => Symbology::Ean8,
        (b'C', b'1') => Symbology::Gs1_128,
        (b'C', _) => Symbology::Code128,
        (b'F', _) => Symbology::Codabar,
        (b'Q', _) => Symbology::Qr,
        (b'A', _) => Symbology::Code39,
        (b'I', _) => Symbology::Itf,
        _ => Symbology::Other(format!("{}{}", char::from(*code), char::from(*modifier))),
    };
    (Some(symbology), rest)
}
