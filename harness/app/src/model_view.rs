//! The app's stores seen as the in-memory model sees them (no versions,
//! timestamps or token values), for comparing a store with the model a
//! workload should have produced: the model-based test and the rollback drill.

use cutover_core::domain::{Entity, canonical_json};
use cutover_core::keys::EntityKind;
use cutover_core::model::{Model, ModelCampaign, ModelSession, ModelSummary, ModelUser};

use crate::error::AppError;
use crate::pg::PgStore;

/// Ids read per statement while paging through a table.
const PAGE: i64 = 1000;

/// PostgreSQL's content as the model sees it, read through the store's
/// schema profile (the reference app's tables or an app's own).
pub async fn postgres_as_model(pg: &PgStore) -> Result<Model, AppError> {
    let mut model = Model::default();
    for kind in EntityKind::ALL {
        let mut after: Option<String> = None;
        loop {
            let ids = pg.ids_after(kind, after.as_deref(), PAGE).await?;
            let Some(last) = ids.last() else { break };
            after = Some(last.clone());
            for (entity, transcript) in pg.entities_with_transcripts_by_ids(kind, &ids).await? {
                insert(&mut model, entity, transcript);
            }
            if (ids.len() as i64) < PAGE {
                break;
            }
        }
    }
    Ok(model)
}

fn insert(model: &mut Model, entity: Entity, transcript: Option<String>) {
    match entity {
        Entity::User(user) => {
            model.users.insert(
                user.id,
                ModelUser {
                    email: user.email,
                    display_name: user.display_name,
                },
            );
        }
        Entity::Campaign(campaign) => {
            model.campaigns.insert(
                campaign.id,
                ModelCampaign {
                    user: campaign.user_id,
                    name: campaign.name,
                    description: campaign.description,
                },
            );
        }
        Entity::Session(session) => {
            model.sessions.insert(
                session.id,
                ModelSession {
                    campaign: session.campaign_id,
                    user: session.user_id,
                    name: session.name,
                    summary: session.summary,
                    metadata: canonical_json(session.metadata),
                    transcript: transcript.unwrap_or_default(),
                    shared: session.share_token.is_some(),
                },
            );
        }
        Entity::Summary(summary) => {
            model.summaries.insert(
                summary.id,
                ModelSummary {
                    session: summary.session_id,
                    user: summary.user_id,
                    kind: summary.kind,
                    body: summary.body,
                },
            );
        }
    }
}
