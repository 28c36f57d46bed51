//! The architecture invariants, checked mechanically over the source tree
//! (as rust-analyzer's `tidy` does): a rule that is only written down drifts.
//! Each rule reads the non-test code of `harness/*/src` — lines before a
//! file's `#[cfg(test)]`, outside `tests.rs` files and `tests/` directories,
//! comments skipped — and names every file:line that breaks it.

use std::path::{Path, PathBuf};

fn harness() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The non-test code lines of every source file of the crates under `harness/`
/// whose `src` path starts with `within` (relative to `harness/`), as
/// (`crate/src/file.rs:line`, text).
fn code_lines(within: &str) -> Vec<(String, String)> {
    let root = harness();
    let mut lines = Vec::new();
    for file in rust_files(&root) {
        let relative = file
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let in_src = relative.split('/').nth(1) == Some("src");
        let is_test_file = relative.ends_with("/tests.rs") || relative.contains("/tests/");
        if !in_src || is_test_file || !relative.starts_with(within) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                break;
            }
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            lines.push((format!("{relative}:{}", number + 1), line.to_owned()));
        }
    }
    assert!(!lines.is_empty(), "no source read under harness/{within}");
    lines
}

fn offenders(lines: &[(String, String)], broken: impl Fn(&str) -> bool) -> Vec<String> {
    lines
        .iter()
        .filter(|(_, line)| broken(line))
        .map(|(at, line)| format!("{at}: {}", line.trim()))
        .collect()
}

#[test]
fn key_prefixes_are_only_in_the_profiles() {
    // The templates are data (`profiles/*.toml`); code builds keys through
    // `profile::template` and never spells a prefix.
    let found = offenders(&code_lines(""), |line| {
        [
            "\"USER#",
            "\"CAMP#",
            "\"SESS#",
            "\"SUMMARY#",
            "USER#{",
            "CAMP#{",
            "SESS#{",
        ]
        .iter()
        .any(|prefix| line.contains(prefix))
    });
    assert!(
        found.is_empty(),
        "key prefixes outside the profiles:\n{}",
        found.join("\n")
    );
}

#[test]
fn composite_media_keys_are_built_only_by_the_source_codec() {
    let found = offenders(&code_lines(""), |line| {
        let composite = line.contains("format!(\"{") && line.contains("}:{");
        composite && (line.contains("media_type") || line.contains("type_name"))
    });
    let outside: Vec<String> = found
        .into_iter()
        .filter(|at| !at.starts_with("core/src/media/source.rs:"))
        .collect();
    assert!(
        outside.is_empty(),
        "`type:id`-style keys built outside media::source:\n{}",
        outside.join("\n")
    );
}

#[test]
fn core_has_no_clock_randomness_environment_files_or_network() {
    // Seeded generators (`StdRng::seed_from_u64`) are pure; OS randomness is not.
    const IMPURE: [&str; 13] = [
        "rand::rng()",
        "rand::random",
        "thread_rng",
        "OsRng",
        "from_os_rng",
        "Utc::now",
        "SystemTime",
        "Instant::now",
        "std::env",
        "std::fs",
        "std::net",
        "std::process",
        "tokio",
    ];
    let found = offenders(&code_lines("core/"), |line| {
        IMPURE.iter().any(|call| line.contains(call))
    });
    assert!(
        found.is_empty(),
        "IO in cutover-core:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_rules_see_what_they_forbid() {
    // A rule that reads nothing passes vacuously: each must see real code.
    let all = code_lines("");
    assert!(
        all.iter()
            .any(|(at, _)| at.starts_with("core/src/media/source.rs:"))
    );
    assert!(
        all.iter()
            .any(|(at, _)| at.starts_with("app/src/relay.rs:"))
    );
    let source = offenders(&all, |line| line.contains("format!(\"{}:{id}\""));
    assert!(
        !source.is_empty(),
        "media::source's own type_id is not seen"
    );
}
