//! Conformance with the real ElectroDB (npm `electrodb`, pinned in
//! `fixtures/electrodb`, installed by `.ci/run`): items ElectroDB writes read
//! back through cutover's ElectroDB profile as exactly the entities they came
//! from, and items cutover writes — directly and through the dual-write path —
//! are found by ElectroDB's get, by a query per access pattern and through
//! gsi1, with its default ownership checks; and the parity validator, pointed
//! at stores only ElectroDB wrote, passes them at 100% and names a changed
//! field, a deleted item and a truncated transcript exactly once each, with
//! the rows in a Prisma-style database read through the profile; cutover's
//! backfill and repair of that database write items ElectroDB reads back; and
//! `cutover profile check` names what does not fit the live stores. On
//! Dynoxide and DynamoDB Local, for ElectroDB's default key casing,
//! `casing: "none"`, and epoch-ms dates.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cutover_app::dynamo::DynamoStore;
use cutover_app::item_from_sdk;
use cutover_app::pg::PgStore;
use cutover_app::transcripts::TranscriptStore;
use cutover_app::{App, Mode};
use cutover_backends::{Engines, Plan, Sandbox};
use cutover_backfill::{BackfillOptions, backfill};
use cutover_core::campaign_item::format_timestamp;
use cutover_core::command::Command;
use cutover_core::domain::Entity;
use cutover_core::keys::{EntityKind, Id};
use cutover_core::parity::Category;
use cutover_core::profile::{ELECTRODB_TOML, Profile};
use cutover_core::provision::{Engine, Provisioner};
use cutover_parity::{ParityOptions, validate};
use cutover_parity::{ProfileCheckOptions, check_profile, repair};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy)]
enum DynamoEngine {
    Dynoxide,
    DynamoDbLocal,
}

static EMBEDDED: tokio::sync::OnceCell<Engines> = tokio::sync::OnceCell::const_new();
static DYNAMODB_LOCAL: tokio::sync::OnceCell<Engines> = tokio::sync::OnceCell::const_new();

/// One set of engines per DynamoDB engine for this test binary.
async fn engines(which: DynamoEngine) -> &'static Engines {
    let (cell, plan) = match which {
        DynamoEngine::Dynoxide => (&EMBEDDED, Plan::embedded()),
        DynamoEngine::DynamoDbLocal => (
            &DYNAMODB_LOCAL,
            Plan::embedded().with(Engine::DynamoDb, Provisioner::Local),
        ),
    };
    cell.get_or_init(|| async move { Engines::start(&plan).await.expect("engines") })
        .await
}

/// One way the TypeScript app may configure its entities.
#[derive(Debug, Clone, Copy)]
struct Variant {
    /// ElectroDB's `casing` on every key.
    casing: &'static str,
    /// `iso-8601` (string attributes) or `epoch-ms` (number attributes).
    dates: &'static str,
}

const VARIANTS: [Variant; 3] = [
    Variant {
        casing: "default",
        dates: "iso-8601",
    },
    Variant {
        casing: "none",
        dates: "iso-8601",
    },
    Variant {
        casing: "default",
        dates: "epoch-ms",
    },
];

impl Variant {
    /// The shipped ElectroDB profile, edited the way a user would for this variant.
    fn profile(self) -> Arc<Profile> {
        let text = ELECTRODB_TOML
            .replace(
                "key_casing = \"default\"",
                &format!("key_casing = \"{}\"", self.casing),
            )
            .replace(
                "encoding = \"iso-8601\"",
                &format!("encoding = \"{}\"", self.dates),
            );
        Arc::new(Profile::parse(&text, "electrodb-variant.toml").expect("variant profile"))
    }

    fn date(self, at: &chrono::DateTime<chrono::Utc>) -> Value {
        match self.dates {
            "epoch-ms" => json!(at.timestamp_millis()),
            _ => json!(format_timestamp(at)),
        }
    }

