//! The copy loop: a keyset reader, workers, the checkpoint file.

use std::path::Path;
use std::time::{Duration, Instant};

use cutover_app::{App, AppError};
use cutover_core::backfill::{Checkpoint, CopyTotals, KIND_ORDER, PageMark, Progress};
use cutover_core::domain::Entity;
use futures::{StreamExt, TryStreamExt};

use crate::report::BackfillReport;
use crate::{BackfillError, BackfillOptions, NoPause, PagePause};

/// Transcript uploads in flight per page.
pub const OBJECT_CONCURRENCY: usize = 8;
/// Item writes in flight per page.
pub const ITEM_CONCURRENCY: usize = 16;
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// A page of ids of one kind, as read.
struct Page {
    mark: PageMark,
    ids: Vec<String>,
}

/// Where the reader is.
struct Reader {
    kind_index: usize,
    after: Option<String>,
    seq: u64,
    checkpoint: Checkpoint,
}

impl Reader {
    fn new(checkpoint: Checkpoint) -> Reader {
        let mut reader = Reader {
            kind_index: 0,
            after: None,
            seq: 0,
            checkpoint,
        };
        reader.enter_kind();
        reader
    }

    /// Skips finished kinds and starts the next one after its checkpoint.
    fn enter_kind(&mut self) {
        while let Some(kind) = KIND_ORDER.get(self.kind_index) {
            if !self.checkpoint.kinds_finished.contains(kind) {
                self.after = self.checkpoint.done_through.get(kind).cloned();
                return;
            }
            self.kind_index += 1;
        }
    }

    async fn next_page(&mut self, app: &App, page_size: usize) -> Result<Option<Page>, AppError> {
        let Some(&kind) = KIND_ORDER.get(self.kind_index) else {
            return Ok(None);
        };
        // One more than a page tells whether this page is the kind's last.
        let mut ids = app
            .pg
            .ids_after(
                kind,
                self.after.as_deref(),
                i64::try_from(page_size)
                    .unwrap_or(i64::MAX - 1)
                    .saturating_add(1),
            )
            .await?;
        let ends_kind = ids.len() <= page_size;
        ids.truncate(page_size);
        let last_id = ids
            .last()
            .cloned()
            .or_else(|| self.after.clone())
            .unwrap_or_default();
        let page = Page {
            mark: PageMark {
                seq: self.seq,
                kind,
                last_id: last_id.clone(),
                ends_kind,
            },
            ids,
        };
        self.seq += 1;
        if ends_kind {
            self.kind_index += 1;
            self.enter_kind();
        } else {
            self.after = Some(last_id);
        }
        Ok(Some(page))
    }
}

/// The transcript objects of these entities' sessions: (storage key, text).
pub fn transcript_objects(entities: &[(Entity, Option<String>)]) -> Vec<(&str, &str)> {
    entities
        .iter()
        .filter_map(|(entity, text)| match (entity, text) {
            (Entity::Session(session), Some(text)) => {
                Some((session.transcript.storage_key.as_str(), text.as_str()))
            }
            _ => None,
        })
        .collect()
}

/// Copies one page: transcripts, then items (each created if absent, merged
/// attribute by attribute if there: `DynamoStore::copy_items`), then the race check.
async fn copy_page(
    app: &App,
    page: &Page,
    options: &BackfillOptions,
    pause: &dyn PagePause,
) -> Result<CopyTotals, AppError> {
    let kind = page.mark.kind;
    let mut totals = CopyTotals::default();
    if page.ids.is_empty() {
        return Ok(totals);
    }
    let entities = app
        .pg
        .entities_with_transcripts_by_ids(kind, &page.ids)
        .await?;
    // Objects go up before any item points to them.
    let uploads = transcript_objects(&entities);
    totals.transcripts = uploads.len() as u64;
    totals.transcript_bytes = uploads.iter().map(|(_, text)| text.len() as u64).sum();
    futures::stream::iter(uploads)
        .map(|(key, text)| app.transcripts.put(key, text))
        .buffer_unordered(OBJECT_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    pause.before_write(&page.mark).await;
    let items: Vec<_> = entities
        .iter()
        .map(|(entity, _)| app.profile().to_item(entity))
        .collect();
    let written = app
        .dynamo
        .copy_items(kind, &items, ITEM_CONCURRENCY)
        .await?;
    totals.item_bytes = written.item_bytes;
    totals.write_calls = written.calls;
    totals.items_merged = written.merged;
    totals.unprocessed_retries = written.throttled_retries;
    totals.wcu_reported = written.wcu_reported;
    totals.wcu_modeled = written.wcu_modeled;
    for _ in &entities {
        totals.count(kind);
    }
    if options.reconcile {
        // The batch has landed: whatever PostgreSQL holds now that differs
        // from what was copied changed while the page was in flight.
        let ids: Vec<String> = entities.iter().map(|(e, _)| e.id().to_string()).collect();
        let versions = app.pg.versions_by_ids(kind, &ids).await?;
        for (entity, _) in &entities {
            if versions.get(entity.id().as_str()) != Some(&entity.version()) {
                app.relay().reconcile_copy(entity).await?;
                totals.redriven += 1;
            }
        }
    }
    Ok(totals)
}

fn checkpoint_error(path: &Path, reason: String) -> BackfillError {
    BackfillError::Checkpoint {
        path: path.display().to_string(),
        reason,
    }
}

fn load_checkpoint(path: &Path, source: &str) -> Result<Checkpoint, BackfillError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let checkpoint: Checkpoint = serde_json::from_slice(&bytes)
                .map_err(|e| checkpoint_error(path, format!("not a backfill checkpoint: {e}")))?;
            if checkpoint.source != source {
                return Err(checkpoint_error(
                    path,
                    format!(
                        "belongs to {}, not {source}; remove it to start over",
                        checkpoint.source
                    ),
                ));
            }
            Ok(checkpoint)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Checkpoint::new(source)),
        Err(e) => Err(checkpoint_error(path, e.to_string())),
    }
}

