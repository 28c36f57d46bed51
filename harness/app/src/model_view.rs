//! The app's stores seen as the in-memory model sees them (no versions,
//! timestamps or token values), for comparing a store with the model a
//! workload should have produced: the model-based test and the rollback drill.

use cutover_core::domain::canonical_json;
use cutover_core::keys::Id;
use cutover_core::model::{Model, ModelCampaign, ModelSession, ModelSummary, ModelUser};

use crate::error::AppError;
use crate::pg::{PgStore, column};

/// PostgreSQL's content as the model sees it.
pub async fn postgres_as_model(pg: &PgStore) -> Result<Model, AppError> {
    let pool = pg.pool();
    let id = |row: &sqlx::postgres::PgRow, name: &str| -> Result<Id, AppError> {
        Ok(Id::parse(&column::<String>(row, name)?)?)
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
                email: column(&row, "email")?,
                display_name: column(&row, "display_name")?,
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
                name: column(&row, "name")?,
                description: column(&row, "description")?,
            },
        );
    }
    for row in sqlx::query("SELECT id, campaign_id, user_id, name, summary, metadata, transcript, share_token FROM sessions").fetch_all(pool).await.map_err(AppError::pg("reading sessions as the model"))? {
        model.sessions.insert(
            id(&row, "id")?,
            ModelSession {
                campaign: id(&row, "campaign_id")?,
                user: id(&row, "user_id")?,
                name: column(&row, "name")?,
                summary: column(&row, "summary")?,
                metadata: canonical_json(column::<sqlx::types::Json<serde_json::Value>>(&row, "metadata")?.0),
                transcript: column(&row, "transcript")?,
                shared: column::<Option<String>>(&row, "share_token")?.is_some(),
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
                kind: column(&row, "kind")?,
                body: column(&row, "body")?,
            },
        );
    }
    Ok(model)
}
