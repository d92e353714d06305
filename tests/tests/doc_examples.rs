//! The docs' samples are true: every sample config file validates with the program it is for,
//! every card code the docs show is what the docs say it is (a valid code, or a bad check
//! digit with the digit it should have), and the README's quickstart calls answer as shown.

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
    for file in ["packaging/linux/agent.toml", "packaging/windows/agent.toml"] {
        validates("tenpo-agent", &root().join(file));
        // With every commented-out setting turned on, too: each names a real key with a value
        // the agent takes.
        let dir = tempfile::tempdir().unwrap();
        let all = dir.path().join("all.toml");
        std::fs::write(&all, uncommented(&read(file))).unwrap();
        validates("tenpo-agent", &all);
    }
    validates("tenpo-hub", &root().join("packaging/linux/hub.toml"));
    // The hub's samples in docs/hub.md that are whole files (those that begin with a key).
    let doc = read("docs/hub.md");
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for block in doc.split("```toml\n").skip(1) {
        let block = block.split("```").next().unwrap();
        if block.starts_with("time_zone") {
            let file = dir.path().join(format!("hub-{checked}.toml"));
            std::fs::write(&file, block).unwrap();
            validates("tenpo-hub", &file);
            checked += 1;
        }
    }
    assert!(checked >= 1, "docs/hub.md shows the stores' time zones");
    // docs/wishes.md's [wishes] table, as shown.
    let wishes = read("docs/wishes.md");
    let block = wishes
        .split("```toml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .find(|b| b.starts_with("[wishes]"))
        .expect("docs/wishes.md shows the [wishes] table");
    let file = dir.path().join("wishes.toml");
    std::fs::write(&file, block).unwrap();
    validates("tenpo-hub", &file);
    // docs/hub.md's [privacy] table, as shown.
    let block = doc
        .split("```toml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .find(|b| b.starts_with("[privacy]"))
        .expect("docs/hub.md shows the [privacy] table");
    let file = dir.path().join("privacy.toml");
    std::fs::write(&file, block).unwrap();
    validates("tenpo-hub", &file);
    // docs/console.md's [console] table, as shown.
    let console = read("docs/console.md");
    let block = console
        .split("```toml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .find(|b| b.starts_with("[console]"))
        .expect("docs/console.md shows the [console] table");
    let file = dir.path().join("console.toml");
    std::fs::write(&file, block).unwrap();
    validates("tenpo-hub", &file);
}

fn read(file: &str) -> String {
    std::fs::read_to_string(root().join(file)).unwrap()
}

/// The file with its commented-out settings and tables (`# key = value`, `# [table]`) turned on.
fn uncommented(text: &str) -> String {
    text.lines()
        .map(|line| {
            let Some(rest) = line.strip_prefix("# ") else {
                return line.to_owned();
            };
            let table = rest.starts_with('[') && rest.trim_end().ends_with(']');
            let key = rest.split_once(" = ").is_some_and(|(k, _)| {
                !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            });
            if table || key {
                rest.to_owned()
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every setting in a config as `table.key = value`, in file order (scanner tables by index).
fn settings(text: &str) -> Vec<(String, toml::Value)> {
    let table: toml::Table = toml::from_str(&uncommented(text)).unwrap();
    let mut out = Vec::new();
    for (key, value) in table {
        match value {
            toml::Value::Table(t) => {
                out.extend(t.into_iter().map(|(k, v)| (format!("{key}.{k}"), v)));
            }
            toml::Value::Array(items) if items.iter().all(toml::Value::is_table) => {
                for (i, item) in items.into_iter().enumerate() {
                    if let toml::Value::Table(t) = item {
                        out.extend(t.into_iter().map(|(k, v)| (format!("{key}[{i}].{k}"), v)));
                    }
                }
            }
            v => out.push((key, v)),
        }
    }
    out
}

/// The Linux package's config is the one that names every setting (README links it); the
/// Windows one has the same settings with the same defaults, paths aside.
#[test]
fn the_packaged_configs_name_every_setting_alike() {
    let linux = settings(&read("packaging/linux/agent.toml"));
    let keys: Vec<&str> = linux.iter().map(|(k, _)| k.as_str()).collect();
    for key in [
        "data_dir",
        "listen",
        "store_id",
        "terminal_id",
        "rules",
        "time_zone",
        "log_format",
        "scan.debounce_ms",
        "scan.codabar_check",
        "scan.card_skew_secs",
        "scan.card_keys",
        "sync.interval_ms",
        "sync.offline_redeem_limit",
        "sync.batch",
        "signup.liff_id",
        "signup.session_secs",
        "scanners[0].usb",
        "scanners[0].baud",
        "scanners[0].data_bits",
        "scanners[0].parity",
        "scanners[0].stop_bits",
        "scanners[0].terminator",
        "scanners[0].idle_ms",
        "scanners[0].prefix",
        "scanners[0].suffix",
        "scanners[0].max_len",
        "scanners[1].layout",
        "scanners[1].grab",
    ] {
        assert!(
            keys.contains(&key),
            "packaging/linux/agent.toml does not name {key}"
        );
    }
    let windows = settings(&read("packaging/windows/agent.toml"));
    let paths = ["data_dir", "rules", "scanners[0].path"];
    for (key, value) in &windows {
        if paths.contains(&key.as_str()) {
            continue;
        }
        let theirs = linux.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        assert_eq!(
            theirs,
            Some(value),
            "{key}: the Windows config says {value}, the Linux one {theirs:?}"
        );
    }
    for (key, _) in linux.iter().filter(|(k, _)| !k.starts_with("scanners[1]")) {
        assert!(
            windows.iter().any(|(k, _)| k == key),
            "packaging/windows/agent.toml lacks {key} (keyboard-wedge scanners aside, it names \
             what the Linux one does)"
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

/// On a machine without the tools the kiosk demo calls, it names each with its package before
/// starting anything (it once ran on, then blamed the QR code).
#[test]
fn the_kiosk_demo_names_the_tools_it_lacks() {
    let bare = tempfile::tempdir().unwrap();
    // Only what a shell needs to reach the check: no curl, cargo, xvfb-run, import or zbarimg.
    for tool in ["bash", "dirname"] {
        let found = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.exists())
            .unwrap();
        std::os::unix::fs::symlink(found, bare.path().join(tool)).unwrap();
    }
    let out = Command::new(bare.path().join("bash"))
        .arg(root().join("kiosk-ui/scripts/kiosk-demo.sh"))
        .args(["--screenshot", "shot.png"])
        .env_clear()
        .env("PATH", bare.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for named in [
        "curl (Debian/Ubuntu package: curl)",
        "xvfb-run (Debian/Ubuntu package: xvfb)",
        "import (Debian/Ubuntu package: imagemagick)",
        "zbarimg (Debian/Ubuntu package: zbar-tools)",
        "cargo",
    ] {
        assert!(stderr.contains(named), "{named} not named in: {stderr}");
    }
    assert!(!stderr.contains("QR"), "{stderr}");
}

/// Each package's Debian changelog opens on the version being built (lintian checks the rest
/// of the packages in CI, packaging/ci.sh).
#[test]
fn the_package_changelogs_name_the_version_built() {
    let cargo = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&cargo).unwrap();
    let version = manifest["workspace"]["package"]["version"]
        .as_str()
        .unwrap();
    for (dir, package) in [("terminal", "tenpo-terminal"), ("hub", "tenpo-hub")] {
        let log = read(&format!("packaging/linux/{dir}/changelog"));
        let first = log.lines().next().unwrap();
        assert!(
            first.starts_with(&format!("{package} ({version}-")),
            "packaging/linux/{dir}/changelog opens with {first:?}: add an entry for {version}"
        );
        assert!(
            log.lines().all(|l| l.chars().count() <= 80),
            "lines over 80 characters"
        );
    }
}

/// The manual pages the packages carry come from the binaries: one per command and per visible
/// subcommand.
#[test]
fn the_binaries_write_their_manual_pages() {
    let dir = tempfile::tempdir().unwrap();
    for (program, args, pages) in [
        (
            "tenpo-agent",
            vec!["man"],
            vec![
                "tenpo-agent.1",
                "tenpo-agent-status.1",
                "tenpo-agent-doctor.1",
            ],
        ),
        (
            "tenpo-hub",
            vec!["man"],
            vec!["tenpo-hub.1", "tenpo-hub-serve.1", "tenpo-hub-sale.1"],
        ),
    ] {
        let out = Command::new(bin(program))
            .args(args)
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for page in pages {
            let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
            assert!(
                text.starts_with(".ie") || text.contains(".TH"),
                "{page} is not a manual page"
            );
        }
    }
}

/// Kills a child process when dropped, so a failed assertion leaves no agent running.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The README's quickstart calls run against the demo agent the README starts (`run --demo`,
/// here on a free port in a fresh directory): each `curl` in the block must answer 2xx, so a
/// documented request that the agent refuses, or a documented endpoint that is gone, fails here.
#[test]
fn the_readme_quickstart_calls_answer() {
    let readme = read("README.md");
    let block = readme
        .split("```sh\n")
        .find(|b| b.contains("localhost:7480/v1/wishes"))
        .and_then(|b| b.split("```").next())
        .expect("the quickstart's curl calls in README.md");
    let dir = tempfile::tempdir().unwrap();
    let port = tenpo_e2e::harness::free_port();
    let _agent = Running(
        Command::new(bin("tenpo-agent"))
            .args(["run", "--demo", "--listen", &format!("127.0.0.1:{port}")])
            .current_dir(dir.path())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let health = format!("http://127.0.0.1:{port}/v1/health");
    let up = (0..150).any(|_| {
        let ok = Command::new("curl")
            .args(["-fs", "-o", "/dev/null", &health])
            .status()
            .expect("curl (Debian package: curl)")
            .success();
        if !ok {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        ok
    });
    assert!(up, "the demo agent did not answer on {health}");
    let calls = block.matches("curl -s ").count();
    assert!(calls >= 5, "the quickstart shows its calls: {block}");
    let script = block
        .replace("localhost:7480", &format!("localhost:{port}"))
        .replace("curl -s ", "curl -sSf ");
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "a README call failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    for answer in [
        r#""sale_id":"pos-0001""#,
        r#""refund_id":"pos-0001-r1""#,
        r#""wish_id":"pos-0001-w1""#,
        r#""openapi""#,
    ] {
        assert!(stdout.contains(answer), "{answer} not answered: {stdout}");
    }
}
