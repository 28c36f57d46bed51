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
    /// The input files' names (a `dir/` prefix makes a directory) and bytes.
    files: Vec<(String, Vec<u8>)>,
    args: Vec<&'static str>,
    /// What the error must say (on stderr, or in `report` when one is written).
    expected: Vec<&'static str>,
    /// A report the run may write (a named rejection is data, reported), relative
    /// to the working directory; nothing else may appear.
    report: Option<&'static str>,
}

fn one_file(name: &str, bytes: Vec<u8>) -> Vec<(String, Vec<u8>)> {
    vec![(name.to_owned(), bytes)]
}

/// The shipped media backup (`fixtures/media-backup`) with `Book.json` changed by `edit`.
fn backup_with(edit: impl FnOnce(&mut Vec<serde_json::Value>)) -> Vec<(String, Vec<u8>)> {
    let dir = repo().join("fixtures/media-backup");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        files.push((
            format!("backup/{name}"),
            std::fs::read(entry.path()).unwrap(),
        ));
    }
    files.sort();
    let book = files
        .iter_mut()
        .find(|(name, _)| name == "backup/Book.json")
        .expect("the fixture has books");
    let mut items: Vec<serde_json::Value> = serde_json::from_slice(&book.1).unwrap();
    edit(&mut items);
    book.1 = serde_json::to_vec_pretty(&items).unwrap();
    files
}

fn backup_truncated() -> Vec<(String, Vec<u8>)> {
    let mut files = backup_with(|_| {});
    let book = files
        .iter_mut()
        .find(|(name, _)| name == "backup/Book.json")
        .unwrap();
    book.1.truncate(book.1.len() / 2);
    files
}

const MIGRATE_BACKUP: [&str; 7] = [
    "migrate", "media", "--from", "backup", "--to", "postgres", "--out",
];

fn profile_with(from: &str, to: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(repo().join("profiles/electrodb.toml")).unwrap();
    assert!(text.contains(from), "{from}");
    text.replacen(from, to, 1).into_bytes()
}

