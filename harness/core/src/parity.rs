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
    /// Both have it at the same version; a field differs.
    FieldMismatch,
    /// Both have it at different versions: one side holds an older copy (the
    /// finding says which is newer, and which fields differ).
    Stale,
    /// A pending outbox record older than the threshold or past its attempts:
    /// a write the relay keeps failing (with the record's last error).
    StuckWrite,
    /// The item points to a transcript object that does not exist.
    TranscriptDangling,
    /// The transcript object exists, but its size or SHA-256 is not PostgreSQL's.
    TranscriptContentMismatch,
    /// An S3 object no item points to.
    OrphanObject,
    /// An item whose key cannot be parsed or whose attributes have the wrong type.
    MalformedItem,
    /// A PostgreSQL row that does not hold what the profile says (an id, a
    /// hash, a timestamp): the source of truth itself is wrong. Listed, never
    /// repaired — nothing trustworthy could be written from it.
    MalformedRow,
}

impl Category {
    pub const ALL: [Category; 10] = [
        Category::MissingInDynamodb,
        Category::OnlyInDynamodb,
        Category::FieldMismatch,
        Category::Stale,
        Category::StuckWrite,
        Category::TranscriptDangling,
        Category::TranscriptContentMismatch,
        Category::OrphanObject,
        Category::MalformedItem,
        Category::MalformedRow,
    ];

    /// The category as reports name it (the same kebab-case as its JSON).
    pub fn name(self) -> &'static str {
        match self {
            Category::MissingInDynamodb => "missing-in-dynamodb",
            Category::OnlyInDynamodb => "only-in-dynamodb",
            Category::FieldMismatch => "field-mismatch",
            Category::Stale => "stale",
            Category::StuckWrite => "stuck-write",
            Category::TranscriptDangling => "transcript-dangling",
            Category::TranscriptContentMismatch => "transcript-content-mismatch",
            Category::OrphanObject => "orphan-object",
            Category::MalformedItem => "malformed-item",
            Category::MalformedRow => "malformed-row",
        }
    }
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
    /// What a person needs besides the values: which side is newer, the
    /// key PostgreSQL holds the entity at, a stuck record's last error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Finding {
    fn about(category: Category, entity: &Entity) -> Finding {
        Finding {
            category,
            entity: Some(entity.kind()),
            id: entity.id().to_string(),
            field: None,
            postgres: None,
            dynamodb: None,
            note: None,
        }
    }

    /// An item at a key PostgreSQL does not hold the entity at (deleted and
    /// re-created elsewhere, or left behind): the item is DynamoDB's only.
    pub fn at_stale_key(found: &Entity, postgres_key: &str) -> Finding {
        Finding {
            note: Some(format!(
                "PostgreSQL holds this {} at {postgres_key}",
                found.kind()
            )),
            ..Finding::about(Category::OnlyInDynamodb, found)
        }
    }

    /// A write the relay keeps failing.
    pub fn stuck_write(kind: EntityKind, id: &str, pending: &PendingWrite) -> Finding {
        Finding {
            category: Category::StuckWrite,
            entity: Some(kind),
            id: id.to_owned(),
            field: None,
            postgres: None,
            dynamodb: None,
            note: Some(format!(
                "pending for {:.1} s after {} attempt(s); last error: {}",
                pending.age_ms as f64 / 1000.0,
                pending.attempts,
                pending.last_error.as_deref().unwrap_or("(none recorded)")
            )),
        }
    }
}

/// What the outbox says of one entity's pending writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingWrite {
    /// Age of its oldest pending record, in milliseconds.
    pub age_ms: i64,
    /// The most attempts any of its pending records has had.
    pub attempts: i32,
    /// The newest error recorded on them.
    pub last_error: Option<String>,
}

