//! The single DynamoDB table of the campaign app: creation, version-conditional
//! writes, and the Query access patterns. Key strings, attribute names and
//! encodings come from the store's app profile (`cutover_core::profile`) only.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ScalarAttributeType,
};
use cutover_core::item_size::{Item, MAX_ITEM_BYTES, item_bytes};
use cutover_core::keys::{EntityKind, ItemKey, PartitionQuery};
use cutover_core::profile::{Profile, StoredKey};
use cutover_core::search::expression::{FilterExpression, SearchFilter, SearchRefusal};

use crate::convert::{item_from_sdk, item_to_sdk};
use crate::error::AppError;

/// What a filtered Query returned and what it read, page by page.
#[derive(Debug, Clone, Default)]
pub struct SearchResult {
    pub items: Vec<Item>,
    pub pages: Vec<PageStats>,
}

/// One Query page: `ScannedCount`, `Count` and `ConsumedCapacity` as the
/// engine reported them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PageStats {
    pub scanned: u64,
    pub returned: u64,
    pub rcu_reported: Option<f64>,
}

impl SearchResult {
    /// Items read before the filter (the cost basis), over all pages.
    pub fn scanned(&self) -> u64 {
        self.pages.iter().map(|p| p.scanned).sum()
    }

    /// ConsumedCapacity summed over pages; `None` when any page lacked it.
    pub fn rcu_reported(&self) -> Option<f64> {
        self.pages.iter().map(|p| p.rcu_reported).sum()
    }
}

/// A table's or an index's key: a hash attribute and an optional range
/// attribute, both strings (every key in cutover's tables is).
#[derive(Debug, Clone, Copy)]
pub struct KeySpec<'a> {
    pub hash: &'a str,
    pub range: Option<&'a str>,
}

impl<'a> KeySpec<'a> {
    pub fn new(hash: &'a str, range: Option<&'a str>) -> Self {
        KeySpec { hash, range }
    }
}

/// A global secondary index to create with its table.
#[derive(Debug, Clone)]
pub struct IndexSpec<'a> {
    pub name: &'a str,
    pub key: KeySpec<'a>,
    pub projection: Projection,
}

/// Creates an on-demand table with string key attributes and its GSIs: every
/// table above `cutover-backends` (whose round trip makes its own) is made here.
pub async fn create_string_keyed_table(
    client: &Client,
    table: &str,
    key: KeySpec<'_>,
    indexes: Vec<IndexSpec<'_>>,
) -> Result<(), AppError> {
    let action = || format!("creating table {table}");
    let schema = |key: KeySpec<'_>| -> Result<Vec<KeySchemaElement>, AppError> {
        std::iter::once((key.hash, KeyType::Hash))
            .chain(key.range.map(|range| (range, KeyType::Range)))
            .map(|(name, kind)| {
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(kind)
                    .build()
                    .map_err(|e| AppError::dynamodb(action(), e))
            })
            .collect()
    };
    let mut attributes: Vec<&str> = Vec::new();
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(schema(key)?));
    attributes.extend(std::iter::once(key.hash).chain(key.range));
    for index in indexes {
        attributes.extend(std::iter::once(index.key.hash).chain(index.key.range));
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .set_key_schema(Some(schema(index.key)?))
                .projection(index.projection)
                .build()
                .map_err(|e| AppError::dynamodb(action(), e))?,
        );
    }
    attributes.sort_unstable();
    attributes.dedup();
    for name in attributes {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| AppError::dynamodb(action(), e))?,
        );
    }
    request
        .send()
        .await
        .map_err(|e| AppError::dynamodb(action(), e))?;
    Ok(())
}

/// The campaign table of one app, read and written through its profile.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    profile: Arc<Profile>,
}

/// Written only when the stored item is absent or older; a retried or late
/// write never replaces a newer one.
const NEWER_ONLY: &str = "attribute_not_exists(#pk) OR #version < :version";
/// For repairs: the same version may be rewritten (it may be corrupt), a newer one never.
const UNLESS_NEWER: &str = "attribute_not_exists(#pk) OR #version <= :version";

/// The key map DynamoDB wants for GetItem and DeleteItem.
pub fn key_attributes(profile: &Profile, key: &StoredKey) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (
            profile.table.partition_key.clone(),
            AttributeValue::S(key.pk.clone()),
        ),
        (
            profile.table.sort_key.clone(),
            AttributeValue::S(key.sk.clone()),
        ),
    ])
}

