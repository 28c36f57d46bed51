//! The backfill's rules, with no IO: how items are packed into
//! `BatchWriteItem` calls, how long to wait before retrying unprocessed items,
//! and how completed pages move the checkpoint.
//!
//! Pages are read in key order and numbered; workers finish them in any order;
//! the checkpoint only moves over the contiguous run of finished pages, so a
//! resumed backfill redoes at most the pages that were in flight.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::keys::EntityKind;

/// `BatchWriteItem` accepts at most 25 put requests per call.
pub const MAX_BATCH_ITEMS: usize = 25;
/// ... and at most 16 MB of request per call.
pub const MAX_BATCH_BYTES: u64 = 16 * 1024 * 1024;

/// Splits items of these sizes, in order, into `BatchWriteItem` calls of at
/// most 25 items and 16 MB each.
pub fn batches(item_bytes: &[u64]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (index, size) in item_bytes.iter().enumerate() {
        let full = index - start == MAX_BATCH_ITEMS || bytes + size > MAX_BATCH_BYTES;
        if full && index > start {
            out.push(start..index);
            start = index;
            bytes = 0;
        }
        bytes += size;
    }
    if start < item_bytes.len() {
        out.push(start..item_bytes.len());
    }
    out
}

/// Backoff before retrying unprocessed items: "full jitter" — a uniform
/// draw (`unit` in [0, 1)) below an exponentially growing cap, as AWS
/// recommends so that throttled writers do not retry in lockstep.
pub fn retry_delay(attempt: u32, unit: f64) -> Duration {
    const BASE_MS: f64 = 25.0;
    const CAP_MS: f64 = 5_000.0;
    let ceiling = (BASE_MS * 2f64.powi(attempt.min(16) as i32)).min(CAP_MS);
    Duration::from_secs_f64(ceiling * unit.clamp(0.0, 1.0) / 1000.0)
}

/// The order the backfill reads kinds in (workers may copy pages of two kinds
/// at once; DynamoDB needs no parent before its child).
pub const KIND_ORDER: [EntityKind; 4] = [
    EntityKind::User,
    EntityKind::Campaign,
    EntityKind::Session,
    EntityKind::Summary,
];

/// Where a resumed backfill starts and what was already copied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Which source and target this belongs to (refused for another).
    pub source: String,
    /// Per kind: the last id of the contiguous finished prefix.
    pub done_through: BTreeMap<EntityKind, String>,
    /// Kinds copied to the end.
    pub kinds_finished: Vec<EntityKind>,
    pub totals: CopyTotals,
}

impl Checkpoint {
    pub fn new(source: &str) -> Checkpoint {
        Checkpoint {
            source: source.to_owned(),
            ..Checkpoint::default()
        }
    }

    pub fn finished(&self) -> bool {
        KIND_ORDER
            .iter()
            .all(|kind| self.kinds_finished.contains(kind))
    }
}

/// What a number of pages copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CopyTotals {
    pub entities: u64,
    pub users: u64,
    pub campaigns: u64,
    pub sessions: u64,
    pub summaries: u64,
    pub item_bytes: u64,
    pub transcript_bytes: u64,
    pub transcripts: u64,
    /// Write requests sent (an UpdateItem per item, throttled ones included).
    #[serde(alias = "batch_calls")]
    pub write_calls: u64,
    /// Items that were already there, updated attribute by attribute (what
    /// the profile does not own kept).
    #[serde(default)]
    pub items_merged: u64,
    /// Writes sent again after the engine throttled them (or, in a batch,
    /// left them unprocessed).
    pub unprocessed_retries: u64,
    /// Capacity as the engine reported it (`None` when it reports none).
    pub wcu_reported: Option<f64>,
    /// Capacity as `capacity::upsert_wcu_indexed` computes it from item
    /// sizes before and after and the indexes holding each item.
    pub wcu_modeled: f64,
    /// Entities changed by the live path while being copied, rewritten from
    /// PostgreSQL under their lock (see the race rule in `cutover_backfill`'s crate documentation).
    pub redriven: u64,
}

impl CopyTotals {
    pub fn add(&mut self, other: &CopyTotals) {
        self.entities += other.entities;
        self.users += other.users;
        self.campaigns += other.campaigns;
        self.sessions += other.sessions;
        self.summaries += other.summaries;
        self.item_bytes += other.item_bytes;
        self.transcript_bytes += other.transcript_bytes;
        self.transcripts += other.transcripts;
        self.write_calls += other.write_calls;
        self.items_merged += other.items_merged;
        self.unprocessed_retries += other.unprocessed_retries;
        self.wcu_reported = match (self.wcu_reported, other.wcu_reported) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.wcu_modeled += other.wcu_modeled;
        self.redriven += other.redriven;
    }

