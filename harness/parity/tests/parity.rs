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
use cutover_core::parity::Category;
use cutover_parity::{ParityOptions, repair, validate};
use serde_json::json;

fn id(text: &str) -> Id {
    Id::parse(text).unwrap()
}

static ENGINES: tokio::sync::OnceCell<Engines> = tokio::sync::OnceCell::const_new();

/// One set of embedded engines for this test binary; each test has its own sandbox.
async fn fresh_app() -> (Sandbox, Arc<App>) {
    fresh_app_with(cutover_core::profile::Profile::reference()).await
}

/// `fresh_app`, the items and objects laid out as `profile` says.
async fn fresh_app_with(profile: Arc<cutover_core::profile::Profile>) -> (Sandbox, Arc<App>) {
    let engines = ENGINES
        .get_or_init(|| async { Engines::start(&Plan::embedded()).await.unwrap() })
        .await;
    let sandbox = Sandbox::open(engines, cutover_backends::new_run_id())
        .await
        .unwrap();
    let app = Arc::new(
        App::install_with_profile(&sandbox, Mode::Dual, profile)
            .await
            .unwrap(),
    );
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

/// One corruption of what the dual-write path wrote, made behind its back.
enum Corruption {
    /// The item is deleted.
    DeleteItem(ItemKey),
    /// An attribute is set (`Null`: removed).
    SetAttribute(ItemKey, &'static str, AttributeValue),
    /// A session's transcript object: replaced by other text of another size.
    TruncateTranscript(&'static str, &'static str),
    /// ...by text of the same size, changed.
    ChangeTranscript(&'static str, &'static str),
    /// ...deleted.
    DeleteTranscript(&'static str, &'static str),
    /// A valid user item written outside the dual-write path.
    PutUser(&'static str),
    /// A user item whose key attribute parses to nothing.
    PutUnparsableKey(&'static str),
    /// A user item with a string where its version number goes.
    PutWrongType(&'static str),
    /// An object no item points to.
    PutOrphanObject(&'static str),
}

type Expected = (Category, &'static str, Option<&'static str>);

/// An object of the app's transcript layout that no item points to.
const ORPHAN: &str =
    "transcripts/alice/s1/0000000000000000000000000000000000000000000000000000000000000bad";

/// Every corruption and the one finding it must produce (category, id or
/// key, field), one or more of every category.
fn corruptions() -> Vec<(Corruption, Expected)> {
    use Category::*;
    use Corruption::*;
    let campaign = |user: &str, campaign: &str| ItemKey::Campaign {
        user: id(user),
        campaign: id(campaign),
    };
    let summary = |session: &str, summary: &str| ItemKey::Summary {
        session: id(session),
        summary: id(summary),
    };
    vec![
        (
            DeleteItem(ItemKey::User { user: id("bob") }),
            (MissingInDynamodb, "bob", None),
        ),
        // Field mismatches: a string, a number, a map, a timestamp, an optional attribute.
        (
            SetAttribute(
                campaign("alice", "c1"),
                "name",
                AttributeValue::S("Hacked".into()),
            ),
            (FieldMismatch, "c1", Some("name")),
        ),
        (
            SetAttribute(
                session_key("c1", "s1"),
                "transcriptBytes",
                AttributeValue::N("1".into()),
            ),
            (FieldMismatch, "s1", Some("transcript_bytes")),
        ),
        (
            SetAttribute(
                session_key("c2", "s2"),
                "metadata",
                AttributeValue::M(Default::default()),
            ),
            (FieldMismatch, "s2", Some("metadata")),
        ),
        (
            SetAttribute(
                summary("s1", "m1"),
                "updatedAt",
                AttributeValue::S("2001-01-01T00:00:00.000Z".into()),
            ),
            (FieldMismatch, "m1", Some("updated_at")),
        ),
        (
            SetAttribute(
                session_key("c1", "s3"),
                "shareToken",
                AttributeValue::Null(true),
            ),
            (FieldMismatch, "s3", Some("share_token")),
        ),
        // A stale search copy: every field equal, search answers not.
        (
            SetAttribute(
                session_key("c2", "s6"),
                "searchText",
                AttributeValue::S("stale copy".into()),
            ),
            (FieldMismatch, "s6", Some("searchText")),
        ),
        (
            TruncateTranscript("c1", "s5"),
            (TranscriptContentMismatch, "s5", Some("transcript")),
        ),
        (
            ChangeTranscript("c1", "s7"),
            (TranscriptContentMismatch, "s7", Some("transcript")),
        ),
        (
            DeleteTranscript("c2", "s4"),
            (TranscriptDangling, "s4", Some("transcript")),
        ),
        (PutUser("ghost"), (OnlyInDynamodb, "ghost", None)),
        (
            PutUnparsableKey("USER#ghost#extra"),
            (MalformedItem, "USER#ghost#extra/METADATA", None),
        ),
        (
            PutWrongType("typo"),
            (MalformedItem, "USER#typo/METADATA", None),
        ),
        (
            // (Of the app's layout: a SHA-256 name, 64 lowercase hex digits.)
            PutOrphanObject(ORPHAN),
            (OrphanObject, ORPHAN, None),
        ),
    ]
}

fn user_entity(name: &str) -> Entity {
    let now = chrono::Utc::now();
    Entity::User(User {
        id: id(name),
        email: "g@x".into(),
        display_name: "G".into(),
        created_at: now,
        updated_at: now,
        version: 1,
    })
}

async fn put_raw(app: &App, item: &cutover_core::item_size::Item) {
    app.dynamo
        .client()
        .put_item()
        .table_name(app.dynamo.table())
        .set_item(Some(item_to_sdk(item)))
        .send()
        .await
        .unwrap();
}

async fn corrupt(app: &App, corruption: &Corruption) {
    match corruption {
        Corruption::DeleteItem(key) => {
            app.dynamo
                .client()
                .delete_item()
                .table_name(app.dynamo.table())
                .set_key(Some(app.dynamo.key_map(key)))
                .send()
                .await
                .unwrap();
        }
        Corruption::SetAttribute(key, name, value) => {
            set_attribute(app, key, name, value.clone()).await
        }
        Corruption::TruncateTranscript(campaign, session) => {
            let object = pointer_of(app, campaign, session).await;
            app.transcripts.put(&object, "truncated").await.unwrap();
        }
        Corruption::ChangeTranscript(campaign, session) => {
            let object = pointer_of(app, campaign, session).await;
            let bytes = app.transcripts.get_bytes(&object).await.unwrap().unwrap();
            let original = String::from_utf8(bytes).unwrap();
            let changed = original.replace('7', "9");
            assert_eq!(changed.len(), original.len());
            assert_ne!(changed, original);
            app.transcripts.put(&object, &changed).await.unwrap();
        }
        Corruption::DeleteTranscript(campaign, session) => {
            let object = pointer_of(app, campaign, session).await;
            app.transcripts.delete(&object).await.unwrap();
        }
        Corruption::PutUser(name) => put_raw(app, &app.profile().to_item(&user_entity(name))).await,
        Corruption::PutUnparsableKey(pk) => {
            let mut item = app.profile().to_item(&user_entity("ghost"));
            item.insert("pk".into(), AttrValue::S((*pk).into()));
            put_raw(app, &item).await;
        }
        Corruption::PutWrongType(name) => {
            let mut item = app.profile().to_item(&user_entity(name));
            item.insert("version".into(), AttrValue::S("one".into()));
            put_raw(app, &item).await;
        }
        Corruption::PutOrphanObject(object) => {
            app.transcripts
                .put(object, "nobody points here")
                .await
                .unwrap();
        }
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

    let table = corruptions();
    for (corruption, _) in &table {
        corrupt(&app, corruption).await;
    }
    let report = validate(app.clone(), &options()).await.unwrap();
    let found: BTreeSet<(Category, String, Option<String>)> = report
        .findings()
        .map(|f| (f.category, f.id.clone(), f.field.clone()))
        .collect();
    let expected: BTreeSet<(Category, String, Option<String>)> = table
        .iter()
        .map(|(_, (category, id, field))| (*category, (*id).to_owned(), field.map(str::to_owned)))
        .collect();
    assert_eq!(
        expected.len(),
        table.len(),
        "one distinct finding per corruption"
    );
    assert_eq!(found, expected, "{}", report.to_markdown());
    // The same verdict when every key set spills to disk a key per run (and
    // the runs are compacted): the merge, not memory, decides what is missing.
    let spilled = validate(
        app.clone(),
        &ParityOptions {
            spill_buffer_bytes: 1,
            ..options()
        },
    )
    .await
    .unwrap();
    let found_spilled: BTreeSet<(Category, String, Option<String>)> = spilled
        .findings()
        .map(|f| (f.category, f.id.clone(), f.field.clone()))
        .collect();
    assert_eq!(found_spilled, expected, "{}", spilled.to_markdown());
    assert_eq!(spilled.compared_total, report.compared_total);
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
    // DynamoDB holds the copy before the rename: one stale finding, PostgreSQL newer.
    assert!(
        report
            .in_flight_samples
            .iter()
            .any(|f| f.category == Category::Stale
                && f.note
                    .as_deref()
                    .is_some_and(|n| n.starts_with("PostgreSQL is newer; differing: name"))),
        "{:?}",
        report.in_flight_samples
    );

    // Once the relay drains, it is simply equal.
    assert_eq!(app.relay().drain(Duration::from_secs(30)).await.unwrap(), 0);
    let after = validate(app.clone(), &options()).await.unwrap();
    assert_eq!((after.in_flight, after.findings().count()), (0, 0));
    sandbox.close().await.unwrap();
}

/// What used to pass unseen: an item left at a key PostgreSQL no longer has,
/// a write the relay keeps failing, an older copy, a corrupted item (once, not
/// also as missing), and an object only a corrupted item points to.
#[tokio::test]
async fn stale_keys_stuck_writes_and_corrupt_items_are_persistent_findings() {
    let (sandbox, app) = fresh_app().await;
    seed(&app).await;
    let client = app.dynamo.client().clone();
    let table = app.dynamo.table().to_owned();

    // s8 is c2's in PostgreSQL; a copy left under c1 (a move whose delete was lost).
    let s8 = app
        .pg
        .entities_by_ids(cutover_core::keys::EntityKind::Session, &["s8".into()])
        .await
        .unwrap();
    let Entity::Session(mut moved) = s8[0].clone() else {
        unreachable!()
    };
    moved.campaign_id = id("c1");
    client
        .put_item()
        .table_name(&table)
        .set_item(Some(item_to_sdk(
            &app.profile().to_item(&Entity::Session(moved)),
        )))
        .send()
        .await
        .unwrap();
    // An older copy of c2.
    set_attribute(
        &app,
        &ItemKey::Campaign {
            user: id("bob"),
            campaign: id("c2"),
        },
        "version",
        AttributeValue::N("1".into()),
    )
    .await;
    // Corrupted items: alice's profile, and s5 (whose object only it points to).
    set_attribute(
        &app,
        &ItemKey::User { user: id("alice") },
        "email",
        AttributeValue::N("7".into()),
    )
    .await;
    let s5 = pointer_of(&app, "c1", "s5").await;
    set_attribute(
        &app,
        &session_key("c1", "s5"),
        "createdAt",
        AttributeValue::N("7".into()),
    )
    .await;
    // A write that keeps failing: DynamoDB unreachable for c1's rename, three relay passes.
    let dead = cutover_backends::aws::AwsEndpoint::unreachable().unwrap();
    let broken = App::new(
        app.pg.clone(),
        DynamoStore::new(dead.dynamodb_client().await, table.clone()),
        app.transcripts.clone(),
        Mode::Dual,
    );
    broken
        .execute(&Command::UpdateCampaign {
            campaign: id("c1"),
            name: Some("renamed".into()),
            description: None,
        })
        .await
        .unwrap();
    for _ in 0..2 {
        broken.relay().run_once(true, 10).await.unwrap();
    }

    let options = ParityOptions {
        stuck_attempts: 3,
        ..options()
    };
    let report = validate(app.clone(), &options).await.unwrap();
    let found: BTreeSet<(Category, String)> = report
        .findings()
        .map(|f| (f.category, f.id.clone()))
        .collect();
    let expected: BTreeSet<(Category, String)> = [
        (Category::OnlyInDynamodb, "s8".to_owned()),
        (Category::Stale, "c2".into()),
        (Category::Stale, "c1".into()),
        (Category::StuckWrite, "c1".into()),
        (Category::MalformedItem, "USER#alice/METADATA".into()),
        (Category::MalformedItem, "CAMP#c1/SESS#s5".into()),
        (Category::OrphanObject, s5.clone()),
    ]
    .into_iter()
    .collect();
    assert_eq!(found, expected, "{}", report.to_markdown());
    assert_eq!(report.in_flight, 0, "{}", report.to_markdown());
    let note = |category: Category, id: &str| {
        report
            .findings()
            .find(|f| f.category == category && f.id == id)
            .and_then(|f| f.note.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        note(Category::OnlyInDynamodb, "s8"),
        "PostgreSQL holds this session at CAMP#c2/SESS#s8"
    );
    assert!(note(Category::Stale, "c2").starts_with("PostgreSQL is newer"));
    assert!(
        note(Category::StuckWrite, "c1").contains("after 3 attempt(s); last error: dynamodb"),
        "{}",
        note(Category::StuckWrite, "c1")
    );
    assert!(note(Category::MalformedItem, "USER#alice/METADATA").contains("user \"alice\""));
    // One finding per entity and category, over one denominator.
    assert_eq!(report.by_category[&Category::MalformedItem], 2);
    // The orphan and the item at s8's stale key are of no entity; s8 itself is compared once.
    assert_eq!(report.compared_total, report.compared_entities + 2);
    assert_eq!(report.compared_entities, 2 + 2 + 8 + 3);
    assert_eq!(report.mismatched_entities, 6, "{}", report.to_markdown());
    sandbox.close().await.unwrap();
}

/// Repair in one pass: a DynamoDB-only session goes with its object; a copy
/// left at a stale key goes without the object its entity still uses;
/// another app's item on the table is never deleted; an object orphaned at
/// the scan that an item points to by the time of the repair is kept.
#[tokio::test]
async fn one_repair_pass_reaches_full_parity_and_deletes_only_what_it_must() {
    let (sandbox, app) = fresh_app().await;
    seed(&app).await;
    let client = app.dynamo.client().clone();
    let table = app.dynamo.table().to_owned();
    let put = |item: cutover_core::item_size::Item| {
        let (client, table) = (client.clone(), table.clone());
        async move {
            client
                .put_item()
                .table_name(table)
                .set_item(Some(item_to_sdk(&item)))
                .send()
                .await
                .unwrap();
        }
    };
    let sessions = app
        .pg
        .entities_by_ids(
            cutover_core::keys::EntityKind::Session,
            &["s1".into(), "s8".into()],
        )
        .await
        .unwrap();
    let (Entity::Session(s1), Entity::Session(s8)) = (sessions[0].clone(), sessions[1].clone())
    else {
        unreachable!()
    };

    // A session only DynamoDB has, with its own object.
    let text = "a ghost's transcript";
    let sha = cutover_app::transcripts::sha256_hex(text.as_bytes());
    let mut ghost = s1.clone();
    ghost.id = id("ghost");
    ghost.transcript = cutover_core::domain::TranscriptPointer {
        storage_key: format!("transcripts/alice/ghost/{sha}"),
        bytes: text.len() as u64,
        sha256: sha,
    };
    app.transcripts
        .put(&ghost.transcript.storage_key, text)
        .await
        .unwrap();
    put(app.profile().to_item(&Entity::Session(ghost.clone()))).await;
    // s8 (c2's) also left under c1: its object is the one s8's real item uses.
    let mut moved = s8.clone();
    moved.campaign_id = id("c1");
    put(app.profile().to_item(&Entity::Session(moved))).await;
    // Another app's item on the same table.
    let foreign: cutover_core::item_size::Item = [
        ("pk".to_owned(), AttrValue::S("OTHERAPP#1".into())),
        ("sk".to_owned(), AttrValue::S("row".into())),
        ("payload".to_owned(), AttrValue::S("not cutover's".into())),
    ]
    .into_iter()
    .collect();
    put(foreign).await;
    // An object no item points to at the scan...
    let fresh = "a transcript uploaded ahead of its item";
    let fresh_key = format!(
        "transcripts/alice/s1/{}",
        cutover_app::transcripts::sha256_hex(fresh.as_bytes())
    );
    app.transcripts.put(&fresh_key, fresh).await.unwrap();

    let report = validate(app.clone(), &options()).await.unwrap();
    let found: BTreeSet<(Category, String)> = report
        .findings()
        .map(|f| (f.category, f.id.clone()))
        .collect();
    assert_eq!(
        found,
        [
            (Category::OnlyInDynamodb, "ghost".to_owned()),
            (Category::OnlyInDynamodb, "s8".into()),
            (Category::MalformedItem, "OTHERAPP#1/row".into()),
            (Category::OrphanObject, fresh_key.clone()),
        ]
        .into_iter()
        .collect(),
        "{}",
        report.to_markdown()
    );
    // ...that s1's item points to by the time of the repair.
    app.execute(&Command::UpdateSession {
        session: id("s1"),
        name: None,
        summary: None,
        metadata: None,
        transcript: Some(fresh.into()),
    })
    .await
    .unwrap();

    let repaired = repair(app.clone(), &report, &options(), true)
        .await
        .unwrap();
    let left: BTreeSet<(Category, String)> = repaired
        .after
        .findings()
        .map(|f| (f.category, f.id.clone()))
        .collect();
    assert_eq!(
        left,
        [(Category::MalformedItem, "OTHERAPP#1/row".to_owned())]
            .into_iter()
            .collect(),
        "{}",
        repaired.to_markdown()
    );
    let deleted: BTreeSet<&str> = repaired.deleted.iter().map(String::as_str).collect();
    assert_eq!(
        deleted,
        [
            format!(
                "item CAMP#c1/SESS#ghost (only in DynamoDB), with its object {}",
                ghost.transcript.storage_key
            )
            .as_str(),
            "item CAMP#c1/SESS#s8 (only in DynamoDB)",
        ]
        .into_iter()
        .collect(),
        "{}",
        repaired.to_markdown()
    );
    assert_eq!(
        repaired.listed_not_deleted,
        vec![
            "item OTHERAPP#1/row (malformed): kept, its key is none of the app's entities'"
                .to_owned(),
            format!("object {fresh_key} (orphan): kept, its session's item points to it now"),
        ]
    );
    assert_eq!(
        app.transcripts
            .get_bytes(&ghost.transcript.storage_key)
            .await
            .unwrap(),
        None
    );
    assert!(
        app.transcripts
            .get_bytes(&s8.transcript.storage_key)
            .await
            .unwrap()
            .is_some()
    );
    sandbox.close().await.unwrap();
}

/// The reference profile with its transcripts at `tx/${userId}/${sessionId}`.
fn custom_layout_profile() -> Arc<cutover_core::profile::Profile> {
    let text = cutover_core::profile::REFERENCE_TOML.replace(
        r#"transcript_key = "transcripts/${userId}/${sessionId}/${transcriptSha256}""#,
        r#"transcript_key = "tx/${userId}/${sessionId}""#,
    );
    assert!(text.contains("tx/${userId}"), "the layout line moved");
    Arc::new(cutover_core::profile::Profile::parse(&text, "custom-layout.toml").unwrap())
}

/// Every object path comes from the profile's layout: with transcripts under
/// `tx/`, a stray object of the layout is found and removed; an object of
/// another shape under `tx/` is listed and kept; one beside the prefix is
/// not the app's to list at all.
#[tokio::test]
async fn with_a_custom_transcript_layout_repair_removes_the_stray_object_and_nothing_else() {
    let (sandbox, app) = fresh_app_with(custom_layout_profile()).await;
    seed(&app).await;
    let s1 = pointer_of(&app, "c1", "s1").await;
    assert_eq!(s1, "tx/alice/s1", "the app writes the profile's layout");
    let stray = "tx/alice/gone";
    let beside = "transcripts/alice/notes/readme.txt";
    // (A key that is a "directory" of another, `tx/alice`, cannot be planted in s3s-fs.)
    let foreign_under = ["tx/alice/notes/readme.txt", "tx/alice-notes"];
    for key in foreign_under.iter().chain([&stray, &beside]) {
        app.transcripts
            .put(key, "not a live transcript")
            .await
            .unwrap();
    }

    let report = validate(app.clone(), &options()).await.unwrap();
    let found: BTreeSet<(Category, String)> = report
        .findings()
        .map(|f| (f.category, f.id.clone()))
        .collect();
    let orphans: BTreeSet<(Category, String)> = foreign_under
        .iter()
        .chain([&stray])
        .map(|key| (Category::OrphanObject, (*key).to_owned()))
        .collect();
    assert_eq!(found, orphans, "{}", report.to_markdown());
    let repaired = repair(app.clone(), &report, &options(), true)
        .await
        .unwrap();
    assert_eq!(
        repaired.deleted,
        vec![format!("object {stray} (orphan)")],
        "{}",
        repaired.to_markdown()
    );
    for key in foreign_under {
        assert!(
            repaired
                .listed_not_deleted
                .iter()
                .any(|line| line.contains(key)
                    && line.contains("not of the app's transcript layout")),
            "{}",
            repaired.to_markdown()
        );
    }
    assert_eq!(app.transcripts.get_bytes(stray).await.unwrap(), None);
    for key in foreign_under.iter().chain([&beside, &s1.as_str()]) {
        assert!(
            app.transcripts.get_bytes(key).await.unwrap().is_some(),
            "{key} was deleted"
        );
    }
    sandbox.close().await.unwrap();
}

/// A repair rewrites an item attribute by attribute: what the profile does
/// not own (another tool's attribute, a TTL) survives, byte for byte.
#[tokio::test]
async fn repair_keeps_the_attributes_the_profile_does_not_own() {
    let (sandbox, app) = fresh_app().await;
    seed(&app).await;
    let key = session_key("c1", "s1");
    let ttl = AttributeValue::N("1900000000".into());
    let note = AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(vec![0, 159, 255]));
    set_attribute(&app, &key, "expiresAt", ttl.clone()).await;
    set_attribute(&app, &key, "otherToolNote", note.clone()).await;
    // A field the profile owns, corrupted: the repair must rewrite the item.
    set_attribute(&app, &key, "name", AttributeValue::S("tampered".into())).await;

    let report = validate(app.clone(), &options()).await.unwrap();
    assert_eq!(report.mismatched_entities, 1, "{}", report.to_markdown());
    let repaired = repair(app.clone(), &report, &options(), false)
        .await
        .unwrap();
    assert_eq!(repaired.rewritten, vec!["session s1".to_owned()]);
    assert!(repaired.after.passed, "{}", repaired.to_markdown());
    let item = app
        .dynamo
        .client()
        .get_item()
        .table_name(app.dynamo.table())
        .set_key(Some(app.dynamo.key_map(&key)))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    let item = item.item().unwrap();
    assert_eq!(item.get("expiresAt"), Some(&ttl));
    assert_eq!(item.get("otherToolNote"), Some(&note));
    assert_eq!(
        item.get("name"),
        Some(&AttributeValue::S("session 1".into()))
    );
    sandbox.close().await.unwrap();
}

/// An app that writes its keys in another case than the profile's templates
/// gets one leading line naming that cause with its count, before the samples
/// — not a wall of "missing" and "malformed" entities to puzzle over.
#[tokio::test]
async fn keys_written_in_another_case_lead_the_report_as_one_pattern() {
    let (_sandbox, app) = fresh_app().await;
    seed(&app).await;
    let sessions = 1..=8;
    for n in sessions.clone() {
        let campaign = if n % 2 == 0 { "c2" } else { "c1" };
        let key = app.dynamo.key_map(&session_key(campaign, &format!("s{n}")));
        let client = app.dynamo.client();
        let mut item = client
            .get_item()
            .table_name(app.dynamo.table())
            .set_key(Some(key.clone()))
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        for name in key.keys() {
            let Some(AttributeValue::S(text)) = item.get(name) else {
                panic!("{name}")
            };
            let lowered = text.to_lowercase();
            item.insert(name.clone(), AttributeValue::S(lowered));
        }
        client
            .delete_item()
            .table_name(app.dynamo.table())
            .set_key(Some(key))
            .send()
            .await
            .unwrap();
        client
            .put_item()
            .table_name(app.dynamo.table())
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }
    let report = validate(app.clone(), &options()).await.unwrap();
    assert!(!report.passed);
    let case_lines: Vec<&String> = report
        .patterns
        .iter()
        .filter(|line| line.contains("by letter case only"))
        .collect();
    assert_eq!(case_lines.len(), 1, "{:?}", report.patterns);
    assert!(
        case_lines[0].starts_with(&format!("{} of ", sessions.count())),
        "{}",
        case_lines[0]
    );
    let markdown = report.to_markdown();
    let lead = markdown.find("by letter case only").unwrap();
    let samples = markdown.find("## Samples").unwrap();
    assert!(lead < samples, "{markdown}");
}