/// `Ok(true)` when a conditional write happened, `Ok(false)` when its condition
/// said no (a newer version is stored), an error for anything else.
fn written_unless_condition_failed<T, E>(
    result: Result<
        T,
        aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    >,
    action: impl FnOnce() -> String,
) -> Result<bool, AppError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(error)
            if error.as_service_error().and_then(|e| e.code())
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(error) => Err(AppError::dynamodb(action(), error)),
    }
}

/// How often `batch_write` sends unprocessed items again before it gives up
/// (full-jitter backoff, `backfill::retry_delay`: at most about a minute in all).
const UNPROCESSED_ATTEMPTS: u32 = 12;

/// What `DynamoStore::batch_write` did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BatchWriteStats {
    pub calls: u64,
    /// Items the engine left unprocessed and that were sent again.
    pub unprocessed_retries: u64,
    /// Write capacity the engine reported, `None` if it reported none.
    pub wcu_reported: Option<f64>,
    /// Write capacity `capacity::batch_write_wcu_indexed` computes from the
    /// item sizes and the indexes holding each item.
    pub wcu_modeled: f64,
    pub item_bytes: u64,
}

/// How `DynamoStore::copy_items` wrote one item.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Copied {
    /// The size of the item that was there (`None`: there was none).
    old_bytes: Option<u64>,
    bytes: u64,
    wcu_reported: Option<f64>,
    /// Attempts the engine throttled before this one landed.
    throttled: u32,
}

/// What `DynamoStore::copy_items` did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CopyStats {
    /// UpdateItem requests sent, throttled ones included.
    pub calls: u64,
    /// Items that were not there.
    pub created: u64,
    /// Items that were there: updated attribute by attribute.
    pub merged: u64,
    /// Writes sent again after the engine throttled them.
    pub throttled_retries: u64,
    /// Write capacity the engine reported, `None` if it reported none.
    pub wcu_reported: Option<f64>,
    /// Write capacity `capacity::upsert_wcu_indexed` computes from each
    /// item's size before and after and the indexes holding it.
    pub wcu_modeled: f64,
    pub item_bytes: u64,
}

impl DynamoStore {
    /// The table as the reference app lays it out.
    pub fn new(client: Client, table: String) -> DynamoStore {
        Self::with_profile(client, table, Profile::reference())
    }

    pub fn with_profile(client: Client, table: String, profile: Arc<Profile>) -> DynamoStore {
        DynamoStore {
            client,
            table,
            profile,
        }
    }

    pub fn profile(&self) -> &Arc<Profile> {
        &self.profile
    }

    /// The stored key of an entity.
    pub fn stored_key(&self, key: &ItemKey) -> StoredKey {
        self.profile.key(key)
    }

