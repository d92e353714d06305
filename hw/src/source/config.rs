//! How a scanner is configured: a `[[scanners]]` table in the agent's TOML, or a `--scanner`
//! spec on the command line (`serial:/dev/ttyACM0,baud=9600,terminator=cr`).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::framing::{FramerConfig, Terminator};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A serial or USB-CDC port.
    Serial,
    /// A USB HID keyboard-wedge scanner (Linux evdev), grabbed so scans do not leak.
    Keyboard,
    /// Standard input, one scan per line (development).
    Stdin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminatorSetting {
    #[default]
    Cr,
    Lf,
    Crlf,
    /// No terminator: a scan ends when the line is quiet for `idle_ms`.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParitySetting {
    #[default]
    None,
    Odd,
    Even,
}

/// The keyboard layout a wedge scanner types in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    #[default]
    Us,
    /// Japanese (106/109-key).
    Jis,
}

fn default_baud() -> u32 {
    9600
}
fn default_data_bits() -> u8 {
    8
}
fn default_stop_bits() -> u8 {
    1
}
fn default_idle_ms() -> u64 {
    50
}
fn default_max_len() -> usize {
    512
}
fn default_true() -> bool {
    true
}

/// One scanner. Keys that do not apply to its kind are refused by [`ScannerConfig::check`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScannerConfig {
    /// Shown in the status and on every scan event.
    pub name: String,
    pub kind: Kind,
    /// Serial: the port (`/dev/ttyACM0`, `/dev/serial/by-id/…`, `COM3`); keyboard: the event
    /// device (`/dev/input/by-id/…-event-kbd`).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Serial: find the port by USB vendor and product id instead, as `vvvv:pppp` in hex.
    #[serde(default)]
    pub usb: Option<String>,
    #[serde(default = "default_baud")]
    pub baud: u32,
    #[serde(default = "default_data_bits")]
    pub data_bits: u8,
    #[serde(default)]
    pub parity: ParitySetting,
    #[serde(default = "default_stop_bits")]
    pub stop_bits: u8,
    #[serde(default)]
    pub terminator: TerminatorSetting,
    /// With `terminator = "none"`: the quiet time that ends a scan.
    #[serde(default = "default_idle_ms")]
    pub idle_ms: u64,
    /// Characters the scanner is set to send before / after each code, stripped.
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub suffix: String,
    /// Lines longer than this are dropped (no barcode is this long).
    #[serde(default = "default_max_len")]
    pub max_len: usize,
    /// Keyboard: the layout the scanner types in.
    #[serde(default)]
    pub layout: Layout,
    /// Keyboard: take the device for this agent alone, so scans do not reach other windows.
    #[serde(default = "default_true")]
    pub grab: bool,
}

/// A scanner setting that cannot work, naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scanner {scanner:?}: `{key}` {problem}")]
pub struct ConfigError {
    pub scanner: String,
    pub key: &'static str,
    pub problem: String,
}

impl ScannerConfig {
    /// A scanner of `kind` with every other setting at its default.
    pub fn new(name: impl Into<String>, kind: Kind) -> ScannerConfig {
        ScannerConfig {
            name: name.into(),
            kind,
            path: None,
            usb: None,
            baud: default_baud(),
            data_bits: default_data_bits(),
            parity: ParitySetting::None,
            stop_bits: default_stop_bits(),
            terminator: TerminatorSetting::Cr,
            idle_ms: default_idle_ms(),
            prefix: String::new(),
            suffix: String::new(),
            max_len: default_max_len(),
            layout: Layout::Us,
            grab: true,
        }
    }

