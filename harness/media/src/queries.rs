//! Each read access pattern answered twice — by the old app's DynamoDB
//! indexes and by the new SQL — a page at a time, and compared with each
//! other and with the in-memory oracle (`cutover_core::media::queries`).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use cutover_app::AppError;
use cutover_app::dynamo::DynamoStore;
use cutover_core::media::queries::{MediaQuery, SortBy, oracle, pages};
use cutover_core::media::source::{attr, index, type_id, type_shelf};
use cutover_core::media::{MediaItem, MediaType, format_rating};
use serde::Serialize;
use sqlx::PgPool;

/// The new app's default date range (seed 003: `startDate ?? 2010-01-01`,
/// `endDate ?? 2200-01-01`): items moved outside it vanish from `ofType`.
const DEFAULT_FROM: &str = "2010-01-01T00:00:00Z";
const DEFAULT_UNTIL: &str = "2200-01-01T00:00:00Z";

fn ids_of(items: &[HashMap<String, AttributeValue>]) -> Vec<String> {
    items
        .iter()
        .filter_map(|item| item.get(attr::ID).and_then(|v| v.as_s().ok()).cloned())
        .collect()
}

/// Pages of a GSI Query, newest first, `page_size` items per request. A
/// trailing empty page (DynamoDB may hand out a last key at the very end) is dropped.
async fn index_pages(
    store: &DynamoStore,
    index_name: &str,
    hash_value: &str,
    page_size: usize,
) -> Result<Vec<Vec<String>>, AppError> {
    let index = index(index_name).expect("the index is one of the source's");
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = store
            .client()
            .query()
            .table_name(store.table())
            .index_name(index.name)
            .key_condition_expression("#h = :h")
            .expression_attribute_names("#h", index.hash)
            .expression_attribute_values(":h", AttributeValue::S(hash_value.to_owned()))
            .scan_index_forward(false)
            .limit(page_size as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| AppError::dynamodb(format!("Query {} = {hash_value}", index.name), e))?;
        let ids = ids_of(page.items());
        if !ids.is_empty() || out.is_empty() {
            out.push(ids);
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return Ok(out);
        }
    }
}

/// The old app's answer, in pages (`None` for what it cannot answer).
pub async fn old_app(
    store: &DynamoStore,
    query: &MediaQuery,
    items_by_id: &HashMap<String, MediaItem>,
    page_size: usize,
) -> Result<Option<Vec<Vec<String>>>, AppError> {
    let by_sort = |sort: SortBy, moved: &'static str, added: &'static str| match sort {
        SortBy::MovedAt => moved,
        SortBy::AddedAt => added,
    };
    Ok(Some(match query {
        MediaQuery::WithId { media_type, id } => {
            let found = store
                .client()
                .get_item()
                .table_name(store.table())
                .key(attr::TYPE_ID, AttributeValue::S(type_id(*media_type, id)))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| AppError::dynamodb("GetItem", e))?;
            vec![
                found
                    .item()
                    .map(|item| ids_of(std::slice::from_ref(item)))
                    .unwrap_or_default(),
            ]
        }
        MediaQuery::OfType { media_type, sort } => {
            index_pages(
                store,
                by_sort(*sort, "type", "typeAdded"),
                media_type.name(),
                page_size,
            )
            .await?
        }
        MediaQuery::OnShelf {
            media_type,
            shelf,
            sort,
        } => {
            let key = type_shelf(*media_type, shelf);
            index_pages(
                store,
                by_sort(*sort, "shelf", "shelfAdded"),
                &key,
                page_size,
            )
            .await?
        }
        MediaQuery::WithSeriesId { series_id } => {
            // The index orders seasons by move date; the app sorted them by number.
            let mut seasons: Vec<String> = index_pages(store, "seriesId", series_id, page_size)
                .await?
                .concat();
            let number = |id: &String| {
                items_by_id
                    .get(id)
                    .and_then(|i| i.data.get("seasonNumber"))
                    .and_then(|n| n.as_i64())
                    .unwrap_or(i64::MAX)
            };
            seasons.sort_by(|a, b| (number(a), a).cmp(&(number(b), b)));
            pages(&seasons, page_size)
        }
        MediaQuery::WithExternalId { external_id } => {
            index_pages(store, "externalId", external_id, page_size).await?
        }
        MediaQuery::ForWatching => index_pages(store, "category", "Watching", page_size).await?,
        MediaQuery::Search { .. } => return Ok(None),
    }))
}

