//! S3: an in-process s3s-fs server, a MinIO container, or an existing endpoint.

mod embedded;

use cutover_core::provision::{Engine, EngineLayer, Provisioner};
use testcontainers_modules::minio::MinIO;
use testcontainers_modules::testcontainers::ContainerAsync;

use crate::aws::{AwsEndpoint, StaticCredentials};
use crate::error::BackendError;

/// A running S3-compatible store.
pub struct S3Engine {
    pub provisioner: Provisioner,
    pub endpoint: AwsEndpoint,
    pub engine_name: String,
    guard: Guard,
}

enum Guard {
    Embedded(embedded::EmbeddedS3),
    Container(Box<ContainerAsync<MinIO>>),
    Endpoint,
}

impl S3Engine {
    pub(crate) async fn start(
        provisioner: Provisioner,
        settings: &EngineLayer,
        region: Option<&str>,
    ) -> Result<S3Engine, BackendError> {
        match provisioner {
            Provisioner::Embedded => {
                let server = embedded::EmbeddedS3::start().await?;
                Ok(S3Engine {
                    provisioner,
                    endpoint: server.endpoint(),
                    engine_name: "s3s-fs".to_owned(),
                    guard: Guard::Embedded(server),
                })
            }
            Provisioner::Containers => {
                let (container, address) =
                    crate::docker::start_published(Engine::S3, MinIO::default(), 9000).await?;
                Ok(S3Engine {
                    provisioner,
                    endpoint: AwsEndpoint::local(
                        format!("http://{address}"),
                        StaticCredentials::new("minioadmin", "minioadmin"),
                    ),
                    engine_name: "MinIO (container)".to_owned(),
                    guard: Guard::Container(Box::new(container)),
                })
            }
            Provisioner::Endpoint => {
                let endpoint = AwsEndpoint::existing(settings.endpoint.clone(), region);
                let engine_name = if endpoint.url.is_some() {
                    "S3 endpoint"
                } else {
                    "AWS S3"
                };
                Ok(S3Engine {
                    provisioner,
                    endpoint,
                    engine_name: engine_name.to_owned(),
                    guard: Guard::Endpoint,
                })
            }
            Provisioner::Auto | Provisioner::Local => {
                unreachable!("resolved before start: {provisioner}")
            }
        }
    }

    pub(crate) async fn stop(self) {
        match self.guard {
            Guard::Embedded(server) => server.stop().await,
            Guard::Container(container) => {
                let _ = (*container).rm().await;
            }
            Guard::Endpoint => {}
        }
    }
}
