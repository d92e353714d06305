//! USB HID keyboard-wedge scanners: the scanner "types" each code and presses Enter.
//!
//! On Linux the agent reads the scanner's evdev device directly and grabs it, so scans do not
//! leak into whatever window has focus. Key codes become characters by the layout the scanner
//! types in: US, or the Japanese 106/109-key (JIS) layout, where shifted digits and the
//! punctuation Codabar and QR payloads use (`:` `+` `-` `_` `/`) sit on other keys.

use std::sync::Arc;
use std::time::Duration;

use super::{Backoff, Layout, ScannerConfig, Sink, SourceEvent, Stop};
use crate::framing::{FrameEvent, Framer, FramerConfig, Terminator};

/// Linux input key codes (`linux/input-event-codes.h`) the decoder knows.
mod key {
    pub const ESC: u16 = 1;
    pub const D1: u16 = 2; // KEY_1 … KEY_0 are 2 … 11
    pub const D0: u16 = 11;
    pub const MINUS: u16 = 12;
    pub const EQUAL: u16 = 13;
    pub const TAB: u16 = 15;
    pub const LEFTBRACE: u16 = 26;
    pub const RIGHTBRACE: u16 = 27;
    pub const ENTER: u16 = 28;
    pub const SEMICOLON: u16 = 39;
    pub const APOSTROPHE: u16 = 40;
    pub const GRAVE: u16 = 41;
    pub const LEFTSHIFT: u16 = 42;
    pub const BACKSLASH: u16 = 43;
    pub const COMMA: u16 = 51;
    pub const DOT: u16 = 52;
    pub const SLASH: u16 = 53;
    pub const RIGHTSHIFT: u16 = 54;
    pub const KPASTERISK: u16 = 55;
    pub const SPACE: u16 = 57;
    pub const CAPSLOCK: u16 = 58;
    pub const KP7: u16 = 71;
    pub const KP8: u16 = 72;
    pub const KP9: u16 = 73;
    pub const KPMINUS: u16 = 74;
    pub const KP4: u16 = 75;
    pub const KP5: u16 = 76;
    pub const KP6: u16 = 77;
    pub const KPPLUS: u16 = 78;
    pub const KP1: u16 = 79;
    pub const KP2: u16 = 80;
    pub const KP3: u16 = 81;
    pub const KP0: u16 = 82;
    pub const KPDOT: u16 = 83;
    pub const RO: u16 = 89; // JIS: \ _
    pub const KPENTER: u16 = 96;
    pub const KPSLASH: u16 = 98;
    pub const YEN: u16 = 124; // JIS: ¥ (sent as \) |
}

/// Letter keys in key-code order, row by row (Q row 16…25, A row 30…38, Z row 44…50).
const LETTERS: [(u16, char); 26] = [
    (16, 'q'),
    (17, 'w'),
    (18, 'e'),
    (19, 'r'),
    (20, 't'),
    (21, 'y'),
    (22, 'u'),
    (23, 'i'),
    (24, 'o'),
    (25, 'p'),
    (30, 'a'),
    (31, 's'),
    (32, 'd'),
    (33, 'f'),
    (34, 'g'),
    (35, 'h'),
    (36, 'j'),
    (37, 'k'),
    (38, 'l'),
    (44, 'z'),
    (45, 'x'),
    (46, 'c'),
    (47, 'v'),
    (48, 'b'),
    (49, 'n'),
    (50, 'm'),
];

