//! Our own model of what DynamoDB charges for reads and writes, from item sizes
//! alone (`../shared/reference/dynamodb-rules.md`, "Read capacity" and "Write
//! capacity"). Reports print it beside `ConsumedCapacity` as the engine states
//! it, so a divergence between the two is visible rather than trusted away.
//!
//! Sizes are [`crate::item_size::item_bytes`]; a "KB" here is 1,024 bytes.

/// Read units are charged per started 4 KB.
pub const READ_UNIT_BYTES: u64 = 4 * 1024;
/// Write units are charged per started 1 KB.
pub const WRITE_UNIT_BYTES: u64 = 1024;
/// A Query or Scan page stops once it has read 1 MB (before any filter).
pub const PAGE_LIMIT_BYTES: u64 = 1024 * 1024;

/// Strongly consistent reads cost one unit per 4 KB, eventually consistent
/// reads half. GSI reads are always eventual.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Consistency {
    Strong,
    Eventual,
}

impl Consistency {
    fn units_per_block(self) -> f64 {
        match self {
            Consistency::Strong => 1.0,
            Consistency::Eventual => 0.5,
        }
    }
}

fn blocks(bytes: u64, unit: u64) -> u64 {
    bytes.div_ceil(unit)
}

/// GetItem: the item rounded up to 4 KB; a missing item still costs one block.
pub fn get_item_rcu(item_bytes: Option<u64>, consistency: Consistency) -> f64 {
    let charged_blocks = item_bytes.map_or(1, |bytes| blocks(bytes, READ_UNIT_BYTES).max(1));
    charged_blocks as f64 * consistency.units_per_block()
}

/// BatchGetItem: every item rounded up on its own, then summed.
pub fn batch_get_rcu(item_sizes: &[Option<u64>], consistency: Consistency) -> f64 {
    item_sizes
        .iter()
        .map(|size| get_item_rcu(*size, consistency))
        .sum()
}

/// One Query or Scan request (one page): the sizes of **all items read**,
/// before any filter, summed and rounded up to 4 KB once. For a GSI, pass the
/// projected entry sizes and [`Consistency::Eventual`].
pub fn query_page_rcu(read_item_sizes: &[u64], consistency: Consistency) -> f64 {
    let total: u64 = read_item_sizes.iter().sum();
    blocks(total, READ_UNIT_BYTES).max(1) as f64 * consistency.units_per_block()
}

/// How a Query (or Scan) over items of these sizes, in key order, is split
/// into pages: a page ends with the item that brings it to 1 MB, or after
/// `limit` items. Returns the item count of each page.
pub fn query_pages(item_sizes: &[u64], limit: Option<usize>) -> Vec<usize> {
    let mut pages = Vec::new();
    let (mut count, mut bytes) = (0usize, 0u64);
    for size in item_sizes {
        count += 1;
        bytes += size;
        if bytes >= PAGE_LIMIT_BYTES || limit.is_some_and(|limit| count >= limit) {
            pages.push(count);
            (count, bytes) = (0, 0);
        }
    }
    if count > 0 || pages.is_empty() {
        pages.push(count);
    }
    pages
}

/// The modeled cost of reading a whole partition (or index range) with a
/// filter: pages as [`query_pages`], each charged as [`query_page_rcu`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QueryCost {
    pub pages: usize,
    pub items_read: usize,
    pub bytes_read: u64,
    pub rcu: f64,
}

pub fn query_rcu(item_sizes: &[u64], limit: Option<usize>, consistency: Consistency) -> QueryCost {
    let mut rcu = 0.0;
    let mut offset = 0;
    let pages = query_pages(item_sizes, limit);
    for count in &pages {
        rcu += query_page_rcu(&item_sizes[offset..offset + count], consistency);
        offset += count;
    }
    QueryCost {
        pages: pages.len(),
        items_read: item_sizes.len(),
        bytes_read: item_sizes.iter().sum(),
        rcu,
    }
}

/// A Scan with `ConsistentRead` costs double the eventual figure, as a Query does.
pub fn scan_rcu(item_sizes: &[u64], consistency: Consistency) -> QueryCost {
    query_rcu(item_sizes, None, consistency)
}

