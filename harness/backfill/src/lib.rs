//! `cutover backfill`: the initial copy of what PostgreSQL already holds into
//! DynamoDB and S3, while the dual-write path may already be live.
//!
//! PostgreSQL is read kind by kind in key order (keyset pages); workers copy
//! pages in parallel — transcripts to S3 first, then items with
//! `BatchWriteItem` — and a checkpoint file moves over the pages finished in
//! order, so an interrupted backfill resumes where it stopped.
//!
//! **The race.** A batch cannot be conditional, so a page may overwrite an
//! item the live path wrote after the page was read, or put back one it
//! deleted. After each batch lands, the backfill reads the versions
//! PostgreSQL holds *now* for the page's entities; any entity whose version
//! moved (or that is gone) is reconciled under its advisory lock
//! (`Relay::reconcile_copy`): its current state is written with version
//! conditions and what the copy wrote is taken back. A change that commits
//! after that check is applied by the relay after the batch landed, and the
//! relay's writes are conditional on the version, so it wins. Either way
//! DynamoDB ends with the newest version, whatever the order.

pub mod bench;
mod copy;
pub mod report;

use std::path::PathBuf;
use std::time::Duration;

pub use copy::backfill;
pub use report::BackfillReport;

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
    /// A pause between reading a page and writing it, which widens the race
    /// window with live writes (tests). Zero in normal runs.
    pub hold_before_write: Duration,
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
            hold_before_write: Duration::ZERO,
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
