//! Entities to items and back, through a profile: the one mapping the write
//! path, the relay, reads, the parity validator, repair and the backfill use.
//!
//! Reading an item: its kind comes from its markers (ElectroDB's
//! `__edb_e__`/`__edb_v__`, or the reference app's `entity`), or from its key's
//! shape when the profile has none; ids come from attributes, never from keys
//! (under a folding casing `usrA`'s key is `usra`'s); then every key the item
//! should carry is rebuilt from those attributes and must equal the stored one.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};

use super::fields::{self, FieldType};
use super::{Casing, Encoding, EntityProfile, FieldMapping, Profile, Template, VersionSource};
use crate::campaign_item::{ItemError, attr_to_json, format_timestamp, json_to_attr, type_name};
use crate::command::Answer;
use crate::domain::{Campaign, Entity, Session, Summary, TranscriptPointer, User, canonical_json};
use crate::item_size::{AttrValue, Item};
use crate::keys::{EntityKind, Id, ItemKey, MAX_ID_LEN, PartitionQuery};

/// An item's primary key as stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoredKey {
    pub pk: String,
    pub sk: String,
}

impl std::fmt::Display for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.pk, self.sk)
    }
}

/// A field's value in cutover's canonical form.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Text(String),
    Absent,
    Json(serde_json::Value),
    Time(DateTime<Utc>),
    Integer(i64),
}

fn values_of(entity: &Entity) -> Vec<(&'static str, Value)> {
    use fields::*;
    let text = |s: &str| Value::Text(s.to_owned());
    let id = |id: &Id| Value::Text(id.to_string());
    let mut values = match entity {
        Entity::User(u) => vec![
            (ID, id(&u.id)),
            (EMAIL, text(&u.email)),
            (DISPLAY_NAME, text(&u.display_name)),
        ],
        Entity::Campaign(c) => vec![
            (ID, id(&c.id)),
            (USER_ID, id(&c.user_id)),
            (NAME, text(&c.name)),
            (DESCRIPTION, text(&c.description)),
        ],
        Entity::Session(s) => vec![
            (ID, id(&s.id)),
            (CAMPAIGN_ID, id(&s.campaign_id)),
            (USER_ID, id(&s.user_id)),
            (NAME, text(&s.name)),
            (SUMMARY, text(&s.summary)),
            (METADATA, Value::Json(s.metadata.clone())),
            (
                SHARE_TOKEN,
                s.share_token.as_deref().map_or(Value::Absent, text),
            ),
            (TRANSCRIPT_KEY, text(&s.transcript.storage_key)),
            (
                TRANSCRIPT_BYTES,
                Value::Integer(i64::try_from(s.transcript.bytes).unwrap_or(i64::MAX)),
            ),
            (TRANSCRIPT_SHA256, text(&s.transcript.sha256)),
        ],
        Entity::Summary(m) => vec![
            (ID, id(&m.id)),
            (SESSION_ID, id(&m.session_id)),
            (USER_ID, id(&m.user_id)),
            (KIND, text(&m.kind)),
            (BODY, text(&m.body)),
        ],
    };
    let (created_at, updated_at) = entity.timestamps();
    values.push((CREATED_AT, Value::Time(created_at)));
    values.push((UPDATED_AT, Value::Time(updated_at)));
    values.push((VERSION, Value::Integer(entity.version())));
    values
}

fn encode(value: &Value, encoding: Encoding) -> Option<AttrValue> {
    Some(match (value, encoding) {
        (Value::Absent, _) => return None,
        (Value::Text(text), _) => AttrValue::S(text.clone()),
        (Value::Integer(n), Encoding::String) => AttrValue::S(n.to_string()),
        (Value::Integer(n), _) => AttrValue::N(n.to_string()),
        (Value::Time(at), Encoding::EpochMs) => AttrValue::N(at.timestamp_millis().to_string()),
        (Value::Time(at), Encoding::EpochS) => AttrValue::N(at.timestamp().to_string()),
        (Value::Time(at), _) => AttrValue::S(format_timestamp(at)),
        (Value::Json(json), Encoding::JsonText) => AttrValue::S(json.to_string()),
        (Value::Json(json), _) => json_to_attr(json),
    })
}

