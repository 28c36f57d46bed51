//! The app under test as data: an app profile says, entity by entity, how the
//! app's PostgreSQL tables and DynamoDB items hold cutover's fields — table
//! and column names and types, the ElectroDB model, key templates and their
//! casing, each attribute's name and encoding, the S3 pointer, the attributes
//! cutover derives and the ones it must leave alone.
//!
//! Everything that reads or writes campaign items goes through a [`Profile`]
//! (`codec`): two shipped profiles are `profiles/reference.toml` (cutover's
//! own reference app) and `profiles/electrodb.toml` (seed 001's ElectroDB
//! entities with ElectroDB's defaults, over a Prisma-style schema).

mod codec;
pub mod fields;
pub mod rows;
pub mod template;
mod transcripts;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::{Arc, LazyLock};

use serde::Deserialize;
use toml::Spanned;

use crate::input::{FileError, error_at};
use crate::item_size::{MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES};
use crate::keys::EntityKind;
pub use codec::StoredKey;
use fields::{FieldSpec, FieldType, Need};
pub use template::{Casing, Template};
pub use transcripts::TranscriptOwner;

/// How a field's value is written in a DynamoDB attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `S`.
    String,
    /// `N`.
    Number,
    /// `S`, as JavaScript's `toISOString()` writes it (`2026-01-02T03:04:05.678Z`).
    Iso8601,
    /// `N`, milliseconds since the epoch (`Date.now()`).
    EpochMs,
    /// `N`, whole seconds since the epoch (sub-second precision is not kept).
    EpochS,
    /// `M`, as the DocumentClient marshals a JavaScript object.
    Map,
    /// `L`.
    List,
    /// `SS` (absent when empty: DynamoDB stores no empty sets).
    StringSet,
    /// `S` holding `JSON.stringify` of the value.
    JsonText,
}

impl Encoding {
    const ALL: [(&'static str, Encoding); 9] = [
        ("string", Encoding::String),
        ("number", Encoding::Number),
        ("iso-8601", Encoding::Iso8601),
        ("epoch-ms", Encoding::EpochMs),
        ("epoch-s", Encoding::EpochS),
        ("map", Encoding::Map),
        ("list", Encoding::List),
        ("string-set", Encoding::StringSet),
        ("json-text", Encoding::JsonText),
    ];

    pub fn parse(name: &str) -> Option<Encoding> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, e)| *e)
    }

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, e)| *e == self)
            .expect("listed")
            .0
    }

    /// The encodings a field of type `ty` may have; the first is the default.
    pub fn allowed_for(ty: FieldType) -> &'static [Encoding] {
        match ty {
            FieldType::Id | FieldType::Text | FieldType::OptionalText => &[Encoding::String],
            FieldType::Json => &[Encoding::Map, Encoding::JsonText],
            FieldType::Timestamp => &[Encoding::Iso8601, Encoding::EpochMs, Encoding::EpochS],
            FieldType::Integer => &[Encoding::Number, Encoding::String],
        }
    }
}

/// A PostgreSQL column type, as a profile names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    Varchar,
    Bigint,
    Integer,
    Timestamptz,
    /// `timestamp` without time zone (Prisma's `DateTime` is `timestamp(3)`), read as UTC.
    Timestamp,
    Jsonb,
    Json,
}

impl ColumnType {
    const ALL: [(&'static str, ColumnType); 8] = [
        ("text", ColumnType::Text),
        ("varchar", ColumnType::Varchar),
        ("bigint", ColumnType::Bigint),
        ("integer", ColumnType::Integer),
        ("timestamptz", ColumnType::Timestamptz),
        ("timestamp", ColumnType::Timestamp),
        ("jsonb", ColumnType::Jsonb),
        ("json", ColumnType::Json),
    ];

    /// Parses a type name; a precision (`timestamp(3)`, `varchar(255)`) is accepted and ignored.
    pub fn parse(name: &str) -> Option<ColumnType> {
        let base = name.split('(').next().unwrap_or_default().trim();
        let base = match base {
            "timestamp with time zone" => "timestamptz",
            "timestamp without time zone" => "timestamp",
            "character varying" => "varchar",
            "int8" => "bigint",
            "int4" | "int" => "integer",
            other => other,
        };
        Self::ALL.iter().find(|(n, _)| *n == base).map(|(_, t)| *t)
    }

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, t)| *t == self)
            .expect("listed")
            .0
    }

    fn allowed_for(ty: FieldType) -> &'static [ColumnType] {
        use ColumnType::*;
        match ty {
            FieldType::Id | FieldType::Text | FieldType::OptionalText => &[Text, Varchar],
            FieldType::Json => &[Jsonb, Json],
            FieldType::Timestamp => &[Timestamptz, Timestamp],
            FieldType::Integer => &[Bigint, Integer],
        }
    }
}

