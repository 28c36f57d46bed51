use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cutover_app::{App, AppError, Command, Mode, Read};
use cutover_core::command::Change;
use cutover_core::driver::{self as protocol, Rejection};
use cutover_core::keys::Id;
use cutover_core::model::Model;
use cutover_core::window::Window;
use cutover_core::workload::{CheckName, DualWriteMode, Op, OpKind, RunLength, Scenario, Workload};
use hdrhistogram::Histogram;
use thiserror::Error;
use tokio::sync::mpsc;

use crate::blame::{self, LastWrite, WriteLog};
use crate::checks;
use crate::driver::{Action, Driver, DriverError, Performed};
use crate::faults::{self, FaultRig, FaultWatch, PathCounters, PathReaction};
use crate::in_run;
use crate::record::{KindStats, ReplayRecord};
use crate::settle::{self, SettleGate};
use crate::versions;

const CHANNEL_DEPTH: usize = 32;
const ERROR_SAMPLES: usize = 20;
const PLAIN_PROGRESS_EVERY: Duration = Duration::from_secs(5);
const RELAY_DRAIN_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Error)]
pub enum ReplayError {
    #[error(transparent)]
    Backend(#[from] cutover_backends::BackendError),
    #[error(transparent)]
    App(#[from] AppError),
    #[error(
        "scenario {scenario:?} schedules faults: run it with the engines to restart and an instrumented app (replay_with_faults)"
    )]
    FaultsNeedEngines { scenario: String },
    #[error(transparent)]
    Driver(#[from] DriverError),
    #[error(transparent)]
    FaultRig(#[from] crate::faults::RigError),
    #[error(
        "the rollback drill's switch after {switch_after} writes is never reached: scenario {scenario:?} (seed {seed}) produces {available} writes of the {writes} asked for; pick a switch below {available}"
    )]
    SwitchUnreachable {
        scenario: String,
        seed: u64,
        switch_after: u64,
        writes: u64,
        available: u64,
    },
    #[error(
        "the rollback drill needs a driver that performs writes: {driver} only answers reads (its writes would be cutover's own path, not the app's rollback)"
    )]
    DrillNeedsWrites { driver: String },
    #[error("a replay worker stopped unexpectedly: {0}")]
    Worker(String),
    #[error("end-of-run check {check} could not run: {source}")]
    Check {
        check: &'static str,
        #[source]
        source: AppError,
    },
}

#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub seed: u64,
    /// Overrides the scenario's run length with this many operations.
    pub operations: Option<u64>,
    /// The command line that reproduces this replay, recorded in the report.
    pub reproduce: String,
    /// Show a progress bar (on a terminal) or periodic lines (otherwise).
    pub progress: bool,
}

pub fn app_mode(scenario: &Scenario) -> Mode {
    match scenario.mode {
        DualWriteMode::Dual => Mode::Dual,
        DualWriteMode::PostgresOnly => Mode::PostgresOnly,
        DualWriteMode::ShadowRead => Mode::ShadowRead {
            percent: scenario.shadow_percent,
        },
    }
}

struct KindTally {
    ok: u64,
    rejected: u64,
    failed: u64,
    latency_us: Histogram<u64>,
}

impl KindTally {
    fn new() -> KindTally {
        KindTally {
            ok: 0,
            rejected: 0,
            failed: 0,
            latency_us: Histogram::new_with_bounds(1, 600_000_000, 3)
                .expect("valid histogram bounds"),
        }
    }

    fn merge(&mut self, other: &KindTally) {
        self.ok += other.ok;
        self.rejected += other.rejected;
        self.failed += other.failed;
        self.latency_us.add(&other.latency_us).expect("same bounds");
    }