/// The most bytes a field's value can take in a key, as its encoding writes
/// it: an id `MAX_ID_LEN`, an integer or a timestamp its longest text (at
/// i64's and chrono's extremes; a number is never stored in more bytes than
/// its text). `None` for text and JSON, which have no bound.
pub(super) fn longest_key_bytes(field: &FieldMapping) -> Option<usize> {
    let longest = |extremes: [Value; 2]| {
        extremes
            .iter()
            .filter_map(|value| match encode(value, field.encoding)? {
                AttrValue::S(text) | AttrValue::N(text) => Some(text.len()),
                _ => None,
            })
            .max()
    };
    match field.spec.ty {
        FieldType::Id => Some(MAX_ID_LEN),
        FieldType::Integer => longest([Value::Integer(i64::MIN), Value::Integer(i64::MAX)]),
        FieldType::Timestamp => longest([
            Value::Time(DateTime::<Utc>::MIN_UTC),
            Value::Time(DateTime::<Utc>::MAX_UTC),
        ]),
        FieldType::Text | FieldType::OptionalText | FieldType::Json => None,
    }
}

fn decode(
    name: &str,
    stored: &AttrValue,
    ty: FieldType,
    encoding: Encoding,
) -> Result<Value, ItemError> {
    let wrong = |expected: &str| ItemError::WrongType {
        name: name.to_owned(),
        expected: expected.to_owned(),
        found: type_name(stored).to_owned(),
    };
    let invalid = |value: &str, reason: String| ItemError::Invalid {
        name: name.to_owned(),
        value: value.to_owned(),
        reason,
    };
    let string = || match stored {
        AttrValue::S(text) => Ok(text.as_str()),
        _ => Err(wrong("S")),
    };
    let number = || match stored {
        AttrValue::N(text) => Ok(text.as_str()),
        _ => Err(wrong("N")),
    };
    let integer = |text: &str| {
        text.parse::<i64>()
            .map_err(|_| invalid(text, "not a whole number within 64 bits".into()))
    };
    Ok(match (ty, encoding) {
        (FieldType::Id | FieldType::Text | FieldType::OptionalText, _) => {
            Value::Text(string()?.to_owned())
        }
        (FieldType::Integer, Encoding::String) => Value::Integer(integer(string()?)?),
        (FieldType::Integer, _) => Value::Integer(integer(number()?)?),
        (FieldType::Timestamp, Encoding::EpochMs | Encoding::EpochS) => {
            let text = number()?;
            let count = integer(text)?;
            let at = if encoding == Encoding::EpochMs {
                Utc.timestamp_millis_opt(count).single()
            } else {
                Utc.timestamp_opt(count, 0).single()
            };
            Value::Time(at.ok_or_else(|| invalid(text, "out of the range of dates".into()))?)
        }
        (FieldType::Timestamp, _) => {
            let text = string()?;
            let at = DateTime::parse_from_rfc3339(text)
                .map_err(|e| invalid(text, format!("not an ISO-8601 date-time: {e}")))?;
            Value::Time(at.with_timezone(&Utc))
        }
        (FieldType::Json, Encoding::JsonText) => {
            let text = string()?;
            let json: serde_json::Value =
                serde_json::from_str(text).map_err(|e| invalid(text, format!("not JSON: {e}")))?;
            Value::Json(canonical_json(json))
        }
        (FieldType::Json, _) => {
            let json =
                attr_to_json(stored).map_err(|reason| invalid(&format!("{stored:?}"), reason))?;
            Value::Json(canonical_json(json))
        }
    })
}

/// The S3 key a session's pointer must be: its own, built from its attributes.
fn check_pointer(
    entity: &EntityProfile,
    item: &Item,
    pointer: &TranscriptPointer,
) -> Result<(), ItemError> {
    let sha_attribute = entity.attribute(fields::TRANSCRIPT_SHA256);
    let hex = !pointer.sha256.is_empty()
        && pointer
            .sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex {
        return Err(ItemError::Invalid {
            name: sha_attribute.to_owned(),
            value: pointer.sha256.clone(),
            reason: "not lowercase hexadecimal".into(),
        });
    }
    let template = entity
        .transcript_key
        .as_ref()
        .expect("profile checked: sessions have a transcript key");
    let key_attribute = entity.attribute(fields::TRANSCRIPT_KEY);
    let expected = template.format(Casing::None, |name| match item.get(name) {
        Some(AttrValue::S(text)) if name != key_attribute => Some(text.clone()),
        _ => None,
    });
    if expected.as_deref() != Some(pointer.storage_key.as_str()) {
        return Err(ItemError::Invalid {
            name: key_attribute.to_owned(),
            value: pointer.storage_key.clone(),
            reason: format!(
                "a session's transcript must be at {}, under its own prefix",
                expected.unwrap_or_else(|| template.to_string())
            ),
        });
    }
    Ok(())
}

