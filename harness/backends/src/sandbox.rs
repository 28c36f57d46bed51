//! One run's private corner of the engines: its own PostgreSQL database, and the
//! DynamoDB tables and S3 buckets named with its run id.

use std::time::Duration;

use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use cutover_core::naming::RunId;
use cutover_core::provision::Engine;
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, Connection, PgPool};

use crate::aws::AwsEndpoint;
use crate::engines::Engines;
use crate::error::{BackendError, error_chain};

/// Clients bound to one run. Create tables and buckets with [`Sandbox::table_name`]
/// and [`Sandbox::bucket_name`] so cleanup finds them. Dropping the sandbox (or
/// [`Sandbox::close`], which reports) drops the database and deletes every table
/// and bucket the run created, objects included — never what its id already
/// named when it was opened (a reopened run's, or another process's).
pub struct Sandbox {
    pub run_id: RunId,
    pub pg: PgPool,
    /// Connection URL of the run's database.
    pub pg_url: String,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub dynamodb_endpoint: AwsEndpoint,
    pub s3_endpoint: AwsEndpoint,
    targets: Option<CleanupTargets>,
}

/// Everything cleanup needs, as plain data, so it can run on any runtime.
#[derive(Clone)]
struct CleanupTargets {
    run_id: RunId,
    pg_admin_url: String,
    dynamodb: AwsEndpoint,
    s3: AwsEndpoint,
    /// What the run's id already named when it was reopened: never removed
    /// by this run's cleanup, which removes only what the run created.
    kept: Existing,
}

/// The database, tables and buckets a run id names on the engines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Existing {
    database: bool,
    tables: Vec<String>,
    buckets: Vec<String>,
}

impl Existing {
    fn is_empty(&self) -> bool {
        !self.database && self.tables.is_empty() && self.buckets.is_empty()
    }

    fn describe(&self, run_id: &RunId) -> Vec<String> {
        let mut out = Vec::new();
        if self.database {
            out.push(format!("database {}", run_id.postgres_database()));
        }
        out.extend(self.tables.iter().map(|t| format!("table {t}")));
        out.extend(self.buckets.iter().map(|b| format!("bucket {b}")));
        out
    }
}

/// Whether a sandbox may use what its run id already names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reopen {
    /// Refuse a run id that already has resources (the default).
    #[default]
    No,
    /// Use them, and keep them when the run ends.
    Yes,
}

/// What [`Sandbox::close`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CleanupReport {
    pub database_dropped: bool,
    pub tables_deleted: Vec<String>,
    pub buckets_deleted: Vec<String>,
    pub objects_deleted: usize,
}

impl Sandbox {
    /// Creates the run's database and returns clients for it. A run id that
    /// already names a database, table or bucket is refused
    /// ([`BackendError::RunExists`]); see [`Sandbox::open_with`].
    pub async fn open(engines: &Engines, run_id: RunId) -> Result<Sandbox, BackendError> {
        Sandbox::open_with(engines, run_id, Reopen::No).await
    }

