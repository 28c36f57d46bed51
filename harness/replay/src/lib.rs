//! Replays a generated workload through the dual-write path, measures it, and
//! checks what the stores hold afterwards.
//!
//! The workload is streamed from the generator to a fixed set of workers over
//! bounded channels; each user's operations go to one worker, in order, so the
//! run is as concurrent as the scenario allows and memory stays flat however
//! many operations it has.
//!
//! # Code map
//!
//! - `engine`: `replay(app, scenario, options)` — the dispatcher hashes each operation's user
//!   to one of `concurrency` workers over bounded channels (per-user order kept, memory flat);
//!   workers record counts and HDR latency per operation kind, the driver's time included.
//!   Every operation goes through a `driver::Driver` and ends as a `Performed` (ok, rejected,
//!   failed with `retryable`); workers retry retryable failures for up to 60 s, as the app's
//!   clients would. `replay_with_faults` (built-in path) and `replay_through(driver, stores, …,
//!   rig)` (any driver) run the same loop while `faults::drive` fires the scenario's faults.
//!   The dispatcher feeds the model (`Model::apply` returns the entities a write touched,
//!   cascades included) and workers keep each entity's last write (`blame::WriteLog`).
//!   Where the model is kept, the dispatcher also hands each read the answer it must get
//!   (`in_run::expectation`: a stranger's read must find nothing; any other read any version
//!   `cutover_core::window::Window` holds of what it covers since the last drained settle
//!   point) and workers narrow it to the versions since each entity's last write made with
//!   no fault in force (`faults::FaultWatch` marks each write; exactly the model's answer
//!   where no fault intervened) and judge the answer as it comes back (`in_run::Verdicts` →
//!   the checks `in-run-reads` and `isolation`, each wrong answer named by op, user and both
//!   answers). A read runs on the worker of whoever owns what it names
//!   (`in_run::Owners`, which remembers the owners of deleted entities too), in order with the
//!   owner's writes, so a stranger's expected answer is exact too. A share link is opened by
//!   its live token, or (`revoked`) by the one last revoked (`ShareLinks`): the generator
//!   follows each unshare with an open of the revoked link, and another user's open later,
//!   and each delete with reads of the entity and one of its children.
//! - `versions`: `VersionWatch`, per worker: the writes each entity had and the `updated_at`
//!   it was last shown with; an answer that shows it again after a write with the same or an
//!   older version is a finding (`versions-advance`). Answers that may lag are not judged.
//! - `settle`: in a run with faults, when each fault after the first is due (`faults::due`,
//!   counted in operations sent) the dispatcher sends every worker a barrier, the driver
//!   drains, and parity and PostgreSQL-against-the-model judge what the fault before did
//!   (`settle-points`); the fault driver fires the next fault only then (`SettleGate`). A
//!   settle point with a fault still armed is skipped, and says so.
//! - `driver`: `Driver::{BuiltIn, External, ReadsOnly}`; `ProcessDriver` runs a command that
//!   speaks the protocol of `cutover_core::driver` (JSON lines; results matched by id,
//!   pipelined; per-operation timeout; a malformed line, an unknown id, an exit or a hang is
//!   a `DriverError` that stops the run; its own process group, killed on close or drop);
//!   `start_external` (table and bucket created as the profile lays them out, `hello` with
//!   the proxies' endpoints, a reads-only driver paired with the built-in path for writes);
//!   `stores_for_driver` (the harness's own view of the driver's stores, through the profile).
//! - `faults`: `FaultRig::start` (the engines to restart, the `Injector`, the proxies),
//!   `instrumented_app` (SDK clients instrumented, PostgreSQL through the proxy), `drive` and
//!   `settle` (each fault's `FaultRecord` and what the path did until the next);
//!   `faults::inject`: `Injector` — the armed faults and counters per service, an `HttpClient`
//!   wrapper that answers for the engine (throttling, `SlowDown`, timeouts) and an SDK
//!   interceptor that replaces a real answer after the engine applied it
//!   (`dynamodb-server-error`). `faults::proxy`: the same faults for any client — an HTTP
//!   proxy per AWS service (operations and retries read off `amz-sdk-request`) and a
//!   PostgreSQL wire-protocol proxy (`postgres-reset` before a statement reaches the server,
//!   `postgres-commit-lost` after a `COMMIT` was applied, `postgres-latency`); latency faults
//!   hold requests on either path.
//! - `blame`: joins each failed check's entities (`CheckResult::entities`) with the last write
//!   that touched them and the latest fault fired before that write ended (`Suspect`), for the
//!   record's "Lost or divergent writes".
//! - `checks`: `drained` (the driver's `drain`: the built-in relay, a driver's background
//!   work), `read_parity` (built-in: PostgreSQL against DynamoDB and S3) or
//!   `driver_read_parity` (an external driver's answers against the model), both over every
//!   access pattern, keyword search included: each campaign searched for a word of its first
//!   session's name (`cutover_core::driver::search_probes`), judged by the other store or by
//!   the model's own search (`Model::search_sessions`); `parity`, `no_lost_writes` (PostgreSQL, read through the profile, against the
//!   model the dispatcher fed in each user's order), `faults_happened`. `record`:
//!   `ReplayRecord` and its Markdown.
//! - `rollback`: `drill(driver, stores, rig, scenario, plan)` — `DrillPlan::writes_to_run`
//!   refuses a switch the workload never reaches; dual writes through any driver, then the
//!   switch: the driver's `drain` (what is pending), `PostgresOnly` (`Driver::set_mode`: the
//!   protocol's `mode` for an external one), DynamoDB and S3 cut off (`Injector::cut_off`, at
//!   the fault proxies and the instrumented SDK clients; requests counted), and the stores read
//!   (`rollback::observe`: parity and PostgreSQL against the model at the switch, every item
//!   and object fingerprinted). Then the workload's writes and reads, each read judged against
//!   the model, and every access pattern at the end (`checks::driver_read_parity`); PostgreSQL
//!   against the workload's model (`Model::differences`, `cutover_app::model_view`), what
//!   changed in the stores since the switch, and DynamoDB's items sorted into
//!   deleted-since-the-switch and only-in-DynamoDB. `RollbackReport::passed` / `failures`.
//! - `run`: `run_scenario(engines, sandbox, scenario, options, profile, performer)` — the one
//!   call behind `cutover replay`: `Performer::BuiltIn` (the app, instrumented when the
//!   scenario has faults) or `Performer::External` (a driver behind the fault proxies); the
//!   record names the engines that served it and the build. `run_rollback_drill`, behind
//!   `cutover rollback-drill`, drills either performer the same way.
//!
//! **Architecture invariant:** the generator is pure and lazy; nothing on the replay path
//! collects the workload.

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
