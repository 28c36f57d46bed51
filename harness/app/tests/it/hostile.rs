//! Hostile input at the write and search paths, on real engines: text built
//! to break an expression, a key or a path is stored and read back exactly on
//! both stores, found by search exactly as PostgreSQL's substring oracle
//! finds it, or refused with an error naming the field — and no other entity
//! is ever touched.
//!
//! Cases: `CUTOVER_HOSTILE_CASES` (default 48).

use crate::support;

use std::sync::LazyLock;

use crate::support::DynamoEngine;
use cutover_app::{App, AppError, Command, Mode};
use cutover_backends::Sandbox;
use cutover_core::command::{Answer, Read};
use cutover_core::keys::Id;
use proptest::prelude::*;

/// One app for every case, with a bystander whose data must never change.
static APP: LazyLock<(Sandbox, App)> = LazyLock::new(|| {
    support::RUNTIME.block_on(async {
        let (sandbox, app) = support::installed(DynamoEngine::Dynoxide, Mode::Dual).await;
        for (user, campaign, session) in [
            ("owner", "c-owner", "s-owner"),
            ("bystander", "c-by", "s-by"),
        ] {
            app.execute(&Command::CreateUser {
                user: id(user),
                email: format!("{user}@example.com"),
                display_name: user.into(),
            })
            .await
            .unwrap();
            app.execute(&Command::CreateCampaign {
                campaign: id(campaign),
                user: id(user),
                name: "Campaign".into(),
                description: String::new(),
            })
            .await
            .unwrap();
            app.execute(&Command::CreateSession {
                session: id(session),
                campaign: id(campaign),
                name: "A quiet session".into(),
                summary: "Nothing happened.".into(),
                metadata: serde_json::json!({ "tags": ["calm"] }),
                transcript: "GM: nothing happens.".into(),
            })
            .await
            .unwrap();
        }
        (sandbox, app)
    })
});

fn id(text: &str) -> Id {
    Id::parse(text).unwrap()
}

/// Fragments that have broken real systems: quotes, expression syntax and
/// placeholders, key separators, path traversal, escapes, NUL, control and
/// bidirectional characters, combining marks, emoji, very long runs.
fn hostile() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("'".to_owned()),
        Just("\"".to_owned()),
        Just("`".to_owned()),
        Just(":v".to_owned()),
        Just(":q".to_owned()),
        Just("#n".to_owned()),
        Just("#text".to_owned()),
        Just(") OR attribute_exists(pk) OR (".to_owned()),
        Just("contains(searchText, :q)".to_owned()),
        Just("USER#".to_owned()),
        Just("CAMP#c-by".to_owned()),
        Just("SESS#s-by".to_owned()),
        Just("../../transcripts/bystander/".to_owned()),
        Just("%_\\".to_owned()),
        Just("\\u0000".to_owned()),
        Just("\0".to_owned()),
        Just("\u{1F}".to_owned()),
        Just("\u{202E}".to_owned()),
        Just("e\u{301}".to_owned()),
        Just("🐉".to_owned()),
        Just("${x}".to_owned()),
        Just("'; DROP TABLE sessions; --".to_owned()),
        "[a-z ]{1,12}",
        "\\PC{1,8}",
        (1usize..3000).prop_map(|n| "x".repeat(n)),
    ];
    prop::collection::vec(fragment, 1..5).prop_map(|parts| parts.concat())
}

/// Everything the app answers about the bystander, from both stores.
async fn bystander(app: &App) -> Vec<Answer> {
    let reads = [
        Read::CampaignsOf(id("bystander")),
        Read::SessionsOf(id("c-by")),
        Read::Session(id("s-by")),
        Read::Transcript(id("s-by")),
    ];
    let mut answers = Vec::new();
    for read in &reads {
        answers.push(app.postgres_reads().read(read).await.unwrap());
        answers.push(app.dynamodb_reads().read(read).await.unwrap());
    }
    answers
}

fn session_of(answer: Answer) -> Option<cutover_core::domain::Session> {
    match answer {
        Answer::Session(session) => session,
        other => panic!("not a session answer: {other:?}"),
    }
}

async fn check_case(app: &App, text: &str, case: usize) -> Result<(), TestCaseError> {
    let before = bystander(app).await;
    let session = id(&format!("s-hostile-{case}"));
    let written = app
        .execute(&Command::CreateSession {
            session: session.clone(),
            campaign: id("c-owner"),
            name: text.to_owned(),
            summary: text.to_owned(),
            metadata: serde_json::json!({ "note": text, "nested": { "list": [text] } }),
            transcript: text.to_owned(),
        })
        .await;
    let stored_pg = session_of(
        app.postgres_reads()
            .read(&Read::Session(session.clone()))
            .await
            .unwrap(),
    );
    let stored_ddb = session_of(
        app.dynamodb_reads()
            .read(&Read::Session(session.clone()))
            .await
            .unwrap(),
    );
    match written {
        Ok(_) => {
            let pg =
                stored_pg.ok_or_else(|| TestCaseError::fail("accepted but not in PostgreSQL"))?;
            let ddb =
                stored_ddb.ok_or_else(|| TestCaseError::fail("accepted but not in DynamoDB"))?;
            prop_assert_eq!(&pg.name, text);
            prop_assert_eq!(&pg.summary, text);
            prop_assert_eq!(&pg.metadata["note"], &serde_json::json!(text));
            prop_assert_eq!(&ddb, &pg);
            for store in [
                app.postgres_reads()
                    .read(&Read::Transcript(session.clone()))
                    .await,
                app.dynamodb_reads()
                    .read(&Read::Transcript(session.clone()))
                    .await,
            ] {
                prop_assert_eq!(store.unwrap(), Answer::Transcript(Some(text.to_owned())));
            }
        }
        Err(AppError::Invalid { field, reason }) => {
            prop_assert!(
                text.contains('\0'),
                "refused {text:?} ({field}: {reason}) though it holds no NUL"
            );
            prop_assert!(!field.is_empty() && !reason.is_empty());
            prop_assert!(
                stored_pg.is_none() && stored_ddb.is_none(),
                "a refused write left data behind"
            );
        }
        Err(other) => return Err(TestCaseError::fail(format!("{text:?}: {other}"))),
    }
    // The same text as a search: DynamoDB's answer is PostgreSQL's.
    let search = Read::SearchSessions {
        campaign: id("c-owner"),
        query: text.to_owned(),
    };
    let pg = app.postgres_reads().read(&search).await.unwrap();
    let ddb = app.dynamodb_reads().read(&search).await.unwrap();
    prop_assert_eq!(pg, ddb);
    prop_assert_eq!(bystander(app).await, before, "the bystander changed");
    app.execute(&Command::DeleteSession { session }).await.ok();
    Ok(())
}

fn cases() -> u32 {
    support::cases_from_env("CUTOVER_HOSTILE_CASES", 48)
}

#[test]
fn hostile_text_is_stored_exactly_or_refused_by_field_and_touches_nothing_else() {
    let (_, app) = &*APP;
    let case = std::sync::atomic::AtomicUsize::new(0);
    let config = ProptestConfig {
        cases: cases(),
        ..ProptestConfig::default()
    };
    proptest!(config, |(text in hostile())| {
        let n = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        support::RUNTIME.block_on(check_case(app, &text, n))?;
    });
}
