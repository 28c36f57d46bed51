//! Fault injection during a replay: the scenario's `[[faults]]` fire while the
//! workload runs, and the run record lists each one — when it fired, what was
//! done to which engine, and what the dual-write path did meanwhile (SDK
//! retries, writes left to the relay, client retries, failed operations).

pub mod inject;
pub mod proxy;

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cutover_app::{App, Mode};
use cutover_backends::{Engines, Sandbox};
use cutover_core::provision::Engine;
use cutover_core::workload::{Fault, FaultKind, FaultSize, FaultTarget, RunLength};
use serde::Serialize;

pub use inject::{INJECTED_TIMEOUT, Injector, ServiceCounters};
pub use proxy::FaultProxies;

/// What a replay needs to inject faults: the engines (to restart them), the
/// injector that arms them, and the fault proxies in front of the engines.
pub struct FaultRig<'a> {
    pub engines: &'a Engines,
    pub injector: Arc<Injector>,
    pub proxies: FaultProxies,
}

#[derive(Debug, thiserror::Error)]
pub enum RigError {
    #[error("the fault proxy needs {service} at an HTTP endpoint; this run uses real AWS")]
    NoEndpoint { service: &'static str },
    #[error("the run's PostgreSQL URL names no reachable address: {0}")]
    PostgresAddress(String),
    #[error("starting the fault proxies: {0}")]
    Listen(#[from] std::io::Error),
}

impl<'a> FaultRig<'a> {
    /// A fresh injector and the proxies in front of `sandbox`'s engines.
    pub async fn start(engines: &'a Engines, sandbox: &Sandbox) -> Result<FaultRig<'a>, RigError> {
        let injector = Injector::new();
        let dynamodb = sandbox
            .dynamodb_endpoint
            .url
            .clone()
            .ok_or(RigError::NoEndpoint {
                service: "DynamoDB",
            })?;
        let s3 = sandbox
            .s3_endpoint
            .url
            .clone()
            .ok_or(RigError::NoEndpoint { service: "S3" })?;
        let postgres = postgres_address(&sandbox.pg_url).await.ok_or_else(|| {
            RigError::PostgresAddress(cutover_backends::postgres::redact_password(&sandbox.pg_url))
        })?;
        let proxies = FaultProxies::start(&injector, &dynamodb, &s3, postgres).await?;
        Ok(FaultRig {
            engines,
            injector,
            proxies,
        })
    }
}

/// The server address a PostgreSQL URL names.
async fn postgres_address(url: &str) -> Option<std::net::SocketAddr> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    tokio::net::lookup_host(host_port).await.ok()?.next()
}

/// The app on a sandbox's stores (not installed), its SDK clients
/// instrumented by the rig's injector and its PostgreSQL connections made
/// through the rig's proxy.
pub fn instrumented_app(
    sandbox: &Sandbox,
    mode: Mode,
    rig: &FaultRig<'_>,
    profile: std::sync::Arc<cutover_core::profile::Profile>,
) -> App {
    let pool = rig
        .proxies
        .postgres_url(&sandbox.pg_url)
        .and_then(|url| {
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(sandbox.pg.options().get_max_connections())
                .connect_lazy(&url)
                .ok()
        })
        .unwrap_or_else(|| sandbox.pg.clone());
    let injector = &rig.injector;
    App::new(
        cutover_app::pg::PgStore::with_profile(pool, profile.clone()),
        cutover_app::dynamo::DynamoStore::with_profile(
            injector.instrument_dynamodb(&sandbox.dynamodb),
            sandbox.table_name(cutover_app::TABLE_PURPOSE),
            profile,
        ),
        cutover_app::transcripts::TranscriptStore::new(
            injector.instrument_s3(&sandbox.s3),
            sandbox.bucket_name(cutover_app::BUCKET_PURPOSE),
        ),
        mode,
    )
}

/// Whether a fault is in force, as the workers see it around each write: an
/// app may lag in what it wrote while one was (its relay catches up later),
/// so the owner's reads after such a write are judged against every version
/// since the stores last settled, and the others exactly (`in_run`).
#[derive(Debug)]
pub(crate) struct FaultWatch {
    /// Faults fired so far.
    fired: AtomicU64,
    /// Engine restarts under way.
    restarting: AtomicU64,
    injector: Arc<Injector>,
}

/// What [`FaultWatch::mark`] saw before an operation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WatchMark {
    fired: u64,
    in_force: bool,
}

impl FaultWatch {
    pub(crate) fn new(injector: Arc<Injector>) -> FaultWatch {
        FaultWatch {
            fired: AtomicU64::new(0),
            restarting: AtomicU64::new(0),
            injector,
        }
    }

