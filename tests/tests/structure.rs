//! The "must never know" rules of ARCHITECTURE.md that a machine can check: which crate may
//! depend on which (from `cargo metadata`), and what the engine's and the kiosk's sources never
//! touch. A change that breaks one fails here, so the document cannot drift from the code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Each workspace crate's normal (not dev or build) dependencies.
fn dependencies() -> BTreeMap<String, Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| d["name"].as_str().unwrap().to_owned())
                .collect();
            (p["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

/// The layers, bottom up: a crate depends only on crates of lower layers.
const LAYERS: &[(&str, u8)] = &[
    ("tenpo-loyalty", 0),
    ("tenpo-codes", 0),
    ("tenpo-support", 0),
    ("tenpo-line", 0),
    ("tenpo-protocol", 1),
    ("tenpo-edge", 2),
    ("tenpo-hw", 2),
    ("tenpo-agent", 3),
    ("tenpo-hub", 3),
    ("tenpo-kiosk", 3),
    ("tenpo-e2e", 4),
];

fn layer(name: &str) -> u8 {
    LAYERS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, l)| *l)
        .unwrap_or_else(|| panic!("{name} is not in LAYERS: place it (and in ARCHITECTURE.md)"))
}

#[test]
fn nothing_depends_upward_or_sideways() {
    for (name, deps) in dependencies() {
        for dep in deps.iter().filter(|d| d.starts_with("tenpo-")) {
            assert!(
                layer(dep) < layer(&name),
                "{name} depends on {dep}: crates depend only on lower layers (ARCHITECTURE.md)"
            );
        }
    }
}

#[test]
fn each_crate_keeps_to_what_it_may_know() {
    let deps = dependencies();
    let of = |name: &str| deps.get(name).cloned().unwrap_or_default();
    // The engine: serde only; no SQLite, HTTP, LINE, clocks or randomness.
    assert_eq!(
        of("tenpo-loyalty"),
        ["serde"],
        "tenpo-loyalty depends on serde only"
    );
    let storage = ["rusqlite", "tokio-postgres", "deadpool-postgres"];
    let servers = [
        "axum",
        "hyper",
        "hyper-util",
        "tower-http",
        "tokio",
        "reqwest",
    ];
    let rules: &[(&str, &[&[&str]])] = &[
        ("tenpo-protocol", &[&storage, &servers]),
        ("tenpo-edge", &[&storage, &["tenpo-loyalty"]]),
        // The scanner code knows card codes, not the wire types (nor the loyalty engine).
        (
            "tenpo-hw",
            &[&storage, &servers, &["tenpo-protocol", "tenpo-loyalty"]],
        ),
        (
            "tenpo-codes",
            &[
                &storage,
                &servers,
                &["tenpo-protocol", "tenpo-loyalty", "serde"],
            ],
        ),
        // LINE as tenpo uses it knows nothing of tenpo (members, points, storage); the agent
        // never talks to LINE (only the hub and the kiosk's phone do).
        (
            "tenpo-line",
            &[
                &storage,
                &[
                    "tenpo-loyalty",
                    "tenpo-protocol",
                    "tenpo-codes",
                    "tenpo-support",
                    "tenpo-edge",
                ],
            ],
        ),
        ("tenpo-agent", &[&["tenpo-line"]]),
        // The kiosk talks to the agent's API only (reqwest): no database, no server.
        (
            "tenpo-kiosk",
            &[&storage, &["axum", "hyper", "tenpo-loyalty", "tenpo-hw"]],
        ),
    ];
    for (name, banned) in rules {
        for dep in of(name) {
            assert!(
                !banned.iter().any(|b| b.contains(&dep.as_str())),
                "{name} must not depend on {dep} (ARCHITECTURE.md, code map)"
            );
        }
    }
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path, text));
            }
        }
    }
    out
}

#[test]
fn the_engine_reads_no_clock_and_draws_no_randomness() {
    for (path, text) in sources(&root().join("loyalty/src")) {
        for banned in [
            "SystemTime",
            "Instant::now",
            "Utc::now",
            "Local::now",
            "rand::",
            "getrandom",
        ] {
            assert!(
                !text.contains(banned),
                "{} uses {banned}: the engine takes the date and everything else as arguments",
                path.display()
            );
        }
    }
}

#[test]
fn end_to_end_tests_read_the_hub_through_its_audit_path() {
    let manifest = std::fs::read_to_string(root().join("tests/Cargo.toml")).unwrap();
    assert!(
        !manifest.contains("rusqlite"),
        "tenpo-e2e must not open a database: it sees the hub as IT does"
    );
    for (path, text) in sources(&root().join("tests")) {
        if path.ends_with("structure.rs") {
            continue;
        }
        for banned in ["rusqlite", "FROM events", "FROM terminals"] {
            assert!(
                !text.contains(banned),
                "{} mentions {banned}: read the hub with `tenpo-hub terminals` / `events`",
                path.display()
            );
        }
    }
}

#[test]
fn the_kiosk_never_opens_the_database() {
    for (path, text) in sources(&root().join("kiosk-ui/src")) {
        for banned in ["tenpo.db", "rusqlite", "hub.json"] {
            assert!(
                !text.contains(banned),
                "{} mentions {banned}: the kiosk talks to the agent's local API only",
                path.display()
            );
        }
    }
}
