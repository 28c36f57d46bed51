//! `cutover backfill`: the initial copy of what PostgreSQL already holds into
//! DynamoDB and S3, while the dual-write path may already be live.
//!
//! PostgreSQL is read kind by kind in key order (keyset pages); workers copy
//! pages in parallel — transcripts to S3 first, then items — and a checkpoint file moves over the pages finished in
//! order, so an interrupted backfill resumes where it stopped.
//!
//! **What it owns.** Each item is written by an UpdateItem that sets only
//! the attributes the profile owns: where no item is, that creates it whole;
//! where one is, `preserve`d and unmapped attributes survive
//! (`DynamoStore::copy_items`). A batch (`BatchWriteItem`) would replace
//! whole items, so the backfill does not use one.
//!
//! **The race.** The copy is not conditioned on versions, so a page may
//! overwrite an item the live path wrote after the page was read, or put
//! back one it deleted. After each page lands, the backfill reads the versions
//! PostgreSQL holds *now* for the page's entities; any entity whose version
//! moved (or that is gone) is reconciled under its advisory lock
//! (`Relay::reconcile_copy`): its current state is written with version
//! conditions and what the copy wrote is taken back. A change that commits
//! after that check is applied by the relay after the batch landed, and the
//! relay's writes are conditional on the version, so it wins. Either way
//! DynamoDB ends with the newest version, whatever the order.
//!
//! # Code map
//!
//! - `backfill(app, options)`: a keyset reader (`PgStore::ids_after`, one page more than asked
//!   to know a kind's last page), pages copied by `options.workers` at once (`copy_page`:
//!   `PgStore::entities_with_transcripts_by_ids`, transcripts to S3, `DynamoStore::copy_items`,
//!   then `PgStore::versions_by_ids` and `Relay::reconcile_copy` for whatever moved), the
//!   checkpoint file written beside itself and renamed over. `BackfillReport` and its Markdown.
//!   `backfill_pausing(app, options, &dyn PagePause)` holds each page between its read and its
//!   write (the race window): the race tests put live writes there deterministically, with a
//!   channel they hold, not a sleep; `backfill` holds none.
//! - The rules are in `cutover_core::backfill`: `batches` (25 items / 16 MB), `retry_delay`
//!   (full jitter), `Checkpoint`, `Progress` (the checkpoint moves only over contiguous
//!   finished pages), `CopyTotals`.
//!
//! **Architecture invariant:** a backfill writes items without a version condition only in a
//! page that is followed by a version check against PostgreSQL; anything that moved is
//! reconciled under its entity's advisory lock with version-conditional writes. So a copy never
//! leaves an item older than PostgreSQL's row, nor one PostgreSQL deleted.
//!
//! **Architecture invariant:** no write of cutover's to an app's table replaces a whole item
//! that is there: every write of an entity (relay, repair, reconcile, backfill) is an
//! UpdateItem of the profile's own attributes, so attributes the profile does not own survive
//! (tested in the backfill and parity tests).

mod copy;
pub mod report;

use std::path::PathBuf;

use cutover_core::backfill::PageMark;
use futures::future::BoxFuture;

pub use copy::{OBJECT_CONCURRENCY, backfill, backfill_pausing, transcript_objects};
pub use report::{BackfillReport, MIB};

/// Where a caller may hold each page of a backfill: after its rows were read
/// and its transcripts uploaded, before its items are written — the window a
/// live write can fall into. The race tests hold pages there to put writes in
/// that window deterministically (`backfill_pausing`); `backfill` holds none.
pub trait PagePause: Sync {
    /// The page's items are written when the returned future ends.
    fn before_write<'a>(&'a self, page: &PageMark) -> BoxFuture<'a, ()>;
}

/// Holds nothing.
pub(crate) struct NoPause;

impl PagePause for NoPause {
    fn before_write<'a>(&'a self, _: &PageMark) -> BoxFuture<'a, ()> {
        Box::pin(std::future::ready(()))
    }
}

#[derive(Debug, Clone)]
pub struct BackfillOptions {
    /// Entities per keyset page (and per verification query).
    pub page_size: usize,
    /// Pages copied at once.
    pub workers: usize,
    /// Where progress is kept between runs; `None` keeps none.
    pub checkpoint: Option<PathBuf>,
    /// Names the source and target, so a checkpoint is not used for another.
    pub source: String,
    /// Stop abruptly once this many pages have finished, abandoning pages in
    /// flight — an interrupted run, for tests and drills.
    pub stop_after_pages: Option<u64>,
    /// Re-check versions after each batch and reconcile moved entities. Only
    /// a demonstration of the race turns this off.
    pub reconcile: bool,
    /// Print progress (items/s, ETA) to stderr.
    pub progress: bool,
}

impl BackfillOptions {
    pub fn new(source: impl Into<String>) -> BackfillOptions {
        BackfillOptions {
            page_size: 100,
            workers: 4,
            checkpoint: None,
            source: source.into(),
            stop_after_pages: None,
            reconcile: true,
            progress: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error(transparent)]
    App(#[from] cutover_app::AppError),
    #[error("filling the source database failed: {0}")]
    Source(String),
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: String, reason: String },
}