    /// The attributes the TypeScript app hands ElectroDB for `entity` — written
    /// out here from the entity's fields, not through a cutover profile.
    fn electrodb_input(self, entity: &Entity) -> (&'static str, Value) {
        let (created_at, updated_at) = entity.timestamps();
        let dates = [
            ("createdAt", self.date(&created_at)),
            ("updatedAt", self.date(&updated_at)),
        ];
        let (name, mut value) = match entity {
            Entity::User(u) => (
                "user",
                json!({"userId": u.id, "email": u.email, "displayName": u.display_name}),
            ),
            Entity::Campaign(c) => (
                "campaign",
                json!({"campaignId": c.id, "userId": c.user_id, "name": c.name, "description": c.description}),
            ),
            Entity::Session(s) => {
                let mut value = json!({
                    "sessionId": s.id, "campaignId": s.campaign_id, "userId": s.user_id,
                    "name": s.name, "summary": s.summary, "metadata": s.metadata,
                    "transcriptStorageKey": s.transcript.storage_key,
                    "transcriptBytes": s.transcript.bytes,
                    "transcriptSha256": s.transcript.sha256,
                    "searchText": s.search_text(),
                });
                if let Some(token) = &s.share_token {
                    value["shareToken"] = json!(token);
                }
                ("session", value)
            }
            Entity::Summary(m) => (
                "summary",
                json!({"summaryId": m.id, "sessionId": m.session_id, "userId": m.user_id, "kind": m.kind, "body": m.body}),
            ),
        };
        for (attribute, date) in dates {
            value[attribute] = date;
        }
        (name, value)
    }
}

fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name)
}

/// Runs `script` of the npm package in `fixtures/<package>` under Node with
/// one JSON request on stdin; its JSON answer. `needs` is a path the install
/// leaves (the test fails, saying how to install, when it is missing).
async fn node(
    package: &str,
    needs: &str,
    script: &str,
    node_flags: &[&str],
    request: &Value,
) -> Value {
    let dir = fixture_dir(package);
    assert!(
        dir.join(needs).exists(),
        "{} is not installed in {}: run .ci/run (it installs fixtures/{package} from its lock file)",
        needs,
        dir.display()
    );
    let mut child = tokio::process::Command::new("node")
        .args(node_flags)
        .arg(dir.join(script))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(request.to_string().as_bytes())
            .await
            .unwrap();
    }
    let output = child.wait_with_output().await.unwrap();
    assert!(
        output.status.success(),
        "{package}/{script} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the driver answers JSON")
}

/// Runs the ElectroDB driver with one request; its JSON answer.
async fn electrodb(sandbox: &Sandbox, table: &str, variant: Variant, request: Value) -> Value {
    let endpoint = &sandbox.dynamodb_endpoint;
    let credentials = endpoint
        .credentials
        .as_ref()
        .expect("local engines have credentials");
    let mut request = request;
    let fields = json!({
        "endpoint": endpoint.url.as_deref().expect("a local endpoint"),
        "region": endpoint.region,
        "accessKeyId": credentials.access_key_id,
        "secretAccessKey": credentials.secret_access_key,
        "table": table,
        "casing": variant.casing,
        "dates": variant.dates,
    });
    for (name, value) in fields.as_object().unwrap() {
        request[name] = value.clone();
    }
    node(
        "electrodb",
        "node_modules/electrodb",
        "conformance.mjs",
        &[],
        &request,
    )
    .await
}

/// Runs the Prisma driver (`fixtures/prisma/driver.mjs`) against the sandbox's database.
async fn prisma(sandbox: &Sandbox, mut request: Value) -> Value {
    request["databaseUrl"] = json!(sandbox.pg_url);
    node(
        "prisma",
        "generated/client/index.js",
        "driver.mjs",
        &["--experimental-wasm-modules", "--no-warnings"],
        &request,
    )
    .await
}

fn id(text: &str) -> Id {
    Id::parse(text).unwrap()
}

