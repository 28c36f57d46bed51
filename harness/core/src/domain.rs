//! The campaign app's entities as both stores hold them, in one canonical shape.
//!
//! Timestamps have millisecond precision (the TypeScript app's `Date`); versions
//! come from one PostgreSQL sequence, so they only grow, across entities and
//! across delete-and-recreate.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::keys::{EntityKind, Id, ItemKey};

/// A point in time, truncated to milliseconds.
pub type Timestamp = DateTime<Utc>;

pub fn truncate_to_millis(at: Timestamp) -> Timestamp {
    at.trunc_subsecs(3)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: Id,
    pub email: String,
    pub display_name: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: Id,
    pub user_id: Id,
    pub name: String,
    pub description: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i64,
}

/// Where a session's transcript lives in S3 and what it must hash to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptPointer {
    pub storage_key: String,
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the object.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: Id,
    pub campaign_id: Id,
    /// Owner, denormalized from the campaign for tenant checks and S3 keys.
    pub user_id: Id,
    pub name: String,
    pub summary: String,
    /// A JSON object.
    pub metadata: serde_json::Value,
    pub share_token: Option<String>,
    pub transcript: TranscriptPointer,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i64,
}

impl Session {
    /// The searchable fields, in order: name, summary, then the metadata's string values.
    pub fn search_text(&self) -> String {
        session_search_text(&self.name, &self.summary, &self.metadata)
    }
}

/// The search copy of a session's fields (see [`Session::search_text`]).
pub fn session_search_text(name: &str, summary: &str, metadata: &serde_json::Value) -> String {
    let fields = session_search_fields(name, summary, metadata);
    crate::normalize::search_text(fields.iter().map(String::as_str))
}

/// A session's searchable fields as written, in order: name, summary, then
/// the metadata's string values.
pub fn session_search_fields(
    name: &str,
    summary: &str,
    metadata: &serde_json::Value,
) -> Vec<String> {
    let mut fields = vec![name.to_owned(), summary.to_owned()];
    collect_strings(metadata, &mut fields);
    fields
}

fn collect_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(text) => out.push(text.clone()),
        serde_json::Value::Array(values) => values.iter().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// Metadata in canonical form: every number that is a whole value is written as
/// an integer. DynamoDB stores numbers without trailing zeros (`12.0` comes back
/// as `12`) while JSONB keeps `12.0`; JavaScript, the app's language, sees one
/// number either way, so both stores' answers are read into this form.
pub fn canonical_json(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Number(number) => match number.as_f64() {
            Some(float)
                if !number.is_i64()
                    && !number.is_u64()
                    && float.fract() == 0.0
                    && float.abs() < 9.007_199_254_740_992e15 =>
            {
                Value::Number((float as i64).into())
            }
            _ => Value::Number(number),
        },
        Value::Array(values) => Value::Array(values.into_iter().map(canonical_json).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, canonical_json(v)))
                .collect(),
        ),
        other => other,
    }
}

/// An AI-generated summary of a session (the app's "Generate summaries").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub id: Id,
    pub session_id: Id,
    pub user_id: Id,
    pub kind: String,
    pub body: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i64,
}

/// Any entity of the app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "entity", rename_all = "snake_case")]
pub enum Entity {
    User(User),
    Campaign(Campaign),
    Session(Session),
    Summary(Summary),
}

/// Each kind into `Entity`, and back out when the entity is of that kind
/// (`Err` hands the entity back).
macro_rules! entity_kind {
    ($($kind:ident),*) => {$(
        impl From<$kind> for Entity {
            fn from(inner: $kind) -> Entity {
                Entity::$kind(inner)
            }
        }

        impl TryFrom<Entity> for $kind {
            type Error = Entity;
            fn try_from(entity: Entity) -> Result<$kind, Entity> {
                match entity {
                    Entity::$kind(inner) => Ok(inner),
                    other => Err(other),
                }
            }
        }
    )*};
}

entity_kind!(User, Campaign, Session, Summary);

impl Entity {
    pub fn kind(&self) -> EntityKind {
        match self {
            Entity::User(_) => EntityKind::User,
            Entity::Campaign(_) => EntityKind::Campaign,
            Entity::Session(_) => EntityKind::Session,
            Entity::Summary(_) => EntityKind::Summary,
        }
    }

    pub fn id(&self) -> &Id {
        match self {
            Entity::User(e) => &e.id,
            Entity::Campaign(e) => &e.id,
            Entity::Session(e) => &e.id,
            Entity::Summary(e) => &e.id,
        }
    }

    pub fn version(&self) -> i64 {
        match self {
            Entity::User(e) => e.version,
            Entity::Campaign(e) => e.version,
            Entity::Session(e) => e.version,
            Entity::Summary(e) => e.version,
        }
    }

    /// `(created_at, updated_at)`.
    pub fn timestamps(&self) -> (Timestamp, Timestamp) {
        match self {
            Entity::User(e) => (e.created_at, e.updated_at),
            Entity::Campaign(e) => (e.created_at, e.updated_at),
            Entity::Session(e) => (e.created_at, e.updated_at),
            Entity::Summary(e) => (e.created_at, e.updated_at),
        }
    }

    /// The user whose data this is.
    pub fn owner(&self) -> &Id {
        match self {
            Entity::User(e) => &e.id,
            Entity::Campaign(e) => &e.user_id,
            Entity::Session(e) => &e.user_id,
            Entity::Summary(e) => &e.user_id,
        }
    }

    pub fn key(&self) -> ItemKey {
        match self {
            Entity::User(e) => ItemKey::User { user: e.id.clone() },
            Entity::Campaign(e) => ItemKey::Campaign {
                user: e.user_id.clone(),
                campaign: e.id.clone(),
            },
            Entity::Session(e) => ItemKey::Session {
                campaign: e.campaign_id.clone(),
                session: e.id.clone(),
            },
            Entity::Summary(e) => ItemKey::Summary {
                session: e.session_id.clone(),
                summary: e.id.clone(),
            },
        }
    }
}

/// The S3 key of a transcript: content-addressed under its owner and session, so
/// a retried upload rewrites the same object, two versions never collide, and
/// validated ids (no `/`, no `..`) keep it inside its prefix.
/// (The reference layout; an app's own is its profile's `transcript_key`,
/// read back by `Profile::transcript_owner`.)
pub fn transcript_storage_key(user: &Id, session: &Id, sha256_hex: &str) -> String {
    format!("transcripts/{user}/{session}/{sha256_hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_floats_become_integers_everywhere() {
        let value = json!({"a": 12.0, "b": [1.5, 3.0, {"c": -0.0}], "d": 7, "e": "12.0"});
        assert_eq!(
            canonical_json(value),
            json!({"a": 12, "b": [1.5, 3, {"c": 0}], "d": 7, "e": "12.0"})
        );
    }
}
