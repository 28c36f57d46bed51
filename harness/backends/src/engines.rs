use std::time::{Duration, Instant};

use cutover_core::provision::{Engine, Provisioner};

use crate::dynamodb::DynamoDbEngine;
use crate::error::BackendError;
use crate::postgres::PostgresEngine;
use crate::runtime::EngineRuntime;
use crate::s3::S3Engine;
use crate::settings::Plan;

/// The three running engines. Dropping it stops what it started (processes,
/// in-process servers, containers) and removes their scratch directories;
/// engines it merely connected to (endpoints) are left running.
pub struct Engines {
    parts: Option<Parts>,
    /// Wall time each engine took to become ready, in start order.
    pub startup: Vec<(Engine, Duration)>,
    runtime: EngineRuntime,
}

/// What `Engines::restart` did.
#[derive(Debug, Clone)]
pub struct Restarted {
    pub engine: Engine,
    /// How it was stopped and started, in words, for reports.
    pub how: String,
    /// From the stop until the engine answered again.
    pub unavailable: Duration,
}

struct Parts {
    postgres: PostgresEngine,
    dynamodb: DynamoDbEngine,
    s3: S3Engine,
}

impl Parts {
    async fn stop(self) {
        tokio::join!(self.postgres.stop(), self.dynamodb.stop(), self.s3.stop());
    }
}

/// A task's output, re-raising its panic in the caller.
fn unwind<T>(joined: Result<T, tokio::task::JoinError>) -> T {
    match joined {
        Ok(value) => value,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}

fn timed<T>(engine: Engine, began: Instant, result: T) -> (T, (Engine, Duration)) {
    (result, (engine, began.elapsed()))
}

impl Engines {
    /// Starts the three engines of `plan` in parallel on the engine runtime.
    /// If any fails, the others are stopped again and every failure is reported.
    pub async fn start(plan: &Plan) -> Result<Engines, BackendError> {
        let runtime = EngineRuntime::start().map_err(BackendError::io(
            "starting the engine runtime thread",
            "cutover-engines",
        ))?;
        let plan = plan.clone();
        let (parts, startup) = runtime
            .run(async move {
                let region = plan.settings.region.clone();
                let began = Instant::now();
                // Separate tasks, so a slow start (initdb, a JVM) never holds up the others.
                let postgres = tokio::spawn({
                    let settings = plan.settings.postgres.clone();
                    async move {
                        timed(
                            Engine::Postgres,
                            began,
                            PostgresEngine::start(plan.postgres, &settings).await,
                        )
                    }
                });
                let dynamodb = tokio::spawn({
                    let (settings, region) = (plan.settings.dynamodb.clone(), region.clone());
                    async move {
                        timed(
                            Engine::DynamoDb,
                            began,
                            DynamoDbEngine::start(plan.dynamodb, &settings, region.as_deref())
                                .await,
                        )
                    }
                });
                let s3 = tokio::spawn({
                    let (settings, region) = (plan.settings.s3.clone(), region.clone());
                    async move {
                        timed(
                            Engine::S3,
                            began,
                            S3Engine::start(plan.s3, &settings, region.as_deref()).await,
                        )
                    }
                });
                let (postgres, dynamodb, s3) = tokio::join!(postgres, dynamodb, s3);
                let ((postgres, pg_time), (dynamodb, ddb_time), (s3, s3_time)) =
                    (unwind(postgres), unwind(dynamodb), unwind(s3));
                let startup = vec![pg_time, ddb_time, s3_time];
                match (postgres, dynamodb, s3) {
                    (Ok(postgres), Ok(dynamodb), Ok(s3)) => Ok((
                        Parts {
                            postgres,
                            dynamodb,
                            s3,
                        },
                        startup,
                    )),
                    (postgres, dynamodb, s3) => {
                        let mut errors = Vec::new();
                        match postgres {
                            Ok(engine) => engine.stop().await,
                            Err(error) => errors.push(error),
                        }
                        match dynamodb {
                            Ok(engine) => engine.stop().await,
                            Err(error) => errors.push(error),
                        }
                        match s3 {
                            Ok(engine) => engine.stop().await,
                            Err(error) => errors.push(error),
                        }
                        Err(BackendError::several(errors))
                    }
                }
            })
            .await?;
        Ok(Engines {
            parts: Some(parts),
            startup,
            runtime,
        })
    }

    fn parts(&self) -> &Parts {
        self.parts
            .as_ref()
            .expect("engines are running until dropped")
    }

    pub fn postgres(&self) -> &PostgresEngine {
        &self.parts().postgres
    }

    pub fn dynamodb(&self) -> &DynamoDbEngine {
        &self.parts().dynamodb
    }

    pub fn s3(&self) -> &S3Engine {
        &self.parts().s3
    }

    /// Takes `engine` down abruptly — a crash, not a clean shutdown — and starts
    /// it again after `down` on the same endpoint with the same data, for fault
    /// injection. Clients see broken connections and refused requests meanwhile.
    /// Returns once the engine answers again. Only engines the harness runs
    /// itself can be restarted: the embedded and local provisioners of
    /// PostgreSQL and DynamoDB (S3 failures are injected at the SDK instead).
    pub async fn restart(&self, engine: Engine, down: Duration) -> Result<Restarted, BackendError> {
        let began = Instant::now();
        let runtime = self.runtime.handle();
        let how = match engine {
            Engine::Postgres => self.postgres().restart_abruptly(down, runtime).await?,
            Engine::DynamoDb => self.dynamodb().restart_abruptly(down, runtime).await?,
            Engine::S3 => {
                return Err(BackendError::Operation {
                    engine,
                    action: "restarting the S3 store".into(),
                    detail: "not supported: inject S3 failures through the SDK (s3-server-error, s3-timeout)".into(),
                });
            }
        };
        Ok(Restarted {
            engine,
            how,
            unavailable: began.elapsed(),
        })
    }

    pub fn provisioner(&self, engine: Engine) -> Provisioner {
        match engine {
            Engine::Postgres => self.postgres().provisioner,
            Engine::DynamoDb => self.dynamodb().provisioner,
            Engine::S3 => self.s3().provisioner,
        }
    }
}

impl Engines {
    /// Stops every engine and waits until they are down, without blocking
    /// the caller's async runtime (dropping `Engines` blocks the thread it is
    /// dropped on until they stop, which on a runtime thread stalls its tasks).
    pub async fn shutdown(self) {
        if tokio::runtime::Handle::try_current().is_err() {
            drop(self);
            return;
        }
        if let Err(error) = tokio::task::spawn_blocking(move || drop(self)).await
            && error.is_panic()
        {
            std::panic::resume_unwind(error.into_panic());
        }
    }
}

impl Drop for Engines {
    fn drop(&mut self) {
        if let Some(parts) = self.parts.take() {
            self.runtime.shutdown_with(parts.stop());
        }
    }
}