fn order_by(sort: SortBy) -> &'static str {
    match sort {
        SortBy::MovedAt => "moved_at DESC, type DESC, id DESC",
        SortBy::AddedAt => "added_at DESC, type DESC, id DESC",
    }
}

/// `%`, `_` and `\` in a search term are literal, not ILIKE wildcards.
fn like_literal(term: &str) -> String {
    term.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The new app's answer: the SQL, paged with LIMIT/OFFSET.
pub async fn new_app(
    pool: &PgPool,
    query: &MediaQuery,
    page_size: usize,
) -> Result<Vec<Vec<String>>, AppError> {
    let range = |column: &str| {
        format!(
            "{column} >= '{DEFAULT_FROM}'::timestamptz AND {column} <= '{DEFAULT_UNTIL}'::timestamptz"
        )
    };
    let (sql, binds): (String, Vec<Option<String>>) = match query {
        MediaQuery::WithId { media_type, id } => (
            "SELECT id::text FROM items WHERE type = $1 AND id = $2::uuid".into(),
            vec![Some(media_type.name().into()), Some(id.clone())],
        ),
        MediaQuery::OfType { media_type, sort } => (
            format!("SELECT id::text FROM items WHERE type = $1 AND {} ORDER BY {}", range("moved_at"), order_by(*sort)),
            vec![Some(media_type.name().into())],
        ),
        MediaQuery::OnShelf { media_type, shelf, sort } => (
            format!("SELECT id::text FROM items WHERE type = $1 AND shelf = $2 ORDER BY {}", order_by(*sort)),
            vec![Some(media_type.name().into()), Some(shelf.clone())],
        ),
        MediaQuery::WithSeriesId { series_id } => (
            "SELECT id::text FROM items WHERE series_id = $1::uuid ORDER BY (data->>'seasonNumber')::int, id".into(),
            vec![Some(series_id.clone())],
        ),
        MediaQuery::WithExternalId { external_id } => (
            format!("SELECT id::text FROM items WHERE external_id = $1 ORDER BY {}", order_by(SortBy::MovedAt)),
            vec![Some(external_id.clone())],
        ),
        MediaQuery::ForWatching => (
            format!("SELECT id::text FROM items WHERE type IN ('Feature', 'TvSeries') ORDER BY {}", order_by(SortBy::MovedAt)),
            Vec::new(),
        ),
        MediaQuery::Search { media_type, term, moved_between, min_rating_tenths } => {
            let iso = |at: &DateTime<Utc>| at.to_rfc3339();
            (
                format!(
                    "SELECT id::text FROM items WHERE type = $1 AND ($2::text IS NULL OR title ILIKE '%' || $2 || '%') \
                     AND moved_at >= coalesce($3::timestamptz, '{DEFAULT_FROM}') AND moved_at <= coalesce($4::timestamptz, '{DEFAULT_UNTIL}') \
                     AND ($5::numeric IS NULL OR rating >= $5::numeric) ORDER BY {}",
                    order_by(SortBy::MovedAt)
                ),
                vec![
                    Some(media_type.name().into()),
                    term.as_deref().map(like_literal),
                    moved_between.map(|(from, _)| iso(&from)),
                    moved_between.map(|(_, to)| iso(&to)),
                    min_rating_tenths.map(format_rating),
                ],
            )
        }
    };
    let paged = format!("{sql} LIMIT {page_size} OFFSET $OFFSET");
    let mut out = Vec::new();
    for page_number in 0.. {
        let text = paged.replace("$OFFSET", &(page_number * page_size).to_string());
        let mut statement = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(text));
        for bind in &binds {
            statement = statement.bind(bind.clone());
        }
        let ids = statement
            .fetch_all(pool)
            .await
            .map_err(AppError::pg(format!("running {}", query.describe())))?;
        let full = ids.len() == page_size;
        if !ids.is_empty() || out.is_empty() {
            out.push(ids);
        }
        if !full {
            break;
        }
    }
    Ok(out)
}

/// One access pattern's three answers, compared page by page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryEquivalence {
    pub query: String,
    pub pages: usize,
    pub items: usize,
    /// The old app (DynamoDB) against the new (SQL); `None`: the old app had no such query.
    pub old_equals_new: Option<bool>,
    pub new_equals_oracle: bool,
    /// The first page where any two answers differ, and how.
    pub first_difference: Option<String>,
}

