//! The PostgreSQL side: the source of truth. Every write is one transaction that
//! changes the rows and appends an outbox record for each entity it touches.

use chrono::Utc;
use cutover_core::domain::{
    Campaign, Entity, Session, Summary, canonical_json, session_search_text, truncate_to_millis,
};
use cutover_core::item_size::{MAX_ITEM_BYTES, item_bytes};
use cutover_core::keys::{EntityKind, Id, ItemKey};
use cutover_core::profile::Profile;
use rand::Rng;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};
use std::sync::Arc;

use crate::error::AppError;
use crate::transcripts::sha256_hex;
use cutover_core::command::{Change, Command, Outcome};

mod rows;
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

const SESSION_COLUMNS: &str = "id, campaign_id, user_id, name, summary, metadata, share_token, transcript_bytes, transcript_sha256, search_text, created_at, updated_at, version";
const USER_COLUMNS: &str = "id, email, display_name, created_at, updated_at, version";
const CAMPAIGN_COLUMNS: &str = "id, user_id, name, description, created_at, updated_at, version";
const SUMMARY_COLUMNS: &str =
    "id, session_id, user_id, kind, body, created_at, updated_at, version";

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

/// Text PostgreSQL can store: no NUL characters.
fn check_text(field: &'static str, value: &str) -> Result<(), AppError> {
    if value.contains('\0') {
        return Err(AppError::Invalid {
            field,
            reason: "contains a NUL character, which PostgreSQL text cannot hold".to_owned(),
        });
    }
    Ok(())
}

fn check_metadata(metadata: &serde_json::Value) -> Result<(), AppError> {
    if !metadata.is_object() {
        return Err(AppError::Invalid {
            field: "metadata",
            reason: format!("must be a JSON object, got {metadata}"),
        });
    }
    if holds_nul(metadata) {
        return Err(AppError::Invalid {
            field: "metadata",
            reason: "contains a NUL character, which JSONB cannot hold".to_owned(),
        });
    }
    Ok(())
}

/// Whether any string or key of `value` holds U+0000. (Searching the
/// serialized text for `\u0000` would also refuse the six characters a user
/// typed as `\u0000`; the hostile-input test found that.)
fn holds_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => text.contains('\0'),
        serde_json::Value::Array(values) => values.iter().any(holds_nul),
        serde_json::Value::Object(map) => map
            .iter()
            .any(|(key, v)| key.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// Refuses, before commit, an entity whose DynamoDB item would exceed the limit.
fn check_item_size(profile: &Profile, entity: &Entity) -> Result<(), AppError> {
    let bytes = item_bytes(&profile.to_item(entity)).map_err(|e| AppError::Invalid {
        field: "item",
        reason: e.to_string(),
    })?;
    if bytes > MAX_ITEM_BYTES {
        return Err(AppError::ItemTooLarge {
            kind: entity.kind(),
            id: entity.id().to_string(),
            bytes,
        });
    }
    Ok(())
}

type Tx = Transaction<'static, Postgres>;

/// The reference schema's table of one entity kind.
fn table_of(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::User => "users",
        EntityKind::Campaign => "campaigns",
        EntityKind::Session => "sessions",
        EntityKind::Summary => "session_summaries",
    }
}

/// The outcome being built, and whether changes go to the outbox.
struct Recorder {
    outcome: Outcome,
    outbox: bool,
    profile: Arc<Profile>,
}

impl PgStore {
    /// The reference app's database.
    pub fn new(pool: PgPool) -> PgStore {
        Self::with_profile(pool, Profile::reference())
    }

