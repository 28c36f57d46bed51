//! Shared engines for the app tests: one embedded set (Dynoxide) and one with
//! DynamoDB Local, each started once per test binary; every test opens its own
//! sandbox on them.

use cutover_app::{App, Mode};
use cutover_backends::{Engines, Plan, Sandbox};
use cutover_core::provision::{Engine, Provisioner};
use tokio::sync::OnceCell;

/// A runtime for property tests, which drive async code from proptest's
/// synchronous closures; shared by every case of a test binary.
pub static RUNTIME: std::sync::LazyLock<tokio::runtime::Runtime> = std::sync::LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
});

/// A property test's case count: the variable `name` when set, else `default`.
pub fn cases_from_env(name: &str, default: u32) -> u32 {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a case count")),
        Err(_) => default,
    }
}

static EMBEDDED: OnceCell<Engines> = OnceCell::const_new();
static DYNAMODB_LOCAL: OnceCell<Engines> = OnceCell::const_new();

#[derive(Debug, Clone, Copy)]
pub enum DynamoEngine {
    Dynoxide,
    DynamoDbLocal,
}

pub async fn engines(which: DynamoEngine) -> &'static Engines {
    match which {
        DynamoEngine::Dynoxide => {
            EMBEDDED
                .get_or_init(|| async {
                    Engines::start(&Plan::embedded())
                        .await
                        .expect("embedded engines")
                })
                .await
        }
        DynamoEngine::DynamoDbLocal => {
            DYNAMODB_LOCAL
                .get_or_init(|| async {
                    let plan = Plan::embedded().with(Engine::DynamoDb, Provisioner::Local);
                    Engines::start(&plan).await.expect("DynamoDB Local")
                })
                .await
        }
    }
}

/// A fresh sandbox with the app installed on it.
pub async fn installed(which: DynamoEngine, mode: Mode) -> (Sandbox, App) {
    let sandbox = Sandbox::open(engines(which).await, cutover_backends::new_run_id())
        .await
        .expect("sandbox");
    let app = App::install(&sandbox, mode).await.expect("install the app");
    (sandbox, app)
}
