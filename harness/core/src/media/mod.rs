//! The media shelf (seed 003): the second system cutover verifies, migrating
//! the other way — from a DynamoDB single table (as its Dynamoose data layer
//! writes it) into one PostgreSQL / Aurora DSQL `items` table with JSONB.
//!
//! This module is the item itself and its rules; `source` is the DynamoDB
//! layout, `backup` the JSON backup files, `generator` seeded shelves.

pub mod backup;
pub mod generator;
pub mod parity;
pub mod queries;
pub mod source;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The kinds of item on the shelf, in the order a migration inserts them
/// (series before the seasons that point at them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MediaType {
    Book,
    VideoGame,
    Feature,
    TvSeries,
    TvSeason,
}

impl MediaType {
    pub const ALL: [MediaType; 5] = [
        MediaType::Book,
        MediaType::VideoGame,
        MediaType::Feature,
        MediaType::TvSeries,
        MediaType::TvSeason,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MediaType::Book => "Book",
            MediaType::VideoGame => "VideoGame",
            MediaType::Feature => "Feature",
            MediaType::TvSeries => "TvSeries",
            MediaType::TvSeason => "TvSeason",
        }
    }

    pub fn parse(name: &str) -> Option<MediaType> {
        MediaType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The old app's `category` attribute (its "watching" grouping is now
    /// hard-coded in SQL as `type IN ('Feature', 'TvSeries')`).
    pub fn category(self) -> Option<&'static str> {
        match self {
            MediaType::Book => Some("Reading"),
            MediaType::VideoGame => Some("Playing"),
            MediaType::Feature | MediaType::TvSeries => Some("Watching"),
            MediaType::TvSeason => None,
        }
    }

    /// The shelves the app offers for this type.
    pub fn shelves(self) -> &'static [&'static str] {
        match self {
            MediaType::Book => &["Reading", "Read", "DidNotFinish"],
            MediaType::VideoGame => &["Playing", "Played", "Completed", "GaveUp"],
            MediaType::Feature | MediaType::TvSeason => &["Watched", "DidNotFinish"],
            MediaType::TvSeries => &["Watching", "Watched", "GaveUp"],
        }
    }
}

/// The cover or poster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub url: String,
    pub width: u32,
    pub height: u32,
}

/// One item, as both systems must agree on it. Timestamps have millisecond
/// precision (the old app stores epoch milliseconds); `rating` is tenths
/// (`DECIMAL(2,1)` in the target: 4.5 is 45).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaItem {
    pub id: String,
    pub media_type: MediaType,
    pub shelf: String,
    pub title: String,
    pub rating_tenths: Option<i32>,
    pub image: Option<Image>,
    pub external_id: Option<String>,
    pub notes: Option<String>,
    pub added_at: DateTime<Utc>,
    pub moved_at: DateTime<Utc>,
    /// A TvSeason's series; nothing else has one.
    pub series_id: Option<String>,
    /// Type-specific fields (author, platforms, seasonNumber, ...), as a JSON object.
    pub data: serde_json::Map<String, serde_json::Value>,
}

/// Target column limits (`VARCHAR(n)`, `DECIMAL(2,1)`).
pub const MAX_SHELF_CHARS: usize = 50;
pub const MAX_TITLE_CHARS: usize = 500;
pub const MAX_EXTERNAL_ID_CHARS: usize = 255;
/// `DECIMAL(2,1)` holds -9.9 to 9.9.
pub const MAX_RATING_TENTHS: i32 = 99;

/// Why an item cannot be stored in the target as it is.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MediaError {
    #[error("item {id}: {field} = {value:?}: {reason}")]
    Invalid {
        id: String,
        field: &'static str,
        value: String,
        reason: String,
    },
}

fn invalid(
    item: &MediaItem,
    field: &'static str,
    value: impl ToString,
    reason: &str,
) -> MediaError {
    MediaError::Invalid {
        id: item.id.clone(),
        field,
        value: value.to_string(),
        reason: reason.to_owned(),
    }
}

/// Ids are UUIDs, kept as they are (the target column is `UUID`; external
/// systems refer to them).
pub fn is_uuid(text: &str) -> bool {
    uuid::Uuid::try_parse(text).is_ok() && text.len() == 36
}

