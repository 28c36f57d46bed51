//! Replays through external drivers (docs/driver-protocol.md): the seeds'
//! naive dual write and the outbox version (drivers/, Node and ElectroDB)
//! through every fault, the read-only Python driver, and drivers that break
//! the protocol.
//!
//! Needs `npm ci --prefix drivers` (`.ci/run` does it) and `python3`.

use crate::support;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cutover_backends::{Engines, Plan, Sandbox};
use cutover_core::profile::Profile;
use cutover_core::provision::{Engine, Provisioner};
use cutover_core::workload::{FaultKind, Scenario};
use cutover_replay::driver;
use cutover_replay::faults::FaultRig;
use cutover_replay::{ReplayError, ReplayOptions, ReplayRecord, app_mode, replay_through};

/// Operations per faults run (the full scenario has 3,000; the faults fire
/// at the same shares of a shorter run).
const FAULTS_RUN: u64 = 400;

pub(crate) fn electrodb_profile() -> (Arc<Profile>, PathBuf) {
    let path = support::repo().join("profiles/electrodb.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let profile = Profile::parse(&text, &path.display().to_string()).unwrap();
    (Arc::new(profile), path)
}

pub(crate) fn node_driver(name: &str) -> String {
    let drivers = support::repo().join("drivers");
    assert!(
        drivers.join("node_modules/electrodb").is_dir(),
        "the reference drivers' packages are not installed: run `npm ci --prefix drivers` (.ci/run does)"
    );
    format!("node {}", drivers.join(name).join("main.mjs").display())
}

struct Outcome {
    record: Result<ReplayRecord, ReplayError>,
    /// Said by `close` (a driver that did not exit cleanly after `bye`).
    close_problem: Option<String>,
}

/// One replay of `scenario` through the driver `command` on a sandbox of its own.
async fn replay_driver(
    engines: &Engines,
    scenario: &Scenario,
    operations: u64,
    command: &str,
    operation_timeout: Duration,
) -> Outcome {
    let sandbox = Sandbox::open(engines, cutover_backends::new_run_id())
        .await
        .unwrap();
    let rig = FaultRig::start(engines, &sandbox).await.unwrap();
    let (profile, profile_path) = electrodb_profile();
    let options = ReplayOptions {
        seed: scenario.seed,
        operations: Some(operations),
        reproduce: "test".into(),
        progress: false,
    };
    let started = driver::start_external(
        &sandbox,
        &rig,
        profile,
        Some(&profile_path),
        app_mode(scenario),
        command,
        operation_timeout,
    )
    .await;
    let outcome = match started {
        Ok((driver, stores)) => {
            let record =
                replay_through(driver.clone(), stores, scenario, &options, Some(&rig)).await;
            let close_problem = driver.close().await;
            Outcome {
                record,
                close_problem,
            }
        }
        Err(error) => Outcome {
            record: Err(error),
            close_problem: None,
        },
    };
    drop(rig);
    sandbox.close().await.unwrap();
    outcome
}

async fn faults_run(plan: Plan, driver_name: &str) -> ReplayRecord {
    faults_run_of(plan, &node_driver(driver_name)).await
}

/// The faults scenario, shortened, through the driver `command` on engines
/// of its own (the scenario restarts them).
async fn faults_run_of(plan: Plan, command: &str) -> ReplayRecord {
    let engines = Engines::start(&plan).await.expect("engines");
    let outcome = replay_driver(
        &engines,
        &support::scenario("faults"),
        FAULTS_RUN,
        command,
        driver::DEFAULT_OPERATION_TIMEOUT,
    )
    .await;
    engines.shutdown().await;
    let record = match outcome.record {
        Ok(record) => record,
        Err(error) => panic!(
            "the replay did not run to its end: {error}\nclosing the driver: {:?}",
            outcome.close_problem
        ),
    };
    println!("{}", record.to_markdown());
    assert_eq!(outcome.close_problem, None);
    record
}

fn check<'a>(record: &'a ReplayRecord, name: &str) -> &'a cutover_replay::CheckResult {
    record
        .checks
        .iter()
        .find(|check| check.name == name)
        .unwrap_or_else(|| panic!("no {name} check: {}", record.to_markdown()))
}

