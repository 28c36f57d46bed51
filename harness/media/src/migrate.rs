//! The migration: read the source a page at a time (series and everything
//! else first, then the seasons that point at series), check each item
//! against the target's rules, upsert each page in one SERIALIZABLE
//! transaction retried on conflicts, and record a checkpoint after every
//! committed page so an interrupted run resumes where it stopped. Upserts
//! leave identical rows alone, so re-running changes nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use aws_sdk_dynamodb::types::AttributeValue;
use cutover_app::dynamo::DynamoStore;
use cutover_app::{AppError, item_from_sdk};
use cutover_core::media::backup::{file_name, parse_backup_file};
use cutover_core::media::source::{attr, from_source_item, type_id};
use cutover_core::media::{MediaItem, MediaType};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::occ::{RetryPolicy, with_retry};
use crate::target::upsert;

/// Where the items come from.
pub enum Source {
    /// The old app's table.
    DynamoDb(DynamoStore),
    /// A backup directory: one `<Type>.json` per type (a missing file is an empty type).
    Backup(PathBuf),
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::DynamoDb(store) => format!("dynamodb:{}", store.table()),
            Source::Backup(dir) => format!("backup:{}", dir.display()),
        }
    }
}

/// The two passes: seasons reference series, so they go last.
fn in_phase(media_type: MediaType, phase: u8) -> bool {
    (media_type == MediaType::TvSeason) == (phase == 1)
}

/// An item the migration did not write, and why. The source keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub key: String,
    pub reason: String,
}

/// Progress, persisted after every committed page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Checkpoint {
    /// The source this checkpoint belongs to; resuming with another is refused.
    pub source: String,
    /// 0: everything but seasons; 1: seasons; 2: done.
    pub phase: u8,
    /// DynamoDB: the last `type:id` of the last committed page; backup: the
    /// number of this phase's items already done.
    pub after: Option<String>,
    pub pages: u64,
    /// Rows inserted or changed.
    pub written: u64,
    /// Items whose row already held the same values.
    pub unchanged: u64,
    pub rejected: Vec<Rejected>,
    /// Transactions retried after a serialization conflict.
    pub conflict_retries: u64,
}

impl Checkpoint {
    pub fn done(&self) -> bool {
        self.phase >= 2
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Store(#[from] AppError),
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: String, reason: String },
    #[error(transparent)]
    Backup(#[from] cutover_core::media::backup::BackupError),
    #[error("reading {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("stopped after {pages} pages, as asked (the checkpoint records where)")]
    Stopped { pages: u64 },
}

pub struct MigrateOptions {
    /// Items per page (and per transaction).
    pub page_size: usize,
    /// Where progress is kept; `None` keeps it in memory only.
    pub checkpoint: Option<PathBuf>,
    pub retry: RetryPolicy,
    /// Stop (with `MigrateError::Stopped`) after this many pages in this run:
    /// an interruption on purpose, for drills and tests.
    pub stop_after_pages: Option<u64>,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        MigrateOptions {
            page_size: 500,
            checkpoint: None,
            retry: RetryPolicy::default(),
            stop_after_pages: None,
        }
    }
}

fn load_checkpoint(path: &Path, source: &str) -> Result<Checkpoint, MigrateError> {
    let fail = |reason: String| MigrateError::Checkpoint {
        path: path.display().to_string(),
        reason,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let checkpoint: Checkpoint =
                serde_json::from_str(&text).map_err(|e| fail(format!("not a checkpoint: {e}")))?;
            if checkpoint.source != source {
                return Err(fail(format!(
                    "belongs to {}, not {source}; remove it to start over",
                    checkpoint.source
                )));
            }
            Ok(checkpoint)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Checkpoint {
            source: source.to_owned(),
            ..Checkpoint::default()
        }),
        Err(e) => Err(fail(e.to_string())),
    }
}

/// Written to a temporary file and renamed, so a crash leaves the old or the new one.
fn save_checkpoint(path: &Path, checkpoint: &Checkpoint) -> Result<(), MigrateError> {
    let fail = |reason: String| MigrateError::Checkpoint {
        path: path.display().to_string(),
        reason,
    };
    let temporary = path.with_extension("tmp");
    let text = serde_json::to_string_pretty(checkpoint).map_err(|e| fail(e.to_string()))?;
    std::fs::write(&temporary, text).map_err(|e| fail(e.to_string()))?;
    std::fs::rename(&temporary, path).map_err(|e| fail(e.to_string()))
}