impl Profile {
    fn entity_of_key(&self, key: &ItemKey) -> &EntityProfile {
        self.entity(key.entity())
    }

    /// The values an `ItemKey`'s templates read, by attribute name.
    fn key_values(entity: &EntityProfile, key: &ItemKey) -> BTreeMap<String, String> {
        let ids: Vec<(&str, &Id)> = match key {
            ItemKey::User { user } => vec![(fields::ID, user)],
            ItemKey::Campaign { user, campaign } => {
                vec![(fields::ID, campaign), (fields::USER_ID, user)]
            }
            ItemKey::Session { campaign, session } => {
                vec![(fields::ID, session), (fields::CAMPAIGN_ID, campaign)]
            }
            ItemKey::Summary { session, summary } => {
                vec![(fields::ID, summary), (fields::SESSION_ID, session)]
            }
        };
        ids.into_iter()
            .map(|(field, id)| (entity.attribute(field).to_owned(), id.to_string()))
            .collect()
    }

    fn format(template: &Template, casing: Casing, values: &BTreeMap<String, String>) -> String {
        template
            .format(casing, |name| values.get(name).cloned())
            .expect("profile checked: key templates read only the ids an ItemKey carries")
    }

    /// The stored primary key of an entity.
    pub fn key(&self, key: &ItemKey) -> StoredKey {
        let entity = self.entity_of_key(key);
        let values = Self::key_values(entity, key);
        StoredKey {
            pk: Self::format(&entity.pk, entity.casing, &values),
            sk: Self::format(&entity.sk, entity.casing, &values),
        }
    }

    /// The key as DynamoDB's `Key` parameter wants it.
    pub fn key_item(&self, key: &ItemKey) -> Item {
        let stored = self.key(key);
        Item::from([
            (self.table.partition_key.clone(), AttrValue::S(stored.pk)),
            (self.table.sort_key.clone(), AttrValue::S(stored.sk)),
        ])
    }

    /// The stored key of an item, if it has string key attributes.
    pub fn stored_key(&self, item: &Item) -> Option<StoredKey> {
        match (
            item.get(&self.table.partition_key),
            item.get(&self.table.sort_key),
        ) {
            (Some(AttrValue::S(pk)), Some(AttrValue::S(sk))) => Some(StoredKey {
                pk: pk.clone(),
                sk: sk.clone(),
            }),
            _ => None,
        }
    }

    /// The item an entity is stored as: keys, index keys, markers, fields and
    /// the derived search copies. Attributes the profile does not own are not
    /// part of it (a rewrite keeps them).
    pub fn to_item(&self, entity: &Entity) -> Item {
        let profile = self.entity(entity.kind());
        let mut item = Item::new();
        for (name, value) in values_of(entity) {
            let Some(mapping) = profile.field(name) else {
                continue;
            };
            let Some(attribute) = &mapping.attribute else {
                continue;
            };
            let value = match (name, profile.versions) {
                (fields::VERSION, VersionSource::UpdatedAt) => continue,
                _ => value,
            };
            if let Some(encoded) = encode(&value, mapping.encoding) {
                item.insert(attribute.clone(), encoded);
            }
        }
        self.put_keys(profile, &mut item);
        for (marker, value) in &profile.markers {
            item.insert(marker.clone(), AttrValue::S(value.clone()));
        }
        if let Entity::Session(session) = entity {
            let search_text = session.search_text();
            if let Some((name, encoding)) = &profile.search_lexemes {
                let lexemes = crate::search::lexemes::lexemes(&search_text);
                if !lexemes.is_empty() {
                    let lexemes = lexemes.into_iter();
                    let value = match encoding {
                        Encoding::List => AttrValue::L(lexemes.map(AttrValue::S).collect()),
                        _ => AttrValue::Ss(lexemes.collect()),
                    };
                    item.insert(name.clone(), value);
                }
            }
            if let Some(name) = &profile.search_text {
                item.insert(name.clone(), AttrValue::S(search_text));
            }
        }
        item
    }

