//! The app's read access patterns, on each store. Both sides answer with the
//! same domain types, ordered by id, so they can be compared directly (shadow
//! reads, tests, the parity validator).

use cutover_core::domain::{Entity, Session};
use cutover_core::item_size::Item;
use cutover_core::keys::{EntityKind, Id, ItemKey};
use cutover_core::normalize::normalize;
use cutover_core::profile::Profile;
use cutover_core::search::expression::SearchFilter;

use crate::dynamo::DynamoStore;
use crate::error::AppError;
use crate::pg::{PgStore, of_kind};
use crate::transcripts::TranscriptStore;
pub use cutover_core::command::{Answer, Read};

/// Reads served by PostgreSQL.
#[derive(Clone)]
pub struct PgReads {
    pg: PgStore,
}

impl PgReads {
    pub fn new(pg: PgStore) -> PgReads {
        PgReads { pg }
    }

    /// The entities of `kind` whose `field` is `value`, in id order.
    async fn rows(
        &self,
        kind: EntityKind,
        field: &'static str,
        value: &str,
    ) -> Result<Vec<Entity>, AppError> {
        crate::pg::rows_where(self.pg.pool(), self.pg.schema(), kind, field, value).await
    }

    pub async fn read(&self, read: &Read) -> Result<Answer, AppError> {
        let pool = self.pg.pool();
        let fail = |what: &str| AppError::pg(format!("reading {what}"));
        use cutover_core::profile::fields::{CAMPAIGN_ID, ID, SESSION_ID, SHARE_TOKEN, USER_ID};
        Ok(match read {
            Read::User(id) => Answer::User(
                self.rows(EntityKind::User, ID, id.as_str())
                    .await?
                    .into_iter()
                    .next()
                    .map(of_kind),
            ),
            Read::CampaignsOf(user) => Answer::Campaigns(
                self.rows(EntityKind::Campaign, USER_ID, user.as_str())
                    .await?
                    .into_iter()
                    .map(of_kind)
                    .collect(),
            ),
            Read::Campaign(id) => Answer::Campaign(
                self.rows(EntityKind::Campaign, ID, id.as_str())
                    .await?
                    .into_iter()
                    .next()
                    .map(of_kind),
            ),
            Read::SessionsOf(campaign) => Answer::Sessions(
                self.rows(EntityKind::Session, CAMPAIGN_ID, campaign.as_str())
                    .await?
                    .into_iter()
                    .map(of_kind)
                    .collect(),
            ),
            Read::Session(id) => Answer::Session(
                self.rows(EntityKind::Session, ID, id.as_str())
                    .await?
                    .into_iter()
                    .next()
                    .map(of_kind),
            ),
            Read::SummariesOf(session) => Answer::Summaries(
                self.rows(EntityKind::Summary, SESSION_ID, session.as_str())
                    .await?
                    .into_iter()
                    .map(of_kind)
                    .collect(),
            ),
            Read::SessionByShareToken(token) => Answer::Session(
                self.rows(EntityKind::Session, SHARE_TOKEN, token)
                    .await?
                    .into_iter()
                    .next()
                    .map(of_kind),
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
                Answer::SessionIds(
                    ids.iter()
                        .map(|id| Id::parse(id))
                        .collect::<Result<_, _>>()?,
                )
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