fn churn() -> Vec<u8> {
    std::fs::read(repo().join("scenarios/churn.toml")).unwrap()
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
            files: one_file("s.toml", scenario_with(users, "users = 4000000000")),
            args: vec!["replay", "s.toml"],
            expected: vec!["s.toml:", "population.users", "outside 1..=1000000"],
            report: None,
        },
        Case {
            name: "a scenario that is not UTF-8",
            files: one_file(
                "s.toml",
                [b"name = \"x\"\n# \xff\xfe\n".as_slice()].concat(),
            ),
            args: vec!["replay", "s.toml"],
            expected: vec!["s.toml:2:", "is not UTF-8"],
            report: None,
        },
        Case {
            name: "a profile with an unknown column type",
            files: one_file(
                "p.toml",
                profile_with("type = \"timestamp(3)\"", "type = \"datetime\""),
            ),
            args: with_stores(vec!["parity", "--profile", "p.toml"]),
            expected: vec![
                "p.toml:",
                "entities.user.fields.created_at.type",
                "unknown column type \"datetime\"",
            ],
            report: None,
        },
        Case {
            name: "a profile with a broken key template",
            files: one_file(
                "p.toml",
                profile_with("pk = \"USER#${userId}\"", "pk = \"USER#${userId\""),
            ),
            args: with_stores(vec!["backfill", "--profile", "p.toml"]),
            expected: vec!["p.toml:", "entities.user.pk", "without a closing"],
            report: None,
        },
        Case {
            name: "a profile that encodes a date as a map",
            files: one_file(
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
            report: None,
        },
        Case {
            name: "a rollback drill whose switch the workload never reaches",
            files: one_file("s.toml", churn()),
            args: vec![
                "rollback-drill",
                "s.toml",
                "--writes",
                "2000",
                "--switch-after",
                "1000",
            ],
            expected: vec![
                "switch after 1000 writes is never reached",
                "of the 2000 asked for",
            ],
            report: None,
        },
        Case {
            name: "a rollback drill that would switch after its last write",
            files: one_file("s.toml", churn()),
            args: vec![
                "rollback-drill",
                "s.toml",
                "--writes",
                "100",
                "--switch-after",
                "100",
            ],
            expected: vec!["switch after 100 writes is never reached"],
            report: None,
        },
        Case {
            name: "a profile that maps two fields to one column",
            files: one_file(
                "p.toml",
                profile_with("column = \"description\"", "column = \"name\""),
            ),
            args: with_stores(vec!["parity", "--profile", "p.toml"]),
            expected: vec![
                "p.toml:",
                ".fields.description.column",
                "column \"name\" is both field name and field description",
            ],
            report: None,
        },
        Case {
            name: "a page size of zero",
            files: one_file("unused.txt", b"keep".to_vec()),
            args: with_stores(vec!["backfill", "--page-size", "0"]),
            expected: vec!["--page-size", "0 is not in 1..=10000"],
            report: None,
        },
        Case {
            name: "a page size that would wrap",
            files: one_file("unused.txt", b"keep".to_vec()),
            args: with_stores(vec!["backfill", "--page-size", "18446744073709551615"]),
            expected: vec!["--page-size"],
            report: None,
        },
        Case {
            name: "a media backup file cut off in the middle",
            files: backup_truncated(),
            args: [MIGRATE_BACKUP.as_slice(), &["out"]].concat(),
            expected: vec!["Book.json:", "not a JSON array of items"],
            report: None,
        },
        Case {
            name: "a media backup item whose id is a path",
            files: backup_with(|items| items[1]["id"] = "../../etc/passwd".into()),
            args: [MIGRATE_BACKUP.as_slice(), &["out"]].concat(),
            expected: vec![
                "Book.json: item [1] (id ../../etc/passwd): type:id:",
                "but the item's fields give \"Book:../../etc/passwd\"",
            ],
            report: None,
        },
        Case {
            name: "a media backup image wider than an INT column",
            files: backup_with(|items| items[0]["image"]["width"] = 4_000_000_000u64.into()),
            args: [MIGRATE_BACKUP.as_slice(), &["out"]].concat(),
            // Screened out by name, reported, the run failed; nothing written for it.
            expected: vec![
                "\"reason\": \"item 5318cf8f-04f2-4c72-adfa-de6723acae9b: image.width = \\\"4000000000\\\": above the INT column's 2147483647\"",
            ],
            report: Some("out/media-parity.json"),
        },
    ];
    for case in cases {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in &case.files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        let (succeeded, stderr) = cutover(dir.path(), &case.args);
        assert!(!succeeded, "{}: accepted", case.name);
        let said = match case.report {
            Some(report) => std::fs::read_to_string(dir.path().join(report))
                .unwrap_or_else(|e| panic!("{}: no report {report}: {e}\n{stderr}", case.name)),
            None => stderr.clone(),
        };
        for expected in &case.expected {
            assert!(
                said.contains(expected),
                "{}: {expected:?} not in\n{said}",
                case.name
            );
        }
        // Nothing changed: every input is intact and nothing else was written.
        for (name, bytes) in &case.files {
            assert_eq!(
                &std::fs::read(dir.path().join(name)).unwrap(),
                bytes,
                "{}: {name} changed",
                case.name
            );
        }
        let mut written = files_under(dir.path());
        written.retain(|path| !case.files.iter().any(|(name, _)| name == path));
        let allowed: Vec<String> = match case.report {
            // The report and its Markdown/JUnit companions.
            Some(report) => {
                let stem = report.trim_end_matches(".json");
                [".json", ".md", ".junit.xml"]
                    .iter()
                    .map(|ext| format!("{stem}{ext}"))
                    .collect()
            }
            None => Vec::new(),
        };
        written.retain(|path| !allowed.contains(path));
        assert!(written.is_empty(), "{}: wrote {written:?}", case.name);
    }
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap();
                files.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    files
}

