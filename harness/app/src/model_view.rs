//! The app's stores seen as the in-memory model sees them (no versions,
//! timestamps or token values), for comparing a store with the model a
//! workload should have produced: the model-based test and the rollback drill.

use cutover_core::domain::canonical_json;
use cutover_core::keys::Id;
use cutover_core::model::{Model, ModelCampaign, ModelSession, ModelSummary, ModelUser};
use sqlx::Row;

use crate::error::AppError;
use crate::pg::PgStore;

/// PostgreSQL's content as the model sees it.
pub async fn postgres_as_model(pg: &PgStore) -> Result<Model, AppError> {
    let pool = pg.pool();
    let id = |row: &sqlx::postgres::PgRow, column: &str| -> Result<Id, AppError> {
        Ok(Id::parse(
            row.try_get::<String, _>(column)
                .map_err(AppError::pg("reading an id"))?
                .as_str(),
        )?)
    };
    let mut model = Model::default();
    for row in sqlx::query("SELECT id, email, display_name FROM users")
        .fetch_all(pool)
        .await
        .map_err(AppError::pg("reading PostgreSQL as the model"))?
    {
        model.users.insert(
            id(&row, "id")?,
            ModelUser {
                email: row.get("email"),
                display_name: row.get("display_name"),
            },
        );
    }
    for row in sqlx::query("SELECT id, user_id, name, description FROM campaigns")
        .fetch_all(pool)
        .await
        .map_err(AppError::pg("reading PostgreSQL as the model"))?
    {
        model.campaigns.insert(
            id(&row, "id")?,
            ModelCampaign {
                user: id(&row, "user_id")?,
                name: row.get("name"),
                description: row.get("description"),
            },
        );
    }
    for row in sqlx::query("SELECT id, campaign_id, user_id, name, summary, metadata, transcript, share_token FROM sessions").fetch_all(pool).await.map_err(AppError::pg("reading sessions as the model"))? {
        model.sessions.insert(
            id(&row, "id")?,
            ModelSession {
                campaign: id(&row, "campaign_id")?,
                user: id(&row, "user_id")?,
                name: row.get("name"),
                summary: row.get("summary"),
                metadata: canonical_json(row.get::<sqlx::types::Json<serde_json::Value>, _>("metadata").0),
                transcript: row.get("transcript"),
                shared: row.get::<Option<String>, _>("share_token").is_some(),
            },
        );
    }
    for row in sqlx::query("SELECT id, session_id, user_id, kind, body FROM session_summaries")
        .fetch_all(pool)
        .await
        .map_err(AppError::pg("reading PostgreSQL as the model"))?
    {
        model.summaries.insert(
            id(&row, "id")?,
            ModelSummary {
                session: id(&row, "session_id")?,
                user: id(&row, "user_id")?,
                kind: row.get("kind"),
                body: row.get("body"),
            },
        );
    }
    Ok(model)
}