    /// An entity's key as DynamoDB's `Key` parameter wants it.
    pub fn key_map(&self, key: &ItemKey) -> HashMap<String, AttributeValue> {
        key_attributes(&self.profile, &self.profile.key(key))
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the table as the profile lays it out: its key attributes and
    /// every index (projecting all attributes). On-demand capacity.
    pub async fn create_table(&self) -> Result<(), AppError> {
        let layout = &self.profile.table;
        let indexes = layout
            .indexes
            .iter()
            .map(|index| IndexSpec {
                name: &index.name,
                key: KeySpec::new(&index.partition_key, index.sort_key.as_deref()),
                projection: Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            })
            .collect();
        create_string_keyed_table(
            &self.client,
            &self.table,
            KeySpec::new(&layout.partition_key, Some(&layout.sort_key)),
            indexes,
        )
        .await
    }

    /// Writes up to 25 items per BatchWriteItem call (unconditionally: a batch
    /// cannot carry conditions), retrying unprocessed items with backoff.
    pub async fn batch_put(&self, items: &[Item]) -> Result<(), AppError> {
        self.batch_write(items).await.map(|_| ())
    }

    /// Writes `items` with `BatchWriteItem` — calls of at most 25 items and
    /// 16 MB (`cutover_core::backfill::batches`) — sending unprocessed items
    /// again after a jittered backoff until none are left. Unconditional: the
    /// caller owns what happens if a newer item was there (see the backfill).
    pub async fn batch_write(&self, items: &[Item]) -> Result<BatchWriteStats, AppError> {
        use aws_sdk_dynamodb::types::{PutRequest, ReturnConsumedCapacity, WriteRequest};
        let sizes = items
            .iter()
            .map(|item| {
                item_bytes(item)
                    .map(|bytes| bytes as u64)
                    .map_err(|e| AppError::MalformedItem {
                        key: self
                            .profile
                            .stored_key(item)
                            .map_or_else(|| "(no key)".to_owned(), |key| key.to_string()),
                        detail: e.to_string(),
                    })
            })
            .collect::<Result<Vec<u64>, AppError>>()?;
        let puts: Vec<(u64, u32)> = sizes
            .iter()
            .zip(items)
            .map(|(size, item)| (*size, self.profile.indexes_holding(item)))
            .collect();
        let mut stats = BatchWriteStats {
            item_bytes: sizes.iter().sum(),
            wcu_modeled: cutover_core::capacity::batch_write_wcu_indexed(&puts),
            ..BatchWriteStats::default()
        };
        for range in cutover_core::backfill::batches(&sizes) {
            let mut requests: Vec<WriteRequest> = items[range]
                .iter()
                .map(|item| {
                    let put = PutRequest::builder()
                        .set_item(Some(item_to_sdk(item)))
                        .build()
                        .map_err(|e| AppError::dynamodb("building a PutRequest", e))?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<_, AppError>>()?;
            let mut attempt = 0u32;
            while !requests.is_empty() {
                let answer = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(|e| AppError::dynamodb("BatchWriteItem", e))?;
                stats.calls += 1;
                let reported: Option<f64> = answer
                    .consumed_capacity()
                    .iter()
                    .map(|c| c.capacity_units())
                    .sum();
                if let Some(units) = reported {
                    *stats.wcu_reported.get_or_insert(0.0) += units;
                }
                requests = answer
                    .unprocessed_items()
                    .and_then(|u| u.get(&self.table))
                    .cloned()
                    .unwrap_or_default();
                if !requests.is_empty() {
                    if attempt >= UNPROCESSED_ATTEMPTS {
                        return Err(AppError::DynamoDb {
                            action: "BatchWriteItem".into(),
                            detail: format!(
                                "{} items still unprocessed after {UNPROCESSED_ATTEMPTS} retries (throughput exhausted?)",
                                requests.len()
                            ),
                            retryable: true,
                            source: None,
                        });
                    }
                    stats.unprocessed_retries += requests.len() as u64;
                    let delay = cutover_core::backfill::retry_delay(attempt, rand::random::<f64>());
                    attempt += 1;
                    tokio::time::sleep(delay).await;
                }
            }
        }
        Ok(stats)
    }

    /// One page of a strongly consistent Scan, of one segment of a parallel
    /// Scan when `segment` is `(segment, total_segments)`.
    pub async fn scan_page(
        &self,
        segment: Option<(i32, i32)>,
        start: Option<HashMap<String, AttributeValue>>,
    ) -> Result<aws_sdk_dynamodb::operation::scan::ScanOutput, AppError> {
        self.client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .set_segment(segment.map(|(segment, _)| segment))
            .set_total_segments(segment.map(|(_, total)| total))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| {
                let which = segment.map_or(String::new(), |(segment, total)| {
                    format!(" segment {segment}/{total}")
                });
                AppError::dynamodb(format!("Scan of {}{which}", self.table), e)
            })
    }

    /// Strongly consistent read of one item.
    pub async fn get(&self, key: &ItemKey) -> Result<Option<Item>, AppError> {
        self.get_stored(&self.profile.key(key)).await
    }

    /// Strongly consistent read of the item at a stored key.
    pub async fn get_stored(&self, key: &StoredKey) -> Result<Option<Item>, AppError> {
        let answer = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(&self.profile, key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AppError::dynamodb(format!("GetItem {key}"), e))?;
        answer
            .item()
            .map(|item| {
                item_from_sdk(item).map_err(|detail| AppError::MalformedItem {
                    key: key.to_string(),
                    detail,
                })
            })
            .transpose()
    }

    /// Writes `item` unless a stored item has the same or a newer version.
    /// Returns whether it was written. Refuses items over the 400 KB limit
    /// before sending.
    pub async fn put_if_newer(
        &self,
        key: &ItemKey,
        item: &Item,
        version: i64,
    ) -> Result<bool, AppError> {
        self.write_conditionally(key, item, version, NEWER_ONLY)
            .await
    }

    /// Writes `item` unless a stored item has a newer version: a repair rewrites
    /// an item of the same version that does not match PostgreSQL.
    pub async fn put_unless_newer(
        &self,
        key: &ItemKey,
        item: &Item,
        version: i64,
    ) -> Result<bool, AppError> {
        self.write_conditionally(key, item, version, UNLESS_NEWER)
            .await
    }

    /// An UpdateItem that sets every attribute the profile owns to `item`'s
    /// value and removes the owned ones `item` lacks, so attributes the app
    /// keeps and cutover does not own (another tool's, a TTL) survive a
    /// rewrite — a PutItem would drop them.
    async fn write_conditionally(
        &self,
        key: &ItemKey,
        item: &Item,
        version: i64,
        condition: &'static str,
    ) -> Result<bool, AppError> {
        let stored_key = self.profile.key(key);
        self.check_size(key.entity(), &stored_key, item)?;
        let (version_attribute, version_value) =
            self.profile.version_condition(key.entity(), version);
        let request = self
            .owned_update(key.entity(), &stored_key, item)
            .condition_expression(condition)
            .expression_attribute_names("#pk", &self.profile.table.partition_key)
            .expression_attribute_names("#version", &version_attribute)
            .expression_attribute_values(":version", crate::convert::to_sdk(&version_value));
        let result = request.send().await;
        written_unless_condition_failed(result, || format!("UpdateItem {stored_key}"))
    }

    /// Refuses an item DynamoDB would refuse (over 400 KB) before sending it;
    /// returns its size.
    fn check_size(&self, kind: EntityKind, key: &StoredKey, item: &Item) -> Result<u64, AppError> {
        let bytes = item_bytes(item).map_err(|e| AppError::MalformedItem {
            key: key.to_string(),
            detail: e.to_string(),
        })?;
        if bytes > MAX_ITEM_BYTES {
            return Err(AppError::ItemTooLarge {
                kind,
                id: key.to_string(),
                bytes,
            });
        }
        Ok(bytes as u64)
    }

    /// The UpdateItem (no condition yet) that sets every attribute the
    /// profile owns for `kind` to `item`'s value and removes the owned ones
    /// `item` lacks; every attribute the profile does not own is left as it is.
    fn owned_update(
        &self,
        kind: EntityKind,
        stored_key: &StoredKey,
        item: &Item,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let table_keys = [
            &self.profile.table.partition_key,
            &self.profile.table.sort_key,
        ];
        let mut sets = Vec::new();
        let mut removes = Vec::new();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(&self.profile, stored_key)));
        let sdk_item = item_to_sdk(item);
        for (index, name) in self
            .profile
            .owned_attributes(kind)
            .iter()
            .filter(|name| !table_keys.contains(name))
            .enumerate()
        {
            let placeholder = format!("#a{index}");
            request = request.expression_attribute_names(&placeholder, name);
            match sdk_item.get(name) {
                Some(value) => {
                    let value_placeholder = format!(":a{index}");
                    sets.push(format!("{placeholder} = {value_placeholder}"));
                    request = request.expression_attribute_values(value_placeholder, value.clone());
                }
                None => removes.push(placeholder),
            }
        }
        let mut clauses = Vec::new();
        if !sets.is_empty() {
            clauses.push(format!("SET {}", sets.join(", ")));
        }
        if !removes.is_empty() {
            clauses.push(format!("REMOVE {}", removes.join(", ")));
        }
        // (A profile owns at least its version attribute, so never neither.)
        request.update_expression(clauses.join(" "))
    }