    fn err(&self, key: &'static str, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            scanner: self.name.clone(),
            key,
            problem: problem.into(),
        }
    }

    /// Checks values and the keys that matter for the kind.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.name.is_empty()
            || self.name.len() > 64
            || !self.name.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(self.err(
                "name",
                "must be 1 to 64 printable characters without spaces",
            ));
        }
        match self.kind {
            Kind::Serial => {
                if self.path.is_none() == self.usb.is_none() {
                    return Err(self.err(
                        "path",
                        "give exactly one of `path` or `usb` for a serial scanner",
                    ));
                }
                if let Some(usb) = &self.usb {
                    parse_usb_id(usb).ok_or_else(|| {
                        self.err("usb", format!("{usb:?} is not `vvvv:pppp` in hex"))
                    })?;
                }
                if !(300..=921_600).contains(&self.baud) {
                    return Err(self.err("baud", "must be between 300 and 921600"));
                }
                if !(5..=8).contains(&self.data_bits) {
                    return Err(self.err("data_bits", "must be 5, 6, 7 or 8"));
                }
                if !(1..=2).contains(&self.stop_bits) {
                    return Err(self.err("stop_bits", "must be 1 or 2"));
                }
                if !(5..=5_000).contains(&self.idle_ms) {
                    return Err(self.err("idle_ms", "must be between 5 and 5000"));
                }
            }
            Kind::Keyboard => {
                if self.path.is_none() {
                    return Err(self.err("path", "a keyboard scanner needs its event device path"));
                }
                if self.usb.is_some() {
                    return Err(self.err("usb", "applies to serial scanners only"));
                }
            }
            Kind::Stdin => {
                if self.path.is_some() || self.usb.is_some() {
                    return Err(self.err("path", "standard input takes no path"));
                }
            }
        }
        if !(16..=8_192).contains(&self.max_len) {
            return Err(self.err("max_len", "must be between 16 and 8192"));
        }
        Ok(())
    }

    /// The framing this scanner's settings describe.
    pub fn framer(&self) -> FramerConfig {
        FramerConfig {
            terminator: match self.terminator {
                TerminatorSetting::Cr => Terminator::Cr,
                TerminatorSetting::Lf => Terminator::Lf,
                TerminatorSetting::Crlf => Terminator::CrLf,
                TerminatorSetting::None => Terminator::None,
            },
            prefix: self.prefix.as_bytes().to_vec(),
            suffix: self.suffix.as_bytes().to_vec(),
            max_len: self.max_len,
        }
    }

    pub fn idle(&self) -> Duration {
        Duration::from_millis(self.idle_ms)
    }

    /// Parses a command-line spec: `KIND[:PATH][,key=value…]`, e.g.
    /// `serial:/dev/ttyUSB0,baud=19200,terminator=crlf`, `serial:usb=0c2e:0b61`,
    /// `keyboard:/dev/input/event3,layout=jis`, `stdin`. `index` names unnamed scanners.
    pub fn from_spec(spec: &str, index: usize) -> Result<ScannerConfig, ConfigError> {
        let bad = |key: &'static str, problem: String| ConfigError {
            scanner: spec.to_owned(),
            key,
            problem,
        };
        let mut parts = spec.split(',');
        let head = parts.next().unwrap_or_default();
        let (kind_text, path) = match head.split_once(':') {
            Some((k, p)) => (k, Some(p)),
            None => (head, None),
        };
        let kind = match kind_text {
            "serial" => Kind::Serial,
            "keyboard" => Kind::Keyboard,
            "stdin" => Kind::Stdin,
            other => {
                return Err(bad(
                    "kind",
                    format!("{other:?} is not serial, keyboard or stdin"),
                ));
            }
        };
        let mut c = ScannerConfig::new(format!("{kind_text}-{index}"), kind);
        match path {
            Some(p) if p.starts_with("usb=") => {
                c.usb = Some(p.trim_start_matches("usb=").to_owned())
            }
            Some(p) if !p.is_empty() => c.path = Some(PathBuf::from(p)),
            _ => {}
        }
        for kv in parts {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| bad("spec", format!("{kv:?} is not key=value")))?;
            let num = |key: &'static str| {
                v.parse::<u64>()
                    .map_err(|_| bad(key, format!("{v:?} is not a number")))
            };
            match k {
                "name" => c.name = v.to_owned(),
                "usb" => c.usb = Some(v.to_owned()),
                "baud" => c.baud = num("baud")? as u32,
                "data_bits" => c.data_bits = num("data_bits")? as u8,
                "stop_bits" => c.stop_bits = num("stop_bits")? as u8,
                "idle_ms" => c.idle_ms = num("idle_ms")?,
                "max_len" => c.max_len = num("max_len")? as usize,
                "prefix" => c.prefix = v.to_owned(),
                "suffix" => c.suffix = v.to_owned(),
                "parity" => {
                    c.parity = match v {
                        "none" => ParitySetting::None,
                        "odd" => ParitySetting::Odd,
                        "even" => ParitySetting::Even,
                        _ => return Err(bad("parity", format!("{v:?} is not none, odd or even"))),
                    }
                }
                "terminator" => {
                    c.terminator = match v {
                        "cr" => TerminatorSetting::Cr,
                        "lf" => TerminatorSetting::Lf,
                        "crlf" => TerminatorSetting::Crlf,
                        "none" => TerminatorSetting::None,
                        _ => {
                            return Err(bad(
                                "terminator",
                                format!("{v:?} is not cr, lf, crlf or none"),
                            ));
                        }
                    }
                }
                "layout" => {
                    c.layout = match v {
                        "us" => Layout::Us,
                        "jis" => Layout::Jis,
                        _ => return Err(bad("layout", format!("{v:?} is not us or jis"))),
                    }
                }
                "grab" => c.grab = v != "false" && v != "0" && v != "no",
                _ => return Err(bad("spec", format!("unknown key {k:?}"))),
            }
        }
        c.check()?;
        Ok(c)
    }
}

/// `"0c2e:0b61"` → (0x0c2e, 0x0b61).
pub fn parse_usb_id(text: &str) -> Option<(u16, u16)> {
    let (v, p) = text.split_once(':')?;
    if v.len() != 4 || p.len() != 4 {
        return None;
    }
    Some((
        u16::from_str_radix(v, 16).ok()?,
        u16::from_str_radix(p, 16).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_bad_ones_name_the_key() {
        let c = ScannerConfig::from_spec(
            "serial:/dev/ttyUSB0,baud=19200,terminator=crlf,parity=even",
            0,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (c.baud, c.terminator, c.parity),
            (19200, TerminatorSetting::Crlf, ParitySetting::Even)
        );
        assert_eq!(c.path, Some(PathBuf::from("/dev/ttyUSB0")));
        let u =
            ScannerConfig::from_spec("serial:usb=0c2e:0b61", 1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(u.usb.as_deref(), Some("0c2e:0b61"));
        assert_eq!(u.name, "serial-1");
        assert!(ScannerConfig::from_spec("stdin", 2).is_ok());
        for (spec, key) in [
            ("serial", "path"),
            ("serial:/dev/x,baud=12", "baud"),
            ("serial:/dev/x,terminator=nul", "terminator"),
            ("serial:usb=zz", "usb"),
            ("keyboard", "path"),
            ("printer:/dev/lp0", "kind"),
            ("serial:/dev/x,colour=red", "spec"),
        ] {
            match ScannerConfig::from_spec(spec, 0) {
                Err(e) => assert_eq!(e.key, key, "{spec}: {e}"),
                Ok(c) => panic!("{spec} should fail, got {c:?}"),
            }
        }
    }

    #[test]
    fn usb_ids() {
        assert_eq!(parse_usb_id("0c2e:0b61"), Some((0x0c2e, 0x0b61)));
        assert_eq!(parse_usb_id("c2e:b61"), None);
    }
}
