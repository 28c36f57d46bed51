//! The flags that point a command at an app's existing stores (its PostgreSQL
//! database, DynamoDB table and S3 bucket, and the profile describing them),
//! shared by `parity`, `backfill` and `profile check`.

use std::path::PathBuf;

use anyhow::Context;
use cutover_app::dynamo::DynamoStore;
use cutover_app::pg::PgStore;
use cutover_app::transcripts::TranscriptStore;
use cutover_app::{App, Mode};
use cutover_backends::aws::AwsEndpoint;
use cutover_backends::postgres::redact_password;

#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// PostgreSQL URL of the app's database (the source of truth).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// The app's DynamoDB table.
    #[arg(long)]
    pub table: String,
    /// The S3 bucket holding the transcripts.
    #[arg(long)]
    pub bucket: String,
    /// DynamoDB endpoint (omit for real AWS).
    #[arg(long, env = "AWS_ENDPOINT_URL_DYNAMODB")]
    pub dynamodb_endpoint: Option<String>,
    /// S3 endpoint (omit for real AWS).
    #[arg(long, env = "AWS_ENDPOINT_URL_S3")]
    pub s3_endpoint: Option<String>,
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    /// The app profile that describes these stores (profiles/README.md): its
    /// tables and columns, its item layout. Default: cutover's reference app.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
}

impl StoreArgs {
    /// The app over these stores, as the profile describes them.
    pub async fn connect(&self, pool_size: u32) -> anyhow::Result<App> {
        let profile = crate::input::load_profile(self.profile.as_deref())?;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(pool_size)
            .connect(&self.database_url)
            .await
            .with_context(|| format!("connecting to {}", redact_password(&self.database_url)))?;
        let dynamodb =
            AwsEndpoint::existing(self.dynamodb_endpoint.clone(), self.region.as_deref());
        let s3 = AwsEndpoint::existing(self.s3_endpoint.clone(), self.region.as_deref());
        Ok(App::new(
            PgStore::of_app(pool, profile.clone()),
            DynamoStore::with_profile(
                dynamodb.dynamodb_client().await,
                self.table.clone(),
                profile,
            ),
            TranscriptStore::new(s3.s3_client().await, self.bucket.clone()),
            Mode::Dual,
        ))
    }

    /// The stores these arguments name, for a report (password masked).
    pub fn compared(&self) -> crate::report::StoresCompared {
        let endpoint = |url: &Option<String>| {
            url.clone().unwrap_or_else(|| {
                format!(
                    "AWS ({})",
                    self.region.as_deref().unwrap_or("the environment's region")
                )
            })
        };
        crate::report::StoresCompared {
            postgres: redact_password(&self.database_url),
            dynamodb_endpoint: endpoint(&self.dynamodb_endpoint),
            table: self.table.clone(),
            s3_endpoint: endpoint(&self.s3_endpoint),
            bucket: self.bucket.clone(),
            // One file, however it was named (`./p.toml`, `p.toml`).
            profile: self.profile.as_ref().map(|path| {
                std::fs::canonicalize(path)
                    .unwrap_or_else(|_| path.clone())
                    .display()
                    .to_string()
            }),
        }
    }

    /// Names source and target (password redacted), e.g. for a checkpoint.
    pub fn describe(&self) -> String {
        let profile = match &self.profile {
            Some(path) => format!(" (profile {})", path.display()),
            None => String::new(),
        };
        format!(
            "{} -> DynamoDB table {} + S3 bucket {}{profile}",
            redact_password(&self.database_url),
            self.table,
            self.bucket
        )
    }
}
