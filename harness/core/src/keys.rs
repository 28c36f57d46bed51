//! The single-table key codec: every DynamoDB key string of the campaign app is
//! built and parsed here and nowhere else (the seeds' "sort key chaos" risk).
//!
//! Layout (custom ElectroDB templates, so no prefix and case kept):
//!
//! | entity  | pk              | sk                  | gsi1pk         | gsi1sk         |
//! |---------|-----------------|---------------------|----------------|----------------|
//! | user    | `USER#<user>`   | `METADATA`          |                |                |
//! | campaign| `USER#<user>`   | `CAMP#<campaign>`   | `CAMP#<campaign>` | `USER#<user>` |
//! | session | `CAMP#<campaign>` | `SESS#<session>`  | `SESS#<session>` | `CAMP#<campaign>` |
//! | summary | `SESS#<session>` | `SUMMARY#<summary>` |               |                |
//!
//! GSI1 serves the reverse lookups (campaign → its user, session → its campaign).
//! Ids are restricted to `[A-Za-z0-9_-]`, 1 to 128 bytes, so no id can contain the
//! separator or make one entity's key look like another's; anything else is
//! rejected with the offending value, never escaped silently.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub const SEPARATOR: char = '#';
pub const MAX_ID_LEN: usize = 128;

const USER: &str = "USER";
const CAMPAIGN: &str = "CAMP";
const SESSION: &str = "SESS";
const SUMMARY: &str = "SUMMARY";
const METADATA: &str = "METADATA";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error("id {value:?} is invalid: {reason}")]
    InvalidId { value: String, reason: &'static str },
    #[error("key pk={pk:?} sk={sk:?} matches no entity of the single table")]
    Unrecognized { pk: String, sk: String },
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

fn join(prefix: &str, id: &Id) -> String {
    format!("{prefix}{SEPARATOR}{id}")
}

/// Splits `PREFIX#id` when the prefix is `prefix`.
fn split<'a>(key: &'a str, prefix: &str) -> Option<&'a str> {
    key.strip_prefix(prefix)?.strip_prefix(SEPARATOR)
}

impl ItemKey {
    pub fn pk(&self) -> String {
        match self {
            ItemKey::User { user } | ItemKey::Campaign { user, .. } => join(USER, user),
            ItemKey::Session { campaign, .. } => join(CAMPAIGN, campaign),
            ItemKey::Summary { session, .. } => join(SESSION, session),
        }
    }

    pub fn sk(&self) -> String {
        match self {
            ItemKey::User { .. } => METADATA.to_owned(),
            ItemKey::Campaign { campaign, .. } => join(CAMPAIGN, campaign),
            ItemKey::Session { session, .. } => join(SESSION, session),
            ItemKey::Summary { summary, .. } => join(SUMMARY, summary),
        }
    }

    /// GSI1 keys, for the entities that have a reverse lookup.
    pub fn gsi1(&self) -> Option<(String, String)> {
        match self {
            ItemKey::Campaign { user, campaign } => {
                Some((join(CAMPAIGN, campaign), join(USER, user)))
            }
            ItemKey::Session { campaign, session } => {
                Some((join(SESSION, session), join(CAMPAIGN, campaign)))
            }
            ItemKey::User { .. } | ItemKey::Summary { .. } => None,
        }
    }

    pub fn entity(&self) -> EntityKind {
        match self {
            ItemKey::User { .. } => EntityKind::User,
            ItemKey::Campaign { .. } => EntityKind::Campaign,
            ItemKey::Session { .. } => EntityKind::Session,
            ItemKey::Summary { .. } => EntityKind::Summary,
        }
    }