/// One page of the source: parsed items (or why an item could not be read),
/// and the cursor after it (`None`: the phase is finished).
type Page = (Vec<Result<MediaItem, Rejected>>, Option<String>);

/// One stored item of the source table, or why it cannot be read (named by its `type:id`).
pub(crate) fn read_raw(raw: &HashMap<String, AttributeValue>) -> Result<MediaItem, Rejected> {
    let key = match raw.get(attr::TYPE_ID) {
        Some(AttributeValue::S(key)) => key.clone(),
        _ => "(no type:id)".to_owned(),
    };
    let item = item_from_sdk(raw).map_err(|reason| Rejected {
        key: key.clone(),
        reason,
    })?;
    from_source_item(&item).map_err(|e| Rejected {
        key,
        reason: e.to_string(),
    })
}

async fn dynamodb_page(
    store: &DynamoStore,
    after: Option<&str>,
    page_size: usize,
) -> Result<Page, MigrateError> {
    let start = after
        .map(|key| HashMap::from([(attr::TYPE_ID.to_owned(), AttributeValue::S(key.to_owned()))]));
    let page = store
        .client()
        .scan()
        .table_name(store.table())
        .consistent_read(true)
        .limit(page_size.clamp(1, i32::MAX as usize) as i32)
        .set_exclusive_start_key(start)
        .send()
        .await
        .map_err(|e| AppError::dynamodb(format!("Scan of {}", store.table()), e))?;
    let items = page.items().iter().map(read_raw).collect();
    let next = page
        .last_evaluated_key()
        .and_then(|key| key.get(attr::TYPE_ID))
        .and_then(|value| value.as_s().ok())
        .cloned();
    Ok((items, next))
}

/// Every item of a backup directory, types in migration order.
pub fn read_backup(dir: &Path) -> Result<Vec<MediaItem>, MigrateError> {
    let mut items = Vec::new();
    for media_type in MediaType::ALL {
        let path = dir.join(file_name(media_type));
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(MigrateError::Read {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                });
            }
        };
        let text =
            cutover_core::input::decode(&bytes, &path.display().to_string()).map_err(|error| {
                MigrateError::Read {
                    path: path.display().to_string(),
                    reason: error.to_string(),
                }
            })?;
        items.extend(parse_backup_file(
            text,
            &path.display().to_string(),
            media_type,
        )?);
    }
    Ok(items)
}

/// Which items of a page the target cannot take, and why: broken rules, an
/// id another type already uses, a season whose series is not in the target.
async fn screen(
    connection: &mut sqlx::PgConnection,
    items: Vec<MediaItem>,
) -> Result<(Vec<MediaItem>, Vec<Rejected>), sqlx::Error> {
    let mut rejected = Vec::new();
    let mut seen = HashSet::new();
    let mut valid = Vec::new();
    for item in items {
        let key = type_id(item.media_type, &item.id);
        if let Err(e) = item.validate() {
            rejected.push(Rejected {
                key,
                reason: e.to_string(),
            });
        } else if !seen.insert(item.id.clone()) {
            rejected.push(Rejected {
                key,
                reason: format!("id {} appears twice in one page", item.id),
            });
        } else {
            valid.push(item);
        }
    }
    let ids: Vec<String> = valid.iter().map(|i| i.id.clone()).collect();
    let series_ids: Vec<String> = valid.iter().filter_map(|i| i.series_id.clone()).collect();
    let existing: BTreeMap<String, String> = sqlx::query_as::<_, (String, String)>(
        "SELECT id::text, type FROM items WHERE id = ANY($1::uuid[])",
    )
    .bind(&ids)
    .fetch_all(&mut *connection)
    .await?
    .into_iter()
    .collect();
    let series_present: HashSet<String> = sqlx::query_scalar::<_, String>(
        "SELECT id::text FROM items WHERE id = ANY($1::uuid[]) AND type = 'TvSeries'",
    )
    .bind(&series_ids)
    .fetch_all(&mut *connection)
    .await?
    .into_iter()
    .collect();
    let mut accepted = Vec::new();
    for item in valid {
        let key = type_id(item.media_type, &item.id);
        if let Some(other) = existing
            .get(&item.id)
            .filter(|t| *t != item.media_type.name())
        {
            rejected.push(Rejected {
                key,
                reason: format!("id {} is already a {other} in the target", item.id),
            });
        } else if let Some(series) = item
            .series_id
            .as_ref()
            .filter(|s| !series_present.contains(*s))
        {
            rejected.push(Rejected {
                key,
                reason: format!("series {series} is not a TvSeries in the target"),
            });
        } else {
            accepted.push(item);
        }
    }
    Ok((accepted, rejected))
}

