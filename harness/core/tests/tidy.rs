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
fn transcript_paths_come_only_from_the_profile() {
    // Objects are listed, swept and deleted by `profile::transcripts` from
    // the profile's `transcript_key`; a spelled-out prefix would miss an
    // app's own layout and touch what is not its own. Only the reference
    // layout's key builder (for generated data) spells it.
    let found = offenders(&code_lines(""), |line| line.contains("\"transcripts/"));
    let outside: Vec<String> = found
        .into_iter()
        .filter(|at| !at.starts_with("core/src/domain.rs:"))
        .collect();
    assert!(
        outside.is_empty(),
        "transcript prefixes outside the profile:\n{}",
        outside.join("\n")
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

/// Each crate's normal (not dev) dependencies, by its directory under
/// `harness/`.
fn dependencies() -> Vec<(String, Vec<String>)> {
    let mut crates = Vec::new();
    for entry in std::fs::read_dir(harness()).unwrap().flatten() {
        let manifest = entry.path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let parsed: toml::Table = toml::from_str(&text).unwrap();
        let names = parsed
            .get("dependencies")
            .and_then(toml::Value::as_table)
            .map(|table| table.keys().cloned().collect())
            .unwrap_or_default();
        crates.push((entry.file_name().to_string_lossy().into_owned(), names));
    }
    crates.sort();
    assert!(crates.len() >= 10, "read only {crates:?}");
    crates
}

/// ARCHITECTURE.md's diagram as layers: a crate depends only on crates of
/// lower layers (`conformance` holds tests only, above everything).
const LAYERS: [(&str, u8); 11] = [
    ("core", 0),
    ("backends", 1),
    ("app", 2),
    ("backfill", 3),
    ("parity", 4),
    ("search", 4),
    ("media", 4),
    ("replay", 5),
    ("bench", 6),
    ("cli", 7),
    ("conformance", 8),
];

fn layer(crate_dir: &str) -> u8 {
    LAYERS
        .iter()
        .find(|(dir, _)| *dir == crate_dir)
        .unwrap_or_else(|| panic!("harness/{crate_dir} is not in ARCHITECTURE.md's layers"))
        .1
}

#[test]
fn crates_depend_only_on_lower_layers() {
    let mut upward = Vec::new();
    for (crate_dir, names) in dependencies() {
        for name in names {
            if let Some(dependency) = name.strip_prefix("cutover-")
                && layer(dependency) >= layer(&crate_dir)
            {
                upward.push(format!("harness/{crate_dir} depends on {name}"));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "dependencies against ARCHITECTURE.md's layers:\n{}",
        upward.join("\n")
    );
}

#[test]
fn anyhow_is_only_at_the_edge_and_engines_only_in_backends() {
    const ENGINES: [&str; 4] = ["testcontainers-modules", "dynoxide-rs", "s3s", "s3s-fs"];
    let mut misplaced = Vec::new();
    for (crate_dir, names) in dependencies() {
        for name in names {
            if name == "anyhow" && crate_dir != "cli" {
                misplaced.push(format!(
                    "harness/{crate_dir}: anyhow (libraries return thiserror enums)"
                ));
            }
            if ENGINES.contains(&name.as_str()) && crate_dir != "backends" {
                misplaced.push(format!(
                    "harness/{crate_dir}: {name} (only cutover-backends starts engines)"
                ));
            }
        }
    }
    assert!(misplaced.is_empty(), "{}", misplaced.join("\n"));
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
    let layout = offenders(&all, |line| line.contains("\"transcripts/"));
    assert!(
        layout
            .iter()
            .any(|at| at.starts_with("core/src/domain.rs:")),
        "the reference layout's key builder is not seen"
    );
    let source = offenders(&all, |line| line.contains("format!(\"{}:{id}\""));
    assert!(
        !source.is_empty(),
        "media::source's own type_id is not seen"
    );
    let crates = dependencies();
    let of = |dir: &str| &crates.iter().find(|(d, _)| d == dir).unwrap().1;
    assert!(of("cli").contains(&"anyhow".to_owned()));
    assert!(of("backends").contains(&"dynoxide-rs".to_owned()));
    assert!(of("replay").contains(&"cutover-parity".to_owned()));
}
