//! The app's data layer as the migration runs it: writes through PostgreSQL and
//! the outbox, then DynamoDB and S3; reads from the store the mode says.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cutover_backends::Sandbox;

use crate::dynamo::DynamoStore;
use crate::error::AppError;
use crate::pg::PgStore;
use crate::reads::{DynamoReads, PgReads};
use crate::relay::Relay;
use crate::transcripts::TranscriptStore;
use cutover_core::command::{Answer, Read};
use cutover_core::command::{Command, Outcome};
use cutover_core::profile::Profile;

/// The table and bucket purposes inside a sandbox.
pub const TABLE_PURPOSE: &str = "app";
pub const BUCKET_PURPOSE: &str = "transcripts";

/// How the app writes and reads during the migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Write PostgreSQL (with the outbox), then DynamoDB and S3; read DynamoDB.
    Dual,
    /// Write PostgreSQL only — what a rollback switches to; read PostgreSQL.
    PostgresOnly,
    /// Write like `Dual`; read PostgreSQL, and compare `percent` of reads with DynamoDB.
    ShadowRead { percent: u8 },
}

/// Counters of the dual-write path and shadow reads.
#[derive(Debug, Default)]
pub struct Stats {
    /// Entities whose DynamoDB/S3 write failed right after commit (left to the relay).
    pub inline_apply_failures: AtomicU64,
    pub shadow_compared: AtomicU64,
    pub shadow_mismatched: AtomicU64,
    /// The first few shadow mismatches, for reports.
    pub shadow_samples: Mutex<Vec<ShadowMismatch>>,
}

#[derive(Debug, Clone)]
pub struct ShadowMismatch {
    pub read: Read,
    pub postgres: String,
    pub dynamodb: String,
}

const SHADOW_SAMPLES_KEPT: usize = 20;

pub struct App {
    pub pg: PgStore,
    pub dynamo: DynamoStore,
    pub transcripts: TranscriptStore,
    relay: Relay,
    pg_reads: PgReads,
    dynamo_reads: DynamoReads,
    mode: Mutex<Mode>,
    pub stats: Stats,
    reads_seen: AtomicU64,
}

impl App {
    pub fn new(pg: PgStore, dynamo: DynamoStore, transcripts: TranscriptStore, mode: Mode) -> App {
        App {
            relay: Relay::new(pg.clone(), dynamo.clone(), transcripts.clone()),
            pg_reads: PgReads::new(pg.clone()),
            dynamo_reads: DynamoReads::new(dynamo.clone(), transcripts.clone()),
            pg,
            dynamo,
            transcripts,
            mode: Mutex::new(mode),
            stats: Stats::default(),
            reads_seen: AtomicU64::new(0),
        }
    }

    /// The app on a sandbox's stores (table `app`, bucket `transcripts`), not installed.
    pub fn on(sandbox: &Sandbox, mode: Mode) -> App {
        App::on_clients(sandbox, mode, sandbox.dynamodb.clone(), sandbox.s3.clone())
    }

    /// `App::on` through other SDK clients of the same engines (instrumented
    /// ones, for fault injection).
    pub fn on_clients(
        sandbox: &Sandbox,
        mode: Mode,
        dynamodb: aws_sdk_dynamodb::Client,
        s3: aws_sdk_s3::Client,
    ) -> App {
        App::on_clients_with_profile(sandbox, mode, dynamodb, s3, Profile::reference())
    }

    /// `App::on_clients`, writing items as `profile` lays them out.
    pub fn on_clients_with_profile(
        sandbox: &Sandbox,
        mode: Mode,
        dynamodb: aws_sdk_dynamodb::Client,
        s3: aws_sdk_s3::Client,
        profile: Arc<Profile>,
    ) -> App {
        App::new(
            PgStore::with_profile(sandbox.pg.clone(), profile.clone()),
            DynamoStore::with_profile(dynamodb, sandbox.table_name(TABLE_PURPOSE), profile),
            TranscriptStore::new(s3, sandbox.bucket_name(BUCKET_PURPOSE)),
            mode,
        )
    }

    /// Creates the schema, the table and the bucket, then returns the app.
    pub async fn install(sandbox: &Sandbox, mode: Mode) -> Result<App, AppError> {
        App::install_with_profile(sandbox, mode, Profile::reference()).await
    }

