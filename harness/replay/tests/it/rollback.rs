//! The rollback drill end to end: dual writes, the switch to postgres-only
//! with DynamoDB and S3 cut off, more writes and reads; PostgreSQL alone
//! must equal the workload's model, an item planted only in DynamoDB must be
//! listed, and drivers with a rollback bug planted must each fail the drill
//! with their reason (drivers/planted/rollback_faulty.mjs).

use crate::drivers::{electrodb_profile, node_driver};
use crate::support;
use std::sync::Arc;

use cutover_app::{App, Mode};
use cutover_backends::Sandbox;
use cutover_core::domain::{Entity, User};
use cutover_core::keys::{EntityKind, Id};
use cutover_core::profile::{ELECTRODB_TOML, Profile};
use cutover_replay::ReplayError;
use cutover_replay::driver::{self, Driver};
use cutover_replay::faults::{self, FaultRig};
use cutover_replay::rollback::{DrillPlan, RollbackReport, drill, recount_after_close};

const PLAN: DrillPlan = DrillPlan {
    seed: 7,
    writes: 400,
    switch_after: 200,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drill_proves_postgres_alone_complete_and_lists_a_planted_dynamodb_only_item() {
    drill_on(Profile::reference(), "USER#ghost/METADATA").await;
}

/// The same drill on the ElectroDB layout (writes ordered by `updatedAt`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drill_holds_on_the_electrodb_layout() {
    let profile = Profile::parse(ELECTRODB_TOML, "profiles/electrodb.toml").unwrap();
    drill_on(Arc::new(profile), "user#ghost/metadata").await;
}

async fn drill_on(profile: Arc<Profile>, ghost_key: &str) {
    let scenario = support::scenario("churn");
    let engines = support::engines().await;
    let sandbox = Sandbox::open(engines, cutover_backends::new_run_id())
        .await
        .unwrap();
    let stores = Arc::new(
        App::install_with_profile(&sandbox, Mode::Dual, profile.clone())
            .await
            .unwrap(),
    );
    // Written to DynamoDB outside the dual-write path: PostgreSQL never had it.
    let ghost = Entity::User(User {
        id: Id::parse("ghost").unwrap(),
        email: "ghost@example.com".into(),
        display_name: "Ghost".into(),
        created_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        updated_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        version: 1,
    });
    stores
        .dynamo
        .put_if_newer(
            &ghost.key(),
            &stores.profile().to_item(&ghost),
            stores.profile().order_of(&ghost),
        )
        .await
        .unwrap();
    let rig = FaultRig::start(engines, &sandbox).await.unwrap();
    let app = Arc::new(faults::instrumented_app(
        &sandbox,
        Mode::Dual,
        &rig,
        profile,
    ));
    let driver = Driver::BuiltIn(app.clone());
    let report = drill(&driver, &stores, &rig, &scenario, PLAN)
        .await
        .unwrap();
    drop(rig);
    sandbox.close().await.unwrap();
    let markdown = report.to_markdown();
    assert!(report.postgres_complete(), "{markdown}");
    assert!(report.switch_clean(), "{markdown}");
    assert!(report.after_switch.untouched(), "{markdown}");
    assert!(report.wrong_answers.is_empty(), "{markdown}");
    // The scenario's run length caps its writes below 400 (reads are skipped).
    assert_eq!(report.writes_dual, 200);
    assert!(report.writes_postgres_only > 50, "{markdown}");
    assert!(report.reads_after_switch > 0, "{markdown}");
    assert!(report.read_check.passed, "{markdown}");
    assert_eq!(
        app.mode(),
        Mode::PostgresOnly,
        "the drill leaves the app rolled back"
    );
    let listed: Vec<(Option<EntityKind>, &str)> = report
        .only_in_dynamodb
        .iter()
        .map(|i| (i.kind, i.id.as_str()))
        .collect();
    assert_eq!(
        listed,
        vec![(Some(EntityKind::User), "ghost")],
        "{markdown}"
    );
    assert!(!report.passed(), "the ghost fails it: {markdown}");
    assert!(report.stale_or_missing_in_dynamodb > 0, "{markdown}");
    // Deleted in PostgreSQL after the switch: still in DynamoDB, counted apart, not "lost".
    assert!(report.deleted_since_switch > 0, "{markdown}");
    assert!(markdown.contains(ghost_key), "{markdown}");
}

/// The drill of the churn scenario through the driver `command` (an
/// external one, on the ElectroDB layout, through the fault proxies).
async fn drill_driver(command: &str) -> RollbackReport {
    let engines = support::engines().await;
    let sandbox = Sandbox::open(engines, cutover_backends::new_run_id())
        .await
        .unwrap();
    let rig = FaultRig::start(engines, &sandbox).await.unwrap();
    let (profile, profile_path) = electrodb_profile();
    let (driver, stores) = driver::start_external(
        &sandbox,
        &rig,
        profile,
        Some(&profile_path),
        Mode::Dual,
        command,
        driver::DEFAULT_OPERATION_TIMEOUT,
    )
    .await
    .unwrap();
    let drilled = drill(&driver, &stores, &rig, &support::scenario("churn"), PLAN).await;
    let closed = driver.close().await;
    let mut report = drilled.expect("the drill runs");
    recount_after_close(&mut report, &rig);
    drop(rig);
    sandbox.close().await.unwrap();
    assert_eq!(closed, None, "{command}");
    report
}

