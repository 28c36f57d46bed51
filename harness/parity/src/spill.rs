//! Sets of byte strings too large to keep in memory: what the validator has
//! seen of a table of any size (entity ids, object pointers, the bucket's
//! listing, PostgreSQL's ids), compared as sorted streams.
//!
//! Keys are pushed in any order; a full buffer is sorted and written to a run
//! file in `$TMPDIR` (`tempfile::tempfile`: mode 0600 and unlinked at once —
//! `O_TMPFILE` where the filesystem has it — so nothing outlives the process,
//! even a killed one); reading merges every run in byte order, duplicates
//! dropped. Memory is the buffer plus one key and one 8 KiB reader per run,
//! whatever the count.
//!
//! Hand-written rather than `extsort`: that crate sorts a synchronous iterator
//! (and brings `rayon`), while these keys are pushed by concurrent async Scan
//! segments. File IO here is local and sequential; it runs inline.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};

use cutover_core::keys::EntityKind;

/// Bytes a spill buffers before writing a sorted run (keys plus their `Vec`s).
pub const DEFAULT_BUFFER_BYTES: usize = 8 << 20;
/// Per-key overhead counted against the buffer: a `Vec`'s three words.
const KEY_OVERHEAD_BYTES: usize = 24;
/// Runs merged into one before another is written, to bound open files.
const MAX_RUNS: usize = 64;

/// Keys pushed in any order, read back sorted and deduplicated.
pub struct SortedSpill {
    buffer: Vec<Vec<u8>>,
    buffered_bytes: usize,
    buffer_limit_bytes: usize,
    /// Anonymous files: no name to clean up, removed when closed.
    runs: Vec<File>,
    keys_pushed: u64,
}

impl SortedSpill {
    pub fn new(buffer_limit_bytes: usize) -> SortedSpill {
        SortedSpill {
            buffer: Vec::new(),
            buffered_bytes: 0,
            buffer_limit_bytes: buffer_limit_bytes.max(1),
            runs: Vec::new(),
            keys_pushed: 0,
        }
    }

    pub fn push(&mut self, key: Vec<u8>) -> io::Result<()> {
        self.buffered_bytes += key.len() + KEY_OVERHEAD_BYTES;
        self.buffer.push(key);
        self.keys_pushed += 1;
        if self.buffered_bytes >= self.buffer_limit_bytes {
            self.spill_buffer()?;
        }
        Ok(())
    }

    /// Keys pushed so far, duplicates included.
    pub fn keys_pushed(&self) -> u64 {
        self.keys_pushed
    }

    /// Runs written to disk so far.
    pub fn runs_written(&self) -> usize {
        self.runs.len()
    }

    /// Takes in another spill's keys (one per Scan segment, say).
    pub fn absorb(&mut self, other: SortedSpill) -> io::Result<()> {
        // Its buffered keys are counted again as they are pushed here.
        self.keys_pushed += other.keys_pushed - other.buffer.len() as u64;
        for key in other.buffer {
            self.push(key)?;
        }
        self.runs.extend(other.runs);
        self.compact_runs()
    }

    fn spill_buffer(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let mut keys = std::mem::take(&mut self.buffer);
        self.buffered_bytes = 0;
        keys.sort_unstable();
        keys.dedup();
        let run = write_run(keys.into_iter().map(Ok))?;
        self.runs.push(run);
        self.compact_runs()
    }

    fn compact_runs(&mut self) -> io::Result<()> {
        if self.runs.len() < MAX_RUNS {
            return Ok(());
        }
        let runs = std::mem::take(&mut self.runs);
        let merged = Merge::new(Vec::new(), runs)?;
        let run = write_run(merged)?;
        self.runs.push(run);
        Ok(())
    }

    /// Every key pushed, once each, in byte order.
    pub fn into_sorted(mut self) -> io::Result<SortedKeys> {
        let mut memory = std::mem::take(&mut self.buffer);
        memory.sort_unstable();
        memory.dedup();
        let runs = std::mem::take(&mut self.runs);
        Ok(SortedKeys {
            merge: Merge::new(memory, runs)?,
        })
    }
}

/// The sorted, deduplicated keys of a spill.
pub struct SortedKeys {
    merge: Merge,
}

impl Iterator for SortedKeys {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.merge.next()
    }
}