    /// Copies `items` (all of `kind`) into the table as a backfill must:
    /// owning only the profile's attributes. Each item is one UpdateItem
    /// setting what the profile owns (`owned_update`): where no item is, that
    /// creates it whole; where one is, whatever the profile does not own —
    /// `preserve`d attributes, another tool's, a TTL — survives, byte for
    /// byte. Unconditional on versions: the caller owns the race with live
    /// writes (see the backfill). `concurrency` items are written at once; a
    /// throttled write is sent again after a jittered backoff.
    pub async fn copy_items(
        &self,
        kind: EntityKind,
        items: &[Item],
        concurrency: usize,
    ) -> Result<CopyStats, AppError> {
        use futures::{StreamExt, TryStreamExt};
        // `buffered` keeps each answer beside its item.
        let copied: Vec<Copied> = futures::stream::iter(items)
            .map(|item| self.copy_item(kind, item))
            .buffered(concurrency.max(1))
            .try_collect()
            .await?;
        let mut stats = CopyStats::default();
        for (item, copied) in items.iter().zip(copied) {
            stats.calls += 1 + u64::from(copied.throttled);
            stats.throttled_retries += u64::from(copied.throttled);
            stats.item_bytes += copied.bytes;
            stats.wcu_modeled += cutover_core::capacity::upsert_wcu_indexed(
                copied.old_bytes,
                copied.bytes,
                self.profile.indexes_holding(item),
            );
            if let Some(units) = copied.wcu_reported {
                *stats.wcu_reported.get_or_insert(0.0) += units;
            }
            match copied.old_bytes {
                None => stats.created += 1,
                Some(_) => stats.merged += 1,
            }
        }
        Ok(stats)
    }