/// Which field orders an entity's versions: a version number the app keeps,
/// or `updated_at` when it keeps none (two writes in one millisecond are then
/// indistinguishable, which a report should say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSource {
    Version,
    UpdatedAt,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: ColumnType,
}

/// One field of an entity, where each store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMapping {
    pub spec: FieldSpec,
    pub column: Option<Column>,
    pub attribute: Option<String>,
    pub encoding: Encoding,
}

/// ElectroDB's model identity; items carry it as `__edb_e__` / `__edb_v__`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectroDbModel {
    pub service: String,
    pub entity: String,
    pub version: String,
}

pub const ELECTRODB_ENTITY: &str = "__edb_e__";
pub const ELECTRODB_VERSION: &str = "__edb_v__";

/// A global secondary index of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexLayout {
    pub name: String,
    pub partition_key: String,
    pub sort_key: Option<String>,
}

/// An entity's keys in one index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexKeys {
    pub index: String,
    pub pk: Template,
    pub sk: Option<Template>,
}

/// How the app holds one entity kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityProfile {
    pub kind: EntityKind,
    pub table: String,
    pub versions: VersionSource,
    pub electrodb: Option<ElectroDbModel>,
    /// Constant attributes that mark an item as this entity (ElectroDB's
    /// identifiers, or the reference app's `entity`).
    pub markers: Vec<(String, String)>,
    pub casing: Casing,
    pub pk: Template,
    pub sk: Template,
    pub indexes: Vec<IndexKeys>,
    pub fields: Vec<FieldMapping>,
    /// The session's normalized search copy and its token set, derived by cutover.
    pub search_text: Option<String>,
    pub search_lexemes: Option<(String, Encoding)>,
    /// Attributes the app keeps that cutover must never write.
    pub preserve: Vec<String>,
    /// Where a session's transcript is in S3.
    pub transcript_key: Option<Template>,
}

impl EntityProfile {
    pub fn field(&self, name: &str) -> Option<&FieldMapping> {
        self.fields.iter().find(|f| f.spec.name == name)
    }

    /// The attribute a field is stored in; profiles are checked so that
    /// every field a codec needs has one.
    pub fn attribute(&self, field: &str) -> &str {
        self.field(field)
            .and_then(|f| f.attribute.as_deref())
            .unwrap_or_else(|| panic!("profile checked: {} has {field}", self.kind))
    }

    /// The column a field is stored in, if PostgreSQL keeps it.
    pub fn column(&self, field: &str) -> Option<&Column> {
        self.field(field).and_then(|f| f.column.as_ref())
    }
}

/// The DynamoDB table's key attributes and indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableLayout {
    pub partition_key: String,
    pub sort_key: String,
    pub indexes: Vec<IndexLayout>,
}

/// An app profile, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub description: String,
    /// Whether the app's database has cutover's outbox (pending writes are
    /// then known; without it, in-flight writes are told by a re-check).
    pub outbox: bool,
    pub table: TableLayout,
    entities: Vec<EntityProfile>,
}

pub type ProfileError = FileError;

/// The reference app's profile, shipped as `profiles/reference.toml`.
pub const REFERENCE_TOML: &str = include_str!("../../../../profiles/reference.toml");
/// Seed 001's ElectroDB entities with ElectroDB's defaults over a Prisma-style
/// schema, shipped as `profiles/electrodb.toml`.
pub const ELECTRODB_TOML: &str = include_str!("../../../../profiles/electrodb.toml");

static REFERENCE: LazyLock<Arc<Profile>> = LazyLock::new(|| {
    Arc::new(
        Profile::parse(REFERENCE_TOML, "profiles/reference.toml")
            .expect("the shipped reference profile is checked by its tests"),
    )
});

impl Profile {
    /// cutover's reference app.
    pub fn reference() -> Arc<Profile> {
        REFERENCE.clone()
    }

    pub fn entity(&self, kind: EntityKind) -> &EntityProfile {
        self.entities
            .iter()
            .find(|e| e.kind == kind)
            .expect("a checked profile describes every entity")
    }

    pub fn entities(&self) -> &[EntityProfile] {
        &self.entities
    }

    /// The index an entity's `index_keys` name, if the table has it.
    pub fn index(&self, name: &str) -> Option<&IndexLayout> {
        self.table.indexes.iter().find(|i| i.name == name)
    }