    /// The table and index keys an item with these attributes carries.
    fn expected_keys(&self, profile: &EntityProfile, item: &Item) -> Vec<(String, Option<String>)> {
        let value = |name: &str| match item.get(name) {
            Some(AttrValue::S(text)) => Some(text.clone()),
            _ => None,
        };
        let mut keys = vec![
            (
                self.table.partition_key.clone(),
                profile.pk.format(profile.casing, value),
            ),
            (
                self.table.sort_key.clone(),
                profile.sk.format(profile.casing, value),
            ),
        ];
        for index in &profile.indexes {
            let layout = self.index(&index.index).expect("profile checked");
            if index.pk.sole_attribute() == Some(layout.partition_key.as_str()) {
                continue; // the attribute itself is the index key
            }
            let pk = index.pk.format(profile.casing, value);
            let sk = index
                .sk
                .as_ref()
                .and_then(|sk| sk.format(profile.casing, value));
            // Sparse: an index entry only when every part is there.
            let complete = pk.is_some() && (index.sk.is_none() || sk.is_some());
            keys.push((layout.partition_key.clone(), pk.filter(|_| complete)));
            if let Some(sort_key) = &layout.sort_key {
                keys.push((sort_key.clone(), sk.filter(|_| complete)));
            }
        }
        keys
    }

    fn put_keys(&self, profile: &EntityProfile, item: &mut Item) {
        for (attribute, key) in self.expected_keys(profile, item) {
            if let Some(key) = key {
                item.insert(attribute, AttrValue::S(key));
            }
        }
    }

    /// Every attribute this profile writes for `kind`: a rewrite sets these and
    /// keeps every other attribute the stored item has.
    pub fn owned_attributes(&self, kind: EntityKind) -> Vec<String> {
        let profile = self.entity(kind);
        let mut owned = vec![
            self.table.partition_key.clone(),
            self.table.sort_key.clone(),
        ];
        for index in &profile.indexes {
            let layout = self.index(&index.index).expect("profile checked");
            owned.push(layout.partition_key.clone());
            owned.extend(layout.sort_key.clone());
        }
        owned.extend(profile.markers.iter().map(|(name, _)| name.clone()));
        owned.extend(profile.fields.iter().filter_map(|f| f.attribute.clone()));
        owned.extend(profile.search_text.clone());
        owned.extend(
            profile
                .search_lexemes
                .as_ref()
                .map(|(name, _)| name.clone()),
        );
        owned.sort();
        owned.dedup();
        owned
    }

    /// Which entity an item claims to be, by markers (or by key shape when the
    /// profile has no markers). `None`: not an item of this app.
    pub fn kind_of(&self, item: &Item) -> Option<EntityKind> {
        self.identify(item).ok()
    }

    /// Whether a stored key has the shape of one of the app's entities' keys
    /// (what cutover may delete; another app's items on a shared table never are).
    pub fn owns_key(&self, key: &StoredKey) -> bool {
        self.entities
            .iter()
            .any(|e| e.pk.matches(e.casing, &key.pk) && e.sk.matches(e.casing, &key.sk))
    }

    /// The entity an item claims to be — its kind by markers or key shape,
    /// its id attribute — even when it does not decode. `None`: it claims none.
    pub fn claimed_identity(&self, item: &Item) -> Option<(EntityKind, String)> {
        let kind = match self.identify(item) {
            Ok(kind) | Err(ItemError::Marker { entity: kind, .. }) => kind,
            Err(_) => return None,
        };
        match item.get(self.entity(kind).attribute(fields::ID)) {
            Some(AttrValue::S(id)) if Id::parse(id).is_ok() => Some((kind, id.clone())),
            _ => None,
        }
    }

