//! The reference app's writes: one function per command, each inside the
//! transaction `PgStore::execute` opened, recording every entity it changes
//! (cascades included) before the commit.
//!
//! Every write takes its version from one sequence. Updates move `updated_at`
//! at least a millisecond past the row's own: a profile that orders writes by
//! `updated_at` (no version column, as the ElectroDB layout) can then tell two
//! updates in one millisecond apart.

use chrono::{DateTime, Utc};
use cutover_core::command::{Command, Outcome};
use cutover_core::domain::{
    Entity, Session, canonical_json, session_search_text, truncate_to_millis,
};
use cutover_core::keys::{EntityKind, Id};
use sqlx::postgres::PgRow;

use super::outbox::Recorder;
use super::{IntoSql, Tx, column, new_share_token, reference_row, reference_row_as};
use crate::error::AppError;
use crate::transcripts::sha256_hex;

const SESSION_COLUMNS: &str = "id, campaign_id, user_id, name, summary, metadata, share_token, transcript_bytes, transcript_sha256, search_text, created_at, updated_at, version";
const USER_COLUMNS: &str = "id, email, display_name, created_at, updated_at, version";
const CAMPAIGN_COLUMNS: &str = "id, user_id, name, description, created_at, updated_at, version";
const SUMMARY_COLUMNS: &str =
    "id, session_id, user_id, kind, body, created_at, updated_at, version";

type Written = Result<(), AppError>;

/// One command's transaction and what it has recorded so far.
pub(super) struct Writer {
    tx: Tx,
    recorder: Recorder,
    now: DateTime<Utc>,
}

fn not_found(kind: EntityKind, id: &Id) -> AppError {
    AppError::NotFound {
        kind,
        id: id.to_string(),
    }
}

impl Writer {
    pub(super) fn new(tx: Tx, recorder: Recorder) -> Writer {
        Writer {
            tx,
            recorder,
            now: truncate_to_millis(Utc::now()),
        }
    }

    /// Commits, and says what changed.
    pub(super) async fn commit(self) -> Result<Outcome, AppError> {
        self.tx.commit().await.map_err(AppError::pg("committing"))?;
        Ok(self.recorder.outcome)
    }

    /// Applies `command` (already checked against the write rules).
    pub(super) async fn apply(&mut self, command: &Command) -> Written {
        match command {
            Command::CreateUser {
                user,
                email,
                display_name,
            } => self.create_user(user, email, display_name).await,
            Command::UpdateUser {
                user,
                email,
                display_name,
            } => {
                self.update_user(user, email.as_deref(), display_name.as_deref())
                    .await
            }
            Command::DeleteUser { user } => self.delete_user(user).await,
            Command::CreateCampaign {
                campaign,
                user,
                name,
                description,
            } => {
                self.create_campaign(campaign, user, name, description)
                    .await
            }
            Command::UpdateCampaign {
                campaign,
                name,
                description,
            } => {
                self.update_campaign(campaign, name.as_deref(), description.as_deref())
                    .await
            }
            Command::DeleteCampaign { campaign } => self.delete_campaign(campaign).await,
            Command::CreateSession {
                session,
                campaign,
                name,
                summary,
                metadata,
                transcript,
            } => {
                self.create_session(session, campaign, name, summary, metadata, transcript)
                    .await
            }
            Command::UpdateSession {
                session,
                name,
                summary,
                metadata,
                transcript,
            } => {
                self.update_session(
                    session,
                    name.as_deref(),
                    summary.as_deref(),
                    metadata.as_ref(),
                    transcript.as_deref(),
                )
                .await
            }
            Command::ShareSession { session } => self.set_share_token(session, true).await,
            Command::UnshareSession { session } => self.set_share_token(session, false).await,
            Command::DeleteSession { session } => self.delete_session(session).await,
            Command::CreateSummary {
                summary,
                session,
                kind,
                body,
            } => self.create_summary(summary, session, kind, body).await,
            Command::UpdateSummary { summary, body } => self.update_summary(summary, body).await,
            Command::DeleteSummary { summary } => self.delete_summary(summary).await,
        }
    }

