//! Starts the engines cutover tests against and hands out ready clients.
//!
//! **Architecture invariant:** this crate is the only place that knows how an
//! engine is started — which binary, container, port or credential. Everything
//! else receives an [`Engines`] (the running servers) and opens a [`Sandbox`] on
//! it (one run's database, tables and buckets, with clients bound to them).
//!
//! Two lifetimes, on purpose: engines are shared (one per test binary, or per
//! `cutover` command) and run on their own runtime; sandboxes are per run or per
//! test, are cheap, and isolate by name so any number can share an engine.

pub mod aws;
pub mod docker;
pub mod doctor;
pub mod dynamodb;
mod engines;
pub mod error;
mod netns;
pub mod postgres;
pub mod process;
pub mod roundtrip;
mod runtime;
pub mod s3;
mod sandbox;
mod scratch;
pub mod settings;

pub use engines::{Engines, Restarted};
pub use error::BackendError;
pub use sandbox::{CleanupReport, Reopen, Sandbox, new_run_id};
pub use settings::Plan;
