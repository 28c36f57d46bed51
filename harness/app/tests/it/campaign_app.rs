//! The campaign app's data layer on real engines: PostgreSQL, Dynoxide or
//! DynamoDB Local, and the embedded S3 server.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::{DynamoEngine, installed};
use cutover_app::dynamo::DynamoStore;
use cutover_app::reads::{Answer, Read};
use cutover_app::transcripts::TranscriptStore;
use cutover_app::{App, AppError, Command, Mode};
use cutover_core::domain::Entity;
use cutover_core::item_size::{MAX_ITEM_BYTES, item_bytes};
use cutover_core::keys::{EntityKind, Id, ItemKey};
use serde_json::json;

fn id(text: &str) -> Id {
    Id::parse(text).unwrap()
}

async fn run(app: &App, command: Command) -> cutover_app::Outcome {
    app.execute(&command)
        .await
        .unwrap_or_else(|e| panic!("{command:?}: {e}"))
}

/// Both stores give the same answer, and it is returned.
async fn both(app: &App, read: Read) -> Answer {
    let postgres = app
        .postgres_reads()
        .read(&read)
        .await
        .expect("postgres read");
    let dynamodb = app
        .dynamodb_reads()
        .read(&read)
        .await
        .expect("dynamodb read");
    assert_eq!(postgres, dynamodb, "{read:?}");
    postgres
}

/// Two users; the first has two campaigns, with sessions, summaries and a share.
async fn seed(app: &App) -> String {
    for user in ["alice", "bob"] {
        run(
            app,
            Command::CreateUser {
                user: id(user),
                email: format!("{user}@example.com"),
                display_name: user.to_uppercase(),
            },
        )
        .await;
    }
    for (campaign, user) in [("c1", "alice"), ("c2", "alice"), ("c3", "bob")] {
        run(
            app,
            Command::CreateCampaign {
                campaign: id(campaign),
                user: id(user),
                name: format!("Campaign {campaign}"),
                description: "Dragons & déjà vu".into(),
            },
        )
        .await;
    }
    for (session, campaign) in [("s1", "c1"), ("s2", "c1"), ("s3", "c2"), ("s4", "c3")] {
        run(
            app,
            Command::CreateSession {
                session: id(session),
                campaign: id(campaign),
                name: format!("Session {session} 🐉"),
                summary: "The party meets the DRAGON".into(),
                metadata: json!({"tags": ["boss", "ñandú"], "round": 3, "ratio": 0.25, "recorded": true}),
                transcript: format!("GM: welcome to {session}.\nPlayer: 日本語 and émoji 🎲\n").repeat(10),
            },
        )
        .await;
    }
    for (summary, session) in [("m1", "s1"), ("m2", "s1"), ("m3", "s2")] {
        run(
            app,
            Command::CreateSummary {
                summary: id(summary),
                session: id(session),
                kind: "recap".into(),
                body: format!("summary {summary}"),
            },
        )
        .await;
    }
    run(app, Command::ShareSession { session: id("s2") })
        .await
        .share_token
        .expect("a token")
}

fn ids<T>(values: &[T], id_of: impl Fn(&T) -> &Id) -> Vec<String> {
    values.iter().map(|v| id_of(v).to_string()).collect()
}

async fn transcript_objects(app: &App, user: &str, session: &str) -> Vec<String> {
    app.transcripts
        .list(
            &app.profile()
                .session_transcripts_prefix(&id(user), &id(session)),
        )
        .await
        .unwrap()
}

