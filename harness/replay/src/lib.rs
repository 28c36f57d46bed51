//! Replays a generated workload through the dual-write path, measures it, and
//! checks what the stores hold afterwards.
//!
//! The workload is streamed from the generator to a fixed set of workers over
//! bounded channels; each user's operations go to one worker, in order, so the
//! run is as concurrent as the scenario allows and memory stays flat however
//! many operations it has.

pub mod blame;
pub mod checks;
pub mod driver;
mod engine;
pub mod faults;
mod in_run;
pub mod record;
pub mod rollback;
pub mod run;
mod settle;
mod versions;

pub use engine::{
    ReplayError, ReplayOptions, app_mode, replay, replay_through, replay_with_faults, worker_for,
};
pub use record::{CheckResult, KindStats, ReplayRecord};
