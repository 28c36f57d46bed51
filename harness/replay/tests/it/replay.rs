//! Replays of the shipped scenarios on the embedded engines.

use crate::support;
use std::sync::Arc;

use cutover_app::App;
use cutover_backends::Sandbox;
use cutover_core::profile::{ELECTRODB_TOML, Profile};
use cutover_core::workload::{CheckName, OpKind, RunLength, Workload};
use cutover_replay::{ReplayOptions, app_mode, replay};

#[test]
fn every_shipped_scenario_parses_and_generates_the_same_workload_twice() {
    // (`every_shipped_scenario_replays_to_its_expected_outcome` checks that
    // SHIPPED is every file in scenarios/.)
    for (name, _) in SHIPPED {
        let scenario = support::scenario(name);
        let first: Vec<_> = Workload::new(&scenario, scenario.seed).take(200).collect();
        let second: Vec<_> = Workload::new(&scenario, scenario.seed).take(200).collect();
        assert_eq!(
            serde_json::to_vec(&first).unwrap(),
            serde_json::to_vec(&second).unwrap(),
            "{name}"
        );
    }
}

/// The shape of the smoke workload, so a change to the generator is a
/// deliberate, reviewed snapshot update rather than a silent new workload.
#[test]
fn the_smoke_workload_is_stable() {
    let scenario = support::scenario("smoke");
    let outline: Vec<String> = Workload::new(&scenario, scenario.seed)
        .take(40)
        .map(|op| {
            let detail = match &op.kind {
                OpKind::Write { command } => {
                    let (kind, id) = command.target();
                    format!("{kind} {id}")
                }
                OpKind::Read { read } => format!("{read:?}"),
                OpKind::Search { campaign, query } => format!("{campaign} {query:?}"),
                OpKind::OpenShareLink { session, revoked } => {
                    format!(
                        "share link of {session}{}",
                        if *revoked { " (revoked)" } else { "" }
                    )
                }
            };
            format!(
                "{:>3} {} {:<6} {detail}",
                op.ordinal,
                op.user,
                op.kind.label()
            )
        })
        .collect();
    insta::assert_snapshot!(outline.join("\n"));
}

/// How a shipped scenario is replayed here, and what it must come to.
enum Replayed {
    /// On the embedded engines, capped at this many operations (`None`: the
    /// scenario's own count), with every check it names passing.
    Passes(Option<u64>),
    /// By another test, which says what it expects.
    Elsewhere(&'static str),
}

/// Every shipped scenario and its expected outcome; a scenario added to
/// `scenarios/` without a row here fails the test.
const SHIPPED: [(&str, Replayed); 8] = [
    (
        "smoke",
        Replayed::Elsewhere("the_smoke_scenario_replays_with_every_check_passing"),
    ),
    ("campaign-50", Replayed::Passes(Some(300))),
    ("churn", Replayed::Passes(None)),
    ("transcripts-boundary", Replayed::Passes(None)),
    ("unicode", Replayed::Passes(None)),
    // Twenty thousand operations and multi-MB transcripts in full: a slice here.
    ("nightly", Replayed::Passes(Some(300))),
    // Postgres-only, as before the migration; `cutover bench backfill` runs it in full.
    ("backfill-source", Replayed::Passes(Some(300))),
    (
        "faults",
        Replayed::Elsewhere(
            "tests/it/faults.rs and tests/it/drivers.rs, shortened to 400 operations",
        ),
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shipped_scenario_replays_to_its_expected_outcome() {
    let mut shipped: Vec<&str> = SHIPPED.iter().map(|(name, _)| *name).collect();
    shipped.sort();
    let mut on_disk: Vec<String> = std::fs::read_dir(support::scenarios_dir())
        .unwrap()
        .flatten()
        .filter_map(|e| Some(e.file_name().to_str()?.strip_suffix(".toml")?.to_owned()))
        .collect();
    on_disk.sort();
    assert_eq!(shipped, on_disk, "every scenario has a row in SHIPPED");

    let engines = support::engines().await;
    for (name, replayed) in SHIPPED {
        let operations = match replayed {
            Replayed::Passes(operations) => operations,
            Replayed::Elsewhere(by) => {
                println!("{name}: replayed by {by}");
                continue;
            }
        };
        let scenario = support::scenario(name);
        let sandbox = Sandbox::open(engines, cutover_backends::new_run_id())
            .await
            .unwrap();
        let app = Arc::new(App::install(&sandbox, app_mode(&scenario)).await.unwrap());
        let options = ReplayOptions {
            seed: scenario.seed,
            operations,
            reproduce: "test".into(),
            progress: false,
        };
        let record = replay(app, &scenario, &options)
            .await
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        let report = record.to_markdown();
        let expected = match (operations, &scenario.length) {
            (Some(cap), _) => cap,
            (None, RunLength::Operations(count)) => *count,
            (None, other) => panic!("{name} runs for {other:?}: give it a cap here"),
        };
        assert_eq!(record.operations, expected, "{name}");
        let checks: Vec<&str> = record.checks.iter().map(|c| c.name.as_str()).collect();
        let mut named: Vec<&str> = scenario.checks.iter().map(|c| c.name()).collect();
        // The model is kept for no-lost-writes, so the reads are judged too.
        if scenario.checks.contains(&CheckName::NoLostWrites) {
            named.insert(0, "versions-advance");
            named.insert(0, "isolation");
            named.insert(0, "in-run-reads");
        }
        assert_eq!(checks, named, "{name}: the checks it names, in order");
        assert!(record.passed(), "{name}:\n{report}");
        sandbox.close().await.unwrap();
        println!(
            "{name}: {} operations, every check passed",
            record.operations
        );
    }
}

#[tokio::test]
async fn the_smoke_scenario_replays_with_every_check_passing() {
    smoke_on(Profile::reference()).await;
}

/// The same replay writing the ElectroDB layout (keys lowercased, ElectroDB's
/// identifiers, writes ordered by `updatedAt`): every check holds through it.
#[tokio::test]
async fn the_smoke_scenario_replays_on_the_electrodb_layout() {
    smoke_on(Arc::new(
        Profile::parse(ELECTRODB_TOML, "profiles/electrodb.toml").unwrap(),
    ))
    .await;
}

async fn smoke_on(profile: Arc<Profile>) {
    let engines = support::engines().await;
    let sandbox = Sandbox::open(engines, cutover_backends::new_run_id())
        .await
        .unwrap();
    let scenario = support::scenario("smoke");
    let app = Arc::new(
        App::install_with_profile(&sandbox, app_mode(&scenario), profile)
            .await
            .unwrap(),
    );
    let options = ReplayOptions {
        seed: scenario.seed,
        operations: None,
        reproduce: "test".into(),
        progress: false,
    };
    let record = replay(app, &scenario, &options).await.expect("replay");
    assert_eq!(record.operations, 150);
    assert!(record.passed(), "{}", record.to_markdown());
    assert_eq!(
        record
            .checks
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["relay-drained", "read-parity", "parity"]
    );
    for kind in ["create", "update", "delete", "read", "search", "share"] {
        assert!(
            record.by_kind.get(kind).is_some_and(|k| k.ok > 0),
            "no successful {kind}: {}",
            record.to_markdown()
        );
    }
    sandbox.close().await.unwrap();
}
