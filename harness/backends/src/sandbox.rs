//! One run's private corner of the engines: its own PostgreSQL database, and the
//! DynamoDB tables and S3 buckets named with its run id.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use cutover_core::naming::RunId;
use cutover_core::provision::{Engine, Provisioner};
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

/// A fresh run id from the OS's randomness (core's `RunId::from_random` reads none).
pub fn new_run_id() -> RunId {
    RunId::from_random(rand::random())
}

/// The tag key (tables) and marker object (buckets) that name a resource's owner.
pub const OWNER_TAG: &str = "cutover-owner";
/// The tag key that names the run a table belongs to.
pub const RUN_TAG: &str = "cutover-run-id";

/// Tables and buckets this sandbox created and claimed.
#[derive(Clone, Debug, Default)]
struct Claims {
    tables: Vec<String>,
    /// Claimed tables on a shared engine that has no tagging (DynamoDB Local
    /// answers `UnknownOperationException`): this record is all there is.
    untagged_tables: Vec<String>,
    buckets: Vec<String>,
}

/// Who may delete what on engines other processes can reach.
#[derive(Clone, Debug)]
struct Ownership {
    /// 128 random bits drawn when the sandbox opened: two processes (or two
    /// sandboxes) with one run id never share it.
    token: String,
    /// The DynamoDB engine is an endpoint (shared): delete only claimed tables
    /// whose owner tag is this token.
    dynamodb_shared: bool,
    /// The S3 store is an endpoint: delete only claimed buckets whose owner
    /// marker is this token.
    s3_shared: bool,
}

impl Ownership {
    /// The marker object's body: the run id, then the token.
    fn marker(&self, run_id: &RunId) -> String {
        format!("{run_id} {}", self.token)
    }
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
    ownership: Ownership,
    claims: Arc<Mutex<Claims>>,
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
    /// Run-named tables and buckets on a shared (endpoint) engine that this
    /// sandbox did not claim, or whose owner is another: left in place.
    pub left_to_their_owner: Vec<String>,
}

impl Sandbox {
    /// Creates the run's database and returns clients for it. A run id that
    /// already names a database, table or bucket is refused
    /// ([`BackendError::RunExists`]); see [`Sandbox::open_with`].
    pub async fn open(engines: &Engines, run_id: RunId) -> Result<Sandbox, BackendError> {
        Sandbox::open_with(engines, run_id, Reopen::No).await
    }

