//! The app's read access patterns, on each store. Both sides answer with the
//! same domain types, ordered by id, so they can be compared directly (shadow
//! reads, tests, the parity validator).

use cutover_core::domain::{Entity, Session};
use cutover_core::item_size::Item;
use cutover_core::keys::{EntityKind, Id, ItemKey};
use cutover_core::profile::Profile;
use cutover_core::normalize::normalize;
use cutover_core::search::expression::SearchFilter;
use sqlx::{PgConnection, Row};

use crate::dynamo::DynamoStore;
use crate::error::AppError;
use crate::pg::{PgStore, campaign_from_row, session_from_row, summary_from_row, user_from_row};
use crate::transcripts::TranscriptStore;
pub use cutover_core::command::{Answer, Read};

/// Reads served by PostgreSQL.
#[derive(Clone)]
pub struct PgReads {
    pg: PgStore,
}

const SESSION_SELECT: &str = "SELECT id, campaign_id, user_id, name, summary, metadata, share_token, transcript_bytes, transcript_sha256, created_at, updated_at, version FROM sessions";

impl PgReads {
    pub fn new(pg: PgStore) -> PgReads {
        PgReads { pg }
    }

    pub async fn read(&self, read: &Read) -> Result<Answer, AppError> {
        let pool = self.pg.pool();
        let fail = |what: &str| AppError::pg(format!("reading {what}"));
        Ok(match read {
            Read::User(id) => Answer::User(
                sqlx::query("SELECT id, email, display_name, created_at, updated_at, version FROM users WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_optional(pool)
                    .await
                    .map_err(fail("a user"))?
                    .as_ref()
                    .map(user_from_row)
                    .transpose()?,
            ),
            Read::CampaignsOf(user) => Answer::Campaigns(
                sqlx::query("SELECT id, user_id, name, description, created_at, updated_at, version FROM campaigns WHERE user_id = $1 ORDER BY id")
                    .bind(user.as_str())
                    .fetch_all(pool)
                    .await
                    .map_err(fail("campaigns"))?
                    .iter()
                    .map(campaign_from_row)
                    .collect::<Result<_, _>>()?,
            ),
            Read::Campaign(id) => Answer::Campaign(
                sqlx::query("SELECT id, user_id, name, description, created_at, updated_at, version FROM campaigns WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_optional(pool)
                    .await
                    .map_err(fail("a campaign"))?
                    .as_ref()
                    .map(campaign_from_row)
                    .transpose()?,
            ),
            Read::SessionsOf(campaign) => Answer::Sessions(
                sqlx::query(sqlx::AssertSqlSafe(format!("{SESSION_SELECT} WHERE campaign_id = $1 ORDER BY id")))
                    .bind(campaign.as_str())
                    .fetch_all(pool)
                    .await
                    .map_err(fail("sessions"))?
                    .iter()
                    .map(session_from_row)
                    .collect::<Result<_, _>>()?,
            ),
            Read::Session(id) => Answer::Session(
                sqlx::query(sqlx::AssertSqlSafe(format!("{SESSION_SELECT} WHERE id = $1")))
                    .bind(id.as_str())
                    .fetch_optional(pool)
                    .await
                    .map_err(fail("a session"))?
                    .as_ref()
                    .map(session_from_row)
                    .transpose()?,
            ),
            Read::SummariesOf(session) => Answer::Summaries(
                sqlx::query("SELECT id, session_id, user_id, kind, body, created_at, updated_at, version FROM session_summaries WHERE session_id = $1 ORDER BY id")
                    .bind(session.as_str())
                    .fetch_all(pool)
                    .await
                    .map_err(fail("summaries"))?
                    .iter()
                    .map(summary_from_row)
                    .collect::<Result<_, _>>()?,
            ),
            Read::SessionByShareToken(token) => Answer::Session(
                sqlx::query(sqlx::AssertSqlSafe(format!("{SESSION_SELECT} WHERE share_token = $1")))
                    .bind(token)
                    .fetch_optional(pool)
                    .await
                    .map_err(fail("a shared session"))?
                    .as_ref()
                    .map(session_from_row)
                    .transpose()?,
            ),
            Read::SearchSessions { campaign, query } => {
                let ids: Vec<String> = sqlx::query_scalar(
                    "SELECT id FROM sessions WHERE campaign_id = $1 AND strpos(search_text, $2) > 0 ORDER BY id",
                )
                .bind(campaign.as_str())
                .bind(normalize(query))
                .fetch_all(pool)
                .await
                .map_err(fail("a search"))?;
                Answer::SessionIds(ids.iter().map(|id| Id::parse(id)).collect::<Result<_, _>>()?)
            }
            Read::Transcript(session) => Answer::Transcript(
                sqlx::query_scalar("SELECT transcript FROM sessions WHERE id = $1")
                    .bind(session.as_str())
                    .fetch_optional(pool)
                    .await
                    .map_err(fail("a transcript"))?,
            ),
        })
    }

    /// The entity's current row (and a session's transcript text) on `connection`.
    pub(crate) async fn entity_with_transcript(
        connection: &mut PgConnection,
        kind: EntityKind,
        id: &Id,
    ) -> Result<Option<(Entity, Option<String>)>, AppError> {
        let fail = || AppError::pg(format!("reading {kind} {id}"));
        let sql = match kind {
            EntityKind::User => {
                "SELECT id, email, display_name, created_at, updated_at, version FROM users WHERE id = $1"
            }
            EntityKind::Campaign => {
                "SELECT id, user_id, name, description, created_at, updated_at, version FROM campaigns WHERE id = $1"
            }
            EntityKind::Session => {
                "SELECT id, campaign_id, user_id, name, summary, metadata, share_token, transcript, transcript_bytes, transcript_sha256, created_at, updated_at, version FROM sessions WHERE id = $1"
            }
            EntityKind::Summary => {
                "SELECT id, session_id, user_id, kind, body, created_at, updated_at, version FROM session_summaries WHERE id = $1"
            }
        };
        let Some(row) = sqlx::query(sql)
            .bind(id.as_str())
            .fetch_optional(connection)
            .await
            .map_err(fail())?
        else {
            return Ok(None);
        };
        Ok(Some(match kind {
            EntityKind::User => (Entity::User(user_from_row(&row)?), None),
            EntityKind::Campaign => (Entity::Campaign(campaign_from_row(&row)?), None),
            EntityKind::Session => {
                let transcript: String = row.try_get("transcript").map_err(fail())?;
                (Entity::Session(session_from_row(&row)?), Some(transcript))
            }
            EntityKind::Summary => (Entity::Summary(summary_from_row(&row)?), None),
        }))
    }
}

/// Reads served by DynamoDB and S3, the way the app reads after the cutover.
#[derive(Clone)]
pub struct DynamoReads {
    dynamo: DynamoStore,
    transcripts: TranscriptStore,
}

fn entity_of(profile: &Profile, item: &Item) -> Result<Entity, AppError> {
    profile
        .from_item(item)
        .map_err(|error| AppError::MalformedItem {
            key: profile
                .stored_key(item)
                .map_or_else(|| "(no key)".to_owned(), |key| key.to_string()),
            detail: error.to_string(),
        })
}

fn entities<T>(
    profile: &Profile,
    items: &[Item],
    pick: impl Fn(Entity) -> Option<T>,
) -> Result<Vec<T>, AppError> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let entity = entity_of(profile, item)?;
        let described = format!("{:?} {}", entity.kind(), entity.id());
        out.push(pick(entity).ok_or_else(|| AppError::MalformedItem {
            key: described,
            detail: "unexpected entity type in this partition".into(),
        })?);
    }
    Ok(out)
}