async fn check_access_patterns(engine: DynamoEngine) {
    let (sandbox, app) = installed(engine, Mode::Dual).await;
    let token = seed(&app).await;
    assert_eq!(token.len(), 32, "128-bit hex token");

    let Answer::User(Some(alice)) = both(&app, Read::User(id("alice"))).await else {
        panic!("alice")
    };
    assert_eq!(alice.display_name, "ALICE");
    let Answer::Campaigns(campaigns) = both(&app, Read::CampaignsOf(id("alice"))).await else {
        panic!()
    };
    assert_eq!(ids(&campaigns, |c| &c.id), ["c1", "c2"]);
    let Answer::Campaign(Some(c3)) = both(&app, Read::Campaign(id("c3"))).await else {
        panic!("reverse lookup")
    };
    assert_eq!(c3.user_id, id("bob"));
    let Answer::Sessions(sessions) = both(&app, Read::SessionsOf(id("c1"))).await else {
        panic!()
    };
    assert_eq!(ids(&sessions, |s| &s.id), ["s1", "s2"]);
    let Answer::Session(Some(s3)) = both(&app, Read::Session(id("s3"))).await else {
        panic!("reverse lookup")
    };
    assert_eq!(
        (s3.campaign_id.as_str(), s3.user_id.as_str()),
        ("c2", "alice")
    );
    assert_eq!(s3.metadata["tags"][1], "ñandú");
    let Answer::Summaries(summaries) = both(&app, Read::SummariesOf(id("s1"))).await else {
        panic!()
    };
    assert_eq!(ids(&summaries, |s| &s.id), ["m1", "m2"]);
    let Answer::Session(Some(shared)) = both(&app, Read::SessionByShareToken(token.clone())).await
    else {
        panic!("share lookup")
    };
    assert_eq!(shared.id, id("s2"));
    assert_eq!(
        both(&app, Read::SessionByShareToken("0".repeat(32))).await,
        Answer::Session(None)
    );
    let Answer::Transcript(Some(text)) = both(&app, Read::Transcript(id("s4"))).await else {
        panic!("transcript")
    };
    assert!(text.starts_with("GM: welcome to s4."));
    assert_eq!(
        both(&app, Read::Session(id("nope"))).await,
        Answer::Session(None)
    );

    // Updates: a new transcript replaces the object; the old one is gone.
    let before = transcript_objects(&app, "alice", "s1").await;
    run(
        &app,
        Command::UpdateSession {
            session: id("s1"),
            name: Some("Renamed".into()),
            summary: None,
            metadata: None,
            transcript: Some("new words".into()),
        },
    )
    .await;
    let after = transcript_objects(&app, "alice", "s1").await;
    assert_eq!(after.len(), 1);
    assert_ne!(before, after);
    let Answer::Transcript(Some(text)) = both(&app, Read::Transcript(id("s1"))).await else {
        panic!()
    };
    assert_eq!(text, "new words");
    run(
        &app,
        Command::UpdateSummary {
            summary: id("m1"),
            body: "rewritten".into(),
        },
    )
    .await;
    run(
        &app,
        Command::UpdateCampaign {
            campaign: id("c2"),
            name: Some("Second".into()),
            description: None,
        },
    )
    .await;
    run(
        &app,
        Command::UpdateUser {
            user: id("bob"),
            email: Some("b@example.org".into()),
            display_name: None,
        },
    )
    .await;
    run(&app, Command::UnshareSession { session: id("s2") }).await;
    assert_eq!(
        both(&app, Read::SessionByShareToken(token)).await,
        Answer::Session(None)
    );

    // Deletes cascade on both sides and take the transcripts with them.
    run(&app, Command::DeleteSession { session: id("s1") }).await;
    assert_eq!(
        both(&app, Read::Session(id("s1"))).await,
        Answer::Session(None)
    );
    assert_eq!(
        both(&app, Read::SummariesOf(id("s1"))).await,
        Answer::Summaries(vec![])
    );
    assert!(transcript_objects(&app, "alice", "s1").await.is_empty());
    run(&app, Command::DeleteCampaign { campaign: id("c1") }).await;
    assert_eq!(
        both(&app, Read::SessionsOf(id("c1"))).await,
        Answer::Sessions(vec![])
    );
    assert_eq!(
        both(&app, Read::SummariesOf(id("s2"))).await,
        Answer::Summaries(vec![])
    );
    run(&app, Command::DeleteUser { user: id("bob") }).await;
    assert_eq!(both(&app, Read::User(id("bob"))).await, Answer::User(None));
    assert_eq!(
        both(&app, Read::Campaign(id("c3"))).await,
        Answer::Campaign(None)
    );
    assert!(transcript_objects(&app, "bob", "s4").await.is_empty());
    for read in [
        Read::User(id("alice")),
        Read::CampaignsOf(id("alice")),
        Read::SessionsOf(id("c2")),
        Read::Transcript(id("s3")),
    ] {
        both(&app, read).await;
    }
    assert_eq!(app.relay().pending_records().await.unwrap(), 0);
    sandbox.close().await.unwrap();
}

