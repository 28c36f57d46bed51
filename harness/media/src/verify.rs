//! Verification of a migration: the source read whole (table or backup) and
//! the target read whole, compared by `cutover_core::media::parity`.

use cutover_core::media::MediaItem;
use cutover_core::media::parity::{MediaParityReport, compare};
use sqlx::PgPool;

use crate::migrate::{MigrateError, Rejected, Source, read_backup, read_raw};
use crate::target::read_all;

/// Every item of the source, and the items it could not read (key, why).
pub async fn read_source(
    source: &Source,
) -> Result<(Vec<MediaItem>, Vec<(String, String)>), MigrateError> {
    match source {
        Source::Backup(dir) => Ok((read_backup(dir)?, Vec::new())),
        Source::DynamoDb(store) => {
            let (mut items, mut unreadable) = (Vec::new(), Vec::new());
            let mut start = None;
            loop {
                let page = store.scan_page(None, start).await?;
                for raw in page.items() {
                    match read_raw(raw) {
                        Ok(item) => items.push(item),
                        Err(Rejected { key, reason }) => unreadable.push((key, reason)),
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

/// Compares source items already read (see [`read_source`]) with the whole target.
pub async fn verify_items(
    items: &[MediaItem],
    unreadable: &[(String, String)],
    target: &PgPool,
) -> Result<MediaParityReport, MigrateError> {
    let rows = read_all(target).await?;
    Ok(compare(items, &rows, unreadable))
}

/// Compares the whole source with the whole target.
pub async fn verify(source: &Source, target: &PgPool) -> Result<MediaParityReport, MigrateError> {
    let (items, unreadable) = read_source(source).await?;
    verify_items(&items, &unreadable, target).await
}