    fn stats(&self) -> KindStats {
        let ms = |us: u64| us as f64 / 1000.0;
        KindStats {
            ok: self.ok,
            rejected: self.rejected,
            failed: self.failed,
            latency_ms_p50: ms(self.latency_us.value_at_quantile(0.5)),
            latency_ms_p99: ms(self.latency_us.value_at_quantile(0.99)),
            latency_ms_max: ms(self.latency_us.max()),
        }
    }
}

#[derive(Default)]
struct WorkerTally {
    kinds: BTreeMap<&'static str, KindTally>,
    errors: Vec<String>,
    reads: in_run::Verdicts,
    versions: versions::VersionWatch,
}

/// Share links handed out during the run, so they can be opened: the live
/// token of each shared session, and the last revoked one of each session
/// that was unshared or deleted (opening it must find nothing).
#[derive(Default)]
struct ShareLinks {
    live: Mutex<HashMap<Id, String>>,
    revoked: Mutex<HashMap<Id, String>>,
}

type ShareTokens = Arc<ShareLinks>;

/// The read an operation asks, if it is one (a share link needs its token).
fn read_of(op: &Op, tokens: &ShareTokens) -> Option<Read> {
    match &op.kind {
        OpKind::Write { .. } | OpKind::Read { .. } | OpKind::Search { .. } => op.kind.plain_read(),
        OpKind::OpenShareLink { session, revoked } => {
            let live = || {
                tokens
                    .live
                    .lock()
                    .expect("tokens lock")
                    .get(session)
                    .cloned()
            };
            let last_revoked = || {
                let revoked = tokens.revoked.lock().expect("tokens lock");
                revoked.get(session).cloned()
            };
            // An unshared session's link is the one it had (revoked), or a
            // token nobody holds: either must find nothing.
            let token = match revoked {
                true => last_revoked(),
                false => live().or_else(last_revoked),
            };
            Some(Read::SessionByShareToken(
                token.unwrap_or_else(|| "0".repeat(32)),
            ))
        }
    }
}

/// One attempt at `op` through `driver`; a share session's token is kept.
async fn apply(driver: &Driver, op: &Op, tokens: &ShareTokens) -> Result<Performed, DriverError> {
    let operation = describe_op(op);
    let performed = match (&op.kind, read_of(op, tokens)) {
        (OpKind::Write { command }, _) => {
            let performed = driver
                .perform(&op.user, Action::Write(command), &operation)
                .await?;
            if let Performed::Ok { share_token, .. } = &performed {
                let mut live = tokens.live.lock().expect("tokens lock");
                match command {
                    Command::ShareSession { session } => {
                        if let Some(token) = share_token
                            && let Some(old) = live.insert(session.clone(), token.clone())
                        {
                            let mut revoked = tokens.revoked.lock().expect("tokens lock");
                            revoked.insert(session.clone(), old);
                        }
                    }
                    Command::UnshareSession { session } | Command::DeleteSession { session } => {
                        if let Some(old) = live.remove(session) {
                            let mut revoked = tokens.revoked.lock().expect("tokens lock");
                            revoked.insert(session.clone(), old);
                        }
                    }
                    _ => {}
                }
            }
            performed
        }
        (_, Some(read)) => {
            driver
                .perform(&op.user, Action::Read(&read), &operation)
                .await?
        }
        (_, None) => unreachable!("every operation but a write is a read"),
    };
    Ok(performed)
}

