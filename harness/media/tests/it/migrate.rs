//! The media shelf's migration on real engines: a generated table of more
//! than 10,000 items and the fixture backup reach 100% parity; seeded
//! corruption of the target is reported exactly; an interrupted run resumes
//! from its checkpoint; a real serialization conflict is retried.

use std::collections::BTreeSet;
use std::path::PathBuf;

use cutover_app::dynamo::DynamoStore;
use cutover_backends::Sandbox;
use cutover_core::media::parity::MediaCategory;
use cutover_core::media::source::to_source_item;
use cutover_core::media::{MediaType, generator};
use cutover_media::migrate::{MigrateError, MigrateOptions, Source, migrate};
use cutover_media::occ::{RetryPolicy, with_retry};
use cutover_media::schema::{create_source_table, install_target};
use cutover_media::verify::verify;

async fn sandbox() -> Sandbox {
    let engines = crate::engines().await;
    let sandbox = Sandbox::open(engines, cutover_backends::new_run_id())
        .await
        .unwrap();
    install_target(&sandbox.pg).await.unwrap();
    sandbox
}

/// A source table filled with `count` generated items (seed `seed`).
async fn generated_source(sandbox: &Sandbox, seed: u64, count: usize) -> DynamoStore {
    let table = sandbox.table_name("media");
    create_source_table(&sandbox.dynamodb, &table)
        .await
        .unwrap();
    let store = DynamoStore::new(sandbox.dynamodb.clone(), table);
    let items: Vec<_> = generator::generate(seed, count)
        .iter()
        .map(to_source_item)
        .collect();
    store.batch_put(&items).await.unwrap();
    store
}