#[tokio::test]
async fn access_patterns_on_dynoxide() {
    check_access_patterns(DynamoEngine::Dynoxide).await;
}

#[tokio::test]
async fn access_patterns_on_dynamodb_local() {
    check_access_patterns(DynamoEngine::DynamoDbLocal).await;
}

#[tokio::test]
async fn rejected_writes_name_the_problem_and_store_nothing() {
    let (sandbox, app) = installed(DynamoEngine::Dynoxide, Mode::Dual).await;
    seed(&app).await;
    let cases: Vec<(Command, &str)> = vec![
        (
            Command::CreateUser {
                user: id("alice"),
                email: "x".into(),
                display_name: "x".into(),
            },
            "already exists",
        ),
        (
            Command::CreateCampaign {
                campaign: id("cx"),
                user: id("nobody"),
                name: "n".into(),
                description: "d".into(),
            },
            "user \"nobody\" does not exist",
        ),
        (
            Command::UpdateSession {
                session: id("missing"),
                name: Some("n".into()),
                summary: None,
                metadata: None,
                transcript: None,
            },
            "session \"missing\" does not exist",
        ),
        (
            Command::CreateSession {
                session: id("sx"),
                campaign: id("c1"),
                name: "n".into(),
                summary: "s".into(),
                metadata: json!([1, 2]),
                transcript: String::new(),
            },
            "metadata",
        ),
        (
            Command::CreateSession {
                session: id("sy"),
                campaign: id("c1"),
                name: "nul\0".into(),
                summary: "s".into(),
                metadata: json!({}),
                transcript: String::new(),
            },
            "NUL",
        ),
        (
            Command::CreateSummary {
                summary: id("mx"),
                session: id("s1"),
                kind: "recap".into(),
                body: "x".repeat(MAX_ITEM_BYTES),
            },
            "409,600",
        ),
    ];
    for (command, expected) in cases {
        let error = app.execute(&command).await.expect_err("must be refused");
        assert!(error.is_rejection(), "{error}");
        assert!(error.to_string().contains(expected), "{command:?}: {error}");
    }
    let summaries: i64 =
        sqlx::query_scalar("SELECT count(*) FROM session_summaries WHERE id = 'mx'")
            .fetch_one(&sandbox.pg)
            .await
            .unwrap();
    assert_eq!(summaries, 0);
    assert_eq!(app.relay().pending_records().await.unwrap(), 0);
    assert!(
        app.dynamo
            .get(&ItemKey::Summary {
                session: id("s1"),
                summary: id("mx")
            })
            .await
            .unwrap()
            .is_none()
    );
    sandbox.close().await.unwrap();
}