    /// [`Sandbox::open`]; with [`Reopen::Yes`] a run id that already has
    /// resources is accepted, and what it had is kept when this run ends:
    /// cleanup removes only what this run created.
    pub async fn open_with(
        engines: &Engines,
        run_id: RunId,
        reopen: Reopen,
    ) -> Result<Sandbox, BackendError> {
        let database = run_id.postgres_database();
        let admin_url = engines.postgres().admin_url.clone();
        let dynamodb_endpoint = engines.dynamodb().endpoint.clone();
        let s3_endpoint = engines.s3().endpoint.clone();
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .map_err(|err| BackendError::operation(Engine::Postgres, "connecting as admin", err))?;
        let database_exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(&database)
                .fetch_one(&mut admin)
                .await
                .map_err(|err| {
                    BackendError::operation(Engine::Postgres, "listing databases", err)
                })?;
        let existing = Existing {
            database: database_exists,
            tables: owned_tables(&run_id, &dynamodb_endpoint).await?,
            buckets: owned_buckets(&run_id, &s3_endpoint).await?,
        };
        if !existing.is_empty() && reopen == Reopen::No {
            let _ = admin.close().await;
            return Err(BackendError::RunExists {
                run_id: run_id.to_string(),
                existing: existing.describe(&run_id),
            });
        }
        if !existing.database {
            sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{database}\"")))
                .execute(&mut admin)
                .await
                .map_err(|err| {
                    BackendError::operation(
                        Engine::Postgres,
                        format!("creating database {database}"),
                        err,
                    )
                })?;
        }
        let _ = admin.close().await;

        let pg_url = engines.postgres().database_url(&database);
        let pg = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect(&pg_url)
            .await
            .map_err(|err| {
                BackendError::operation(Engine::Postgres, format!("connecting to {database}"), err)
            })?;
        Ok(Sandbox {
            dynamodb: dynamodb_endpoint.dynamodb_client().await,
            s3: s3_endpoint.s3_client().await,
            targets: Some(CleanupTargets {
                run_id: run_id.clone(),
                pg_admin_url: admin_url,
                dynamodb: dynamodb_endpoint.clone(),
                s3: s3_endpoint.clone(),
                kept: existing,
            }),
            run_id,
            pg,
            pg_url,
            dynamodb_endpoint,
            s3_endpoint,
        })
    }

    /// The run's DynamoDB table for `purpose` (panics on an invalid purpose: those are
    /// compile-time constants of the harness).
    pub fn table_name(&self, purpose: &str) -> String {
        self.run_id
            .dynamodb_table(purpose)
            .expect("table purposes are valid constants")
    }

    /// The run's S3 bucket for `purpose`.
    pub fn bucket_name(&self, purpose: &str) -> String {
        self.run_id
            .s3_bucket(purpose)
            .expect("bucket purposes are valid constants")
    }

    /// Removes everything the run created and says what that was.
    pub async fn close(mut self) -> Result<CleanupReport, BackendError> {
        self.pg.close().await;
        let targets = self.targets.take().expect("cleanup runs once");
        cleanup(&targets).await
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let Some(targets) = self.targets.take() else {
            return;
        };
        // Clients belong to the caller's runtime, which may be shutting down:
        // clean up on a thread of our own with fresh clients.
        let outcome = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            Some(runtime.block_on(cleanup(&targets)))
        })
        .join();
        match outcome {
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(error))) => tracing::warn!(%error, "sandbox cleanup failed"),
            _ => tracing::warn!("sandbox cleanup could not run"),
        }
    }
}

async fn cleanup(targets: &CleanupTargets) -> Result<CleanupReport, BackendError> {
    let mut report = CleanupReport::default();
    let mut errors = Vec::new();
    if !targets.kept.database {
        match drop_database(targets).await {
            Ok(()) => report.database_dropped = true,
            Err(error) => errors.push(error),
        }
    }
    match delete_tables(targets).await {
        Ok(tables) => report.tables_deleted = tables,
        Err(error) => errors.push(error),
    }
    match delete_buckets(targets).await {
        Ok((buckets, objects)) => {
            report.buckets_deleted = buckets;
            report.objects_deleted = objects;
        }
        Err(error) => errors.push(error),
    }
    if errors.is_empty() {
        Ok(report)
    } else {
        Err(BackendError::several(errors))
    }
}

async fn drop_database(targets: &CleanupTargets) -> Result<(), BackendError> {
    let database = targets.run_id.postgres_database();
    let mut admin = sqlx::PgConnection::connect(&targets.pg_admin_url)
        .await
        .map_err(|err| BackendError::operation(Engine::Postgres, "connecting as admin", err))?;
    // FORCE ends sessions a caller forgot to close (PostgreSQL 13+).
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .map_err(|err| {
        BackendError::operation(
            Engine::Postgres,
            format!("dropping database {database}"),
            err,
        )
    })?;
    let _ = admin.close().await;
    Ok(())
}