    /// The inverse of (`pk`, `sk`). Anything that is not exactly a key this module
    /// would build is an error, so a malformed item is found, not misread.
    pub fn parse(pk: &str, sk: &str) -> Result<ItemKey, KeyError> {
        let unrecognized = || KeyError::Unrecognized {
            pk: pk.to_owned(),
            sk: sk.to_owned(),
        };
        let id = |text: &str| Id::parse(text);
        if let Some(user) = split(pk, USER) {
            let user = id(user)?;
            if sk == METADATA {
                return Ok(ItemKey::User { user });
            }
            if let Some(campaign) = split(sk, CAMPAIGN) {
                return Ok(ItemKey::Campaign {
                    user,
                    campaign: id(campaign)?,
                });
            }
        } else if let Some(campaign) = split(pk, CAMPAIGN) {
            if let Some(session) = split(sk, SESSION) {
                return Ok(ItemKey::Session {
                    campaign: id(campaign)?,
                    session: id(session)?,
                });
            }
        } else if let Some(session) = split(pk, SESSION)
            && let Some(summary) = split(sk, SUMMARY)
        {
            return Ok(ItemKey::Summary {
                session: id(session)?,
                summary: id(summary)?,
            });
        }
        Err(unrecognized())
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionQuery {
    /// `None`: the base table; `Some("gsi1")`: that index.
    pub index: Option<&'static str>,
    pub partition_attribute: &'static str,
    pub partition_key: String,
    pub sort_attribute: &'static str,
    pub sort_key_prefix: Option<String>,
}

pub const GSI1: &str = "gsi1";

impl PartitionQuery {
    fn base(pk: String, sk_prefix: Option<String>) -> Self {
        PartitionQuery {
            index: None,
            partition_attribute: "pk",
            partition_key: pk,
            sort_attribute: "sk",
            sort_key_prefix: sk_prefix,
        }
    }

    /// The campaigns of a user.
    pub fn campaigns_of(user: &Id) -> Self {
        Self::base(join(USER, user), Some(format!("{CAMPAIGN}{SEPARATOR}")))
    }

    /// The sessions of a campaign.
    pub fn sessions_of(campaign: &Id) -> Self {
        Self::base(
            join(CAMPAIGN, campaign),
            Some(format!("{SESSION}{SEPARATOR}")),
        )
    }

    /// The summaries of a session.
    pub fn summaries_of(session: &Id) -> Self {
        Self::base(
            join(SESSION, session),
            Some(format!("{SUMMARY}{SEPARATOR}")),
        )
    }

    /// Reverse lookup: the campaign item (with its user) by campaign id alone.
    pub fn campaign_by_id(campaign: &Id) -> Self {
        PartitionQuery {
            index: Some(GSI1),
            partition_attribute: "gsi1pk",
            partition_key: join(CAMPAIGN, campaign),
            sort_attribute: "gsi1sk",
            sort_key_prefix: Some(format!("{USER}{SEPARATOR}")),
        }
    }

    /// Reverse lookup: the session item (with its campaign) by session id alone.
    pub fn session_by_id(session: &Id) -> Self {
        PartitionQuery {
            index: Some(GSI1),
            partition_attribute: "gsi1pk",
            partition_key: join(SESSION, session),
            sort_attribute: "gsi1sk",
            sort_key_prefix: Some(format!("{CAMPAIGN}{SEPARATOR}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id_strategy() -> impl Strategy<Value = Id> {
        "[A-Za-z0-9_-]{1,40}".prop_map(|s| Id::parse(&s).unwrap())
    }

    fn key_strategy() -> impl Strategy<Value = ItemKey> {
        prop_oneof![
            id_strategy().prop_map(|user| ItemKey::User { user }),
            (id_strategy(), id_strategy())
                .prop_map(|(user, campaign)| ItemKey::Campaign { user, campaign }),
            (id_strategy(), id_strategy())
                .prop_map(|(campaign, session)| ItemKey::Session { campaign, session }),
            (id_strategy(), id_strategy())
                .prop_map(|(session, summary)| ItemKey::Summary { session, summary }),
        ]
    }

    #[test]
    fn keys_have_the_documented_shape() {
        let u = Id::parse("u1").unwrap();
        let c = Id::parse("c1").unwrap();
        let s = Id::parse("s1").unwrap();
        let m = Id::parse("m1").unwrap();
        let cases = [
            (ItemKey::User { user: u.clone() }, "USER#u1", "METADATA"),
            (
                ItemKey::Campaign {
                    user: u,
                    campaign: c.clone(),
                },
                "USER#u1",
                "CAMP#c1",
            ),
            (
                ItemKey::Session {
                    campaign: c,
                    session: s.clone(),
                },
                "CAMP#c1",
                "SESS#s1",
            ),
            (
                ItemKey::Summary {
                    session: s,
                    summary: m,
                },
                "SESS#s1",
                "SUMMARY#m1",
            ),
        ];
        for (key, pk, sk) in cases {
            assert_eq!((key.pk().as_str(), key.sk().as_str()), (pk, sk));
        }
    }

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

    #[test]
    fn malformed_keys_do_not_parse() {
        for (pk, sk) in [
            ("USER#u", "CAMP#"),
            ("USER#", "METADATA"),
            ("USER#u", "SESS#s"),
            ("CAMP#c", "CAMP#c"),
            ("SESS#s", "SESS#s"),
            ("USER#u#x", "METADATA"),
            ("user#u", "METADATA"),
            ("PROFILE#u", "METADATA"),
            ("USER#u", "METADATA#x"),
        ] {
            assert!(ItemKey::parse(pk, sk).is_err(), "{pk} {sk} parsed");
        }
    }

    proptest! {
        #[test]
        fn parse_inverts_format(key in key_strategy()) {
            prop_assert_eq!(ItemKey::parse(&key.pk(), &key.sk()), Ok(key));
        }

        #[test]
        fn distinct_entities_never_share_a_key(a in key_strategy(), b in key_strategy()) {
            prop_assume!(a != b);
            prop_assert_ne!((a.pk(), a.sk()), (b.pk(), b.sk()));
        }

        #[test]
        fn sort_keys_order_like_their_ids(c in id_strategy(), s1 in id_strategy(), s2 in id_strategy()) {
            let k1 = ItemKey::Session { campaign: c.clone(), session: s1.clone() };
            let k2 = ItemKey::Session { campaign: c, session: s2.clone() };
            prop_assert_eq!(k1.sk().cmp(&k2.sk()), s1.as_str().cmp(s2.as_str()));
        }

        #[test]
        fn partition_queries_select_exactly_their_entities(key in key_strategy(), other in id_strategy()) {
            // A begins_with query of one kind never matches another kind's sort key.
            let queries = [
                (PartitionQuery::campaigns_of(&other), EntityKind::Campaign),
                (PartitionQuery::sessions_of(&other), EntityKind::Session),
                (PartitionQuery::summaries_of(&other), EntityKind::Summary),
            ];
            for (query, kind) in queries {
                let matches = key.pk() == query.partition_key
                    && key.sk().starts_with(query.sort_key_prefix.as_deref().unwrap());
                prop_assert!(!matches || key.entity() == kind);
            }
        }

        #[test]
        fn arbitrary_text_never_parses_to_a_different_key(pk in ".{0,30}", sk in ".{0,30}") {
            if let Ok(key) = ItemKey::parse(&pk, &sk) {
                prop_assert_eq!((key.pk(), key.sk()), (pk, sk));
            }
        }
    }
}