/// (unshifted, shifted) for the digit row and punctuation, per layout.
fn symbol(layout: Layout, code: u16, shift: bool) -> Option<char> {
    const US_DIGITS_SHIFTED: [char; 10] = ['!', '@', '#', '$', '%', '^', '&', '*', '(', ')'];
    const JIS_DIGITS_SHIFTED: [char; 10] = ['!', '"', '#', '$', '%', '&', '\'', '(', ')', '\0'];
    if (key::D1..=key::D0).contains(&code) {
        let i = usize::from(code - key::D1);
        let digit = if code == key::D0 {
            '0'
        } else {
            char::from(b'1' + (code - key::D1) as u8)
        };
        if !shift {
            return Some(digit);
        }
        let c = match layout {
            Layout::Us => US_DIGITS_SHIFTED[i],
            Layout::Jis => JIS_DIGITS_SHIFTED[i],
        };
        return (c != '\0').then_some(c);
    }
    let (plain, shifted) = match (layout, code) {
        (_, key::SPACE) => (' ', ' '),
        (_, key::COMMA) => (',', '<'),
        (_, key::DOT) => ('.', '>'),
        (_, key::SLASH) => ('/', '?'),
        (Layout::Us, key::MINUS) => ('-', '_'),
        (Layout::Us, key::EQUAL) => ('=', '+'),
        (Layout::Us, key::LEFTBRACE) => ('[', '{'),
        (Layout::Us, key::RIGHTBRACE) => (']', '}'),
        (Layout::Us, key::SEMICOLON) => (';', ':'),
        (Layout::Us, key::APOSTROPHE) => ('\'', '"'),
        (Layout::Us, key::GRAVE) => ('`', '~'),
        (Layout::Us, key::BACKSLASH) => ('\\', '|'),
        (Layout::Jis, key::MINUS) => ('-', '='),
        (Layout::Jis, key::EQUAL) => ('^', '~'),
        (Layout::Jis, key::LEFTBRACE) => ('@', '`'),
        (Layout::Jis, key::RIGHTBRACE) => ('[', '{'),
        (Layout::Jis, key::SEMICOLON) => (';', '+'),
        (Layout::Jis, key::APOSTROPHE) => (':', '*'),
        (Layout::Jis, key::BACKSLASH) => (']', '}'),
        (Layout::Jis, key::RO) => ('\\', '_'),
        (Layout::Jis, key::YEN) => ('\\', '|'),
        // The keypad types the same on every layout, whatever the shift state.
        (_, key::KP0) => ('0', '0'),
        (_, key::KP1) => ('1', '1'),
        (_, key::KP2) => ('2', '2'),
        (_, key::KP3) => ('3', '3'),
        (_, key::KP4) => ('4', '4'),
        (_, key::KP5) => ('5', '5'),
        (_, key::KP6) => ('6', '6'),
        (_, key::KP7) => ('7', '7'),
        (_, key::KP8) => ('8', '8'),
        (_, key::KP9) => ('9', '9'),
        (_, key::KPDOT) => ('.', '.'),
        (_, key::KPMINUS) => ('-', '-'),
        (_, key::KPPLUS) => ('+', '+'),
        (_, key::KPASTERISK) => ('*', '*'),
        (_, key::KPSLASH) => ('/', '/'),
        _ => return None,
    };
    Some(if shift { shifted } else { plain })
}

/// What one key event means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOut {
    Char(char),
    /// Enter: the end of a scan.
    Enter,
}

/// Turns key events into characters, tracking Shift and Caps Lock.
#[derive(Debug, Clone)]
pub struct KeyDecoder {
    layout: Layout,
    left_shift: bool,
    right_shift: bool,
    caps: bool,
}

impl KeyDecoder {
    pub fn new(layout: Layout) -> KeyDecoder {
        KeyDecoder {
            layout,
            left_shift: false,
            right_shift: false,
            caps: false,
        }
    }

    /// One `EV_KEY` event: `value` 1 is press, 0 release, 2 auto-repeat.
    pub fn key(&mut self, code: u16, value: i32) -> Option<KeyOut> {
        let pressed = value != 0;
        match code {
            key::LEFTSHIFT => self.left_shift = pressed,
            key::RIGHTSHIFT => self.right_shift = pressed,
            key::CAPSLOCK if value == 1 => self.caps = !self.caps,
            _ if value == 0 => {}
            key::ENTER | key::KPENTER => return Some(KeyOut::Enter),
            key::TAB | key::ESC => {}
            _ => {
                let shift = self.left_shift || self.right_shift;
                if let Some(&(_, letter)) = LETTERS.iter().find(|(c, _)| *c == code) {
                    let upper = shift != self.caps;
                    return Some(KeyOut::Char(if upper {
                        letter.to_ascii_uppercase()
                    } else {
                        letter
                    }));
                }
                return symbol(self.layout, code, shift).map(KeyOut::Char);
            }
        }
        None
    }
}