/// A k-way merge of sorted sources, equal keys yielded once.
struct Merge {
    sources: Vec<Source>,
    heads: BinaryHeap<Reverse<(Vec<u8>, usize)>>,
    last: Option<Vec<u8>>,
    failed: bool,
}

enum Source {
    Memory(std::vec::IntoIter<Vec<u8>>),
    Run(BufReader<File>),
}

impl Source {
    fn next_key(&mut self) -> io::Result<Option<Vec<u8>>> {
        match self {
            Source::Memory(keys) => Ok(keys.next()),
            Source::Run(reader) => read_key(reader),
        }
    }
}

impl Merge {
    fn new(memory: Vec<Vec<u8>>, runs: Vec<File>) -> io::Result<Merge> {
        let mut sources = vec![Source::Memory(memory.into_iter())];
        sources.extend(runs.into_iter().map(|f| Source::Run(BufReader::new(f))));
        let mut heads = BinaryHeap::new();
        for (index, source) in sources.iter_mut().enumerate() {
            if let Some(key) = source.next_key()? {
                heads.push(Reverse((key, index)));
            }
        }
        Ok(Merge {
            sources,
            heads,
            last: None,
            failed: false,
        })
    }

    fn advance(&mut self) -> io::Result<Option<Vec<u8>>> {
        while let Some(Reverse((key, index))) = self.heads.pop() {
            if let Some(next) = self.sources[index].next_key()? {
                self.heads.push(Reverse((next, index)));
            }
            if self.last.as_ref() != Some(&key) {
                self.last = Some(key.clone());
                return Ok(Some(key));
            }
        }
        Ok(None)
    }
}

impl Iterator for Merge {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.advance() {
            Ok(key) => key.map(Ok),
            Err(error) => {
                self.failed = true;
                Some(Err(error))
            }
        }
    }
}

/// Writes sorted keys to a new run file and rewinds it for reading.
fn write_run(keys: impl Iterator<Item = io::Result<Vec<u8>>>) -> io::Result<File> {
    let file = tempfile::tempfile()?;
    let mut writer = BufWriter::new(file);
    for key in keys {
        write_key(&mut writer, &key?)?;
    }
    let mut file = writer
        .into_inner()
        .map_err(io::IntoInnerError::into_error)?;
    io::Seek::rewind(&mut file)?;
    Ok(file)
}

fn write_key(writer: &mut impl Write, key: &[u8]) -> io::Result<()> {
    let length = u32::try_from(key.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a {}-byte key is too long to spill", key.len()),
        )
    })?;
    writer.write_all(&length.to_le_bytes())?;
    writer.write_all(key)
}

fn read_key(reader: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut length = [0u8; 4];
    match reader.read_exact(&mut length) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    let mut key = vec![0u8; u32::from_le_bytes(length) as usize];
    reader.read_exact(&mut key)?;
    Ok(Some(key))
}

/// The keys of `left` that `right` lacks; both sorted and deduplicated.
pub fn only_in_left<L, R>(left: L, right: R) -> impl Iterator<Item = io::Result<Vec<u8>>>
where
    L: Iterator<Item = io::Result<Vec<u8>>>,
    R: Iterator<Item = io::Result<Vec<u8>>>,
{
    let mut right = right.peekable();
    let mut failed = false;
    left.filter_map(move |key| {
        if failed {
            return None;
        }
        let key = match key {
            Ok(key) => key,
            Err(error) => {
                failed = true;
                return Some(Err(error));
            }
        };
        loop {
            match right.peek() {
                Some(Ok(other)) if other < &key => {
                    right.next();
                }
                Some(Ok(other)) if other == &key => return None,
                Some(Ok(_)) | None => return Some(Ok(key)),
                Some(Err(_)) => {
                    failed = true;
                    let Some(Err(error)) = right.next() else {
                        unreachable!("peeked an error")
                    };
                    return Some(Err(error));
                }
            }
        }
    })
}

/// An entity as a spill key: its kind's index, then its id's bytes.
pub fn entity_key(kind: EntityKind, id: &str) -> Vec<u8> {
    let index = EntityKind::ALL
        .iter()
        .position(|k| *k == kind)
        .expect("every kind is in ALL");
    let mut key = Vec::with_capacity(1 + id.len());
    key.push(u8::try_from(index).expect("four kinds"));
    key.extend_from_slice(id.as_bytes());
    key
}

