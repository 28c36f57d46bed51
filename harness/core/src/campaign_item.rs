//! Shared pieces of the entity ↔ item mapping: the error every reader of an
//! item returns, JSON ↔ document types, the timestamp format, and the
//! reference app's attribute names. The mapping itself goes through an app
//! profile (`crate::profile`), so there is one mapping per app.

use chrono::{DateTime, SecondsFormat, Utc};
use thiserror::Error;

use crate::item_size::AttrValue;
use crate::keys::{EntityKind, KeyError};

/// The reference profile's attribute names (`profiles/reference.toml`), for the
/// tables cutover lays out itself (the search-cost sweep); a test checks the
/// two agree. Everything that reads an app's items asks its profile instead.
pub mod attr {
    pub const PK: &str = "pk";
    pub const SK: &str = "sk";
    pub const GSI1PK: &str = "gsi1pk";
    pub const GSI1SK: &str = "gsi1sk";
    pub const ENTITY: &str = "entity";
    pub const VERSION: &str = "version";
    pub const CREATED_AT: &str = "createdAt";
    pub const UPDATED_AT: &str = "updatedAt";
    pub const USER_ID: &str = "userId";
    pub const CAMPAIGN_ID: &str = "campaignId";
    pub const SESSION_ID: &str = "sessionId";
    pub const SUMMARY_ID: &str = "summaryId";
    pub const EMAIL: &str = "email";
    pub const DISPLAY_NAME: &str = "displayName";
    pub const NAME: &str = "name";
    pub const DESCRIPTION: &str = "description";
    pub const SUMMARY: &str = "summary";
    pub const METADATA: &str = "metadata";
    pub const SHARE_TOKEN: &str = "shareToken";
    pub const SEARCH_TEXT: &str = "searchText";
    /// The token variant's stemmed lexemes (a string set; absent when empty,
    /// as DynamoDB stores no empty sets).
    pub const SEARCH_LEXEMES: &str = "searchLexemes";
    pub const TRANSCRIPT_KEY: &str = "transcriptStorageKey";
    pub const TRANSCRIPT_BYTES: &str = "transcriptBytes";
    pub const TRANSCRIPT_SHA256: &str = "transcriptSha256";
    pub const KIND: &str = "kind";
    pub const BODY: &str = "body";
}

/// The sparse index that finds a session by its share token.
pub const SHARE_TOKEN_INDEX: &str = "shareToken";

#[derive(Debug, Clone, PartialEq, Error)]
pub enum ItemError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("item is missing {0:?}")]
    Missing(String),
    #[error("attribute {name:?} should be {expected}, found {found}")]
    WrongType {
        name: String,
        expected: String,
        found: String,
    },
    #[error("attribute {name:?} has an invalid value {value:?}: {reason}")]
    Invalid {
        name: String,
        value: String,
        reason: String,
    },
    #[error("attribute {name:?} = {value:?} disagrees with the key ({key})")]
    KeyMismatch {
        name: String,
        value: String,
        key: String,
    },
    #[error(
        "key attribute {attribute:?} is {stored:?}, but the item's attributes give {expected:?}"
    )]
    KeyDisagrees {
        attribute: String,
        stored: String,
        expected: String,
    },
    #[error(
        "the key looks like a {entity}'s but {name:?} is {found}, not {expected:?}: the app (ElectroDB) does not read it as one"
    )]
    Marker {
        name: String,
        expected: String,
        found: String,
        entity: EntityKind,
    },
    #[error("key {key} matches no entity of the profile {profile:?}")]
    Unrecognized { key: String, profile: String },
}

pub fn format_timestamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// JSON → DynamoDB document types, as the DocumentClient marshals them.
pub fn json_to_attr(value: &serde_json::Value) -> AttrValue {
    match value {
        serde_json::Value::Null => AttrValue::Null,
        serde_json::Value::Bool(b) => AttrValue::Bool(*b),
        serde_json::Value::Number(number) => AttrValue::N(number.to_string()),
        serde_json::Value::String(text) => AttrValue::S(text.clone()),
        serde_json::Value::Array(values) => AttrValue::L(values.iter().map(json_to_attr).collect()),
        serde_json::Value::Object(map) => AttrValue::M(
            map.iter()
                .map(|(k, v)| (k.clone(), json_to_attr(v)))
                .collect(),
        ),
    }
}

pub fn attr_to_json(value: &AttrValue) -> Result<serde_json::Value, String> {
    Ok(match value {
        AttrValue::Null => serde_json::Value::Null,
        AttrValue::Bool(b) => serde_json::Value::Bool(*b),
        AttrValue::N(number) => serde_json::Value::Number(
            number
                .parse::<serde_json::Number>()
                .map_err(|_| format!("number {number:?} is not representable in JSON"))?,
        ),
        AttrValue::S(text) => serde_json::Value::String(text.clone()),
        AttrValue::L(values) => {
            serde_json::Value::Array(values.iter().map(attr_to_json).collect::<Result<_, _>>()?)
        }
        AttrValue::M(map) => serde_json::Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), attr_to_json(v)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => return Err(format!("{other:?} has no JSON form")),
    })
}

pub fn type_name(value: &AttrValue) -> &'static str {
    match value {
        AttrValue::S(_) => "S",
        AttrValue::N(_) => "N",
        AttrValue::B(_) => "B",
        AttrValue::Bool(_) => "BOOL",
        AttrValue::Null => "NULL",
        AttrValue::L(_) => "L",
        AttrValue::M(_) => "M",
        AttrValue::Ss(_) => "SS",
        AttrValue::Ns(_) => "NS",
        AttrValue::Bs(_) => "BS",
    }
}
