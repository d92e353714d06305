//! The design brief lives in the repository, in docs/design.md, and nothing cites a file outside
//! it: no source or doc file may mention the old external brief or toolchain notes, and every
//! `docs/design.md §N` reference must name a section (`## N.`) that docs/design.md has.
//!
//! Every file under the workspace root is read, except build output, git's own data and the
//! git-ignored directories tools make locally; files that are not UTF-8 (images, databases) are
//! skipped.

use std::collections::BTreeSet;
use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// Directories never read: build output, git's data, the demo's data, the fuzzer's output.
const SKIPPED_DIRS: &[&str] = &[
    "target",
    ".git",
    ".tenpo-demo",
    "corpus",
    "artifacts",
    "coverage",
];

/// How a reference to the design brief is written, followed by the section number.
const DESIGN_REF: &str = "docs/design.md §";

/// What would cite a file outside the repository. Spelled in two pieces each, so that this file
/// does not trip over itself.
fn forbidden() -> [String; 3] {
    [
        ["DESIGN", " §"].concat(),
        ["TOOLCHAIN", ".md"].concat(),
        ["..", "/shared"].concat(),
    ]
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every file under `dir`, depth first, leaving out [`SKIPPED_DIRS`] and symbolic links.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            let name = entry.file_name();
            if !name.to_str().is_some_and(|n| SKIPPED_DIRS.contains(&n)) {
                files_under(&entry.path(), out)?;
            }
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}

/// The section numbers of docs/design.md: its `## N. Title` headings.
fn sections(design: &str) -> BTreeSet<u32> {
    design
        .lines()
        .filter_map(|line| line.strip_prefix("## "))
        .filter_map(|heading| heading.split_once('.'))
        .filter_map(|(number, _)| number.parse().ok())
        .collect()
}

/// The sections a text cites, with their line numbers: `docs/design.md §4`, and each of
/// `docs/design.md §2, §4`.
fn cited_sections(text: &str) -> Vec<(usize, u32)> {
    let mut cited = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find(DESIGN_REF) {
            rest = &rest[at + DESIGN_REF.len()..];
            loop {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                let Ok(number) = digits.parse() else { break };
                cited.push((index + 1, number));
                rest = &rest[digits.len()..];
                match rest.strip_prefix(", §") {
                    Some(more) => rest = more,
                    None => break,
                }
            }
        }
    }
    cited
}

#[test]
fn docs_and_code_cite_only_the_design_brief_in_the_repository() -> Result<()> {
    let root = workspace_root();
    let design_path = root.join("docs/design.md");
    let design = fs::read_to_string(&design_path)
        .map_err(|e| format!("reading {}: {e}", design_path.display()))?;
    let known = sections(&design);
    assert!(
        (1..=14).all(|n| known.contains(&n)),
        "docs/design.md should have sections 1 to 14, has {known:?}"
    );

    let mut files = Vec::new();
    files_under(&root, &mut files)?;
    files.sort();
    let forbidden = forbidden();
    let mut problems = Vec::new();
    let mut read = 0;
    for path in &files {
        let bytes = fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        read += 1;
        let name = path.strip_prefix(&root).unwrap_or(path).display();
        for (index, line) in text.lines().enumerate() {
            for needle in &forbidden {
                if line.contains(needle.as_str()) {
                    problems.push(format!(
                        "{name}:{}: mentions {needle:?}: cite docs/design.md instead",
                        index + 1
                    ));
                }
            }
        }
        for (line, section) in cited_sections(&text) {
            if !known.contains(&section) {
                problems.push(format!(
                    "{name}:{line}: cites docs/design.md §{section}, which has no `## {section}.`"
                ));
            }
        }
    }
    assert!(
        read > 100,
        "only {read} text files under {}",
        root.display()
    );
    assert!(
        problems.is_empty(),
        "references to fix:\n{}",
        problems.join("\n")
    );
    Ok(())
}

#[test]
fn references_are_read_one_by_one_and_in_lists() {
    let text = "a (docs/design.md §4) b\nc (docs/design.md §2, §13) and docs/design.md §N\n";
    assert_eq!(cited_sections(text), vec![(1, 4), (2, 2), (2, 13)]);
    assert_eq!(
        sections("# t\n## Status\n## 1. Who\n## 12. Storage\n### 3. Not a section\n"),
        BTreeSet::from([1, 12])
    );
}