/// Frames typed characters: Enter ends a scan.
#[derive(Debug)]
pub struct Typist {
    decoder: KeyDecoder,
    framer: Framer,
}

impl Typist {
    pub fn new(config: &ScannerConfig) -> Typist {
        Typist {
            decoder: KeyDecoder::new(config.layout),
            framer: Framer::new(FramerConfig {
                terminator: Terminator::Cr,
                ..config.framer()
            }),
        }
    }

    /// Feeds one key event; returns the frames it completes.
    pub fn key(&mut self, code: u16, value: i32) -> Vec<FrameEvent> {
        match self.decoder.key(code, value) {
            Some(KeyOut::Char(c)) => {
                let mut utf8 = [0u8; 4];
                self.framer.push(c.encode_utf8(&mut utf8).as_bytes())
            }
            Some(KeyOut::Enter) => self.framer.push(b"\r"),
            None => Vec::new(),
        }
    }
}

/// Runs a keyboard-wedge scanner until `stop`, reopening the device when it comes back.
pub fn run(config: &ScannerConfig, sink: &dyn Sink, stop: &Stop) {
    let name: Arc<str> = config.name.as_str().into();
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    let mut last_error: Option<String> = None;
    while !stop.is_stopped() {
        match read_device(config, &name, sink, stop, &mut backoff) {
            Ok(()) => return,
            Err(error) => {
                if last_error.as_ref() != Some(&error) {
                    sink.deliver(SourceEvent::Disconnected {
                        scanner: name.clone(),
                        error: error.clone(),
                    });
                    last_error = Some(error);
                }
            }
        }
        if !stop.sleep(backoff.next_delay()) {
            return;
        }
    }
}