    /// `App::install` with the DynamoDB table and its items laid out as
    /// `profile` says (PostgreSQL stays the reference app's schema, with its outbox).
    pub async fn install_with_profile(
        sandbox: &Sandbox,
        mode: Mode,
        profile: Arc<Profile>,
    ) -> Result<App, AppError> {
        let app = App::on_clients_with_profile(
            sandbox,
            mode,
            sandbox.dynamodb.clone(),
            sandbox.s3.clone(),
            profile,
        );
        app.pg.migrate().await?;
        app.dynamo.create_table().await?;
        sandbox.claim_table(app.dynamo.table()).await?;
        app.transcripts.create_bucket().await?;
        sandbox.claim_bucket(app.transcripts.bucket()).await?;
        Ok(app)
    }

    /// How this app's items are laid out.
    pub fn profile(&self) -> &Arc<Profile> {
        self.dynamo.profile()
    }

    pub fn mode(&self) -> Mode {
        *self.mode.lock().expect("mode lock")
    }

    /// Switches mode at run time (the rollback drill, the traffic shift).
    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().expect("mode lock") = mode;
    }

    pub fn relay(&self) -> &Relay {
        &self.relay
    }

    /// The app with its relay's transactions bounded by `bounds`.
    pub fn with_relay_bounds(mut self, bounds: crate::relay::TransactionBounds) -> App {
        self.relay = self.relay.with_bounds(bounds);
        self
    }

    pub fn postgres_reads(&self) -> &PgReads {
        &self.pg_reads
    }

    pub fn dynamodb_reads(&self) -> &DynamoReads {
        &self.dynamo_reads
    }

    /// Commits `command` to PostgreSQL, then (unless postgres-only) applies every
    /// entity it touched to DynamoDB and S3. A failure after the commit is not the
    /// caller's error: the outbox keeps the change and the relay retries it.
    pub async fn execute(&self, command: &Command) -> Result<Outcome, AppError> {
        let dual = self.mode() != Mode::PostgresOnly;
        let outcome = self.pg.execute(command, dual).await?;
        if dual {
            let mut applied = std::collections::HashSet::new();
            for change in &outcome.changes {
                if !applied.insert(change.clone()) {
                    continue;
                }
                if let Err(error) = self.relay.apply_entity(change.kind, &change.id).await {
                    self.stats
                        .inline_apply_failures
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%error, kind = %change.kind, id = %change.id, "left to the relay");
                }
            }
        }
        Ok(outcome)
    }

    /// Serves `read` as `requester` asks it: only what the requester owns (or
    /// a share link), from the store the mode reads; anything else gets the
    /// answer a missing entity gets (`crate::access`).
    pub async fn read_as(
        &self,
        requester: &cutover_core::keys::Id,
        read: &Read,
    ) -> Result<Answer, AppError> {
        let allowed = match self.mode() {
            Mode::Dual => crate::access::allowed(&self.dynamo_reads, requester, read).await?,
            Mode::PostgresOnly | Mode::ShadowRead { .. } => {
                crate::access::allowed(&self.pg_reads, requester, read).await?
            }
        };
        if allowed {
            self.read(read).await
        } else {
            Ok(read.empty_answer())
        }
    }

    /// Serves a read the way the mode says.
    pub async fn read(&self, read: &Read) -> Result<Answer, AppError> {
        match self.mode() {
            Mode::Dual => self.dynamo_reads.read(read).await,
            Mode::PostgresOnly => self.pg_reads.read(read).await,
            Mode::ShadowRead { percent } => {
                let answer = self.pg_reads.read(read).await?;
                // Deterministic sampling: every read whose ordinal falls in the percentage.
                let ordinal = self.reads_seen.fetch_add(1, Ordering::Relaxed);
                if ordinal % 100 < u64::from(percent.min(100)) {
                    self.stats.shadow_compared.fetch_add(1, Ordering::Relaxed);
                    let shadow = self.dynamo_reads.read(read).await;
                    let comparable = self.profile().answer_as_stored(&answer);
                    let matches = matches!(&shadow, Ok(other) if *other == comparable);
                    if !matches {
                        self.stats.shadow_mismatched.fetch_add(1, Ordering::Relaxed);
                        let mut samples = self.stats.shadow_samples.lock().expect("samples lock");
                        if samples.len() < SHADOW_SAMPLES_KEPT {
                            samples.push(ShadowMismatch {
                                read: read.clone(),
                                postgres: format!("{answer:?}"),
                                dynamodb: format!("{shadow:?}"),
                            });
                        }
                    }
                }
                Ok(answer)
            }
        }
    }
}
