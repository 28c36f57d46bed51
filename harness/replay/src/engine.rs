use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cutover_app::{App, AppError, Command, Mode, Read};
use cutover_core::keys::Id;
use cutover_core::model::Model;
use cutover_core::workload::{CheckName, DualWriteMode, Op, OpKind, RunLength, Scenario, Workload};
use hdrhistogram::Histogram;
use thiserror::Error;
use tokio::sync::mpsc;

use crate::checks;
use crate::faults::{self, FaultRig, PathCounters, PathReaction};
use crate::record::{KindStats, ReplayRecord};

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
}

/// Share tokens handed out during the run, so share links can be opened.
type ShareTokens = Arc<Mutex<HashMap<Id, String>>>;

async fn apply(app: &App, op: &Op, tokens: &ShareTokens) -> Result<(), AppError> {
    match &op.kind {
        OpKind::Write { command } => {
            let outcome = app.execute(command).await?;
            let mut tokens = tokens.lock().expect("tokens lock");
            match command {
                Command::ShareSession { session } => {
                    if let Some(token) = outcome.share_token {
                        tokens.insert(session.clone(), token);
                    }
                }
                Command::UnshareSession { session } | Command::DeleteSession { session } => {
                    tokens.remove(session);
                }
                _ => {}
            }
        }
        OpKind::Read { read } => {
            app.read(read).await?;
        }
        OpKind::Search { campaign, query } => {
            app.read(&Read::SearchSessions {
                campaign: campaign.clone(),
                query: query.clone(),
            })
            .await?;
        }
        OpKind::OpenShareLink { session } => {
            let token = tokens.lock().expect("tokens lock").get(session).cloned();
            // An unshared session's link is a token nobody holds: it must find nothing.
            let token = token.unwrap_or_else(|| "0".repeat(32));
            app.read(&Read::SessionByShareToken(token)).await?;
        }
    }
    Ok(())
}

/// How long a client keeps retrying an operation that fails transiently (an
/// engine restarting, a throttled burst) before it gives up.
const CLIENT_RETRY_BUDGET: Duration = Duration::from_secs(60);
const CLIENT_RETRY_FIRST_DELAY: Duration = Duration::from_millis(50);
const CLIENT_RETRY_MAX_DELAY: Duration = Duration::from_secs(1);

