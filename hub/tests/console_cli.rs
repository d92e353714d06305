//! docs/console.md's staff commands, run as written against a hub's data directory: an
//! account added with its password from standard input (only its argon2id hash kept), listed,
//! given a new password, closed; a bad role or a short password changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};

use chrono::Utc;
use tenpo_hub::store::SqliteStore;
use tenpo_hub::store::console::{Role, StaffStore};

const BIN: &str = env!("CARGO_BIN_EXE_tenpo-hub");

fn staff(dir: &std::path::Path, args: &[&str], stdin: &str) -> (bool, String) {
    let mut child = Command::new(BIN)
        .arg("staff")
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn the_docs_staff_commands_work_as_shown() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/console.md"))
        .unwrap();
    assert!(doc.contains("tenpo-hub staff add hanako --role crm"));
    for command in ["staff list", "staff password NAME", "staff disable NAME"] {
        assert!(doc.contains(command), "docs/console.md shows `{command}`");
    }
    let dir = tempfile::tempdir().unwrap();
    let pass = "correct horse battery\n";
    let (ok, out) = staff(
        dir.path(),
        &["add", "hanako", "--role", "crm", "--password-stdin"],
        pass,
    );
    assert!(ok, "{out}");
    let (ok, out) = staff(
        dir.path(),
        &["add", "jiro", "--role", "boss", "--password-stdin"],
        pass,
    );
    assert!(!ok && out.contains("admin, crm, it or viewer"), "{out}");
    let (ok, out) = staff(
        dir.path(),
        &["add", "jiro", "--role", "it", "--password-stdin"],
        "short\n",
    );
    assert!(!ok && out.contains("shorter than 12"), "{out}");
    let (ok, out) = staff(
        dir.path(),
        &["add", "hanako", "--role", "it", "--password-stdin"],
        pass,
    );
    assert!(!ok && out.contains("already exists"), "{out}");
    let (ok, out) = staff(dir.path(), &["list"], "");
    assert!(ok);
    assert_eq!(out.trim(), "hanako\tcrm\tactive");
    let (ok, out) = staff(
        dir.path(),
        &["password", "hanako", "--password-stdin"],
        "another long one\n",
    );
    assert!(ok, "{out}");
    let (ok, out) = staff(dir.path(), &["disable", "hanako"], "");
    assert!(ok, "{out}");
    let (_, out) = staff(dir.path(), &["list"], "");
    assert_eq!(out.trim(), "hanako\tcrm\tclosed");

    let store = SqliteStore::open(&dir.path().join("hub.db"), Utc::now()).unwrap();
    let account = store.staff_account("hanako".into()).await.unwrap().unwrap();
    assert_eq!(account.role, Role::Crm);
    assert!(account.password_hash.starts_with("$argon2id$"));
    assert!(!account.password_hash.contains("another long one"));
    assert!(tenpo_hub::console::auth::password_matches(
        Some(&account.password_hash),
        "another long one"
    ));
    // While a hub serves the file, the command says what to do.
    drop(store);
    let _served = SqliteStore::open(&dir.path().join("hub.db"), Utc::now()).unwrap();
    let (ok, out) = staff(dir.path(), &["list"], "");
    assert!(!ok && out.contains("hub stopped"), "{out}");
}
