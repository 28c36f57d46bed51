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
//!
//! # Code map
//!
//! - `settings`: reads `cutover.toml` and the environment (`load`), resolves `auto` by probing
//!   the machine (`Plan::resolve`).
//! - `engines`: `Engines::start(&Plan)` starts the three in parallel (`Engines::shutdown().await`
//!   stops them without blocking the caller's runtime; dropping blocks); on partial failure it
//!   stops what started and reports every failure (`BackendError::Several`).
//!   `Engines::restart(engine, down)` crashes an engine the harness runs (PostgreSQL: SIGQUIT;
//!   DynamoDB Local: SIGKILL; Dynoxide: its HTTP server stopped) and starts it again on the
//!   same endpoint over the same data, spawning the new process on the engine runtime.
//! - `postgres`: `PostgresEngine`; `postgres::ephemeral` makes the initdb cluster
//!   (`ServerBinaries::locate`, an unprivileged `ServerAccount` when running as root).
//! - `dynamodb`: `DynamoDbEngine` (Dynoxide in-process, DynamoDB Local, container, endpoint);
//!   `dynamodb::local` finds, fetches (`fetch_into_cache`) and runs DynamoDB Local — as root
//!   inside a private network namespace, reached through a loopback bridge (`netns`), since it
//!   cannot be told to bind loopback only.
//! - `s3`: `S3Engine`; `s3::embedded` serves s3s-fs over loopback HTTP.
//! - `aws`: `AwsEndpoint` — URL, region, credentials (`local_credentials`, the key every
//!   local engine gets) — and the SDK clients built from it (rustls with ring, `sdk_timeouts`).
//! - `sandbox`: `Sandbox::open` (refuses a run id that already names resources,
//!   `BackendError::RunExists`), `Sandbox::open_with(.., Reopen::Yes)` (uses them and keeps
//!   them), `Sandbox::claim_table` / `claim_bucket` (records what the run created; on shared
//!   endpoints tags it with the run id and the sandbox's 128-bit owner token),
//!   `Sandbox::close` → `CleanupReport` (with what it left to its owner), and
//!   `Sandbox::scoped(engines, async |sandbox| ...)` (a fresh sandbox closed whatever the work
//!   returned; the benchmarks' phases use it).
//! - `roundtrip`: a real write-and-read-back on each engine (`cutover check`, tests).
//! - `doctor`: `examine()` lists what each provisioner needs and the remedy.
//! - `process`, `scratch`, `runtime`, `docker`: child processes that die with the harness
//!   (`RestartableChild`: crashed and started again in place, for `Engines::restart`;
//!   `run_measuring_peak_rss`: a cutover child's own peak RSS (`VmHWM`, which it writes at exit), for the memory benchmark),
//!   scratch directories swept when their owner is gone, the engine runtime, the Docker probe.
//!
//! **Architecture invariant:** only `cutover-backends` knows how an engine is started —
//! binaries, containers, ports, credentials. Everything else receives `Engines` and a
//! `Sandbox`.
//!
//! **Architecture invariant:** everything a run creates on an engine is named from its
//! `RunId`, and nothing else is ever deleted by cleanup (`RunId::owns`) — nor what the id
//! already named when the run opened, nor, on a shared endpoint, anything the sandbox did not
//! claim or whose owner tag is no longer its token.
//!
//! **Architecture invariant:** child servers start with an allow-listed environment
//! (`process::server_environment`); files cutover creates in a directory another account owns
//! are opened with `O_NOFOLLOW` and handed over by descriptor (`process::open_log`).

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