    /// Whether a fault is in force now: an engine restarting, or injected
    /// requests not yet spent.
    fn in_force(&self) -> bool {
        self.restarting.load(Ordering::SeqCst) > 0
            || [
                FaultTarget::Dynamodb,
                FaultTarget::S3,
                FaultTarget::Postgres,
            ]
            .into_iter()
            .any(|target| self.injector.unspent(target) > 0)
    }

    /// Taken before an operation, for [`FaultWatch::fault_since`].
    pub(crate) fn mark(&self) -> WatchMark {
        WatchMark {
            fired: self.fired.load(Ordering::SeqCst),
            in_force: self.in_force(),
        }
    }

    /// Whether a fault was in force at any moment since `mark`: at it, now,
    /// or fired in between.
    pub(crate) fn fault_since(&self, mark: WatchMark) -> bool {
        mark.in_force || self.fired.load(Ordering::SeqCst) != mark.fired || self.in_force()
    }
}

/// Counters the replay's workers keep (the progress line and the fault
/// reports read them).
#[derive(Debug, Default)]
pub(crate) struct PathCounters {
    /// Operations tried again by the client after a transient failure.
    pub client_retries: AtomicU64,
    /// Operations that failed for good.
    pub operations_failed: AtomicU64,
    /// Operations completed (ok, refused or failed).
    pub operations_done: AtomicU64,
    /// Writes refused as already done on a retry after a failed attempt
    /// (which had committed after all).
    pub writes_resolved_on_retry: AtomicU64,
}

/// What the dual-write path did between a fault and the next one (or the end
/// of the workload): the difference of the counters at those two instants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PathReaction {
    pub operations: u64,
    pub dynamodb: ServiceCounters,
    pub s3: ServiceCounters,
    /// Statements through the fault proxy (PostgreSQL's own clients count none).
    pub postgres: ServiceCounters,
    /// Entities whose DynamoDB/S3 write failed after the PostgreSQL commit and
    /// were left to the relay (the outbox keeps them). `None`: not known, an
    /// external driver's own path does not report it.
    pub left_to_relay: Option<u64>,
    pub client_retries: u64,
    pub operations_failed: u64,
}

impl PathReaction {
    /// The counters since the start of the run.
    /// `app`: the built-in path's app, whose relay hand-offs are counted;
    /// `None` for an external driver (cutover's own App writes nothing then).
    pub(crate) fn now(app: Option<&App>, injector: &Injector, path: &PathCounters) -> PathReaction {
        PathReaction {
            operations: path.operations_done.load(Ordering::Relaxed),
            dynamodb: injector.counters(FaultTarget::Dynamodb),
            s3: injector.counters(FaultTarget::S3),
            postgres: injector.counters(FaultTarget::Postgres),
            left_to_relay: app.map(|app| app.stats.inline_apply_failures.load(Ordering::Relaxed)),
            client_retries: path.client_retries.load(Ordering::Relaxed),
            operations_failed: path.operations_failed.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn since(&self, earlier: &PathReaction) -> PathReaction {
        PathReaction {
            operations: self.operations - earlier.operations,
            dynamodb: self.dynamodb.since(&earlier.dynamodb),
            s3: self.s3.since(&earlier.s3),
            postgres: self.postgres.since(&earlier.postgres),
            left_to_relay: self
                .left_to_relay
                .zip(earlier.left_to_relay)
                .map(|(now, then)| now - then),
            client_retries: self.client_retries - earlier.client_retries,
            operations_failed: self.operations_failed - earlier.operations_failed,
        }
    }
}

/// One fault as it happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultRecord {
    pub kind: FaultKind,
    /// What the scenario asked for: "15 requests" or "down 500 ms".
    pub asked: String,
    /// Operations completed when it fired (`None`: the run ended first).
    pub at_operation: Option<u64>,
    pub at_ms: Option<f64>,
    /// What was done, in words.
    pub how: String,
    /// Requests that suffered an injected failure.
    pub injected_requests: u64,
    /// For restarts: from the stop until the engine answered again.
    pub unavailable_ms: Option<f64>,
    /// Why the fault could not be carried out, if it could not.
    pub error: Option<String>,
    pub reaction: PathReaction,
}

impl FaultRecord {
    /// The fault happened as asked.
    pub fn happened(&self) -> bool {
        self.at_operation.is_some()
            && self.error.is_none()
            && (!self.kind.is_injected() || self.injected_requests > 0)
    }