/// TransactGetItems: twice the strongly consistent GetItem figure per item.
pub fn transact_get_rcu(item_sizes: &[Option<u64>]) -> f64 {
    2.0 * batch_get_rcu(item_sizes, Consistency::Strong)
}

/// PutItem / UpdateItem: the larger of the old and the new item, per started
/// KB; a write to a new key is charged the new size.
pub fn put_wcu(old_item_bytes: Option<u64>, new_item_bytes: u64) -> f64 {
    let charged = old_item_bytes.unwrap_or(0).max(new_item_bytes);
    blocks(charged, WRITE_UNIT_BYTES).max(1) as f64
}

/// DeleteItem: the deleted item's size; deleting nothing still costs 1.
pub fn delete_wcu(deleted_item_bytes: Option<u64>) -> f64 {
    blocks(deleted_item_bytes.unwrap_or(0), WRITE_UNIT_BYTES).max(1) as f64
}

/// A conditional write whose condition failed still costs: the existing
/// item's size, or 1.
pub fn failed_condition_wcu(existing_item_bytes: Option<u64>) -> f64 {
    delete_wcu(existing_item_bytes)
}

/// BatchWriteItem: every put rounded up on its own, then summed.
pub fn batch_write_wcu(item_sizes: &[u64]) -> f64 {
    item_sizes
        .iter()
        .map(|size| blocks(*size, WRITE_UNIT_BYTES).max(1) as f64)
        .sum()
}

/// BatchWriteItem of items into a table whose global secondary indexes
/// project every attribute: each put (`(item bytes, indexes holding it)`) is
/// charged once for the table and once more for every index that holds it,
/// an index entry being as large as the item. Exact for new items and for
/// overwrites that keep their index keys; an overwrite that moves an index
/// key costs one more write for that index (the old entry's delete).
pub fn batch_write_wcu_indexed(puts: &[(u64, u32)]) -> f64 {
    puts.iter()
        .map(|(size, indexes)| {
            (blocks(*size, WRITE_UNIT_BYTES).max(1) * (1 + u64::from(*indexes))) as f64
        })
        .sum()
}

/// An UpdateItem that writes a whole item, creating it or merging into one
/// that is there (`old_item_bytes`), into a table whose global secondary
/// indexes hold it `indexes` times: charged on the larger of the two sizes,
/// once for the table and once per index entry.
pub fn upsert_wcu_indexed(old_item_bytes: Option<u64>, new_item_bytes: u64, indexes: u32) -> f64 {
    put_wcu(old_item_bytes, new_item_bytes) * f64::from(1 + indexes)
}