/// Users, campaigns, sessions (one shared) and summaries, with ids in mixed
/// case (never two that differ only by case: those collide under ElectroDB's
/// default casing, which `Profile::colliding_ids` reports).
async fn seed(app: &App) {
    let run = |command: Command| async move {
        app.execute(&command)
            .await
            .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    };
    for user in ["Alice", "bob"] {
        run(Command::CreateUser {
            user: id(user),
            email: format!("{user}@example.com"),
            display_name: format!("{user} Ünïcode"),
        })
        .await;
    }
    for (campaign, user) in [("C1", "Alice"), ("c2", "Alice"), ("c3", "bob")] {
        run(Command::CreateCampaign {
            campaign: id(campaign),
            user: id(user),
            name: format!("Campaign {campaign}"),
            description: "Dragons & déjà vu".into(),
        })
        .await;
    }
    for (session, campaign) in [("S1", "C1"), ("s2", "C1"), ("s3", "c3")] {
        run(Command::CreateSession {
            session: id(session),
            campaign: id(campaign),
            name: format!("Session {session} 🐉"),
            summary: "The party meets the DRAGON".into(),
            metadata: json!({"tags": ["boss", "ñandú"], "round": 3, "ratio": 0.25, "none": null, "nested": {"ok": true}}),
            transcript: format!("GM: welcome to {session}.\n").repeat(20),
        })
        .await;
    }
    for (summary, session) in [("M1", "S1"), ("m2", "s3")] {
        run(Command::CreateSummary {
            summary: id(summary),
            session: id(session),
            kind: "recap".into(),
            body: format!("summary {summary}"),
        })
        .await;
    }
    run(Command::ShareSession { session: id("s2") }).await;
}

/// Every entity PostgreSQL holds, as `profile` stores it (its version taken
/// from `updated_at`).
async fn postgres_entities(app: &App) -> Vec<Entity> {
    let mut all = Vec::new();
    for kind in EntityKind::ALL {
        let ids = app.pg.ids_after(kind, None, 1000).await.unwrap();
        for entity in app.pg.entities_by_ids(kind, &ids).await.unwrap() {
            all.push(app.profile().as_stored(&entity));
        }
    }
    all
}

async fn scan_entities(store: &DynamoStore) -> Vec<Entity> {
    let mut entities = Vec::new();
    let mut start = None;
    loop {
        let page = store.scan_page(None, start).await.unwrap();
        for raw in page.items() {
            let item = item_from_sdk(raw).unwrap();
            entities.push(
                store
                    .profile()
                    .from_item(&item)
                    .unwrap_or_else(|e| panic!("an ElectroDB item does not decode: {e}\n{item:?}")),
            );
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return entities;
        }
    }
}

fn sorted(mut entities: Vec<Entity>) -> Vec<Entity> {
    entities.sort_by_key(|e| (e.kind(), e.id().clone()));
    entities
}

/// What ElectroDB answers for a read: its data, or the test fails with its error.
fn data(answer: &Value) -> &Value {
    if let Some(error) = answer.get("error") {
        panic!("ElectroDB read failed: {error}");
    }
    &answer["data"]
}

