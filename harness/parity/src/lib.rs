//! The parity validator: reads DynamoDB with a parallel Scan and PostgreSQL by
//! id (in batches, one query per page and entity type) and keyset pagination,
//! maps both to one canonical form and compares them field by field
//! (`cutover_core::parity`). Findings on entities with pending outbox records,
//! or that resolve on a re-check after a grace period, are in-flight, not loss.
//!
//! Memory grows with the number of entity ids (the set of ids seen in
//! DynamoDB, to find what PostgreSQL has and DynamoDB lacks), never with their
//! content: items and rows are compared a page at a time.

pub mod profile_check;
mod repair;
mod report;
pub mod spill;
mod validate;

pub use profile_check::{ProfileCheckOptions, ProfileCheckReport, check_profile};
pub use repair::{RepairReport, repair};
pub use report::{Leftovers, ParityReport};
pub use validate::{OBJECT_CONCURRENCY, ParityOptions, TranscriptCheck, validate};
