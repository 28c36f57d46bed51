//! The mapping between the app's entities and items of the single DynamoDB table,
//! in both directions. The write path, the relay, shadow reads and the parity
//! validator all use these two functions, so there is one mapping.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use thiserror::Error;

use crate::domain::{
    Campaign, Entity, Session, Summary, TranscriptPointer, User, canonical_json,
    transcript_storage_key,
};
use crate::item_size::{AttrValue, Item};
use crate::keys::{EntityKind, Id, ItemKey, KeyError};

/// Attribute names, as the TypeScript app writes them.
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
    Missing(&'static str),
    #[error("attribute {name:?} should be {expected}, found {found}")]
    WrongType {
        name: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error("attribute {name:?} has an invalid value {value:?}: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
    #[error("attribute {name:?} = {value:?} disagrees with the key ({key})")]
    KeyMismatch {
        name: &'static str,
        value: String,
        key: String,
    },
}

/// How many of the campaign table's global secondary indexes hold `item`
/// (`gsi1` and the share-token index; both project every attribute), so how
/// many index entries writing it also writes.
pub fn indexes_holding(item: &Item) -> u32 {
    [attr::GSI1PK, attr::SHARE_TOKEN]
        .iter()
        .filter(|name| item.contains_key(**name))
        .count() as u32
}

/// A session item may only point into its own session's prefix, at the object
/// named by its content hash. The relay deletes and the reads serve what a
/// pointer names, so a corrupt or planted pointer (`../`, another user's
/// prefix) must be refused here rather than followed.
fn check_pointer(pointer: &TranscriptPointer, user: &Id, session: &Id) -> Result<(), ItemError> {
    let hex = !pointer.sha256.is_empty()
        && pointer
            .sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex {
        return Err(ItemError::Invalid {
            name: attr::TRANSCRIPT_SHA256,
            value: pointer.sha256.clone(),
            reason: "not lowercase hexadecimal".into(),
        });
    }
    let expected = transcript_storage_key(user, session, &pointer.sha256);
    if pointer.storage_key != expected {
        return Err(ItemError::Invalid {
            name: attr::TRANSCRIPT_KEY,
            value: pointer.storage_key.clone(),
            reason: format!("a session's transcript must be at {expected}, under its own prefix"),
        });
    }
    Ok(())
}

pub fn format_timestamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn s(text: &str) -> AttrValue {
    AttrValue::S(text.to_owned())
}

fn n(value: impl ToString) -> AttrValue {
    AttrValue::N(value.to_string())
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

fn lexeme_set(search_text: &str) -> Option<AttrValue> {
    let lexemes = crate::search::lexemes::lexemes(search_text);
    (!lexemes.is_empty()).then(|| AttrValue::Ss(lexemes.into_iter().collect()))
}

/// Derived attributes (the search copies) of `item` that do not hold what
/// `entity`'s fields give: `(attribute, stored, expected)`. A stale copy
/// changes search results while every field compares equal, so the parity
/// validator checks items against the PostgreSQL row's copies.
pub fn stale_derived_attributes(
    item: &Item,
    entity: &Entity,
) -> Vec<(&'static str, String, String)> {
    let Entity::Session(session) = entity else {
        return Vec::new();
    };
    let search_text = session.search_text();
    let expected = [
        (attr::SEARCH_TEXT, Some(s(&search_text))),
        (attr::SEARCH_LEXEMES, lexeme_set(&search_text)),
    ];
    let mut stale = Vec::new();
    for (name, expected) in expected {
        let stored = item.get(name);
        let same = match (stored, &expected) {
            (Some(AttrValue::Ss(stored)), Some(AttrValue::Ss(expected))) => {
                let mut stored = stored.clone();
                stored.sort();
                &stored == expected
            }
            (stored, expected) => stored == expected.as_ref(),
        };
        if !same {
            let show = |value: Option<&AttrValue>| {
                value.map_or("(absent)".to_owned(), |v| format!("{v:?}"))
            };
            stale.push((name, show(stored), show(expected.as_ref())));
        }
    }
    stale
}

/// The item an entity is stored as.
pub fn to_item(entity: &Entity) -> Item {
    let key = entity.key();
    let mut item = BTreeMap::from([
        (attr::PK.to_owned(), s(&key.pk())),
        (attr::SK.to_owned(), s(&key.sk())),
        (attr::ENTITY.to_owned(), s(entity.kind().name())),
        (attr::VERSION.to_owned(), n(entity.version())),
    ]);
    if let Some((gsi1pk, gsi1sk)) = key.gsi1() {
        item.insert(attr::GSI1PK.to_owned(), s(&gsi1pk));
        item.insert(attr::GSI1SK.to_owned(), s(&gsi1sk));
    }
    let mut put = |name: &str, value: AttrValue| {
        item.insert(name.to_owned(), value);
    };
    match entity {
        Entity::User(user) => {
            put(attr::USER_ID, s(user.id.as_str()));
            put(attr::EMAIL, s(&user.email));
            put(attr::DISPLAY_NAME, s(&user.display_name));
            put(attr::CREATED_AT, s(&format_timestamp(&user.created_at)));
            put(attr::UPDATED_AT, s(&format_timestamp(&user.updated_at)));
        }
        Entity::Campaign(campaign) => {
            put(attr::USER_ID, s(campaign.user_id.as_str()));
            put(attr::CAMPAIGN_ID, s(campaign.id.as_str()));
            put(attr::NAME, s(&campaign.name));
            put(attr::DESCRIPTION, s(&campaign.description));
            put(attr::CREATED_AT, s(&format_timestamp(&campaign.created_at)));
            put(attr::UPDATED_AT, s(&format_timestamp(&campaign.updated_at)));
        }
        Entity::Session(session) => {
            put(attr::USER_ID, s(session.user_id.as_str()));
            put(attr::CAMPAIGN_ID, s(session.campaign_id.as_str()));
            put(attr::SESSION_ID, s(session.id.as_str()));
            put(attr::NAME, s(&session.name));
            put(attr::SUMMARY, s(&session.summary));
            put(attr::METADATA, json_to_attr(&session.metadata));
            let search_text = session.search_text();
            if let Some(lexemes) = lexeme_set(&search_text) {
                put(attr::SEARCH_LEXEMES, lexemes);
            }
            put(attr::SEARCH_TEXT, s(&search_text));
            if let Some(token) = &session.share_token {
                put(attr::SHARE_TOKEN, s(token));
            }
            put(attr::TRANSCRIPT_KEY, s(&session.transcript.storage_key));
            put(attr::TRANSCRIPT_BYTES, n(session.transcript.bytes));
            put(attr::TRANSCRIPT_SHA256, s(&session.transcript.sha256));
            put(attr::CREATED_AT, s(&format_timestamp(&session.created_at)));
            put(attr::UPDATED_AT, s(&format_timestamp(&session.updated_at)));
        }
        Entity::Summary(summary) => {
            put(attr::USER_ID, s(summary.user_id.as_str()));
            put(attr::SESSION_ID, s(summary.session_id.as_str()));
            put(attr::SUMMARY_ID, s(summary.id.as_str()));
            put(attr::KIND, s(&summary.kind));
            put(attr::BODY, s(&summary.body));
            put(attr::CREATED_AT, s(&format_timestamp(&summary.created_at)));
            put(attr::UPDATED_AT, s(&format_timestamp(&summary.updated_at)));
        }
    }
    item
}

struct Reader<'a> {
    item: &'a Item,
}

fn type_name(value: &AttrValue) -> String {
    let name = match value {
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
    };
    name.to_owned()
}

impl Reader<'_> {
    fn get(&self, name: &'static str) -> Result<&AttrValue, ItemError> {
        self.item.get(name).ok_or(ItemError::Missing(name))
    }

    fn string(&self, name: &'static str) -> Result<String, ItemError> {
        match self.get(name)? {
            AttrValue::S(text) => Ok(text.clone()),
            other => Err(ItemError::WrongType {
                name,
                expected: "S",
                found: type_name(other),
            }),
        }
    }

    fn optional_string(&self, name: &'static str) -> Result<Option<String>, ItemError> {
        match self.item.get(name) {
            None => Ok(None),
            Some(_) => self.string(name).map(Some),
        }
    }

    fn number<T: std::str::FromStr>(&self, name: &'static str) -> Result<T, ItemError> {
        match self.get(name)? {
            AttrValue::N(text) => text.parse().map_err(|_| ItemError::Invalid {
                name,
                value: text.clone(),
                reason: format!("not a {}", std::any::type_name::<T>()),
            }),
            other => Err(ItemError::WrongType {
                name,
                expected: "N",
                found: type_name(other),
            }),
        }
    }

    fn timestamp(&self, name: &'static str) -> Result<DateTime<Utc>, ItemError> {
        let text = self.string(name)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|at| at.with_timezone(&Utc))
            .map_err(|err| ItemError::Invalid {
                name,
                value: text.clone(),
                reason: err.to_string(),
            })
    }

    /// An id attribute that must equal the id in the key.
    fn id_matching(
        &self,
        name: &'static str,
        expected: &Id,
        key: &ItemKey,
    ) -> Result<Id, ItemError> {
        let value = self.string(name)?;
        if value != expected.as_str() {
            return Err(ItemError::KeyMismatch {
                name,
                value,
                key: format!("{}/{}", key.pk(), key.sk()),
            });
        }
        Ok(expected.clone())
    }

    fn id(&self, name: &'static str) -> Result<Id, ItemError> {
        Ok(Id::parse(&self.string(name)?)?)
    }
}