async fn check_versions_only_move_forward(engine: DynamoEngine) {
    let (sandbox, app) = installed(engine, Mode::Dual).await;
    seed(&app).await;
    let key = ItemKey::Campaign {
        user: id("alice"),
        campaign: id("c1"),
    };
    let stored = app.dynamo.get(&key).await.unwrap().expect("item");
    let Entity::Campaign(current) = app.profile().from_item(&stored).unwrap() else {
        panic!()
    };

    let stale = Entity::Campaign(cutover_core::domain::Campaign {
        name: "stale".into(),
        version: current.version - 1,
        ..current.clone()
    });
    assert!(
        !app.dynamo
            .put_if_newer(&key, &app.profile().to_item(&stale), current.version - 1)
            .await
            .unwrap()
    );
    let same = Entity::Campaign(cutover_core::domain::Campaign {
        name: "same".into(),
        ..current.clone()
    });
    assert!(
        !app.dynamo
            .put_if_newer(&key, &app.profile().to_item(&same), current.version)
            .await
            .unwrap()
    );
    assert!(
        !app.dynamo
            .delete_if_older(key.entity(), &app.dynamo.stored_key(&key), current.version)
            .await
            .unwrap()
    );
    assert_eq!(app.dynamo.get(&key).await.unwrap(), Some(stored));
    let newer = Entity::Campaign(cutover_core::domain::Campaign {
        name: "newer".into(),
        version: current.version + 1,
        ..current
    });
    assert!(
        app.dynamo
            .put_if_newer(&key, &app.profile().to_item(&newer), newer.version())
            .await
            .unwrap()
    );
    sandbox.close().await.unwrap();
}

#[tokio::test]
async fn versions_only_move_forward_on_dynoxide() {
    check_versions_only_move_forward(DynamoEngine::Dynoxide).await;
}

#[tokio::test]
async fn versions_only_move_forward_on_dynamodb_local() {
    check_versions_only_move_forward(DynamoEngine::DynamoDbLocal).await;
}

/// An app whose DynamoDB or S3 client points at a port nobody listens on.
async fn with_broken(app: &App, broken: Store) -> App {
    let dead = cutover_backends::aws::AwsEndpoint::unreachable().unwrap();
    let dynamo = match broken {
        Store::DynamoDb => {
            DynamoStore::new(dead.dynamodb_client().await, app.dynamo.table().to_owned())
        }
        Store::S3 => app.dynamo.clone(),
    };
    let transcripts = match broken {
        Store::S3 => {
            TranscriptStore::new(dead.s3_client().await, app.transcripts.bucket().to_owned())
        }
        Store::DynamoDb => app.transcripts.clone(),
    };
    App::new(app.pg.clone(), dynamo, transcripts, Mode::Dual)
}

#[derive(Clone, Copy)]
enum Store {
    DynamoDb,
    S3,
}

/// Every session, campaign, user and summary in PostgreSQL reads the same from DynamoDB/S3,
/// and S3 holds exactly the transcripts PostgreSQL points to.
async fn assert_stores_equal(app: &App, sandbox: &cutover_backends::Sandbox) {
    let users: Vec<String> = sqlx::query_scalar("SELECT id FROM users")
        .fetch_all(&sandbox.pg)
        .await
        .unwrap();
    let campaigns: Vec<String> = sqlx::query_scalar("SELECT id FROM campaigns")
        .fetch_all(&sandbox.pg)
        .await
        .unwrap();
    let sessions: Vec<String> = sqlx::query_scalar("SELECT id FROM sessions")
        .fetch_all(&sandbox.pg)
        .await
        .unwrap();
    for user in &users {
        both(app, Read::User(id(user))).await;
        both(app, Read::CampaignsOf(id(user))).await;
    }
    for campaign in &campaigns {
        both(app, Read::SessionsOf(id(campaign))).await;
    }
    let mut expected_objects = BTreeSet::new();
    for session in &sessions {
        let Answer::Session(Some(found)) = both(app, Read::Session(id(session))).await else {
            panic!("{session}")
        };
        expected_objects.insert(found.transcript.storage_key);
        both(app, Read::SummariesOf(id(session))).await;
        both(app, Read::Transcript(id(session))).await;
    }
    let objects: BTreeSet<String> = app
        .transcripts
        .list("transcripts/")
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(objects, expected_objects);
}

