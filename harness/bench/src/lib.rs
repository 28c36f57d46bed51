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

pub mod backfill;
pub mod memory;
pub mod startup;
pub mod throughput;
pub mod validator;

pub use validator::{ENTITIES_PER_USER, dataset};

#[cfg(test)]
mod render_tests;