    fn identify(&self, item: &Item) -> Result<EntityKind, ItemError> {
        let key = self.stored_key(item).ok_or_else(|| {
            ItemError::Missing(if item.contains_key(&self.table.partition_key) {
                self.table.sort_key.clone()
            } else {
                self.table.partition_key.clone()
            })
        })?;
        let marked: Vec<&EntityProfile> = self
            .entities
            .iter()
            .filter(|e| {
                !e.markers.is_empty()
                    && e.markers
                        .iter()
                        .all(|(name, value)| item.get(name) == Some(&AttrValue::S(value.clone())))
            })
            .collect();
        let shaped =
            |e: &EntityProfile| e.pk.matches(e.casing, &key.pk) && e.sk.matches(e.casing, &key.sk);
        match marked.as_slice() {
            [entity] => {
                if !shaped(entity) {
                    let (name, value) = &entity.markers[0];
                    return Err(ItemError::KeyMismatch {
                        name: name.clone(),
                        value: value.clone(),
                        key: key.to_string(),
                    });
                }
                Ok(entity.kind)
            }
            [] => {
                let by_shape: Vec<&EntityProfile> =
                    self.entities.iter().filter(|e| shaped(e)).collect();
                match by_shape.as_slice() {
                    [entity] if entity.markers.is_empty() => Ok(entity.kind),
                    [entity] => {
                        let (name, value) = entity
                            .markers
                            .iter()
                            .find(|(name, value)| {
                                item.get(name) != Some(&AttrValue::S(value.clone()))
                            })
                            .expect("not all markers matched");
                        Err(ItemError::Marker {
                            name: name.clone(),
                            expected: value.clone(),
                            found: item
                                .get(name)
                                .map_or("(absent)".to_owned(), |v| format!("{v:?}")),
                            entity: entity.kind,
                        })
                    }
                    _ => Err(ItemError::Unrecognized {
                        key: key.to_string(),
                        profile: self.name.clone(),
                    }),
                }
            }
            _ => Err(ItemError::Unrecognized {
                key: key.to_string(),
                profile: self.name.clone(),
            }),
        }
    }

    /// The cause an item that does not decode shares with others like it,
    /// where one can be named: a key in another case than the profile's
    /// templates, a missing or wrong marker, an absent or mistyped attribute.
    /// Reports lead with such a cause and its count (`Tally::by_pattern`).
    pub fn malformation_pattern(&self, item: &Item) -> Option<String> {
        let error = self.from_item(item).err()?;
        let case_only = "the key differs from the profile's template by letter case only";
        if self.key_differs_by_case_only(item) {
            return Some(case_only.to_owned());
        }
        match error {
            ItemError::KeyDisagrees {
                stored, expected, ..
            } if stored.to_lowercase() == expected.to_lowercase() => Some(case_only.to_owned()),
            ItemError::Marker { name, expected, .. } => {
                Some(format!("the marker {name:?} is absent or not {expected:?}"))
            }
            ItemError::Missing(attribute) => Some(format!("the attribute {attribute:?} is absent")),
            ItemError::WrongType {
                name,
                expected,
                found,
            } => Some(format!(
                "the attribute {name:?} is of type {found}, not {expected}"
            )),
            _ => None,
        }
    }

    /// Whether the item's key has no entity's shape as stored, but one
    /// entity's shape once both are lower-cased.
    fn key_differs_by_case_only(&self, item: &Item) -> bool {
        let Some(key) = self.stored_key(item) else {
            return false;
        };
        let (pk, sk) = (key.pk.to_lowercase(), key.sk.to_lowercase());
        let shaped =
            |e: &EntityProfile| e.pk.matches(e.casing, &key.pk) && e.sk.matches(e.casing, &key.sk);
        let shaped_ignoring_case = |e: &EntityProfile| {
            e.pk.matches(Casing::Lower, &pk) && e.sk.matches(Casing::Lower, &sk)
        };
        !self.entities.iter().any(shaped) && self.entities.iter().any(shaped_ignoring_case)
    }