/// `apply`, tried again after transient failures as the app's clients would.
/// A write whose earlier attempt failed may have committed anyway (the
/// connection broke after COMMIT); if the retry is then refused as already
/// done (`AlreadyExists`, `NotFound`), the write counts as applied. The
/// `no-lost-writes` check compares PostgreSQL with the model, so a wrong guess
/// here would show there.
async fn apply_with_retries(
    app: &App,
    op: &Op,
    tokens: &ShareTokens,
    path: &PathCounters,
) -> Result<(), AppError> {
    let began = Instant::now();
    let mut delay = CLIENT_RETRY_FIRST_DELAY;
    let mut failed_before = false;
    loop {
        match apply(app, op, tokens).await {
            Err(error) if error.is_transient() && began.elapsed() < CLIENT_RETRY_BUDGET => {
                tracing::debug!(%error, ordinal = op.ordinal, "retrying after a transient failure");
                path.client_retries.fetch_add(1, Ordering::Relaxed);
                failed_before = true;
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(CLIENT_RETRY_MAX_DELAY);
            }
            Err(AppError::AlreadyExists { .. } | AppError::NotFound { .. })
                if failed_before && matches!(op.kind, OpKind::Write { .. }) =>
            {
                path.writes_resolved_on_retry
                    .fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            result => return result,
        }
    }
}

async fn worker(
    app: Arc<App>,
    mut ops: mpsc::Receiver<Op>,
    tokens: ShareTokens,
    path: Arc<PathCounters>,
) -> WorkerTally {
    let mut tally = WorkerTally::default();
    while let Some(op) = ops.recv().await {
        let began = Instant::now();
        let result = apply_with_retries(&app, &op, &tokens, &path).await;
        let elapsed_us = began.elapsed().as_micros().max(1) as u64;
        let kind = tally
            .kinds
            .entry(op.kind.label())
            .or_insert_with(KindTally::new);
        let _ = kind.latency_us.record(elapsed_us);
        match result {
            Ok(()) => kind.ok += 1,
            Err(error) => {
                if error.is_rejection() {
                    kind.rejected += 1;
                } else {
                    kind.failed += 1;
                    path.operations_failed.fetch_add(1, Ordering::Relaxed);
                }
                if tally.errors.len() < ERROR_SAMPLES {
                    tally.errors.push(format!(
                        "op {} ({} by {}): {error}",
                        op.ordinal,
                        op.kind.label(),
                        op.user
                    ));
                }
            }
        }
        path.operations_done.fetch_add(1, Ordering::Relaxed);
    }
    tally
}

pub(crate) fn worker_for(user: &Id, workers: usize) -> usize {
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
    run(app, scenario, options, None).await
}

/// Runs the scenario's workload through `app` while its faults fire, then its
/// checks. `app`'s SDK clients must be instrumented by `rig.injector`
/// (`faults::instrumented_app`).
pub async fn replay_with_faults(
    app: Arc<App>,
    scenario: &Scenario,
    options: &ReplayOptions,
    rig: &FaultRig<'_>,
) -> Result<ReplayRecord, ReplayError> {
    run(app, scenario, options, Some(rig)).await
}

async fn run(
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
    let workers = scenario.concurrency as usize;
    let tokens: ShareTokens = Arc::default();
    let path = Arc::new(PathCounters::default());
    let mut senders = Vec::with_capacity(workers);
    let mut handles = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (sender, receiver) = mpsc::channel(CHANNEL_DEPTH);
        senders.push(sender);
        handles.push(tokio::spawn(worker(
            app.clone(),
            receiver,
            tokens.clone(),
            path.clone(),
        )));
    }

    let progress = options
        .progress
        .then(|| Progress::start(&scenario, path.clone()));
    // The model of what PostgreSQL must hold, fed in each user's order.
    let mut model = scenario
        .checks
        .contains(&CheckName::NoLostWrites)
        .then(Model::default);
    let began = Instant::now();
    let deadline = match scenario.length {
        RunLength::Duration { seconds } => Some(began + Duration::from_secs(seconds)),
        RunLength::Operations(_) => None,
    };
    let finished = AtomicBool::new(false);
    let workload = async {
        let mut dispatched = 0u64;
        let mut kinds: BTreeMap<&'static str, KindTally> = BTreeMap::new();
        let mut error_samples = Vec::new();
        for op in Workload::new(&scenario, options.seed) {
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                break;
            }
            if let (Some(model), OpKind::Write { command }) = (model.as_mut(), &op.kind) {
                // A refusal leaves the model as it is, as it leaves the app.
                let _ = model.apply(command);
            }
            let target = worker_for(&op.user, workers);
            if senders[target].send(op).await.is_err() {
                return Err(ReplayError::Worker(format!("worker {target} hung up")));
            }
            dispatched += 1;
        }
        senders.clear();
        for handle in handles {
            let tally = handle
                .await
                .map_err(|e| ReplayError::Worker(e.to_string()))?;
            for (kind, counts) in &tally.kinds {
                kinds
                    .entry(kind)
                    .or_insert_with(KindTally::new)
                    .merge(counts);
            }
            error_samples.extend(tally.errors);
        }
        error_samples.truncate(ERROR_SAMPLES);
        finished.store(true, Ordering::Relaxed);
        Ok((dispatched, kinds, error_samples))
    };
    let fault_driver = async {
        match rig {
            Some(rig) => {
                faults::drive(
                    &scenario.faults,
                    scenario.length,
                    rig,
                    &app,
                    &path,
                    &finished,
                )
                .await
            }
            None => Vec::new(),
        }
    };
    let (workload, fired) = tokio::join!(workload, fault_driver);
    let (dispatched, kinds, error_samples) = workload?;
    let elapsed = began.elapsed();
    let fault_records = match rig {
        Some(rig) => faults::settle(fired, PathReaction::now(&app, &rig.injector, &path)),
        None => Vec::new(),
    };
    if let Some(progress) = progress {
        progress.finish(dispatched, elapsed);
    }

    let mut check_results = Vec::new();
    for check in &scenario.checks {
        let result = match check {
            CheckName::RelayDrained => checks::relay_drained(&app, RELAY_DRAIN_TIMEOUT).await,
            CheckName::ReadParity => checks::read_parity(&app).await,
            CheckName::Parity => checks::parity(app.clone()).await,
            CheckName::NoLostWrites => {
                let model = model.as_ref().expect("kept when the check is asked for");
                checks::no_lost_writes(&app, model).await
            }
        };
        check_results.push(result.map_err(|source| ReplayError::Check {
            check: check.name(),
            source,
        })?);
    }
    if !fault_records.is_empty() {
        check_results.push(checks::faults_happened(&fault_records));
    }

    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    Ok(ReplayRecord {
        scenario: scenario.name.clone(),
        seed: options.seed,
        reproduce: options.reproduce.clone(),
        mode: format!("{:?}", app_mode(&scenario)),
        concurrency: scenario.concurrency,
        operations: dispatched,
        duration_ms,
        throughput_ops_per_s: dispatched as f64 / elapsed.as_secs_f64().max(1e-9),
        by_kind: kinds
            .iter()
            .map(|(kind, tally)| (kind.to_string(), tally.stats()))
            .collect(),
        error_samples,
        inline_apply_failures: app.stats.inline_apply_failures.load(Ordering::Relaxed),
        client_retries: path.client_retries.load(Ordering::Relaxed),
        writes_resolved_on_retry: path.writes_resolved_on_retry.load(Ordering::Relaxed),
        faults: fault_records,
        shadow_compared: app.stats.shadow_compared.load(Ordering::Relaxed),
        shadow_mismatched: app.stats.shadow_mismatched.load(Ordering::Relaxed),
        checks: check_results,
        backends: BTreeMap::new(),
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