/// A command's name as the protocol writes it (`update_session`).
fn command_name(command: &Command) -> String {
    serde_json::to_value(command)
        .ok()
        .and_then(|value| {
            value
                .get("op")
                .and_then(|op| op.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

/// An operation as errors and samples name it.
fn describe_op(op: &Op) -> String {
    format!("op {} ({} by {})", op.ordinal, op.kind.label(), op.user)
}

/// How long a client keeps retrying an operation that fails transiently (an
/// engine restarting, a throttled burst) before it gives up.
const CLIENT_RETRY_BUDGET: Duration = Duration::from_secs(60);
const CLIENT_RETRY_FIRST_DELAY: Duration = Duration::from_millis(50);
const CLIENT_RETRY_MAX_DELAY: Duration = Duration::from_secs(1);

/// `apply`, tried again after retryable failures as the app's clients would.
/// A write whose earlier attempt failed may have committed anyway (the
/// connection broke after COMMIT); if the retry is then refused as already
/// done (`AlreadyExists`, `NotFound`), the write counts as applied. The
/// `no-lost-writes` check compares PostgreSQL with the model, so a wrong guess
/// here would show there.
async fn apply_with_retries(
    driver: &Driver,
    op: &Op,
    tokens: &ShareTokens,
    path: &PathCounters,
) -> Result<Performed, DriverError> {
    let began = Instant::now();
    let mut delay = CLIENT_RETRY_FIRST_DELAY;
    let mut failed_before = false;
    loop {
        match apply(driver, op, tokens).await? {
            Performed::Failed {
                error,
                retryable: true,
            } if began.elapsed() < CLIENT_RETRY_BUDGET => {
                tracing::debug!(%error, ordinal = op.ordinal, "retrying after a transient failure");
                path.client_retries.fetch_add(1, Ordering::Relaxed);
                failed_before = true;
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(CLIENT_RETRY_MAX_DELAY);
            }
            Performed::Rejected {
                reason: Rejection::AlreadyExists | Rejection::NotFound,
                ..
            } if failed_before && matches!(op.kind, OpKind::Write { .. }) => {
                path.writes_resolved_on_retry
                    .fetch_add(1, Ordering::Relaxed);
                return Ok(Performed::Ok {
                    answer: serde_json::Value::Null,
                    share_token: None,
                });
            }
            performed => return Ok(performed),
        }
    }
}

/// What a worker needs besides its operations.
struct WorkerContext {
    driver: Arc<Driver>,
    tokens: ShareTokens,
    path: Arc<PathCounters>,
    writes: Arc<WriteLog>,
    run_began: Instant,
    /// In a run with faults: whether one is in force around each write.
    watch: Option<Arc<FaultWatch>>,
}

/// What a worker is sent: an operation, or a barrier it acknowledges once
/// everything sent before it has completed (a settle point).
enum Message {
    Op(Box<Dispatched>),
    Barrier(tokio::sync::oneshot::Sender<()>),
}

/// An operation: for a write, the entities the model says it touches; for a
/// read the model judges, the answers it allows.
struct Dispatched {
    op: Op,
    touched: Vec<Change>,
    expected: Option<in_run::Expected>,
}

async fn worker(
    context: WorkerContext,
    mut ops: mpsc::Receiver<Message>,
) -> Result<WorkerTally, DriverError> {
    let WorkerContext {
        driver,
        tokens,
        path,
        writes,
        run_began,
        watch,
    } = context;
    let mut tally = WorkerTally::default();
    // Writes (by ordinal) made while a fault was in force: what they wrote
    // may not have reached every store yet, so a read may lag behind them.
    let mut faulted_writes: HashSet<u64> = HashSet::new();
    while let Some(message) = ops.recv().await {
        let Dispatched {
            op,
            touched,
            expected,
        } = match message {
            Message::Op(dispatched) => *dispatched,
            Message::Barrier(done) => {
                let _ = done.send(());
                continue;
            }
        };
        let began = Instant::now();
        let mark = watch.as_ref().map(|watch| watch.mark());
        let performed = apply_with_retries(&driver, &op, &tokens, &path).await?;
        if let (Some(watch), Some(mark), OpKind::Write { .. }) = (&watch, mark, &op.kind)
            && watch.fault_since(mark)
        {
            faulted_writes.insert(op.ordinal);
        }
        if let Some(read) = read_of(&op, &tokens) {
            let mut lenient = false;
            if let Some(expected) = &expected {
                let allowed = expected.allowed.narrowed(|by| faulted_writes.contains(&by));
                lenient = allowed.lenient();
                tally
                    .reads
                    .judge(&op, &read, expected, &allowed, &performed);
            }
            // An answer that may lag may show an older version too.
            if let Performed::Ok { answer, .. } = &performed
                && !lenient
            {
                tally.versions.observe(&op, &read, answer);
            }
        }
        let elapsed_us = began.elapsed().as_micros().max(1) as u64;
        if let (OpKind::Write { command }, Performed::Ok { .. }) = (&op.kind, &performed) {
            tally.versions.wrote(&op, &command_name(command), &touched);
        }
        if let OpKind::Write { command } = &op.kind {
            let since_start_ms = |at: Instant| (at - run_began).as_secs_f64() * 1000.0;
            writes.record(
                &touched,
                LastWrite {
                    ordinal: op.ordinal,
                    user: op.user.to_string(),
                    command: command_name(command),
                    outcome: match performed {
                        Performed::Ok { .. } => "ok",
                        Performed::Rejected { .. } => "rejected",
                        Performed::Failed { .. } => "failed",
                    },
                    began_ms: since_start_ms(began),
                    ended_ms: since_start_ms(Instant::now()),
                },
            );
        }
        let kind = tally
            .kinds
            .entry(op.kind.label())
            .or_insert_with(KindTally::new);
        let _ = kind.latency_us.record(elapsed_us);
        let error = match performed {
            Performed::Ok { .. } => {
                kind.ok += 1;
                None
            }
            Performed::Rejected { reason, detail } => {
                kind.rejected += 1;
                Some(format!("rejected ({}): {detail}", reason.name()))
            }
            Performed::Failed { error, .. } => {
                kind.failed += 1;
                path.operations_failed.fetch_add(1, Ordering::Relaxed);
                Some(error)
            }
        };
        if let Some(error) = error
            && tally.errors.len() < ERROR_SAMPLES
        {
            tally.errors.push(format!("{}: {error}", describe_op(&op)));
        }
        path.operations_done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(tally)
}

/// Waits until every worker has completed what it was sent; `false` when a
/// worker has stopped (its result says why).
async fn barrier(senders: &[mpsc::Sender<Message>]) -> bool {
    let mut acknowledgements = Vec::with_capacity(senders.len());
    for sender in senders {
        let (done, acknowledged) = tokio::sync::oneshot::channel();
        if sender.send(Message::Barrier(done)).await.is_err() {
            return false;
        }
        acknowledgements.push(acknowledged);
    }
    for acknowledged in acknowledgements {
        if acknowledged.await.is_err() {
            return false;
        }
    }
    true
}

/// The worker that runs `user`'s operations (each user's in order, on one worker).
pub fn worker_for(user: &Id, workers: usize) -> usize {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    user.hash(&mut hasher);
    (hasher.finish() % workers as u64) as usize
}

/// Runs the scenario's workload through `app`, then its checks. A scenario
/// with faults needs `replay_with_faults`.
pub async fn replay(
    app: Arc<App>,
    scenario: &Scenario,
    options: &ReplayOptions,
) -> Result<ReplayRecord, ReplayError> {
    if !scenario.faults.is_empty() {
        return Err(ReplayError::FaultsNeedEngines {
            scenario: scenario.name.clone(),
        });
    }
    let driver = Arc::new(Driver::BuiltIn(app.clone()));
    run(driver, app, scenario, options, None).await
}

/// Runs the scenario's workload through `app` while its faults fire, then its
/// checks. `app` must be `faults::instrumented_app` of `rig` (its SDK
/// clients instrumented, its PostgreSQL connections through the proxy).
pub async fn replay_with_faults(
    app: Arc<App>,
    scenario: &Scenario,
    options: &ReplayOptions,
    rig: &FaultRig<'_>,
) -> Result<ReplayRecord, ReplayError> {
    let driver = Arc::new(Driver::BuiltIn(app.clone()));
    run(driver, app, scenario, options, Some(rig)).await
}

/// Runs the scenario's workload through `driver`, then its checks, which read
/// the stores through `app` (the harness's own view of them, laid out as the
/// run's profile says). Faults need `rig`, and the driver's connections
/// made through its proxies (`driver::run_info` hands it their addresses).
pub async fn replay_through(
    driver: Arc<Driver>,
    app: Arc<App>,
    scenario: &Scenario,
    options: &ReplayOptions,
    rig: Option<&FaultRig<'_>>,
) -> Result<ReplayRecord, ReplayError> {
    if rig.is_none() && !scenario.faults.is_empty() {
        return Err(ReplayError::FaultsNeedEngines {
            scenario: scenario.name.clone(),
        });
    }
    run(driver, app, scenario, options, rig).await
}

async fn run(
    driver: Arc<Driver>,
    app: Arc<App>,
    scenario: &Scenario,
    options: &ReplayOptions,
    rig: Option<&FaultRig<'_>>,
) -> Result<ReplayRecord, ReplayError> {
    let mut scenario = scenario.clone();
    if let Some(operations) = options.operations {
        scenario.length = RunLength::Operations(operations);
    }
    app.set_mode(app_mode(&scenario));
    let external = driver.answers_reads();
    let workers = scenario.concurrency as usize;
    let tokens: ShareTokens = Arc::default();
    let watch = rig.map(|rig| Arc::new(FaultWatch::new(rig.injector.clone())));
    let path = Arc::new(PathCounters::default());
    let writes = Arc::new(WriteLog::default());
    let began = Instant::now();
    let mut senders = Vec::with_capacity(workers);
    let mut handles = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (sender, receiver) = mpsc::channel(CHANNEL_DEPTH);
        senders.push(sender);
        let context = WorkerContext {
            driver: driver.clone(),
            tokens: tokens.clone(),
            path: path.clone(),
            writes: writes.clone(),
            run_began: began,
            watch: watch.clone(),
        };
        handles.push(tokio::spawn(worker(context, receiver)));
    }

    let progress = options
        .progress
        .then(|| Progress::start(&scenario, path.clone()));
    // The model of what PostgreSQL must hold, fed in each user's order; it
    // also says which entities each write touches (for naming the write
    // behind a problem). An external driver's answers are judged against it
    // too. It holds every transcript, so a plain long run does without.
    let keep_model =
        external || rig.is_some() || scenario.checks.contains(&CheckName::NoLostWrites);
    // Reads are judged as they are answered wherever the model is kept
    // (`in_run`). With faults, a read may show a version written since the
    // stores last settled while a fault was in force: the window records
    // them, and each settle point that drained the driver closes it.
    let mut model = Model::default();
    let mut owners = in_run::Owners::default();
    let mut window = Window::default();
    let faults_scheduled = rig.is_some();
    let deadline = match scenario.length {
        RunLength::Duration { seconds } => Some(began + Duration::from_secs(seconds)),
        RunLength::Operations(_) => None,
    };
    let finished = AtomicBool::new(false);
    let gate = SettleGate::default();
    let judge = rig.map(|rig| settle::Judge {
        driver: &driver,
        app: &app,
        rig,
        drain_timeout: RELAY_DRAIN_TIMEOUT,
    });
    let workload = async {
        let mut dispatched = 0u64;
        let mut kinds: BTreeMap<&'static str, KindTally> = BTreeMap::new();
        let mut error_samples = Vec::new();
        let mut reads = in_run::Verdicts::default();
        let mut version_tally = versions::Tally::default();
        let mut settle_points = Vec::new();
        let mut settled = 0;
        let mut stopped = None;
        for op in Workload::new(&scenario, options.seed) {
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                break;
            }
            // Before each fault after the first is due, the stores are
            // judged on what the one before it did (`settle`).
            if let Some(judge) = &judge
                && let Some(fault) = scenario.faults.get(settled + 1)
                && faults::due(fault, scenario.length, began, dispatched)
            {
                if !barrier(&senders).await {
                    break;
                }
                let after_fault = scenario.faults[settled].kind.to_string();
                match judge.settle(after_fault, dispatched, &model).await {
                    Ok(point) => {
                        if point.drained() {
                            window.close();
                        }
                        settle_points.push(point);
                    }
                    Err(error) => {
                        // The workers and the fault driver are let finish first.
                        stopped = Some(error);
                        break;
                    }
                }
                settled += 1;
                gate.made(settled);
            }
            let touched = match &op.kind {
                // A refusal leaves the model as it is, as it leaves the app.
                OpKind::Write { command } if faults_scheduled => window
                    .apply(&mut model, command, op.ordinal)
                    .unwrap_or_default(),
                OpKind::Write { command } if keep_model => model.apply(command).unwrap_or_default(),
                OpKind::Write { command } => {
                    let (kind, id) = command.target();
                    vec![Change {
                        kind,
                        id: id.clone(),
                    }]
                }
                _ => Vec::new(),
            };
            if keep_model {
                owners.record(&model, &touched);
            }
            let expected = keep_model
                .then(|| in_run::expectation(&model, &owners, &window, &op))
                .flatten();
            // A read runs on the worker of whoever owns what it names (the
            // asker's when nobody does), in order with the owner's writes, so
            // its expected answer is exact even when a stranger asks.
            let owner = owners.of_target(&op).unwrap_or(&op.user);
            let target = worker_for(owner, workers);
            let message = Message::Op(Box::new(Dispatched {
                op,
                touched,
                expected,
            }));
            if senders[target].send(message).await.is_err() {
                // The worker stopped: its result below says why.
                break;
            }
            dispatched += 1;
        }
        senders.clear();
        for handle in handles {
            match handle.await {
                Ok(Ok(tally)) => {
                    for (kind, counts) in &tally.kinds {
                        kinds
                            .entry(kind)
                            .or_insert_with(KindTally::new)
                            .merge(counts);
                    }
                    error_samples.extend(tally.errors);
                    reads.merge(tally.reads);
                    version_tally.merge(tally.versions.into_tally());
                }
                Ok(Err(error)) => {
                    stopped.get_or_insert(ReplayError::Driver(error));
                }
                Err(error) => {
                    stopped.get_or_insert(ReplayError::Worker(error.to_string()));
                }
            }
        }
        finished.store(true, Ordering::Relaxed);
        if let Some(error) = stopped {
            return Err(error);
        }
        error_samples.truncate(ERROR_SAMPLES);
        Ok((
            dispatched,
            kinds,
            error_samples,
            reads,
            version_tally,
            settle_points,
        ))
    };
    // An external driver's relay hand-offs are its own: not counted, not zero.
    let built_in_app = (!matches!(*driver, Driver::External(_))).then_some(&*app);
    let fault_driver = async {
        match (rig, &watch) {
            (Some(rig), Some(watch)) => {
                let signals = faults::RunSignals {
                    path: &path,
                    finished: &finished,
                    settle: &gate,
                    watch,
                };
                faults::drive(
                    &scenario.faults,
                    scenario.length,
                    rig,
                    built_in_app,
                    signals,
                )
                .await
            }
            _ => Vec::new(),
        }
    };
    let (workload, fired) = tokio::join!(workload, fault_driver);
    let elapsed = began.elapsed();
    if let Some(progress) = progress {
        progress.finish(path.operations_done.load(Ordering::Relaxed), elapsed);
    }
    let (dispatched, kinds, error_samples, reads, version_tally, settle_points) = workload?;
    let fault_records = match rig {
        Some(rig) => faults::settle(fired, PathReaction::now(built_in_app, &rig.injector, &path)),
        None => Vec::new(),
    };

    let mut check_results = Vec::new();
    if keep_model {
        check_results.extend(reads.into_checks(&options.reproduce));
        check_results.push(version_tally.into_check(&options.reproduce));
    }
    for check in &scenario.checks {
        let result = match check {
            CheckName::RelayDrained => Ok(checks::drained(&driver, RELAY_DRAIN_TIMEOUT).await?),
            CheckName::ReadParity if external => {
                Ok(checks::driver_read_parity(&driver, &model, &tokens.live).await?)
            }
            CheckName::ReadParity => {
                let searches = protocol::search_probes(&model).into_iter();
                checks::read_parity(&app, searches.map(|(_, read)| read).collect()).await
            }
            CheckName::Parity => checks::parity(app.clone()).await,
            CheckName::NoLostWrites => checks::no_lost_writes(&app, &model).await,
        };
        check_results.push(result.map_err(|source| ReplayError::Check {
            check: check.name(),
            source,
        })?);
    }
    if !fault_records.is_empty() {
        check_results.push(checks::faults_happened(&fault_records));
        check_results.push(settle::into_check(settle_points));
    }
    let suspects = blame::suspects(&check_results, &writes, &fault_records);

    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    Ok(ReplayRecord {
        scenario: scenario.name.clone(),
        seed: options.seed,
        reproduce: options.reproduce.clone(),
        driver: driver.describe(),
        mode: crate::driver::mode_name(app_mode(&scenario)).to_owned(),
        concurrency: scenario.concurrency,
        operations: dispatched,
        duration_ms,
        throughput_ops_per_s: dispatched as f64 / elapsed.as_secs_f64().max(1e-9),
        by_kind: kinds
            .iter()
            .map(|(kind, tally)| (kind.to_string(), tally.stats()))
            .collect(),
        error_samples,
        inline_apply_failures: (!matches!(*driver, Driver::External(_)))
            .then(|| app.stats.inline_apply_failures.load(Ordering::Relaxed)),
        client_retries: path.client_retries.load(Ordering::Relaxed),
        writes_resolved_on_retry: path.writes_resolved_on_retry.load(Ordering::Relaxed),
        faults: fault_records,
        shadow_compared: app.stats.shadow_compared.load(Ordering::Relaxed),
        shadow_mismatched: app.stats.shadow_mismatched.load(Ordering::Relaxed),
        checks: check_results,
        suspects,
        backends: BTreeMap::new(),
        build_profile: cutover_core::build_profile().to_owned(),
    })
}

/// A progress bar on a terminal; plain periodic lines otherwise (CI logs).
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    ticker: tokio::task::JoinHandle<()>,
}

impl Progress {
    fn start(scenario: &Scenario, path: Arc<PathCounters>) -> Progress {
        let total = match scenario.length {
            RunLength::Operations(n) => Some(n),
            RunLength::Duration { .. } => None,
        };
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match total {
                Some(n) => indicatif::ProgressBar::new(n),
                None => indicatif::ProgressBar::new_spinner(),
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} ops ({per_sec})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        let ticker_bar = bar.clone();
        let ticker = tokio::spawn(async move {
            let began = Instant::now();
            let period = if ticker_bar.is_some() {
                Duration::from_millis(200)
            } else {
                PLAIN_PROGRESS_EVERY
            };
            loop {
                tokio::time::sleep(period).await;
                let count = path.operations_done.load(Ordering::Relaxed);
                match &ticker_bar {
                    Some(bar) => bar.set_position(count),
                    None => eprintln!(
                        "replay: {count}{} operations, {:.0} ops/s",
                        total.map(|n| format!("/{n}")).unwrap_or_default(),
                        count as f64 / began.elapsed().as_secs_f64()
                    ),
                }
            }
        });
        Progress { bar, ticker }
    }

    fn finish(self, operations: u64, elapsed: Duration) {
        self.ticker.abort();
        match self.bar {
            Some(bar) => bar.finish_with_message("done"),
            None => eprintln!(
                "replay: {operations} operations in {:.1} s",
                elapsed.as_secs_f64()
            ),
        }
    }
}
