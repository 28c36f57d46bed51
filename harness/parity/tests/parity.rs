//! The validator on real engines: a clean dual-write run is 100% with no
//! findings; a seeded set of corruptions of every category is reported
//! exactly — no more, no fewer — and in-flight writes are not called loss.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use cutover_app::dynamo::DynamoStore;
use cutover_app::{App, Command, Mode, item_to_sdk};
use cutover_backends::{Engines, Plan, Sandbox};
use cutover_core::domain::{Entity, User};
use cutover_core::item_size::AttrValue;
use cutover_core::keys::{Id, ItemKey};
use cutover_core::naming::RunId;
use cutover_core::parity::Category;
use cutover_parity::{ParityOptions, repair, validate};
use serde_json::json;

fn id(text: &str) -> Id {
    Id::parse(text).unwrap()
}

static ENGINES: tokio::sync::OnceCell<Engines> = tokio::sync::OnceCell::const_new();

/// One set of embedded engines for this test binary; each test has its own sandbox.
async fn fresh_app() -> (Sandbox, Arc<App>) {
    let engines = ENGINES
        .get_or_init(|| async { Engines::start(&Plan::embedded()).await.unwrap() })
        .await;
    let sandbox = Sandbox::open(engines, RunId::generate()).await.unwrap();
    let app = Arc::new(App::install(&sandbox, Mode::Dual).await.unwrap());
    (sandbox, app)
}

fn options() -> ParityOptions {
    ParityOptions {
        segments: 3,
        page_size: 7,
        grace: Duration::from_millis(100),
        ..ParityOptions::default()
    }
}

async fn seed(app: &App) {
    let run = |command: Command| async move { app.execute(&command).await.unwrap() };
    for user in ["alice", "bob"] {
        run(Command::CreateUser {
            user: id(user),
            email: format!("{user}@example.com"),
            display_name: user.into(),
        })
        .await;
    }
    run(Command::CreateCampaign {
        campaign: id("c1"),
        user: id("alice"),
        name: "One".into(),
        description: "d".into(),
    })
    .await;
    run(Command::CreateCampaign {
        campaign: id("c2"),
        user: id("bob"),
        name: "Two".into(),
        description: "d".into(),
    })
    .await;
    for n in 1..=8 {
        let campaign = if n % 2 == 0 { "c2" } else { "c1" };
        run(Command::CreateSession {
            session: id(&format!("s{n}")),
            campaign: id(campaign),
            name: format!("session {n}"),
            summary: "dragons".into(),
            metadata: json!({"round": n, "tags": ["a", "b"]}),
            transcript: format!("transcript {n} ").repeat(50 * n),
        })
        .await;
    }
    for n in 1..=3 {
        run(Command::CreateSummary {
            summary: id(&format!("m{n}")),
            session: id("s1"),
            kind: "recap".into(),
            body: format!("summary {n}"),
        })
        .await;
    }
    run(Command::ShareSession { session: id("s3") }).await;
}