/// ElectroDB reads every entity back — get, each listing, each reverse
/// lookup, the share token — and finds exactly what the app gave it.
async fn electrodb_reads_everything(
    sandbox: &Sandbox,
    table: &str,
    variant: Variant,
    entities: &[Entity],
) {
    let mut reads = Vec::new();
    let mut expected = Vec::new();
    let input = |entity: &Entity| variant.electrodb_input(entity).1;
    for entity in entities {
        let (name, value) = variant.electrodb_input(entity);
        let key = match entity {
            Entity::User(u) => json!({"userId": u.id}),
            Entity::Campaign(c) => json!({"userId": c.user_id, "campaignId": c.id}),
            Entity::Session(s) => json!({"campaignId": s.campaign_id, "sessionId": s.id}),
            Entity::Summary(m) => json!({"sessionId": m.session_id, "summaryId": m.id}),
        };
        reads.push(json!({"op": "get", "entity": name, "key": key}));
        expected.push(value);
    }
    let of = |kind: EntityKind| entities.iter().filter(move |e| e.kind() == kind);
    let users: BTreeSet<&Id> = of(EntityKind::User).map(Entity::id).collect();
    for user in users {
        reads.push(json!({"op": "query", "entity": "campaign", "index": "byUser", "key": {"userId": user}}));
        expected.push(Value::Array(
            of(EntityKind::Campaign)
                .filter(|c| c.owner() == user)
                .map(input)
                .collect(),
        ));
    }
    for campaign in of(EntityKind::Campaign) {
        reads.push(json!({"op": "query", "entity": "session", "index": "byCampaign", "key": {"campaignId": campaign.id()}}));
        expected.push(Value::Array(
            of(EntityKind::Session)
                .filter(|s| matches!(s, Entity::Session(s) if &s.campaign_id == campaign.id()))
                .map(input)
                .collect(),
        ));
        reads.push(json!({"op": "query", "entity": "campaign", "index": "byId", "key": {"campaignId": campaign.id()}}));
        expected.push(json!([input(campaign)]));
    }
    for session in of(EntityKind::Session) {
        reads.push(json!({"op": "query", "entity": "summary", "index": "bySession", "key": {"sessionId": session.id()}}));
        expected.push(Value::Array(
            of(EntityKind::Summary)
                .filter(|m| matches!(m, Entity::Summary(m) if &m.session_id == session.id()))
                .map(input)
                .collect(),
        ));
        reads.push(json!({"op": "query", "entity": "session", "index": "byId", "key": {"sessionId": session.id()}}));
        expected.push(json!([input(session)]));
        if let Entity::Session(s) = session
            && let Some(token) = &s.share_token
        {
            reads.push(json!({"op": "query", "entity": "session", "index": "byShareToken", "key": {"shareToken": token}}));
            expected.push(json!([input(session)]));
        }
    }
    let answer = electrodb(sandbox, table, variant, json!({"read": reads})).await;
    let answers = answer["reads"].as_array().expect("reads");
    assert_eq!(answers.len(), reads.len());
    for ((read, answer), expected) in reads.iter().zip(answers).zip(&expected) {
        let mut got = data(answer).clone();
        if let Value::Array(items) = &mut got {
            // ElectroDB returns a partition in key order; compare as sets.
            items.sort_by_key(|item| item.to_string());
        }
        let mut expected = expected.clone();
        if let Value::Array(items) = &mut expected {
            items.sort_by_key(|item| item.to_string());
        }
        assert_eq!(got, expected, "{variant:?}: {read}");
    }
}

async fn check(engine: DynamoEngine, variant: Variant) {
    let sandbox = Sandbox::open(engines(engine).await, cutover_backends::new_run_id())
        .await
        .expect("sandbox");
    let profile = variant.profile();
    // The dual-write path on this layout: PostgreSQL (the reference schema
    // and its outbox) and DynamoDB items as the profile lays them out.
    let app = App::install_with_profile(&sandbox, Mode::Dual, profile.clone())
        .await
        .unwrap();
    seed(&app).await;
    let entities = postgres_entities(&app).await;
    assert_eq!(entities.len(), 2 + 3 + 3 + 2);
    assert_eq!(
        sorted(scan_entities(&app.dynamo).await),
        sorted(entities.clone()),
        "{variant:?}: the dual-write path's items"
    );
    electrodb_reads_everything(&sandbox, app.dynamo.table(), variant, &entities).await;

    // ElectroDB writes the same entities into a table of its own; cutover
    // reads every item back as exactly the entity it came from.
    let written_by_electrodb = DynamoStore::with_profile(
        sandbox.dynamodb.clone(),
        sandbox.table_name("electrodb"),
        profile.clone(),
    );
    written_by_electrodb.create_table().await.unwrap();
    let writes: Vec<Value> = entities
        .iter()
        .map(|entity| {
            let (name, item) = variant.electrodb_input(entity);
            json!({"entity": name, "item": item})
        })
        .collect();
    let answer = electrodb(
        &sandbox,
        written_by_electrodb.table(),
        variant,
        json!({"write": writes}),
    )
    .await;
    assert_eq!(answer["written"], json!(entities.len()));
    assert_eq!(
        sorted(scan_entities(&written_by_electrodb).await),
        sorted(entities.clone()),
        "{variant:?}: ElectroDB's items through the profile"
    );

    // A rewrite keeps what cutover does not own, ElectroDB's identifiers included.
    let campaign = id("C1");
    let key = app.dynamo.key_map(&cutover_core::keys::ItemKey::Campaign {
        user: id("Alice"),
        campaign: campaign.clone(),
    });
    app.dynamo
        .client()
        .update_item()
        .table_name(app.dynamo.table())
        .set_key(Some(key.clone()))
        .update_expression("SET expiresAt = :t")
        .expression_attribute_values(
            ":t",
            aws_sdk_dynamodb::types::AttributeValue::N("1999999999".into()),
        )
        .send()
        .await
        .unwrap();
    // No pause: an update moves updatedAt past the row's own even within one
    // millisecond, so the updatedAt-ordered write is newer.
    app.execute(&Command::UpdateCampaign {
        campaign: campaign.clone(),
        name: Some("Renamed".into()),
        description: None,
    })
    .await
    .unwrap();
    let stored = app
        .dynamo
        .client()
        .get_item()
        .table_name(app.dynamo.table())
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    let stored = item_from_sdk(stored.item().expect("the campaign item")).unwrap();
    assert_eq!(
        stored.get("name"),
        Some(&cutover_core::item_size::AttrValue::S("Renamed".into()))
    );
    assert!(stored.contains_key("expiresAt"), "{stored:?}");
    assert!(stored.contains_key("__edb_e__") && stored.contains_key("__edb_v__"));
    // Deletes (a session and, by cascade, its summary) reach the items too:
    // under updated_at ordering they compare the relay's clock.
    app.execute(&Command::DeleteSession { session: id("s3") })
        .await
        .unwrap();
    let entities = postgres_entities(&app).await;
    assert_eq!(entities.len(), 2 + 3 + 2 + 1);
    assert_eq!(
        sorted(scan_entities(&app.dynamo).await),
        sorted(entities.clone()),
        "{variant:?}: items after the delete"
    );
    electrodb_reads_everything(&sandbox, app.dynamo.table(), variant, &entities).await;
    sandbox.close().await.unwrap();
}

