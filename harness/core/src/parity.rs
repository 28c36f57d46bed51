//! The pure heart of the parity validator: both stores are read into the same
//! canonical form (`Entity`, with metadata in canonical JSON and timestamps at
//! millisecond precision), then compared field by field. A difference is a
//! [`Finding`] — data, never an error — and a [`Tally`] turns findings into
//! parity percentages per entity type and per field.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::campaign_item::format_timestamp;
use crate::domain::{Entity, TranscriptPointer};
use crate::keys::EntityKind;

/// How many findings of each category a report keeps as samples.
pub const SAMPLES_PER_CATEGORY: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// In PostgreSQL, not in DynamoDB.
    MissingInDynamodb,
    /// In DynamoDB only: written outside the dual-write path.
    OnlyInDynamodb,
    /// Both have it; a field differs.
    FieldMismatch,
    /// The item points to a transcript object that does not exist.
    TranscriptDangling,
    /// The transcript object exists, but its size or SHA-256 is not PostgreSQL's.
    TranscriptContentMismatch,
    /// An S3 object no item points to.
    OrphanObject,
    /// An item whose key cannot be parsed or whose attributes have the wrong type.
    MalformedItem,
}

impl Category {
    pub const ALL: [Category; 7] = [
        Category::MissingInDynamodb,
        Category::OnlyInDynamodb,
        Category::FieldMismatch,
        Category::TranscriptDangling,
        Category::TranscriptContentMismatch,
        Category::OrphanObject,
        Category::MalformedItem,
    ];
}

/// One difference between the stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub category: Category,
    pub entity: Option<EntityKind>,
    /// The entity id, or the item key / object key when there is no entity.
    pub id: String,
    pub field: Option<String>,
    pub postgres: Option<String>,
    pub dynamodb: Option<String>,
}

/// What was found at a transcript pointer's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectObservation {
    Missing,
    Present { bytes: u64, sha256: String },
}

/// The comparable fields of an entity, in a fixed order, as canonical strings.
pub fn fields(entity: &Entity) -> Vec<(&'static str, String)> {
    let ts = format_timestamp;
    let mut out = Vec::new();
    match entity {
        Entity::User(u) => {
            out.push(("email", u.email.clone()));
            out.push(("display_name", u.display_name.clone()));
            out.push(("created_at", ts(&u.created_at)));
            out.push(("updated_at", ts(&u.updated_at)));
            out.push(("version", u.version.to_string()));
        }
        Entity::Campaign(c) => {
            out.push(("user_id", c.user_id.to_string()));
            out.push(("name", c.name.clone()));
            out.push(("description", c.description.clone()));
            out.push(("created_at", ts(&c.created_at)));
            out.push(("updated_at", ts(&c.updated_at)));
            out.push(("version", c.version.to_string()));
        }
        Entity::Session(s) => {
            out.push(("campaign_id", s.campaign_id.to_string()));
            out.push(("user_id", s.user_id.to_string()));
            out.push(("name", s.name.clone()));
            out.push(("summary", s.summary.clone()));
            // serde_json's maps are sorted, so this is the canonical text of the value.
            out.push(("metadata", s.metadata.to_string()));
            out.push(("share_token", s.share_token.clone().unwrap_or_default()));
            out.push(("transcript_storage_key", s.transcript.storage_key.clone()));
            out.push(("transcript_bytes", s.transcript.bytes.to_string()));
            out.push(("transcript_sha256", s.transcript.sha256.clone()));
            out.push(("created_at", ts(&s.created_at)));
            out.push(("updated_at", ts(&s.updated_at)));
            out.push(("version", s.version.to_string()));
        }
        Entity::Summary(m) => {
            out.push(("session_id", m.session_id.to_string()));
            out.push(("user_id", m.user_id.to_string()));
            out.push(("kind", m.kind.clone()));
            out.push(("body", m.body.clone()));
            out.push(("created_at", ts(&m.created_at)));
            out.push(("updated_at", ts(&m.updated_at)));
            out.push(("version", m.version.to_string()));
        }
    }
    out
}

