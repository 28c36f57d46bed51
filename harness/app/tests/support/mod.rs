//! Shared engines for the app tests: one embedded set (Dynoxide) and one with
//! DynamoDB Local, each started once per test binary; every test opens its own
//! sandbox on them.

#![allow(dead_code)]

use cutover_app::{App, Mode};
use cutover_backends::{Engines, Plan, Sandbox};
use cutover_core::naming::RunId;
use cutover_core::provision::{Engine, Provisioner};
use tokio::sync::OnceCell;

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
    let sandbox = Sandbox::open(engines(which).await, RunId::generate())
        .await
        .expect("sandbox");
    let app = App::install(&sandbox, mode).await.expect("install the app");
    (sandbox, app)
}