fn parity_options() -> ParityOptions {
    ParityOptions {
        segments: 2,
        grace: std::time::Duration::from_millis(100),
        ..ParityOptions::default()
    }
}

/// The categories with findings, and how many each.
fn findings(report: &cutover_parity::ParityReport) -> Vec<(Category, u64)> {
    report
        .by_category
        .iter()
        .filter(|(_, count)| **count > 0)
        .map(|(category, count)| (*category, *count))
        .collect()
}

/// The Prisma-style database of the ElectroDB profile, created by the
/// migration Prisma writes for `fixtures/prisma/schema.prisma`.
const PRISMA_MIGRATION: &str = include_str!("../../../fixtures/prisma/migration.sql");

/// Every entity the reference app holds, with its transcript, parents first.
async fn rows_of(app: &App) -> Vec<(Entity, Option<String>)> {
    let mut rows = Vec::new();
    for kind in EntityKind::ALL {
        let ids = app.pg.ids_after(kind, None, 1000).await.unwrap();
        rows.extend(
            app.pg
                .entities_with_transcripts_by_ids(kind, &ids)
                .await
                .unwrap(),
        );
    }
    rows
}

/// Creates the Prisma-style tables in the sandbox's database (`"User"`,
/// `"Campaign"`, …: they do not meet the reference app's `users`, `campaigns`,
/// …) with Prisma's migration, and has Prisma's client write `rows` into them.
async fn prisma_database(sandbox: &Sandbox, rows: &[(Entity, Option<String>)]) {
    sqlx::raw_sql(PRISMA_MIGRATION)
        .execute(&sandbox.pg)
        .await
        .expect("Prisma's migration");
    let rows: Vec<Value> = rows
        .iter()
        .map(|(entity, transcript)| {
            let (created_at, updated_at) = entity.timestamps();
            let (model, mut data) = match entity {
                Entity::User(u) => ("user", json!({"id": u.id, "email": u.email, "displayName": u.display_name})),
                Entity::Campaign(c) => (
                    "campaign",
                    json!({"id": c.id, "userId": c.user_id, "name": c.name, "description": c.description}),
                ),
                Entity::Session(s) => (
                    "session",
                    json!({"id": s.id, "campaignId": s.campaign_id, "userId": s.user_id, "name": s.name,
                           "summary": s.summary, "metadata": s.metadata, "shareToken": s.share_token,
                           "transcript": transcript.as_deref().expect("a session's transcript")}),
                ),
                Entity::Summary(m) => (
                    "summary",
                    json!({"id": m.id, "sessionId": m.session_id, "userId": m.user_id, "kind": m.kind, "body": m.body}),
                ),
            };
            data["createdAt"] = json!(format_timestamp(&created_at));
            data["updatedAt"] = json!(format_timestamp(&updated_at));
            json!({"model": model, "data": data})
        })
        .collect();
    let count = rows.len();
    let answer = prisma(sandbox, json!({"op": "write", "rows": rows})).await;
    assert_eq!(answer["written"], json!(count));
}