    /// One line on what the path did.
    pub fn reaction_line(&self) -> String {
        let r = &self.reaction;
        let mut line = String::new();
        for (name, service) in [("DynamoDB", r.dynamodb), ("S3", r.s3)] {
            // (SDK operations and their retries; the proxy reads them off the
            // SDK's `amz-sdk-request` header.)
            if service.attempts > 0 {
                let _ = write!(
                    line,
                    "{name}: {} SDK operations, {} attempts ({} retries, {} injected failures); ",
                    service.operations,
                    service.attempts,
                    service.retries(),
                    service.injected
                );
            }
        }
        if r.postgres.attempts > 0 {
            let _ = write!(
                line,
                "PostgreSQL (through the proxy): {} statements ({} injected failures); ",
                r.postgres.attempts, r.postgres.injected
            );
        }
        let _ = write!(
            line,
            "entity writes left to the relay: {}; {} client retries; {} operations failed",
            r.left_to_relay.map_or_else(
                || "not known (the driver's own path)".to_owned(),
                |n| n.to_string()
            ),
            r.client_retries,
            r.operations_failed
        );
        line
    }
}

/// A fault as fired: its record (reaction not yet filled), the counters
/// when it fired, and for an injected fault the requests it has acted on.
pub(crate) struct Fired {
    record: FaultRecord,
    at_fire: Option<PathReaction>,
    injected: Option<Arc<AtomicU64>>,
}

/// When a fault fires.
pub(crate) fn due(fault: &Fault, length: RunLength, began: Instant, done: u64) -> bool {
    match length {
        RunLength::Operations(operations) => done >= fault.at_operation(operations),
        RunLength::Duration { seconds } => {
            began.elapsed() >= Duration::from_secs(seconds) * u32::from(fault.at_percent) / 100
        }
    }
}

const POLL: Duration = Duration::from_millis(5);

/// What the fault driver shares with the workload while both run.
pub(crate) struct RunSignals<'a> {
    pub path: &'a PathCounters,
    /// Set when the workload has ended.
    pub finished: &'a AtomicBool,
    pub settle: &'a crate::settle::SettleGate,
    pub watch: &'a FaultWatch,
}

/// Fires `faults` in order as the run reaches them; stops early when the
/// workload has finished.
pub(crate) async fn drive(
    faults: &[Fault],
    length: RunLength,
    rig: &FaultRig<'_>,
    app: Option<&App>,
    signals: RunSignals<'_>,
) -> Vec<Fired> {
    let RunSignals {
        path,
        finished,
        settle,
        watch,
    } = signals;
    let began = Instant::now();
    let mut fired = Vec::with_capacity(faults.len());
    for (index, fault) in faults.iter().enumerate() {
        let mut record = FaultRecord {
            kind: fault.kind,
            asked: match fault.size {
                FaultSize::Requests(n) => format!("{n} requests"),
                FaultSize::DownMs(ms) => format!("down {ms} ms"),
                FaultSize::Delayed {
                    requests,
                    latency_ms,
                } => format!("{requests} requests + {latency_ms} ms"),
            },
            at_operation: None,
            at_ms: None,
            how: String::new(),
            injected_requests: 0,
            unavailable_ms: None,
            error: None,
            reaction: PathReaction::default(),
        };
        let fires = loop {
            let done = path.operations_done.load(Ordering::Relaxed);
            if due(fault, length, began, done) {
                break true;
            }
            if finished.load(Ordering::Relaxed) {
                break false;
            }
            tokio::time::sleep(POLL).await;
        };
        if !fires {
            record.how = "did not fire: the workload ended first".into();
            fired.push(Fired {
                record,
                at_fire: None,
                injected: None,
            });
            continue;
        }
        // What the last fault broke is judged before this one fires.
        settle.wait_for(index, finished).await;
        let at_fire = PathReaction::now(app, &rig.injector, path);
        record.at_operation = Some(at_fire.operations);
        record.at_ms = Some(began.elapsed().as_secs_f64() * 1000.0);
        let restart = matches!(fault.size, FaultSize::DownMs(_));
        if restart {
            watch.restarting.fetch_add(1, Ordering::SeqCst);
        }
        watch.fired.fetch_add(1, Ordering::SeqCst);
        let mut injected = None;
        match (fault.kind, fault.size) {
            (
                kind,
                FaultSize::Delayed {
                    requests,
                    latency_ms,
                },
            ) => {
                injected = Some(rig.injector.arm(
                    kind,
                    requests,
                    Duration::from_millis(latency_ms),
                ));
                record.how = format!(
                    "{} {requests} requests held {latency_ms} ms each, then passed on",
                    match kind.target() {
                        FaultTarget::Dynamodb => "DynamoDB",
                        FaultTarget::S3 => "S3",
                        FaultTarget::Postgres => "PostgreSQL (through the fault proxy):",
                    }
                );
            }
            (kind, FaultSize::Requests(requests)) => {
                injected = Some(rig.injector.arm(kind, requests, Duration::ZERO));
                record.how = match kind {
                    FaultKind::DynamodbThrottle => "DynamoDB requests answered with ThrottlingException (HTTP 400) before reaching the engine".into(),
                    FaultKind::DynamodbServerError => "DynamoDB requests applied by the engine, then their answer replaced with InternalServerError (HTTP 500)".into(),
                    FaultKind::DynamodbTimeout => format!("DynamoDB connections held {INJECTED_TIMEOUT:?}, then failed with a timeout; the engine never saw the request"),
                    FaultKind::S3ServerError => "S3 requests answered with SlowDown (HTTP 503) before reaching the store".into(),
                    FaultKind::S3InternalError => "S3 requests applied by the store, then their answer replaced with InternalError (HTTP 500)".into(),
                    FaultKind::S3Timeout => format!("S3 connections held {INJECTED_TIMEOUT:?}, then failed with a timeout; the store never saw the request"),
                    FaultKind::PostgresReset => "PostgreSQL connections reset by the fault proxy as they sent a statement; the server never saw it".into(),
                    FaultKind::PostgresCommitLost => "COMMITs applied by PostgreSQL, then their answer dropped and the connection cut by the fault proxy".into(),
                    other => unreachable!("{other} is not injected"),
                };
            }
            (kind, FaultSize::DownMs(ms)) => {
                let engine = match kind {
                    FaultKind::PostgresRestart => Engine::Postgres,
                    _ => Engine::DynamoDb,
                };
                match rig.engines.restart(engine, Duration::from_millis(ms)).await {
                    Ok(restarted) => {
                        record.how = restarted.how;
                        record.unavailable_ms = Some(restarted.unavailable.as_secs_f64() * 1000.0);
                    }
                    Err(error) => {
                        record.how = format!("restarting {engine} failed");
                        record.error = Some(error.to_string());
                    }
                }
            }
        }
        if restart {
            watch.restarting.fetch_sub(1, Ordering::SeqCst);
        }
        fired.push(Fired {
            record,
            at_fire: Some(at_fire),
            injected,
        });
    }
    fired
}