/// The tables the run id names.
async fn owned_tables(run_id: &RunId, endpoint: &AwsEndpoint) -> Result<Vec<String>, BackendError> {
    let client = endpoint.dynamodb_client().await;
    let mut owned = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .list_tables()
            .set_exclusive_start_table_name(start)
            .send()
            .await
            .map_err(|err| {
                BackendError::operation(Engine::DynamoDb, "listing tables", error_chain(&err))
            })?;
        owned.extend(
            page.table_names()
                .iter()
                .filter(|name| run_id.owns(name))
                .cloned(),
        );
        start = page.last_evaluated_table_name().map(str::to_owned);
        if start.is_none() {
            return Ok(owned);
        }
    }
}

/// The buckets the run id names.
async fn owned_buckets(
    run_id: &RunId,
    endpoint: &AwsEndpoint,
) -> Result<Vec<String>, BackendError> {
    let client = endpoint.s3_client().await;
    let buckets =
        client.list_buckets().send().await.map_err(|err| {
            BackendError::operation(Engine::S3, "listing buckets", error_chain(&err))
        })?;
    Ok(buckets
        .buckets()
        .iter()
        .filter_map(|bucket| bucket.name())
        .filter(|name| run_id.owns(name))
        .map(str::to_owned)
        .collect())
}

async fn delete_tables(targets: &CleanupTargets) -> Result<Vec<String>, BackendError> {
    let client = targets.dynamodb.dynamodb_client().await;
    let created: Vec<String> = owned_tables(&targets.run_id, &targets.dynamodb)
        .await?
        .into_iter()
        .filter(|table| !targets.kept.tables.contains(table))
        .collect();
    for table in &created {
        client
            .delete_table()
            .table_name(table)
            .send()
            .await
            .map_err(|err| {
                BackendError::operation(
                    Engine::DynamoDb,
                    format!("deleting table {table}"),
                    error_chain(&err),
                )
            })?;
    }
    Ok(created)
}

async fn delete_buckets(targets: &CleanupTargets) -> Result<(Vec<String>, usize), BackendError> {
    let client = targets.s3.s3_client().await;
    let failed = |action: String, err: &dyn std::error::Error| -> BackendError {
        BackendError::operation(Engine::S3, action, error_chain(err))
    };
    let owned: Vec<String> = owned_buckets(&targets.run_id, &targets.s3)
        .await?
        .into_iter()
        .filter(|bucket| !targets.kept.buckets.contains(bucket))
        .collect();
    let mut objects_deleted = 0;
    for bucket in &owned {
        // Unfinished multipart uploads keep a bucket from being deleted on AWS.
        if let Ok(uploads) = client.list_multipart_uploads().bucket(bucket).send().await {
            for upload in uploads.uploads() {
                if let (Some(key), Some(id)) = (upload.key(), upload.upload_id()) {
                    let _ = client
                        .abort_multipart_upload()
                        .bucket(bucket)
                        .key(key)
                        .upload_id(id)
                        .send()
                        .await;
                }
            }
        }
        let mut pages = client
            .list_objects_v2()
            .bucket(bucket)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| failed(format!("listing objects of {bucket}"), &err))?;
            let keys: Vec<ObjectIdentifier> = page
                .contents()
                .iter()
                .filter_map(|object| object.key())
                .filter_map(|key| ObjectIdentifier::builder().key(key).build().ok())
                .collect();
            if keys.is_empty() {
                continue;
            }
            let count = keys.len();
            let delete = Delete::builder()
                .set_objects(Some(keys))
                .quiet(true)
                .build()
                .map_err(|err| failed(format!("building a delete of {bucket}"), &err))?;
            client
                .delete_objects()
                .bucket(bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|err| failed(format!("deleting objects of {bucket}"), &err))?;
            objects_deleted += count;
        }
        client
            .delete_bucket()
            .bucket(bucket)
            .send()
            .await
            .map_err(|err| failed(format!("deleting bucket {bucket}"), &err))?;
    }
    Ok((owned, objects_deleted))
}