    /// One item of `copy_items`.
    async fn copy_item(&self, kind: EntityKind, item: &Item) -> Result<Copied, AppError> {
        use aws_sdk_dynamodb::types::{ReturnConsumedCapacity, ReturnValue};
        let stored_key = self
            .profile
            .stored_key(item)
            .ok_or_else(|| AppError::MalformedItem {
                key: "(no key)".to_owned(),
                detail: "the item lacks the table's key attributes".to_owned(),
            })?;
        let bytes = self.check_size(kind, &stored_key, item)?;
        let mut throttled = 0u32;
        loop {
            let answer = self
                .owned_update(kind, &stored_key, item)
                .return_values(ReturnValue::AllOld)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| AppError::dynamodb(format!("UpdateItem {stored_key}"), e));
            match answer {
                Ok(answer) => {
                    // (Some engines answer an absent item's old image with
                    // its key alone: an item was there only if it held more.)
                    let table_keys = [
                        &self.profile.table.partition_key,
                        &self.profile.table.sort_key,
                    ];
                    let old_bytes = answer
                        .attributes()
                        .filter(|old| old.keys().any(|name| !table_keys.contains(&name)))
                        .map(|old| {
                            item_from_sdk(old)
                                .ok()
                                .and_then(|old| item_bytes(&old).ok())
                                .map_or(0, |bytes| bytes as u64)
                        });
                    return Ok(Copied {
                        old_bytes,
                        bytes,
                        wcu_reported: answer.consumed_capacity().and_then(|c| c.capacity_units()),
                        throttled,
                    });
                }
                Err(error) if error.is_transient() && throttled < UNPROCESSED_ATTEMPTS => {
                    let delay =
                        cutover_core::backfill::retry_delay(throttled, rand::random::<f64>());
                    throttled += 1;
                    tokio::time::sleep(delay).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Deletes the item if its version is `version` or older: takes back an
    /// item a copy wrote, never a newer one written since. Returns whether an
    /// item was deleted.
    pub async fn delete_if_not_newer(&self, key: &ItemKey, version: i64) -> Result<bool, AppError> {
        self.delete_if_older(
            key.entity(),
            &self.profile.key(key),
            version.saturating_add(1),
        )
        .await
    }

    /// Deletes the `kind` item at `key` unless it has a version of `version`
    /// or newer (a re-created entity). Returns whether an item was deleted.
    pub async fn delete_if_older(
        &self,
        kind: EntityKind,
        key: &StoredKey,
        version: i64,
    ) -> Result<bool, AppError> {
        let (version_attribute, version_value) = self.profile.version_condition(kind, version);
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(&self.profile, key)))
            .condition_expression("attribute_exists(#pk) AND #version < :version")
            .expression_attribute_names("#pk", &self.profile.table.partition_key)
            .expression_attribute_names("#version", version_attribute)
            .expression_attribute_values(":version", crate::convert::to_sdk(&version_value))
            .send()
            .await;
        written_unless_condition_failed(result, || format!("DeleteItem {key}"))
    }

    /// Deletes the item at `key` only if the attributes that order writes
    /// (every entity's version or `updatedAt` attribute) are as in `seen`:
    /// a rewrite since it was read keeps the item. Returns whether it was deleted.
    pub async fn delete_if_unchanged(
        &self,
        key: &StoredKey,
        seen: &Item,
    ) -> Result<bool, AppError> {
        let mut ordering: Vec<String> = EntityKind::ALL
            .iter()
            .map(|kind| self.profile.version_condition(*kind, 0).0)
            .collect();
        ordering.sort();
        ordering.dedup();
        let mut request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(&self.profile, key)))
            .expression_attribute_names("#pk", &self.profile.table.partition_key);
        let mut conditions = vec!["attribute_exists(#pk)".to_owned()];
        for (n, attribute) in ordering.iter().enumerate() {
            request = request.expression_attribute_names(format!("#o{n}"), attribute);
            match seen.get(attribute) {
                Some(value) => {
                    conditions.push(format!("#o{n} = :o{n}"));
                    request = request.expression_attribute_values(
                        format!(":o{n}"),
                        crate::convert::to_sdk(value),
                    );
                }
                None => conditions.push(format!("attribute_not_exists(#o{n})")),
            }
        }
        let result = request
            .condition_expression(conditions.join(" AND "))
            .send()
            .await;
        written_unless_condition_failed(result, || format!("DeleteItem {key}"))
    }

    /// Every item of a partition (optionally a sort-key prefix), following
    /// pagination to the end. Base-table reads are strongly consistent; index
    /// reads cannot be.
    pub async fn query(&self, query: &PartitionQuery) -> Result<Vec<Item>, AppError> {
        Ok(self
            .filtered_query(query, None, query.index.is_none())
            .await?
            .items)
    }

    /// Sessions of `campaign` that pass `filter` (substring or token search):
    /// a strongly consistent Query on the campaign partition, followed to the
    /// last page. The filter runs after the read, so `scanned` counts what was
    /// paid for and `items` what came back. A token query of no lexemes
    /// matches nothing and reads nothing.
    pub async fn search_sessions(
        &self,
        campaign: &cutover_core::keys::Id,
        filter: &SearchFilter,
    ) -> Result<Result<SearchResult, SearchRefusal>, AppError> {
        if filter.matches_nothing() {
            return Ok(Ok(SearchResult::default()));
        }
        let expression = match filter.expression() {
            Ok(expression) => expression,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let query = self.profile.sessions_of(campaign);
        self.filtered_query(&query, expression.as_ref(), true)
            .await
            .map(Ok)
    }

    /// One Query (base table or index) with an optional FilterExpression,
    /// followed to the last page, keeping what each page read, returned and
    /// was charged as the engine reports it.
    pub async fn filtered_query(
        &self,
        query: &PartitionQuery,
        filter: Option<&FilterExpression>,
        consistent: bool,
    ) -> Result<SearchResult, AppError> {
        let mut result = SearchResult::default();
        let mut start = None;
        loop {
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(query.index.clone())
                .consistent_read(consistent)
                .return_consumed_capacity(aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total)
                .expression_attribute_names("#p", &query.partition_attribute)
                .expression_attribute_values(":p", AttributeValue::S(query.partition_key.clone()))
                .set_exclusive_start_key(start);
            request = match &query.sort_key_prefix {
                Some(prefix) => request
                    .key_condition_expression("#p = :p AND begins_with(#s, :prefix)")
                    .expression_attribute_names("#s", &query.sort_attribute)
                    .expression_attribute_values(":prefix", AttributeValue::S(prefix.clone())),
                None => request.key_condition_expression("#p = :p"),
            };
            if let Some(filter) = filter {
                request = request.filter_expression(&filter.expression);
                for (placeholder, name) in &filter.names {
                    request = request.expression_attribute_names(placeholder, name);
                }
                for (placeholder, value) in &filter.values {
                    request = request
                        .expression_attribute_values(placeholder, AttributeValue::S(value.clone()));
                }
            }
            let page = request
                .send()
                .await
                .map_err(|e| AppError::dynamodb(format!("Query {}", query.partition_key), e))?;
            let page_rcu = page.consumed_capacity().and_then(|c| c.capacity_units());
            result.pages.push(PageStats {
                scanned: page.scanned_count().max(0) as u64,
                returned: page.count().max(0) as u64,
                rcu_reported: page_rcu,
            });
            for item in page.items() {
                result.items.push(item_from_sdk(item).map_err(|detail| {
                    AppError::MalformedItem {
                        key: query.partition_key.clone(),
                        detail,
                    }
                })?);
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(result);
            }
        }
    }

    /// The items (at most one, if the app is right) whose share token is `token`.
    pub async fn query_share_token(&self, token: &str) -> Result<Vec<Item>, AppError> {
        let Some((index, attribute)) = self.profile.share_token_index() else {
            return Err(AppError::Invalid {
                field: "share token",
                reason: format!("profile {:?} has no share-token index", self.profile.name),
            });
        };
        let answer = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#t = :t")
            .expression_attribute_names("#t", attribute)
            .expression_attribute_values(":t", AttributeValue::S(token.to_owned()))
            .send()
            .await
            .map_err(|e| AppError::dynamodb("Query by share token", e))?;
        answer
            .items()
            .iter()
            .map(|item| {
                item_from_sdk(item).map_err(|detail| AppError::MalformedItem {
                    key: "shareToken".into(),
                    detail,
                })
            })
            .collect()
    }
}