/// The one field-by-field comparison of canonical forms, for every system
/// cutover verifies: the fields (name and canonical text, in the same order
/// on both sides) whose values differ, as `(field, left, right)`.
pub fn field_differences(
    left: Vec<(&'static str, String)>,
    right: Vec<(&'static str, String)>,
) -> Vec<(&'static str, String, String)> {
    left.into_iter()
        .zip(right)
        .filter(|((_, a), (_, b))| a != b)
        .map(|((field, a), (_, b))| (field, a, b))
        .collect()
}

/// Escapes text for an XML attribute or element (JUnit reports).
pub fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Compares one entity as each store holds it.
pub fn compare_entity(postgres: Option<&Entity>, dynamodb: Option<&Entity>) -> Vec<Finding> {
    let finding = |category, entity: &Entity| Finding {
        category,
        entity: Some(entity.kind()),
        id: entity.id().to_string(),
        field: None,
        postgres: None,
        dynamodb: None,
    };
    match (postgres, dynamodb) {
        (None, None) => Vec::new(),
        (Some(pg), None) => vec![finding(Category::MissingInDynamodb, pg)],
        (None, Some(ddb)) => vec![finding(Category::OnlyInDynamodb, ddb)],
        (Some(pg), Some(ddb)) => field_differences(fields(pg), fields(ddb))
            .into_iter()
            .map(|(field, a, b)| Finding {
                field: Some(field.to_owned()),
                postgres: Some(a),
                dynamodb: Some(b),
                ..finding(Category::FieldMismatch, pg)
            })
            .collect(),
    }
}

/// Checks the object a DynamoDB pointer names against what PostgreSQL says the
/// transcript is (`expected`: its size and SHA-256).
pub fn compare_transcript(
    session_id: &str,
    pointer: &TranscriptPointer,
    expected: &TranscriptPointer,
    observed: &ObjectObservation,
) -> Option<Finding> {
    let finding = |category, postgres: String, dynamodb: String| Finding {
        category,
        entity: Some(EntityKind::Session),
        id: session_id.to_owned(),
        field: Some("transcript".to_owned()),
        postgres: Some(postgres),
        dynamodb: Some(dynamodb),
    };
    let describe = |bytes: u64, sha: &str| format!("{bytes} bytes sha256 {sha}");
    match observed {
        ObjectObservation::Missing => Some(finding(
            Category::TranscriptDangling,
            describe(expected.bytes, &expected.sha256),
            format!("no object at {}", pointer.storage_key),
        )),
        ObjectObservation::Present { bytes, sha256 }
            if *bytes != expected.bytes || *sha256 != expected.sha256 =>
        {
            Some(finding(
                Category::TranscriptContentMismatch,
                describe(expected.bytes, &expected.sha256),
                describe(*bytes, sha256),
            ))
        }
        ObjectObservation::Present { .. } => None,
    }
}

pub fn orphan_object(key: &str) -> Finding {
    Finding {
        category: Category::OrphanObject,
        entity: None,
        id: key.to_owned(),
        field: None,
        postgres: None,
        dynamodb: Some(key.to_owned()),
    }
}

/// Findings for a DynamoDB item whose search copies (`searchText`,
/// `searchLexemes`) are not what PostgreSQL's row gives: every field may
/// compare equal while search answers differ.
pub fn stale_derived_findings(
    profile: &crate::profile::Profile,
    item: &crate::item_size::Item,
    postgres: &Entity,
) -> Vec<Finding> {
    let entity = postgres;
    profile
        .stale_derived_attributes(item, entity)
        .into_iter()
        .map(|(name, stored, expected)| Finding {
            category: Category::FieldMismatch,
            entity: Some(entity.kind()),
            id: entity.id().to_string(),
            field: Some(name),
            postgres: Some(expected),
            dynamodb: Some(stored),
        })
        .collect()
}

pub fn malformed_item(key: &str, problem: &str) -> Finding {
    Finding {
        category: Category::MalformedItem,
        entity: None,
        id: key.to_owned(),
        field: None,
        postgres: None,
        dynamodb: Some(problem.to_owned()),
    }
}

/// Counts and samples of findings, mergeable across workers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    /// Entities compared, per type (every id seen on either side once).
    pub compared: BTreeMap<EntityKind, u64>,
    /// Entities with at least one finding, per type.
    pub mismatched: BTreeMap<EntityKind, u64>,
    pub by_category: BTreeMap<Category, u64>,
    /// Field mismatches per `entity.field`.
    pub by_field: BTreeMap<String, u64>,
    pub samples: BTreeMap<Category, Vec<Finding>>,
}

impl Tally {
    /// Records the comparison of one entity (or one object/item without an entity).
    pub fn record(&mut self, kind: Option<EntityKind>, findings: Vec<Finding>) {
        if let Some(kind) = kind {
            *self.compared.entry(kind).or_default() += 1;
            if !findings.is_empty() {
                *self.mismatched.entry(kind).or_default() += 1;
            }
        }
        for finding in findings {
            *self.by_category.entry(finding.category).or_default() += 1;
            if let (Some(kind), Some(field)) = (finding.entity, &finding.field) {
                *self.by_field.entry(format!("{kind}.{field}")).or_default() += 1;
            }
            let samples = self.samples.entry(finding.category).or_default();
            if samples.len() < SAMPLES_PER_CATEGORY {
                samples.push(finding);
            }
        }
    }

    pub fn merge(&mut self, other: Tally) {
        for (kind, n) in other.compared {
            *self.compared.entry(kind).or_default() += n;
        }
        for (kind, n) in other.mismatched {
            *self.mismatched.entry(kind).or_default() += n;
        }
        for (category, n) in other.by_category {
            *self.by_category.entry(category).or_default() += n;
        }
        for (field, n) in other.by_field {
            *self.by_field.entry(field).or_default() += n;
        }
        for (category, findings) in other.samples {
            let samples = self.samples.entry(category).or_default();
            samples.extend(
                findings
                    .into_iter()
                    .take(SAMPLES_PER_CATEGORY.saturating_sub(samples.len())),
            );
        }
    }

    /// Share of compared entities without any finding, in percent (100 when nothing was compared).
    pub fn parity_percent(&self) -> f64 {
        let compared: u64 = self.compared.values().sum();
        let mismatched: u64 = self.mismatched.values().sum();
        if compared == 0 {
            100.0
        } else {
            100.0 * (compared - mismatched) as f64 / compared as f64
        }
    }

    pub fn parity_percent_of(&self, kind: EntityKind) -> f64 {
        let compared = self.compared.get(&kind).copied().unwrap_or(0);
        let mismatched = self.mismatched.get(&kind).copied().unwrap_or(0);
        if compared == 0 {
            100.0
        } else {
            100.0 * (compared - mismatched) as f64 / compared as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Session, User};
    use crate::keys::Id;
    use chrono::{TimeZone, Utc};

    fn id(text: &str) -> Id {
        Id::parse(text).unwrap()
    }

    fn session() -> Entity {
        Entity::Session(Session {
            id: id("s1"),
            campaign_id: id("c1"),
            user_id: id("u1"),
            name: "n".into(),
            summary: "s".into(),
            metadata: serde_json::json!({"b": 1, "a": [true]}),
            share_token: None,
            transcript: TranscriptPointer {
                storage_key: "transcripts/u1/s1/ab".into(),
                bytes: 3,
                sha256: "ab".into(),
            },
            created_at: Utc.timestamp_millis_opt(1).unwrap(),
            updated_at: Utc.timestamp_millis_opt(2).unwrap(),
            version: 5,
        })
    }

    #[test]
    fn equal_entities_have_no_findings() {
        assert!(compare_entity(Some(&session()), Some(&session())).is_empty());
        assert!(compare_entity(None, None).is_empty());
    }

    #[test]
    fn every_differing_field_is_named_with_both_values() {
        let Entity::Session(mut other) = session() else {
            unreachable!()
        };
        other.name = "renamed".into();
        other.metadata = serde_json::json!({"a": [true], "b": 2});
        other.version = 6;
        let findings = compare_entity(Some(&session()), Some(&Entity::Session(other)));
        let fields: Vec<(&str, &str, &str)> = findings
            .iter()
            .map(|f| {
                (
                    f.field.as_deref().unwrap(),
                    f.postgres.as_deref().unwrap(),
                    f.dynamodb.as_deref().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            fields,
            [
                ("name", "n", "renamed"),
                ("metadata", r#"{"a":[true],"b":1}"#, r#"{"a":[true],"b":2}"#),
                ("version", "5", "6")
            ]
        );
        assert!(
            findings
                .iter()
                .all(|f| f.category == Category::FieldMismatch && f.id == "s1")
        );
    }

    #[test]
    fn presence_on_one_side_only_is_categorized() {
        assert_eq!(
            compare_entity(Some(&session()), None)[0].category,
            Category::MissingInDynamodb
        );
        assert_eq!(
            compare_entity(None, Some(&session()))[0].category,
            Category::OnlyInDynamodb
        );
    }

    #[test]
    fn transcripts_are_checked_by_size_and_hash() {
        let Entity::Session(s) = session() else {
            unreachable!()
        };
        let expected = s.transcript.clone();
        let present = |bytes, sha: &str| ObjectObservation::Present {
            bytes,
            sha256: sha.into(),
        };
        assert_eq!(
            compare_transcript("s1", &s.transcript, &expected, &present(3, "ab")),
            None
        );
        assert_eq!(
            compare_transcript("s1", &s.transcript, &expected, &present(2, "ab"))
                .unwrap()
                .category,
            Category::TranscriptContentMismatch
        );
        assert_eq!(
            compare_transcript("s1", &s.transcript, &expected, &present(3, "cd"))
                .unwrap()
                .category,
            Category::TranscriptContentMismatch
        );
        assert_eq!(
            compare_transcript("s1", &s.transcript, &expected, &ObjectObservation::Missing)
                .unwrap()
                .category,
            Category::TranscriptDangling
        );
    }

    #[test]
    fn tallies_count_entities_fields_and_categories() {
        let user = Entity::User(User {
            id: id("u1"),
            email: "a".into(),
            display_name: "A".into(),
            created_at: Utc.timestamp_millis_opt(1).unwrap(),
            updated_at: Utc.timestamp_millis_opt(1).unwrap(),
            version: 1,
        });
        let mut changed = user.clone();
        if let Entity::User(u) = &mut changed {
            u.email = "b".into();
        }
        let mut first = Tally::default();
        first.record(
            Some(EntityKind::User),
            compare_entity(Some(&user), Some(&user)),
        );
        first.record(
            Some(EntityKind::User),
            compare_entity(Some(&user), Some(&changed)),
        );
        let mut second = Tally::default();
        second.record(
            Some(EntityKind::Session),
            compare_entity(Some(&session()), None),
        );
        second.record(None, vec![orphan_object("transcripts/x")]);
        first.merge(second);
        assert_eq!(first.compared[&EntityKind::User], 2);
        assert_eq!(first.parity_percent_of(EntityKind::User), 50.0);
        assert_eq!(first.parity_percent_of(EntityKind::Session), 0.0);
        assert!((first.parity_percent() - 100.0 / 3.0).abs() < 1e-9);
        assert_eq!(first.by_field["user.email"], 1);
        assert_eq!(first.by_category[&Category::OrphanObject], 1);
        assert_eq!(first.by_category[&Category::MissingInDynamodb], 1);
    }
}