fn faulty(bug: &str) -> String {
    let _ = node_driver("outbox"); // the packages are installed
    let script = support::repo().join("drivers/planted/rollback_faulty.mjs");
    format!("node {} {bug}", script.display())
}

#[test]
fn the_reference_outbox_driver_passes_the_drill() {
    support::RUNTIME.block_on(async {
        let report = drill_driver(&node_driver("outbox")).await;
        let markdown = report.to_markdown();
        assert!(report.passed(), "{markdown}");
        assert_eq!(report.writes_dual, 200, "{markdown}");
        assert!(report.writes_postgres_only > 50, "{markdown}");
        assert!(report.reads_after_switch > 0, "{markdown}");
        assert!(report.read_check.passed, "{markdown}");
        // After the switch the driver left DynamoDB alone: entities deleted
        // from PostgreSQL since are still there (counted apart, not lost).
        assert!(report.deleted_since_switch > 0, "{markdown}");
    });
}

#[test]
fn a_driver_that_drops_its_queue_at_the_switch_fails_the_drill() {
    support::RUNTIME.block_on(async {
        let report = drill_driver(&faulty("drops-queue")).await;
        let markdown = report.to_markdown();
        assert!(!report.passed(), "{markdown}");
        let pending = report.at_switch.pending.expect("the driver says");
        assert!(pending > 0, "{markdown}");
        assert!(
            report
                .failures()
                .iter()
                .any(|f| f.contains(&format!("{pending} writes were still pending"))),
            "{markdown}"
        );
        assert!(!report.at_switch.stores_differing.is_empty(), "{markdown}");
        assert!(report.after_switch.untouched(), "{markdown}");
    });
}

#[test]
fn a_driver_that_keeps_writing_dynamodb_after_the_switch_fails_the_drill() {
    support::RUNTIME.block_on(async {
        let report = drill_driver(&faulty("keeps-writing")).await;
        let markdown = report.to_markdown();
        assert!(!report.passed(), "{markdown}");
        assert!(report.switch_clean(), "{markdown}");
        assert!(report.after_switch.dynamodb_requests > 0, "{markdown}");
        assert!(
            report
                .failures()
                .iter()
                .any(|f| f.contains("still reached DynamoDB")),
            "{markdown}"
        );
    });
}

#[test]
fn a_driver_that_reads_dynamodb_after_the_switch_fails_the_drill() {
    support::RUNTIME.block_on(async {
        let report = drill_driver(&faulty("reads-dynamodb")).await;
        let markdown = report.to_markdown();
        assert!(!report.passed(), "{markdown}");
        assert!(report.switch_clean(), "{markdown}");
        assert!(report.postgres_complete(), "{markdown}");
        assert!(!report.wrong_answers.is_empty(), "{markdown}");
        assert!(report.after_switch.dynamodb_requests > 0, "{markdown}");
    });
}

#[test]
fn a_switch_the_workload_never_reaches_is_refused() {
    let churn = support::scenario("churn");
    for (writes, switch_after) in [(2000, 1000), (100, 100)] {
        let plan = DrillPlan {
            seed: 7,
            writes,
            switch_after,
        };
        let error = plan.writes_to_run(&churn).unwrap_err();
        assert!(
            matches!(error, ReplayError::SwitchUnreachable { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("never reached"), "{error}");
    }
    // The scenario's run length caps its writes below the plan's 400.
    let available = PLAN.writes_to_run(&churn).unwrap();
    assert!(
        available > PLAN.switch_after && available < PLAN.writes,
        "{available}"
    );
}

#[test]
fn a_driver_that_only_answers_reads_cannot_be_drilled() {
    support::RUNTIME.block_on(async {
        let engines = support::engines().await;
        let sandbox = Sandbox::open(engines, cutover_backends::new_run_id())
            .await
            .unwrap();
        let rig = FaultRig::start(engines, &sandbox).await.unwrap();
        let (profile, profile_path) = electrodb_profile();
        let command = format!(
            "python3 {}",
            support::repo().join("drivers/python/readonly.py").display()
        );
        let (driver, stores) = driver::start_external(
            &sandbox,
            &rig,
            profile,
            Some(&profile_path),
            Mode::Dual,
            &command,
            driver::DEFAULT_OPERATION_TIMEOUT,
        )
        .await
        .unwrap();
        let drilled = drill(&driver, &stores, &rig, &support::scenario("churn"), PLAN).await;
        let _ = driver.close().await;
        drop(rig);
        sandbox.close().await.unwrap();
        let error = drilled.expect_err("refused");
        assert!(
            matches!(error, ReplayError::DrillNeedsWrites { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("python-readonly"), "{error}");
    });
}