async fn set_attribute(app: &App, key: &ItemKey, name: &str, value: AttributeValue) {
    let mut item = app
        .dynamo
        .client()
        .get_item()
        .table_name(app.dynamo.table())
        .set_key(Some(app.dynamo.key_map(key)))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    match value {
        AttributeValue::Null(_) => {
            item.remove(name);
        }
        value => {
            item.insert(name.to_owned(), value);
        }
    }
    app.dynamo
        .client()
        .put_item()
        .table_name(app.dynamo.table())
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

fn session_key(campaign: &str, session: &str) -> ItemKey {
    ItemKey::Session {
        campaign: id(campaign),
        session: id(session),
    }
}

async fn pointer_of(app: &App, campaign: &str, session: &str) -> String {
    let item = app
        .dynamo
        .get(&session_key(campaign, session))
        .await
        .unwrap()
        .unwrap();
    match &item["transcriptStorageKey"] {
        AttrValue::S(key) => key.clone(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_clean_run_is_at_full_parity_and_every_corruption_is_reported_exactly() {
    let (sandbox, app) = fresh_app().await;
    seed(&app).await;

    let clean = validate(app.clone(), &options()).await.unwrap();
    assert!(clean.passed, "{}", clean.to_markdown());
    assert_eq!(clean.parity_percent, 100.0);
    assert_eq!(clean.findings().count(), 0, "{}", clean.to_markdown());
    assert_eq!(clean.compared_entities, 2 + 2 + 8 + 3);

    // A seeded set of corruptions, one or more of every category.
    let client = app.dynamo.client().clone();
    let table = app.dynamo.table().to_owned();
    // Missing in DynamoDB.
    client
        .delete_item()
        .table_name(&table)
        .set_key(Some(app.dynamo.key_map(&ItemKey::User { user: id("bob") })))
        .send()
        .await
        .unwrap();
    // Field mismatches: a string, a number, a map, a timestamp, an optional attribute.
    set_attribute(
        &app,
        &ItemKey::Campaign {
            user: id("alice"),
            campaign: id("c1"),
        },
        "name",
        AttributeValue::S("Hacked".into()),
    )
    .await;
    set_attribute(
        &app,
        &session_key("c1", "s1"),
        "transcriptBytes",
        AttributeValue::N("1".into()),
    )
    .await;
    set_attribute(
        &app,
        &session_key("c2", "s2"),
        "metadata",
        AttributeValue::M(Default::default()),
    )
    .await;
    set_attribute(
        &app,
        &ItemKey::Summary {
            session: id("s1"),
            summary: id("m1"),
        },
        "updatedAt",
        AttributeValue::S("2001-01-01T00:00:00.000Z".into()),
    )
    .await;
    set_attribute(
        &app,
        &session_key("c1", "s3"),
        "shareToken",
        AttributeValue::Null(true),
    )
    .await;
    // A stale search copy: every field equal, search answers not.
    set_attribute(
        &app,
        &session_key("c2", "s6"),
        "searchText",
        AttributeValue::S("stale copy".into()),
    )
    .await;
    // Transcripts: truncated, changed (same size), deleted.
    let s5 = pointer_of(&app, "c1", "s5").await;
    app.transcripts.put(&s5, "truncated").await.unwrap();
    let s7 = pointer_of(&app, "c1", "s7").await;
    let original =
        String::from_utf8(app.transcripts.get_bytes(&s7).await.unwrap().unwrap()).unwrap();
    app.transcripts
        .put(&s7, &original.replace('7', "9"))
        .await
        .unwrap();
    let s4 = pointer_of(&app, "c2", "s4").await;
    app.transcripts.delete(&s4).await.unwrap();
    // Only in DynamoDB: a valid item written outside the dual-write path.
    let now = chrono::Utc::now();
    let ghost = Entity::User(User {
        id: id("ghost"),
        email: "g@x".into(),
        display_name: "G".into(),
        created_at: now,
        updated_at: now,
        version: 1,
    });
    client
        .put_item()
        .table_name(&table)
        .set_item(Some(item_to_sdk(&app.profile().to_item(&ghost))))
        .send()
        .await
        .unwrap();
    // Malformed: a key that parses to nothing, and a wrong type.
    let mut bad_key = app.profile().to_item(&ghost);
    bad_key.insert("pk".into(), AttrValue::S("USER#ghost#extra".into()));
    client
        .put_item()
        .table_name(&table)
        .set_item(Some(item_to_sdk(&bad_key)))
        .send()
        .await
        .unwrap();
    let mut bad_type = app.profile().to_item(&Entity::User(User {
        id: id("typo"),
        ..match &ghost {
            Entity::User(u) => u.clone(),
            _ => unreachable!(),
        }
    }));
    bad_type.insert("version".into(), AttrValue::S("one".into()));
    client
        .put_item()
        .table_name(&table)
        .set_item(Some(item_to_sdk(&bad_type)))
        .send()
        .await
        .unwrap();
    // An orphan object.
    app.transcripts
        .put("transcripts/alice/s1/0000orphan", "nobody points here")
        .await
        .unwrap();

    let report = validate(app.clone(), &options()).await.unwrap();
    let found: BTreeSet<(Category, String, Option<String>)> = report
        .findings()
        .map(|f| (f.category, f.id.clone(), f.field.clone()))
        .collect();
    let field = |name: &str| Some(name.to_owned());
    let expected: BTreeSet<(Category, String, Option<String>)> = [
        (Category::MissingInDynamodb, "bob".into(), None),
        (Category::FieldMismatch, "c1".into(), field("name")),
        (
            Category::FieldMismatch,
            "s1".into(),
            field("transcript_bytes"),
        ),
        (Category::FieldMismatch, "s2".into(), field("metadata")),
        (Category::FieldMismatch, "m1".into(), field("updated_at")),
        (Category::FieldMismatch, "s3".into(), field("share_token")),
        (Category::FieldMismatch, "s6".into(), field("searchText")),
        (
            Category::TranscriptContentMismatch,
            "s5".into(),
            field("transcript"),
        ),
        (
            Category::TranscriptContentMismatch,
            "s7".into(),
            field("transcript"),
        ),
        (
            Category::TranscriptDangling,
            "s4".into(),
            field("transcript"),
        ),
        (Category::OnlyInDynamodb, "ghost".into(), None),
        (
            Category::MalformedItem,
            "USER#ghost#extra/METADATA".into(),
            None,
        ),
        (Category::MalformedItem, "USER#typo/METADATA".into(), None),
        (
            Category::OrphanObject,
            "transcripts/alice/s1/0000orphan".into(),
            None,
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(found, expected, "{}", report.to_markdown());
    assert!(!report.passed);
    assert_eq!(report.in_flight, 0);
    assert_eq!(report.by_category[&Category::FieldMismatch], 6);
    assert_eq!(report.by_field["session.metadata"], 1);
    let junit = report.to_junit();
    assert!(
        junit.contains("<testcase classname=\"parity\" name=\"session\">")
            && junit.contains("failures=\"5\""),
        "{junit}"
    );

    // Repair re-drives everything PostgreSQL has; what only DynamoDB or S3 holds is
    // listed, not deleted...
    let repaired = repair(app.clone(), &report, &options(), false)
        .await
        .unwrap();
    let left: BTreeSet<Category> = repaired.after.findings().map(|f| f.category).collect();
    assert_eq!(
        left,
        [
            Category::OnlyInDynamodb,
            Category::OrphanObject,
            Category::MalformedItem
        ]
        .into_iter()
        .collect(),
        "{}",
        repaired.to_markdown()
    );
    assert_eq!(repaired.rewritten.len(), 10, "{}", repaired.to_markdown());
    assert_eq!(repaired.listed_not_deleted.len(), 4);
    // ...unless asked: then the re-verification proves 100%.
    let cleaned = repair(app.clone(), &repaired.after, &options(), true)
        .await
        .unwrap();
    assert_eq!(cleaned.deleted.len(), 4);
    assert!(
        cleaned.after.passed && cleaned.after.findings().count() == 0,
        "{}",
        cleaned.to_markdown()
    );
    assert_eq!(cleaned.after.parity_percent, 100.0);
    sandbox.close().await.unwrap();
}

#[tokio::test]
async fn pending_writes_are_in_flight_not_loss() {
    let (sandbox, app) = fresh_app().await;
    seed(&app).await;
    // DynamoDB unreachable for one write: it commits to PostgreSQL and stays pending.
    let dead = cutover_backends::aws::AwsEndpoint::unreachable().unwrap();
    let broken = App::new(
        app.pg.clone(),
        DynamoStore::new(dead.dynamodb_client().await, app.dynamo.table().to_owned()),
        app.transcripts.clone(),
        Mode::Dual,
    );
    broken
        .execute(&Command::UpdateCampaign {
            campaign: id("c2"),
            name: Some("renamed".into()),
            description: None,
        })
        .await
        .unwrap();

    let report = validate(app.clone(), &options()).await.unwrap();
    assert!(report.passed, "{}", report.to_markdown());
    assert_eq!(report.findings().count(), 0);
    assert_eq!(report.in_flight, 1);
    assert!(
        report.in_flight_samples.iter().all(|f| f.id == "c2"),
        "{:?}",
        report.in_flight_samples
    );
    assert!(
        report
            .in_flight_samples
            .iter()
            .any(|f| f.field.as_deref() == Some("name"))
    );

    // Once the relay drains, it is simply equal.
    assert_eq!(app.relay().drain(Duration::from_secs(30)).await.unwrap(), 0);
    let after = validate(app.clone(), &options()).await.unwrap();
    assert_eq!((after.in_flight, after.findings().count()), (0, 0));
    sandbox.close().await.unwrap();
}
