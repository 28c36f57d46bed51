//! The backfill on real engines: a full copy, an interrupted one resumed from
//! its checkpoint, and copies racing live dual writes.

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use cutover_app::model_view::postgres_as_model;
use cutover_app::{App, Command, Mode};
use cutover_backends::{Engines, Plan, Sandbox};
use cutover_backfill::{BackfillOptions, PagePause, backfill, backfill_pausing};
use cutover_bench::{ENTITIES_PER_USER, dataset};
use cutover_core::backfill::PageMark;
use cutover_core::keys::{EntityKind, Id};
use cutover_core::model::Model;
use cutover_core::workload::{OpKind, Scenario, Workload};
use cutover_parity::{ParityOptions, ParityReport, TranscriptCheck, validate};
use futures::future::BoxFuture;

/// One runtime and one set of engines for the whole binary.
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
});
static ENGINES: tokio::sync::OnceCell<Engines> = tokio::sync::OnceCell::const_new();

async fn engines() -> &'static Engines {
    ENGINES
        .get_or_init(|| async { Engines::start(&Plan::embedded()).await.expect("engines") })
        .await
}

/// Users of the generated dataset (106 entities each); `CUTOVER_BACKFILL_USERS`
/// raises it (944 users is the 100,000-entity run of `cutover bench backfill`).
fn dataset_users() -> usize {
    std::env::var("CUTOVER_BACKFILL_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// Seeds of the race test: `CUTOVER_BACKFILL_RACE_SEEDS=1,2,3` replaces them.
fn race_seeds() -> Vec<u64> {
    std::env::var("CUTOVER_BACKFILL_RACE_SEEDS")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![11, 12, 13])
}

async fn installed_app(mode: Mode) -> (Sandbox, App) {
    let sandbox = Sandbox::open(engines().await, cutover_backends::new_run_id())
        .await
        .unwrap();
    let app = App::install(&sandbox, mode).await.unwrap();
    (sandbox, app)
}

/// PostgreSQL only: the database as it is before the migration starts.
async fn prefill(app: &App, users: usize) -> u64 {
    let mut total = 0;
    for entities in dataset(users) {
        total += entities.len() as u64;
        app.pg.load(&entities).await.unwrap();
    }
    total
}

async fn parity(app: App) -> ParityReport {
    let options = ParityOptions {
        grace: Duration::from_millis(200),
        transcripts: TranscriptCheck::Content,
        max_mismatch_percent: 0.0,
        ..ParityOptions::default()
    };
    validate(Arc::new(app), &options).await.unwrap()
}

fn assert_full_parity(report: &ParityReport, entities: u64) {
    assert!(
        report.passed && report.mismatched_entities == 0 && report.compared_entities == entities,
        "{}",
        report.to_markdown()
    );
    assert!(
        report.by_category.values().all(|count| *count == 0),
        "{}",
        report.to_markdown()
    );
}

#[test]
fn a_prefilled_database_is_copied_with_full_parity() {
    RUNTIME.block_on(async {
        let (sandbox, app) = installed_app(Mode::Dual).await;
        let users = dataset_users();
        let entities = prefill(&app, users).await;
        assert_eq!(entities, (users * ENTITIES_PER_USER) as u64);
        let report = backfill(&app, &BackfillOptions::new("test")).await.unwrap();
        println!("{}", report.to_markdown());
        assert!(report.complete && !report.interrupted);
        assert_eq!(report.this_run.entities, entities);
        assert_eq!(report.this_run.sessions, report.this_run.transcripts);
        assert_eq!(report.this_run.redriven, 0, "nothing raced this copy");
        assert_eq!(report.this_run.write_calls, entities);
        assert_eq!(report.this_run.items_merged, 0);
        // Dynoxide reports the capacity our model computes.
        assert_eq!(
            report.this_run.wcu_reported,
            Some(report.this_run.wcu_modeled)
        );
        assert_full_parity(&parity(App::on(&sandbox, Mode::Dual)).await, entities);
        sandbox.close().await.unwrap();
    });
}

#[test]
fn an_interrupted_backfill_resumes_from_its_checkpoint() {
    RUNTIME.block_on(async {
        let (sandbox, app) = installed_app(Mode::Dual).await;
        let entities = prefill(&app, 8).await;
        let dir = tempfile::tempdir().unwrap();
        let checkpoint: PathBuf = dir.path().join("backfill.checkpoint.json");
        let options = BackfillOptions {
            page_size: 20,
            workers: 3,
            checkpoint: Some(checkpoint.clone()),
            ..BackfillOptions::new("test-resume")
        };
        let first = backfill(
            &app,
            &BackfillOptions {
                stop_after_pages: Some(12),
                ..options.clone()
            },
        )
        .await
        .unwrap();
        assert!(first.interrupted && !first.complete);
        let saved: cutover_core::backfill::Checkpoint =
            serde_json::from_slice(&std::fs::read(&checkpoint).unwrap()).unwrap();
        assert!(saved.totals.entities > 0 && saved.totals.entities < entities);
        assert_eq!(saved, first.checkpoint);

        let second = backfill(&app, &options).await.unwrap();
        println!("{}", second.to_markdown());
        assert!(second.complete && second.resumed_from.is_some());
        // Only what the checkpoint did not cover is copied again.
        assert_eq!(second.copied_before.entities, saved.totals.entities);
        assert_eq!(second.this_run.entities, entities - saved.totals.entities);
        assert_eq!(second.checkpoint.totals.entities, entities);
        // A finished checkpoint makes a third run a no-op.
        let third = backfill(&app, &options).await.unwrap();
        assert_eq!((third.this_run.entities, third.pages_this_run), (0, 0));
        // Another source is refused, naming the checkpoint.
        let elsewhere = BackfillOptions {
            checkpoint: Some(checkpoint.clone()),
            ..BackfillOptions::new("elsewhere")
        };
        let error = backfill(&app, &elsewhere).await.unwrap_err();
        assert!(
            error.to_string().contains("belongs to test-resume"),
            "{error}"
        );
        assert_full_parity(&parity(App::on(&sandbox, Mode::Dual)).await, entities);
        sandbox.close().await.unwrap();
    });
}

fn id(text: &str) -> Id {
    Id::parse(text).unwrap()
}

/// Holds every page that reaches the pause point until `release`, and says
/// which kinds have arrived.
struct HoldUntilReleased {
    arrived: tokio::sync::watch::Sender<Vec<EntityKind>>,
    release: tokio::sync::watch::Receiver<bool>,
}

impl PagePause for HoldUntilReleased {
    fn before_write<'a>(&'a self, page: &PageMark) -> BoxFuture<'a, ()> {
        self.arrived.send_modify(|kinds| kinds.push(page.kind));
        let mut release = self.release.clone();
        Box::pin(async move {
            let _ = release.wait_for(|go| *go).await;
        })
    }
}