#[cfg(target_os = "linux")]
fn read_device(
    config: &ScannerConfig,
    name: &Arc<str>,
    sink: &dyn Sink,
    stop: &Stop,
    backoff: &mut Backoff,
) -> Result<(), String> {
    let path = config.path.clone().unwrap_or_default();
    let mut device =
        evdev::Device::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    if config.grab {
        device.grab().map_err(|e| {
            format!(
                "cannot take {} for the agent alone (grab): {e}",
                path.display()
            )
        })?;
    }
    backoff.reset();
    sink.deliver(SourceEvent::Connected {
        scanner: name.clone(),
        detail: format!(
            "{} ({:?} layout{})",
            path.display(),
            config.layout,
            if config.grab { ", grabbed" } else { "" }
        ),
    });
    let mut typist = Typist::new(config);
    while !stop.is_stopped() {
        let events = device
            .fetch_events()
            .map_err(|e| format!("{} went away: {e}", path.display()))?;
        let at = std::time::Instant::now();
        for ev in events {
            if ev.event_type() == evdev::EventType::KEY {
                for out in typist.key(ev.code(), ev.value()) {
                    deliver(name, sink, out, at);
                }
            }
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn read_device(
    _: &ScannerConfig,
    _: &Arc<str>,
    _: &dyn Sink,
    _: &Stop,
    _: &mut Backoff,
) -> Result<(), String> {
    Err("keyboard-wedge scanners are read directly on Linux only; use the scanner's serial (USB-CDC) mode".into())
}

#[cfg(target_os = "linux")]
fn deliver(name: &Arc<str>, sink: &dyn Sink, event: FrameEvent, at: std::time::Instant) {
    sink.deliver(match event {
        FrameEvent::Frame(frame) => SourceEvent::Frame {
            scanner: name.clone(),
            frame,
            at,
        },
        FrameEvent::Overlong { len } => SourceEvent::Dropped {
            scanner: name.clone(),
            what: format!("a line of {len} characters"),
        },
        FrameEvent::Noise { bytes } => SourceEvent::Dropped {
            scanner: name.clone(),
            what: format!("{bytes} noise characters"),
        },
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Presses and releases keys as a scanner does, with Shift around shifted characters.
    fn type_keys(typist: &mut Typist, keys: &[(u16, bool)]) -> Vec<FrameEvent> {
        let mut out = Vec::new();
        for &(code, shifted) in keys {
            if shifted {
                out.extend(typist.key(key::LEFTSHIFT, 1));
            }
            out.extend(typist.key(code, 1));
            out.extend(typist.key(code, 0));
            if shifted {
                out.extend(typist.key(key::LEFTSHIFT, 0));
            }
        }
        out
    }

    fn digits(s: &str) -> Vec<(u16, bool)> {
        s.bytes()
            .map(|b| {
                (
                    if b == b'0' {
                        key::D0
                    } else {
                        key::D1 + u16::from(b - b'1')
                    },
                    false,
                )
            })
            .collect()
    }

    #[test]
    fn a_jan_typed_then_enter_is_one_frame() {
        let mut t = Typist::new(&ScannerConfig::new("kb", super::super::Kind::Keyboard));
        let mut keys = digits("2000000000015");
        keys.push((key::ENTER, false));
        assert_eq!(
            type_keys(&mut t, &keys),
            vec![FrameEvent::Frame(b"2000000000015".to_vec())]
        );
    }

    #[test]
    fn codabar_punctuation_differs_between_us_and_jis() {
        // "A12:+B": on US ':' is Shift+; and '+' Shift+=; on JIS ':' is its own key, '+' Shift+;.
        let us = [
            (30, true),
            (key::D1, false),
            (key::D1 + 1, false),
            (key::SEMICOLON, true),
            (key::EQUAL, true),
            (48, true),
            (key::ENTER, false),
        ];
        let jis = [
            (30, true),
            (key::D1, false),
            (key::D1 + 1, false),
            (key::APOSTROPHE, false),
            (key::SEMICOLON, true),
            (48, true),
            (key::ENTER, false),
        ];
        let mut cfg = ScannerConfig::new("kb", super::super::Kind::Keyboard);
        let mut t = Typist::new(&cfg);
        assert_eq!(
            type_keys(&mut t, &us),
            vec![FrameEvent::Frame(b"A12:+B".to_vec())]
        );
        cfg.layout = Layout::Jis;
        let mut t = Typist::new(&cfg);
        assert_eq!(
            type_keys(&mut t, &jis),
            vec![FrameEvent::Frame(b"A12:+B".to_vec())]
        );
        // The same keys read with the wrong layout give a different code: the layout matters.
        let mut t = Typist::new(&ScannerConfig::new("kb", super::super::Kind::Keyboard));
        assert_ne!(
            type_keys(&mut t, &jis),
            vec![FrameEvent::Frame(b"A12:+B".to_vec())]
        );
    }

    #[test]
    fn shifted_digits_per_layout() {
        let mut us = KeyDecoder::new(Layout::Us);
        let mut jis = KeyDecoder::new(Layout::Jis);
        us.key(key::LEFTSHIFT, 1);
        jis.key(key::RIGHTSHIFT, 1);
        assert_eq!(us.key(key::D1 + 1, 1), Some(KeyOut::Char('@')));
        assert_eq!(jis.key(key::D1 + 1, 1), Some(KeyOut::Char('"')));
        assert_eq!(us.key(key::D1 + 6, 1), Some(KeyOut::Char('&')));
        assert_eq!(jis.key(key::D1 + 6, 1), Some(KeyOut::Char('\'')));
        assert_eq!(jis.key(key::RO, 1), Some(KeyOut::Char('_')));
        assert_eq!(jis.key(key::D0, 1), None, "Shift+0 types nothing on JIS");
    }

    #[test]
    fn caps_lock_and_keypad_and_repeats() {
        let mut d = KeyDecoder::new(Layout::Us);
        assert_eq!(d.key(key::CAPSLOCK, 1), None);
        d.key(key::CAPSLOCK, 0);
        assert_eq!(d.key(30, 1), Some(KeyOut::Char('A')));
        d.key(key::LEFTSHIFT, 1);
        assert_eq!(
            d.key(30, 1),
            Some(KeyOut::Char('a')),
            "Shift undoes Caps Lock"
        );
        assert_eq!(d.key(key::KP5, 1), Some(KeyOut::Char('5')));
        assert_eq!(d.key(key::KPENTER, 1), Some(KeyOut::Enter));
        assert_eq!(d.key(30, 0), None, "releases type nothing");
        assert_eq!(d.key(300, 1), None, "unknown keys type nothing");
    }
}