/// Every fault kind fired through the proxies and was suffered by the driver.
fn assert_every_fault_happened(record: &ReplayRecord) {
    let report = record.to_markdown();
    assert_eq!(record.faults.len(), FaultKind::ALL.len(), "{report}");
    for fault in &record.faults {
        assert!(fault.happened(), "{fault:?}\n{report}");
    }
    assert!(check(record, "faults").passed, "{report}");
    // The Node SDK retried what the proxy failed (its retries counted off its
    // own `amz-sdk-request` header).
    let throttle = record
        .faults
        .iter()
        .find(|f| f.kind == FaultKind::DynamodbThrottle)
        .unwrap();
    assert!(throttle.reaction.dynamodb.retries() > 0, "{throttle:?}");
}

fn assert_outbox_survives(record: &ReplayRecord) {
    let report = record.to_markdown();
    assert_every_fault_happened(record);
    assert!(record.passed(), "{report}");
    for name in [
        "relay-drained",
        "no-lost-writes",
        "read-parity",
        "parity",
        "settle-points",
        "in-run-reads",
        "isolation",
        "versions-advance",
    ] {
        assert!(check(record, name).passed, "{name}: {report}");
    }
    // Reads were judged during the faults, against what was in flight.
    assert!(
        !check(record, "in-run-reads").detail.starts_with("0 of 0 "),
        "{report}"
    );
    // The stores were judged between the faults, not only at the end.
    let settled = check(record, "settle-points");
    assert!(!settled.detail.starts_with("0 of "), "{report}");
    assert!(record.suspects.is_empty(), "{report}");
    assert!(record.driver.starts_with("outbox"), "{}", record.driver);
}