/// The migration shipped in `fixtures/prisma` is what Prisma's own schema
/// engine writes for `schema.prisma`, byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prisma_migration_is_what_prisma_writes() {
    let sandbox = Sandbox::open(
        engines(DynamoEngine::Dynoxide).await,
        cutover_backends::new_run_id(),
    )
    .await
    .expect("sandbox");
    let answer = prisma(&sandbox, json!({"op": "migration"})).await;
    assert_eq!(answer["sql"].as_str(), Some(PRISMA_MIGRATION));
    sandbox.close().await.unwrap();
}

/// The app's own stores as a user points cutover at them: its Prisma-style
/// database, a DynamoDB table and the transcript bucket, all read and written
/// through the profile.
fn app_over_prisma(sandbox: &Sandbox, profile: Arc<Profile>, table: &str) -> App {
    App::new(
        PgStore::of_app(sandbox.pg.clone(), profile.clone()),
        DynamoStore::with_profile(sandbox.dynamodb.clone(), table.to_owned(), profile),
        TranscriptStore::new(
            sandbox.s3.clone(),
            sandbox.bucket_name(cutover_app::app::BUCKET_PURPOSE),
        ),
        Mode::Dual,
    )
}

/// A sandbox holding the seed entities in a Prisma-style database (and, as
/// the reference app's own tables, where they came from), an app over it
/// writing into `table`, and the entities as the profile reads them.
async fn prisma_stores(
    engine: DynamoEngine,
    variant: Variant,
    table_purpose: &str,
) -> (
    Sandbox,
    Arc<App>,
    Vec<Entity>,
    Vec<(Entity, Option<String>)>,
) {
    let sandbox = Sandbox::open(engines(engine).await, cutover_backends::new_run_id())
        .await
        .expect("sandbox");
    let profile = variant.profile();
    let reference = App::install_with_profile(&sandbox, Mode::PostgresOnly, profile.clone())
        .await
        .unwrap();
    seed(&reference).await;
    let rows = rows_of(&reference).await;
    prisma_database(&sandbox, &rows).await;
    let table = sandbox.table_name(table_purpose);
    let app = Arc::new(app_over_prisma(&sandbox, profile.clone(), &table));
    if table != reference.dynamo.table() {
        app.dynamo.create_table().await.unwrap();
    }
    let entities = postgres_entities(&app).await;
    // The Prisma rows read through the profile are the entities they were written from.
    assert_eq!(
        sorted(entities.clone()),
        sorted(postgres_entities(&reference).await),
        "{variant:?}: the Prisma-style rows through the profile"
    );
    let rows = rows_of(&app).await;
    (sandbox, app, entities, rows)
}

