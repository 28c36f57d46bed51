//! DynamoDB: Dynoxide in-process, DynamoDB Local (AWS's own engine) as a local
//! JVM process or a container, or an existing endpoint (including real AWS).

pub mod local;

use cutover_core::provision::{Engine, EngineLayer, Provisioner};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;
use testcontainers_modules::dynamodb_local::DynamoDb as DynamoDbLocalImage;
use testcontainers_modules::testcontainers::ContainerAsync;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::aws::{AwsEndpoint, local_credentials};
use crate::error::BackendError;

/// A running DynamoDB-compatible engine.
pub struct DynamoDbEngine {
    pub provisioner: Provisioner,
    pub endpoint: AwsEndpoint,
    /// What answers: "Dynoxide 3.2", "DynamoDB Local", "AWS".
    pub engine_name: String,
    guard: Guard,
}

enum Guard {
    Dynoxide(DynoxideServer),
    /// Held so the JVM stops when the engine is dropped.
    Local {
        _process: local::DynamoDbLocalProcess,
    },
    Container(Box<ContainerAsync<DynamoDbLocalImage>>),
    Endpoint,
}

impl DynamoDbEngine {
    pub(crate) async fn start(
        provisioner: Provisioner,
        settings: &EngineLayer,
        region: Option<&str>,
    ) -> Result<DynamoDbEngine, BackendError> {
        let startup = |detail: String| BackendError::startup(Engine::DynamoDb, provisioner, detail);
        match provisioner {
            Provisioner::Embedded => {
                let db = dynoxide::Database::memory()
                    .map_err(|err| startup(format!("in-memory database: {err}")))?;
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|err| startup(format!("binding a loopback port: {err}")))?;
                let server =
                    DynoxideServer::serve(db, listener).map_err(|err| startup(err.to_string()))?;
                Ok(DynamoDbEngine {
                    provisioner,
                    endpoint: AwsEndpoint::local(
                        format!("http://{}", server.address),
                        local_credentials(),
                    ),
                    engine_name: "Dynoxide".to_owned(),
                    guard: Guard::Dynoxide(server),
                })
            }
            Provisioner::Local => {
                let install = local::Installation::locate_or_fetch(settings.dir.as_deref()).await?;
                let process = local::DynamoDbLocalProcess::start(&install).await?;
                Ok(DynamoDbEngine {
                    provisioner,
                    endpoint: process.endpoint(),
                    engine_name: "DynamoDB Local".to_owned(),
                    guard: Guard::Local { _process: process },
                })
            }
            Provisioner::Containers => {
                let (container, address) = crate::docker::start_published(
                    Engine::DynamoDb,
                    DynamoDbLocalImage::default(),
                    8000,
                )
                .await?;
                let endpoint = AwsEndpoint::local(format!("http://{address}"), local_credentials());
                local::wait_until_answering(&endpoint, None).await?;
                Ok(DynamoDbEngine {
                    provisioner,
                    endpoint,
                    engine_name: "DynamoDB Local (container)".to_owned(),
                    guard: Guard::Container(Box::new(container)),
                })
            }
            Provisioner::Endpoint => {
                let endpoint = AwsEndpoint::existing(settings.endpoint.clone(), region);
                let engine_name = if endpoint.url.is_some() {
                    "DynamoDB endpoint"
                } else {
                    "AWS DynamoDB"
                };
                Ok(DynamoDbEngine {
                    provisioner,
                    endpoint,
                    engine_name: engine_name.to_owned(),
                    guard: Guard::Endpoint,
                })
            }
            Provisioner::Auto => unreachable!("resolved before start"),
        }
    }

    /// Takes the engine down abruptly and brings it back on the same endpoint
    /// with its data, after `down` (see `Engines::restart`).
    pub(crate) async fn restart_abruptly(
        &self,
        down: Duration,
        engine_runtime: &tokio::runtime::Handle,
    ) -> Result<String, BackendError> {
        match &self.guard {
            Guard::Dynoxide(server) => server.restart(down, engine_runtime).await,
            Guard::Local { _process: process } => process.restart(down, engine_runtime).await,
            Guard::Container(_) | Guard::Endpoint => Err(BackendError::Operation {
                engine: Engine::DynamoDb,
                action: format!("restarting a {} engine", self.provisioner),
                detail: "only Dynoxide (embedded) and DynamoDB Local (local) can be restarted in place; run with CUTOVER_DYNAMODB=embedded or local".into(),
            }),
        }
    }

    pub(crate) async fn stop(self) {
        match self.guard {
            Guard::Dynoxide(server) => server.shutdown().await,
            Guard::Container(container) => {
                let _ = (*container).rm().await;
            }
            Guard::Local { .. } | Guard::Endpoint => {}
        }
    }
}

/// Dynoxide serving one in-memory database on a loopback port. The database
/// outlives the HTTP server, so the server can be stopped and started again on
/// the same port with the data intact, as a restarted process with a data file.
struct DynoxideServer {
    db: dynoxide::Database,
    address: SocketAddr,
    running: Mutex<Option<(oneshot::Sender<()>, JoinHandle<()>)>>,
}

/// How long a stopping server may take to finish the requests it is serving.
const DYNOXIDE_STOP_GRACE: Duration = Duration::from_secs(5);

impl DynoxideServer {
    fn serve(
        db: dynoxide::Database,
        listener: tokio::net::TcpListener,
    ) -> std::io::Result<DynoxideServer> {
        let address = listener.local_addr()?;
        let running = Self::spawn(db.clone(), listener, &tokio::runtime::Handle::current());
        Ok(DynoxideServer {
            db,
            address,
            running: Mutex::new(Some(running)),
        })
    }

    fn spawn(
        db: dynoxide::Database,
        listener: tokio::net::TcpListener,
        runtime: &tokio::runtime::Handle,
    ) -> (oneshot::Sender<()>, JoinHandle<()>) {
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = runtime.spawn(async move {
            let stopped = async move {
                let _ = stopped.await;
            };
            if let Err(error) = dynoxide::server::serve_with_shutdown(listener, db, stopped).await {
                tracing::error!(%error, "Dynoxide server stopped");
            }
        });
        (shutdown, task)
    }

    /// Stops serving; connections still open after the grace period are cut.
    async fn shutdown(&self) {
        let running = self.running.lock().expect("server lock").take();
        if let Some((shutdown, mut task)) = running {
            let _ = shutdown.send(());
            if tokio::time::timeout(DYNOXIDE_STOP_GRACE, &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }

    async fn restart(
        &self,
        down: Duration,
        runtime: &tokio::runtime::Handle,
    ) -> Result<String, BackendError> {
        let failed = |detail: String| BackendError::Operation {
            engine: Engine::DynamoDb,
            action: "restarting Dynoxide".into(),
            detail,
        };
        self.shutdown().await;
        tokio::time::sleep(down).await;
        let listener = tokio::net::TcpListener::bind(self.address)
            .await
            .map_err(|err| failed(format!("binding {} again: {err}", self.address)))?;
        let running = Self::spawn(self.db.clone(), listener, runtime);
        *self.running.lock().expect("server lock") = Some(running);
        Ok(format!(
            "Dynoxide's HTTP server stopped (open connections cut) and started again on {} over the same in-memory database",
            self.address
        ))
    }
}