/// The naive dual write loses or garbles writes under the faults, and the
/// record names each one with the write and the fault before it.
fn assert_naive_is_caught(record: &ReplayRecord) {
    let report = record.to_markdown();
    assert_every_fault_happened(record);
    assert!(
        !record.passed(),
        "the naive driver survived every fault:\n{report}"
    );
    // PostgreSQL is right (the write went there first): what is lost is
    // DynamoDB's copy.
    assert!(check(record, "no-lost-writes").passed, "{report}");
    let parity = check(record, "parity");
    assert!(!parity.passed && !parity.entities.is_empty(), "{report}");
    assert!(!record.suspects.is_empty(), "{report}");
    let named: usize = record.checks.iter().map(|c| c.entities.len()).sum();
    assert_eq!(
        record.suspects.len(),
        named.min(cutover_replay::blame::SUSPECTS_LISTED)
    );
    for suspect in &record.suspects {
        let write = suspect
            .last_write
            .as_ref()
            .unwrap_or_else(|| panic!("{suspect:?}: no write named\n{report}"));
        let fault = suspect
            .fault_before
            .as_ref()
            .unwrap_or_else(|| panic!("{suspect:?}: no fault named\n{report}"));
        assert!(fault.at_ms <= write.ended_ms, "{suspect:?}");
    }
    assert!(report.contains("## Lost or divergent writes"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_driver_survives_every_fault_on_the_embedded_engines() {
    assert_outbox_survives(&faults_run(Plan::embedded(), "outbox").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_naive_driver_is_caught_on_the_embedded_engines() {
    assert_naive_is_caught(&faults_run(Plan::embedded(), "naive").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_driver_survives_every_fault_on_dynamodb_local() {
    let plan = Plan::embedded().with(Engine::DynamoDb, Provisioner::Local);
    assert_outbox_survives(&faults_run(plan, "outbox").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_naive_driver_is_caught_on_dynamodb_local() {
    let plan = Plan::embedded().with(Engine::DynamoDb, Provisioner::Local);
    assert_naive_is_caught(&faults_run(plan, "naive").await);
}

/// An app that, when a write whose sync failed is retried, answers from its
/// idempotency cache and never redoes the sync: the entity stays wrong in
/// DynamoDB until a later write rewrites it. The settle point after the
/// fault judges the stores before that, and names the entity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_skipped_on_a_retry_is_caught_at_the_settle_point_after_its_fault() {
    let command = planted_driver("skip_sync_after_retry.mjs");
    let record = faults_run_of(Plan::embedded(), &command).await;
    let report = record.to_markdown();
    assert!(!record.passed(), "{report}");
    let settled = check(&record, "settle-points");
    assert!(!settled.passed, "{report}");
    assert!(settled.detail.contains("parity failed"), "{report}");
    assert!(!settled.entities.is_empty(), "{report}");
    // PostgreSQL holds every write: what is wrong is DynamoDB's copy.
    assert!(check(&record, "no-lost-writes").passed, "{report}");
}

/// Under faults the owners' reads are judged too: exactly, unless the owner
/// wrote while a fault was in force (then any version since the stores last
/// settled is allowed, never an older one). An app that leaves every write
/// to its relay serves reads that lag its users' own writes; it is caught
/// while the faults fire, the finding naming the read and its user, while
/// the settle points and the end of the run, each after a drain, pass it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_lagging_their_own_writes_are_caught_while_faults_fire() {
    let command = planted_driver("relay_only.mjs");
    let record = faults_run_of(Plan::embedded(), &command).await;
    let report = record.to_markdown();
    assert!(!record.passed(), "{report}");
    let judged = check(&record, "in-run-reads");
    assert!(!judged.passed, "{report}");
    assert!(judged.detail.contains(" by u"), "{report}");
    assert!(!judged.entities.is_empty(), "{report}");
    for passing in ["settle-points", "parity", "no-lost-writes"] {
        assert!(check(&record, passing).passed, "{passing}: {report}");
    }
}

// The tests below restart nothing: they share the binary's engines (each
// faults test above has its own, since it restarts them).

#[test]
fn a_read_only_python_driver_answers_what_cutover_wrote() {
    support::RUNTIME.block_on(async {
        let engines = support::engines().await;
        let command = format!(
            "python3 {}",
            support::repo().join("drivers/python/readonly.py").display()
        );
        let outcome = replay_driver(
            engines,
            &support::scenario("smoke"),
            150,
            &command,
            driver::DEFAULT_OPERATION_TIMEOUT,
        )
        .await;
        let record = outcome.record.expect("the replay runs");
        let report = record.to_markdown();
        assert!(record.passed(), "{report}");
        assert!(
            record.driver.starts_with("reads: python-readonly"),
            "{}",
            record.driver
        );
        let reads = check(&record, "read-parity");
        assert!(
            reads
                .detail
                .contains("the driver's answers against the model"),
            "{report}"
        );
        // Reads were asked of it during the run too, and answered.
        let read = &record.by_kind["read"];
        assert!(read.ok > 0 && read.failed == 0, "{report}");
    });
}

fn process_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

#[test]
fn a_driver_that_breaks_the_protocol_stops_the_run_naming_the_operation() {
    support::RUNTIME.block_on(async {
        let engines = support::engines().await;
        let script = support::repo().join("fixtures/drivers/misbehaving.py");
        let scratch = tempfile::tempdir().unwrap();
        let pidfile = scratch.path().join("grandchild.pid");
        let cases: [(&str, String, &[&str]); 5] = [
            (
                "crash",
                String::new(),
                &["exited during op ", "exit status: 3", "crashing on purpose"],
            ),
            (
                "hang",
                pidfile.display().to_string(),
                &["did not answer op ", "within 1s"],
            ),
            (
                "garbage",
                String::new(),
                &[
                    "broke the protocol during op ",
                    "line 5 of the driver's output",
                    "this is not a protocol message",
                ],
            ),
            (
                "unknown",
                String::new(),
                &["broke the protocol during op ", "line 5", "maybe"],
            ),
            (
                "stray",
                String::new(),
                &["line 5 answers operation id 999999"],
            ),
        ];
        for (mode, extra, expected) in cases {
            let command = format!("python3 {} {mode} 3 {extra}", script.display());
            let outcome = replay_driver(
                engines,
                &support::scenario("smoke"),
                40,
                &command,
                Duration::from_secs(1),
            )
            .await;
            let error = match outcome.record {
                Err(error) => error.to_string(),
                Ok(record) => panic!(
                    "{mode}: the run passed over a broken driver:\n{}",
                    record.to_markdown()
                ),
            };
            for fragment in expected {
                assert!(
                    error.contains(fragment),
                    "{mode}: {fragment:?} not in: {error}"
                );
            }
            assert!(
                error.contains(&format!("misbehaving.py {mode}")),
                "{mode}: {error}"
            );
        }
        // The hanging driver's own child went down with its process group.
        let grandchild: i32 = std::fs::read_to_string(&pidfile)
            .expect("the hanging driver wrote its child's pid")
            .trim()
            .parse()
            .unwrap();
        let mut alive = process_alive(grandchild);
        for _ in 0..50 {
            if !alive {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            alive = process_alive(grandchild);
        }
        assert!(
            !alive,
            "the hanging driver's child {grandchild} outlived the run"
        );
    });
}

#[test]
fn a_driver_that_cannot_start_is_named() {
    support::RUNTIME.block_on(async {
        let engines = support::engines().await;
        for (command, expected) in [
            ("/nonexistent/driver --flag", "cannot start"),
            (
                "python3 -c 'import sys; sys.exit(4)'",
                "failed its handshake",
            ),
            ("'unclosed", "not a command line"),
            // Nobody listens on port 1.
            (
                "http://127.0.0.1:1/driver",
                "127.0.0.1:1/driver did not answer",
            ),
            ("http://", "not a URL"),
        ] {
            let outcome = replay_driver(
                engines,
                &support::scenario("smoke"),
                10,
                command,
                Duration::from_secs(1),
            )
            .await;
            let error = outcome.record.expect_err("refused").to_string();
            assert!(error.contains(expected), "{command}: {error}");
        }
    });
}

#[test]
fn a_driver_behind_http_is_replayed_like_one_on_stdin() {
    support::RUNTIME.block_on(async {
        let engines = support::engines().await;
        let bridge = support::repo().join("fixtures/drivers/http_bridge.py");
        let outbox = support::repo().join("drivers/outbox/main.mjs");
        let _ = node_driver("outbox");
        let mut server = tokio::process::Command::new("python3")
            .arg(&bridge)
            .arg("node")
            .arg(&outbox)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(
            server.stdout.take().unwrap(),
        ));
        let port = lines.next_line().await.unwrap().expect("the bridge's port");
        let url = format!("http://127.0.0.1:{}/driver", port.trim());
        let outcome = replay_driver(
            engines,
            &support::scenario("smoke"),
            150,
            &url,
            driver::DEFAULT_OPERATION_TIMEOUT,
        )
        .await;
        let record = outcome.record.expect("the replay runs");
        let report = record.to_markdown();
        assert!(record.passed(), "{report}");
        assert!(record.driver.starts_with("outbox"), "{}", record.driver);
        assert!(record.driver.contains(&url), "{}", record.driver);
        assert_eq!(outcome.close_problem, None);
        let status = tokio::time::timeout(Duration::from_secs(30), server.wait())
            .await
            .expect("the bridge stops after `bye`")
            .unwrap();
        assert!(status.success(), "{status}");
    });
}

/// Every read is judged as it is answered: the reference drivers' answers
/// are the model's throughout the run, and a driver whose read cache is
/// emptied only by `drain` — right again at the end, so the end-of-run read
/// check passes it — is caught by the reads it answered stale on the way.
#[test]
fn reads_are_judged_as_they_are_answered() {
    for reference in ["naive", "outbox"] {
        let (record, report) = smoke_through(&node_driver(reference), 300);
        assert!(record.passed(), "{reference}: {report}");
        let judged = check(&record, "in-run-reads");
        assert!(judged.passed, "{reference}: {report}");
        assert!(!judged.detail.starts_with("0 of 0 "), "{report}");
        let isolation = check(&record, "isolation");
        assert!(isolation.passed, "{reference}: {report}");
        assert!(!isolation.detail.starts_with("0 of 0 "), "{report}");
        let versions = check(&record, "versions-advance");
        assert!(versions.passed, "{reference}: {report}");
        assert!(!versions.detail.starts_with("0 of 0 "), "{report}");
    }
    let (record, report) = smoke_through(&planted_driver("stale_cache.mjs"), 300);
    assert!(!record.passed(), "{report}");
    assert!(check(&record, "read-parity").passed, "{report}");
    let judged = check(&record, "in-run-reads");
    assert!(!judged.passed, "{report}");
    assert!(judged.detail.contains("op "), "{report}");
    assert!(judged.detail.contains(" by u"), "{report}");
    assert!(!judged.entities.is_empty(), "{report}");
}

/// A driver of `drivers/planted/`: the reference app with one bug planted.
fn planted_driver(script: &str) -> String {
    let _ = node_driver("outbox"); // the packages are installed
    format!(
        "node {}",
        support::repo()
            .join("drivers/planted")
            .join(script)
            .display()
    )
}

/// The smoke scenario, `operations` long, through the driver `command` on
/// the binary's shared engines; the record and its Markdown.
fn smoke_through(command: &str, operations: u64) -> (ReplayRecord, String) {
    support::RUNTIME.block_on(async {
        let outcome = replay_driver(
            support::engines().await,
            &support::scenario("smoke"),
            operations,
            command,
            driver::DEFAULT_OPERATION_TIMEOUT,
        )
        .await;
        let record = outcome.record.expect("the replay runs");
        let report = record.to_markdown();
        (record, report)
    })
}

/// A tenth of the reads are made by a user who does not own what they name;
/// an app that serves them what the owner would see is an isolation finding
/// naming the op and the user who asked, while the reference drivers pass.
#[test]
fn an_app_that_serves_a_stranger_is_an_isolation_finding() {
    let (record, report) = smoke_through(&planted_driver("no_isolation.mjs"), 300);
    assert!(!record.passed(), "{report}");
    let isolation = check(&record, "isolation");
    assert!(!isolation.passed, "{report}");
    assert!(isolation.detail.contains("op "), "{report}");
    assert!(isolation.detail.contains(" by u"), "{report}");
    // The owners' reads are right: only the strangers' are wrong.
    assert!(check(&record, "in-run-reads").passed, "{report}");
    assert!(check(&record, "read-parity").passed, "{report}");
}

/// Each unshare revokes a link that works and is followed by an open of it:
/// an app whose unshare never reaches DynamoDB keeps serving the revoked
/// link, and that open is a wrong answer naming the op.
#[test]
fn a_revoked_share_link_that_still_works_is_caught() {
    let (record, report) = smoke_through(&planted_driver("sticky_share.mjs"), 600);
    let judged = check(&record, "in-run-reads");
    assert!(!judged.passed, "{report}");
    assert!(judged.detail.contains("SessionByShareToken"), "{report}");
}

/// The drivers' search normalization (drivers/lib/app.mjs, JavaScript's
/// `normalize("NFKC")` and `toLowerCase`) gives cutover's exact text for
/// every hostile spelling the workload writes: the in-run search judging
/// compares the two, so any disagreement would be a false finding.
#[test]
fn the_drivers_normalize_hostile_text_exactly_as_cutover_does() {
    let _ = node_driver("outbox"); // the packages are installed
    let examples = cutover_core::workload::hostile_examples();
    let app = support::repo().join("drivers/lib/app.mjs");
    let script = format!(
        "import {{ normalize }} from {:?};\n\
         let input = ''; for await (const chunk of process.stdin) input += chunk;\n\
         process.stdout.write(JSON.stringify(JSON.parse(input).map(normalize)));",
        app.display().to_string()
    );
    let mut child = std::process::Command::new("node")
        .args(["--input-type=module", "-e", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    let input = serde_json::to_vec(&examples).unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "node failed: {output:?}");
    let theirs: Vec<String> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(theirs.len(), examples.len());
    let mut differing = Vec::new();
    for ((example, theirs), ours) in examples.iter().zip(&theirs).zip(
        examples
            .iter()
            .map(|e| cutover_core::normalize::normalize(e)),
    ) {
        if *theirs != ours {
            differing.push(format!("{example:?}: JS {theirs:?}, cutover {ours:?}"));
        }
    }
    assert!(differing.is_empty(), "{differing:#?}");
    // The spellings are hostile: lower-casing alone gets a good share of
    // them wrong (full-width letters, ligatures, combining marks, spaces).
    let lowercase_differs = examples
        .iter()
        .filter(|e| e.to_lowercase().trim() != cutover_core::normalize::normalize(e))
        .count();
    assert!(
        lowercase_differs * 4 > examples.len(),
        "{lowercase_differs} of {}",
        examples.len()
    );
}

/// Searches are judged as they are answered, and the workload writes text
/// whose NFKC form differs from its lower-case form: an app that builds its
/// search copy by lower-casing alone answers a search wrongly, named with
/// its op and user, while the reference drivers' searches are right.
#[test]
fn a_search_copy_built_by_lowercasing_alone_is_caught() {
    let (record, report) = smoke_through(&planted_driver("lowercase_search.mjs"), 300);
    assert!(!record.passed(), "{report}");
    let judged = check(&record, "in-run-reads");
    assert!(!judged.passed, "{report}");
    assert!(judged.detail.contains("SearchSessions"), "{report}");
    assert!(judged.detail.contains(" by u"), "{report}");
}

/// An app whose updates leave `updated_at` as it was: every store agrees,
/// so parity passes it, but its answers show an entity with the version it
/// had before a write, and the finding names the read, the entity and the
/// write that should have moved it.
#[test]
fn an_update_that_does_not_move_the_version_is_caught() {
    let (record, report) = smoke_through(&planted_driver("no_updated_at_bump.mjs"), 300);
    assert!(!record.passed(), "{report}");
    let versions = check(&record, "versions-advance");
    assert!(!versions.passed, "{report}");
    assert!(versions.detail.contains("kept its version"), "{report}");
    assert!(versions.detail.contains("(update_"), "{report}");
    assert!(versions.detail.contains(" by u"), "{report}");
}

/// An app that writes its keys in another case than its profile says: its
/// own reads are right, and parity leads its report with one line naming the
/// cause and how many findings share it, before the samples.
#[test]
fn keys_written_in_another_case_lead_the_replay_report_as_one_pattern() {
    let (record, report) = smoke_through(&planted_driver("keys_in_another_case.mjs"), 300);
    assert!(!record.passed(), "{report}");
    assert!(check(&record, "in-run-reads").passed, "{report}");
    let parity = check(&record, "parity");
    assert!(!parity.passed, "{report}");
    let first_finding = parity.detail.split("; ").nth(1).unwrap_or_default();
    assert!(
        first_finding.starts_with("PATTERN ")
            && first_finding.contains("differs from the profile's template by letter case only"),
        "the pattern leads: {report}"
    );
    let count: usize = first_finding["PATTERN ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(count > 1, "{report}");
}
