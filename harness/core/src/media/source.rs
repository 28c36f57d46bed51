//! The media shelf's DynamoDB table as its Dynamoose data layer writes it:
//! hash key `type:id` = `<type>:<id>`, composite range keys
//! `movedAt:type:id` = `<epoch ms>:<type>:<id>` (and the `addedAt` twin),
//! `type:shelf` = `<type>:<shelf>`, dates as epoch-millisecond numbers, and
//! type-specific attributes at the top level. Eight GSIs serve its access
//! patterns. Every composite string is built and parsed here only.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use thiserror::Error;

use super::{Image, MediaItem, MediaType, rating_tenths};
use crate::campaign_item::{attr_to_json, json_to_attr};
use crate::item_size::{AttrValue, Item};

pub mod attr {
    pub const TYPE_ID: &str = "type:id";
    pub const ID: &str = "id";
    pub const TYPE: &str = "type";
    pub const SHELF: &str = "shelf";
    pub const TITLE: &str = "title";
    pub const RATING: &str = "rating";
    pub const IMAGE: &str = "image";
    pub const EXTERNAL_ID: &str = "externalId";
    pub const NOTES: &str = "notes";
    pub const ADDED_AT: &str = "addedAt";
    pub const MOVED_AT: &str = "movedAt";
    pub const MOVED_AT_TYPE_ID: &str = "movedAt:type:id";
    pub const ADDED_AT_TYPE_ID: &str = "addedAt:type:id";
    pub const TYPE_SHELF: &str = "type:shelf";
    pub const CATEGORY: &str = "category";
    pub const SERIES_ID: &str = "seriesId";

    /// Every attribute that is not a type-specific field.
    pub const COMMON: [&str; 16] = [
        TYPE_ID,
        ID,
        TYPE,
        SHELF,
        TITLE,
        RATING,
        IMAGE,
        EXTERNAL_ID,
        NOTES,
        ADDED_AT,
        MOVED_AT,
        MOVED_AT_TYPE_ID,
        ADDED_AT_TYPE_ID,
        TYPE_SHELF,
        CATEGORY,
        SERIES_ID,
    ];
}

/// One GSI of the source table: its name and key attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceIndex {
    pub name: &'static str,
    pub hash: &'static str,
    pub range: &'static str,
}

/// The eight GSIs: by type and moved/added date, by type and shelf (moved
/// and added), by title prefix, by external id, by category, by series.
pub const INDEXES: [SourceIndex; 8] = [
    SourceIndex {
        name: "type",
        hash: attr::TYPE,
        range: attr::MOVED_AT_TYPE_ID,
    },
    SourceIndex {
        name: "typeAdded",
        hash: attr::TYPE,
        range: attr::ADDED_AT_TYPE_ID,
    },
    SourceIndex {
        name: "shelf",
        hash: attr::TYPE_SHELF,
        range: attr::MOVED_AT_TYPE_ID,
    },
    SourceIndex {
        name: "shelfAdded",
        hash: attr::TYPE_SHELF,
        range: attr::ADDED_AT_TYPE_ID,
    },
    SourceIndex {
        name: "title",
        hash: attr::TYPE,
        range: attr::TITLE,
    },
    SourceIndex {
        name: "externalId",
        hash: attr::EXTERNAL_ID,
        range: attr::MOVED_AT_TYPE_ID,
    },
    SourceIndex {
        name: "category",
        hash: attr::CATEGORY,
        range: attr::MOVED_AT_TYPE_ID,
    },
    SourceIndex {
        name: "seriesId",
        hash: attr::SERIES_ID,
        range: attr::MOVED_AT_TYPE_ID,
    },
];

pub fn index(name: &str) -> Option<&'static SourceIndex> {
    INDEXES.iter().find(|index| index.name == name)
}

pub fn type_id(media_type: MediaType, id: &str) -> String {
    format!("{}:{id}", media_type.name())
}

pub fn type_shelf(media_type: MediaType, shelf: &str) -> String {
    format!("{}:{shelf}", media_type.name())
}

/// `<epoch ms>:<type>:<id>`: the range key the date-ordered indexes sort by.
/// It sorts as a string, so it follows time only while epoch milliseconds
/// have 13 digits (2001-09-09 to 2286-11-20).
pub fn at_type_id(at: &DateTime<Utc>, media_type: MediaType, id: &str) -> String {
    format!("{}:{}:{id}", at.timestamp_millis(), media_type.name())
}

fn s(text: &str) -> AttrValue {
    AttrValue::S(text.to_owned())
}

fn n(number: impl ToString) -> AttrValue {
    AttrValue::N(number.to_string())
}

