//! PostgreSQL: the ephemeral local cluster, a container, or an existing server.

pub(crate) mod ephemeral;

use cutover_core::provision::{Engine, EngineLayer, Provisioner};
use testcontainers_modules::postgres::Postgres as PostgresImage;
use testcontainers_modules::testcontainers::{ContainerAsync, ImageExt};

use crate::error::BackendError;
use ephemeral::EphemeralCluster;
pub use ephemeral::ServerBinaries;

/// Pinned so every run tests against the same server.
pub const CONTAINER_TAG: &str = "16-alpine";

/// A running PostgreSQL server the harness may create databases on.
pub struct PostgresEngine {
    pub provisioner: Provisioner,
    /// Superuser connection to the `postgres` maintenance database.
    pub admin_url: String,
    guard: Guard,
}

enum Guard {
    Ephemeral(EphemeralCluster),
    Container(Box<ContainerAsync<PostgresImage>>),
    Endpoint,
}

impl PostgresEngine {
    pub(crate) async fn start(
        provisioner: Provisioner,
        settings: &EngineLayer,
    ) -> Result<PostgresEngine, BackendError> {
        match provisioner {
            Provisioner::Embedded => {
                let binaries = ServerBinaries::locate(settings.dir.as_deref())?;
                let cluster = EphemeralCluster::start(&binaries).await?;
                Ok(PostgresEngine {
                    provisioner,
                    admin_url: cluster.admin_url(),
                    guard: Guard::Ephemeral(cluster),
                })
            }
            Provisioner::Containers => {
                let (container, address) = crate::docker::start_published(
                    Engine::Postgres,
                    PostgresImage::default().with_tag(CONTAINER_TAG),
                    5432,
                )
                .await?;
                Ok(PostgresEngine {
                    provisioner,
                    admin_url: format!("postgres://postgres:postgres@{address}/postgres"),
                    guard: Guard::Container(Box::new(container)),
                })
            }
            Provisioner::Endpoint => {
                let admin_url = settings.endpoint.clone().ok_or_else(|| BackendError::MissingPrerequisite {
                    engine: Engine::Postgres,
                    provisioner,
                    what: "a server URL".to_owned(),
                    remedy: "set CUTOVER_PG_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres) or [backends.postgres] endpoint in cutover.toml".to_owned(),
                })?;
                // Fail now, naming the URL, rather than at the first query.
                use sqlx::Connection;
                let connection = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .map_err(|err| {
                        BackendError::startup(
                            Engine::Postgres,
                            provisioner,
                            format!("cannot connect to {}: {err}", redact_password(&admin_url)),
                        )
                    })?;
                let _ = connection.close().await;
                Ok(PostgresEngine {
                    provisioner,
                    admin_url,
                    guard: Guard::Endpoint,
                })
            }
            Provisioner::Auto | Provisioner::Local => {
                unreachable!("resolved before start: {provisioner}")
            }
        }
    }

    /// The URL of `database` on this server.
    pub fn database_url(&self, database: &str) -> String {
        with_database(&self.admin_url, database)
    }

    /// The data directory and server pid, for an ephemeral cluster that is running.
    pub fn ephemeral_details(&self) -> Option<(std::path::PathBuf, u32)> {
        match &self.guard {
            Guard::Ephemeral(cluster) => Some((cluster.data_dir(), cluster.pid()?)),
            _ => None,
        }
    }

    /// Crashes the server and starts it again over the same data (see
    /// `Engines::restart`). Only a server the harness owns can be restarted.
    pub(crate) async fn restart_abruptly(
        &self,
        down: std::time::Duration,
        engine_runtime: &tokio::runtime::Handle,
    ) -> Result<String, BackendError> {
        match &self.guard {
            Guard::Ephemeral(cluster) => cluster.restart_abruptly(down, engine_runtime).await,
            Guard::Container(_) | Guard::Endpoint => Err(BackendError::Operation {
                engine: Engine::Postgres,
                action: format!("restarting a {} server", self.provisioner),
                detail: "only the embedded server can be restarted in place (a container's port changes, an endpoint is not ours); run with CUTOVER_POSTGRES=embedded".into(),
            }),
        }
    }

    pub(crate) async fn stop(self) {
        if let Guard::Container(container) = self.guard {
            let _ = (*container).rm().await;
        }
    }
}

/// Replaces the database path of a PostgreSQL URL, keeping its query string.
pub(crate) fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let authority_end = base[after_scheme..]
        .find('/')
        .map(|i| after_scheme + i)
        .unwrap_or(base.len());
    let mut result = format!("{}/{database}", &base[..authority_end]);
    if let Some(query) = query {
        result.push('?');
        result.push_str(query);
    }
    result
}

/// The URL with any password replaced, for messages.
pub fn redact_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let Some(at) = rest.find('@') else {
        return url.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end], &rest[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_is_swapped_in_urls() {
        assert_eq!(
            with_database("postgres://u@h:5/postgres", "x"),
            "postgres://u@h:5/x"
        );
        assert_eq!(with_database("postgres://u@h:5", "x"), "postgres://u@h:5/x");
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_password("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_password("postgres://u@h/db"), "postgres://u@h/db");
    }
}
