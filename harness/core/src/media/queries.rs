//! The media shelf's read access patterns, as data, and the plain in-memory
//! oracle of what each must return, in order. The old app answers them from
//! its GSIs, the new one with SQL; both are compared with this and with each
//! other, page by page.
//!
//! Order: the old date-ordered indexes sort by the string
//! `<epoch ms>:<type>:<id>` descending; the SQL orders by the timestamp, then
//! type, then id, descending — the same order while epoch milliseconds have
//! 13 digits. Without the type and id tie-breakers, SQL would order items
//! moved in the same millisecond arbitrarily, and OFFSET paging could repeat
//! or skip them.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{MediaItem, MediaType};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SortBy {
    MovedAt,
    AddedAt,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum MediaQuery {
    WithId {
        media_type: MediaType,
        id: String,
    },
    OfType {
        media_type: MediaType,
        sort: SortBy,
    },
    OnShelf {
        media_type: MediaType,
        shelf: String,
        sort: SortBy,
    },
    /// Seasons of a series, by season number (the old index returns them by
    /// move date; the old app ordered them by number itself).
    WithSeriesId {
        series_id: String,
    },
    WithExternalId {
        external_id: String,
    },
    /// Features and TV series (the old `category` index, "Watching").
    ForWatching,
    /// New in SQL: title substring (case-insensitive, as ILIKE under the C
    /// locale: ASCII letters only), a moved-at range, a minimum rating.
    Search {
        media_type: MediaType,
        term: Option<String>,
        moved_between: Option<(DateTime<Utc>, DateTime<Utc>)>,
        min_rating_tenths: Option<i32>,
    },
}

impl MediaQuery {
    pub fn describe(&self) -> String {
        match self {
            MediaQuery::WithId { media_type, id } => format!("withId {} {id}", media_type.name()),
            MediaQuery::OfType { media_type, sort } => {
                format!("ofType {} by {sort:?}", media_type.name())
            }
            MediaQuery::OnShelf {
                media_type,
                shelf,
                sort,
            } => {
                format!("onShelf {} {shelf} by {sort:?}", media_type.name())
            }
            MediaQuery::WithSeriesId { series_id } => format!("withSeriesId {series_id}"),
            MediaQuery::WithExternalId { external_id } => format!("withExternalId {external_id}"),
            MediaQuery::ForWatching => "forWatching".to_owned(),
            MediaQuery::Search {
                media_type,
                term,
                moved_between,
                min_rating_tenths,
            } => format!(
                "search {} term={term:?} moved_between={:?} min_rating={min_rating_tenths:?}",
                media_type.name(),
                moved_between.map(|(a, b)| (a.timestamp_millis(), b.timestamp_millis()))
            ),
        }
    }

    /// Whether the old app could answer it (the search is new).
    pub fn old_app_has_it(&self) -> bool {
        !matches!(self, MediaQuery::Search { .. })
    }
}

fn at(item: &MediaItem, sort: SortBy) -> DateTime<Utc> {
    match sort {
        SortBy::MovedAt => item.moved_at,
        SortBy::AddedAt => item.added_at,
    }
}

/// Newest first; ties by type, then id, both descending (the old range key's order).
fn newest_first(items: &mut [&MediaItem], sort: SortBy) {
    items.sort_by(|a, b| {
        (at(b, sort), b.media_type.name(), &b.id).cmp(&(at(a, sort), a.media_type.name(), &a.id))
    });
}

fn season_number(item: &MediaItem) -> i64 {
    item.data
        .get("seasonNumber")
        .and_then(|n| n.as_i64())
        .unwrap_or(i64::MAX)
}