/// The kind and id of an `entity_key`; `None` for bytes no entity key has.
pub fn parse_entity_key(key: &[u8]) -> Option<(EntityKind, String)> {
    let (index, id) = key.split_first()?;
    let kind = *EntityKind::ALL.get(usize::from(*index))?;
    Some((kind, String::from_utf8(id.to_vec()).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(spill: SortedSpill) -> Vec<Vec<u8>> {
        spill
            .into_sorted()
            .unwrap()
            .collect::<io::Result<_>>()
            .unwrap()
    }

    fn keys(texts: &[&str]) -> Vec<Vec<u8>> {
        texts.iter().map(|t| t.as_bytes().to_vec()).collect()
    }

    #[test]
    fn keys_come_back_sorted_and_once_from_memory_alone() {
        let mut spill = SortedSpill::new(DEFAULT_BUFFER_BYTES);
        for key in keys(&["b", "a", "c", "a"]) {
            spill.push(key).unwrap();
        }
        assert_eq!(spill.runs_written(), 0);
        assert_eq!(sorted(spill), keys(&["a", "b", "c"]));
    }

    #[test]
    fn keys_spilled_to_many_runs_merge_in_byte_order() {
        // A 100-byte buffer spills every few keys; 5,000 keys make more runs
        // than MAX_RUNS, so compaction runs too.
        let mut spill = SortedSpill::new(100);
        let mut expected = Vec::new();
        for n in 0..5_000u32 {
            // A scrambled order with duplicates: n * 7919 mod 4999.
            let key = format!("k{:05}", (n * 7919) % 4999).into_bytes();
            expected.push(key.clone());
            spill.push(key).unwrap();
        }
        assert!(spill.runs_written() > 0);
        expected.sort();
        expected.dedup();
        assert_eq!(sorted(spill), expected);
    }

    #[test]
    fn byte_order_is_not_a_collation() {
        // "B" < "a" < "ä" in bytes; a locale would say otherwise.
        let mut spill = SortedSpill::new(1);
        for key in keys(&["ä", "a", "B"]) {
            spill.push(key).unwrap();
        }
        assert_eq!(sorted(spill), keys(&["B", "a", "ä"]));
    }

    #[test]
    fn absorbed_spills_merge_with_their_runs() {
        let mut first = SortedSpill::new(40);
        let mut second = SortedSpill::new(40);
        for n in 0..50 {
            first.push(format!("{:03}", n * 2).into_bytes()).unwrap();
            second.push(format!("{:03}", n * 3).into_bytes()).unwrap();
        }
        first.absorb(second).unwrap();
        assert_eq!(first.keys_pushed(), 100);
        let mut expected: Vec<Vec<u8>> = (0..50)
            .flat_map(|n| [n * 2, n * 3])
            .map(|n| format!("{n:03}").into_bytes())
            .collect();
        expected.sort();
        expected.dedup();
        assert_eq!(sorted(first), expected);
    }

    #[test]
    fn only_in_left_is_the_set_difference() {
        let left = keys(&["a", "b", "d", "f"]).into_iter().map(Ok);
        let right = keys(&["b", "c", "d", "e", "g"]).into_iter().map(Ok);
        let missing: Vec<_> = only_in_left(left, right)
            .collect::<io::Result<_>>()
            .unwrap();
        assert_eq!(missing, keys(&["a", "f"]));
        let empty: Vec<Vec<u8>> = Vec::new();
        let all: Vec<_> = only_in_left(keys(&["x"]).into_iter().map(Ok), empty.into_iter().map(Ok))
            .collect::<io::Result<_>>()
            .unwrap();
        assert_eq!(all, keys(&["x"]));
    }

    #[test]
    fn a_read_error_is_reported_once_and_ends_the_difference() {
        let left = vec![Ok(b"a".to_vec()), Ok(b"z".to_vec())].into_iter();
        let right = vec![Err(io::Error::other("disk gone"))].into_iter();
        let out: Vec<_> = only_in_left(left, right).collect();
        assert_eq!(out.len(), 1);
        assert!(out[0].is_err());
    }

    #[test]
    fn entity_keys_round_trip_and_sort_by_kind_then_id() {
        let user = entity_key(EntityKind::User, "zed");
        let campaign = entity_key(EntityKind::Campaign, "abc");
        assert!(user < campaign);
        assert_eq!(
            parse_entity_key(&campaign),
            Some((EntityKind::Campaign, "abc".into()))
        );
        assert_eq!(parse_entity_key(&[9, b'a']), None);
        assert_eq!(parse_entity_key(&[]), None);
    }
}
