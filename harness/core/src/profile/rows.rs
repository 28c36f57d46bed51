//! PostgreSQL's half of a profile: the statements that read an entity kind
//! from the app's own tables (`"Session"."campaignId"` as readily as
//! `sessions.campaign_id`), and a row's cells back into an entity.
//!
//! The statements are built here, from the profile, and nowhere else; the IO
//! layer binds parameters and turns each column into a [`Cell`] by its
//! declared [`ColumnType`](super::ColumnType).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use thiserror::Error;

use super::codec::{Value, build};
use super::fields::{self, FieldType};
use super::{Casing, Column, EntityProfile, Profile, VersionSource};
use crate::domain::{Entity, canonical_json, truncate_to_millis};
use crate::keys::{EntityKind, Id};

/// One column's value as PostgreSQL returned it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Text(String),
    Integer(i64),
    Time(DateTime<Utc>),
    Json(serde_json::Value),
}

impl Cell {
    fn describe(&self) -> String {
        match self {
            Cell::Null => "NULL".into(),
            Cell::Text(text) => format!("{text:?}"),
            Cell::Integer(n) => n.to_string(),
            Cell::Time(at) => at.to_rfc3339(),
            Cell::Json(json) => json.to_string(),
        }
    }
}

/// A row that does not hold what the profile says: names the table, the
/// column and the value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{table}.{column} = {value}: {reason}")]
pub struct RowError {
    pub table: String,
    pub column: String,
    pub value: String,
    pub reason: String,
}

/// Which rows a select reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowFilter {
    /// `id = ANY($1)` (a `text[]`), in id order.
    IdsIn,
    /// `id = $1`.
    Id,
    /// `<the field's column> = $1`, in id order.
    FieldEquals(&'static str),
}

/// `name` as a PostgreSQL identifier, quoted (so `Session` and `campaignId`
/// keep their case, and no name can end the statement).
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// What one row read selects, in order: `(field, column)`.
pub type SelectedColumns<'a> = Vec<(&'static str, &'a Column)>;

impl EntityProfile {
    /// The table, quoted.
    pub fn quoted_table(&self) -> String {
        quote(&self.table)
    }

    /// The id column, quoted.
    pub fn quoted_id(&self) -> String {
        quote(
            &self
                .column(fields::ID)
                .expect("profile checked: every entity has an id column")
                .name,
        )
    }

    /// Whether a session's transcript size and hash are columns (else they are
    /// computed from the transcript text, which a read then has to fetch).
    pub fn keeps_transcript_digest(&self) -> bool {
        self.column(fields::TRANSCRIPT_BYTES).is_some()
            && self.column(fields::TRANSCRIPT_SHA256).is_some()
    }

    /// The columns a read of this entity selects; the transcript text only when
    /// asked for or needed to compute its size and hash.
    pub fn selected_columns(&self, with_transcript: bool) -> SelectedColumns<'_> {
        let transcript_needed = self.kind == EntityKind::Session
            && (with_transcript || !self.keeps_transcript_digest());
        self.fields
            .iter()
            .filter(|f| f.spec.name != fields::TRANSCRIPT || transcript_needed)
            .filter_map(|f| f.column.as_ref().map(|c| (f.spec.name, c)))
            .collect()
    }

    /// The column that orders this entity's writes, as a `bigint` expression:
    /// the version, or `updated_at` in epoch milliseconds (what `order_of` gives).
    pub fn order_expression(&self) -> String {
        match self.versions {
            VersionSource::Version => {
                quote(&self.column(fields::VERSION).expect("profile checked").name)
            }
            VersionSource::UpdatedAt => format!(
                "floor(extract(epoch FROM {}) * 1000)::bigint",
                quote(
                    &self
                        .column(fields::UPDATED_AT)
                        .expect("profile checked")
                        .name
                )
            ),
        }
    }
}

