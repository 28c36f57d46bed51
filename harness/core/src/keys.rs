//! The logical identity of every item of the campaign app: validated ids,
//! `ItemKey` (which entity, by ids) and the Query access patterns. How a key
//! is written as a string — templates, casing — is the app profile's
//! (`crate::profile::template`), the one place keys are built and matched.
//!
//! Ids are restricted to `[A-Za-z0-9_-]`, 1 to 128 bytes, so no id can contain
//! a template's separator or make one entity's key look like another's;
//! anything else is rejected with the offending value, never escaped silently.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The separator of the shipped key templates; ids may not contain it.
pub const SEPARATOR: char = '#';
pub const MAX_ID_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error("id {value:?} is invalid: {reason}")]
    InvalidId { value: String, reason: &'static str },
}

/// An entity id that is safe inside a key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Id(String);

impl Id {
    pub fn parse(value: &str) -> Result<Id, KeyError> {
        let invalid = |reason| KeyError::InvalidId {
            value: value.to_owned(),
            reason,
        };
        if value.is_empty() {
            return Err(invalid("it is empty"));
        }
        if value.len() > MAX_ID_LEN {
            return Err(invalid("it is longer than 128 bytes"));
        }
        if value.contains(SEPARATOR) {
            return Err(invalid("it contains the key separator '#'"));
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(invalid("only A-Z, a-z, 0-9, '_' and '-' are allowed"));
        }
        Ok(Id(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl schemars::JsonSchema for Id {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Id".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "An entity id: 1 to 128 of A-Z, a-z, 0-9, '_' and '-'.",
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]{1,128}$"
        })
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Id {
    type Error = KeyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Id::parse(&value)
    }
}

impl From<Id> for String {
    fn from(id: Id) -> String {
        id.0
    }
}

/// The primary key of every item of the campaign table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ItemKey {
    User { user: Id },
    Campaign { user: Id, campaign: Id },
    Session { campaign: Id, session: Id },
    Summary { session: Id, summary: Id },
}

impl ItemKey {
    pub fn entity(&self) -> EntityKind {
        match self {
            ItemKey::User { .. } => EntityKind::User,
            ItemKey::Campaign { .. } => EntityKind::Campaign,
            ItemKey::Session { .. } => EntityKind::Session,
            ItemKey::Summary { .. } => EntityKind::Summary,
        }
    }

    /// The id of the entity the key is for.
    pub fn id(&self) -> &Id {
        match self {
            ItemKey::User { user } => user,
            ItemKey::Campaign { campaign, .. } => campaign,
            ItemKey::Session { session, .. } => session,
            ItemKey::Summary { summary, .. } => summary,
        }
    }
}

impl fmt::Display for ItemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemKey::User { user } => write!(f, "user {user}"),
            ItemKey::Campaign { user, campaign } => write!(f, "campaign {campaign} of user {user}"),
            ItemKey::Session { campaign, session } => {
                write!(f, "session {session} of campaign {campaign}")
            }
            ItemKey::Summary { session, summary } => {
                write!(f, "summary {summary} of session {session}")
            }
        }
    }
}

/// The entity types of the campaign app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    User,
    Campaign,
    Session,
    Summary,
}

impl EntityKind {
    pub const ALL: [EntityKind; 4] = [
        EntityKind::User,
        EntityKind::Campaign,
        EntityKind::Session,
        EntityKind::Summary,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EntityKind::User => "user",
            EntityKind::Campaign => "campaign",
            EntityKind::Session => "session",
            EntityKind::Summary => "summary",
        }
    }

    pub fn parse(name: &str) -> Option<EntityKind> {
        EntityKind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Query: one partition, optionally narrowed to sort keys with a prefix.
/// Built by the app profile (`Profile::campaigns_of` and the other patterns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionQuery {
    /// `None`: the base table; `Some(name)`: that index.
    pub index: Option<String>,
    pub partition_attribute: String,
    pub partition_key: String,
    pub sort_attribute: String,
    pub sort_key_prefix: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_ids_are_rejected_naming_the_value() {
        for (bad, reason) in [
            ("", "empty"),
            ("a#b", "separator"),
            ("CAMP#x", "separator"),
            ("café", "only A-Z"),
            ("🐉", "only A-Z"),
            ("a b", "only A-Z"),
            ("a/../b", "only A-Z"),
            ("line\nbreak", "only A-Z"),
        ] {
            let error = Id::parse(bad).unwrap_err();
            let message = error.to_string();
            assert!(message.contains(reason), "{bad:?}: {message}");
            assert!(message.contains(&format!("{bad:?}")), "{message}");
        }
        assert!(Id::parse(&"x".repeat(129)).is_err());
        assert!(Id::parse(&"x".repeat(128)).is_ok());
    }
}