/// Live writes land while the copy holds pages it read before them: an update
/// of user u0000000 and the deletion of user u0000001 (with everything under
/// it). The users' page is held at the pause point until both have committed.
/// Without the version check after each batch, the copy leaves the old user
/// and resurrects the deleted one; with it, parity is 100%.
async fn copy_racing_two_writes(reconcile: bool) -> (ParityReport, u64, u64) {
    let (sandbox, app) = installed_app(Mode::Dual).await;
    prefill(&app, 2).await;
    let options = BackfillOptions {
        page_size: 100,
        workers: 4,
        reconcile,
        ..BackfillOptions::new("test-race")
    };
    let (arrived, mut arrivals) = tokio::sync::watch::channel(Vec::new());
    let (release, released) = tokio::sync::watch::channel(false);
    let hold = HoldUntilReleased {
        arrived,
        release: released,
    };
    let live = async {
        arrivals
            .wait_for(|kinds| kinds.contains(&EntityKind::User))
            .await
            .unwrap();
        app.execute(&Command::UpdateUser {
            user: id("u0000000"),
            email: None,
            display_name: Some("renamed while the copy ran".into()),
        })
        .await
        .unwrap();
        app.execute(&Command::DeleteUser {
            user: id("u0000001"),
        })
        .await
        .unwrap();
        release.send_replace(true);
    };
    let (report, ()) = tokio::join!(backfill_pausing(&app, &options, &hold), live);
    let report = report.unwrap();
    assert_eq!(app.relay().drain(Duration::from_secs(30)).await.unwrap(), 0);
    let remaining = app.pg.entity_count().await.unwrap();
    let parity = parity(App::on(&sandbox, Mode::Dual)).await;
    sandbox.close().await.unwrap();
    (parity, report.this_run.redriven, remaining)
}

