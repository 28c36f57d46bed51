//! Loading a database as it stood before dual writes began (fixtures, the
//! backfill's tests): rows inserted as they are, no outbox records.

use cutover_core::domain::Entity;

use super::PgStore;
use crate::error::AppError;

impl PgStore {
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
}