/// Runs (or resumes) the migration of `source` into the `items` table of
/// `target`. `progress` hears about every committed page.
pub async fn migrate(
    source: &Source,
    target: &PgPool,
    options: &MigrateOptions,
    progress: &(dyn Fn(&Checkpoint) + Sync),
) -> Result<Checkpoint, MigrateError> {
    let described = source.describe();
    let mut checkpoint = match &options.checkpoint {
        Some(path) => load_checkpoint(path, &described)?,
        None => Checkpoint {
            source: described,
            ..Checkpoint::default()
        },
    };
    let backup = match source {
        Source::Backup(dir) => Some(read_backup(dir)?),
        Source::DynamoDb(_) => None,
    };
    let mut pages_this_run = 0;
    while !checkpoint.done() {
        let (page, next) = match (source, &backup) {
            (Source::DynamoDb(store), _) => {
                dynamodb_page(store, checkpoint.after.as_deref(), options.page_size).await?
            }
            (Source::Backup(_), Some(all)) => {
                let of_phase: Vec<&MediaItem> = all
                    .iter()
                    .filter(|i| in_phase(i.media_type, checkpoint.phase))
                    .collect();
                let done: usize = checkpoint
                    .after
                    .as_deref()
                    .and_then(|a| a.parse().ok())
                    .unwrap_or(0);
                let end = (done + options.page_size).min(of_phase.len());
                let page = of_phase[done.min(end)..end]
                    .iter()
                    .map(|i| Ok((*i).clone()))
                    .collect();
                (page, (end < of_phase.len()).then(|| end.to_string()))
            }
            (Source::Backup(_), None) => unreachable!("a backup source is read before the loop"),
        };
        let phase = checkpoint.phase;
        let mut items = Vec::new();
        let mut unreadable = Vec::new();
        for entry in page {
            match entry {
                Ok(item) if in_phase(item.media_type, phase) => items.push(item),
                Ok(_) => {}
                // An unreadable item is reported once, in the first pass.
                Err(rejected) if phase == 0 => unreadable.push(rejected),
                Err(_) => {}
            }
        }
        let outcome = with_retry(options.retry, |_attempt| {
            let items = items.clone();
            async move {
                let mut tx = target.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
                    .execute(&mut *tx)
                    .await?;
                let (accepted, rejected) = screen(&mut tx, items).await?;
                let written = if accepted.is_empty() {
                    0
                } else {
                    upsert(&mut tx, &accepted).await?
                };
                tx.commit().await?;
                Ok((accepted.len() as u64, written, rejected))
            }
        })
        .await
        .map_err(AppError::pg("writing a page of items"))?;
        let (accepted, written, rejected) = outcome.value;
        checkpoint.conflict_retries += u64::from(outcome.attempts - 1);
        checkpoint.written += written;
        checkpoint.unchanged += accepted - written;
        checkpoint.rejected.extend(unreadable);
        checkpoint.rejected.extend(rejected);
        checkpoint.pages += 1;
        match next {
            Some(after) => checkpoint.after = Some(after),
            None => {
                checkpoint.phase += 1;
                checkpoint.after = None;
            }
        }
        if let Some(path) = &options.checkpoint {
            save_checkpoint(path, &checkpoint)?;
        }
        progress(&checkpoint);
        pages_this_run += 1;
        if options
            .stop_after_pages
            .is_some_and(|stop| pages_this_run >= stop)
            && !checkpoint.done()
        {
            return Err(MigrateError::Stopped {
                pages: pages_this_run,
            });
        }
    }
    Ok(checkpoint)
}