/// Stores written only by ElectroDB (and the app's S3 helper), beside the
/// Prisma-style rows they came from: the validator, reading both through the
/// profile, passes them whole and names each planted difference once.
async fn check_parity_of_electrodb_written_stores(engine: DynamoEngine, variant: Variant) {
    let (sandbox, app, entities, rows) =
        prisma_stores(engine, variant, cutover_app::app::TABLE_PURPOSE).await;
    let writes: Vec<Value> = entities
        .iter()
        .map(|entity| {
            let (name, item) = variant.electrodb_input(entity);
            json!({"entity": name, "item": item})
        })
        .collect();
    electrodb(
        &sandbox,
        app.dynamo.table(),
        variant,
        json!({"write": writes}),
    )
    .await;
    let sessions: Vec<&(Entity, Option<String>)> = rows
        .iter()
        .filter(|(e, _)| e.kind() == EntityKind::Session)
        .collect();
    for (entity, transcript) in &sessions {
        let Entity::Session(session) = entity else {
            unreachable!()
        };
        app.transcripts
            .put(
                &session.transcript.storage_key,
                transcript.as_deref().unwrap(),
            )
            .await
            .unwrap();
    }
    let report = validate(app.clone(), &parity_options()).await.unwrap();
    assert_eq!(findings(&report), vec![], "{variant:?}: {report:?}");
    assert_eq!(report.compared_entities, entities.len() as u64);
    assert!(
        report.passed && report.parity_percent == 100.0,
        "{report:?}"
    );
    let checked = check_profile(&app, &ProfileCheckOptions::default())
        .await
        .unwrap();
    assert!(checked.passed, "{variant:?}: {:?}", checked.findings);

    // A changed field, a deleted item, a truncated transcript — each written
    // as the app would (ElectroDB, the S3 helper).
    let user = entities
        .iter()
        .find(|e| e.kind() == EntityKind::User)
        .unwrap();
    let (_, mut changed) = variant.electrodb_input(user);
    changed["displayName"] = json!("changed behind cutover's back");
    let summary = entities
        .iter()
        .find(|e| e.kind() == EntityKind::Summary)
        .unwrap();
    let Entity::Summary(summary) = summary else {
        unreachable!()
    };
    electrodb(
        &sandbox,
        app.dynamo.table(),
        variant,
        json!({
            "write": [{"entity": "user", "item": changed}],
            "delete": [{"entity": "summary", "key": {"sessionId": summary.session_id, "summaryId": summary.id}}],
        }),
    )
    .await;
    let (Entity::Session(session), Some(transcript)) = sessions[0] else {
        unreachable!()
    };
    app.transcripts
        .put(
            &session.transcript.storage_key,
            &transcript[..transcript.len() / 2],
        )
        .await
        .unwrap();
    let report = validate(app.clone(), &parity_options()).await.unwrap();
    assert_eq!(
        findings(&report),
        vec![
            (Category::MissingInDynamodb, 1),
            (Category::FieldMismatch, 1),
            (Category::TranscriptContentMismatch, 1),
        ],
        "{variant:?}: {report:?}"
    );
    assert_eq!(
        report.by_field.get("user.display_name"),
        Some(&1),
        "{:?}",
        report.by_field
    );
    sandbox.close().await.unwrap();
}

/// cutover's backfill copies the Prisma-style database into an empty table
/// and bucket; ElectroDB reads every item it wrote; a field ElectroDB changed
/// is repaired from the row in one pass, and ElectroDB reads the result.
async fn check_backfill_and_repair_from_prisma(engine: DynamoEngine, variant: Variant) {
    let (sandbox, app, entities, _) = prisma_stores(engine, variant, "copy").await;
    let copied = backfill(&app, &BackfillOptions::new("prisma-style database"))
        .await
        .unwrap();
    assert!(copied.complete, "{variant:?}: {copied:?}");
    electrodb_reads_everything(&sandbox, app.dynamo.table(), variant, &entities).await;
    let report = validate(app.clone(), &parity_options()).await.unwrap();
    assert!(
        report.passed && report.parity_percent == 100.0,
        "{variant:?}: {report:?}"
    );

    let campaign = entities
        .iter()
        .find(|e| e.kind() == EntityKind::Campaign)
        .unwrap();
    let (_, mut changed) = variant.electrodb_input(campaign);
    changed["name"] = json!("renamed behind cutover's back");
    electrodb(
        &sandbox,
        app.dynamo.table(),
        variant,
        json!({"write": [{"entity": "campaign", "item": changed}]}),
    )
    .await;
    let report = validate(app.clone(), &parity_options()).await.unwrap();
    assert_eq!(
        findings(&report),
        vec![(Category::FieldMismatch, 1)],
        "{variant:?}: {report:?}"
    );
    let repaired = repair(app.clone(), &report, &parity_options(), false)
        .await
        .unwrap();
    assert_eq!(repaired.rewritten.len(), 1, "{repaired:?}");
    assert!(
        repaired.after.passed && repaired.after.parity_percent == 100.0,
        "{:?}",
        repaired.after
    );
    electrodb_reads_everything(&sandbox, app.dynamo.table(), variant, &entities).await;
    sandbox.close().await.unwrap();
}

