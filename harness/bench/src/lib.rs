//! cutover's benchmarks, apart from the library crates they measure so that
//! none of those depends on another only to be benchmarked. Measurement
//! only: each `measure` returns figures, the CLI (`cutover bench ...`) writes
//! the reports to `reports/`, and no test times anything.
//!
//! - `startup`: each provisioner's start-up wall time;
//! - `throughput`: the dual-write path against each store doing the same writes alone;
//! - `validator`: the parity validator's rate against a plain read of both sides
//!   and the seeds' naive approach; `dataset`, the generated campaigns it loads;
//! - `memory`: the validator's peak RSS against the table's size;
//! - `backfill`: the backfill's throughput against each target written alone.
//!
//! # Code map
//!
//! The benchmarks, apart from the crates they measure, so no library depends on another only
//! to be benchmarked. Each `measure` returns figures; `cutover bench ...` writes the reports.
//! - `startup`: each provisioner's start-up wall time over several runs.
//! - `throughput`: the dual-write path against each store doing the same writes alone; the
//!   single-store writes derived from the model before the clock starts (the cascade is
//!   `Model::cascade`'s, read before each command applies).
//! - `validator`: the validation rate (the dual app installed in the caller's sandbox,
//!   `PgStore::load` and `DynamoStore::batch_put`, then the validator, a raw read, and the
//!   seeds' naive approach); `dataset`, the generated campaigns.
//! - `memory`: the validator's peak RSS against entity count, on a `cutover parity` child
//!   that the caller's closure builds for the installed app's table and bucket.
//! - `backfill`: `dataset` in PostgreSQL alone, the backfill, parity, then each target written alone.
//!
//! Each report type renders its own Markdown (`to_markdown(header, ...)`; the caller's header
//! carries the timestamp, machine and engines) and states its aim (`throughput::TARGET_RATIO`,
//! `memory::TARGET_PEAK_RSS_MIB`, `startup::EMBEDDED_TARGET_MS`); `render_tests` snapshots
//! each renderer from fixed figures.

pub mod backfill;
pub mod memory;
pub mod startup;
pub mod throughput;
pub mod validator;

pub use validator::{ENTITIES_PER_USER, dataset};

#[cfg(test)]
mod render_tests;