    /// Reads an item back into an entity. Every deviation — an unknown kind, a
    /// missing marker or attribute, a wrong type or encoding, a key that is not
    /// what the attributes give, a pointer outside its own prefix — is an error
    /// naming the attribute, so the parity validator can call it malformed.
    pub fn from_item(&self, item: &Item) -> Result<Entity, ItemError> {
        let kind = self.identify(item)?;
        let profile = self.entity(kind);
        let mut values: BTreeMap<&'static str, Value> = BTreeMap::new();
        for mapping in &profile.fields {
            let Some(attribute) = &mapping.attribute else {
                continue;
            };
            let value = match item.get(attribute) {
                Some(stored) => decode(attribute, stored, mapping.spec.ty, mapping.encoding)?,
                None if mapping.spec.ty == FieldType::OptionalText => Value::Absent,
                None => return Err(ItemError::Missing(attribute.clone())),
            };
            match (&value, mapping.spec.ty, mapping.spec.name) {
                (Value::Text(text), FieldType::Id, _) => {
                    Id::parse(text)?;
                }
                (Value::Integer(n), _, fields::TRANSCRIPT_BYTES) if *n < 0 => {
                    return Err(ItemError::Invalid {
                        name: attribute.clone(),
                        value: n.to_string(),
                        reason: "a size cannot be negative".into(),
                    });
                }
                _ => {}
            }
            values.insert(mapping.spec.name, value);
        }
        for (attribute, expected) in self.expected_keys(profile, item) {
            let stored = match item.get(&attribute) {
                Some(AttrValue::S(text)) => Some(text.clone()),
                Some(other) => Some(format!("{other:?}")),
                None => None,
            };
            if stored != expected {
                return Err(ItemError::KeyDisagrees {
                    attribute,
                    stored: stored.unwrap_or_else(|| "(absent)".into()),
                    expected: expected.unwrap_or_else(|| "(absent)".into()),
                });
            }
        }
        let entity = build(kind, profile.versions, values);
        if let Entity::Session(session) = &entity {
            check_pointer(profile, item, &session.transcript)?;
        }
        Ok(entity)
    }

    /// `entity` as an item of this profile reads back: what the encodings keep
    /// (whole seconds for `epoch-s` dates, for instance). PostgreSQL's side of
    /// a comparison goes through this so a declared loss is not a mismatch.
    pub fn as_stored(&self, entity: &Entity) -> Entity {
        let profile = self.entity(entity.kind());
        let lossless = profile.versions == VersionSource::Version
            && profile
                .fields
                .iter()
                .all(|f| f.encoding != Encoding::EpochS);
        if lossless {
            return entity.clone();
        }
        self.from_item(&self.to_item(entity))
            .unwrap_or_else(|_| entity.clone())
    }

    /// A read's answer from PostgreSQL as this profile's items would give it
    /// (`as_stored` on every entity), so it compares with DynamoDB's answer.
    pub fn answer_as_stored(&self, answer: &Answer) -> Answer {
        fn stored<T>(profile: &Profile, value: &T) -> T
        where
            T: Clone + Into<Entity> + TryFrom<Entity>,
        {
            T::try_from(profile.as_stored(&value.clone().into()))
                .unwrap_or_else(|_| unreachable!("as_stored keeps the kind"))
        }
        match answer {
            Answer::User(user) => Answer::User(user.as_ref().map(|u| stored(self, u))),
            Answer::Campaigns(list) => {
                Answer::Campaigns(list.iter().map(|c| stored(self, c)).collect())
            }
            Answer::Campaign(campaign) => {
                Answer::Campaign(campaign.as_ref().map(|c| stored(self, c)))
            }
            Answer::Sessions(list) => {
                Answer::Sessions(list.iter().map(|s| stored(self, s)).collect())
            }
            Answer::Session(session) => Answer::Session(session.as_ref().map(|s| stored(self, s))),
            Answer::Summaries(list) => {
                Answer::Summaries(list.iter().map(|m| stored(self, m)).collect())
            }
            Answer::Transcript(_) | Answer::SessionIds(_) => answer.clone(),
        }
    }

    /// What orders `entity`'s writes under this profile: its version, or
    /// its `updated_at` in milliseconds when the app keeps no version. The
    /// value conditional writes compare (`version_condition`).
    pub fn order_of(&self, entity: &Entity) -> i64 {
        match self.entity(entity.kind()).versions {
            VersionSource::Version => entity.version(),
            VersionSource::UpdatedAt => entity.timestamps().1.timestamp_millis(),
        }
    }

    /// Whether `kind`'s writes are ordered by `updated_at` (no version kept).
    pub fn orders_by_updated_at(&self, kind: EntityKind) -> bool {
        self.entity(kind).versions == VersionSource::UpdatedAt
    }

    /// The attribute and value a conditional write compares to order versions.
    pub fn version_condition(&self, kind: EntityKind, version: i64) -> (String, AttrValue) {
        let profile = self.entity(kind);
        let field = match profile.versions {
            VersionSource::Version => fields::VERSION,
            VersionSource::UpdatedAt => fields::UPDATED_AT,
        };
        let mapping = profile.field(field).expect("profile checked");
        let value = match profile.versions {
            VersionSource::Version => Value::Integer(version),
            VersionSource::UpdatedAt => Value::Time(
                Utc.timestamp_millis_opt(version)
                    .single()
                    .unwrap_or(DateTime::<Utc>::MAX_UTC),
            ),
        };
        let attribute = mapping.attribute.clone().expect("profile checked");
        (
            attribute,
            encode(&value, mapping.encoding).expect("present"),
        )
    }

