//! The media shelf's JSON backups, as its backup tool writes them: one file
//! per type (`Book.json`, ..., `TvSeason.json`), each a JSON array of the
//! items the data layer returned — every stored attribute, composite keys
//! included, with `addedAt`/`movedAt` as ISO-8601 strings (what
//! `JSON.stringify` makes of a `Date`). Reading goes through the same codec
//! as the table (`super::source`), so a backup and a table are checked alike.

use chrono::{DateTime, SecondsFormat, Utc};
use thiserror::Error;

use super::source::{SourceError, attr, from_source_item, to_source_item};
use super::{MediaItem, MediaType};
use crate::campaign_item::{attr_to_json, json_to_attr};
use crate::item_size::{AttrValue, Item};

/// The file a type's items are backed up in.
pub fn file_name(media_type: MediaType) -> String {
    format!("{}.json", media_type.name())
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BackupError {
    #[error("{file}:{line}:{column}: not a JSON array of items: {message}")]
    Json {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: item [{index}] (id {id}): {field}: {problem}")]
    Item {
        file: String,
        index: usize,
        id: String,
        field: String,
        problem: String,
    },
}

fn iso(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// One item as the backup holds it.
pub fn to_backup_value(item: &MediaItem) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    for (name, value) in to_source_item(item) {
        let json = match name.as_str() {
            attr::ADDED_AT => serde_json::Value::String(iso(&item.added_at)),
            attr::MOVED_AT => serde_json::Value::String(iso(&item.moved_at)),
            _ => attr_to_json(&value).expect("source items hold JSON-representable values"),
        };
        object.insert(name, json);
    }
    serde_json::Value::Object(object)
}

/// A type's backup file: its items, pretty-printed as the backup tool does.
pub fn to_backup_file(items: &[MediaItem]) -> String {
    let values: Vec<serde_json::Value> = items.iter().map(to_backup_value).collect();
    serde_json::to_string_pretty(&values).expect("JSON values serialize") + "\n"
}

/// Reads one backup file. `media_type` is the type its name says; an item
/// of another type is an error, as is anything the table codec rejects.
pub fn parse_backup_file(
    text: &str,
    file: &str,
    media_type: MediaType,
) -> Result<Vec<MediaItem>, BackupError> {
    let values: Vec<serde_json::Value> =
        serde_json::from_str(text).map_err(|e| BackupError::Json {
            file: file.to_owned(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
    values
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let id = value
                .get(attr::ID)
                .and_then(|v| v.as_str())
                .unwrap_or("?")
                .to_owned();
            let fail = |field: &str, problem: String| BackupError::Item {
                file: file.to_owned(),
                index,
                id: id.clone(),
                field: field.to_owned(),
                problem,
            };
            let object = value
                .as_object()
                .ok_or_else(|| fail("(item)", format!("should be an object, found {value}")))?;
            let mut item = Item::new();
            for (name, value) in object {
                let stored = match name.as_str() {
                    attr::ADDED_AT | attr::MOVED_AT => AttrValue::N(
                        millis_of(value)
                            .map_err(|problem| fail(name, problem))?
                            .to_string(),
                    ),
                    _ => json_to_attr(value),
                };
                item.insert(name.clone(), stored);
            }
            let parsed = from_source_item(&item).map_err(
                |SourceError {
                     attribute, problem, ..
                 }| fail(&attribute, problem),
            )?;
            if parsed.media_type != media_type {
                return Err(fail(
                    attr::TYPE,
                    format!(
                        "{} in the {} backup",
                        parsed.media_type.name(),
                        media_type.name()
                    ),
                ));
            }
            Ok(parsed)
        })
        .collect()
}

/// A backup date: an ISO-8601 string (what the backup tool writes) or epoch
/// milliseconds (what the table stores).
fn millis_of(value: &serde_json::Value) -> Result<i64, String> {
    match value {
        serde_json::Value::String(text) => DateTime::parse_from_rfc3339(text)
            .map(|at| at.timestamp_millis())
            .map_err(|e| format!("{text:?} is not an ISO-8601 date: {e}")),
        serde_json::Value::Number(number) => number
            .as_i64()
            .ok_or_else(|| format!("{number} is not whole milliseconds")),
        other => Err(format!("{other} is not a date")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::tests::book;

    #[test]
    fn a_backup_file_round_trips() {
        let items = vec![book()];
        let text = to_backup_file(&items);
        assert!(
            text.contains("\"addedAt\": \"2020-09-13T12:26:40.123Z\""),
            "{text}"
        );
        assert!(text.contains("\"type:id\": \"Book:3f2b8c9e"), "{text}");
        assert_eq!(
            parse_backup_file(&text, "Book.json", MediaType::Book),
            Ok(items)
        );
    }

    /// The shipped fixture is `cutover media generate-backup --seed 2026
    /// --items 40`: it parses, and it is exactly that shelf.
    #[test]
    fn the_fixture_backup_is_the_seeded_shelf() {
        let files = [
            (
                MediaType::Book,
                include_str!("../../../../fixtures/media-backup/Book.json"),
            ),
            (
                MediaType::VideoGame,
                include_str!("../../../../fixtures/media-backup/VideoGame.json"),
            ),
            (
                MediaType::Feature,
                include_str!("../../../../fixtures/media-backup/Feature.json"),
            ),
            (
                MediaType::TvSeries,
                include_str!("../../../../fixtures/media-backup/TvSeries.json"),
            ),
            (
                MediaType::TvSeason,
                include_str!("../../../../fixtures/media-backup/TvSeason.json"),
            ),
        ];
        let mut parsed = Vec::new();
        for (media_type, text) in files {
            parsed.extend(parse_backup_file(text, &file_name(media_type), media_type).unwrap());
        }
        assert_eq!(parsed, crate::media::generator::generate(2026, 40));
    }

    #[test]
    fn errors_name_the_file_the_item_and_the_field() {
        let err = parse_backup_file("[{\"id\": 1,]", "Book.json", MediaType::Book).unwrap_err();
        assert!(matches!(err, BackupError::Json { line: 1, .. }), "{err}");

        let mut value = to_backup_value(&book());
        value["movedAt"] = serde_json::json!("yesterday");
        let text = serde_json::to_string(&vec![value]).unwrap();
        let err = parse_backup_file(&text, "Book.json", MediaType::Book).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Book.json: item [0] (id 3f2b8c9e-1d4a-4c6b-9e7f-0a1b2c3d4e5f): movedAt: \"yesterday\" is not an ISO-8601 date: premature end of input"
        );

        let text = to_backup_file(&[book()]);
        let err = parse_backup_file(&text, "Feature.json", MediaType::Feature).unwrap_err();
        assert!(
            err.to_string().contains("Book in the Feature backup"),
            "{err}"
        );
    }
}