/// Writes the checkpoint beside itself, then renames it over: a kill mid-write
/// leaves the previous checkpoint whole.
fn save_checkpoint(path: &Path, checkpoint: &Checkpoint) -> Result<(), BackfillError> {
    let text =
        serde_json::to_vec_pretty(checkpoint).map_err(|e| checkpoint_error(path, e.to_string()))?;
    let staging = path.with_extension("partial");
    std::fs::write(&staging, text).map_err(|e| checkpoint_error(&staging, e.to_string()))?;
    std::fs::rename(&staging, path).map_err(|e| checkpoint_error(path, e.to_string()))
}

/// Copies PostgreSQL into DynamoDB and S3 (see the crate docs), resuming from
/// `options.checkpoint` when it holds one.
pub async fn backfill(
    app: &App,
    options: &BackfillOptions,
) -> Result<BackfillReport, BackfillError> {
    backfill_pausing(app, options, &NoPause).await
}

/// `backfill`, each page held at `pause` between its read and its write.
pub async fn backfill_pausing(
    app: &App,
    options: &BackfillOptions,
    pause: &dyn PagePause,
) -> Result<BackfillReport, BackfillError> {
    let began = Instant::now();
    let checkpoint = match &options.checkpoint {
        Some(path) => load_checkpoint(path, &options.source)?,
        None => Checkpoint::new(&options.source),
    };
    let already = checkpoint.totals;
    let resumed_from =
        (!checkpoint.done_through.is_empty()).then(|| checkpoint.done_through.clone());
    let rows = app.pg.entity_count().await?;
    let mut progress = Progress::new(checkpoint.clone());
    let pages = futures::stream::try_unfold(Reader::new(checkpoint), |mut reader| async move {
        let page = reader.next_page(app, options.page_size.max(1)).await?;
        Ok::<_, AppError>(page.map(|page| (page, reader)))
    });
    let mut copies = std::pin::pin!(
        pages
            .map_ok(|page| async move {
                let totals = copy_page(app, &page, options, pause).await?;
                Ok::<_, AppError>((page.mark, totals))
            })
            .try_buffer_unordered(options.workers.max(1))
    );

    let mut this_run = CopyTotals::default();
    let mut pages_done = 0u64;
    let mut interrupted = false;
    let mut last_line = Instant::now();
    while let Some((mark, totals)) = copies.try_next().await? {
        this_run.add(&totals);
        pages_done += 1;
        if progress.finished(mark, totals)
            && let Some(path) = &options.checkpoint
        {
            save_checkpoint(path, progress.checkpoint())?;
        }
        if options.progress && last_line.elapsed() >= PROGRESS_EVERY {
            last_line = Instant::now();
            let rate = this_run.entities as f64 / began.elapsed().as_secs_f64();
            let left = rows.saturating_sub(already.entities + this_run.entities);
            eprintln!(
                "backfill: {} of ~{rows} entities, {rate:.0}/s, ETA {:.0} s",
                already.entities + this_run.entities,
                left as f64 / rate.max(1e-9)
            );
        }
        if options
            .stop_after_pages
            .is_some_and(|limit| pages_done >= limit)
        {
            // Pages in flight are abandoned here, as a killed process would.
            interrupted = true;
            break;
        }
    }
    let checkpoint = progress.checkpoint().clone();
    Ok(BackfillReport::new(
        options,
        rows,
        resumed_from,
        already,
        this_run,
        checkpoint,
        pages_done,
        interrupted,
        began.elapsed(),
    ))
}
