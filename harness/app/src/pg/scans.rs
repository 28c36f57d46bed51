//! Reading many rows at once through the schema profile: by ids, counts,
//! versions, and keyset pages of ids (what parity, backfill and the relay
//! walk the database with).

use cutover_core::domain::Entity;
use cutover_core::keys::EntityKind;

use super::{IntoSql, PgStore, rows};
use crate::error::AppError;

impl PgStore {
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
}