    /// The reference app's database, its items laid out as `profile` says.
    pub fn with_profile(pool: PgPool, profile: Arc<Profile>) -> PgStore {
        PgStore {
            pool,
            profile,
            schema: Profile::reference(),
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

    /// The entities of `kind` with these ids (those that exist), in id order.
    pub async fn entities_by_ids(
        &self,
        kind: EntityKind,
        ids: &[String],
    ) -> Result<Vec<Entity>, AppError> {
        let rows = rows::by_ids(&self.pool, &self.schema, kind, ids, false).await?;
        Ok(rows.into_iter().map(|(entity, _)| entity).collect())
    }

    /// The entities of `kind` with these ids, each with its transcript text if
    /// a session, read in one statement so a session and its text are from the
    /// same snapshot. In id order.
    pub async fn entities_with_transcripts_by_ids(
        &self,
        kind: EntityKind,
        ids: &[String],
    ) -> Result<Vec<(Entity, Option<String>)>, AppError> {
        rows::by_ids(&self.pool, &self.schema, kind, ids, true).await
    }

    /// Rows of every entity table.
    pub async fn entity_count(&self) -> Result<u64, AppError> {
        let count: i64 = sqlx::query_scalar(self.schema.count_sql().into_sql())
            .fetch_one(&self.pool)
            .await
            .map_err(AppError::pg("counting entities"))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// What orders each of these entities' writes now (its version, or its
    /// `updated_at` in milliseconds without one), for those that exist.
    pub async fn versions_by_ids(
        &self,
        kind: EntityKind,
        ids: &[String],
    ) -> Result<std::collections::HashMap<String, i64>, AppError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(self.schema.orders_sql(kind).into_sql())
            .bind(ids)
            .fetch_all(&self.pool)
            .await
            .map_err(AppError::pg(format!("reading versions of {kind}s")))?;
        Ok(rows.into_iter().collect())
    }

    /// Keyset pagination over one kind's ids: up to `limit` ids after `after`, in order.
    pub async fn ids_after(
        &self,
        kind: EntityKind,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<String>, AppError> {
        sqlx::query_scalar(self.schema.ids_after_sql(kind).into_sql())
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(AppError::pg(format!("paging {kind} ids")))
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

    /// Inserts entities as they are (versions and timestamps included), with no
    /// outbox records: for loading a database that already exists before dual
    /// writes start. Parents must come before children. Sessions need their
    /// transcript text.
    pub async fn load(&self, entities: &[(Entity, Option<String>)]) -> Result<(), AppError> {
        self.require_reference_schema("loading entities")?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(AppError::pg("beginning a load"))?;
        for (entity, transcript) in entities {
            let query = match entity {
                Entity::User(u) => sqlx::query("INSERT INTO users (id, email, display_name, created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(u.id.as_str()).bind(&u.email).bind(&u.display_name).bind(u.created_at).bind(u.updated_at).bind(u.version),
                Entity::Campaign(c) => sqlx::query("INSERT INTO campaigns (id, user_id, name, description, created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                    .bind(c.id.as_str()).bind(c.user_id.as_str()).bind(&c.name).bind(&c.description).bind(c.created_at).bind(c.updated_at).bind(c.version),
                Entity::Session(s) => sqlx::query(
                    "INSERT INTO sessions (id, campaign_id, user_id, name, summary, metadata, transcript, transcript_bytes, transcript_sha256, share_token, search_text, created_at, updated_at, version)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                )
                .bind(s.id.as_str()).bind(s.campaign_id.as_str()).bind(s.user_id.as_str()).bind(&s.name).bind(&s.summary)
                .bind(sqlx::types::Json(&s.metadata)).bind(transcript.as_deref().unwrap_or_default()).bind(s.transcript.bytes as i64)
                .bind(&s.transcript.sha256).bind(&s.share_token).bind(s.search_text()).bind(s.created_at).bind(s.updated_at).bind(s.version),
                Entity::Summary(m) => sqlx::query("INSERT INTO session_summaries (id, session_id, user_id, kind, body, created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                    .bind(m.id.as_str()).bind(m.session_id.as_str()).bind(m.user_id.as_str()).bind(&m.kind).bind(&m.body).bind(m.created_at).bind(m.updated_at).bind(m.version),
            };
            query.execute(&mut *tx).await.map_err(AppError::pg(format!(
                "loading {} {}",
                entity.kind(),
                entity.id()
            )))?;
        }
        // Versions come from one sequence and only move forward: the next
        // write to a loaded entity must get a version above the loaded one.
        let newest = entities
            .iter()
            .map(|(entity, _)| entity.version())
            .max()
            .unwrap_or(0);
        sqlx::query(
            "SELECT setval('entity_version', GREATEST($1, (SELECT last_value FROM entity_version)))",
        )
        .bind(newest.max(1))
        .execute(&mut *tx)
        .await
        .map_err(AppError::pg("moving the version sequence past the loaded versions"))?;
        tx.commit().await.map_err(AppError::pg("committing a load"))
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

    async fn next_version(tx: &mut Tx) -> Result<i64, AppError> {
        sqlx::query_scalar("SELECT nextval('entity_version')")
            .fetch_one(&mut **tx)
            .await
            .map_err(AppError::pg("allocating a version"))
    }

    async fn record(
        tx: &mut Tx,
        outcome: &mut Recorder,
        entity_key: &ItemKey,
        owner: &Id,
        id: &Id,
        version: i64,
        operation: &str,
    ) -> Result<(), AppError> {
        outcome.outcome.changes.push(Change {
            kind: entity_key.entity(),
            id: id.clone(),
        });
        if !outcome.outbox {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO outbox (entity_kind, entity_id, operation, item_pk, item_sk, owner_id, version) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(entity_key.entity().name())
        .bind(id.as_str())
        .bind(operation)
        .bind(outcome.profile.key(entity_key).pk)
        .bind(outcome.profile.key(entity_key).sk)
        .bind(owner.as_str())
        .bind(version)
        .execute(&mut **tx)
        .await
        .map_err(AppError::pg("appending to the outbox"))?;
        Ok(())
    }

    async fn record_upsert(
        tx: &mut Tx,
        outcome: &mut Recorder,
        entity: &Entity,
    ) -> Result<(), AppError> {
        check_item_size(&outcome.profile, entity)?;
        Self::record(
            tx,
            outcome,
            &entity.key(),
            entity.owner(),
            entity.id(),
            entity.version(),
            "upsert",
        )
        .await
    }

    async fn record_delete(
        tx: &mut Tx,
        outcome: &mut Recorder,
        entity: &Entity,
        version: i64,
    ) -> Result<(), AppError> {
        Self::record(
            tx,
            outcome,
            &entity.key(),
            entity.owner(),
            entity.id(),
            version,
            "delete",
        )
        .await
    }

    /// Applies `command` in one transaction, with its outbox records when
    /// `outbox` is set (it is not in postgres-only mode, after a rollback).
    pub async fn execute(&self, command: &Command, outbox: bool) -> Result<Outcome, AppError> {
        self.require_reference_schema("the dual-write path")?;
        let mut tx: Tx = self
            .pool
            .begin()
            .await
            .map_err(AppError::pg("beginning a transaction"))?;
        let mut recorder = Recorder {
            outcome: Outcome::default(),
            outbox,
            profile: self.profile.clone(),
        };
        self.apply(&mut tx, command, &mut recorder).await?;
        tx.commit().await.map_err(AppError::pg("committing"))?;
        Ok(recorder.outcome)
    }

    async fn apply(
        &self,
        tx: &mut Tx,
        command: &Command,
        outcome: &mut Recorder,
    ) -> Result<(), AppError> {
        // Updates move `updated_at` at least a millisecond past the row's own:
        // a profile that orders writes by `updated_at` (no version column, as
        // the ElectroDB layout) can then tell two updates in one millisecond apart.
        let now = truncate_to_millis(Utc::now());
        let not_found = |kind: EntityKind, id: &Id| AppError::NotFound {
            kind,
            id: id.to_string(),
        };
        match command {
            Command::CreateUser {
                user,
                email,
                display_name,
            } => {
                check_text("email", email)?;
                check_text("display_name", display_name)?;
                let version = Self::next_version(tx).await?;
                let row = sqlx::query(format!(
                    "INSERT INTO users (id, email, display_name, created_at, updated_at, version) VALUES ($1, $2, $3, $4, $4, $5) ON CONFLICT (id) DO NOTHING RETURNING {USER_COLUMNS}"
                ).into_sql())
                .bind(user.as_str()).bind(email).bind(display_name).bind(now).bind(version)
                .fetch_optional(&mut **tx).await.map_err(AppError::pg("inserting a user"))?
                .ok_or_else(|| AppError::AlreadyExists { kind: EntityKind::User, id: user.to_string() })?;
                Self::record_upsert(tx, outcome, &reference_row(EntityKind::User, &row)?).await
            }
            Command::UpdateUser {
                user,
                email,
                display_name,
            } => {
                for (field, value) in [("email", email), ("display_name", display_name)] {
                    if let Some(value) = value {
                        check_text(field, value)?;
                    }
                }
                let version = Self::next_version(tx).await?;
                let row = sqlx::query(format!(
                    "UPDATE users SET email = COALESCE($2, email), display_name = COALESCE($3, display_name), updated_at = GREATEST($4, updated_at + interval '1 millisecond'), version = $5 WHERE id = $1 RETURNING {USER_COLUMNS}"
                ).into_sql())
                .bind(user.as_str()).bind(email).bind(display_name).bind(now).bind(version)
                .fetch_optional(&mut **tx).await.map_err(AppError::pg("updating a user"))?
                .ok_or_else(|| not_found(EntityKind::User, user))?;
                Self::record_upsert(tx, outcome, &reference_row(EntityKind::User, &row)?).await
            }
            Command::DeleteUser { user } => {
                let row = sqlx::query(
                    format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 FOR UPDATE").into_sql(),
                )
                .bind(user.as_str())
                .fetch_optional(&mut **tx)
                .await
                .map_err(AppError::pg("locking a user"))?
                .ok_or_else(|| not_found(EntityKind::User, user))?;
                let version = Self::next_version(tx).await?;
                // Children first, so their deletes are recorded before the cascade removes them.
                for summary in self.summaries_where(tx, "user_id", user).await? {
                    Self::record_delete(tx, outcome, &Entity::Summary(summary), version).await?;
                }
                for session in self.sessions_where(tx, "user_id", user).await? {
                    Self::record_delete(tx, outcome, &Entity::Session(session), version).await?;
                }
                for campaign in self.campaigns_where(tx, "user_id", user).await? {
                    Self::record_delete(tx, outcome, &Entity::Campaign(campaign), version).await?;
                }
                Self::record_delete(
                    tx,
                    outcome,
                    &reference_row(EntityKind::User, &row)?,
                    version,
                )
                .await?;
                sqlx::query("DELETE FROM users WHERE id = $1")
                    .bind(user.as_str())
                    .execute(&mut **tx)
                    .await
                    .map_err(AppError::pg("deleting a user"))?;
                Ok(())
            }
            Command::CreateCampaign {
                campaign,
                user,
                name,
                description,
            } => {
                check_text("name", name)?;
                check_text("description", description)?;
                let version = Self::next_version(tx).await?;
                let row = sqlx::query(format!(
                    "INSERT INTO campaigns (id, user_id, name, description, created_at, updated_at, version)
                     SELECT $1, u.id, $3, $4, $5, $5, $6 FROM users u WHERE u.id = $2
                     ON CONFLICT (id) DO NOTHING RETURNING {CAMPAIGN_COLUMNS}"
                ).into_sql())
                .bind(campaign.as_str()).bind(user.as_str()).bind(name).bind(description).bind(now).bind(version)
                .fetch_optional(&mut **tx).await.map_err(AppError::pg("inserting a campaign"))?;
                let Some(row) = row else {
                    return Err(Self::missing_parent_or_duplicate(
                        tx,
                        (EntityKind::User, user),
                        (EntityKind::Campaign, campaign),
                    )
                    .await);
                };
                Self::record_upsert(tx, outcome, &reference_row(EntityKind::Campaign, &row)?).await
            }
            Command::UpdateCampaign {
                campaign,
                name,
                description,
            } => {
                for (field, value) in [("name", name), ("description", description)] {
                    if let Some(value) = value {
                        check_text(field, value)?;
                    }
                }
                let version = Self::next_version(tx).await?;
                let row = sqlx::query(format!(
                    "UPDATE campaigns SET name = COALESCE($2, name), description = COALESCE($3, description), updated_at = GREATEST($4, updated_at + interval '1 millisecond'), version = $5 WHERE id = $1 RETURNING {CAMPAIGN_COLUMNS}"
                ).into_sql())
                .bind(campaign.as_str()).bind(name).bind(description).bind(now).bind(version)
                .fetch_optional(&mut **tx).await.map_err(AppError::pg("updating a campaign"))?
                .ok_or_else(|| not_found(EntityKind::Campaign, campaign))?;
                Self::record_upsert(tx, outcome, &reference_row(EntityKind::Campaign, &row)?).await
            }
            Command::DeleteCampaign { campaign } => {
                let row = sqlx::query(
                    format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1 FOR UPDATE")
                        .into_sql(),
                )
                .bind(campaign.as_str())
                .fetch_optional(&mut **tx)
                .await
                .map_err(AppError::pg("locking a campaign"))?
                .ok_or_else(|| not_found(EntityKind::Campaign, campaign))?;
                let version = Self::next_version(tx).await?;
                let sessions = self.sessions_where(tx, "campaign_id", campaign).await?;
                for session in &sessions {
                    for summary in self.summaries_where(tx, "session_id", &session.id).await? {
                        Self::record_delete(tx, outcome, &Entity::Summary(summary), version)
                            .await?;
                    }
                }
                for session in sessions {
                    Self::record_delete(tx, outcome, &Entity::Session(session), version).await?;
                }
                Self::record_delete(
                    tx,
                    outcome,
                    &reference_row(EntityKind::Campaign, &row)?,
                    version,
                )
                .await?;
                sqlx::query("DELETE FROM campaigns WHERE id = $1")
                    .bind(campaign.as_str())
                    .execute(&mut **tx)
                    .await
                    .map_err(AppError::pg("deleting a campaign"))?;
                Ok(())
            }
            Command::CreateSession {
                session,
                campaign,
                name,
                summary,
                metadata,
                transcript,
            } => {
                check_text("name", name)?;
                check_text("summary", summary)?;
                check_text("transcript", transcript)?;
                check_metadata(metadata)?;
                let version = Self::next_version(tx).await?;
                let search_text =
                    session_search_text(name, summary, &canonical_json(metadata.clone()));
                let row = sqlx::query(format!(
                    "INSERT INTO sessions (id, campaign_id, user_id, name, summary, metadata, transcript, transcript_bytes, transcript_sha256, search_text, created_at, updated_at, version)
                     SELECT $1, c.id, c.user_id, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11 FROM campaigns c WHERE c.id = $2
                     ON CONFLICT (id) DO NOTHING RETURNING {SESSION_COLUMNS}"
                ).into_sql())
                .bind(session.as_str()).bind(campaign.as_str()).bind(name).bind(summary)
                .bind(sqlx::types::Json(metadata)).bind(transcript).bind(transcript.len() as i64).bind(sha256_hex(transcript.as_bytes()))
                .bind(&search_text).bind(now).bind(version)
                .fetch_optional(&mut **tx).await.map_err(AppError::pg("inserting a session"))?;
                let Some(row) = row else {
                    return Err(Self::missing_parent_or_duplicate(
                        tx,
                        (EntityKind::Campaign, campaign),
                        (EntityKind::Session, session),
                    )
                    .await);
                };
                self.finish_session_write(tx, outcome, &row).await
            }
            Command::UpdateSession {
                session,
                name,
                summary,
                metadata,
                transcript,
            } => {
                for (field, value) in [
                    ("name", name),
                    ("summary", summary),
                    ("transcript", transcript),
                ] {
                    if let Some(value) = value {
                        check_text(field, value)?;
                    }
                }
                if let Some(metadata) = metadata {
                    check_metadata(metadata)?;
                }
                let version = Self::next_version(tx).await?;
                let row = sqlx::query(format!(
                    "UPDATE sessions SET name = COALESCE($2, name), summary = COALESCE($3, summary), metadata = COALESCE($4, metadata),
                         transcript = COALESCE($5, transcript), transcript_bytes = COALESCE($6, transcript_bytes), transcript_sha256 = COALESCE($7, transcript_sha256),
                         updated_at = GREATEST($8, updated_at + interval '1 millisecond'), version = $9
                     WHERE id = $1 RETURNING {SESSION_COLUMNS}"
                ).into_sql())
                .bind(session.as_str()).bind(name).bind(summary).bind(metadata.as_ref().map(sqlx::types::Json))
                .bind(transcript).bind(transcript.as_ref().map(|t| t.len() as i64)).bind(transcript.as_ref().map(|t| sha256_hex(t.as_bytes())))
                .bind(now).bind(version)
                .fetch_optional(&mut **tx).await.map_err(AppError::pg("updating a session"))?
                .ok_or_else(|| not_found(EntityKind::Session, session))?;
                self.finish_session_write(tx, outcome, &row).await
            }
            Command::ShareSession { session } | Command::UnshareSession { session } => {
                let token = matches!(command, Command::ShareSession { .. }).then(new_share_token);
                let version = Self::next_version(tx).await?;
                let row = sqlx::query(format!(
                    "UPDATE sessions SET share_token = $2, updated_at = GREATEST($3, updated_at + interval '1 millisecond'), version = $4 WHERE id = $1 RETURNING {SESSION_COLUMNS}"
                ).into_sql())
                .bind(session.as_str()).bind(&token).bind(now).bind(version)
                .fetch_optional(&mut **tx).await.map_err(AppError::pg("setting a share token"))?
                .ok_or_else(|| not_found(EntityKind::Session, session))?;
                outcome.outcome.share_token = token;
                self.finish_session_write(tx, outcome, &row).await
            }
            Command::DeleteSession { session } => {
                let row = sqlx::query(
                    format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1 FOR UPDATE")
                        .into_sql(),
                )
                .bind(session.as_str())
                .fetch_optional(&mut **tx)
                .await
                .map_err(AppError::pg("locking a session"))?
                .ok_or_else(|| not_found(EntityKind::Session, session))?;
                let version = Self::next_version(tx).await?;
                for summary in self.summaries_where(tx, "session_id", session).await? {
                    Self::record_delete(tx, outcome, &Entity::Summary(summary), version).await?;
                }
                Self::record_delete(
                    tx,
                    outcome,
                    &reference_row(EntityKind::Session, &row)?,
                    version,
                )
                .await?;
                sqlx::query("DELETE FROM sessions WHERE id = $1")
                    .bind(session.as_str())
                    .execute(&mut **tx)
                    .await
                    .map_err(AppError::pg("deleting a session"))?;
                Ok(())
            }
            Command::CreateSummary {
                summary,
                session,
                kind,
                body,
            } => {
                check_text("kind", kind)?;
                check_text("body", body)?;
                let version = Self::next_version(tx).await?;
                let row = sqlx::query(format!(
                    "INSERT INTO session_summaries (id, session_id, user_id, kind, body, created_at, updated_at, version)
                     SELECT $1, s.id, s.user_id, $3, $4, $5, $5, $6 FROM sessions s WHERE s.id = $2
                     ON CONFLICT (id) DO NOTHING RETURNING {SUMMARY_COLUMNS}"
                ).into_sql())
                .bind(summary.as_str()).bind(session.as_str()).bind(kind).bind(body).bind(now).bind(version)
                .fetch_optional(&mut **tx).await.map_err(AppError::pg("inserting a summary"))?;
                let Some(row) = row else {
                    return Err(Self::missing_parent_or_duplicate(
                        tx,
                        (EntityKind::Session, session),
                        (EntityKind::Summary, summary),
                    )
                    .await);
                };
                Self::record_upsert(tx, outcome, &reference_row(EntityKind::Summary, &row)?).await
            }
            Command::UpdateSummary { summary, body } => {
                check_text("body", body)?;
                let version = Self::next_version(tx).await?;
                let row = sqlx::query(format!(
                    "UPDATE session_summaries SET body = $2, updated_at = GREATEST($3, updated_at + interval '1 millisecond'), version = $4 WHERE id = $1 RETURNING {SUMMARY_COLUMNS}"
                ).into_sql())
                .bind(summary.as_str()).bind(body).bind(now).bind(version)
                .fetch_optional(&mut **tx).await.map_err(AppError::pg("updating a summary"))?
                .ok_or_else(|| not_found(EntityKind::Summary, summary))?;
                Self::record_upsert(tx, outcome, &reference_row(EntityKind::Summary, &row)?).await
            }
            Command::DeleteSummary { summary } => {
                let row = sqlx::query(
                    format!(
                        "DELETE FROM session_summaries WHERE id = $1 RETURNING {SUMMARY_COLUMNS}"
                    )
                    .into_sql(),
                )
                .bind(summary.as_str())
                .fetch_optional(&mut **tx)
                .await
                .map_err(AppError::pg("deleting a summary"))?
                .ok_or_else(|| not_found(EntityKind::Summary, summary))?;
                let version = Self::next_version(tx).await?;
                Self::record_delete(
                    tx,
                    outcome,
                    &reference_row(EntityKind::Summary, &row)?,
                    version,
                )
                .await
            }
        }
    }

    /// After a session row changed: recompute its search copy over all
    /// searchable fields (metadata included), check the item size, record it.
    async fn finish_session_write(
        &self,
        tx: &mut Tx,
        outcome: &mut Recorder,
        row: &PgRow,
    ) -> Result<(), AppError> {
        let session: Session = reference_row_as(EntityKind::Session, row)?;
        let search_text = session.search_text();
        let stored: String = column(row, "search_text")?;
        if stored != search_text {
            sqlx::query("UPDATE sessions SET search_text = $2 WHERE id = $1")
                .bind(session.id.as_str())
                .bind(search_text)
                .execute(&mut **tx)
                .await
                .map_err(AppError::pg("storing the search copy"))?;
        }
        Self::record_upsert(tx, outcome, &Entity::Session(session)).await
    }

    /// Why an insert-from-parent wrote nothing: the id is taken, or the parent is missing.
    async fn missing_parent_or_duplicate(
        tx: &mut Tx,
        parent: (EntityKind, &Id),
        child: (EntityKind, &Id),
    ) -> AppError {
        let (kind, id) = child;
        let table = table_of(kind);
        let exists = sqlx::query_scalar::<_, bool>(
            format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE id = $1)").into_sql(),
        )
        .bind(id.as_str())
        .fetch_one(&mut **tx)
        .await;
        match exists {
            Ok(true) => AppError::AlreadyExists {
                kind,
                id: id.to_string(),
            },
            Ok(false) => AppError::NotFound {
                kind: parent.0,
                id: parent.1.to_string(),
            },
            Err(error) => AppError::Postgres {
                action: format!("checking {table}"),
                source: error,
            },
        }
    }

    async fn sessions_where(
        &self,
        tx: &mut Tx,
        column: &str,
        id: &Id,
    ) -> Result<Vec<Session>, AppError> {
        let rows = sqlx::query(
            format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE {column} = $1 ORDER BY id")
                .into_sql(),
        )
        .bind(id.as_str())
        .fetch_all(&mut **tx)
        .await
        .map_err(AppError::pg("listing sessions"))?;
        rows.iter()
            .map(|row| reference_row_as(EntityKind::Session, row))
            .collect()
    }

    async fn summaries_where(
        &self,
        tx: &mut Tx,
        column: &str,
        id: &Id,
    ) -> Result<Vec<Summary>, AppError> {
        let rows = sqlx::query(
            format!(
                "SELECT {SUMMARY_COLUMNS} FROM session_summaries WHERE {column} = $1 ORDER BY id"
            )
            .into_sql(),
        )
        .bind(id.as_str())
        .fetch_all(&mut **tx)
        .await
        .map_err(AppError::pg("listing summaries"))?;
        rows.iter()
            .map(|row| reference_row_as(EntityKind::Summary, row))
            .collect()
    }

    async fn campaigns_where(
        &self,
        tx: &mut Tx,
        column: &str,
        id: &Id,
    ) -> Result<Vec<Campaign>, AppError> {
        let rows = sqlx::query(
            format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE {column} = $1 ORDER BY id")
                .into_sql(),
        )
        .bind(id.as_str())
        .fetch_all(&mut **tx)
        .await
        .map_err(AppError::pg("listing campaigns"))?;
        rows.iter()
            .map(|row| reference_row_as(EntityKind::Campaign, row))
            .collect()
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
