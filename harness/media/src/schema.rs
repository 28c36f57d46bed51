//! Both ends' schemas: the source table as the old app created it (hash key
//! `type:id`, eight GSIs) and the target `items` table from the seed.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{Projection, ProjectionType};
use cutover_app::AppError;
use cutover_app::dynamo::{IndexSpec, KeySpec, create_string_keyed_table};
use cutover_core::media::source::{INDEXES, attr};
use sqlx::PgPool;

/// The seed's target schema: ids preserved (no default), TIMESTAMPTZ dates,
/// the `series_id` foreign key and its check, type-specific fields in `data`,
/// and the seed's indexes. Idempotent.
pub const TARGET_DDL: &str = r#"
CREATE TABLE IF NOT EXISTS items (
  id UUID PRIMARY KEY,
  type VARCHAR(50) NOT NULL,
  shelf VARCHAR(50) NOT NULL,
  title VARCHAR(500) NOT NULL,
  rating DECIMAL(2,1),
  image_url TEXT,
  image_width INT,
  image_height INT,
  external_id VARCHAR(255),
  notes TEXT,
  added_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  moved_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  series_id UUID REFERENCES items(id),
  data JSONB DEFAULT '{}'::jsonb,
  CONSTRAINT chk_series_id CHECK (series_id IS NULL OR type = 'TvSeason')
);
CREATE INDEX IF NOT EXISTS idx_type_moved ON items(type, moved_at DESC);
CREATE INDEX IF NOT EXISTS idx_type_added ON items(type, added_at DESC);
CREATE INDEX IF NOT EXISTS idx_type_shelf_moved ON items(type, shelf, moved_at DESC);
CREATE INDEX IF NOT EXISTS idx_type_shelf_added ON items(type, shelf, added_at DESC);
CREATE INDEX IF NOT EXISTS idx_type_title ON items(type, title);
CREATE INDEX IF NOT EXISTS idx_external_id ON items(external_id) WHERE external_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_series_id ON items(series_id, moved_at DESC) WHERE series_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_type_rating ON items(type, rating DESC NULLS LAST);
CREATE INDEX IF NOT EXISTS idx_type_shelf_rating ON items(type, shelf, rating DESC NULLS LAST);
"#;

pub async fn install_target(pool: &PgPool) -> Result<(), AppError> {
    sqlx::raw_sql(TARGET_DDL)
        .execute(pool)
        .await
        .map_err(AppError::pg("creating the media items table"))?;
    Ok(())
}

/// Creates the source table with its eight GSIs (projection ALL), on demand.
pub async fn create_source_table(client: &Client, table: &str) -> Result<(), AppError> {
    let indexes = INDEXES
        .iter()
        .map(|index| IndexSpec {
            name: index.name,
            key: KeySpec::new(index.hash, Some(index.range)),
            projection: Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        })
        .collect();
    create_string_keyed_table(client, table, KeySpec::new(attr::TYPE_ID, None), indexes).await
}
