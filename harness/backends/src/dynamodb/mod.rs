//! DynamoDB: Dynoxide in-process, DynamoDB Local (AWS's own engine) as a local
//! JVM process or a container, or an existing endpoint (including real AWS).

pub mod local;

use cutover_core::provision::{Engine, EngineLayer, Provisioner};
use testcontainers_modules::dynamodb_local::DynamoDb as DynamoDbLocalImage;
use testcontainers_modules::testcontainers::{ContainerAsync, runners::AsyncRunner};
use tokio::sync::oneshot;

use crate::aws::{AwsEndpoint, StaticCredentials};
use crate::error::{BackendError, error_chain};

/// Local engines accept any signature; one fixed key keeps DynamoDB Local's
/// per-key databases from splitting (it also runs with `-sharedDb`).
pub fn local_credentials() -> StaticCredentials {
    StaticCredentials::new("cutover", "cutover-secret")
}

/// A running DynamoDB-compatible engine.
pub struct DynamoDbEngine {
    pub provisioner: Provisioner,
    pub endpoint: AwsEndpoint,
    /// What answers: "Dynoxide 3.2", "DynamoDB Local", "AWS".
    pub engine_name: String,
    guard: Guard,
}

enum Guard {
    Dynoxide {
        shutdown: oneshot::Sender<()>,
    },
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
                let address = listener
                    .local_addr()
                    .map_err(|err| startup(err.to_string()))?;
                let (shutdown, stopped) = oneshot::channel::<()>();
                tokio::spawn(async move {
                    let stopped = async move {
                        let _ = stopped.await;
                    };
                    if let Err(error) =
                        dynoxide::server::serve_with_shutdown(listener, db, stopped).await
                    {
                        tracing::error!(%error, "Dynoxide server stopped");
                    }
                });
                Ok(DynamoDbEngine {
                    provisioner,
                    endpoint: AwsEndpoint::local(format!("http://{address}"), local_credentials()),
                    engine_name: "Dynoxide".to_owned(),
                    guard: Guard::Dynoxide { shutdown },
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
                crate::docker::require(Engine::DynamoDb)?;
                let container = DynamoDbLocalImage::default()
                    .start()
                    .await
                    .map_err(|err| startup(error_chain(&err)))?;
                let host = container
                    .get_host()
                    .await
                    .map_err(|err| startup(err.to_string()))?;
                let port = container
                    .get_host_port_ipv4(8000)
                    .await
                    .map_err(|err| startup(err.to_string()))?;
                let endpoint =
                    AwsEndpoint::local(format!("http://{host}:{port}"), local_credentials());
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

    pub(crate) async fn stop(self) {
        match self.guard {
            Guard::Dynoxide { shutdown } => {
                let _ = shutdown.send(());
            }
            Guard::Container(container) => {
                let _ = (*container).rm().await;
            }
            Guard::Local { .. } | Guard::Endpoint => {}
        }
    }
}