#[tokio::test]
async fn a_store_outage_leaves_the_outbox_pending_and_the_relay_catches_up() {
    let (sandbox, app) = installed(DynamoEngine::Dynoxide, Mode::Dual).await;
    seed(&app).await;
    for broken_store in [Store::DynamoDb, Store::S3] {
        let broken = with_broken(&app, broken_store).await;
        let suffix = match broken_store {
            Store::DynamoDb => "d",
            Store::S3 => "s",
        };
        // Midway: these commit to PostgreSQL while the other store is unreachable.
        let new_session = id(&format!("late{suffix}"));
        broken
            .execute(&Command::CreateSession {
                session: new_session.clone(),
                campaign: id("c2"),
                name: "late".into(),
                summary: "written during the outage".into(),
                metadata: json!({}),
                transcript: "late transcript".into(),
            })
            .await
            .unwrap();
        broken
            .execute(&Command::UpdateSession {
                session: id("s3"),
                name: None,
                summary: Some(format!("changed during outage {suffix}")),
                metadata: None,
                transcript: Some(format!("outage transcript {suffix}")),
            })
            .await
            .unwrap();
        broken
            .execute(&Command::CreateSummary {
                summary: id(&format!("mlate{suffix}")),
                session: id("s3"),
                kind: "recap".into(),
                body: "late".into(),
            })
            .await
            .unwrap();
        assert!(
            broken
                .stats
                .inline_apply_failures
                .load(std::sync::atomic::Ordering::Relaxed)
                > 0
        );
        let pending = app.relay().pending_entities().await.unwrap();
        assert!(
            pending.contains(&(EntityKind::Session, new_session.clone())),
            "{pending:?}"
        );
        assert!(
            pending.contains(&(EntityKind::Session, id("s3"))),
            "{pending:?}"
        );
        // The failed store does not have the new session yet.
        assert_eq!(
            app.dynamodb_reads()
                .read(&Read::Session(new_session.clone()))
                .await
                .unwrap(),
            Answer::Session(None)
        );
        // Retrying while still broken keeps the records pending, with the error noted.
        let pass = broken.relay().run_once(true, 100).await.unwrap();
        assert!(
            pass.entities_failed > 0 && pass.last_error.is_some(),
            "{pass:?}"
        );
        assert!(app.relay().pending_records().await.unwrap() > 0);
    }
    // The stores are back: the relay drains and everything matches.
    assert_eq!(app.relay().drain(Duration::from_secs(60)).await.unwrap(), 0);
    assert_stores_equal(&app, &sandbox).await;
    sandbox.close().await.unwrap();
}

async fn check_transcripts_round_trip(engine: DynamoEngine) {
    let (sandbox, app) = installed(engine, Mode::Dual).await;
    seed(&app).await;
    let multibyte_unit = "日本語のテキスト🐉é";
    let cases: Vec<(&str, String)> = vec![
        ("t399k", "a".repeat(399 * 1024)),
        ("t401k", "b".repeat(401 * 1024)),
        (
            "t12m",
            "Player: roll for initiative.\n".repeat(12 * 1024 * 1024 / 29 + 1),
        ),
        (
            "tmultibyte",
            multibyte_unit.repeat(450 * 1024 / multibyte_unit.len()),
        ),
    ];
    for (session, transcript) in &cases {
        run(
            &app,
            Command::CreateSession {
                session: id(session),
                campaign: id("c1"),
                name: (*session).into(),
                summary: String::new(),
                metadata: json!({}),
                transcript: transcript.clone(),
            },
        )
        .await;
        let Answer::Transcript(Some(read)) = app
            .dynamodb_reads()
            .read(&Read::Transcript(id(session)))
            .await
            .unwrap()
        else {
            panic!("{session}")
        };
        assert!(
            read == *transcript,
            "{session}: transcript differs after the round trip"
        );
        let item = app
            .dynamo
            .get(&ItemKey::Session {
                campaign: id("c1"),
                session: id(session),
            })
            .await
            .unwrap()
            .unwrap();
        let bytes = item_bytes(&item).unwrap();
        assert!(
            bytes < 4096,
            "{session}: the item holds a pointer, not the transcript ({bytes} bytes)"
        );
        let Answer::Session(Some(found)) = both(&app, Read::Session(id(session))).await else {
            panic!()
        };
        assert_eq!(found.transcript.bytes, transcript.len() as u64);
    }
    // A corrupted object is caught by the checksum on read.
    let Answer::Session(Some(found)) = both(&app, Read::Session(id("t399k"))).await else {
        panic!()
    };
    app.transcripts
        .put(&found.transcript.storage_key, "tampered")
        .await
        .unwrap();
    let error = app
        .dynamodb_reads()
        .read(&Read::Transcript(id("t399k")))
        .await
        .expect_err("checksum must fail");
    assert!(
        matches!(error, AppError::TranscriptCorrupt { .. }),
        "{error}"
    );
    sandbox.close().await.unwrap();
}

