//! An S3 server in-process: s3s's protocol layer over s3s-fs's file store in a
//! scratch directory, served over HTTP on a loopback port and checked with SigV4,
//! so `aws-sdk-s3` talks to it exactly as it would to AWS.

use std::time::Duration;

use cutover_core::provision::{Engine, Provisioner};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnectionBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::sync::oneshot;

use crate::aws::{AwsEndpoint, StaticCredentials};
use crate::error::BackendError;
use crate::scratch::ScratchDir;

const ACCESS_KEY: &str = "cutover";
const SECRET_KEY: &str = "cutover-secret";

pub(crate) struct EmbeddedS3 {
    address: std::net::SocketAddr,
    shutdown: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
    // Dropped after the server has stopped.
    _scratch: ScratchDir,
}

impl EmbeddedS3 {
    pub(crate) async fn start() -> Result<EmbeddedS3, BackendError> {
        let startup =
            |detail: String| BackendError::startup(Engine::S3, Provisioner::Embedded, detail);
        let scratch = ScratchDir::create("s3")?;
        let root = scratch.path().join("objects");
        std::fs::create_dir_all(&root).map_err(BackendError::io("creating", &root))?;
        let store = s3s_fs::FileSystem::new(&root)
            .map_err(|err| startup(format!("s3s-fs on {}: {err:?}", root.display())))?;
        let service = {
            let mut builder = S3ServiceBuilder::new(store);
            builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
            builder.build()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|err| startup(format!("binding a loopback port: {err}")))?;
        let address = listener
            .local_addr()
            .map_err(|err| startup(err.to_string()))?;
        let (shutdown, mut stopped) = oneshot::channel::<()>();

        let server = tokio::spawn(async move {
            let http = ConnectionBuilder::new(TokioExecutor::new());
            let graceful = hyper_util::server::graceful::GracefulShutdown::new();
            loop {
                let socket = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((socket, _)) => socket,
                        Err(error) => {
                            tracing::warn!(%error, "embedded S3: accept failed");
                            continue;
                        }
                    },
                    _ = &mut stopped => break,
                };
                let connection = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
            let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
        });

        Ok(EmbeddedS3 {
            address,
            shutdown,
            server,
            _scratch: scratch,
        })
    }

    pub(crate) fn endpoint(&self) -> AwsEndpoint {
        AwsEndpoint::local(
            format!("http://{}", self.address),
            StaticCredentials::new(ACCESS_KEY, SECRET_KEY),
        )
    }

    pub(crate) async fn stop(self) {
        let _ = self.shutdown.send(());
        let _ = self.server.await;
    }
}