/// Fills in each fired fault's reaction: the counters from its firing to the
/// next fault's (or to `end`). An injected timeout holds its requests for
/// `INJECTED_TIMEOUT` before they fail and are retried, so its window lasts
/// until the first fault fired after that hold (windows may then overlap):
/// a fault that fires sooner must not take the timeout's retries for its own.
/// An injected fault's own count is the requests it acted on, whenever they
/// came (a fault armed where its service is quiet may act after the next
/// fault has fired).
pub(crate) fn settle(fired: Vec<Fired>, end: PathReaction) -> Vec<FaultRecord> {
    let starts: Vec<(Option<f64>, Option<PathReaction>)> = fired
        .iter()
        .map(|fired| (fired.record.at_ms, fired.at_fire))
        .collect();
    fired
        .into_iter()
        .enumerate()
        .map(|(index, fired)| {
            let Fired {
                mut record,
                at_fire: start,
                injected,
            } = fired;
            let Some(start) = start else {
                return record;
            };
            let hold_ms = match record.kind {
                FaultKind::DynamodbTimeout | FaultKind::S3Timeout => {
                    (INJECTED_TIMEOUT + Duration::from_secs(1)).as_secs_f64() * 1000.0
                }
                _ => 0.0,
            };
            let fired_ms = record.at_ms.unwrap_or(0.0);
            let next = starts[index + 1..]
                .iter()
                .filter(|(at_ms, _)| at_ms.unwrap_or(f64::MAX) >= fired_ms + hold_ms)
                .find_map(|(_, snapshot)| *snapshot)
                .unwrap_or(end);
            record.reaction = next.since(&start);
            if let Some(injected) = injected {
                record.injected_requests = injected.load(Ordering::Relaxed);
            }
            record
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_is_under_a_fault_if_one_was_in_force_at_any_moment_of_it() {
        let injector = Arc::new(Injector::default());
        let watch = FaultWatch::new(injector.clone());
        // Nothing fired, nothing armed: a clean write.
        let mark = watch.mark();
        assert!(!watch.fault_since(mark));
        // A fault fired while the write ran (and was spent before it ended).
        let mark = watch.mark();
        watch.fired.fetch_add(1, Ordering::SeqCst);
        assert!(watch.fault_since(mark));
        // Armed requests not yet spent: in force at the start.
        injector.arm(FaultKind::S3ServerError, 1, Duration::ZERO);
        let mark = watch.mark();
        assert!(watch.fault_since(mark));
        // An engine restarting.
        let restarting = FaultWatch::new(Arc::new(Injector::default()));
        restarting.restarting.fetch_add(1, Ordering::SeqCst);
        let mark = restarting.mark();
        restarting.restarting.fetch_sub(1, Ordering::SeqCst);
        assert!(restarting.fault_since(mark));
        // After it, with nothing fired since: clean again.
        let mark = restarting.mark();
        assert!(!restarting.fault_since(mark));
    }
}
