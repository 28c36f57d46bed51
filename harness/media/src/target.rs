//! The target `items` table: batched idempotent upserts and reading rows
//! back as `MediaItem`s, in one canonical form with the source.

use chrono::{DateTime, Utc};
use cutover_app::AppError;
use cutover_core::domain::canonical_json;
use cutover_core::media::{Image, MediaItem, MediaType, format_rating};
use sqlx::{PgConnection, PgPool, Row};

/// Inserts or updates `items` in one statement: a row that already holds the
/// same values is left alone, so re-running a migration changes nothing.
pub async fn upsert(
    connection: &mut PgConnection,
    items: &[MediaItem],
) -> Result<u64, sqlx::Error> {
    let column = |f: &dyn Fn(&MediaItem) -> Option<String>| items.iter().map(f).collect::<Vec<_>>();
    let ids = column(&|i| Some(i.id.clone()));
    let types = column(&|i| Some(i.media_type.name().to_owned()));
    let shelves = column(&|i| Some(i.shelf.clone()));
    let titles = column(&|i| Some(i.title.clone()));
    let ratings = column(&|i| i.rating_tenths.map(format_rating));
    let image_urls = column(&|i| i.image.as_ref().map(|m| m.url.clone()));
    let image_widths: Vec<Option<i32>> = items
        .iter()
        .map(|i| {
            i.image
                .as_ref()
                .map(|m| i32::try_from(m.width).expect("validated: fits INT"))
        })
        .collect();
    let image_heights: Vec<Option<i32>> = items
        .iter()
        .map(|i| {
            i.image
                .as_ref()
                .map(|m| i32::try_from(m.height).expect("validated: fits INT"))
        })
        .collect();
    let external_ids = column(&|i| i.external_id.clone());
    let notes = column(&|i| i.notes.clone());
    let added: Vec<DateTime<Utc>> = items.iter().map(|i| i.added_at).collect();
    let moved: Vec<DateTime<Utc>> = items.iter().map(|i| i.moved_at).collect();
    let series = column(&|i| i.series_id.clone());
    let data = column(&|i| Some(serde_json::Value::Object(i.data.clone()).to_string()));
    let result = sqlx::query(
        "INSERT INTO items (id, type, shelf, title, rating, image_url, image_width, image_height, external_id, notes, added_at, moved_at, series_id, data)
         SELECT u.id::uuid, u.type, u.shelf, u.title, u.rating::numeric(2,1), u.image_url, u.image_width, u.image_height,
                u.external_id, u.notes, u.added_at, u.moved_at, u.series_id::uuid, u.data::jsonb
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::int[],
                     $9::text[], $10::text[], $11::timestamptz[], $12::timestamptz[], $13::text[], $14::text[])
              AS u(id, type, shelf, title, rating, image_url, image_width, image_height, external_id, notes, added_at, moved_at, series_id, data)
         ON CONFLICT (id) DO UPDATE SET
           type = excluded.type, shelf = excluded.shelf, title = excluded.title, rating = excluded.rating,
           image_url = excluded.image_url, image_width = excluded.image_width, image_height = excluded.image_height,
           external_id = excluded.external_id, notes = excluded.notes, added_at = excluded.added_at,
           moved_at = excluded.moved_at, series_id = excluded.series_id, data = excluded.data
         WHERE (items.type, items.shelf, items.title, items.rating, items.image_url, items.image_width, items.image_height,
                items.external_id, items.notes, items.added_at, items.moved_at, items.series_id, items.data)
           IS DISTINCT FROM
               (excluded.type, excluded.shelf, excluded.title, excluded.rating, excluded.image_url, excluded.image_width,
                excluded.image_height, excluded.external_id, excluded.notes, excluded.added_at, excluded.moved_at,
                excluded.series_id, excluded.data)",
    )
    .bind(ids)
    .bind(types)
    .bind(shelves)
    .bind(titles)
    .bind(ratings)
    .bind(image_urls)
    .bind(image_widths)
    .bind(image_heights)
    .bind(external_ids)
    .bind(notes)
    .bind(added)
    .bind(moved)
    .bind(series)
    .bind(data)
    .execute(connection)
    .await?;
    Ok(result.rows_affected())
}

/// The columns read back, in the canonical text forms `row_to_item` expects.
pub const SELECT_ITEMS: &str = "SELECT id::text AS id, type, shelf, title, rating::text AS rating, image_url, image_width, image_height, external_id, notes, added_at, moved_at, series_id::text AS series_id, data FROM items";

/// A target row as a `MediaItem`; an error names the row and the column.
pub fn row_to_item(row: &sqlx::postgres::PgRow) -> Result<MediaItem, AppError> {
    let id: String = row
        .try_get("id")
        .map_err(AppError::pg("reading items.id"))?;
    let fail = |column: &'static str, reason: String| AppError::Invalid {
        field: column,
        reason: format!("item {id}: {reason}"),
    };
    let get = |column: &'static str| -> Result<Option<String>, AppError> {
        row.try_get(column).map_err(|e| fail(column, e.to_string()))
    };
    let type_name: String = row
        .try_get("type")
        .map_err(|e| fail("type", e.to_string()))?;
    let media_type = MediaType::parse(&type_name)
        .ok_or_else(|| fail("type", format!("{type_name:?} is not a media type")))?;
    let rating_tenths = match get("rating")? {
        None => None,
        Some(text) => {
            let value: f64 = text
                .parse()
                .map_err(|_| fail("rating", format!("{text:?}")))?;
            Some((value * 10.0).round() as i32)
        }
    };
    let width: Option<i32> = row
        .try_get("image_width")
        .map_err(|e| fail("image_width", e.to_string()))?;
    let height: Option<i32> = row
        .try_get("image_height")
        .map_err(|e| fail("image_height", e.to_string()))?;
    let image = match (get("image_url")?, width, height) {
        (Some(url), Some(width), Some(height)) => {
            let pixels = |column: &'static str, value: i32| {
                u32::try_from(value)
                    .map_err(|_| fail(column, format!("{value} is not a pixel count")))
            };
            Some(Image {
                url,
                width: pixels("image_width", width)?,
                height: pixels("image_height", height)?,
            })
        }
        (None, None, None) => None,
        partial => {
            return Err(fail(
                "image_url",
                format!("image columns only partly set: {partial:?}"),
            ));
        }
    };
    let data: Option<serde_json::Value> = row
        .try_get("data")
        .map_err(|e| fail("data", e.to_string()))?;
    let data = match canonical_json(data.unwrap_or_else(|| serde_json::json!({}))) {
        serde_json::Value::Object(map) => map,
        other => return Err(fail("data", format!("{other} is not an object"))),
    };
    Ok(MediaItem {
        media_type,
        shelf: row
            .try_get("shelf")
            .map_err(|e| fail("shelf", e.to_string()))?,
        title: row
            .try_get("title")
            .map_err(|e| fail("title", e.to_string()))?,
        rating_tenths,
        image,
        external_id: get("external_id")?,
        notes: get("notes")?,
        added_at: row
            .try_get("added_at")
            .map_err(|e| fail("added_at", e.to_string()))?,
        moved_at: row
            .try_get("moved_at")
            .map_err(|e| fail("moved_at", e.to_string()))?,
        series_id: get("series_id")?,
        data,
        id,
    })
}

/// Every row of the target, by id.
pub async fn read_all(pool: &PgPool) -> Result<Vec<MediaItem>, AppError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT_ITEMS} ORDER BY id")))
        .fetch_all(pool)
        .await
        .map_err(AppError::pg("reading the items table"))?;
    rows.iter().map(row_to_item).collect()
}