/// Reads an item back into an entity. Every deviation — an unparsable key, a
/// missing attribute, a wrong type, an id that disagrees with the key — is an
/// error naming the attribute, so the parity validator can call it malformed.
pub fn from_item(item: &Item) -> Result<Entity, ItemError> {
    let read = Reader { item };
    let key = ItemKey::parse(&read.string(attr::PK)?, &read.string(attr::SK)?)?;
    let entity_name = read.string(attr::ENTITY)?;
    if EntityKind::parse(&entity_name) != Some(key.entity()) {
        return Err(ItemError::KeyMismatch {
            name: attr::ENTITY,
            value: entity_name,
            key: format!("{}/{}", key.pk(), key.sk()),
        });
    }
    let version = read.number::<i64>(attr::VERSION)?;
    let created_at = read.timestamp(attr::CREATED_AT)?;
    let updated_at = read.timestamp(attr::UPDATED_AT)?;
    Ok(match &key {
        ItemKey::User { user } => Entity::User(User {
            id: read.id_matching(attr::USER_ID, user, &key)?,
            email: read.string(attr::EMAIL)?,
            display_name: read.string(attr::DISPLAY_NAME)?,
            created_at,
            updated_at,
            version,
        }),
        ItemKey::Campaign { user, campaign } => Entity::Campaign(Campaign {
            id: read.id_matching(attr::CAMPAIGN_ID, campaign, &key)?,
            user_id: read.id_matching(attr::USER_ID, user, &key)?,
            name: read.string(attr::NAME)?,
            description: read.string(attr::DESCRIPTION)?,
            created_at,
            updated_at,
            version,
        }),
        ItemKey::Session { campaign, session } => {
            let metadata =
                attr_to_json(read.get(attr::METADATA)?).map_err(|reason| ItemError::Invalid {
                    name: attr::METADATA,
                    value: format!("{:?}", read.get(attr::METADATA)),
                    reason,
                })?;
            let id = read.id_matching(attr::SESSION_ID, session, &key)?;
            let user_id = read.id(attr::USER_ID)?;
            let transcript = TranscriptPointer {
                storage_key: read.string(attr::TRANSCRIPT_KEY)?,
                bytes: read.number(attr::TRANSCRIPT_BYTES)?,
                sha256: read.string(attr::TRANSCRIPT_SHA256)?,
            };
            check_pointer(&transcript, &user_id, &id)?;
            Entity::Session(Session {
                id,
                campaign_id: read.id_matching(attr::CAMPAIGN_ID, campaign, &key)?,
                user_id,
                name: read.string(attr::NAME)?,
                summary: read.string(attr::SUMMARY)?,
                metadata: canonical_json(metadata),
                share_token: read.optional_string(attr::SHARE_TOKEN)?,
                transcript,
                created_at,
                updated_at,
                version,
            })
        }
        ItemKey::Summary { session, summary } => Entity::Summary(Summary {
            id: read.id_matching(attr::SUMMARY_ID, summary, &key)?,
            session_id: read.id_matching(attr::SESSION_ID, session, &key)?,
            user_id: read.id(attr::USER_ID)?,
            kind: read.string(attr::KIND)?,
            body: read.string(attr::BODY)?,
            created_at,
            updated_at,
            version,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn id(text: &str) -> Id {
        Id::parse(text).unwrap()
    }

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(ms).unwrap()
    }

    fn session() -> Session {
        Session {
            id: id("s1"),
            campaign_id: id("c1"),
            user_id: id("u1"),
            name: "The Dragon's Lair".into(),
            summary: "Party meets a DRAGON".into(),
            metadata: serde_json::json!({"tags": ["boss", "fire"], "round": 3, "ratio": 1.5, "ok": true, "none": null}),
            share_token: Some("tok".into()),
            transcript: TranscriptPointer {
                storage_key: "transcripts/u1/s1/ab".into(),
                bytes: 42,
                sha256: "ab".into(),
            },
            created_at: at(1_700_000_000_123),
            updated_at: at(1_700_000_000_456),
            version: 7,
        }
    }

    #[test]
    fn every_entity_round_trips() {
        let entities = [
            Entity::User(User {
                id: id("u1"),
                email: "a@b.c".into(),
                display_name: "Ä".into(),
                created_at: at(1),
                updated_at: at(2),
                version: 1,
            }),
            Entity::Campaign(Campaign {
                id: id("c1"),
                user_id: id("u1"),
                name: "".into(),
                description: "d".into(),
                created_at: at(1),
                updated_at: at(2),
                version: 2,
            }),
            Entity::Session(session()),
            Entity::Session(Session {
                share_token: None,
                metadata: serde_json::json!({}),
                ..session()
            }),
            Entity::Summary(Summary {
                id: id("m1"),
                session_id: id("s1"),
                user_id: id("u1"),
                kind: "recap".into(),
                body: "b".into(),
                created_at: at(1),
                updated_at: at(2),
                version: 3,
            }),
        ];
        for entity in entities {
            assert_eq!(from_item(&to_item(&entity)), Ok(entity));
        }
    }

    #[test]
    fn session_items_carry_keys_index_keys_and_search_copy() {
        let item = to_item(&Entity::Session(session()));
        assert_eq!(item[attr::PK], s("CAMP#c1"));
        assert_eq!(item[attr::SK], s("SESS#s1"));
        assert_eq!(item[attr::GSI1PK], s("SESS#s1"));
        assert_eq!(item[attr::GSI1SK], s("CAMP#c1"));
        assert_eq!(item[attr::CREATED_AT], s("2023-11-14T22:13:20.123Z"));
        let AttrValue::S(search) = &item[attr::SEARCH_TEXT] else {
            panic!()
        };
        assert!(search.contains("dragon's lair") && search.contains("boss"));
        let AttrValue::Ss(lexemes) = &item[attr::SEARCH_LEXEMES] else {
            panic!("{:?}", item.get(attr::SEARCH_LEXEMES))
        };
        assert!(lexemes.contains(&"dragon".to_owned()) && lexemes.contains(&"lair".to_owned()));
        assert!(
            lexemes.is_sorted(),
            "sets are stored sorted so items compare stably"
        );
    }

    #[test]
    fn stale_search_copies_are_reported_with_both_values() {
        let entity = Entity::Session(session());
        let mut item = to_item(&entity);
        assert!(stale_derived_attributes(&item, &entity).is_empty());
        item.insert(attr::SEARCH_TEXT.into(), s("old text"));
        item.remove(attr::SEARCH_LEXEMES);
        let stale = stale_derived_attributes(&item, &entity);
        let names: Vec<&str> = stale.iter().map(|(name, _, _)| *name).collect();
        assert_eq!(names, vec![attr::SEARCH_TEXT, attr::SEARCH_LEXEMES]);
        assert_eq!(stale[1].1, "(absent)");
    }

    #[test]
    fn a_transcript_pointer_outside_its_own_session_is_refused() {
        for (key, sha) in [
            ("transcripts/u2/s1/ab", "ab"),             // another user's prefix
            ("transcripts/u1/s1/../../u2/s9/ab", "ab"), // climbing out
            ("transcripts/u1/s1/cd", "ab"),             // not its own content
            ("transcripts/u1/s1/../ab", "../ab"),       // a hash that is a path
            ("/etc/passwd", "ab"),
        ] {
            let mut item = to_item(&Entity::Session(session()));
            item.insert(attr::TRANSCRIPT_KEY.into(), s(key));
            item.insert(attr::TRANSCRIPT_SHA256.into(), s(sha));
            let error = from_item(&item).unwrap_err();
            assert!(
                matches!(
                    error,
                    ItemError::Invalid {
                        name: attr::TRANSCRIPT_KEY | attr::TRANSCRIPT_SHA256,
                        ..
                    }
                ),
                "{key}: {error}"
            );
        }
    }

    #[test]
    fn malformed_items_name_the_attribute() {
        let mut item = to_item(&Entity::Session(session()));
        item.insert(attr::VERSION.into(), s("7"));
        assert_eq!(
            from_item(&item),
            Err(ItemError::WrongType {
                name: attr::VERSION,
                expected: "N",
                found: "S".into()
            })
        );
        let mut item = to_item(&Entity::Session(session()));
        item.remove(attr::TRANSCRIPT_SHA256);
        assert_eq!(
            from_item(&item),
            Err(ItemError::Missing(attr::TRANSCRIPT_SHA256))
        );
        let mut item = to_item(&Entity::Session(session()));
        item.insert(attr::SESSION_ID.into(), s("s2"));
        assert!(matches!(
            from_item(&item),
            Err(ItemError::KeyMismatch {
                name: attr::SESSION_ID,
                ..
            })
        ));
        let mut item = to_item(&Entity::Session(session()));
        item.insert(attr::SK.into(), s("SESS#bad#key"));
        assert!(matches!(from_item(&item), Err(ItemError::Key(_))));
        let mut item = to_item(&Entity::Session(session()));
        item.insert(attr::ENTITY.into(), s("campaign"));
        assert!(matches!(
            from_item(&item),
            Err(ItemError::KeyMismatch {
                name: attr::ENTITY,
                ..
            })
        ));
    }
}
