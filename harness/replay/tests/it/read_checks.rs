//! The end-of-run read checks ask keyword search too: an item whose stored
//! search text no longer holds a word of its session is caught by the search
//! probe alone, on the built-in path (PostgreSQL's answer against DynamoDB's)
//! and through a driver (its answer against the model's own search).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::AttributeValue;
use cutover_app::{App, Command, Mode, Read};
use cutover_backends::Sandbox;
use cutover_core::driver::search_probes;
use cutover_core::keys::{EntityKind, Id, ItemKey};
use cutover_core::model::Model;
use cutover_core::profile::{ELECTRODB_TOML, Profile};
use cutover_replay::checks;
use cutover_replay::driver::{self, Action};
use cutover_replay::faults::FaultRig;
use serde_json::json;

use crate::support;

fn id(text: &str) -> Id {
    Id::parse(text).unwrap()
}

/// A user with one campaign of two sessions; the campaign's search probe is
/// "lighthouse", which only s1's name holds.
fn commands() -> Vec<Command> {
    let session = |session: &str, name: &str| Command::CreateSession {
        session: id(session),
        campaign: id("c1"),
        name: name.into(),
        summary: "fog over the harbour".into(),
        metadata: json!({"tags": ["coast"]}),
        transcript: "GM: the lamp is out.".into(),
    };
    vec![
        Command::CreateUser {
            user: id("u1"),
            email: "u1@example.com".into(),
            display_name: "Una".into(),
        },
        Command::CreateCampaign {
            campaign: id("c1"),
            user: id("u1"),
            name: "Coastal run".into(),
            description: String::new(),
        },
        session("s1", "The Lighthouse keeper"),
        session("s2", "A keeper of keys"),
    ]
}

/// DynamoDB's copy of s1's search text loses the probe's word; no other
/// answer shows the change.
async fn drop_the_word_from_s1(app: &App) {
    let key = ItemKey::Session {
        campaign: id("c1"),
        session: id("s1"),
    };
    app.dynamo
        .client()
        .update_item()
        .table_name(app.dynamo.table())
        .set_key(Some(app.dynamo.key_map(&key)))
        .update_expression("SET searchText = :text")
        .expression_attribute_values(":text", AttributeValue::S("the keeper".into()))
        .send()
        .await
        .unwrap();
}

fn assert_only_the_search_differs(result: &cutover_replay::record::CheckResult) {
    assert!(!result.passed, "{}", result.detail);
    assert!(
        result.detail.starts_with("1 of ") && result.detail.contains("SearchSessions"),
        "{}",
        result.detail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_that_misses_a_session_fails_the_built_in_read_check() {
    let engines = support::engines().await;
    let sandbox = Sandbox::open(engines, cutover_backends::new_run_id())
        .await
        .unwrap();
    let app = App::install(&sandbox, Mode::Dual).await.unwrap();
    let mut model = Model::default();
    for command in commands() {
        app.execute(&command).await.unwrap();
        model.apply(&command).unwrap();
    }
    let searches: Vec<Read> = search_probes(&model)
        .into_iter()
        .map(|(_, read)| read)
        .collect();
    assert_eq!(
        searches,
        [Read::SearchSessions {
            campaign: id("c1"),
            query: "lighthouse".into()
        }]
    );
    let before = checks::read_parity(&app, searches.clone()).await.unwrap();
    assert!(before.passed, "{}", before.detail);

    drop_the_word_from_s1(&app).await;
    assert_only_the_search_differs(&checks::read_parity(&app, searches).await.unwrap());
    sandbox.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_s_search_answer_is_judged_by_the_model() {
    let engines = support::engines().await;
    let sandbox = Sandbox::open(engines, cutover_backends::new_run_id())
        .await
        .unwrap();
    let rig = FaultRig::start(engines, &sandbox).await.unwrap();
    let profile = Arc::new(Profile::parse(ELECTRODB_TOML, "profiles/electrodb.toml").unwrap());
    let profile_path = support::repo().join("profiles/electrodb.toml");
    let command = format!(
        "python3 {}",
        support::repo().join("drivers/python/readonly.py").display()
    );
    // A reads-only driver: cutover's path writes, the driver answers reads.
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
    let mut model = Model::default();
    for command in commands() {
        let performed = driver
            .perform(&id("u1"), Action::Write(&command), "setup")
            .await
            .unwrap();
        assert!(
            matches!(performed, driver::Performed::Ok { .. }),
            "{performed:?}"
        );
        model.apply(&command).unwrap();
    }
    let tokens = Mutex::new(HashMap::new());
    let before = checks::driver_read_parity(&driver, &model, &tokens)
        .await
        .unwrap();
    assert!(before.passed, "{}", before.detail);

    drop_the_word_from_s1(&stores).await;
    let after = checks::driver_read_parity(&driver, &model, &tokens)
        .await
        .unwrap();
    assert_only_the_search_differs(&after);
    let named: Vec<(EntityKind, &str)> = after
        .entities
        .iter()
        .map(|problem| (problem.kind, problem.id.as_str()))
        .collect();
    assert_eq!(named, [(EntityKind::Session, "s1")]);
    assert_eq!(driver.close().await, None);
    drop(rig);
    sandbox.close().await.unwrap();
}