    async fn next_version(&mut self) -> Result<i64, AppError> {
        sqlx::query_scalar("SELECT nextval('entity_version')")
            .fetch_one(&mut *self.tx)
            .await
            .map_err(AppError::pg("allocating a version"))
    }

    async fn upserted(&mut self, kind: EntityKind, row: &PgRow) -> Written {
        let entity = reference_row(kind, row)?;
        self.recorder.upsert(&mut self.tx, &entity).await
    }

    async fn deleted(&mut self, entity: &Entity, version: i64) -> Written {
        self.recorder.delete(&mut self.tx, entity, version).await
    }

    /// The row of `kind` with `id`, locked for this transaction.
    async fn lock_row(&mut self, kind: EntityKind, id: &Id) -> Result<PgRow, AppError> {
        let (table, columns) = reference_table(kind);
        sqlx::query(format!("SELECT {columns} FROM {table} WHERE id = $1 FOR UPDATE").into_sql())
            .bind(id.as_str())
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(AppError::pg(format!("locking a {kind}")))?
            .ok_or_else(|| not_found(kind, id))
    }

    async fn delete_row(&mut self, kind: EntityKind, id: &Id) -> Written {
        sqlx::query(format!("DELETE FROM {} WHERE id = $1", table_of(kind)).into_sql())
            .bind(id.as_str())
            .execute(&mut *self.tx)
            .await
            .map_err(AppError::pg(format!("deleting a {kind}")))?;
        Ok(())
    }

    // --- users -------------------------------------------------------------

    async fn create_user(&mut self, user: &Id, email: &str, display_name: &str) -> Written {
        let version = self.next_version().await?;
        let row = sqlx::query(format!(
            "INSERT INTO users (id, email, display_name, created_at, updated_at, version) VALUES ($1, $2, $3, $4, $4, $5) ON CONFLICT (id) DO NOTHING RETURNING {USER_COLUMNS}"
        ).into_sql())
        .bind(user.as_str()).bind(email).bind(display_name).bind(self.now).bind(version)
        .fetch_optional(&mut *self.tx).await.map_err(AppError::pg("inserting a user"))?
        .ok_or_else(|| AppError::AlreadyExists { kind: EntityKind::User, id: user.to_string() })?;
        self.upserted(EntityKind::User, &row).await
    }

    async fn update_user(
        &mut self,
        user: &Id,
        email: Option<&str>,
        display_name: Option<&str>,
    ) -> Written {
        let version = self.next_version().await?;
        let row = sqlx::query(format!(
            "UPDATE users SET email = COALESCE($2, email), display_name = COALESCE($3, display_name), updated_at = GREATEST($4, updated_at + interval '1 millisecond'), version = $5 WHERE id = $1 RETURNING {USER_COLUMNS}"
        ).into_sql())
        .bind(user.as_str()).bind(email).bind(display_name).bind(self.now).bind(version)
        .fetch_optional(&mut *self.tx).await.map_err(AppError::pg("updating a user"))?
        .ok_or_else(|| not_found(EntityKind::User, user))?;
        self.upserted(EntityKind::User, &row).await
    }

    async fn delete_user(&mut self, user: &Id) -> Written {
        let row = self.lock_row(EntityKind::User, user).await?;
        let version = self.next_version().await?;
        // Children first, so their deletes are recorded before the cascade removes them.
        for kind in [
            EntityKind::Summary,
            EntityKind::Session,
            EntityKind::Campaign,
        ] {
            for child in self.children_where(kind, "user_id", user).await? {
                self.deleted(&child, version).await?;
            }
        }
        self.deleted(&reference_row(EntityKind::User, &row)?, version)
            .await?;
        self.delete_row(EntityKind::User, user).await
    }

    // --- campaigns ---------------------------------------------------------

