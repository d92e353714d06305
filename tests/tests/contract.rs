//! Every route a server has is in its OpenAPI document, with its method: the routes are read
//! from the routers' sources, the documents from `tenpo_protocol::openapi`. (CI also runs
//! Schemathesis against the running servers: `tests/contract/run.sh`.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use serde_json::Value;

/// `(method, path)` of every `.route("path", method(…))` in a source file.
fn routes(file: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(file))
        .unwrap();
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let Some(open) = rest.find('"') else { break };
        let after = &rest[open + 1..];
        let Some(close) = after.find('"') else { break };
        let path = &after[..close];
        let tail = after[close + 1..].trim_start_matches([',', ' ', '\n', '\r']);
        let method: String = tail.chars().take_while(char::is_ascii_alphabetic).collect();
        out.push((method, path.to_owned()));
        rest = &after[close + 1..];
    }
    out
}

fn documented(doc: &Value, method: &str, path: &str) -> bool {
    doc["paths"][path][method].is_object()
}

fn check(document: utoipa::openapi::OpenApi, files: &[&str], at_least: usize) {
    let doc = serde_json::to_value(&document).unwrap();
    let mut seen = 0;
    for file in files {
        for (method, path) in routes(file) {
            assert!(
                ["get", "post", "put", "delete", "patch"].contains(&method.as_str()),
                "{file}: cannot read the method of route {path} ({method:?})"
            );
            assert!(
                documented(&doc, &method, &path),
                "{file} routes {} {path}, which the OpenAPI document does not describe",
                method.to_uppercase()
            );
            seen += 1;
        }
    }
    assert!(seen >= at_least, "found only {seen} routes in {files:?}");
}

#[test]
fn the_agent_documents_every_route() {
    check(
        tenpo_protocol::openapi::agent_api(),
        &["agent/src/api/mod.rs"],
        12,
    );
}

#[test]
fn the_hub_documents_every_route() {
    check(
        tenpo_protocol::openapi::hub_api(),
        &[
            "hub/src/api/mod.rs",
            "hub/src/signup/api.rs",
            "hub/src/email/unsubscribe.rs",
        ],
        22,
    );
}