impl PendingWrite {
    /// Whether this is a write in flight (expected to settle) or a stuck one.
    pub fn is_stuck(&self, after_ms: i64, after_attempts: i32) -> bool {
        self.age_ms > after_ms || self.attempts >= after_attempts
    }
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

/// Compares one entity as each store holds it. Copies at different versions
/// are one `Stale` finding (which side is newer, which fields differ); at the
/// same version, each differing field is a `FieldMismatch`.
pub fn compare_entity(postgres: Option<&Entity>, dynamodb: Option<&Entity>) -> Vec<Finding> {
    match (postgres, dynamodb) {
        (None, None) => Vec::new(),
        (Some(pg), None) => vec![Finding::about(Category::MissingInDynamodb, pg)],
        (None, Some(ddb)) => vec![Finding::about(Category::OnlyInDynamodb, ddb)],
        (Some(pg), Some(ddb)) if pg.version() != ddb.version() => {
            let differing: Vec<&str> = field_differences(fields(pg), fields(ddb))
                .into_iter()
                .map(|(field, _, _)| field)
                .filter(|field| *field != "version")
                .collect();
            let newer = if pg.version() > ddb.version() {
                "PostgreSQL"
            } else {
                "DynamoDB"
            };
            vec![Finding {
                field: Some("version".to_owned()),
                postgres: Some(pg.version().to_string()),
                dynamodb: Some(ddb.version().to_string()),
                note: Some(format!(
                    "{newer} is newer; {}",
                    if differing.is_empty() {
                        "no other field differs".to_owned()
                    } else {
                        format!("differing: {}", differing.join(", "))
                    }
                )),
                ..Finding::about(Category::Stale, pg)
            }]
        }
        (Some(pg), Some(ddb)) => field_differences(fields(pg), fields(ddb))
            .into_iter()
            .map(|(field, a, b)| Finding {
                field: Some(field.to_owned()),
                postgres: Some(a),
                dynamodb: Some(b),
                ..Finding::about(Category::FieldMismatch, pg)
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
        note: None,
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
        note: None,
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
            note: None,
        })
        .collect()
}

/// An item that does not decode, at `key`; `claimed` is the entity it claims
/// to be (kind and id), when its markers and id attribute say so.
pub fn malformed_item(key: &str, problem: &str, claimed: Option<(EntityKind, &str)>) -> Finding {
    Finding {
        category: Category::MalformedItem,
        entity: claimed.map(|(kind, _)| kind),
        id: key.to_owned(),
        field: None,
        postgres: None,
        dynamodb: Some(problem.to_owned()),
        note: claimed.map(|(kind, id)| format!("the item claims to be {kind} {id:?}")),
    }
}

/// PostgreSQL's row for `kind` `id` does not decode: `problem` names the column.
pub fn malformed_row(kind: EntityKind, id: &str, problem: &str) -> Finding {
    Finding {
        category: Category::MalformedRow,
        entity: Some(kind),
        id: id.to_owned(),
        field: None,
        postgres: Some(problem.to_owned()),
        dynamodb: None,
        note: Some(
            "PostgreSQL's row is not what the profile says: fix the row; repair skips it"
                .to_owned(),
        ),
    }
}

/// Counts and samples of findings, mergeable across workers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    /// Entities compared, per type (every id seen on either side once).
    pub compared: BTreeMap<EntityKind, u64>,
    /// Entities with at least one finding, per type.
    pub mismatched: BTreeMap<EntityKind, u64>,
    /// Objects and items compared that belong to no entity (orphan objects,
    /// items that claim no entity): each is one more thing compared, and mismatched.
    pub unowned: u64,
    /// Entities (or unowned things) with a finding of each category: an
    /// entity with three differing fields counts once here.
    pub by_category: BTreeMap<Category, u64>,
    /// Field mismatches per `entity.field`.
    pub by_field: BTreeMap<String, u64>,
    /// Findings per nameable cause (`Profile::malformation_pattern`).
    pub by_pattern: BTreeMap<String, u64>,
    pub samples: BTreeMap<Category, Vec<Finding>>,
}

impl Tally {
    /// Records the comparison of one entity (or one object/item without an entity).
    pub fn record(&mut self, kind: Option<EntityKind>, findings: Vec<Finding>) {
        match kind {
            Some(kind) => {
                *self.compared.entry(kind).or_default() += 1;
                if !findings.is_empty() {
                    *self.mismatched.entry(kind).or_default() += 1;
                }
            }
            None if !findings.is_empty() => self.unowned += 1,
            None => {}
        }
        let categories: std::collections::BTreeSet<Category> =
            findings.iter().map(|f| f.category).collect();
        for category in categories {
            *self.by_category.entry(category).or_default() += 1;
        }
        for finding in findings {
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
        self.unowned += other.unowned;
        for (category, n) in other.by_category {
            *self.by_category.entry(category).or_default() += n;
        }
        for (field, n) in other.by_field {
            *self.by_field.entry(field).or_default() += n;
        }
        for (pattern, n) in other.by_pattern {
            *self.by_pattern.entry(pattern).or_default() += n;
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

    /// Counts one finding whose cause has a name.
    pub fn count_pattern(&mut self, pattern: String) {
        *self.by_pattern.entry(pattern).or_default() += 1;
    }

    /// One line per cause that many findings share, most common first: a
    /// named cause seen more than once, and a field in which at least half
    /// of the mismatched entities differ. What a report leads with, so a
    /// thousand findings of one mistake read as one mistake.
    pub fn leading_patterns(&self) -> Vec<String> {
        let total = self.mismatched_total();
        let mut lines: Vec<(u64, String)> = Vec::new();
        for (pattern, &count) in &self.by_pattern {
            if count >= 2 {
                lines.push((count, format!("{count} of {total} mismatched: {pattern}")));
            }
        }
        for (field, &count) in &self.by_field {
            if count >= 2 && count * 2 >= total {
                lines.push((
                    count,
                    format!("{count} of {total} mismatched entities differ in {field}"),
                ));
            }
        }
        lines.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        lines.into_iter().map(|(_, line)| line).collect()
    }

    /// Everything compared: entities, and unowned objects and items.
    pub fn compared_total(&self) -> u64 {
        self.compared.values().sum::<u64>() + self.unowned
    }

    /// Everything compared that has a finding.
    pub fn mismatched_total(&self) -> u64 {
        self.mismatched.values().sum::<u64>() + self.unowned
    }

    /// Share of everything compared without any finding, in percent (100 when
    /// nothing was compared): one denominator, `compared_total`.
    pub fn parity_percent(&self) -> f64 {
        let compared = self.compared_total();
        let mismatched = self.mismatched_total();
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

    #[test]
    fn many_findings_of_one_cause_lead_as_one_line() {
        let mut tally = Tally::default();
        for n in 0..5 {
            let finding = malformed_item(&format!("user#u{n}"), "no shape", None);
            tally.record(None, vec![finding]);
            tally.count_pattern("keys in another case".into());
        }
        tally.record(None, vec![malformed_item("odd", "no shape", None)]);
        tally.count_pattern("a cause seen once".into());
        assert_eq!(
            tally.leading_patterns(),
            ["5 of 6 mismatched: keys in another case"]
        );
    }
    use crate::domain::{Session, User};
    use crate::keys::Id;
    use chrono::{TimeZone, Utc};

    #[test]
    fn a_category_is_named_as_its_json_names_it() {
        for category in Category::ALL {
            assert_eq!(
                serde_json::to_value(category).unwrap(),
                serde_json::Value::from(category.name())
            );
        }
    }

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
            ]
        );
        assert!(
            findings
                .iter()
                .all(|f| f.category == Category::FieldMismatch && f.id == "s1")
        );
    }

    #[test]
    fn an_older_copy_is_one_stale_finding_that_says_which_side_is_newer() {
        let Entity::Session(mut older) = session() else {
            unreachable!()
        };
        older.name = "before the rename".into();
        older.summary = "before".into();
        older.version = 4;
        let findings = compare_entity(Some(&session()), Some(&Entity::Session(older.clone())));
        assert_eq!(findings.len(), 1, "{findings:?}");
        let stale = &findings[0];
        assert_eq!(stale.category, Category::Stale);
        assert_eq!(
            (stale.postgres.as_deref(), stale.dynamodb.as_deref()),
            (Some("5"), Some("4"))
        );
        assert_eq!(
            stale.note.as_deref(),
            Some("PostgreSQL is newer; differing: name, summary")
        );
        older.version = 9;
        let findings = compare_entity(Some(&session()), Some(&Entity::Session(older)));
        assert!(
            findings[0]
                .note
                .as_deref()
                .unwrap()
                .starts_with("DynamoDB is newer")
        );
    }

    #[test]
    fn categories_count_entities_not_fields() {
        let Entity::Session(mut other) = session() else {
            unreachable!()
        };
        other.name = "x".into();
        other.summary = "y".into();
        let mut tally = Tally::default();
        tally.record(
            Some(EntityKind::Session),
            compare_entity(Some(&session()), Some(&Entity::Session(other))),
        );
        assert_eq!(tally.by_category[&Category::FieldMismatch], 1);
        assert_eq!(tally.by_field.len(), 2);
        assert_eq!(tally.samples[&Category::FieldMismatch].len(), 2);
    }

    #[test]
    fn a_pending_write_is_stuck_past_its_age_or_attempts() {
        let pending = |age_ms, attempts| PendingWrite {
            age_ms,
            attempts,
            last_error: None,
        };
        assert!(!pending(1_000, 2).is_stuck(60_000, 5));
        assert!(pending(60_001, 0).is_stuck(60_000, 5));
        assert!(pending(10, 5).is_stuck(60_000, 5));
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
        // One denominator: three entities and one orphan, three of them with findings.
        assert_eq!((first.compared_total(), first.mismatched_total()), (4, 3));
        assert!((first.parity_percent() - 25.0).abs() < 1e-9);
        assert_eq!(first.by_field["user.email"], 1);
        assert_eq!(first.by_category[&Category::OrphanObject], 1);
        assert_eq!(first.by_category[&Category::MissingInDynamodb], 1);
    }
}