#[test]
fn without_the_version_check_the_copy_loses_to_live_writes() {
    RUNTIME.block_on(async {
        let (parity, redriven, _) = copy_racing_two_writes(false).await;
        assert_eq!(redriven, 0);
        let by = |category| parity.by_category.get(&category).copied().unwrap_or(0);
        use cutover_core::parity::Category;
        assert!(
            by(Category::Stale) >= 1,
            "the stale user: {}",
            parity.to_markdown()
        );
        assert!(
            by(Category::OnlyInDynamodb) >= 1,
            "the resurrected user: {}",
            parity.to_markdown()
        );
    });
}

#[test]
fn with_the_version_check_the_copy_never_overwrites_a_newer_write() {
    RUNTIME.block_on(async {
        let (parity, redriven, remaining) = copy_racing_two_writes(true).await;
        assert!(
            redriven >= 2,
            "both raced entities were reconciled ({redriven})"
        );
        assert_full_parity(&parity, remaining);
    });
}

fn churn() -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/churn.toml");
    Scenario::parse(&std::fs::read_to_string(&path).unwrap(), "churn.toml").unwrap()
}

/// Live commands per page in `race_with_workload`'s lockstep.
const COMMANDS_PER_PAGE: u64 = 5;

/// Interleaves the copy with a live workload whatever either side's speed:
/// the n-th page to reach the pause point is written only after
/// `n * COMMANDS_PER_PAGE` live commands, and live command i runs only after
/// `i / COMMANDS_PER_PAGE` pages were read. Either side finishing
/// (`u64::MAX`) lets the other run free.
struct Lockstep {
    pages_read: tokio::sync::watch::Sender<u64>,
    commands_done: tokio::sync::watch::Receiver<u64>,
}

impl PagePause for Lockstep {
    fn before_write<'a>(&'a self, _: &PageMark) -> BoxFuture<'a, ()> {
        let mut read = 0;
        self.pages_read.send_modify(|pages| {
            *pages = pages.saturating_add(1);
            read = *pages;
        });
        let mut done = self.commands_done.clone();
        Box::pin(async move {
            let _ = done
                .wait_for(|commands| *commands >= read * COMMANDS_PER_PAGE)
                .await;
        })
    }
}

/// A generated workload fills PostgreSQL alone; then, while the backfill
/// copies it, the same workload goes on through the dual-write path,
/// updating and deleting the entities being copied, in lockstep with the
/// copy's pages (`Lockstep`).
async fn race_with_workload(seed: u64) -> (ParityReport, Vec<String>, u64) {
    let (sandbox, app) = installed_app(Mode::PostgresOnly).await;
    let scenario = churn();
    let mut writes = Workload::new(&scenario, seed).filter_map(|op| match op.kind {
        OpKind::Write { command } => Some(command),
        _ => None,
    });
    let mut model = Model::default();
    for command in writes.by_ref().take(250) {
        if model.apply(&command).is_ok() {
            app.execute(&command).await.unwrap();
        }
    }
    app.set_mode(Mode::Dual);
    let options = BackfillOptions {
        page_size: 3,
        workers: 3,
        ..BackfillOptions::new(format!("race-{seed}"))
    };
    let (pages_read, mut pages) = tokio::sync::watch::channel(0u64);
    let (commands_done, done) = tokio::sync::watch::channel(0u64);
    let lockstep = Lockstep {
        pages_read,
        commands_done: done,
    };
    let copy = async {
        let report = backfill_pausing(&app, &options, &lockstep).await;
        lockstep.pages_read.send_replace(u64::MAX);
        report
    };
    let live = async {
        for (index, command) in (0u64..).zip(writes.take(250)) {
            pages
                .wait_for(|read| *read >= index / COMMANDS_PER_PAGE)
                .await
                .unwrap();
            if model.apply(&command).is_ok() {
                app.execute(&command).await.unwrap();
            }
            commands_done.send_modify(|commands| *commands += 1);
        }
        commands_done.send_replace(u64::MAX);
    };
    let (report, ()) = tokio::join!(copy, live);
    let report = report.unwrap();
    assert!(report.complete);
    assert_eq!(app.relay().drain(Duration::from_secs(60)).await.unwrap(), 0);
    let differences = model.differences(&postgres_as_model(&app.pg).await.unwrap());
    let parity = parity(App::on(&sandbox, Mode::Dual)).await;
    sandbox.close().await.unwrap();
    (parity, differences, report.this_run.redriven)
}

