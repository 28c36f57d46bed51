//! Model-based test: random command sequences go both to the real dual-write
//! path (PostgreSQL + Dynoxide + the embedded S3) and to an in-memory model of
//! the app. After every step the app must have accepted or refused exactly what
//! the model did, PostgreSQL must equal the model, and — once the relay has
//! drained — so must DynamoDB and S3. proptest shrinks a failure to a minimal
//! sequence; failures are kept in `proptest-regressions/`.
//!
//! Cases: `CUTOVER_MODEL_CASES` (default 12; CI-nightly style runs use more).

use crate::support;

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::DynamoEngine;
use aws_sdk_dynamodb::types::AttributeValue;
use cutover_app::{App, AppError, Command, Mode, item_from_sdk};
use cutover_backends::Sandbox;
use cutover_core::command::InvalidField;
use cutover_core::domain::Entity;
use cutover_core::keys::Id;
use cutover_core::model::{Model, ModelCampaign, ModelSession, ModelSummary, ModelUser, Refusal};
use proptest::prelude::*;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};

fn pooled_id(prefix: &'static str, count: usize) -> BoxedStrategy<Id> {
    (0..count)
        .prop_map(move |n| Id::parse(&format!("{prefix}{n}")).unwrap())
        .boxed()
}

/// Mostly an id that exists in the model (so sequences build real trees and
/// cascades), sometimes one from the small pool (missing parents, duplicates,
/// re-creating a deleted id).
fn id_from(existing: Vec<Id>, prefix: &'static str, pool: usize) -> BoxedStrategy<Id> {
    if existing.is_empty() {
        pooled_id(prefix, pool)
    } else {
        prop_oneof![4 => proptest::sample::select(existing), 1 => pooled_id(prefix, pool)].boxed()
    }
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

fn metadata() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        text().prop_map(serde_json::Value::from),
        (-1000i64..1000).prop_map(serde_json::Value::from),
        (-400i32..400).prop_map(|n| serde_json::Value::from(f64::from(n) / 4.0)),
        any::<bool>().prop_map(serde_json::Value::from),
        Just(serde_json::Value::Null),
    ];
    prop::collection::btree_map("[a-z]{1,4}", leaf, 0..4)
        .prop_map(|map| serde_json::Value::Object(map.into_iter().collect()))
}

fn transcript() -> impl Strategy<Value = String> {
    prop_oneof![
        20 => "\\PC{0,300}",
        1 => Just("x".repeat(409_601)),
    ]
}

fn command(state: &Model) -> BoxedStrategy<Command> {
    let users: Vec<Id> = state.users.keys().cloned().collect();
    let campaigns: Vec<Id> = state.campaigns.keys().cloned().collect();
    let sessions: Vec<Id> = state.sessions.keys().cloned().collect();
    let summaries: Vec<Id> = state.summaries.keys().cloned().collect();
    let user = || id_from(users.clone(), "u", 3);
    let campaign = || id_from(campaigns.clone(), "c", 4);
    let session = || id_from(sessions.clone(), "s", 5);
    let summary = || id_from(summaries.clone(), "m", 4);
    prop_oneof![
        2 => (user(), text(), text()).prop_map(|(user, email, display_name)| Command::CreateUser { user, email, display_name }),
        1 => (user(), proptest::option::of(text()), proptest::option::of(text()))
            .prop_map(|(user, email, display_name)| Command::UpdateUser { user, email, display_name }),
        1 => user().prop_map(|user| Command::DeleteUser { user }),
        3 => (campaign(), user(), text(), text()).prop_map(|(campaign, user, name, description)| Command::CreateCampaign { campaign, user, name, description }),
        1 => (campaign(), proptest::option::of(text()), proptest::option::of(text()))
            .prop_map(|(campaign, name, description)| Command::UpdateCampaign { campaign, name, description }),
        1 => campaign().prop_map(|campaign| Command::DeleteCampaign { campaign }),
        4 => (session(), campaign(), text(), text(), metadata(), transcript()).prop_map(|(session, campaign, name, summary, metadata, transcript)| {
            Command::CreateSession { session, campaign, name, summary, metadata, transcript }
        }),
        2 => (session(), proptest::option::of(text()), proptest::option::of(text()), proptest::option::of(metadata()), proptest::option::of(transcript()))
            .prop_map(|(session, name, summary, metadata, transcript)| Command::UpdateSession { session, name, summary, metadata, transcript }),
        1 => session().prop_map(|session| Command::DeleteSession { session }),
        1 => session().prop_map(|session| Command::ShareSession { session }),
        1 => session().prop_map(|session| Command::UnshareSession { session }),
        4 => (summary(), session(), text(), text()).prop_map(|(summary, session, kind, body)| Command::CreateSummary { summary, session, kind, body }),
        1 => (summary(), text()).prop_map(|(summary, body)| Command::UpdateSummary { summary, body }),
        1 => summary().prop_map(|summary| Command::DeleteSummary { summary }),
    ]
    .boxed()
}

struct AppModel;

impl ReferenceStateMachine for AppModel {
    type State = Model;
    type Transition = Command;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model::default()).boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Command> {
        command(state)
    }

    fn apply(mut state: Model, transition: &Command) -> Model {
        let _ = state.apply(transition);
        state
    }
}