    pub fn count(&mut self, kind: EntityKind) {
        self.entities += 1;
        match kind {
            EntityKind::User => self.users += 1,
            EntityKind::Campaign => self.campaigns += 1,
            EntityKind::Session => self.sessions += 1,
            EntityKind::Summary => self.summaries += 1,
        }
    }
}

/// A page as the reader hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageMark {
    pub seq: u64,
    pub kind: EntityKind,
    pub last_id: String,
    /// The last page of its kind (possibly empty, for a kind with no rows).
    pub ends_kind: bool,
}

/// Moves a checkpoint as pages finish, in any order.
#[derive(Debug)]
pub struct Progress {
    checkpoint: Checkpoint,
    /// The next page number the checkpoint waits for.
    next_seq: u64,
    /// Pages finished past a gap, waiting for it to close.
    waiting: BTreeMap<u64, (PageMark, CopyTotals)>,
}

impl Progress {
    pub fn new(checkpoint: Checkpoint) -> Progress {
        Progress {
            checkpoint,
            next_seq: 0,
            waiting: BTreeMap::new(),
        }
    }

    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// A page finished (pages are numbered in the order they were read).
    /// Returns true when the checkpoint moved (persist it).
    pub fn finished(&mut self, mark: PageMark, totals: CopyTotals) -> bool {
        self.waiting.insert(mark.seq, (mark, totals));
        let mut moved = false;
        while let Some((mark, totals)) = self.waiting.remove(&self.next_seq) {
            self.checkpoint
                .done_through
                .insert(mark.kind, mark.last_id.clone());
            if mark.ends_kind && !self.checkpoint.kinds_finished.contains(&mark.kind) {
                self.checkpoint.kinds_finished.push(mark.kind);
            }
            self.checkpoint.totals.add(&totals);
            self.next_seq += 1;
            moved = true;
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_25_items_and_16_mb_at_most() {
        assert_eq!(batches(&[]), Vec::<Range<usize>>::new());
        assert_eq!(batches(&[100; 60]), vec![0..25, 25..50, 50..60]);
        // 400 KB items: 25 of them are 10 MB, under 16 MB, so the count binds.
        assert_eq!(batches(&[409_600; 26]), vec![0..25, 25..26]);
        // Larger (hypothetical) requests: the byte limit binds.
        let six_mb = 6 * 1024 * 1024;
        assert_eq!(batches(&[six_mb; 5]), vec![0..2, 2..4, 4..5]);
        // Exactly 16 MB fits in one call.
        assert_eq!(batches(&[8 * 1024 * 1024; 2]), vec![0..2]);
    }

    #[test]
    fn retry_delays_grow_and_are_jittered_below_a_cap() {
        assert_eq!(retry_delay(0, 0.0), Duration::ZERO);
        assert_eq!(retry_delay(0, 1.0), Duration::from_millis(25));
        assert_eq!(retry_delay(3, 1.0), Duration::from_millis(200));
        assert_eq!(retry_delay(30, 1.0), Duration::from_secs(5));
        assert_eq!(retry_delay(3, 0.5), Duration::from_millis(100));
    }

    fn mark(seq: u64, kind: EntityKind, last: &str, ends: bool) -> PageMark {
        PageMark {
            seq,
            kind,
            last_id: last.into(),
            ends_kind: ends,
        }
    }

    fn one(kind: EntityKind) -> CopyTotals {
        let mut totals = CopyTotals::default();
        totals.count(kind);
        totals
    }

    #[test]
    fn the_checkpoint_moves_only_over_contiguous_finished_pages() {
        let mut progress = Progress::new(Checkpoint::new("src"));
        // Page 1 finishes first: nothing is contiguous yet.
        assert!(!progress.finished(mark(1, EntityKind::User, "u2", true), one(EntityKind::User)));
        assert!(progress.checkpoint().done_through.is_empty());
        assert!(progress.finished(
            mark(0, EntityKind::User, "u1", false),
            one(EntityKind::User)
        ));
        assert_eq!(progress.checkpoint().done_through[&EntityKind::User], "u2");
        assert_eq!(progress.checkpoint().kinds_finished, vec![EntityKind::User]);
        assert_eq!(progress.checkpoint().totals.users, 2);
        assert!(progress.finished(
            mark(2, EntityKind::Campaign, "c1", false),
            one(EntityKind::Campaign)
        ));
        assert_eq!(
            progress.checkpoint().done_through[&EntityKind::Campaign],
            "c1"
        );
        assert!(!progress.checkpoint().finished());
    }

    #[test]
    fn totals_add_reported_capacity_only_where_reported() {
        let mut a = CopyTotals {
            wcu_reported: None,
            wcu_modeled: 2.0,
            ..CopyTotals::default()
        };
        a.add(&CopyTotals {
            wcu_reported: Some(3.0),
            wcu_modeled: 3.0,
            ..CopyTotals::default()
        });
        assert_eq!((a.wcu_reported, a.wcu_modeled), (Some(3.0), 5.0));
    }
}