impl DynamoReads {
    pub fn new(dynamo: DynamoStore, transcripts: TranscriptStore) -> DynamoReads {
        DynamoReads {
            dynamo,
            transcripts,
        }
    }

    fn profile(&self) -> &Profile {
        self.dynamo.profile()
    }

    async fn session(&self, id: &Id) -> Result<Option<Session>, AppError> {
        // Reverse lookup on GSI1 finds the campaign; then a consistent GetItem.
        let found = self
            .dynamo
            .query(&self.dynamo.profile().session_by_id(id))
            .await?;
        let Some(first) = found.first() else {
            return Ok(None);
        };
        let Entity::Session(indexed) = entity_of(self.profile(), first)? else {
            return Err(AppError::MalformedItem {
                key: format!("the reverse lookup of session {id}"),
                detail: "not a session".into(),
            });
        };
        let key = ItemKey::Session {
            campaign: indexed.campaign_id,
            session: id.clone(),
        };
        match self.dynamo.get(&key).await? {
            Some(item) => match entity_of(self.profile(), &item)? {
                Entity::Session(session) => Ok(Some(session)),
                _ => Err(AppError::MalformedItem {
                    key: self.dynamo.stored_key(&key).to_string(),
                    detail: "not a session".into(),
                }),
            },
            None => Ok(None),
        }
    }