struct Sut {
    runtime: tokio::runtime::Runtime,
    sandbox: Option<Sandbox>,
    app: App,
    model: Model,
}

fn refusal_of(error: &AppError) -> Option<Refusal> {
    match error {
        AppError::NotFound { kind, id } => Some(Refusal::NotFound {
            kind: *kind,
            id: Id::parse(id).ok()?,
        }),
        AppError::AlreadyExists { kind, id } => Some(Refusal::AlreadyExists {
            kind: *kind,
            id: Id::parse(id).ok()?,
        }),
        AppError::Invalid { field, reason } => Some(Refusal::Invalid(InvalidField {
            field,
            reason: reason.clone(),
        })),
        _ => None,
    }
}

/// PostgreSQL's content as the model sees it.
async fn postgres_as_model(app: &App) -> Model {
    cutover_app::model_view::postgres_as_model(&app.pg)
        .await
        .unwrap()
}

/// DynamoDB and S3's content as the model sees it; also checks that S3 holds
/// exactly the transcripts the items point to.
async fn dynamodb_as_model(app: &App) -> Model {
    let mut model = Model::default();
    let mut start: Option<std::collections::HashMap<String, AttributeValue>> = None;
    let mut pointed = BTreeSet::new();
    loop {
        let page = app.dynamo.scan_page(None, start).await.unwrap();
        for raw in page.items() {
            let entity = app
                .profile()
                .from_item(&item_from_sdk(raw).unwrap())
                .unwrap();
            match entity {
                Entity::User(u) => {
                    model.users.insert(
                        u.id,
                        ModelUser {
                            email: u.email,
                            display_name: u.display_name,
                        },
                    );
                }
                Entity::Campaign(c) => {
                    model.campaigns.insert(
                        c.id,
                        ModelCampaign {
                            user: c.user_id,
                            name: c.name,
                            description: c.description,
                        },
                    );
                }
                Entity::Session(s) => {
                    let transcript = app
                        .transcripts
                        .get_verified(s.id.as_str(), &s.transcript)
                        .await
                        .unwrap()
                        .expect("transcript object exists");
                    pointed.insert(s.transcript.storage_key.clone());
                    model.sessions.insert(
                        s.id,
                        ModelSession {
                            campaign: s.campaign_id,
                            user: s.user_id,
                            name: s.name,
                            summary: s.summary,
                            metadata: s.metadata,
                            transcript,
                            shared: s.share_token.is_some(),
                        },
                    );
                }
                Entity::Summary(m) => {
                    model.summaries.insert(
                        m.id,
                        ModelSummary {
                            session: m.session_id,
                            user: m.user_id,
                            kind: m.kind,
                            body: m.body,
                        },
                    );
                }
            }
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    let objects: BTreeSet<String> = app
        .transcripts
        .list("transcripts/")
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(
        objects, pointed,
        "S3 holds objects no item points to, or misses one"
    );
    model
}

struct RealApp;

impl StateMachineTest for RealApp {
    type SystemUnderTest = Sut;
    type Reference = AppModel;

    fn init_test(_ref_state: &Model) -> Sut {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (sandbox, app) = runtime.block_on(async {
            let sandbox = Sandbox::open(
                support::engines(DynamoEngine::Dynoxide).await,
                cutover_backends::new_run_id(),
            )
            .await
            .unwrap();
            let app = App::install(&sandbox, Mode::Dual).await.unwrap();
            (sandbox, app)
        });
        Sut {
            runtime,
            sandbox: Some(sandbox),
            app,
            model: Model::default(),
        }
    }

    fn apply(mut sut: Sut, ref_state: &Model, transition: Command) -> Sut {
        let expected = sut.model.apply(&transition);
        let actual = sut.runtime.block_on(sut.app.execute(&transition));
        match (&expected, &actual) {
            (Ok(_), Ok(_)) => {}
            (Err(refusal), Err(error)) => assert_eq!(
                Some(refusal.clone()),
                refusal_of(error),
                "{transition:?}: {error}"
            ),
            _ => panic!("{transition:?}: the model says {expected:?}, the app answered {actual:?}"),
        }
        assert_eq!(&sut.model, ref_state);
        sut
    }

    fn check_invariants(sut: &Sut, ref_state: &Model) {
        sut.runtime.block_on(async {
            assert_eq!(
                &postgres_as_model(&sut.app).await,
                ref_state,
                "PostgreSQL differs from the model"
            );
            assert_eq!(
                sut.app
                    .relay()
                    .drain(Duration::from_secs(30))
                    .await
                    .unwrap(),
                0,
                "the relay did not drain"
            );
            assert_eq!(
                &dynamodb_as_model(&sut.app).await,
                ref_state,
                "DynamoDB/S3 differ from the model"
            );
        });
    }

    fn teardown(mut sut: Sut, _ref_state: Model) {
        if let Some(sandbox) = sut.sandbox.take() {
            sut.runtime.block_on(sandbox.close()).unwrap();
        }
    }
}

fn cases() -> u32 {
    support::cases_from_env("CUTOVER_MODEL_CASES", 12)
}

prop_state_machine! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 2000,
        // Relative to this crate: a shrunk failure is saved there and replayed first next time.
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct("proptest-regressions/model.txt"))),
        ..ProptestConfig::default()
    })]
    #[test]
    fn the_dual_write_path_behaves_like_the_model(sequential 1..40 => RealApp);
}