impl Profile {
    /// Whether `other` describes the same PostgreSQL tables: outbox, tables,
    /// the column of every field and what orders versions (the DynamoDB half
    /// may differ).
    pub fn same_tables_as(&self, other: &Profile) -> bool {
        /// An entity's table as the comparison sees it: kind, table, versions, field columns.
        type Tables<'a> = Vec<(
            EntityKind,
            &'a str,
            VersionSource,
            Vec<(&'a str, Option<&'a Column>)>,
        )>;
        fn tables(profile: &Profile) -> Tables<'_> {
            profile
                .entities()
                .iter()
                .map(|e| {
                    let columns = e
                        .fields
                        .iter()
                        .map(|f| (f.spec.name, f.column.as_ref()))
                        .collect();
                    (e.kind, e.table.as_str(), e.versions, columns)
                })
                .collect()
        }
        self.outbox == other.outbox && tables(self) == tables(other)
    }

    /// `SELECT` of `kind`'s columns (see [`EntityProfile::selected_columns`]).
    pub fn select_sql(&self, kind: EntityKind, with_transcript: bool, filter: RowFilter) -> String {
        let entity = self.entity(kind);
        let columns: Vec<String> = entity
            .selected_columns(with_transcript)
            .iter()
            .map(|(_, column)| quote(&column.name))
            .collect();
        let id = entity.quoted_id();
        let filter = match filter {
            RowFilter::IdsIn => format!("{id} = ANY($1) ORDER BY {id}"),
            RowFilter::Id => format!("{id} = $1"),
            RowFilter::FieldEquals(field) => {
                let column = entity
                    .column(field)
                    .unwrap_or_else(|| panic!("{kind} has no column for {field}"));
                format!("{} = $1 ORDER BY {id}", quote(&column.name))
            }
        };
        format!(
            "SELECT {} FROM {} WHERE {filter}",
            columns.join(", "),
            entity.quoted_table()
        )
    }

    /// Keyset pagination over `kind`'s ids: `$1` the last id seen (or NULL), `$2` the page size.
    pub fn ids_after_sql(&self, kind: EntityKind) -> String {
        let entity = self.entity(kind);
        let id = entity.quoted_id();
        format!(
            "SELECT {id}::text FROM {} WHERE $1::text IS NULL OR {id} > $1 ORDER BY {id} LIMIT $2",
            entity.quoted_table()
        )
    }

    /// `(id, order)` of the entities with ids in `$1`, `order` as `order_of` gives it.
    pub fn orders_sql(&self, kind: EntityKind) -> String {
        let entity = self.entity(kind);
        let id = entity.quoted_id();
        format!(
            "SELECT {id}::text, {} FROM {} WHERE {id} = ANY($1)",
            entity.order_expression(),
            entity.quoted_table()
        )
    }

    /// The number of rows of every entity table.
    pub fn count_sql(&self) -> String {
        let counts: Vec<String> = self
            .entities()
            .iter()
            .map(|e| format!("(SELECT count(*) FROM {})", e.quoted_table()))
            .collect();
        format!("SELECT {}", counts.join(" + "))
    }

    /// Groups of ids of `kind` that are one key under the entity's key casing
    /// (`usrA` and `usra` under ElectroDB's default): `$1` none.
    pub fn colliding_ids_sql(&self, kind: EntityKind) -> Option<String> {
        let entity = self.entity(kind);
        let fold = match entity.casing {
            Casing::None => return None,
            Casing::Default | Casing::Lower => "lower",
            Casing::Upper => "upper",
        };
        let id = entity.quoted_id();
        Some(format!(
            "SELECT array_agg({id}::text ORDER BY {id}) FROM {} GROUP BY {fold}({id}) HAVING count(*) > 1 ORDER BY 1 LIMIT 100",
            entity.quoted_table()
        ))
    }

    /// A row's cells (by field, as `selected_columns` lists them, the
    /// transcript's size and hash included when the caller computed them)
    /// as an entity, with a session's transcript text when it was selected.
    ///
    /// Timestamps are cut to milliseconds, as the app's JavaScript `Date`
    /// holds them; without a version column, the version is `updated_at` in
    /// milliseconds.
    pub fn entity_from_row(
        &self,
        kind: EntityKind,
        mut cells: BTreeMap<&'static str, Cell>,
    ) -> Result<(Entity, Option<String>), RowError> {
        let entity = self.entity(kind);
        let fail = |field: &str, cell: &Cell, reason: String| RowError {
            table: entity.table.clone(),
            column: entity
                .column(field)
                .map_or_else(|| format!("({field})"), |c| c.name.clone()),
            value: cell.describe(),
            reason,
        };
        let transcript = match cells.remove(fields::TRANSCRIPT) {
            Some(Cell::Text(text)) => Some(text),
            Some(other) => {
                return Err(fail(
                    fields::TRANSCRIPT,
                    &other,
                    "a transcript is text".into(),
                ));
            }
            None => None,
        };
        let mut values: BTreeMap<&'static str, Value> = BTreeMap::new();
        for mapping in &entity.fields {
            let name = mapping.spec.name;
            if name == fields::TRANSCRIPT || name == fields::TRANSCRIPT_KEY {
                continue;
            }
            if name == fields::VERSION && entity.versions == VersionSource::UpdatedAt {
                continue;
            }
            let cell = cells.remove(name).unwrap_or(Cell::Null);
            let value = match (mapping.spec.ty, cell) {
                (FieldType::OptionalText, Cell::Null) => Value::Absent,
                (_, cell @ Cell::Null) => {
                    return Err(fail(name, &cell, "NULL where a value is required".into()));
                }
                (FieldType::Id, Cell::Text(text)) => match Id::parse(&text) {
                    Ok(_) => Value::Text(text),
                    Err(error) => return Err(fail(name, &Cell::Text(text), error.to_string())),
                },
                (FieldType::Text | FieldType::OptionalText, Cell::Text(text)) => Value::Text(text),
                (FieldType::Integer, Cell::Integer(n))
                    if name == fields::TRANSCRIPT_BYTES && n < 0 =>
                {
                    return Err(fail(
                        name,
                        &Cell::Integer(n),
                        "a size cannot be negative".into(),
                    ));
                }
                (FieldType::Integer, Cell::Integer(n)) => Value::Integer(n),
                (FieldType::Timestamp, Cell::Time(at)) => Value::Time(truncate_to_millis(at)),
                (FieldType::Json, Cell::Json(json)) if json.is_object() => {
                    Value::Json(canonical_json(json))
                }
                (FieldType::Json, cell @ Cell::Json(_)) => {
                    return Err(fail(name, &cell, "not a JSON object".into()));
                }
                (ty, cell) => return Err(fail(name, &cell, format!("expected {}", ty.name()))),
            };
            values.insert(name, value);
        }
        if kind == EntityKind::Session {
            let sha256 = match values.get(fields::TRANSCRIPT_SHA256) {
                Some(Value::Text(sha)) => sha.clone(),
                _ => String::new(),
            };
            let hex = sha256.len() == 64
                && sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !hex {
                return Err(fail(
                    fields::TRANSCRIPT_SHA256,
                    &Cell::Text(sha256),
                    "not a SHA-256 in lowercase hexadecimal".into(),
                ));
            }
            // The pointer is the profile's key template over the row's values.
            let by_attribute = |attribute: &str| {
                let mapping = entity
                    .fields
                    .iter()
                    .find(|f| f.attribute.as_deref() == Some(attribute))?;
                match values.get(mapping.spec.name) {
                    Some(Value::Text(text)) => Some(text.clone()),
                    Some(Value::Integer(n)) => Some(n.to_string()),
                    _ => None,
                }
            };
            let key = entity
                .transcript_key
                .as_ref()
                .expect("profile checked: sessions have a transcript key")
                .format(Casing::None, by_attribute)
                .expect("profile checked: the transcript key reads the session's text attributes");
            values.insert(fields::TRANSCRIPT_KEY, Value::Text(key));
        }
        Ok((build(kind, entity.versions, values), transcript))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::ELECTRODB_TOML;
    use chrono::TimeZone;

    fn electrodb() -> Profile {
        Profile::parse(ELECTRODB_TOML, "profiles/electrodb.toml").unwrap()
    }

    const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn session_cells() -> BTreeMap<&'static str, Cell> {
        let at = Utc.timestamp_micros(1_700_000_000_123_456).unwrap();
        BTreeMap::from([
            (fields::ID, Cell::Text("S1".into())),
            (fields::CAMPAIGN_ID, Cell::Text("C1".into())),
            (fields::USER_ID, Cell::Text("Alice".into())),
            (fields::NAME, Cell::Text("Session".into())),
            (fields::SUMMARY, Cell::Text("sum".into())),
            (
                fields::METADATA,
                Cell::Json(serde_json::json!({"round": 3.0})),
            ),
            (fields::SHARE_TOKEN, Cell::Null),
            (fields::TRANSCRIPT, Cell::Text("hello".into())),
            (fields::TRANSCRIPT_BYTES, Cell::Integer(5)),
            (fields::TRANSCRIPT_SHA256, Cell::Text(SHA.into())),
            (fields::CREATED_AT, Cell::Time(at)),
            (fields::UPDATED_AT, Cell::Time(at)),
        ])
    }

    #[test]
    fn prisma_style_names_are_quoted_and_keep_their_case() {
        let profile = electrodb();
        assert_eq!(
            profile.select_sql(EntityKind::Campaign, false, RowFilter::IdsIn),
            r#"SELECT "id", "userId", "name", "description", "createdAt", "updatedAt" FROM "Campaign" WHERE "id" = ANY($1) ORDER BY "id""#
        );
        // Without size and hash columns, a session read fetches the transcript to compute them.
        assert!(
            profile
                .select_sql(EntityKind::Session, false, RowFilter::Id)
                .contains(r#""transcript""#)
        );
        assert_eq!(
            profile.orders_sql(EntityKind::User),
            r#"SELECT "id"::text, floor(extract(epoch FROM "updatedAt") * 1000)::bigint FROM "User" WHERE "id" = ANY($1)"#
        );
        assert_eq!(quote(r#"we"ird"#), r#""we""ird""#);
        let reference = Profile::reference();
        assert!(
            !reference
                .select_sql(EntityKind::Session, false, RowFilter::Id)
                .contains("\"transcript\"")
        );
        assert_eq!(
            reference.orders_sql(EntityKind::Summary),
            r#"SELECT "id"::text, "version" FROM "session_summaries" WHERE "id" = ANY($1)"#
        );
        assert!(
            reference.colliding_ids_sql(EntityKind::User).is_none(),
            "casing none folds nothing"
        );
        assert!(
            profile
                .colliding_ids_sql(EntityKind::User)
                .unwrap()
                .contains("GROUP BY lower(\"id\")")
        );
    }

    #[test]
    fn a_prisma_row_reads_as_the_entity_its_items_hold() {
        let profile = electrodb();
        let (entity, transcript) = profile
            .entity_from_row(EntityKind::Session, session_cells())
            .unwrap();
        let Entity::Session(session) = &entity else {
            panic!("{entity:?}")
        };
        assert_eq!(transcript.as_deref(), Some("hello"));
        assert_eq!(
            session.transcript.storage_key,
            format!("transcripts/Alice/S1/{SHA}")
        );
        assert_eq!(session.share_token, None);
        // Milliseconds, as JavaScript's Date; no version column: updated_at orders.
        assert_eq!(session.updated_at.timestamp_subsec_micros(), 123_000);
        assert_eq!(session.version, 1_700_000_000_123);
        assert_eq!(session.metadata, serde_json::json!({"round": 3}));
    }

    #[test]
    fn rows_that_break_the_profile_name_table_column_and_value() {
        let profile = electrodb();
        let cases: [(&str, Cell, &str); 4] = [
            (fields::ID, Cell::Text("../etc".into()), "\"../etc\""),
            (fields::NAME, Cell::Null, "NULL where a value is required"),
            (
                fields::METADATA,
                Cell::Json(serde_json::json!([1])),
                "not a JSON object",
            ),
            (
                fields::TRANSCRIPT_SHA256,
                Cell::Text("../../x".into()),
                "not a SHA-256",
            ),
        ];
        for (field, cell, expected) in cases {
            let mut cells = session_cells();
            cells.insert(field, cell);
            let error = profile
                .entity_from_row(EntityKind::Session, cells)
                .unwrap_err();
            assert_eq!(error.table, "Session");
            let column = profile
                .entity(EntityKind::Session)
                .column(field)
                .map_or("(transcript_sha256)", |c| c.name.as_str());
            assert_eq!(error.column, column, "{error}");
            assert!(error.to_string().contains(expected), "{field}: {error}");
        }
    }
}