    /// Opens a fresh sandbox on `engines`, runs `work` in it and closes it
    /// whatever `work` returned: an error of `work` is the one reported, a
    /// failed clean-up only when `work` succeeded.
    pub async fn scoped<T, E>(
        engines: &Engines,
        work: impl AsyncFnOnce(&Sandbox) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<BackendError>,
    {
        let sandbox = Sandbox::open(engines, crate::new_run_id()).await?;
        let outcome = work(&sandbox).await;
        let cleanup = sandbox.close().await;
        let value = outcome?;
        cleanup?;
        Ok(value)
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
        let ownership = Ownership {
            token: format!("{:032x}", rand::random::<u128>()),
            dynamodb_shared: engines.dynamodb().provisioner == Provisioner::Endpoint,
            s3_shared: engines.s3().provisioner == Provisioner::Endpoint,
        };
        Ok(Sandbox {
            dynamodb: dynamodb_endpoint.dynamodb_client().await,
            s3: s3_endpoint.s3_client().await,
            targets: Some(CleanupTargets {
                run_id: run_id.clone(),
                pg_admin_url: admin_url,
                dynamodb: dynamodb_endpoint.clone(),
                s3: s3_endpoint.clone(),
                kept: existing,
                ownership,
                claims: Arc::new(Mutex::new(Claims::default())),
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

    /// Records that this sandbox created `table` (named with [`Sandbox::table_name`]);
    /// on a shared (endpoint) engine also tags it with the run id and this
    /// sandbox's owner token. Cleanup on a shared engine deletes only claimed
    /// tables still tagged with that token; on an engine this process started,
    /// every table the run id names that it did not find at open.
    pub async fn claim_table(&self, table: &str) -> Result<(), BackendError> {
        let targets = self.claiming(Engine::DynamoDb, "table", table)?;
        let tagged = if targets.ownership.dynamodb_shared {
            tag_table(&self.dynamodb, table, &targets.run_id, &targets.ownership).await?
        } else {
            true
        };
        let mut claims = targets.claims.lock().expect("claims lock");
        claims.tables.push(table.to_owned());
        if !tagged {
            tracing::warn!(
                table,
                "the DynamoDB endpoint has no tagging: cleanup relies on this process's record alone"
            );
            claims.untagged_tables.push(table.to_owned());
        }
        Ok(())
    }

    /// [`Sandbox::claim_table`] for a bucket: the owner is written as the
    /// marker object [`OWNER_TAG`] (any S3 has objects; not every one has
    /// bucket tagging).
    pub async fn claim_bucket(&self, bucket: &str) -> Result<(), BackendError> {
        let targets = self.claiming(Engine::S3, "bucket", bucket)?;
        if targets.ownership.s3_shared {
            self.s3
                .put_object()
                .bucket(bucket)
                .key(OWNER_TAG)
                .body(
                    targets
                        .ownership
                        .marker(&targets.run_id)
                        .into_bytes()
                        .into(),
                )
                .send()
                .await
                .map_err(|err| {
                    BackendError::operation(
                        Engine::S3,
                        format!("marking bucket {bucket} as this run's"),
                        error_chain(&err),
                    )
                })?;
        }
        targets
            .claims
            .lock()
            .expect("claims lock")
            .buckets
            .push(bucket.to_owned());
        Ok(())
    }

    /// The cleanup targets, once `name` is checked to be one of this run's.
    fn claiming(
        &self,
        engine: Engine,
        what: &str,
        name: &str,
    ) -> Result<&CleanupTargets, BackendError> {
        let targets = self.targets.as_ref().expect("claims precede cleanup");
        if !targets.run_id.owns(name) {
            return Err(BackendError::operation(
                engine,
                format!("claiming {what} {name}"),
                format!("the name is not run {}'s", targets.run_id),
            ));
        }
        Ok(targets)
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
        Ok((tables, left)) => {
            report.tables_deleted = tables;
            report.left_to_their_owner.extend(left);
        }
        Err(error) => errors.push(error),
    }
    match delete_buckets(targets).await {
        Ok((buckets, objects, left)) => {
            report.buckets_deleted = buckets;
            report.objects_deleted = objects;
            report.left_to_their_owner.extend(left);
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

/// Tags `table` with the run id and the owner token; false when the engine
/// has no tagging at all.
async fn tag_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    run_id: &RunId,
    ownership: &Ownership,
) -> Result<bool, BackendError> {
    let failed = |err: String| {
        BackendError::operation(Engine::DynamoDb, format!("tagging table {table}"), err)
    };
    let arn = table_arn(client, table).await?;
    let tag = |key: &str, value: &str| {
        aws_sdk_dynamodb::types::Tag::builder()
            .key(key)
            .value(value)
            .build()
            .map_err(|err| failed(error_chain(&err)))
    };
    match client
        .tag_resource()
        .resource_arn(arn)
        .tags(tag(RUN_TAG, run_id.as_str())?)
        .tags(tag(OWNER_TAG, &ownership.token)?)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(err) if err.code() == Some("UnknownOperationException") => Ok(false),
        Err(err) => Err(failed(error_chain(&err))),
    }
}

async fn table_arn(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<String, BackendError> {
    let described = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|err| {
            BackendError::operation(
                Engine::DynamoDb,
                format!("describing table {table}"),
                error_chain(&err),
            )
        })?;
    described
        .table()
        .and_then(|t| t.table_arn())
        .map(str::to_owned)
        .ok_or_else(|| {
            BackendError::operation(
                Engine::DynamoDb,
                format!("describing table {table}"),
                "the answer has no table ARN",
            )
        })
}

/// The owner token a table is tagged with, if any.
async fn table_owner(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<Option<String>, BackendError> {
    let arn = table_arn(client, table).await?;
    let tags = client
        .list_tags_of_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|err| {
            BackendError::operation(
                Engine::DynamoDb,
                format!("reading the tags of table {table}"),
                error_chain(&err),
            )
        })?;
    Ok(tags
        .tags()
        .iter()
        .find(|tag| tag.key() == OWNER_TAG)
        .map(|tag| tag.value().to_owned()))
}

/// What cleanup may delete of what the run id names: on an engine this
/// process started, all of it but what was there at open; on a shared one,
/// only what this sandbox claimed and still carries its owner token (a name
/// deleted and re-created by another process since is that process's).
/// Returns the deletable and the left.
fn partition_deletable(
    named: Vec<String>,
    kept: &[String],
    shared: bool,
    claimed: &[String],
) -> (Vec<String>, Vec<String>) {
    named
        .into_iter()
        .filter(|name| !kept.contains(name))
        .partition(|name| !shared || claimed.contains(name))
}

async fn delete_tables(
    targets: &CleanupTargets,
) -> Result<(Vec<String>, Vec<String>), BackendError> {
    let client = targets.dynamodb.dynamodb_client().await;
    let claimed = targets.claims.lock().expect("claims lock").tables.clone();
    let (candidates, mut left) = partition_deletable(
        owned_tables(&targets.run_id, &targets.dynamodb).await?,
        &targets.kept.tables,
        targets.ownership.dynamodb_shared,
        &claimed,
    );
    let untagged = targets
        .claims
        .lock()
        .expect("claims lock")
        .untagged_tables
        .clone();
    let mut created = Vec::new();
    for table in candidates {
        if targets.ownership.dynamodb_shared
            && !untagged.contains(&table)
            && table_owner(&client, &table).await?.as_deref() != Some(&targets.ownership.token)
        {
            left.push(table);
        } else {
            created.push(table);
        }
    }
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
    Ok((created, left))
}

/// The owner marker's body in `bucket`, if it has one.
async fn bucket_owner(
    client: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<Option<String>, BackendError> {
    match client
        .get_object()
        .bucket(bucket)
        .key(OWNER_TAG)
        .send()
        .await
    {
        Ok(answer) => {
            let body = answer.body.collect().await.map_err(|err| {
                BackendError::operation(
                    Engine::S3,
                    format!("reading the owner marker of {bucket}"),
                    error_chain(&err),
                )
            })?;
            Ok(Some(
                String::from_utf8_lossy(&body.into_bytes()).into_owned(),
            ))
        }
        Err(err)
            if err
                .as_service_error()
                .is_some_and(aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key) =>
        {
            Ok(None)
        }
        Err(err) => Err(BackendError::operation(
            Engine::S3,
            format!("reading the owner marker of {bucket}"),
            error_chain(&err),
        )),
    }
}

async fn delete_buckets(
    targets: &CleanupTargets,
) -> Result<(Vec<String>, usize, Vec<String>), BackendError> {
    let client = targets.s3.s3_client().await;
    let failed = |action: String, err: &dyn std::error::Error| -> BackendError {
        BackendError::operation(Engine::S3, action, error_chain(err))
    };
    let claimed = targets.claims.lock().expect("claims lock").buckets.clone();
    let (candidates, mut left) = partition_deletable(
        owned_buckets(&targets.run_id, &targets.s3).await?,
        &targets.kept.buckets,
        targets.ownership.s3_shared,
        &claimed,
    );
    let marker = targets.ownership.marker(&targets.run_id);
    let mut owned = Vec::new();
    for bucket in candidates {
        if targets.ownership.s3_shared
            && bucket_owner(&client, &bucket).await?.as_deref() != Some(&marker)
        {
            left.push(bucket);
        } else {
            owned.push(bucket);
        }
    }
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
    Ok((owned, objects_deleted, left))
}

#[cfg(test)]
mod tests {
    use super::partition_deletable;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn on_a_private_engine_everything_named_but_what_was_there_is_deletable() {
        let (delete, left) = partition_deletable(
            names(&["run-a", "run-b", "run-c"]),
            &names(&["run-b"]),
            false,
            &[],
        );
        assert_eq!(delete, names(&["run-a", "run-c"]));
        assert!(left.is_empty());
    }

    #[test]
    fn on_a_shared_engine_only_what_was_claimed_is_deletable() {
        let (delete, left) = partition_deletable(
            names(&["run-a", "run-b", "run-c"]),
            &names(&["run-b"]),
            true,
            &names(&["run-a"]),
        );
        assert_eq!(delete, names(&["run-a"]));
        assert_eq!(left, names(&["run-c"]));
    }
}