/// TransactWriteItems: 2 WCU per KB per item.
pub fn transact_write_wcu(item_sizes: &[u64]) -> f64 {
    2.0 * batch_write_wcu(item_sizes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_writes_are_charged_per_index_holding_the_item() {
        // 1.5 KB in two indexes: 2 WCU for the table, 2 for each index.
        assert_eq!(batch_write_wcu_indexed(&[(1536, 2)]), 6.0);
        // A merge is charged on the larger of the item before and after.
        assert_eq!(upsert_wcu_indexed(None, 1536, 2), 6.0);
        assert_eq!(upsert_wcu_indexed(Some(3000), 1536, 0), 3.0);
        assert_eq!(upsert_wcu_indexed(Some(100), 1536, 1), 4.0);
        assert_eq!(batch_write_wcu_indexed(&[(100, 0), (100, 1)]), 3.0);
        assert_eq!(
            batch_write_wcu_indexed(&[(100, 0), (3000, 0)]),
            batch_write_wcu(&[100, 3000])
        );
    }

    const KB: u64 = 1024;

    /// Sizes like "1.5 KB" in the reference, as bytes.
    fn kb(kilobytes: f64) -> u64 {
        (kilobytes * KB as f64).round() as u64
    }

    #[test]
    fn get_item_rounds_up_to_4_kb_and_a_miss_costs_one() {
        assert_eq!(get_item_rcu(Some(kb(1.5)), Consistency::Strong), 1.0);
        assert_eq!(get_item_rcu(Some(kb(4.0)), Consistency::Strong), 1.0);
        assert_eq!(get_item_rcu(Some(kb(4.0) + 1), Consistency::Strong), 2.0);
        assert_eq!(get_item_rcu(Some(kb(6.5)), Consistency::Eventual), 1.0);
        assert_eq!(get_item_rcu(None, Consistency::Strong), 1.0);
        assert_eq!(get_item_rcu(None, Consistency::Eventual), 0.5);
    }

    #[test]
    fn batch_get_rounds_each_item_then_sums() {
        // Reference: 1.5 KB + 6.5 KB = 4 KB + 8 KB = 12 KB -> 3 RCU strong.
        let sizes = [Some(kb(1.5)), Some(kb(6.5))];
        assert_eq!(batch_get_rcu(&sizes, Consistency::Strong), 3.0);
        assert_eq!(batch_get_rcu(&sizes, Consistency::Eventual), 1.5);
        // Summing first would have said 8 KB -> 2.
        assert_eq!(
            query_page_rcu(&[kb(1.5), kb(6.5)], Consistency::Strong),
            2.0
        );
    }

    #[test]
    fn query_sums_all_items_read_then_rounds_once() {
        // Reference: 10 items, 40.8 KB -> 44 KB -> 11 RCU strong, 5.5 eventual.
        let sizes = vec![kb(4.08); 10];
        assert_eq!(sizes.iter().sum::<u64>(), 41_780);
        let strong = query_rcu(&sizes, None, Consistency::Strong);
        assert_eq!(strong.rcu, 11.0);
        assert_eq!(strong.pages, 1);
        assert_eq!(query_rcu(&sizes, None, Consistency::Eventual).rcu, 5.5);
        // Rounding each item first would have charged 20.
        assert_eq!(
            batch_get_rcu(
                &sizes.iter().map(|s| Some(*s)).collect::<Vec<_>>(),
                Consistency::Strong
            ),
            20.0
        );
    }

    #[test]
    fn a_filter_does_not_lower_the_cost() {
        // The model takes the items read, not the items returned: a search
        // that returns one of 50 sessions pays for all 50.
        let read = vec![kb(2.0); 50];
        assert_eq!(query_rcu(&read, None, Consistency::Strong).rcu, 25.0);
    }

    #[test]
    fn scan_with_consistent_read_costs_double_the_eventual_figure() {
        let sizes = vec![kb(3.0); 7];
        let eventual = scan_rcu(&sizes, Consistency::Eventual).rcu;
        assert_eq!(scan_rcu(&sizes, Consistency::Strong).rcu, 2.0 * eventual);
    }

    #[test]
    fn an_empty_query_still_costs_one_block() {
        let cost = query_rcu(&[], None, Consistency::Strong);
        assert_eq!((cost.pages, cost.rcu), (1, 1.0));
    }

    #[test]
    fn pages_end_at_one_megabyte_and_are_charged_separately() {
        // Items one byte over 300 KB: the fourth brings a page past 1 MB.
        let sizes = vec![300 * KB + 1; 10];
        assert_eq!(query_pages(&sizes, None), vec![4, 4, 2]);
        let cost = query_rcu(&sizes, None, Consistency::Strong);
        // 1,200 KB + 4 bytes -> 301 blocks, twice; 600 KB + 2 bytes -> 151.
        assert_eq!(cost.rcu, 301.0 + 301.0 + 151.0);
        // One rounding over the whole read would have said 751.
        assert_eq!(query_page_rcu(&sizes, Consistency::Strong), 751.0);
        assert_eq!(query_pages(&sizes, Some(3)), vec![3, 3, 3, 1]);
        assert_eq!(query_pages(&[KB; 6], Some(3)), vec![3, 3]);
    }

    #[test]
    fn writes_charge_per_started_kilobyte_of_the_larger_image() {
        assert_eq!(put_wcu(None, 500), 1.0);
        assert_eq!(put_wcu(None, kb(1.0) + 1), 2.0);
        assert_eq!(put_wcu(Some(kb(3.5)), kb(0.5)), 4.0);
        assert_eq!(delete_wcu(Some(kb(2.2))), 3.0);
        assert_eq!(delete_wcu(None), 1.0);
        assert_eq!(failed_condition_wcu(Some(kb(7.0))), 7.0);
        assert_eq!(batch_write_wcu(&[kb(0.5), kb(1.5)]), 3.0);
        assert_eq!(transact_write_wcu(&[kb(0.5), kb(1.5)]), 6.0);
        assert_eq!(transact_get_rcu(&[Some(kb(1.0))]), 2.0);
    }
}