#[test]
fn copies_racing_a_live_workload_end_in_full_parity_for_every_seed() {
    RUNTIME.block_on(async {
        let mut reconciled = 0;
        for seed in race_seeds() {
            let (parity, differences, redriven) = race_with_workload(seed).await;
            assert!(differences.is_empty(), "seed {seed}: {differences:?}");
            assert!(
                parity.passed && parity.mismatched_entities == 0,
                "seed {seed}: {}",
                parity.to_markdown()
            );
            println!("seed {seed}: {redriven} entities reconciled, parity 100%");
            reconciled += redriven;
        }
        // The live writes did catch pages in flight: the race was run, not avoided.
        assert!(reconciled > 0);
    });
}

/// Attributes the profile does not own — another tool's, a TTL, a binary
/// note — survive a backfill over items that are there, and a relay sync of
/// a live write, byte for byte: both update attribute by attribute.
#[test]
fn a_backfill_and_a_relay_sync_keep_the_attributes_the_profile_does_not_own() {
    use aws_sdk_dynamodb::types::AttributeValue;
    RUNTIME.block_on(async {
        let (sandbox, app) = installed_app(Mode::Dual).await;
        let entities = prefill(&app, 2).await;
        backfill(&app, &BackfillOptions::new("first"))
            .await
            .unwrap();

        let planted = [
            ("expiresAt", AttributeValue::N("1900000000".into())),
            (
                "otherToolNote",
                AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(vec![0, 159, 255])),
            ),
            (
                "legacyFlags",
                AttributeValue::Ss(vec!["a".into(), "b".into()]),
            ),
        ];
        let page = app.dynamo.scan_page(None, None).await.unwrap();
        let keys: Vec<_> = page
            .items()
            .iter()
            .map(|item| {
                let mut key = item.clone();
                key.retain(|name, _| name == "pk" || name == "sk");
                key
            })
            .collect();
        assert!(
            keys.len() as u64 == entities,
            "one page holds the small dataset"
        );
        for key in &keys {
            let mut update = app
                .dynamo
                .client()
                .update_item()
                .table_name(app.dynamo.table())
                .set_key(Some(key.clone()))
                .update_expression("SET expiresAt = :a, otherToolNote = :b, legacyFlags = :c");
            for ((_, value), placeholder) in planted.iter().zip([":a", ":b", ":c"]) {
                update = update.expression_attribute_values(placeholder, value.clone());
            }
            update.send().await.unwrap();
        }

        // A live write: the relay syncs the user's item.
        let user = page
            .items()
            .iter()
            .find(|item| item.get("entity") == Some(&AttributeValue::S("user".into())))
            .and_then(|item| item.get("userId")?.as_s().ok().cloned())
            .expect("a user item");
        app.execute(&Command::UpdateUser {
            user: Id::parse(&user).unwrap(),
            email: None,
            display_name: Some("Renamed during the migration".into()),
        })
        .await
        .unwrap();
        // A second backfill over items that are all there.
        let again = backfill(&app, &BackfillOptions::new("second"))
            .await
            .unwrap();
        assert_eq!(
            again.this_run.items_merged,
            entities,
            "{}",
            again.to_markdown()
        );
        assert_eq!(again.this_run.write_calls, entities);

        for key in &keys {
            let item = app
                .dynamo
                .client()
                .get_item()
                .table_name(app.dynamo.table())
                .set_key(Some(key.clone()))
                .consistent_read(true)
                .send()
                .await
                .unwrap()
                .item
                .expect("the item is still there");
            for (name, value) in &planted {
                assert_eq!(item.get(*name), Some(value), "{name} of {key:?}");
            }
        }
        assert_full_parity(&parity(app).await, entities);
        sandbox.close().await.unwrap();
    });
}
