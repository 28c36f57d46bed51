//! The migration under test: a Rust reference of the campaign app's data layer.
//!
//! PostgreSQL is the source of truth (`pg`); DynamoDB holds one table (`dynamo`)
//! whose keys come from `cutover_core::keys`; transcripts live in S3 behind a
//! pointer (`transcripts`). Writes go through PostgreSQL and a transactional
//! outbox, then DynamoDB and S3 (`app`, `relay`). Reads exist on both sides
//! (`reads`) with the same answers, so they can be compared.
//!
//! # Code map
//!
//! - `pg`: `PgStore` — over a database and two profiles: the *schema* its rows are read
//!   through (`new`/`with_profile`: the reference app's; `of_app`: an app's own, such as the
//!   Prisma-style one) and the item layout its outbox keys and size checks use. Reads
//!   (`entities_by_ids`, `entities_with_transcripts_by_ids`, `versions_by_ids` — what
//!   orders each entity's writes —, `ids_after`, `entity_count`) go through the schema;
//!   `pg::rows` decodes each column by its declared type, `pg::scans` holds the many-row
//!   reads. The reference app's writes — migrations (`MIGRATOR`), `pg::load`,
//!   `execute(&Command, outbox)`: the write rules (`Command::check`, refused before the
//!   transaction), then one transaction per command (`pg::writes::Writer`, one function per
//!   command) recording each changed entity and its outbox record (`pg::outbox::Recorder`,
//!   with the pre-commit item-size check) — refuse any other schema. Updates move
//!   `updated_at` at least a millisecond past the row's own, so an `updatedAt`-ordered
//!   layout tells two updates in one millisecond apart.
//! - `dynamo`: `create_string_keyed_table` (every table above the backends crate: the app's, the
//!   search-cost sweep's, the media source), `DynamoStore` (a table read and written through
//!   its `Profile`; `new` is the reference app's) — `create_table` (the profile's layout), `get`,
//!   `put_if_newer`, `put_unless_newer` (UpdateItems that set the profile's attributes and keep
//!   every other one the item has),
//!   `delete_if_older`, `query`, `query_share_token`, `search_sessions`, `filtered_query`
//!   (every Query, with per-page ScannedCount, Count and ConsumedCapacity), `scan_page`
//!   (every Scan in the harness), `copy_items` (the backfill's write: `owned_update`, the
//!   UpdateItem that sets only what the profile owns, creating or merging; its old image says
//!   which and what it cost — `CopyStats`), `batch_write` (25 items / 16 MB per call, unprocessed items retried
//!   with jitter, WCU reported and modeled; only into tables cutover created itself) and `batch_put`.
//! - `transcripts`: `TranscriptStore` — content-addressed puts (multipart from 8 MiB),
//!   `get_verified`, `digest` (size and SHA-256 of an object as it streams),
//!   `delete_listed_except` (deletes only the listed keys the caller's predicate accepts),
//!   `inventory` (every key with its size and ETag).
//! - `relay`: `Relay::apply_entity` (state-based apply under a per-entity advisory lock:
//!   reads the row, its records and the stored items, then performs `cutover_core::relay::plan`),
//!   `run_once`, `drain`, `pending_entities` / `pending_writes` (age, attempts, last error:
//!   what tells a write in flight from a stuck one), `repair_entity`, `reconcile_copy` (after a
//!   backfill batch: the entity's current state again, what the copy wrote taken back), and
//!   repair's removals `remove_dynamodb_only`, `remove_malformed`, `remove_orphan` (each
//!   re-reads under the entity's lock and deletes only what is still as seen, `Removal`),
//!   and `object_in_use` (the validator's re-check of an orphan, the same test as
//!   `remove_orphan`'s; `Profile::transcript_owner` reads the session from an object key).
//! - `reads`: `Read`/`Answer`, `PgReads` and `DynamoReads` (same answers from both stores).
//!   `Entity` converts to and from each kind (`From`/`TryFrom`, in core's `domain`).
//! - `app`: `App` (`install`, `install_with_profile` — the dual-write path writing another
//!   profile's item layout; PostgreSQL stays the reference schema with its outbox —,
//!   `execute`, `read`, `read_as`, `Mode`, `Stats`). `Command`, `Read`, `Answer` and `Outcome`
//!   are `cutover_core::command`'s.
//! - `access`: reads on behalf of a user — `allowed` (the requester owns what `Read::subject`
//!   names, looked up on the serving store; share links are public) and `read_as` (else
//!   `Read::empty_answer`, so a foreign id reads like a missing one).
//! - `model_view`: `postgres_as_model`, PostgreSQL read as the in-memory model sees it.
//! - `convert`: the only conversion between `AttrValue` and the SDK's `AttributeValue`.
//!
//! The relay holds an entity's advisory lock (and so its transaction) across the DynamoDB
//! and S3 calls of an apply, on purpose: the lock is what keeps two applies of one entity from
//! interleaving their writes. It is bounded instead of released: every SDK call has attempt and
//! operation timeouts (`cutover_backends::aws::sdk_timeouts`), and the transaction sets
//! `lock_timeout`, `statement_timeout` and `idle_in_transaction_session_timeout`
//! (`relay::TransactionBounds`, 60 s / 60 s / 900 s by default); a writer that cannot get the
//! lock in time fails transiently and its records stay pending (tests stall a lock holder and an
//! engine and see both calls end at their bounds). Every holder of the lock takes it through one
//! expression (`relay::ENTITY_LOCK_SQL`). `AppError::is_transient` retries only throttling, 5xx answers,
//! timeouts and connection failures (`error::StoreFailure`), and every store error keeps its
//! cause as `source`.
//!
//! **Architecture invariant:** DynamoDB and S3 are only ever written to match PostgreSQL's
//! current row of an entity, under that entity's advisory lock (`Relay::apply_entity`), and
//! item writes are conditional on the version (the profile's `versions` attribute: a version
//! number, or `updatedAt` — deletes at a stale key then compare the relay's read time). Applying is therefore idempotent and
//! order-free: a late or repeated apply never replaces a newer state.

pub mod access;
pub mod app;
mod convert;
pub mod dynamo;
pub mod error;
pub mod model_view;
pub mod pg;
pub mod reads;
pub mod relay;
pub mod transcripts;

pub use app::{App, BUCKET_PURPOSE, Mode, TABLE_PURPOSE};
pub use convert::{item_from_sdk, item_to_sdk};
pub use cutover_core::command::{Answer, Change, Command, Outcome, Read};
pub use error::AppError;