    pub async fn read(&self, read: &Read) -> Result<Answer, AppError> {
        Ok(match read {
            Read::User(id) => Answer::User(
                match self.dynamo.get(&ItemKey::User { user: id.clone() }).await? {
                    Some(item) => match entity_of(self.profile(), &item)? {
                        Entity::User(user) => Some(user),
                        _ => None,
                    },
                    None => None,
                },
            ),
            Read::CampaignsOf(user) => Answer::Campaigns(entities(
                self.profile(),
                &self
                    .dynamo
                    .query(&self.profile().campaigns_of(user))
                    .await?,
                |e| match e {
                    Entity::Campaign(c) => Some(c),
                    _ => None,
                },
            )?),
            Read::Campaign(id) => {
                let found = self
                    .dynamo
                    .query(&self.profile().campaign_by_id(id))
                    .await?;
                Answer::Campaign(match found.first() {
                    Some(item) => match entity_of(self.profile(), item)? {
                        Entity::Campaign(c) => {
                            let key = ItemKey::Campaign {
                                user: c.user_id,
                                campaign: id.clone(),
                            };
                            match self.dynamo.get(&key).await? {
                                Some(item) => match entity_of(self.profile(), &item)? {
                                    Entity::Campaign(c) => Some(c),
                                    _ => None,
                                },
                                None => None,
                            }
                        }
                        _ => None,
                    },
                    None => None,
                })
            }
            Read::SessionsOf(campaign) => Answer::Sessions(entities(
                self.profile(),
                &self
                    .dynamo
                    .query(&self.profile().sessions_of(campaign))
                    .await?,
                |e| match e {
                    Entity::Session(s) => Some(s),
                    _ => None,
                },
            )?),
            Read::Session(id) => Answer::Session(self.session(id).await?),
            Read::SummariesOf(session) => Answer::Summaries(entities(
                self.profile(),
                &self
                    .dynamo
                    .query(&self.profile().summaries_of(session))
                    .await?,
                |e| match e {
                    Entity::Summary(s) => Some(s),
                    _ => None,
                },
            )?),
            Read::SessionByShareToken(token) => {
                let found = self.dynamo.query_share_token(token).await?;
                let sessions = entities(self.profile(), &found, |e| match e {
                    Entity::Session(s) => Some(s),
                    _ => None,
                })?;
                Answer::Session(sessions.into_iter().next())
            }
            Read::SearchSessions { campaign, query } => {
                let filter = SearchFilter::Substring(normalize(query));
                let found = self
                    .dynamo
                    .search_sessions(campaign, &filter)
                    .await?
                    .expect("a substring filter is one short expression");
                let mut ids = entities(self.profile(), &found.items, |e| match e {
                    Entity::Session(s) => Some(s.id),
                    _ => None,
                })?;
                ids.sort();
                Answer::SessionIds(ids)
            }
            Read::Transcript(id) => Answer::Transcript(match self.session(id).await? {
                Some(session) => {
                    self.transcripts
                        .get_verified(id.as_str(), &session.transcript)
                        .await?
                }
                None => None,
            }),
        })
    }
}