/// Hostile content in the stores themselves, through `cutover parity` (and
/// its repair, deletions allowed): each is named in the report, the run
/// fails, and nothing is followed, lost or deleted — PostgreSQL's rows, the
/// objects and (unless a repair rewrote them from PostgreSQL) the items are as
/// they were.
mod stores {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::process::Command;

    use cutover_app::{App, Command as Write, Mode};
    use cutover_backends::{Engines, Plan, Sandbox};
    use cutover_core::item_size::AttrValue;
    use cutover_core::keys::{Id, ItemKey};

    fn id(text: &str) -> Id {
        Id::parse(text).unwrap()
    }

    fn s2_key() -> ItemKey {
        ItemKey::Session {
            campaign: id("c1"),
            session: id("s2"),
        }
    }

    /// Everything the stores hold, as comparable text.
    #[derive(Debug, PartialEq, Eq)]
    struct Snapshot {
        rows: Vec<String>,
        items: Vec<String>,
        objects: BTreeMap<String, Vec<u8>>,
    }

    async fn snapshot(app: &App) -> Snapshot {
        let mut rows = Vec::new();
        for table in ["users", "campaigns", "sessions", "session_summaries"] {
            let text: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT to_jsonb(t)::text FROM {table} t ORDER BY id"
            )))
            .fetch_all(app.pg.pool())
            .await
            .unwrap();
            rows.extend(text);
        }
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = app.dynamo.scan_page(None, start).await.unwrap();
            items.extend(page.items().iter().map(|item| {
                let sorted: BTreeMap<_, _> = item.iter().collect();
                format!("{sorted:?}")
            }));
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        items.sort();
        let mut objects = BTreeMap::new();
        for key in app.transcripts.list("").await.unwrap() {
            let bytes = app.transcripts.get_bytes(&key).await.unwrap().unwrap();
            objects.insert(key, bytes);
        }
        Snapshot {
            rows,
            items,
            objects,
        }
    }

    async fn seeded(engines: &Engines) -> (Sandbox, App) {
        let sandbox = Sandbox::open(engines, cutover_backends::new_run_id())
            .await
            .unwrap();
        let app = App::install(&sandbox, Mode::Dual).await.unwrap();
        for write in [
            Write::CreateUser {
                user: id("alice"),
                email: "a@example.com".into(),
                display_name: "Alice".into(),
            },
            Write::CreateCampaign {
                campaign: id("c1"),
                user: id("alice"),
                name: "One".into(),
                description: "d".into(),
            },
        ] {
            app.execute(&write).await.unwrap();
        }
        for session in ["s1", "s2"] {
            app.execute(&Write::CreateSession {
                session: id(session),
                campaign: id("c1"),
                name: session.into(),
                summary: "dragons".into(),
                metadata: serde_json::json!({}),
                transcript: format!("{session} transcript"),
            })
            .await
            .unwrap();
        }
        (sandbox, app)
    }

    async fn set_on_s2(app: &App, name: &str, value: AttrValue) {
        let mut item = app.dynamo.get(&s2_key()).await.unwrap().unwrap();
        item.insert(name.to_owned(), value);
        app.dynamo.batch_put(&[item]).await.unwrap();
    }

    /// Runs `cutover parity EXTRA` on the sandbox's stores; its report.
    fn parity(sandbox: &Sandbox, app: &App, out: &Path, extra: &[&str]) -> (bool, String) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cutover"));
        command.arg("parity");
        command.args([
            "--table",
            app.dynamo.table(),
            "--bucket",
            app.transcripts.bucket(),
        ]);
        command.args(["--grace-seconds", "0", "--max-mismatch-percent", "0"]);
        command.arg("--out").arg(out).args(extra);
        command.arg("--dynamodb-endpoint");
        command.arg(sandbox.dynamodb_endpoint.url.as_deref().unwrap());
        command.arg("--s3-endpoint");
        command.arg(sandbox.s3_endpoint.url.as_deref().unwrap());
        let credentials = sandbox.s3_endpoint.credentials.as_ref().unwrap();
        command
            .env("DATABASE_URL", &sandbox.pg_url)
            .env("AWS_ACCESS_KEY_ID", &credentials.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &credentials.secret_access_key)
            .env("CUTOVER_LOG", "off");
        let output = command.output().expect("the cutover binary runs");
        let report = std::fs::read_to_string(out.join("parity.md")).unwrap_or_else(|_| {
            panic!(
                "no report; stderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
        (output.status.success(), report)
    }

    struct Case {
        name: &'static str,
        /// What is planted, by SQL on PostgreSQL or straight into DynamoDB/S3.
        plant: Plant,
        expected: Vec<&'static str>,
        /// Whether a repair may rewrite DynamoDB from PostgreSQL here (the
        /// rows and objects must stay as they are in every case).
        repair_rewrites_items: bool,
    }

    enum Plant {
        Sql(&'static str),
        ItemAttribute(&'static str, AttrValue),
        Object(&'static str),
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn hostile_store_content_is_named_and_nothing_is_lost() {
        let engines = Engines::start(&Plan::embedded()).await.unwrap();
        let cases = vec![
            Case {
                name: "a PostgreSQL transcript hash that is a path",
                plant: Plant::Sql(
                    "UPDATE sessions SET transcript_sha256 = '../../../../etc/passwd' WHERE id = 's1'",
                ),
                expected: vec!["malformed-row", "s1", "transcript_sha256"],
                repair_rewrites_items: false,
            },
            Case {
                name: "an item whose transcript pointer climbs out of its prefix",
                plant: Plant::ItemAttribute(
                    "transcriptStorageKey",
                    AttrValue::S("transcripts/../../../../etc/passwd".into()),
                ),
                expected: vec!["malformed-item", "the item claims to be session \"s2\""],
                repair_rewrites_items: true,
            },
            Case {
                name: "an item whose version does not fit a number",
                plant: Plant::ItemAttribute(
                    "version",
                    AttrValue::N("99999999999999999999999999999999999999".into()),
                ),
                expected: vec!["malformed-item", "version"],
                repair_rewrites_items: true,
            },
            Case {
                // (s3s-fs resolves `..` in keys itself, so a climbing key cannot be planted here.)
                name: "an object outside the app's transcript layout",
                plant: Plant::Object("transcripts/alice/s1/extra/level"),
                expected: vec!["orphan-object", "transcripts/alice/s1/extra/level"],
                repair_rewrites_items: false,
            },
        ];
        for case in cases {
            let (sandbox, app) = seeded(&engines).await;
            match &case.plant {
                Plant::Sql(sql) => {
                    sqlx::query(sqlx::AssertSqlSafe(*sql))
                        .execute(app.pg.pool())
                        .await
                        .unwrap();
                }
                Plant::ItemAttribute(name, value) => set_on_s2(&app, name, value.clone()).await,
                Plant::Object(key) => app.transcripts.put(key, "planted").await.unwrap(),
            }
            let before = snapshot(&app).await;
            let out = tempfile::tempdir().unwrap();
            let (passed, report) =
                tokio::task::block_in_place(|| parity(&sandbox, &app, out.path(), &[]));
            assert!(!passed, "{}: passed\n{report}", case.name);
            for expected in &case.expected {
                assert!(
                    report.contains(expected),
                    "{}: {expected:?} not in\n{report}",
                    case.name
                );
            }
            assert_eq!(
                snapshot(&app).await,
                before,
                "{}: changed by a check",
                case.name
            );

            let (_, report) = tokio::task::block_in_place(|| {
                parity(
                    &sandbox,
                    &app,
                    out.path(),
                    &["--repair", "--delete-dynamodb-only"],
                )
            });
            let after = snapshot(&app).await;
            assert_eq!(
                after.rows, before.rows,
                "{}: rows changed\n{report}",
                case.name
            );
            assert_eq!(
                after.objects, before.objects,
                "{}: objects changed\n{report}",
                case.name
            );
            if !case.repair_rewrites_items {
                assert_eq!(
                    after.items, before.items,
                    "{}: items changed\n{report}",
                    case.name
                );
            }
            sandbox.close().await.unwrap();
        }
        engines.shutdown().await;
    }
}