/// The item the old app stores for `item`.
pub fn to_source_item(item: &MediaItem) -> Item {
    let t = item.media_type;
    let mut out: Item = BTreeMap::new();
    for (name, value) in &item.data {
        out.insert(name.clone(), json_to_attr(value));
    }
    let mut put = |name: &str, value: AttrValue| {
        out.insert(name.to_owned(), value);
    };
    put(attr::TYPE_ID, s(&type_id(t, &item.id)));
    put(attr::ID, s(&item.id));
    put(attr::TYPE, s(t.name()));
    put(attr::SHELF, s(&item.shelf));
    put(attr::TITLE, s(&item.title));
    put(attr::ADDED_AT, n(item.added_at.timestamp_millis()));
    put(attr::MOVED_AT, n(item.moved_at.timestamp_millis()));
    put(
        attr::MOVED_AT_TYPE_ID,
        s(&at_type_id(&item.moved_at, t, &item.id)),
    );
    put(
        attr::ADDED_AT_TYPE_ID,
        s(&at_type_id(&item.added_at, t, &item.id)),
    );
    put(attr::TYPE_SHELF, s(&type_shelf(t, &item.shelf)));
    if let Some(tenths) = item.rating_tenths {
        put(attr::RATING, AttrValue::N(super::format_rating(tenths)));
    }
    if let Some(image) = &item.image {
        put(
            attr::IMAGE,
            AttrValue::M(BTreeMap::from([
                ("url".to_owned(), s(&image.url)),
                ("width".to_owned(), n(image.width)),
                ("height".to_owned(), n(image.height)),
            ])),
        );
    }
    if let Some(external) = &item.external_id {
        put(attr::EXTERNAL_ID, s(external));
    }
    if let Some(notes) = &item.notes {
        put(attr::NOTES, s(notes));
    }
    if let Some(category) = t.category() {
        put(attr::CATEGORY, s(category));
    }
    if let Some(series) = &item.series_id {
        put(attr::SERIES_ID, s(series));
    }
    out
}

/// Why a source item cannot be read; names the item's key and the attribute.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("source item {key}: attribute {attribute:?}: {problem}")]
pub struct SourceError {
    pub key: String,
    pub attribute: String,
    pub problem: String,
}

struct Reader<'a> {
    item: &'a Item,
    key: String,
}

impl Reader<'_> {
    fn fail(&self, attribute: &str, problem: impl Into<String>) -> SourceError {
        SourceError {
            key: self.key.clone(),
            attribute: attribute.to_owned(),
            problem: problem.into(),
        }
    }

    fn string(&self, name: &str) -> Result<String, SourceError> {
        match self.item.get(name) {
            Some(AttrValue::S(text)) => Ok(text.clone()),
            Some(other) => Err(self.fail(name, format!("should be a string, found {other:?}"))),
            None => Err(self.fail(name, "missing")),
        }
    }

    fn optional_string(&self, name: &str) -> Result<Option<String>, SourceError> {
        match self.item.get(name) {
            None | Some(AttrValue::Null) => Ok(None),
            Some(_) => self.string(name).map(Some),
        }
    }

    fn number(&self, name: &str) -> Result<f64, SourceError> {
        match self.item.get(name) {
            Some(AttrValue::N(text)) => text
                .parse()
                .map_err(|_| self.fail(name, format!("{text:?} is not a number"))),
            Some(other) => Err(self.fail(name, format!("should be a number, found {other:?}"))),
            None => Err(self.fail(name, "missing")),
        }
    }

    fn millis(&self, name: &str) -> Result<DateTime<Utc>, SourceError> {
        let millis = self.number(name)?;
        if millis.fract() != 0.0 {
            return Err(self.fail(name, format!("{millis} is not whole milliseconds")));
        }
        DateTime::from_timestamp_millis(millis as i64)
            .ok_or_else(|| self.fail(name, format!("{millis} is out of range")))
    }

    /// A stored composite must be what the item's fields give.
    fn composite(&self, name: &str, expected: &str) -> Result<(), SourceError> {
        match self.item.get(name) {
            None => Ok(()),
            Some(AttrValue::S(stored)) if stored == expected => Ok(()),
            Some(stored) => Err(self.fail(
                name,
                format!("holds {stored:?}, but the item's fields give {expected:?}"),
            )),
        }
    }
}

