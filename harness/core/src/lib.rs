//! The pure logic of cutover.
//!
//! **Architecture invariant:** this crate does no IO. It opens no files, sockets or
//! processes and reads no clock or environment variable; callers hand it text and
//! lookups. That keeps every rule here testable in milliseconds.

pub mod backfill;
pub mod campaign_item;
pub mod capacity;
pub mod command;
pub mod domain;
pub mod driver;
pub mod input;
pub mod item_size;
pub mod keys;
pub mod media;
pub mod model;
pub mod naming;
pub mod normalize;
pub mod parity;
pub mod prices;
pub mod profile;
pub mod provision;
pub mod relay;
pub mod search;
pub mod window;
pub mod workload;

/// How this build of cutover was compiled: `debug` or `release`. Timings in
/// every report depend on it, so reports say which (a compile-time fact, not
/// the environment).
pub fn build_profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}