impl MediaItem {
    /// Checks the rules the target schema enforces, so a bad item is named
    /// before a batch fails: UUID ids, column lengths, the rating's range, and
    /// `series_id` only on a TvSeason.
    pub fn validate(&self) -> Result<(), MediaError> {
        if !is_uuid(&self.id) {
            return Err(invalid(self, "id", &self.id, "not a UUID"));
        }
        if self.shelf.is_empty() || self.shelf.chars().count() > MAX_SHELF_CHARS {
            return Err(invalid(
                self,
                "shelf",
                &self.shelf,
                "must be 1 to 50 characters",
            ));
        }
        if self.title.chars().count() > MAX_TITLE_CHARS {
            return Err(invalid(
                self,
                "title",
                self.title.chars().count(),
                "longer than 500 characters",
            ));
        }
        if let Some(external) = &self.external_id
            && external.chars().count() > MAX_EXTERNAL_ID_CHARS
        {
            return Err(invalid(
                self,
                "externalId",
                external,
                "longer than 255 characters",
            ));
        }
        if let Some(tenths) = self.rating_tenths
            && tenths.abs() > MAX_RATING_TENTHS
        {
            return Err(invalid(
                self,
                "rating",
                format_rating(tenths),
                "DECIMAL(2,1) holds -9.9 to 9.9",
            ));
        }
        if let Some(image) = &self.image {
            for (name, pixels) in [("image.width", image.width), ("image.height", image.height)] {
                if i32::try_from(pixels).is_err() {
                    return Err(invalid(
                        self,
                        name,
                        pixels,
                        "above the INT column's 2147483647",
                    ));
                }
            }
        }
        match (&self.series_id, self.media_type) {
            (Some(series), MediaType::TvSeason) if !is_uuid(series) => {
                Err(invalid(self, "seriesId", series, "not a UUID"))
            }
            (Some(series), other) if other != MediaType::TvSeason => Err(invalid(
                self,
                "seriesId",
                series,
                "only a TvSeason has a series (chk_series_id)",
            )),
            _ => Ok(()),
        }
    }
}

/// `45` → `"4.5"`, the target's text form of `DECIMAL(2,1)`.
pub fn format_rating(tenths: i32) -> String {
    let sign = if tenths < 0 { "-" } else { "" };
    format!("{sign}{}.{}", tenths.abs() / 10, tenths.abs() % 10)
}

/// A rating as the source stores it (a JSON or DynamoDB number) in tenths;
/// `None` when it has more than one decimal.
pub fn rating_tenths(number: f64) -> Option<i32> {
    let tenths = (number * 10.0).round();
    ((tenths / 10.0 - number).abs() < 1e-9 && tenths.abs() < i32::MAX as f64)
        .then_some(tenths as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn book() -> MediaItem {
        MediaItem {
            id: "3f2b8c9e-1d4a-4c6b-9e7f-0a1b2c3d4e5f".into(),
            media_type: MediaType::Book,
            shelf: "Reading".into(),
            title: "The Left Hand of Darkness".into(),
            rating_tenths: Some(45),
            image: None,
            external_id: Some("isbn:9780441478125".into()),
            notes: None,
            added_at: DateTime::from_timestamp_millis(1_600_000_000_123).unwrap(),
            moved_at: DateTime::from_timestamp_millis(1_650_000_000_456).unwrap(),
            series_id: None,
            data: serde_json::json!({ "author": "Ursula K. Le Guin", "reread": false })
                .as_object()
                .unwrap()
                .clone(),
        }
    }

    #[test]
    fn target_rules_name_the_field_and_value() {
        assert_eq!(book().validate(), Ok(()));
        let mut rated_ten = book();
        rated_ten.rating_tenths = Some(100);
        assert_eq!(
            rated_ten.validate().unwrap_err().to_string(),
            "item 3f2b8c9e-1d4a-4c6b-9e7f-0a1b2c3d4e5f: rating = \"10.0\": DECIMAL(2,1) holds -9.9 to 9.9"
        );
        let mut book_in_series = book();
        book_in_series.series_id = Some(book().id);
        assert!(
            book_in_series
                .validate()
                .unwrap_err()
                .to_string()
                .contains("chk_series_id")
        );
        let mut not_uuid = book();
        not_uuid.id = "Book:1".into();
        assert!(not_uuid.validate().is_err());
        // A width the INT column cannot hold is refused, not wrapped.
        let mut huge = book();
        huge.image = Some(Image {
            url: "https://example.com/a.jpg".into(),
            width: 3_000_000_000,
            height: 10,
        });
        assert!(
            huge.validate()
                .unwrap_err()
                .to_string()
                .contains("image.width = \"3000000000\": above the INT column"),
            "{:?}",
            huge.validate()
        );
    }

    #[test]
    fn ratings_are_tenths() {
        assert_eq!(rating_tenths(4.5), Some(45));
        assert_eq!(rating_tenths(7.0), Some(70));
        assert_eq!(rating_tenths(4.25), None);
        assert_eq!(format_rating(45), "4.5");
        assert_eq!(format_rating(-5), "-0.5");
    }

    #[test]
    fn types_round_trip_and_seasons_come_last() {
        for t in MediaType::ALL {
            assert_eq!(MediaType::parse(t.name()), Some(t));
        }
        assert_eq!(MediaType::ALL.last(), Some(&MediaType::TvSeason));
        assert!(
            MediaType::ALL
                .iter()
                .position(|t| *t == MediaType::TvSeries)
                < MediaType::ALL
                    .iter()
                    .position(|t| *t == MediaType::TvSeason)
        );
    }
}
