//! The media shelf's migration from DynamoDB into PostgreSQL / Aurora DSQL,
//! with real engines: the source table and its indexes, the target schema,
//! a resumable batched migration that retries optimistic-concurrency
//! conflicts, and its verification. The item rules are
//! `cutover_core::media`; this crate moves and reads.
//!
//! # Code map
//!
//! - `schema`: `TARGET_DDL` / `install_target` (the seed's `items` table and indexes),
//!   `create_source_table` (hash key `type:id`, the eight GSIs).
//! - `target`: `upsert` (one UNNEST statement per page; identical rows untouched), `read_all`,
//!   `row_to_item`.
//! - `occ`: `with_retry` — reruns a whole transaction on SQLSTATE 40001/40P01 with backoff and
//!   jitter, as Aurora DSQL requires.
//! - `migrate`: `Source` (table or backup directory), `Checkpoint` (persisted after each
//!   committed page), `migrate` (two passes: seasons last; `screen` rejects what the target
//!   would refuse, naming key and reason).
//! - `verify`: `read_source` (the whole source, unreadable items named by `type:id`),
//!   `verify_items` (against the whole target, through `cutover_core::media::parity::compare`);
//!   a run reads the source once for both the parity check and the query comparison.
//! - `queries`: `old_app` (the GSIs, paged by Limit and LastEvaluatedKey), `new_app` (the SQL,
//!   paged by LIMIT/OFFSET), `check` (both against `cutover_core::media::queries::oracle`),
//!   `queries_for` (the patterns worth asking of a shelf).
//! - `run`: `migrate_shelf(sandbox, ShelfRun, progress) -> ShelfReport` — the whole of
//!   `cutover migrate media`: the source (`ShelfSource`: an existing table, a generated one in
//!   the sandbox, a backup), the target schema, the migration, its verification and the query
//!   comparison; `ShelfReport` renders its Markdown and JSON and says whether the run passed.
//!
//! **Architecture invariant:** a page is one transaction and the checkpoint moves only after
//! it commits; upserts are idempotent, so replaying any page is harmless.

pub mod migrate;
pub mod occ;
pub mod queries;
pub mod run;
pub mod schema;
pub mod target;
pub mod verify;