/// `cutover profile check` names what does not fit: a renamed column, a
/// column of another type, ids that collide under the key casing, an item
/// whose attribute is encoded otherwise than declared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_check_names_every_mismatch_with_the_live_stores() {
    let variant = VARIANTS[0];
    let (sandbox, app, entities, _) = prisma_stores(
        DynamoEngine::Dynoxide,
        variant,
        cutover_app::app::TABLE_PURPOSE,
    )
    .await;
    backfill(&app, &BackfillOptions::new("prisma-style database"))
        .await
        .unwrap();
    let checked = check_profile(&app, &ProfileCheckOptions::default())
        .await
        .unwrap();
    assert!(checked.passed, "{:?}", checked.findings);
    assert_eq!(checked.items_sampled, entities.len() as u64);

    for statement in [
        r#"ALTER TABLE "Campaign" RENAME COLUMN "description" TO "details""#,
        r#"ALTER TABLE "User" ALTER COLUMN "email" TYPE jsonb USING to_jsonb("email")"#,
        r#"INSERT INTO "User" ("id", "email", "displayName", "updatedAt") VALUES ('alice', '"a@example.com"', 'Another Alice', now())"#,
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&sandbox.pg)
            .await
            .unwrap();
    }
    let user = entities
        .iter()
        .find(|e| e.kind() == EntityKind::User)
        .unwrap();
    let mut item = app.profile().to_item(user);
    item.insert(
        "createdAt".into(),
        cutover_core::item_size::AttrValue::N("1700000000000".into()),
    );
    app.dynamo
        .client()
        .put_item()
        .table_name(app.dynamo.table())
        .set_item(Some(cutover_app::item_to_sdk(&item)))
        .send()
        .await
        .unwrap();
    let checked = check_profile(&app, &ProfileCheckOptions::default())
        .await
        .unwrap();
    let found: Vec<(String, String)> = checked
        .findings
        .iter()
        .map(|f| (f.location.clone(), f.problem.clone()))
        .collect();
    let expect = [
        (r#""Campaign"."description""#, "no such column"),
        (
            r#""User"."email""#,
            "declared text in the profile, but the column is jsonb",
        ),
        (
            r#""User" ids Alice, alice"#,
            "one DynamoDB key under key casing \"default\"",
        ),
        (
            "item user#alice/metadata",
            r#"attribute "createdAt" should be S, found N"#,
        ),
    ];
    assert_eq!(found.len(), expect.len(), "{found:#?}");
    for ((location, problem), (want_location, want_problem)) in found.iter().zip(expect) {
        assert_eq!(location, want_location, "{found:#?}");
        assert!(problem.contains(want_problem), "{location}: {problem}");
    }
    assert!(!checked.passed);
    sandbox.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn electrodb_and_cutover_read_each_others_items_on_dynoxide() {
    for variant in VARIANTS {
        check(DynamoEngine::Dynoxide, variant).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn electrodb_and_cutover_read_each_others_items_on_dynamodb_local() {
    for variant in VARIANTS {
        check(DynamoEngine::DynamoDbLocal, variant).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parity_of_stores_only_electrodb_wrote_on_dynoxide() {
    for variant in VARIANTS {
        check_parity_of_electrodb_written_stores(DynamoEngine::Dynoxide, variant).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parity_of_stores_only_electrodb_wrote_on_dynamodb_local() {
    for variant in VARIANTS {
        check_parity_of_electrodb_written_stores(DynamoEngine::DynamoDbLocal, variant).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_and_repair_of_a_prisma_database_read_by_electrodb_on_dynoxide() {
    for variant in VARIANTS {
        check_backfill_and_repair_from_prisma(DynamoEngine::Dynoxide, variant).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_and_repair_of_a_prisma_database_read_by_electrodb_on_dynamodb_local() {
    for variant in VARIANTS {
        check_backfill_and_repair_from_prisma(DynamoEngine::DynamoDbLocal, variant).await;
    }
}