/// Reads an item the old app stored. Composite attributes, when present,
/// must agree with the fields they are made of.
pub fn from_source_item(item: &Item) -> Result<MediaItem, SourceError> {
    let key = match item.get(attr::TYPE_ID) {
        Some(AttrValue::S(key)) => key.clone(),
        _ => "(no type:id)".to_owned(),
    };
    let read = Reader { item, key };
    let type_name = read.string(attr::TYPE)?;
    let media_type = MediaType::parse(&type_name)
        .ok_or_else(|| read.fail(attr::TYPE, format!("{type_name:?} is not a media type")))?;
    let id = read.string(attr::ID)?;
    let shelf = read.string(attr::SHELF)?;
    let added_at = read.millis(attr::ADDED_AT)?;
    let moved_at = read.millis(attr::MOVED_AT)?;
    read.composite(attr::TYPE_ID, &type_id(media_type, &id))?;
    read.composite(attr::TYPE_SHELF, &type_shelf(media_type, &shelf))?;
    read.composite(
        attr::MOVED_AT_TYPE_ID,
        &at_type_id(&moved_at, media_type, &id),
    )?;
    read.composite(
        attr::ADDED_AT_TYPE_ID,
        &at_type_id(&added_at, media_type, &id),
    )?;
    let rating_tenths = match item.get(attr::RATING) {
        None | Some(AttrValue::Null) => None,
        Some(_) => {
            let rating = read.number(attr::RATING)?;
            Some(rating_tenths(rating).ok_or_else(|| {
                read.fail(attr::RATING, format!("{rating} has more than one decimal"))
            })?)
        }
    };
    let image = match item.get(attr::IMAGE) {
        None | Some(AttrValue::Null) => None,
        Some(AttrValue::M(map)) => {
            let image = Item::from_iter(map.clone());
            let part = Reader {
                item: &image,
                key: read.key.clone(),
            };
            let dimension = |name: &str| -> Result<u32, SourceError> {
                let value = part
                    .number(name)
                    .map_err(|e| read.fail(attr::IMAGE, e.to_string()))?;
                if value < 0.0 || value.fract() != 0.0 || value > u32::MAX as f64 {
                    return Err(
                        read.fail(attr::IMAGE, format!("{name} {value} is not a pixel count"))
                    );
                }
                Ok(value as u32)
            };
            Some(Image {
                url: part
                    .string("url")
                    .map_err(|e| read.fail(attr::IMAGE, e.to_string()))?,
                width: dimension("width")?,
                height: dimension("height")?,
            })
        }
        Some(other) => {
            return Err(read.fail(attr::IMAGE, format!("should be a map, found {other:?}")));
        }
    };
    let mut data = serde_json::Map::new();
    for (name, value) in item {
        if attr::COMMON.contains(&name.as_str()) {
            continue;
        }
        let json = attr_to_json(value).map_err(|problem| read.fail(name, problem))?;
        data.insert(name.clone(), json);
    }
    Ok(MediaItem {
        id,
        media_type,
        shelf,
        title: read.string(attr::TITLE)?,
        rating_tenths,
        image,
        external_id: read.optional_string(attr::EXTERNAL_ID)?,
        notes: read.optional_string(attr::NOTES)?,
        added_at,
        moved_at,
        series_id: read.optional_string(attr::SERIES_ID)?,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::tests::book;

    #[test]
    fn items_round_trip_through_the_source_layout() {
        let mut item = book();
        item.image = Some(Image {
            url: "https://img.example/1.jpg".into(),
            width: 300,
            height: 450,
        });
        let stored = to_source_item(&item);
        assert_eq!(
            stored[attr::TYPE_ID],
            s("Book:3f2b8c9e-1d4a-4c6b-9e7f-0a1b2c3d4e5f")
        );
        assert_eq!(
            stored[attr::MOVED_AT_TYPE_ID],
            s("1650000000456:Book:3f2b8c9e-1d4a-4c6b-9e7f-0a1b2c3d4e5f")
        );
        assert_eq!(stored[attr::TYPE_SHELF], s("Book:Reading"));
        assert_eq!(stored[attr::CATEGORY], s("Reading"));
        assert_eq!(stored["author"], s("Ursula K. Le Guin"));
        assert_eq!(from_source_item(&stored), Ok(item));
    }

    #[test]
    fn a_composite_that_disagrees_with_its_fields_is_named() {
        let mut stored = to_source_item(&book());
        stored.insert(attr::TYPE_SHELF.into(), s("Book:Read"));
        let err = from_source_item(&stored).unwrap_err();
        assert_eq!(err.attribute, "type:shelf");
        assert!(err.to_string().contains("\"Book:Reading\""), "{err}");
        let mut stored = to_source_item(&book());
        stored.insert(attr::MOVED_AT.into(), n("1650000000456.5"));
        assert!(
            from_source_item(&stored)
                .unwrap_err()
                .to_string()
                .contains("whole milliseconds")
        );
    }

    #[test]
    fn every_index_key_is_an_attribute_the_item_carries() {
        let stored = to_source_item(&book());
        for index in INDEXES.iter().filter(|i| i.name != "seriesId") {
            assert!(stored.contains_key(index.hash), "{}", index.name);
            assert!(stored.contains_key(index.range), "{}", index.name);
        }
        assert_eq!(INDEXES.len(), 8);
    }
}