    async fn create_campaign(
        &mut self,
        campaign: &Id,
        user: &Id,
        name: &str,
        description: &str,
    ) -> Written {
        let version = self.next_version().await?;
        let row = sqlx::query(
            format!(
            "INSERT INTO campaigns (id, user_id, name, description, created_at, updated_at, version)
             SELECT $1, u.id, $3, $4, $5, $5, $6 FROM users u WHERE u.id = $2
             ON CONFLICT (id) DO NOTHING RETURNING {CAMPAIGN_COLUMNS}"
        )
            .into_sql(),
        )
        .bind(campaign.as_str())
        .bind(user.as_str())
        .bind(name)
        .bind(description)
        .bind(self.now)
        .bind(version)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(AppError::pg("inserting a campaign"))?;
        let Some(row) = row else {
            return Err(self
                .missing_parent_or_duplicate(
                    (EntityKind::User, user),
                    (EntityKind::Campaign, campaign),
                )
                .await);
        };
        self.upserted(EntityKind::Campaign, &row).await
    }

    async fn update_campaign(
        &mut self,
        campaign: &Id,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Written {
        let version = self.next_version().await?;
        let row = sqlx::query(format!(
            "UPDATE campaigns SET name = COALESCE($2, name), description = COALESCE($3, description), updated_at = GREATEST($4, updated_at + interval '1 millisecond'), version = $5 WHERE id = $1 RETURNING {CAMPAIGN_COLUMNS}"
        ).into_sql())
        .bind(campaign.as_str()).bind(name).bind(description).bind(self.now).bind(version)
        .fetch_optional(&mut *self.tx).await.map_err(AppError::pg("updating a campaign"))?
        .ok_or_else(|| not_found(EntityKind::Campaign, campaign))?;
        self.upserted(EntityKind::Campaign, &row).await
    }

    async fn delete_campaign(&mut self, campaign: &Id) -> Written {
        let row = self.lock_row(EntityKind::Campaign, campaign).await?;
        let version = self.next_version().await?;
        let sessions = self
            .children_where(EntityKind::Session, "campaign_id", campaign)
            .await?;
        for session in &sessions {
            for summary in self
                .children_where(EntityKind::Summary, "session_id", session.id())
                .await?
            {
                self.deleted(&summary, version).await?;
            }
        }
        for session in &sessions {
            self.deleted(session, version).await?;
        }
        self.deleted(&reference_row(EntityKind::Campaign, &row)?, version)
            .await?;
        self.delete_row(EntityKind::Campaign, campaign).await
    }

    // --- sessions ----------------------------------------------------------

    async fn create_session(
        &mut self,
        session: &Id,
        campaign: &Id,
        name: &str,
        summary: &str,
        metadata: &serde_json::Value,
        transcript: &str,
    ) -> Written {
        let version = self.next_version().await?;
        let search_text = session_search_text(name, summary, &canonical_json(metadata.clone()));
        let row = sqlx::query(format!(
            "INSERT INTO sessions (id, campaign_id, user_id, name, summary, metadata, transcript, transcript_bytes, transcript_sha256, search_text, created_at, updated_at, version)
             SELECT $1, c.id, c.user_id, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11 FROM campaigns c WHERE c.id = $2
             ON CONFLICT (id) DO NOTHING RETURNING {SESSION_COLUMNS}"
        ).into_sql())
        .bind(session.as_str()).bind(campaign.as_str()).bind(name).bind(summary)
        .bind(sqlx::types::Json(metadata)).bind(transcript).bind(transcript.len() as i64).bind(sha256_hex(transcript.as_bytes()))
        .bind(&search_text).bind(self.now).bind(version)
        .fetch_optional(&mut *self.tx).await.map_err(AppError::pg("inserting a session"))?;
        let Some(row) = row else {
            return Err(self
                .missing_parent_or_duplicate(
                    (EntityKind::Campaign, campaign),
                    (EntityKind::Session, session),
                )
                .await);
        };
        self.session_written(&row).await
    }

    async fn update_session(
        &mut self,
        session: &Id,
        name: Option<&str>,
        summary: Option<&str>,
        metadata: Option<&serde_json::Value>,
        transcript: Option<&str>,
    ) -> Written {
        let version = self.next_version().await?;
        let row = sqlx::query(format!(
            "UPDATE sessions SET name = COALESCE($2, name), summary = COALESCE($3, summary), metadata = COALESCE($4, metadata),
                 transcript = COALESCE($5, transcript), transcript_bytes = COALESCE($6, transcript_bytes), transcript_sha256 = COALESCE($7, transcript_sha256),
                 updated_at = GREATEST($8, updated_at + interval '1 millisecond'), version = $9
             WHERE id = $1 RETURNING {SESSION_COLUMNS}"
        ).into_sql())
        .bind(session.as_str()).bind(name).bind(summary).bind(metadata.map(sqlx::types::Json))
        .bind(transcript).bind(transcript.map(|t| t.len() as i64)).bind(transcript.map(|t| sha256_hex(t.as_bytes())))
        .bind(self.now).bind(version)
        .fetch_optional(&mut *self.tx).await.map_err(AppError::pg("updating a session"))?
        .ok_or_else(|| not_found(EntityKind::Session, session))?;
        self.session_written(&row).await
    }

    /// `ShareSession` (a new random token, replacing any old one) or `UnshareSession`.
    async fn set_share_token(&mut self, session: &Id, share: bool) -> Written {
        let token = share.then(new_share_token);
        let version = self.next_version().await?;
        let row = sqlx::query(format!(
            "UPDATE sessions SET share_token = $2, updated_at = GREATEST($3, updated_at + interval '1 millisecond'), version = $4 WHERE id = $1 RETURNING {SESSION_COLUMNS}"
        ).into_sql())
        .bind(session.as_str()).bind(&token).bind(self.now).bind(version)
        .fetch_optional(&mut *self.tx).await.map_err(AppError::pg("setting a share token"))?
        .ok_or_else(|| not_found(EntityKind::Session, session))?;
        self.recorder.outcome.share_token = token;
        self.session_written(&row).await
    }

    async fn delete_session(&mut self, session: &Id) -> Written {
        let row = self.lock_row(EntityKind::Session, session).await?;
        let version = self.next_version().await?;
        for summary in self
            .children_where(EntityKind::Summary, "session_id", session)
            .await?
        {
            self.deleted(&summary, version).await?;
        }
        self.deleted(&reference_row(EntityKind::Session, &row)?, version)
            .await?;
        self.delete_row(EntityKind::Session, session).await
    }

    /// After a session row changed: recompute its search copy over all
    /// searchable fields (metadata included), check the item size, record it.
    async fn session_written(&mut self, row: &PgRow) -> Written {
        let session: Session = reference_row_as(EntityKind::Session, row)?;
        let search_text = session.search_text();
        let stored: String = column(row, "search_text")?;
        if stored != search_text {
            sqlx::query("UPDATE sessions SET search_text = $2 WHERE id = $1")
                .bind(session.id.as_str())
                .bind(search_text)
                .execute(&mut *self.tx)
                .await
                .map_err(AppError::pg("storing the search copy"))?;
        }
        self.recorder
            .upsert(&mut self.tx, &Entity::Session(session))
            .await
    }

    // --- summaries ---------------------------------------------------------

    async fn create_summary(
        &mut self,
        summary: &Id,
        session: &Id,
        kind: &str,
        body: &str,
    ) -> Written {
        let version = self.next_version().await?;
        let row = sqlx::query(format!(
            "INSERT INTO session_summaries (id, session_id, user_id, kind, body, created_at, updated_at, version)
             SELECT $1, s.id, s.user_id, $3, $4, $5, $5, $6 FROM sessions s WHERE s.id = $2
             ON CONFLICT (id) DO NOTHING RETURNING {SUMMARY_COLUMNS}"
        ).into_sql())
        .bind(summary.as_str()).bind(session.as_str()).bind(kind).bind(body).bind(self.now).bind(version)
        .fetch_optional(&mut *self.tx).await.map_err(AppError::pg("inserting a summary"))?;
        let Some(row) = row else {
            return Err(self
                .missing_parent_or_duplicate(
                    (EntityKind::Session, session),
                    (EntityKind::Summary, summary),
                )
                .await);
        };
        self.upserted(EntityKind::Summary, &row).await
    }

    async fn update_summary(&mut self, summary: &Id, body: &str) -> Written {
        let version = self.next_version().await?;
        let row = sqlx::query(format!(
            "UPDATE session_summaries SET body = $2, updated_at = GREATEST($3, updated_at + interval '1 millisecond'), version = $4 WHERE id = $1 RETURNING {SUMMARY_COLUMNS}"
        ).into_sql())
        .bind(summary.as_str()).bind(body).bind(self.now).bind(version)
        .fetch_optional(&mut *self.tx).await.map_err(AppError::pg("updating a summary"))?
        .ok_or_else(|| not_found(EntityKind::Summary, summary))?;
        self.upserted(EntityKind::Summary, &row).await
    }

    async fn delete_summary(&mut self, summary: &Id) -> Written {
        let row = sqlx::query(
            format!("DELETE FROM session_summaries WHERE id = $1 RETURNING {SUMMARY_COLUMNS}")
                .into_sql(),
        )
        .bind(summary.as_str())
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(AppError::pg("deleting a summary"))?
        .ok_or_else(|| not_found(EntityKind::Summary, summary))?;
        let version = self.next_version().await?;
        self.deleted(&reference_row(EntityKind::Summary, &row)?, version)
            .await
    }

    // --- shared ------------------------------------------------------------

    /// Why an insert-from-parent wrote nothing: the id is taken, or the parent is missing.
    async fn missing_parent_or_duplicate(
        &mut self,
        parent: (EntityKind, &Id),
        child: (EntityKind, &Id),
    ) -> AppError {
        let (kind, id) = child;
        let table = table_of(kind);
        let exists = sqlx::query_scalar::<_, bool>(
            format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE id = $1)").into_sql(),
        )
        .bind(id.as_str())
        .fetch_one(&mut *self.tx)
        .await;
        match exists {
            Ok(true) => AppError::AlreadyExists {
                kind,
                id: id.to_string(),
            },
            Ok(false) => not_found(parent.0, parent.1),
            Err(error) => AppError::Postgres {
                action: format!("checking {table}"),
                source: error,
            },
        }
    }

    /// The rows of `kind` whose `column` (one of this module's) is `id`, in id order.
    async fn children_where(
        &mut self,
        kind: EntityKind,
        column: &str,
        id: &Id,
    ) -> Result<Vec<Entity>, AppError> {
        let (table, columns) = reference_table(kind);
        let rows = sqlx::query(
            format!("SELECT {columns} FROM {table} WHERE {column} = $1 ORDER BY id").into_sql(),
        )
        .bind(id.as_str())
        .fetch_all(&mut *self.tx)
        .await
        .map_err(AppError::pg(format!("listing {table}")))?;
        rows.iter().map(|row| reference_row(kind, row)).collect()
    }
}

/// The reference schema's table of one entity kind, and the columns this
/// module reads from it.
fn reference_table(kind: EntityKind) -> (&'static str, &'static str) {
    match kind {
        EntityKind::User => ("users", USER_COLUMNS),
        EntityKind::Campaign => ("campaigns", CAMPAIGN_COLUMNS),
        EntityKind::Session => ("sessions", SESSION_COLUMNS),
        EntityKind::Summary => ("session_summaries", SUMMARY_COLUMNS),
    }
}

fn table_of(kind: EntityKind) -> &'static str {
    reference_table(kind).0
}
