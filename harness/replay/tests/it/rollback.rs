//! The rollback drill end to end: dual writes, the switch to postgres-only,
//! more writes; PostgreSQL alone must equal the workload's model, and an item
//! planted only in DynamoDB must be listed.

use crate::support;
use std::sync::Arc;

use cutover_app::{App, Mode};
use cutover_backends::Sandbox;
use cutover_core::domain::{Entity, User};
use cutover_core::keys::{EntityKind, Id};
use cutover_core::profile::{ELECTRODB_TOML, Profile};
use cutover_replay::rollback::{DrillPlan, drill};

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
    let app = App::install_with_profile(&sandbox, Mode::Dual, profile)
        .await
        .unwrap();

    // Written to DynamoDB outside the dual-write path: PostgreSQL never had it.
    let ghost = Entity::User(User {
        id: Id::parse("ghost").unwrap(),
        email: "ghost@example.com".into(),
        display_name: "Ghost".into(),
        created_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        updated_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        version: 1,
    });
    app.dynamo
        .put_if_newer(
            &ghost.key(),
            &app.profile().to_item(&ghost),
            app.profile().order_of(&ghost),
        )
        .await
        .unwrap();

    let app = std::sync::Arc::new(app);
    let driver = cutover_replay::driver::Driver::BuiltIn(app.clone());
    let report = drill(
        &driver,
        &app,
        &scenario,
        DrillPlan {
            seed: 7,
            writes: 400,
            switch_after: 200,
        },
    )
    .await
    .unwrap();
    assert!(report.postgres_complete(), "{}", report.to_markdown());
    // The scenario's run length caps its writes below 400 (reads are skipped).
    assert_eq!(report.writes_dual, 200);
    assert!(
        report.writes_postgres_only > 100,
        "{}",
        report.to_markdown()
    );
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
        "{}",
        report.to_markdown()
    );
    assert!(report.stale_or_missing_in_dynamodb > 0);
    // Deleted in PostgreSQL after the switch: still in DynamoDB, counted apart, not "lost".
    assert!(report.deleted_since_switch > 0, "{}", report.to_markdown());
    assert!(
        report.to_markdown().contains(ghost_key),
        "{}",
        report.to_markdown()
    );
    sandbox.close().await.unwrap();
}
