//! The docs' samples are true: every sample config file validates with the program it is for,
//! and every card code the docs show is what the docs say it is (a valid code, or a bad check
//! digit with the digit it should have).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use tenpo_e2e::harness::bin;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Validates `file` with `program validate`, after pointing the paths it names (rules, data)
/// at ones that exist here.
fn validates(program: &str, file: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let rules = root().join("loyalty/examples/demo-rules.toml");
    let text = std::fs::read_to_string(file).unwrap();
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("rules = ") {
                format!("rules = {:?}", rules.display().to_string())
            } else if l.starts_with("data_dir = ") {
                format!("data_dir = {:?}", dir.path().display().to_string())
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    // A packaged terminal config names no store: enrolment gives it one. Validated as the
    // terminal runs it after enrolment.
    let names = |key: &str| text.lines().any(|l| l.starts_with(&format!("{key} =")));
    let mut head = String::new();
    if program == "tenpo-agent" && !names("store_id") {
        head.push_str("store_id = \"s-doc\"\nterminal_id = \"t-doc\"\n");
    }
    if program == "tenpo-agent" && !names("rules") {
        head.push_str(&format!("rules = {:?}\n", rules.display().to_string()));
    }
    let text = format!("{head}{text}");
    let copy = dir.path().join("config.toml");
    std::fs::write(&copy, text).unwrap();
    let out = Command::new(bin(program))
        .arg("validate")
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} does not validate with {program}: {}{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_sample_config_validates() {
    for file in [
        "docs/agent.example.toml",
        "packaging/linux/agent.toml",
        "packaging/windows/agent.toml",
    ] {
        validates("tenpo-agent", &root().join(file));
    }
    validates("tenpo-hub", &root().join("packaging/linux/hub.toml"));
}

#[test]
fn the_example_config_names_every_section_the_agent_reads() {
    let text = std::fs::read_to_string(root().join("docs/agent.example.toml")).unwrap();
    for section in ["[scan]", "[sync]", "[signup]", "[[scanners]]"] {
        assert!(
            text.contains(section),
            "docs/agent.example.toml lacks {section}"
        );
    }
    for key in [
        "batch",
        "offline_redeem_limit",
        "interval_ms",
        "liff_id",
        "session_secs",
    ] {
        assert!(
            text.contains(&format!("{key} =")),
            "docs/agent.example.toml lacks {key}"
        );
    }
}

/// The 13-digit in-store codes (prefix 20–29) in a text, with what follows each on its line.
fn codes(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let bytes = line.as_bytes();
        let mut i = 0;
        while i + 13 <= bytes.len() {
            let window = &bytes[i..i + 13];
            let bounded = (i == 0 || !bytes[i - 1].is_ascii_digit())
                && bytes.get(i + 13).is_none_or(|b| !b.is_ascii_digit());
            if bounded && window.iter().all(u8::is_ascii_digit) && window[0] == b'2' {
                // All ASCII digits: these byte offsets are character boundaries.
                let code = String::from_utf8_lossy(window).into_owned();
                let rest = String::from_utf8_lossy(&bytes[i + 13..]).into_owned();
                out.push((code, rest));
                i += 13;
            } else {
                i += 1;
            }
        }
    }
    out
}

#[test]
fn card_codes_in_the_docs_are_what_the_docs_say() {
    let mut checked = 0;
    for file in ["README.md", "docs/hub.md", "docs/design.md"] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        for (code, rest) in codes(&text) {
            let right = tenpo_protocol::codes::with_check_digit(&code[..12]).unwrap();
            if let Some(said) = rest.split("the last digit should be ").nth(1) {
                // Shown as a bad check digit: it must be bad, and the digit it names right.
                assert_ne!(
                    code, right,
                    "{file}: {code} is shown as a bad check digit but is valid"
                );
                assert_eq!(
                    said.chars().next(),
                    right.chars().last(),
                    "{file}: {code}: the right check digit is {right}"
                );
            } else {
                assert_eq!(
                    code, right,
                    "{file}: {code} is shown as a card but its check digit is wrong"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 5, "the docs show card codes");
}