#[tokio::test]
async fn transcripts_of_every_size_round_trip_on_dynoxide() {
    check_transcripts_round_trip(DynamoEngine::Dynoxide).await;
}

#[tokio::test]
async fn transcripts_of_every_size_round_trip_on_dynamodb_local() {
    check_transcripts_round_trip(DynamoEngine::DynamoDbLocal).await;
}

#[tokio::test]
async fn shadow_reads_serve_postgres_and_count_mismatches() {
    let (sandbox, app) = installed(DynamoEngine::Dynoxide, Mode::ShadowRead { percent: 100 }).await;
    seed(&app).await;
    for read in [
        Read::User(id("alice")),
        Read::SessionsOf(id("c1")),
        Read::Transcript(id("s1")),
    ] {
        app.read(&read).await.unwrap();
    }
    assert_eq!(
        app.stats
            .shadow_compared
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
    assert_eq!(
        app.stats
            .shadow_mismatched
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );

    // Change the DynamoDB copy behind the app's back: the next shadow read notices.
    let key = ItemKey::User { user: id("alice") };
    let mut item = app.dynamo.get(&key).await.unwrap().unwrap();
    item.insert(
        "displayName".into(),
        cutover_core::item_size::AttrValue::S("Mallory".into()),
    );
    app.dynamo
        .client()
        .put_item()
        .table_name(app.dynamo.table())
        .set_item(Some(cutover_app::item_to_sdk(&item)))
        .send()
        .await
        .unwrap();
    let Answer::User(Some(served)) = app.read(&Read::User(id("alice"))).await.unwrap() else {
        panic!()
    };
    assert_eq!(served.display_name, "ALICE", "served from PostgreSQL");
    assert_eq!(
        app.stats
            .shadow_mismatched
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert!(
        app.stats.shadow_samples.lock().unwrap()[0]
            .dynamodb
            .contains("Mallory")
    );

    // Sampling: at 10%, 1 read in 10 is compared.
    app.set_mode(Mode::ShadowRead { percent: 10 });
    let compared_before = app
        .stats
        .shadow_compared
        .load(std::sync::atomic::Ordering::Relaxed);
    for _ in 0..100 {
        app.read(&Read::CampaignsOf(id("alice"))).await.unwrap();
    }
    assert_eq!(
        app.stats
            .shadow_compared
            .load(std::sync::atomic::Ordering::Relaxed)
            - compared_before,
        10
    );
    sandbox.close().await.unwrap();
}

#[tokio::test]
async fn postgres_only_mode_writes_postgres_alone() {
    let (sandbox, app) = installed(DynamoEngine::Dynoxide, Mode::Dual).await;
    seed(&app).await;
    app.set_mode(Mode::PostgresOnly);
    run(
        &app,
        Command::CreateCampaign {
            campaign: id("pgonly"),
            user: id("alice"),
            name: "n".into(),
            description: "d".into(),
        },
    )
    .await;
    assert_eq!(app.relay().pending_records().await.unwrap(), 0);
    let Answer::Campaign(Some(_)) = app.read(&Read::Campaign(id("pgonly"))).await.unwrap() else {
        panic!("served by postgres")
    };
    assert_eq!(
        app.dynamodb_reads()
            .read(&Read::Campaign(id("pgonly")))
            .await
            .unwrap(),
        Answer::Campaign(None)
    );
    sandbox.close().await.unwrap();
}

/// A request the engine refuses for good (here: a table that does not exist)
/// is not retried as if it were an outage, and the error keeps its cause.
#[tokio::test]
async fn a_missing_table_is_a_permanent_failure_with_its_cause() {
    let (sandbox, app) = installed(DynamoEngine::Dynoxide, Mode::Dual).await;
    let missing = DynamoStore::new(
        app.dynamo.client().clone(),
        sandbox.table_name("never-created"),
    );
    let error = missing
        .get(&ItemKey::User { user: id("alice") })
        .await
        .unwrap_err();
    assert!(matches!(error, AppError::DynamoDb { .. }), "{error}");
    assert!(!error.is_transient(), "{error}");
    let source = std::error::Error::source(&error).expect("the SDK error is kept");
    assert!(!source.to_string().is_empty());
    sandbox.close().await.unwrap();
}

/// A relay transaction waits for an entity's lock only as long as its bound,
/// then fails transiently (its records stay pending) instead of hanging every
/// writer of the entity behind one stalled holder.
#[tokio::test]
async fn a_relay_transaction_gives_up_on_a_held_lock_at_its_bound() {
    let (sandbox, app) = installed(DynamoEngine::Dynoxide, Mode::Dual).await;
    run(
        &app,
        Command::CreateUser {
            user: id("alice"),
            email: "a@example.com".into(),
            display_name: "A".into(),
        },
    )
    .await;
    let app = app.with_relay_bounds(cutover_app::relay::TransactionBounds {
        lock_timeout: Duration::from_millis(200),
        ..Default::default()
    });
    // Another holder of alice's lock, stalled.
    let mut holder = sandbox.pg.begin().await.unwrap();
    sqlx::query(cutover_app::relay::ENTITY_LOCK_SQL)
        .bind("user")
        .bind("alice")
        .execute(&mut *holder)
        .await
        .unwrap();
    // The guard only turns a hang into a failure; it is not the bound under test.
    let error = tokio::time::timeout(
        Duration::from_secs(30),
        app.relay().repair_entity(EntityKind::User, &id("alice")),
    )
    .await
    .expect("the relay gave up at its lock bound")
    .unwrap_err();
    assert!(error.is_transient(), "{error}");
    let source = std::error::Error::source(&error).expect("the database error is kept");
    assert!(source.to_string().contains("lock timeout"), "{source}");
    holder.rollback().await.unwrap();
    assert!(
        app.relay()
            .repair_entity(EntityKind::User, &id("alice"))
            .await
            .unwrap()
    );
    sandbox.close().await.unwrap();
}

/// An engine that accepts the connection and never answers: the SDK call
/// ends at its attempt timeout, and the failure is classified as transient.
#[tokio::test]
async fn a_stalled_engine_ends_a_call_at_its_timeout_as_a_transient_failure() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stalled = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (connection, _) = listener.accept().await.unwrap();
            held.push(connection);
        }
    });
    let endpoint =
        cutover_backends::aws::AwsEndpoint::local(url, cutover_backends::aws::local_credentials());
    let short = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(500))
        .operation_attempt_timeout(Duration::from_millis(300))
        .operation_timeout(Duration::from_secs(2))
        .build();
    let client = aws_sdk_dynamodb::Client::new(&endpoint.sdk_config_with(short).await);
    let store = DynamoStore::new(client, "stalled".into());
    let error = tokio::time::timeout(
        Duration::from_secs(30),
        store.get(&ItemKey::User { user: id("alice") }),
    )
    .await
    .expect("the SDK gave up at its timeout")
    .unwrap_err();
    assert!(error.is_transient(), "{error}");
    assert!(error.to_string().contains("timeout"), "{error}");
    stalled.abort();
}