/// What `query` returns over `items`, in order (ids).
pub fn oracle(query: &MediaQuery, items: &[MediaItem]) -> Vec<String> {
    let mut chosen: Vec<&MediaItem> = match query {
        MediaQuery::WithId { media_type, id } => items
            .iter()
            .filter(|i| i.media_type == *media_type && &i.id == id)
            .collect(),
        MediaQuery::OfType { media_type, .. } => items
            .iter()
            .filter(|i| i.media_type == *media_type)
            .collect(),
        MediaQuery::OnShelf {
            media_type, shelf, ..
        } => items
            .iter()
            .filter(|i| i.media_type == *media_type && &i.shelf == shelf)
            .collect(),
        MediaQuery::WithSeriesId { series_id } => items
            .iter()
            .filter(|i| i.series_id.as_ref() == Some(series_id))
            .collect(),
        MediaQuery::WithExternalId { external_id } => items
            .iter()
            .filter(|i| i.external_id.as_ref() == Some(external_id))
            .collect(),
        MediaQuery::ForWatching => items
            .iter()
            .filter(|i| matches!(i.media_type, MediaType::Feature | MediaType::TvSeries))
            .collect(),
        MediaQuery::Search {
            media_type,
            term,
            moved_between,
            min_rating_tenths,
        } => items
            .iter()
            .filter(|i| i.media_type == *media_type)
            .filter(|i| {
                term.as_ref().is_none_or(|t| {
                    i.title
                        .to_ascii_lowercase()
                        .contains(&t.to_ascii_lowercase())
                })
            })
            .filter(|i| {
                moved_between.is_none_or(|(from, to)| i.moved_at >= from && i.moved_at <= to)
            })
            .filter(|i| {
                min_rating_tenths.is_none_or(|min| i.rating_tenths.is_some_and(|r| r >= min))
            })
            .collect(),
    };
    match query {
        MediaQuery::OfType { sort, .. } | MediaQuery::OnShelf { sort, .. } => {
            newest_first(&mut chosen, *sort)
        }
        MediaQuery::WithSeriesId { .. } => {
            chosen.sort_by(|a, b| (season_number(a), &a.id).cmp(&(season_number(b), &b.id)))
        }
        MediaQuery::WithExternalId { .. } => newest_first(&mut chosen, SortBy::MovedAt),
        MediaQuery::ForWatching | MediaQuery::Search { .. } => {
            newest_first(&mut chosen, SortBy::MovedAt)
        }
        MediaQuery::WithId { .. } => {}
    }
    chosen.into_iter().map(|i| i.id.clone()).collect()
}

/// `ids` cut into pages of `page_size` (an empty answer is one empty page).
pub fn pages(ids: &[String], page_size: usize) -> Vec<Vec<String>> {
    if ids.is_empty() {
        return vec![Vec::new()];
    }
    ids.chunks(page_size.max(1))
        .map(<[String]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::generator::generate;

    #[test]
    fn ties_are_broken_by_type_then_id_descending() {
        let mut items = generate(5, 60);
        let moment = items[0].moved_at;
        for item in items
            .iter_mut()
            .filter(|i| i.media_type == MediaType::Book)
            .take(3)
        {
            item.moved_at = moment;
        }
        let answer = oracle(
            &MediaQuery::OfType {
                media_type: MediaType::Book,
                sort: SortBy::MovedAt,
            },
            &items,
        );
        let tied: Vec<&String> = answer
            .iter()
            .filter(|id| items.iter().any(|i| &&i.id == id && i.moved_at == moment))
            .collect();
        assert_eq!(tied.len(), 3);
        assert!(tied.windows(2).all(|w| w[0] > w[1]), "{tied:?}");
    }

    #[test]
    fn the_search_combines_its_filters() {
        let items = generate(9, 300);
        let everything = MediaQuery::Search {
            media_type: MediaType::Book,
            term: None,
            moved_between: None,
            min_rating_tenths: None,
        };
        let all_books = oracle(&everything, &items);
        let rated = oracle(
            &MediaQuery::Search {
                media_type: MediaType::Book,
                term: None,
                moved_between: None,
                min_rating_tenths: Some(70),
            },
            &items,
        );
        assert!(!rated.is_empty() && rated.len() < all_books.len());
        assert_eq!(
            pages(&all_books, 7).iter().map(Vec::len).sum::<usize>(),
            all_books.len()
        );
    }
}
