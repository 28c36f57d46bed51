//! The `faults` scenario, shortened: every fault kind fires during the replay
//! and the run still ends with the relay drained, PostgreSQL equal to the
//! workload's model (no lost writes) and 100% parity. Each test that restarts
//! engines starts its own.

use crate::support;
use std::sync::Arc;

use cutover_app::App;
use cutover_backends::{Engines, Plan, Sandbox};
use cutover_core::provision::{Engine, Provisioner};
use cutover_core::workload::{FaultKind, FaultTarget};
use cutover_replay::faults::{FaultRig, instrumented_app};
use cutover_replay::{ReplayOptions, ReplayRecord, app_mode, replay, replay_with_faults};

/// Operations of the shortened run; the faults fire at the same shares of it.
const SHORT_RUN: u64 = 400;

async fn run_with_faults(plan: Plan, operations: u64) -> ReplayRecord {
    let engines = Engines::start(&plan).await.expect("engines");
    let sandbox = Sandbox::open(&engines, cutover_backends::new_run_id())
        .await
        .unwrap();
    let scenario = support::scenario("faults");
    let mode = app_mode(&scenario);
    App::install(&sandbox, mode).await.unwrap();
    let rig = FaultRig::start(&engines, &sandbox)
        .await
        .expect("fault rig");
    let app = Arc::new(instrumented_app(
        &sandbox,
        mode,
        &rig,
        cutover_core::profile::Profile::reference(),
    ));
    let options = ReplayOptions {
        seed: scenario.seed,
        operations: Some(operations),
        reproduce: "test".into(),
        progress: false,
    };
    let record = replay_with_faults(app, &scenario, &options, &rig)
        .await
        .expect("replay");
    sandbox.close().await.unwrap();
    engines.shutdown().await;
    record
}

fn assert_survived_every_fault(record: &ReplayRecord) {
    let report = record.to_markdown();
    println!("{report}");
    assert!(record.passed(), "{report}");
    let checks: Vec<&str> = record.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        checks,
        [
            // The owners' reads are judged against the versions since the
            // stores last settled.
            "in-run-reads",
            "isolation",
            "versions-advance",
            "relay-drained",
            "no-lost-writes",
            "read-parity",
            "parity",
            "faults",
            "settle-points"
        ],
        "{report}"
    );
    let reads = &record.checks[0].detail;
    assert!(!reads.starts_with("0 of 0 "), "{report}");
    // Between the faults the stores were judged, not only at the end (a
    // settle point a fault still armed is skipped, and says so).
    let settled = &record.checks.last().expect("settle-points").detail;
    let points = format!(" of {} settle points judged", FaultKind::ALL.len() - 1);
    assert!(settled.contains(&points), "{report}");
    assert!(!settled.starts_with("0 of "), "{report}");
    let kinds: Vec<FaultKind> = record.faults.iter().map(|f| f.kind).collect();
    assert_eq!(kinds.len(), FaultKind::ALL.len(), "{report}");
    for kind in FaultKind::ALL {
        assert!(kinds.contains(&kind), "{kind} missing: {report}");
    }
    for fault in &record.faults {
        assert!(fault.happened(), "{fault:?}");
        if fault.kind.adds_latency() {
            // Held, not failed: the requests went on to the engine.
            let service = match fault.kind.target() {
                FaultTarget::S3 => fault.reaction.s3,
                FaultTarget::Dynamodb => fault.reaction.dynamodb,
                FaultTarget::Postgres => fault.reaction.postgres,
            };
            assert!(service.injected > 0, "{fault:?}");
        } else if fault.kind.is_injected() {
            match fault.kind.target() {
                // The SDK met the injected failures and retried them.
                FaultTarget::S3 => {
                    assert!(
                        fault.reaction.s3.injected > 0 && fault.reaction.s3.retries() > 0,
                        "{fault:?}"
                    )
                }
                FaultTarget::Dynamodb => assert!(
                    fault.reaction.dynamodb.injected > 0 && fault.reaction.dynamodb.retries() > 0,
                    "{fault:?}"
                ),
                // The proxy broke the statements' connections. (Whether the
                // client or the relay retried depends on which statement it
                // hit; the checks say nothing was lost either way.)
                FaultTarget::Postgres => assert!(fault.reaction.postgres.injected > 0, "{fault:?}"),
            }
        } else {
            assert!(
                fault.unavailable_ms.is_some_and(|ms| ms >= 400.0),
                "{fault:?}"
            );
        }
    }
    // Work went on after every fault. (Whether the PostgreSQL crash breaks a
    // query in flight, which the client then retries, depends on timing: a
    // request that needs a connection while the server is down waits in the
    // pool instead, so client retries are reported, not required.)
    for fault in &record.faults {
        assert!(fault.reaction.operations > 0, "{fault:?}");
    }
    assert!(report.contains("## Faults"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_faults_scenario_ends_in_full_parity_on_the_embedded_engines() {
    let record = run_with_faults(Plan::embedded(), SHORT_RUN).await;
    assert_survived_every_fault(&record);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_dynamodb_local_mid_run_loses_nothing() {
    let plan = Plan::embedded().with(Engine::DynamoDb, Provisioner::Local);
    let record = run_with_faults(plan, SHORT_RUN).await;
    assert_survived_every_fault(&record);
    let restart = record
        .faults
        .iter()
        .find(|f| f.kind == FaultKind::DynamodbRestart)
        .unwrap();
    assert!(restart.how.contains("SIGKILL"), "{restart:?}");
}

#[tokio::test]
async fn a_scenario_with_faults_is_refused_without_the_engines_to_restart() {
    let engines = support::engines().await;
    let sandbox = Sandbox::open(engines, cutover_backends::new_run_id())
        .await
        .unwrap();
    let scenario = support::scenario("faults");
    let app = Arc::new(App::install(&sandbox, app_mode(&scenario)).await.unwrap());
    let options = ReplayOptions {
        seed: 1,
        operations: Some(10),
        reproduce: "test".into(),
        progress: false,
    };
    let error = replay(app, &scenario, &options).await.unwrap_err();
    assert!(error.to_string().contains("schedules faults"), "{error}");
    sandbox.close().await.unwrap();
}