    /// Derived attributes (the search copies) of `item` that do not hold what
    /// `entity`'s fields give: `(attribute, stored, expected)`.
    pub fn stale_derived_attributes(
        &self,
        item: &Item,
        entity: &Entity,
    ) -> Vec<(String, String, String)> {
        let Entity::Session(_) = entity else {
            return Vec::new();
        };
        let profile = self.entity(EntityKind::Session);
        let expected = self.to_item(entity);
        let names = profile
            .search_text
            .iter()
            .chain(profile.search_lexemes.as_ref().map(|(name, _)| name));
        let show =
            |value: Option<&AttrValue>| value.map_or("(absent)".to_owned(), |v| format!("{v:?}"));
        let sorted = |value: Option<&AttrValue>| match value {
            Some(AttrValue::Ss(set)) => {
                let mut set = set.clone();
                set.sort();
                Some(AttrValue::Ss(set))
            }
            other => other.cloned(),
        };
        names
            .filter(|name| sorted(item.get(*name)) != sorted(expected.get(*name)))
            .map(|name| (name.clone(), show(item.get(name)), show(expected.get(name))))
            .collect()
    }

    /// How many of the table's global secondary indexes hold `item`, so how
    /// many index entries writing it also writes.
    pub fn indexes_holding(&self, item: &Item) -> u32 {
        self.table
            .indexes
            .iter()
            .filter(|index| {
                item.contains_key(&index.partition_key)
                    && index
                        .sort_key
                        .as_ref()
                        .is_none_or(|sk| item.contains_key(sk))
            })
            .count() as u32
    }

    fn listing(&self, kind: EntityKind, field: &str, id: &Id) -> PartitionQuery {
        let entity = self.entity(kind);
        let values = BTreeMap::from([(entity.attribute(field).to_owned(), id.to_string())]);
        let prefix = entity.sk.literal_prefix(entity.casing);
        PartitionQuery {
            index: None,
            partition_attribute: self.table.partition_key.clone(),
            partition_key: Self::format(&entity.pk, entity.casing, &values),
            sort_attribute: self.table.sort_key.clone(),
            sort_key_prefix: (!prefix.is_empty()).then_some(prefix),
        }
    }

    /// The campaigns of a user.
    pub fn campaigns_of(&self, user: &Id) -> PartitionQuery {
        self.listing(EntityKind::Campaign, fields::USER_ID, user)
    }

    /// The sessions of a campaign.
    pub fn sessions_of(&self, campaign: &Id) -> PartitionQuery {
        self.listing(EntityKind::Session, fields::CAMPAIGN_ID, campaign)
    }

    /// The summaries of a session.
    pub fn summaries_of(&self, session: &Id) -> PartitionQuery {
        self.listing(EntityKind::Summary, fields::SESSION_ID, session)
    }

    fn reverse_lookup(&self, kind: EntityKind, id: &Id) -> PartitionQuery {
        let entity = self.entity(kind);
        let index = entity
            .indexes
            .iter()
            .find(|i| i.sk.is_some())
            .expect("profile checked: a reverse lookup index");
        let layout = self.index(&index.index).expect("profile checked");
        let values = BTreeMap::from([(entity.attribute(fields::ID).to_owned(), id.to_string())]);
        let prefix = index
            .sk
            .as_ref()
            .map(|sk| sk.literal_prefix(entity.casing))
            .unwrap_or_default();
        PartitionQuery {
            index: Some(index.index.clone()),
            partition_attribute: layout.partition_key.clone(),
            partition_key: Self::format(&index.pk, entity.casing, &values),
            sort_attribute: layout.sort_key.clone().expect("checked: has a sort key"),
            sort_key_prefix: (!prefix.is_empty()).then_some(prefix),
        }
    }

    /// Reverse lookup: the campaign item by campaign id alone.
    pub fn campaign_by_id(&self, campaign: &Id) -> PartitionQuery {
        self.reverse_lookup(EntityKind::Campaign, campaign)
    }

