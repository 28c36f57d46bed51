//! Reading entities from the app's own tables, as its schema profile names
//! them: the statements come from `cutover_core::profile::rows`, and each
//! column is decoded by the type the profile declares for it.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use cutover_core::domain::Entity;
use cutover_core::keys::{EntityKind, Id};
use cutover_core::profile::fields;
use cutover_core::profile::rows::{Cell, RowFilter, quote};
use cutover_core::profile::{Column, ColumnType, EntityProfile, Profile};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use crate::error::AppError;
use crate::pg::IntoSql;
use crate::transcripts::sha256_hex;

fn cell(entity: &EntityProfile, row: &PgRow, column: &Column) -> Result<Cell, AppError> {
    let index = column.name.as_str();
    let fail = |source| AppError::Postgres {
        action: format!(
            "reading {}.{} (declared {} in the profile)",
            quote(&entity.table),
            quote(&column.name),
            column.ty.name()
        ),
        source,
    };
    Ok(match column.ty {
        ColumnType::Text | ColumnType::Varchar => row
            .try_get::<Option<String>, _>(index)
            .map_err(fail)?
            .map_or(Cell::Null, Cell::Text),
        ColumnType::Bigint => row
            .try_get::<Option<i64>, _>(index)
            .map_err(fail)?
            .map_or(Cell::Null, Cell::Integer),
        ColumnType::Integer => row
            .try_get::<Option<i32>, _>(index)
            .map_err(fail)?
            .map_or(Cell::Null, |n| Cell::Integer(n.into())),
        ColumnType::Timestamptz => row
            .try_get::<Option<DateTime<Utc>>, _>(index)
            .map_err(fail)?
            .map_or(Cell::Null, Cell::Time),
        // Prisma's `DateTime` is `timestamp(3)` holding UTC.
        ColumnType::Timestamp => row
            .try_get::<Option<NaiveDateTime>, _>(index)
            .map_err(fail)?
            .map_or(Cell::Null, |at| Cell::Time(at.and_utc())),
        ColumnType::Jsonb | ColumnType::Json => row
            .try_get::<Option<sqlx::types::Json<serde_json::Value>>, _>(index)
            .map_err(fail)?
            .map_or(Cell::Null, |json| Cell::Json(json.0)),
    })
}

/// An entity read by kind as that kind.
pub(crate) fn of_kind<T: TryFrom<Entity>>(entity: Entity) -> T {
    let kind = entity.kind();
    T::try_from(entity).unwrap_or_else(|_| unreachable!("read as a {kind}"))
}

/// One row of `kind` that holds (at least) the columns
/// `selected_columns(with_transcript)` lists, read by name.
pub(crate) fn entity_from_row(
    schema: &Profile,
    kind: EntityKind,
    row: &PgRow,
    with_transcript: bool,
) -> Result<(Entity, Option<String>), AppError> {
    let entity = schema.entity(kind);
    let mut cells = BTreeMap::new();
    for (field, column) in entity.selected_columns(with_transcript) {
        cells.insert(field, cell(entity, row, column)?);
    }
    if kind == EntityKind::Session && !entity.keeps_transcript_digest() {
        // The app keeps no size or hash: they are the transcript's own.
        if let Some(Cell::Text(transcript)) = cells.get(fields::TRANSCRIPT) {
            let digest = [
                (
                    fields::TRANSCRIPT_BYTES,
                    Cell::Integer(i64::try_from(transcript.len()).unwrap_or(i64::MAX)),
                ),
                (
                    fields::TRANSCRIPT_SHA256,
                    Cell::Text(sha256_hex(transcript.as_bytes())),
                ),
            ];
            cells.extend(digest);
        }
    }
    let (read, transcript) =
        schema
            .entity_from_row(kind, cells)
            .map_err(|error| AppError::MalformedRow {
                detail: error.to_string(),
            })?;
    Ok((read, transcript.filter(|_| with_transcript)))
}

/// The rows of `kind` with these ids (those that exist), in id order.
pub(crate) async fn by_ids(
    pool: &sqlx::PgPool,
    schema: &Profile,
    kind: EntityKind,
    ids: &[String],
    with_transcript: bool,
) -> Result<Vec<(Entity, Option<String>)>, AppError> {
    let table = &schema.entity(kind).table;
    let rows = sqlx::query(
        schema
            .select_sql(kind, with_transcript, RowFilter::IdsIn)
            .into_sql(),
    )
    .bind(ids)
    .fetch_all(pool)
    .await
    .map_err(AppError::pg(format!("reading {} by id", quote(table))))?;
    rows.iter()
        .map(|row| entity_from_row(schema, kind, row, with_transcript))
        .collect()
}

/// One entity's current row and a session's transcript, on `connection` (a
/// transaction holding the entity's lock).
pub(crate) async fn one(
    connection: &mut PgConnection,
    schema: &Profile,
    kind: EntityKind,
    id: &Id,
) -> Result<Option<(Entity, Option<String>)>, AppError> {
    let row = sqlx::query(schema.select_sql(kind, true, RowFilter::Id).into_sql())
        .bind(id.as_str())
        .fetch_optional(connection)
        .await
        .map_err(AppError::pg(format!("reading {kind} {id}")))?;
    row.map(|row| entity_from_row(schema, kind, &row, true))
        .transpose()
}

/// The rows of `kind` whose `field` column equals `value`, in id order.
pub(crate) async fn where_field(
    pool: &sqlx::PgPool,
    schema: &Profile,
    kind: EntityKind,
    field: &'static str,
    value: &str,
) -> Result<Vec<Entity>, AppError> {
    let rows = sqlx::query(
        schema
            .select_sql(kind, false, RowFilter::FieldEquals(field))
            .into_sql(),
    )
    .bind(value)
    .fetch_all(pool)
    .await
    .map_err(AppError::pg(format!("reading {kind} by {field}")))?;
    rows.iter()
        .map(|row| entity_from_row(schema, kind, row, false).map(|(entity, _)| entity))
        .collect()
}