fn fixture_backup() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/media-backup")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_table_of_ten_thousand_items_migrates_at_full_parity() {
    let sandbox = sandbox().await;
    let source = Source::DynamoDb(generated_source(&sandbox, 7, 10_100).await);
    let done = migrate(&source, &sandbox.pg, &MigrateOptions::default(), &|_| {})
        .await
        .unwrap();
    assert!(done.done() && done.rejected.is_empty(), "{done:?}");
    assert!(done.written >= 10_000, "{done:?}");
    let report = verify(&source, &sandbox.pg).await.unwrap();
    assert!(report.passed(), "{}", report.to_markdown());
    assert_eq!(report.source_counts, report.target_counts);
    assert!(report.target_counts[&MediaType::TvSeason] > 0);

    // Running it again writes nothing: every row already holds its values.
    let again = migrate(&source, &sandbox.pg, &MigrateOptions::default(), &|_| {})
        .await
        .unwrap();
    assert_eq!((again.written, again.unchanged), (0, done.written));
    sandbox.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixture_backup_migrates_at_full_parity_and_corruption_is_reported_exactly() {
    let sandbox = sandbox().await;
    let source = Source::Backup(fixture_backup());
    let options = MigrateOptions {
        page_size: 7,
        ..MigrateOptions::default()
    };
    let done = migrate(&source, &sandbox.pg, &options, &|_| {})
        .await
        .unwrap();
    assert_eq!(
        done.written,
        generator::generate(2026, 40).len() as u64,
        "{done:?}"
    );
    assert!(verify(&source, &sandbox.pg).await.unwrap().passed());

    let items = generator::generate(2026, 40);
    let of = |t: MediaType| items.iter().find(|i| i.media_type == t).unwrap().id.clone();
    let (book, feature, season) = (
        of(MediaType::Book),
        of(MediaType::Feature),
        of(MediaType::TvSeason),
    );
    let game = of(MediaType::VideoGame);
    let pool = &sandbox.pg;
    let run = |sql: String| async move {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .unwrap()
    };
    run(format!(
        "UPDATE items SET title = 'Changed' WHERE id = '{book}'"
    ))
    .await;
    run(format!(
        "UPDATE items SET data = data || '{{\"hoursPlayed\": 1}}' WHERE id = '{game}'"
    ))
    .await;
    run(format!("DELETE FROM items WHERE id = '{feature}'")).await;
    // A season pointing at a Book passes chk_series_id; the harness must catch it.
    run(format!(
        "UPDATE items SET series_id = '{book}' WHERE id = '{season}'"
    ))
    .await;
    run("INSERT INTO items (id, type, shelf, title) VALUES ('00000000-0000-4000-8000-000000000001', 'Book', 'Read', 'Ghost')".into()).await;

    let report = verify(&source, &sandbox.pg).await.unwrap();
    let found: BTreeSet<(MediaCategory, String, Option<String>)> = report
        .findings
        .iter()
        .map(|f| (f.category, f.id.clone(), f.field.clone()))
        .collect();
    let field = |name: &str| Some(name.to_owned());
    let expected: BTreeSet<_> = [
        (MediaCategory::FieldMismatch, book.clone(), field("title")),
        (MediaCategory::FieldMismatch, game, field("data")),
        (MediaCategory::MissingInTarget, feature, None),
        (
            MediaCategory::FieldMismatch,
            season.clone(),
            field("series_id"),
        ),
        (MediaCategory::DanglingSeries, season, field("series_id")),
        (
            MediaCategory::OnlyInTarget,
            "00000000-0000-4000-8000-000000000001".into(),
            None,
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(found, expected, "{}", report.to_markdown());
    assert_eq!(report.mismatched, 5);
    sandbox.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_migration_resumes_from_its_checkpoint() {
    let sandbox = sandbox().await;
    let source = Source::DynamoDb(generated_source(&sandbox, 21, 1_200).await);
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("media.checkpoint.json");
    let options = |stop| MigrateOptions {
        page_size: 100,
        checkpoint: Some(checkpoint.clone()),
        stop_after_pages: stop,
        ..MigrateOptions::default()
    };
    let stopped = migrate(&source, &sandbox.pg, &options(Some(5)), &|_| {}).await;
    assert!(
        matches!(stopped, Err(MigrateError::Stopped { pages: 5 })),
        "{stopped:?}"
    );
    let partial: i64 = sqlx::query_scalar("SELECT count(*) FROM items")
        .fetch_one(&sandbox.pg)
        .await
        .unwrap();
    assert!(partial > 0 && partial < 1_200, "{partial}");

    let resumed = migrate(&source, &sandbox.pg, &options(None), &|_| {})
        .await
        .unwrap();
    assert!(resumed.done());
    // No page was done twice: the written rows add up to the shelf exactly.
    assert_eq!(
        resumed.written + resumed.unchanged,
        generator::generate(21, 1_200).len() as u64
    );
    assert_eq!(resumed.unchanged, 0, "{resumed:?}");
    assert!(verify(&source, &sandbox.pg).await.unwrap().passed());

    // Killed mid-page (the future dropped), then run again: still exact.
    sqlx::query("TRUNCATE items")
        .execute(&sandbox.pg)
        .await
        .unwrap();
    std::fs::remove_file(&checkpoint).unwrap();
    let killed = tokio::time::timeout(
        std::time::Duration::from_millis(150),
        migrate(&source, &sandbox.pg, &options(None), &|_| {}),
    )
    .await;
    if killed.is_ok() {
        println!(
            "the migration finished within the deadline; the resume below starts from its end"
        );
    }
    let finished = migrate(&source, &sandbox.pg, &options(None), &|_| {})
        .await
        .unwrap();
    assert!(finished.done());
    let report = verify(&source, &sandbox.pg).await.unwrap();
    assert!(report.passed(), "{}", report.to_markdown());
    sandbox.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_serialization_conflict_is_retried() {
    let sandbox = sandbox().await;
    let pool = sandbox.pg.clone();
    sqlx::query("INSERT INTO items (id, type, shelf, title) VALUES ('00000000-0000-4000-8000-0000000000aa', 'Book', 'Read', 'v0')")
        .execute(&pool)
        .await
        .unwrap();
    let retried = with_retry(RetryPolicy::default(), |attempt| {
        let pool = pool.clone();
        async move {
            let mut tx = pool.begin().await?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE").execute(&mut *tx).await?;
            let title: String = sqlx::query_scalar("SELECT title FROM items WHERE id = '00000000-0000-4000-8000-0000000000aa'")
                .fetch_one(&mut *tx)
                .await?;
            if attempt == 1 {
                // Another writer commits a change to the row this transaction has read.
                sqlx::query("UPDATE items SET title = 'other' WHERE id = '00000000-0000-4000-8000-0000000000aa'")
                    .execute(&pool)
                    .await?;
            }
            sqlx::query("UPDATE items SET title = $1 WHERE id = '00000000-0000-4000-8000-0000000000aa'")
                .bind(format!("{title}+1"))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(title)
        }
    })
    .await
    .unwrap();
    assert_eq!(
        retried.attempts, 2,
        "the first attempt lost the conflict (40001)"
    );
    assert_eq!(
        retried.value, "other",
        "the retry read the other writer's value"
    );
    let final_title: String = sqlx::query_scalar(
        "SELECT title FROM items WHERE id = '00000000-0000-4000-8000-0000000000aa'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(final_title, "other+1");
    sandbox.close().await.unwrap();
}