    /// Reverse lookup: the session item by session id alone.
    pub fn session_by_id(&self, session: &Id) -> PartitionQuery {
        self.reverse_lookup(EntityKind::Session, session)
    }

    /// The sparse index that finds a session by its share token, and the
    /// attribute it is keyed on.
    pub fn share_token_index(&self) -> Option<(&str, &str)> {
        let session = self.entity(EntityKind::Session);
        let attribute = session.field(fields::SHARE_TOKEN)?.attribute.as_deref()?;
        self.table
            .indexes
            .iter()
            .find(|index| index.partition_key == attribute)
            .map(|index| (index.name.as_str(), attribute))
    }

    /// The attribute of a field of `kind` (e.g. a session's transcript pointer).
    pub fn attribute(&self, kind: EntityKind, field: &str) -> &str {
        self.entity(kind).attribute(field)
    }

    /// Distinct ids that this profile's key casing writes as the same key:
    /// `(kept, colliding)` pairs, in input order.
    pub fn colliding_ids<'a>(
        &self,
        kind: EntityKind,
        ids: impl IntoIterator<Item = &'a Id>,
    ) -> Vec<(Id, Id)> {
        let casing = self.entity(kind).casing;
        if !casing.folds() {
            return Vec::new();
        }
        let mut seen: BTreeMap<String, &Id> = BTreeMap::new();
        let mut collisions = Vec::new();
        for id in ids {
            match seen.get(&casing.apply(id.as_str())) {
                Some(first) if *first != id => collisions.push(((*first).clone(), id.clone())),
                Some(_) => {}
                None => {
                    seen.insert(casing.apply(id.as_str()), id);
                }
            }
        }
        collisions
    }
}

pub(super) fn build(
    kind: EntityKind,
    versions: VersionSource,
    mut values: BTreeMap<&'static str, Value>,
) -> Entity {
    use fields::*;
    let mut take = |name: &str| values.remove(name).unwrap_or(Value::Absent);
    let text = |value: Value| match value {
        Value::Text(text) => text,
        other => unreachable!("decoded as text: {other:?}"),
    };
    let id = |value: Value| Id::parse(&text(value)).expect("checked while decoding");
    let time = |value: Value| match value {
        Value::Time(at) => at,
        other => unreachable!("decoded as a time: {other:?}"),
    };
    let created_at = time(take(CREATED_AT));
    let updated_at = time(take(UPDATED_AT));
    let version = match (versions, take(VERSION)) {
        (VersionSource::Version, Value::Integer(v)) => v,
        _ => updated_at.timestamp_millis(),
    };
    match kind {
        EntityKind::User => Entity::User(User {
            id: id(take(ID)),
            email: text(take(EMAIL)),
            display_name: text(take(DISPLAY_NAME)),
            created_at,
            updated_at,
            version,
        }),
        EntityKind::Campaign => Entity::Campaign(Campaign {
            id: id(take(ID)),
            user_id: id(take(USER_ID)),
            name: text(take(NAME)),
            description: text(take(DESCRIPTION)),
            created_at,
            updated_at,
            version,
        }),
        EntityKind::Session => Entity::Session(Session {
            id: id(take(ID)),
            campaign_id: id(take(CAMPAIGN_ID)),
            user_id: id(take(USER_ID)),
            name: text(take(NAME)),
            summary: text(take(SUMMARY)),
            metadata: match take(METADATA) {
                Value::Json(json) => json,
                other => unreachable!("decoded as JSON: {other:?}"),
            },
            share_token: match take(SHARE_TOKEN) {
                Value::Text(token) => Some(token),
                _ => None,
            },
            transcript: TranscriptPointer {
                storage_key: text(take(TRANSCRIPT_KEY)),
                bytes: match take(TRANSCRIPT_BYTES) {
                    Value::Integer(n) => u64::try_from(n).unwrap_or_default(),
                    _ => 0,
                },
                sha256: text(take(TRANSCRIPT_SHA256)),
            },
            created_at,
            updated_at,
            version,
        }),
        EntityKind::Summary => Entity::Summary(Summary {
            id: id(take(ID)),
            session_id: id(take(SESSION_ID)),
            user_id: id(take(USER_ID)),
            kind: text(take(KIND)),
            body: text(take(BODY)),
            created_at,
            updated_at,
            version,
        }),
    }
}