    /// Parses and checks a profile; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Profile, ProfileError> {
        let raw: RawProfile = crate::input::from_toml(text, file)?;
        Checker { text, file }.check(raw)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: String,
    #[serde(default)]
    description: String,
    postgres: RawPostgres,
    dynamodb: RawDynamo,
    entities: BTreeMap<String, Spanned<RawEntity>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPostgres {
    outbox: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDynamo {
    partition_key: Spanned<String>,
    sort_key: Spanned<String>,
    #[serde(default)]
    key_casing: Option<Spanned<String>>,
    #[serde(default)]
    indexes: BTreeMap<String, Spanned<RawIndexLayout>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIndexLayout {
    partition_key: String,
    #[serde(default)]
    sort_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntity {
    table: Spanned<String>,
    versions: Spanned<String>,
    #[serde(default)]
    electrodb: Option<Spanned<RawElectroDb>>,
    #[serde(default)]
    markers: BTreeMap<String, String>,
    #[serde(default)]
    casing: Option<Spanned<String>>,
    pk: Spanned<String>,
    sk: Spanned<String>,
    #[serde(default)]
    indexes: BTreeMap<String, Spanned<RawIndexKeys>>,
    fields: BTreeMap<String, Spanned<RawField>>,
    #[serde(default)]
    derived: Option<Spanned<RawDerived>>,
    #[serde(default)]
    preserve: Vec<Spanned<String>>,
    #[serde(default)]
    transcript_key: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawElectroDb {
    service: String,
    entity: String,
    version: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIndexKeys {
    pk: String,
    #[serde(default)]
    sk: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    #[serde(default)]
    column: Option<String>,
    #[serde(default, rename = "type")]
    column_type: Option<String>,
    #[serde(default)]
    attribute: Option<String>,
    #[serde(default)]
    encoding: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDerived {
    #[serde(default)]
    search_text: Option<String>,
    #[serde(default)]
    search_lexemes: Option<String>,
    #[serde(default)]
    search_lexemes_encoding: Option<String>,
}

/// A DynamoDB key attribute's size limit, the same for a table and its indexes.
#[derive(Clone, Copy)]
struct KeyLimit {
    name: &'static str,
    max_bytes: usize,
}

const PARTITION_KEY: KeyLimit = KeyLimit {
    name: "partition key",
    max_bytes: MAX_PARTITION_KEY_BYTES,
};
const SORT_KEY: KeyLimit = KeyLimit {
    name: "sort key",
    max_bytes: MAX_SORT_KEY_BYTES,
};

struct Checker<'a> {
    text: &'a str,
    file: &'a str,
}

impl Checker<'_> {
    fn error(&self, span: Range<usize>, field: &str, message: impl Into<String>) -> ProfileError {
        error_at(self.text, self.file, span.start, field, message.into())
    }

    fn check(&self, raw: RawProfile) -> Result<Profile, ProfileError> {
        let dynamo = &raw.dynamodb;
        let default_casing = match &dynamo.key_casing {
            Some(name) => self.casing(name, "dynamodb.key_casing")?,
            None => Casing::Default,
        };
        let mut indexes = Vec::new();
        for (name, index) in &dynamo.indexes {
            let layout = index.get_ref();
            for (what, attribute) in [
                ("partition_key", Some(&layout.partition_key)),
                ("sort_key", layout.sort_key.as_ref()),
            ] {
                if attribute.is_some_and(|a| a.is_empty()) {
                    return Err(self.error(
                        index.span(),
                        &format!("dynamodb.indexes.{name}.{what}"),
                        "an attribute name cannot be empty",
                    ));
                }
            }
            indexes.push(IndexLayout {
                name: name.clone(),
                partition_key: layout.partition_key.clone(),
                sort_key: layout.sort_key.clone(),
            });
        }
        let table = TableLayout {
            partition_key: dynamo.partition_key.get_ref().clone(),
            sort_key: dynamo.sort_key.get_ref().clone(),
            indexes,
        };
        if table.partition_key.is_empty() || table.partition_key == table.sort_key {
            return Err(self.error(
                dynamo.partition_key.span(),
                "dynamodb.partition_key",
                "must be a non-empty attribute name other than the sort key",
            ));
        }

        let mut entities = Vec::new();
        for (name, entity) in &raw.entities {
            let Some(kind) = EntityKind::parse(name) else {
                return Err(self.error(
                    entity.span(),
                    &format!("entities.{name}"),
                    format!("unknown entity {name:?}: the campaign app has user, campaign, session and summary"),
                ));
            };
            entities.push(self.entity(kind, entity, &table, default_casing)?);
        }
        for kind in EntityKind::ALL {
            if !entities.iter().any(|e| e.kind == kind) {
                return Err(self.error(
                    0..0,
                    &format!("entities.{kind}"),
                    format!("the profile does not describe the {kind} entity"),
                ));
            }
        }
        let profile = Profile {
            name: raw.name.clone(),
            description: raw.description.clone(),
            outbox: raw.postgres.outbox,
            table,
            entities,
        };
        self.access_patterns(&profile, &raw)?;
        Ok(profile)
    }

    fn casing(&self, name: &Spanned<String>, field: &str) -> Result<Casing, ProfileError> {
        Casing::parse(name.get_ref()).ok_or_else(|| {
            self.error(
                name.span(),
                field,
                format!("unknown casing {:?}: use {}", name.get_ref(), Casing::NAMES),
            )
        })
    }

    fn template(&self, text: &Spanned<String>, field: &str) -> Result<Template, ProfileError> {
        Template::parse(text.get_ref()).map_err(|reason| self.error(text.span(), field, reason))
    }

    fn entity(
        &self,
        kind: EntityKind,
        raw: &Spanned<RawEntity>,
        table: &TableLayout,
        default_casing: Casing,
    ) -> Result<EntityProfile, ProfileError> {
        let path = format!("entities.{kind}");
        let entity = raw.get_ref();
        let fields = self.fields(kind, &path, entity)?;
        let versions = match entity.versions.get_ref().as_str() {
            "version" => VersionSource::Version,
            "updated_at" => VersionSource::UpdatedAt,
            other => {
                return Err(self.error(
                    entity.versions.span(),
                    &format!("{path}.versions"),
                    format!("unknown version source {other:?}: use \"version\" or \"updated_at\""),
                ));
            }
        };
        let has_version = fields.iter().any(|f| f.spec.name == fields::VERSION);
        if versions == VersionSource::UpdatedAt && has_version {
            return Err(self.error(
                entity.versions.span(),
                &format!("{path}.versions"),
                "the entity has a version field: order by it (versions = \"version\") or drop it",
            ));
        }
        if let Some(field) = fields.iter().find(|f| {
            f.spec.name
                == match versions {
                    VersionSource::Version => fields::VERSION,
                    VersionSource::UpdatedAt => fields::UPDATED_AT,
                }
        }) && field.encoding == Encoding::String
        {
            return Err(self.error(
                entity.versions.span(),
                &format!("{path}.versions"),
                "versions are compared in conditional writes; a number stored as a string compares byte-wise (\"10\" < \"9\")",
            ));
        }
        if versions == VersionSource::Version && !has_version {
            return Err(self.error(
                entity.versions.span(),
                &format!("{path}.versions"),
                "versions = \"version\" needs a `version` field with a column and an attribute",
            ));
        }
        if table.indexes.is_empty() && !entity.indexes.is_empty() {
            return Err(self.error(
                raw.span(),
                &format!("{path}.indexes"),
                "the table declares no indexes (dynamodb.indexes)",
            ));
        }
        let casing = match &entity.casing {
            Some(name) => self.casing(name, &format!("{path}.casing"))?,
            None => default_casing,
        };

        let mut markers: Vec<(String, String)> = Vec::new();
        let electrodb = entity.electrodb.as_ref().map(|model| {
            let model = model.get_ref();
            ElectroDbModel {
                service: model.service.clone(),
                entity: model.entity.clone(),
                version: model.version.clone(),
            }
        });
        if let Some(model) = &electrodb {
            markers.push((ELECTRODB_ENTITY.to_owned(), model.entity.clone()));
            markers.push((ELECTRODB_VERSION.to_owned(), model.version.clone()));
        }
        markers.extend(entity.markers.iter().map(|(k, v)| (k.clone(), v.clone())));

        let attribute_of = |field: &str| {
            fields
                .iter()
                .find(|f| f.spec.name == field)
                .and_then(|f| f.attribute.clone())
        };
        let key_attributes: BTreeSet<String> = fields::key_fields_of(kind)
            .iter()
            .filter_map(|f| attribute_of(f))
            .collect();
        let key_template =
            |text: &Spanned<String>, field: &str| -> Result<Template, ProfileError> {
                let template = self.template(text, field)?;
                for name in template.attributes() {
                    if !key_attributes.contains(name) {
                        return Err(self.error(
                        text.span(),
                        field,
                        format!(
                            "a {kind} key may only use its id attributes ({}); {name:?} is not one",
                            key_attributes.iter().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    ));
                    }
                }
                Ok(template)
            };
        let pk = key_template(&entity.pk, &format!("{path}.pk"))?;
        let sk = key_template(&entity.sk, &format!("{path}.sk"))?;
        let mut indexes = Vec::new();
        for (name, keys) in &entity.indexes {
            let field = format!("{path}.indexes.{name}");
            let Some(layout) = table.indexes.iter().find(|i| &i.name == name) else {
                return Err(self.error(
                    keys.span(),
                    &field,
                    format!("the table has no index {name:?} (declare it under dynamodb.indexes)"),
                ));
            };
            let raw_keys = keys.get_ref();
            let spanned = |text: &String| Spanned::new(keys.span(), text.clone());
            let attribute_index = self
                .template(&spanned(&raw_keys.pk), &format!("{field}.pk"))?
                .sole_attribute()
                .is_some_and(|name| name == layout.partition_key);
            let pk = if attribute_index {
                // The attribute itself is the index key (ElectroDB's attribute index).
                let template = self.template(&spanned(&raw_keys.pk), &format!("{field}.pk"))?;
                if !fields
                    .iter()
                    .any(|f| f.attribute.as_deref() == Some(layout.partition_key.as_str()))
                {
                    return Err(self.error(
                        keys.span(),
                        &format!("{field}.pk"),
                        format!(
                            "{:?} is not an attribute of the {kind}",
                            layout.partition_key
                        ),
                    ));
                }
                template
            } else {
                key_template(&spanned(&raw_keys.pk), &format!("{field}.pk"))?
            };
            let sk = match &raw_keys.sk {
                Some(sk) => Some(key_template(&spanned(sk), &format!("{field}.sk"))?),
                None => None,
            };
            if layout.sort_key.is_some() != sk.is_some() {
                return Err(self.error(
                    keys.span(),
                    &field,
                    format!(
                        "index {name:?} {} a sort key",
                        if layout.sort_key.is_some() {
                            "has"
                        } else {
                            "has no"
                        }
                    ),
                ));
            }
            if let Some(attribute) = pk.sole_attribute()
                && attribute != layout.partition_key
                && fields
                    .iter()
                    .any(|f| f.attribute.as_deref() == Some(layout.partition_key.as_str()))
            {
                return Err(self.error(
                    keys.span(),
                    &format!("{field}.pk"),
                    format!(
                        "the index key {:?} is also an attribute: its template must be ${{{}}}",
                        layout.partition_key, layout.partition_key
                    ),
                ));
            }
            indexes.push(IndexKeys {
                index: name.clone(),
                pk,
                sk,
            });
        }

        let (mut search_text, mut search_lexemes) = (None, None);
        if let Some(derived) = &entity.derived {
            if kind != EntityKind::Session {
                return Err(self.error(
                    derived.span(),
                    &format!("{path}.derived"),
                    "only sessions have derived search attributes",
                ));
            }
            let derived_ref = derived.get_ref();
            search_text = derived_ref.search_text.clone();
            if let Some(name) = &derived_ref.search_lexemes {
                let encoding = match &derived_ref.search_lexemes_encoding {
                    None => Encoding::StringSet,
                    Some(text) => match Encoding::parse(text) {
                        Some(e @ (Encoding::StringSet | Encoding::List)) => e,
                        _ => {
                            return Err(self.error(
                                derived.span(),
                                &format!("{path}.derived.search_lexemes_encoding"),
                                format!("{text:?}: lexemes are a string-set or a list"),
                            ));
                        }
                    },
                };
                search_lexemes = Some((name.clone(), encoding));
            }
        }
        let transcript_key = match (&entity.transcript_key, kind) {
            (Some(text), EntityKind::Session) => {
                let field = format!("{path}.transcript_key");
                let template = self.template(text, &field)?;
                for name in template.attributes() {
                    if !fields.iter().any(|f| f.attribute.as_deref() == Some(name)) {
                        return Err(self.error(
                            text.span(),
                            &field,
                            format!("{name:?} is not an attribute of the session"),
                        ));
                    }
                }
                Some(template)
            }
            (None, EntityKind::Session) => {
                return Err(self.error(
                    raw.span(),
                    &format!("{path}.transcript_key"),
                    "a session needs the S3 key template of its transcript",
                ));
            }
            (Some(text), _) => {
                return Err(self.error(
                    text.span(),
                    &format!("{path}.transcript_key"),
                    "only sessions have transcripts",
                ));
            }
            (None, _) => None,
        };

        let profile = EntityProfile {
            kind,
            table: entity.table.get_ref().clone(),
            versions,
            electrodb,
            markers,
            casing,
            pk,
            sk,
            indexes,
            fields,
            search_text,
            search_lexemes,
            preserve: entity
                .preserve
                .iter()
                .map(|p| p.get_ref().clone())
                .collect(),
            transcript_key,
        };
        self.columns_distinct(entity, &path)?;
        self.owned_attributes_distinct(&profile, table, raw, entity, &path)?;
        self.key_reads_own_id(&profile, entity, &path)?;
        self.keys_within_limits(&profile, entity, &path)?;
        self.transcript_layout_readable(&profile, entity, &path)?;
        Ok(profile)
    }

    /// A session's transcript layout can be read back: each object key names
    /// at most one session, and a listing is never the whole bucket.
    fn transcript_layout_readable(
        &self,
        profile: &EntityProfile,
        entity: &RawEntity,
        path: &str,
    ) -> Result<(), ProfileError> {
        let (Some(template), Some(text)) = (&profile.transcript_key, &entity.transcript_key) else {
            return Ok(());
        };
        match transcripts::layout_problem(template, profile) {
            Some(problem) => {
                Err(self.error(text.span(), &format!("{path}.transcript_key"), problem))
            }
            None => Ok(()),
        }
    }

    fn fields(
        &self,
        kind: EntityKind,
        path: &str,
        entity: &RawEntity,
    ) -> Result<Vec<FieldMapping>, ProfileError> {
        let specs = fields::fields_of(kind);
        for (name, raw) in &entity.fields {
            if !specs.iter().any(|spec| spec.name == name) {
                let known: Vec<&str> = specs.iter().map(|s| s.name).collect();
                return Err(self.error(
                    raw.span(),
                    &format!("{path}.fields.{name}"),
                    format!(
                        "unknown field {name:?} of a {kind}; its fields are {}",
                        known.join(", ")
                    ),
                ));
            }
        }
        let mut mapped = Vec::new();
        for spec in specs {
            let field = format!("{path}.fields.{}", spec.name);
            let Some(raw) = entity.fields.get(spec.name) else {
                if spec.column == Need::Required || spec.attribute == Need::Required {
                    return Err(self.error(
                        0..0,
                        &field,
                        format!("missing: a {kind} needs its {} field", spec.name),
                    ));
                }
                continue;
            };
            let span = raw.span();
            let raw = raw.get_ref();
            for (need, present, store) in [
                (spec.column, raw.column.is_some(), "column"),
                (spec.attribute, raw.attribute.is_some(), "attribute"),
            ] {
                match (need, present) {
                    (Need::Required, false) => {
                        return Err(self.error(span.clone(), &field, format!("needs a {store}")));
                    }
                    (Need::Never, true) => {
                        return Err(self.error(
                            span.clone(),
                            &field,
                            format!("has no {store} (cutover derives it)"),
                        ));
                    }
                    _ => {}
                }
            }
            if spec.name == fields::VERSION && raw.column.is_some() != raw.attribute.is_some() {
                return Err(self.error(
                    span,
                    &field,
                    "a version needs both a column and an attribute",
                ));
            }
            let column = match (&raw.column, &raw.column_type) {
                (Some(name), Some(type_name)) => {
                    let ty = ColumnType::parse(type_name).ok_or_else(|| {
                        self.error(
                            span.clone(),
                            &format!("{field}.type"),
                            format!("unknown column type {type_name:?}"),
                        )
                    })?;
                    if !ColumnType::allowed_for(spec.ty).contains(&ty) {
                        let allowed: Vec<&str> = ColumnType::allowed_for(spec.ty)
                            .iter()
                            .map(|t| t.name())
                            .collect();
                        return Err(self.error(
                            span.clone(),
                            &format!("{field}.type"),
                            format!(
                                "{} column cannot hold {}; use {}",
                                ty.name(),
                                spec.ty.name(),
                                allowed.join(" or ")
                            ),
                        ));
                    }
                    if name.is_empty() {
                        return Err(self.error(
                            span.clone(),
                            &format!("{field}.column"),
                            "empty name",
                        ));
                    }
                    Some(Column {
                        name: name.clone(),
                        ty,
                    })
                }
                (Some(_), None) => {
                    return Err(self.error(
                        span.clone(),
                        &format!("{field}.type"),
                        "a column needs its type",
                    ));
                }
                (None, Some(_)) => {
                    return Err(self.error(
                        span.clone(),
                        &format!("{field}.type"),
                        "a type without a column",
                    ));
                }
                (None, None) => None,
            };
            let allowed = Encoding::allowed_for(spec.ty);
            let encoding = match &raw.encoding {
                None => allowed[0],
                Some(name) => {
                    let encoding = Encoding::parse(name).ok_or_else(|| {
                        self.error(
                            span.clone(),
                            &format!("{field}.encoding"),
                            format!("unknown encoding {name:?}"),
                        )
                    })?;
                    if !allowed.contains(&encoding) {
                        let names: Vec<&str> = allowed.iter().map(|e| e.name()).collect();
                        return Err(self.error(
                            span.clone(),
                            &format!("{field}.encoding"),
                            format!(
                                "{} cannot hold {}; use {}",
                                encoding.name(),
                                spec.ty.name(),
                                names.join(" or ")
                            ),
                        ));
                    }
                    encoding
                }
            };
            if raw.attribute.as_deref() == Some("") {
                return Err(self.error(span, &format!("{field}.attribute"), "empty name"));
            }
            mapped.push(FieldMapping {
                spec,
                column,
                attribute: raw.attribute.clone(),
                encoding,
            });
        }
        Ok(mapped)
    }

    /// No two fields share a column: both attributes would get one value and
    /// parity would compare them alike. Names compare exactly, as PostgreSQL
    /// compares the quoted identifiers `profile::rows` writes (`Title` is not `title`).
    fn columns_distinct(&self, entity: &RawEntity, path: &str) -> Result<(), ProfileError> {
        let mut in_file_order: Vec<_> = entity.fields.iter().collect();
        in_file_order.sort_by_key(|(_, raw)| raw.span().start);
        let mut claimed: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, raw) in in_file_order {
            let Some(column) = raw.get_ref().column.as_deref() else {
                continue;
            };
            if let Some(previous) = claimed.insert(column, name) {
                return Err(self.error(
                    raw.span(),
                    &format!("{path}.fields.{name}.column"),
                    format!("column {column:?} is both field {previous} and field {name}"),
                ));
            }
        }
        Ok(())
    }

    /// The item's key (pk and sk together) reads the entity's own id, or two
    /// entities of the kind would be one item. Index keys need not: a GSI may
    /// hold many items under one key.
    fn key_reads_own_id(
        &self,
        profile: &EntityProfile,
        entity: &RawEntity,
        path: &str,
    ) -> Result<(), ProfileError> {
        let own = profile.attribute(fields::ID);
        let (pk, sk) = (&profile.pk, &profile.sk);
        if pk
            .attributes()
            .chain(sk.attributes())
            .any(|name| name == own)
        {
            return Ok(());
        }
        let kind = profile.kind;
        Err(self.error(
            entity.sk.span(),
            &format!("{path}.sk"),
            format!(
                "neither pk {:?} nor sk {:?} reads {own:?}, the {kind}'s own id: two {kind}s would be written to one item",
                pk.to_string(),
                sk.to_string()
            ),
        ))
    }

    /// Every key the entity writes, its table's and its indexes', fits DynamoDB's limits.
    fn keys_within_limits(
        &self,
        profile: &EntityProfile,
        entity: &RawEntity,
        path: &str,
    ) -> Result<(), ProfileError> {
        let mut keys = vec![
            (
                &profile.pk,
                PARTITION_KEY,
                entity.pk.span(),
                format!("{path}.pk"),
            ),
            (
                &profile.sk,
                SORT_KEY,
                entity.sk.span(),
                format!("{path}.sk"),
            ),
        ];
        for index in &profile.indexes {
            let span = entity.indexes[&index.index].span();
            let field = format!("{path}.indexes.{}", index.index);
            keys.push((
                &index.pk,
                PARTITION_KEY,
                span.clone(),
                format!("{field}.pk"),
            ));
            if let Some(sk) = &index.sk {
                keys.push((sk, SORT_KEY, span, format!("{field}.sk")));
            }
        }
        for (template, limit, span, field) in keys {
            self.key_within_limit(profile, template, limit, span, &field)?;
        }
        Ok(())
    }

    /// A key's text (cased), and its text with each attribute at its longest,
    /// fit `limit`. An attribute of free text (an attribute index such as
    /// `${shareToken}`) has no bound a profile can state: the rest of the key is checked without it.
    fn key_within_limit(
        &self,
        profile: &EntityProfile,
        template: &Template,
        limit: KeyLimit,
        span: Range<usize>,
        field: &str,
    ) -> Result<(), ProfileError> {
        let refuse = |what: String| {
            let rule = format!(
                "a DynamoDB {} is at most {} bytes",
                limit.name, limit.max_bytes
            );
            self.error(span.clone(), field, format!("{what}; {rule}"))
        };
        let text = template.literal_bytes(profile.casing);
        if text > limit.max_bytes {
            let casing = profile.casing.name();
            return Err(refuse(format!(
                "the key's text alone is {text} bytes under {casing} casing"
            )));
        }
        let longest = |name: &str| {
            let field = profile
                .fields
                .iter()
                .find(|f| f.attribute.as_deref() == Some(name))?;
            codec::longest_key_bytes(field)
        };
        // Free text has no bound; the bounded parts alone may still pass the limit.
        let attributes: Vec<(&str, usize)> = template
            .attributes()
            .filter_map(|name| Some((name, longest(name)?)))
            .collect();
        let unbounded = template.attributes().count() > attributes.len();
        let bytes = text + attributes.iter().map(|(_, n)| n).sum::<usize>();
        if bytes > limit.max_bytes {
            let parts: Vec<String> = attributes
                .iter()
                .map(|(name, n)| format!("{name:?} up to {n}"))
                .collect();
            let at_least = if unbounded { "at least " } else { "" };
            return Err(refuse(format!(
                "the key can be {at_least}{bytes} bytes ({text} of text, {})",
                parts.join(", ")
            )));
        }
        Ok(())
    }

    /// No two things cutover writes share an attribute name, and nothing it
    /// must leave alone is among them.
    fn owned_attributes_distinct(
        &self,
        profile: &EntityProfile,
        table: &TableLayout,
        raw: &Spanned<RawEntity>,
        entity: &RawEntity,
        path: &str,
    ) -> Result<(), ProfileError> {
        let mut owned: BTreeMap<String, String> = BTreeMap::new();
        let mut claim = |attribute: &str, by: String| -> Result<(), ProfileError> {
            if let Some(previous) = owned.insert(attribute.to_owned(), by.clone()) {
                return Err(self.error(
                    raw.span(),
                    path,
                    format!("attribute {attribute:?} is both {previous} and {by}"),
                ));
            }
            Ok(())
        };
        claim(&table.partition_key, "the partition key".into())?;
        claim(&table.sort_key, "the sort key".into())?;
        for keys in &profile.indexes {
            let layout = table
                .indexes
                .iter()
                .find(|i| i.name == keys.index)
                .expect("checked above");
            if keys.pk.sole_attribute() != Some(layout.partition_key.as_str()) {
                claim(
                    &layout.partition_key,
                    format!("index {}'s partition key", keys.index),
                )?;
            }
            if let Some(sort_key) = &layout.sort_key {
                claim(sort_key, format!("index {}'s sort key", keys.index))?;
            }
        }
        for (marker, _) in &profile.markers {
            claim(marker, "a marker".into())?;
        }
        for field in &profile.fields {
            if let Some(attribute) = &field.attribute {
                claim(attribute, format!("field {}", field.spec.name))?;
            }
        }
        if let Some(name) = &profile.search_text {
            claim(name, "the search copy".into())?;
        }
        if let Some((name, _)) = &profile.search_lexemes {
            claim(name, "the search lexemes".into())?;
        }
        for preserved in &entity.preserve {
            if let Some(by) = owned.get(preserved.get_ref()) {
                return Err(self.error(
                    preserved.span(),
                    &format!("{path}.preserve"),
                    format!(
                        "{:?} is written by cutover ({by}); it cannot also be left alone",
                        preserved.get_ref()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The reads the app serves must be expressible: each listing's partition
    /// key from the parent's id alone, each reverse lookup from the id alone.
    fn access_patterns(&self, profile: &Profile, raw: &RawProfile) -> Result<(), ProfileError> {
        let only = |kind: EntityKind, template: &Template, field: &str, what: &str| {
            let entity = profile.entity(kind);
            let allowed = entity.attribute(field);
            if template.attributes().any(|a| a != allowed) || template.attributes().next().is_none()
            {
                let span = raw.entities.get(kind.name()).map_or(0..0, |e| e.span());
                return Err(self.error(
                    span,
                    &format!("entities.{kind}"),
                    format!("{what}: the key {template} must be built from {allowed} alone"),
                ));
            }
            Ok(())
        };
        only(
            EntityKind::Campaign,
            &profile.entity(EntityKind::Campaign).pk,
            fields::USER_ID,
            "listing a user's campaigns",
        )?;
        only(
            EntityKind::Session,
            &profile.entity(EntityKind::Session).pk,
            fields::CAMPAIGN_ID,
            "listing a campaign's sessions",
        )?;
        only(
            EntityKind::Summary,
            &profile.entity(EntityKind::Summary).pk,
            fields::SESSION_ID,
            "listing a session's summaries",
        )?;
        for kind in [EntityKind::Campaign, EntityKind::Session] {
            let entity = profile.entity(kind);
            let Some(reverse) = entity.indexes.iter().find(|i| i.sk.is_some()) else {
                let span = raw.entities.get(kind.name()).map_or(0..0, |e| e.span());
                return Err(self.error(
                    span,
                    &format!("entities.{kind}.indexes"),
                    format!("a {kind} needs an index with a sort key to be found by its id alone"),
                ));
            };
            only(
                kind,
                &reverse.pk,
                fields::ID,
                &format!("finding a {kind} by id on {}", reverse.index),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