fn first_difference(name: &str, left: &[Vec<String>], right: &[Vec<String>]) -> Option<String> {
    if left == right {
        return None;
    }
    let page = left
        .iter()
        .zip(right)
        .position(|(a, b)| a != b)
        .unwrap_or(left.len().min(right.len()));
    Some(format!(
        "{name}: page {} differs ({:?} vs {:?}); {} vs {} pages",
        page + 1,
        left.get(page),
        right.get(page),
        left.len(),
        right.len()
    ))
}

/// Asks `query` of both apps and of the oracle over `items` (the source).
pub async fn check(
    store: &DynamoStore,
    pool: &PgPool,
    query: &MediaQuery,
    items: &[MediaItem],
    items_by_id: &HashMap<String, MediaItem>,
    page_size: usize,
) -> Result<QueryEquivalence, AppError> {
    let expected = pages(&oracle(query, items), page_size);
    let old = old_app(store, query, items_by_id, page_size).await?;
    let new = new_app(pool, query, page_size).await?;
    let difference = old
        .as_ref()
        .and_then(|old| first_difference("old app vs new app", old, &new))
        .or_else(|| first_difference("new app vs oracle", &new, &expected));
    Ok(QueryEquivalence {
        query: query.describe(),
        pages: new.len(),
        items: new.iter().map(Vec::len).sum(),
        old_equals_new: old.as_ref().map(|old| old == &new),
        new_equals_oracle: new == expected,
        first_difference: difference,
    })
}

/// The access patterns worth asking of a shelf: every type by both dates,
/// every shelf, a few series and external ids, by id, watching, and the new
/// combined searches.
pub fn queries_for(items: &[MediaItem]) -> Vec<MediaQuery> {
    let mut queries = Vec::new();
    for media_type in MediaType::ALL {
        for sort in [SortBy::MovedAt, SortBy::AddedAt] {
            queries.push(MediaQuery::OfType { media_type, sort });
            for shelf in media_type.shelves() {
                queries.push(MediaQuery::OnShelf {
                    media_type,
                    shelf: (*shelf).to_owned(),
                    sort,
                });
            }
        }
        if let Some(item) = items.iter().find(|i| i.media_type == media_type) {
            queries.push(MediaQuery::WithId {
                media_type,
                id: item.id.clone(),
            });
            // The same id under another type finds nothing on both sides.
            let other = MediaType::ALL[(MediaType::ALL
                .iter()
                .position(|t| *t == media_type)
                .unwrap()
                + 1)
                % 5];
            queries.push(MediaQuery::WithId {
                media_type: other,
                id: item.id.clone(),
            });
        }
    }
    for series in items
        .iter()
        .filter(|i| i.media_type == MediaType::TvSeries)
        .take(5)
    {
        queries.push(MediaQuery::WithSeriesId {
            series_id: series.id.clone(),
        });
    }
    for external in items.iter().filter_map(|i| i.external_id.clone()).take(5) {
        queries.push(MediaQuery::WithExternalId {
            external_id: external,
        });
    }
    queries.push(MediaQuery::WithExternalId {
        external_id: "ext:nobody".into(),
    });
    queries.push(MediaQuery::ForWatching);
    let middle = items
        .iter()
        .map(|i| i.moved_at)
        .min()
        .zip(items.iter().map(|i| i.moved_at).max());
    for media_type in [MediaType::Book, MediaType::Feature] {
        let term = items
            .iter()
            .find(|i| i.media_type == media_type)
            .and_then(|i| i.title.split_whitespace().next())
            .map(|w| w.chars().take(3).collect::<String>().to_uppercase());
        queries.push(MediaQuery::Search {
            media_type,
            term: term.clone(),
            moved_between: None,
            min_rating_tenths: None,
        });
        queries.push(MediaQuery::Search {
            media_type,
            term,
            moved_between: middle.map(|(from, to)| (from + (to - from) / 4, to - (to - from) / 4)),
            min_rating_tenths: Some(50),
        });
        queries.push(MediaQuery::Search {
            media_type,
            term: Some("100%_off".into()),
            moved_between: None,
            min_rating_tenths: None,
        });
    }
    queries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_in_a_term_are_literal() {
        assert_eq!(like_literal("100%_off\\"), "100\\%\\_off\\\\");
    }
}
