//! The media shelf's migration from DynamoDB into PostgreSQL / Aurora DSQL,
//! with real engines: the source table and its indexes, the target schema,
//! a resumable batched migration that retries optimistic-concurrency
//! conflicts, and its verification. The item rules are
//! `cutover_core::media`; this crate moves and reads.

pub mod migrate;
pub mod occ;
pub mod queries;
pub mod run;
pub mod schema;
pub mod target;
pub mod verify;
