//! Verification of a migration: the source read whole (table or backup) and
//! the target read whole, compared by `cutover_core::media::parity`.

use cutover_app::item_from_sdk;
use cutover_core::media::parity::{MediaParityReport, compare};
use cutover_core::media::source::from_source_item;
use sqlx::PgPool;

use crate::migrate::{MigrateError, Source, read_backup};
use crate::target::read_all;

/// Every item of the source, and the keys it could not read (with why).
pub async fn read_source(
    source: &Source,
) -> Result<(Vec<cutover_core::media::MediaItem>, Vec<(String, String)>), MigrateError> {
    match source {
        Source::Backup(dir) => Ok((read_backup(dir)?, Vec::new())),
        Source::DynamoDb(store) => {
            let (mut items, mut unreadable) = (Vec::new(), Vec::new());
            let mut start = None;
            loop {
                let page = store.scan_page(None, start).await?;
                for raw in page.items() {
                    let parsed = item_from_sdk(raw)
                        .and_then(|item| from_source_item(&item).map_err(|e| e.to_string()));
                    match parsed {
                        Ok(item) => items.push(item),
                        Err(reason) => unreadable.push((format!("{raw:?}"), reason)),
                    }
                }
                start = page.last_evaluated_key().cloned();
                if start.is_none() {
                    return Ok((items, unreadable));
                }
            }
        }
    }
}

/// Compares the whole source with the whole target.
pub async fn verify(source: &Source, target: &PgPool) -> Result<MediaParityReport, MigrateError> {
    let (items, unreadable) = read_source(source).await?;
    let rows = read_all(target).await.map_err(MigrateError::from)?;
    Ok(compare(&items, &rows, &unreadable))
}
