//! The parity validator: reads DynamoDB with a parallel Scan and PostgreSQL by
//! id (in batches, one query per page and entity type) and keyset pagination,
//! maps both to one canonical form and compares them field by field
//! (`cutover_core::parity`). Findings on entities with pending outbox records,
//! or that resolve on a re-check after a grace period, are in-flight, not loss.
//!
//! Memory grows with the number of entity ids (the set of ids seen in
//! DynamoDB, to find what PostgreSQL has and DynamoDB lacks), never with their
//! content: items and rows are compared a page at a time.
//!
//! # Code map
//!
//! - `validate(app, options)`: segmented parallel Scan; per page, one PostgreSQL query per
//!   entity type (`PgStore::entities_by_ids`); an item at a key PostgreSQL does not hold its
//!   entity at is DynamoDB-only and does not count as seeing the entity; keyset pages
//!   (`PgStore::ids_after`) for what the scan did not see; an S3 listing for orphans; then the
//!   split: stuck writes (`ParityOptions::stuck_after`/`stuck_attempts`) are persistent,
//!   other pending records in-flight, the rest re-checked at the key they were found at after
//!   `grace`. A batch of rows with one that does not decode is re-read one id at a time, and
//!   the bad row is a `malformed-row` finding. The rules (`compare_entity`'s `Stale`,
//!   `PendingWrite::is_stuck`, `Tally`'s one denominator, `report::passes`) are pure and
//!   unit-tested.
//! - `spill`: `SortedSpill` — the validator's key sets (ids seen, object pointers, the
//!   listing, PostgreSQL's ids) buffered to a budget, then sorted runs in anonymous temp files,
//!   read back as a k-way merge in byte order; `only_in_left` is the merge that finds what one
//!   side lacks. Both sides are sorted by cutover, so PostgreSQL's collation never matters.
//! - `ParityReport`: `to_markdown`, `to_junit`, serialized to JSON by the CLI; its
//!   `Leftovers` list every persistent finding in full for `repair`.
//! - `profile_check::check_profile(app, options)`: `cutover profile check` — the profile
//!   against live stores (`information_schema` columns and types, a sample of rows and
//!   items decoded, ids colliding under the key casing, the table's keys and indexes, the
//!   bucket); every problem a `ProfileFinding` naming its table and column or item key.
//! - `repair(app, report, options, delete_dynamodb_only)`: `Relay::repair_entity` per entity
//!   (the same mapping and S3 path, `DynamoStore::put_unless_newer`), then `validate` again.
//!
//! **Architecture invariant:** a mismatch is a `Finding` in the report (a PostgreSQL row that
//! does not decode included); `Err` only means the validator could not read a store.
//!
//! **Architecture invariant:** the validator's memory does not grow with the table: every set
//! that does is a `SortedSpill`; what grows in memory is only the findings.

pub mod profile_check;
mod repair;
mod report;
pub mod spill;
mod validate;

pub use profile_check::{ProfileCheckOptions, ProfileCheckReport, check_profile};
pub use repair::{RepairReport, repair};
pub use report::{Leftovers, ParityReport};
pub use validate::{OBJECT_CONCURRENCY, ParityOptions, TranscriptCheck, validate};
