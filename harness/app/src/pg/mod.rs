//! The PostgreSQL side: the source of truth. Every write is one transaction that
//! changes the rows and appends an outbox record for each entity it touches.
//!
//! `writes` holds one function per command, `outbox` what a write records,
//! `rows` how a row becomes an entity (through the schema profile), `scans`
//! the reads over many rows, `load` the bulk load of a database that predates
//! dual writes.

use cutover_core::command::{Command, Outcome};
use cutover_core::domain::Entity;
use cutover_core::keys::EntityKind;
use cutover_core::profile::Profile;
use rand::Rng;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};
use std::sync::Arc;

use crate::error::AppError;

mod load;
mod outbox;
mod rows;
mod scans;
mod writes;
pub(crate) use rows::{of_kind, one as entity_row, where_field as rows_where};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A share token: 128 random bits from the OS-seeded CSPRNG, hex-encoded.
pub fn new_share_token() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// How the app's items are written: the outbox keeps each record's
    /// stored key, and a write is refused before commit when its item would
    /// pass the 400 KB limit.
    profile: Arc<Profile>,
    /// How the app's tables are laid out: every row read goes through it.
    /// The writes (`execute`, `load`, `migrate`) are the reference app's and
    /// need its schema.
    schema: Arc<Profile>,
    /// Whether `schema` is the reference app's tables, decided once (every
    /// write checks it).
    reference_schema: bool,
}

pub(crate) fn column<'r, T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>>(
    row: &'r PgRow,
    name: &str,
) -> Result<T, AppError> {
    row.try_get(name)
        .map_err(AppError::pg(format!("reading column {name}")))
}

/// A row of the reference schema (the write path's `RETURNING` lists).
fn reference_row(kind: EntityKind, row: &PgRow) -> Result<Entity, AppError> {
    rows::entity_from_row(&Profile::reference(), kind, row, false).map(|(entity, _)| entity)
}

/// A row of the reference schema as the kind it holds.
fn reference_row_as<T: TryFrom<Entity>>(kind: EntityKind, row: &PgRow) -> Result<T, AppError> {
    reference_row(kind, row).map(of_kind)
}

type Tx = Transaction<'static, Postgres>;

impl PgStore {
    /// The reference app's database.
    pub fn new(pool: PgPool) -> PgStore {
        Self::with_profile(pool, Profile::reference())
    }

    /// The reference app's database, its items laid out as `profile` says
    /// (its transcripts' object keys too).
    pub fn with_profile(pool: PgPool, profile: Arc<Profile>) -> PgStore {
        PgStore {
            pool,
            schema: Arc::new(Profile::reference().with_transcript_layout_of(&profile)),
            profile,
            reference_schema: true,
        }
    }

    /// An app's own database, read as `profile`'s PostgreSQL half describes it
    /// (a Prisma-style schema, say); its items laid out as the same profile says.
    pub fn of_app(pool: PgPool, profile: Arc<Profile>) -> PgStore {
        PgStore {
            pool,
            reference_schema: profile.same_tables_as(&Profile::reference()),
            profile: profile.clone(),
            schema: profile,
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// How the tables are laid out.
    pub fn schema(&self) -> &Arc<Profile> {
        &self.schema
    }

    /// Whether the database has the reference app's schema (and so its outbox
    /// and the write path).
    pub fn is_reference_schema(&self) -> bool {
        self.reference_schema
    }

    /// Whether pending writes are recorded in an outbox this store can read.
    pub fn has_outbox(&self) -> bool {
        self.schema.outbox
    }

    /// Refuses the reference app's writes on a database of another schema.
    fn require_reference_schema(&self, action: &'static str) -> Result<(), AppError> {
        if self.is_reference_schema() {
            return Ok(());
        }
        Err(AppError::Invalid {
            field: "schema",
            reason: format!(
                "{action} needs the reference app's schema; this database is laid out as profile {:?} describes, which cutover reads but does not write",
                self.schema.name
            ),
        })
    }

    pub async fn migrate(&self) -> Result<(), AppError> {
        self.require_reference_schema("creating the schema")?;
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| AppError::Postgres {
                action: "running migrations".to_owned(),
                source: e.into(),
            })
    }

    /// Applies `command` in one transaction, with its outbox records when
    /// `outbox` is set (it is not in postgres-only mode, after a rollback).
    /// A command that breaks the write rules (`Command::check`) is refused
    /// before the transaction begins.
    pub async fn execute(&self, command: &Command, outbox: bool) -> Result<Outcome, AppError> {
        self.require_reference_schema("the dual-write path")?;
        command.check()?;
        let tx: Tx = self
            .pool
            .begin()
            .await
            .map_err(AppError::pg("beginning a transaction"))?;
        let mut writer =
            writes::Writer::new(tx, outbox::Recorder::new(outbox, self.profile.clone()));
        writer.apply(command).await?;
        writer.commit().await
    }
}

/// Runtime-built SQL here only ever interpolates this module's own column lists
/// and the profile's table and column names, quoted (`profile::rows::quote`),
/// never input.
pub(crate) trait IntoSql {
    fn into_sql(self) -> sqlx::AssertSqlSafe<String>;
}

impl IntoSql for String {
    fn into_sql(self) -> sqlx::AssertSqlSafe<String> {
        sqlx::AssertSqlSafe(self)
    }
}
