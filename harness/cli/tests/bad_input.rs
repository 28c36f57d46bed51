//! Bad input at the entry points, through the real binary: each is refused
//! with an error naming the file, line and field (or the flag), exits
//! non-zero, and changes nothing — the input files are as they were and no
//! report is written.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `cutover ARGS` in `dir`; whether it succeeded, and what it printed on stderr.
fn cutover(dir: &Path, args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(args)
        .current_dir(dir)
        .env("CUTOVER_LOG", "off")
        .output()
        .expect("the cutover binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

struct Case {
    name: &'static str,
    /// The input file's name and bytes.
    file: (&'static str, Vec<u8>),
    args: Vec<&'static str>,
    /// What the error must say.
    expected: Vec<&'static str>,
}

fn profile_with(from: &str, to: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(repo().join("profiles/electrodb.toml")).unwrap();
    assert!(text.contains(from), "{from}");
    text.replacen(from, to, 1).into_bytes()
}

fn scenario_with(from: &str, to: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(repo().join("scenarios/smoke.toml")).unwrap();
    assert!(text.contains(from), "{from}");
    text.replacen(from, to, 1).into_bytes()
}

const STORES: [&str; 6] = [
    "--database-url",
    "postgres://nobody@127.0.0.1:1/none",
    "--table",
    "t",
    "--bucket",
    "b",
];

fn with_stores(mut args: Vec<&'static str>) -> Vec<&'static str> {
    args.extend(STORES);
    args
}

#[test]
fn bad_input_is_refused_by_name_and_changes_nothing() {
    let users = std::fs::read_to_string(repo().join("scenarios/smoke.toml"))
        .unwrap()
        .lines()
        .find(|line| line.trim_start().starts_with("users ="))
        .expect("smoke.toml has a user count")
        .to_owned();
    let users: &'static str = Box::leak(users.into_boxed_str());
    let cases = vec![
        Case {
            name: "a scenario with a user count beyond the population limit",
            file: ("s.toml", scenario_with(users, "users = 4000000000")),
            args: vec!["replay", "s.toml"],
            expected: vec!["s.toml:", "population.users", "outside 1..=1000000"],
        },
        Case {
            name: "a scenario that is not UTF-8",
            file: (
                "s.toml",
                [b"name = \"x\"\n# \xff\xfe\n".as_slice()].concat(),
            ),
            args: vec!["replay", "s.toml"],
            expected: vec!["s.toml:2:", "is not UTF-8"],
        },
        Case {
            name: "a profile with an unknown column type",
            file: (
                "p.toml",
                profile_with("type = \"timestamp(3)\"", "type = \"datetime\""),
            ),
            args: with_stores(vec!["parity", "--profile", "p.toml"]),
            expected: vec![
                "p.toml:",
                "entities.user.fields.created_at.type",
                "unknown column type \"datetime\"",
            ],
        },
        Case {
            name: "a profile with a broken key template",
            file: (
                "p.toml",
                profile_with("pk = \"USER#${userId}\"", "pk = \"USER#${userId\""),
            ),
            args: with_stores(vec!["backfill", "--profile", "p.toml"]),
            expected: vec!["p.toml:", "entities.user.pk", "without a closing"],
        },
        Case {
            name: "a profile that encodes a date as a map",
            file: (
                "p.toml",
                profile_with(
                    "attribute = \"createdAt\", encoding = \"iso-8601\"",
                    "attribute = \"createdAt\", encoding = \"map\"",
                ),
            ),
            args: with_stores(vec!["profile", "check", "--profile", "p.toml"]),
            expected: vec![
                "p.toml:",
                "entities.user.fields.created_at.encoding",
                "map cannot hold a timestamp",
            ],
        },
        Case {
            name: "a page size of zero",
            file: ("unused.txt", b"keep".to_vec()),
            args: with_stores(vec!["backfill", "--page-size", "0"]),
            expected: vec!["--page-size", "0 is not in 1..=10000"],
        },
        Case {
            name: "a page size that would wrap",
            file: ("unused.txt", b"keep".to_vec()),
            args: with_stores(vec!["backfill", "--page-size", "18446744073709551615"]),
            expected: vec!["--page-size"],
        },
    ];
    for case in cases {
        let dir = tempfile::tempdir().unwrap();
        let (file, bytes) = &case.file;
        std::fs::write(dir.path().join(file), bytes).unwrap();
        let (succeeded, stderr) = cutover(dir.path(), &case.args);
        assert!(!succeeded, "{}: accepted", case.name);
        for expected in &case.expected {
            assert!(
                stderr.contains(expected),
                "{}: {expected:?} not in\n{stderr}",
                case.name
            );
        }
        // Nothing changed: the input is intact and nothing else was written.
        assert_eq!(
            &std::fs::read(dir.path().join(file)).unwrap(),
            bytes,
            "{}",
            case.name
        );
        let entries: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(entries.len(), 1, "{}: wrote {entries:?}", case.name);
    }
}
