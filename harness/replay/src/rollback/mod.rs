//! The rollback drill (seed 002, task 3): while a workload runs through the
//! dual-write path, switch the app to `postgres-only` as a rollback would,
//! cut DynamoDB and S3 off, keep writing and reading, and prove from the
//! stores that the rollback happened (docs/rollback.md):
//!
//! - at the switch, nothing was pending and the stores agreed, and
//!   PostgreSQL held what the model held;
//! - after it, the app reached neither DynamoDB nor S3 (every request was
//!   refused and counted; no item or object changed), every write and read
//!   still succeeded, and each read was answered as the model answers it;
//! - at the end, PostgreSQL alone holds exactly the model, and nothing
//!   lives only in DynamoDB (what is there is listed: a rollback loses it).

mod observe;
mod report;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cutover_app::model_view::postgres_as_model;
use cutover_app::{App, Command, Mode, Read};
use cutover_core::driver::{self as protocol, Rejection};
use cutover_core::keys::Id;
use cutover_core::model::Model;
use cutover_core::workload::{FaultTarget, Op, OpKind, Scenario, Workload};
use serde_json::Value;

pub use report::{AfterSwitch, AtSwitch, OnlyInDynamodb, RollbackReport};

use crate::ReplayError;
use crate::driver::{Action, Driver, Performed};
use crate::faults::FaultRig;

/// How long a write that fails retryably is tried again before the switch,
/// as a client would.
const RETRY_BUDGET: Duration = Duration::from_secs(60);
/// How long the driver may take to finish its background work at the switch.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// How much a drill writes, and when it switches.
#[derive(Debug, Clone, Copy)]
pub struct DrillPlan {
    /// The workload's seed.
    pub seed: u64,
    /// Writes in all (the workload's reads before the switch are skipped).
    pub writes: u64,
    /// The switch to `postgres-only` comes after this many writes.
    pub switch_after: u64,
}

impl DrillPlan {
    /// The writes the drill will run: `writes`, or all the scenario produces
    /// when that is fewer. A switch that would never come (at or past that
    /// number) is refused: a drill that never switched proves nothing.
    pub fn writes_to_run(&self, scenario: &Scenario) -> Result<u64, ReplayError> {
        let available = Workload::new(scenario, self.seed)
            .filter(|op| matches!(op.kind, OpKind::Write { .. }))
            .take(usize::try_from(self.writes).unwrap_or(usize::MAX))
            .count() as u64;
        if self.switch_after >= available {
            return Err(ReplayError::SwitchUnreachable {
                scenario: scenario.name.clone(),
                seed: self.seed,
                switch_after: self.switch_after,
                writes: self.writes,
                available,
            });
        }
        Ok(available)
    }
}

/// Runs the plan's writes of the scenario's workload through `driver`,
/// switching it to `postgres-only` part-way. `stores` is the harness's own
/// view of the stores the driver writes, reached directly; the driver must
/// reach DynamoDB and S3 through `rig` (its proxies or an app it
/// instrumented), which cuts them off at the switch.
pub async fn drill(
    driver: &Driver,
    stores: &Arc<App>,
    rig: &FaultRig<'_>,
    scenario: &Scenario,
    plan: DrillPlan,
) -> Result<RollbackReport, ReplayError> {
    if matches!(driver, Driver::ReadsOnly { .. }) {
        return Err(ReplayError::DrillNeedsWrites {
            driver: driver.describe(),
        });
    }
    let writes_to_run = plan.writes_to_run(scenario)?;
    connect(rig, true);
    driver.set_mode(Mode::Dual).await?;
    let mut run = Drill::default();
    let mut ops = Workload::new(scenario, plan.seed);
    while run.writes < plan.switch_after {
        let op = ops.next().expect("writes_to_run counted them");
        if let OpKind::Write { command } = &op.kind {
            run.write(driver, &op, command, RETRY_BUDGET).await?;
        }
    }
    let writes_dual = run.writes;
    let at_switch = switch(driver, stores, rig, &run.model).await?;
    let model_at_switch = run.model.clone();
    let before = observe::snapshot(stores).await?;

    for op in ops {
        if run.writes >= writes_to_run {
            break;
        }
        run.after_switch(driver, &op).await?;
    }
    // Every access pattern of every entity, answered with DynamoDB and S3
    // still cut off.
    let tokens = std::sync::Mutex::new(run.tokens.clone());
    let read_check = crate::checks::driver_read_parity(driver, &run.model, &tokens).await?;
    // Work the driver deferred is asked for now, still cut off: it must
    // have none, and must not reach for DynamoDB or S3 doing it. (The cut
    // stays until the rig is dropped: `recount_after_close` counts what the
    // driver sends on its way out.)
    let pending_at_end = driver.drain(DRAIN_TIMEOUT).await?;
    let changed = observe::changes(&before, &observe::snapshot(stores).await?);
    let after_switch = AfterSwitch {
        dynamodb_requests: rig.injector.refused_while_cut(FaultTarget::Dynamodb),
        s3_requests: rig.injector.refused_while_cut(FaultTarget::S3),
        pending_at_end: pending_at_end.as_ref().ok().copied(),
        drain_problem_at_end: pending_at_end.err(),
        items_changed: changed.items,
        objects_changed: changed.objects,
    };

    let postgres = postgres_as_model(&stores.pg).await?;
    let (only_in_dynamodb, deleted_since_switch) =
        observe::only_in_dynamodb(stores, &postgres, &model_at_switch).await?;
    let stale_or_missing = observe::entities_differing(stores).await?.len();
    Ok(RollbackReport {
        scenario: scenario.name.clone(),
        seed: plan.seed,
        writes_dual,
        writes_postgres_only: run.writes - writes_dual,
        reads_after_switch: run.reads,
        share_links_not_asked: run.share_links_not_asked,
        refused_as_modeled: run.refused,
        at_switch,
        after_switch,
        postgres_differences: run.model.differences(&postgres),
        only_in_dynamodb,
        stale_or_missing_in_dynamodb: stale_or_missing as u64,
        deleted_since_switch,
        disagreements: run.disagreements,
        wrong_answers: run.wrong_answers,
        read_check,
    })
}

/// Counts, into `report`, the requests the driver sent DynamoDB and S3 up to
/// now, while they stayed cut off: call it after closing the driver, so
/// what it flushes on its way out is seen too.
pub fn recount_after_close(report: &mut RollbackReport, rig: &FaultRig<'_>) {
    report.after_switch.dynamodb_requests = rig.injector.refused_while_cut(FaultTarget::Dynamodb);
    report.after_switch.s3_requests = rig.injector.refused_while_cut(FaultTarget::S3);
}

/// Reconnects DynamoDB and S3 (`true`) or cuts them off.
fn connect(rig: &FaultRig<'_>, connected: bool) {
    for target in [FaultTarget::Dynamodb, FaultTarget::S3] {
        rig.injector.cut_off(target, !connected);
    }
}

/// The switch: the driver drains, switches to `postgres-only`, DynamoDB and
/// S3 are cut off, and the stores are read as they are at that moment.
async fn switch(
    driver: &Driver,
    stores: &Arc<App>,
    rig: &FaultRig<'_>,
    model: &Model,
) -> Result<AtSwitch, ReplayError> {
    let (pending, drain_problem) = match driver.drain(DRAIN_TIMEOUT).await? {
        Ok(pending) => (Some(pending), None),
        Err(problem) => (None, Some(problem)),
    };
    driver.set_mode(Mode::PostgresOnly).await?;
    connect(rig, false);
    let postgres = postgres_as_model(&stores.pg).await?;
    Ok(AtSwitch {
        pending,
        drain_problem,
        // Items only DynamoDB holds are judged at the end, against what
        // the model held at the switch.
        stores_differing: observe::entities_differing(stores).await?,
        postgres_differences: model.differences(&postgres),
    })
}

/// The drill's running state: the model, what was observed so far.
#[derive(Default)]
struct Drill {
    model: Model,
    /// Who owns what the run created, deleted or not.
    owners: crate::in_run::Owners,
    writes: u64,
    reads: u64,
    refused: u64,
    share_links_not_asked: u64,
    /// The newest share token the app handed out, per session.
    tokens: HashMap<Id, String>,
    disagreements: Vec<String>,
    wrong_answers: Vec<String>,
}

impl Drill {
    /// One workload operation after the switch: every write, read, search
    /// and share link the workload makes, each tried once (the stores it
    /// may use are up; the ones it may not are cut off).
    async fn after_switch(&mut self, driver: &Driver, op: &Op) -> Result<(), ReplayError> {
        let read = match &op.kind {
            OpKind::Write { command } => {
                return self.write(driver, op, command, Duration::ZERO).await;
            }
            OpKind::Read { .. } | OpKind::Search { .. } => {
                op.kind.plain_read().expect("a read or a search")
            }
            // The drill keeps live links only: a revoked one is not asked.
            OpKind::OpenShareLink {
                session,
                revoked: false,
            } => match self.tokens.get(session) {
                Some(token) => Read::SessionByShareToken(token.clone()),
                None => {
                    self.share_links_not_asked += 1;
                    return Ok(());
                }
            },
            OpKind::OpenShareLink { revoked: true, .. } => {
                self.share_links_not_asked += 1;
                return Ok(());
            }
        };
        self.read(driver, op, &read).await
    }

    async fn write(
        &mut self,
        driver: &Driver,
        op: &Op,
        command: &Command,
        retry_budget: Duration,
    ) -> Result<(), ReplayError> {
        let modeled = self.model.apply(command);
        if let Ok(touched) = &modeled {
            self.owners.record(&self.model, touched);
        }
        let operation = format!("op {} (write by {})", op.ordinal, op.user);
        let performed =
            perform_with_retries(driver, &op.user, command, &operation, retry_budget).await?;
        self.writes += 1;
        let disagreement = match (performed, modeled) {
            (Performed::Ok { share_token, .. }, Ok(_)) => {
                if let (Some(token), Command::ShareSession { session, .. }) = (share_token, command)
                {
                    self.tokens.insert(session.clone(), token);
                }
                return Ok(());
            }
            (
                Performed::Rejected {
                    reason: Rejection::NotFound | Rejection::AlreadyExists,
                    ..
                },
                Err(_),
            ) => {
                self.refused += 1;
                return Ok(());
            }
            (Performed::Rejected { reason, detail }, Ok(_)) => format!(
                "refused ({}: {detail}), the model accepts it",
                reason.name()
            ),
            (Performed::Failed { error, .. }, _) => format!("failed: {error}"),
            (Performed::Ok { .. }, Err(refusal)) => {
                format!("accepted, the model refuses it ({refusal:?})")
            }
            (Performed::Rejected { reason, detail }, Err(refusal)) => format!(
                "refused ({}: {detail}), the model refuses it otherwise ({refusal:?})",
                reason.name()
            ),
        };
        self.disagreements
            .push(format!("{operation} {command:?}: {disagreement}"));
        Ok(())
    }

    /// One read, judged against the model's answer at this point.
    async fn read(&mut self, driver: &Driver, op: &Op, read: &Read) -> Result<(), ReplayError> {
        self.reads += 1;
        let expected = match read {
            Read::SessionByShareToken(token) => self.share_link_answer(token),
            _ => crate::in_run::answer_for(&self.model, &self.owners, &op.user, read),
        };
        let Some(expected) = expected else {
            return Ok(());
        };
        let operation = format!("op {} ({read:?} by {})", op.ordinal, op.user);
        let wrong = match driver
            .perform(&op.user, Action::Read(read), &operation)
            .await?
        {
            Performed::Ok { answer, .. } => {
                protocol::compare_answer(read, &expected, &answer).map(|difference| difference.what)
            }
            // Nothing there: "not found" is that answer too.
            Performed::Rejected {
                reason: Rejection::NotFound,
                ..
            } if nothing(&expected) => None,
            Performed::Rejected { reason, detail } => {
                Some(format!("refused ({}): {detail}", reason.name()))
            }
            Performed::Failed { error, .. } => Some(format!("failed: {error}")),
        };
        if let Some(wrong) = wrong {
            self.wrong_answers.push(format!("{operation}: {wrong}"));
        }
        Ok(())
    }

    /// What opening a share link answers: the session while it is shared
    /// (the token is its newest), nothing once unshared or gone.
    fn share_link_answer(&self, token: &str) -> Option<Value> {
        let (session, _) = self.tokens.iter().find(|(_, known)| *known == token)?;
        match self.model.sessions.get(session) {
            Some(found) if found.shared => {
                protocol::expected_answer(&self.model, &Read::Session(session.clone()))
            }
            _ => Some(Value::Null),
        }
    }
}

/// Whether an answer says "nothing": no entity, an empty list.
fn nothing(answer: &Value) -> bool {
    match answer {
        Value::Null => true,
        Value::Array(values) => values.is_empty(),
        _ => false,
    }
}

/// One write, tried again after retryable failures (a restarting engine)
/// for up to `budget`.
async fn perform_with_retries(
    driver: &Driver,
    user: &Id,
    command: &Command,
    operation: &str,
    budget: Duration,
) -> Result<Performed, ReplayError> {
    let began = std::time::Instant::now();
    let mut delay = Duration::from_millis(50);
    loop {
        match driver
            .perform(user, Action::Write(command), operation)
            .await?
        {
            Performed::Failed {
                retryable: true, ..
            } if began.elapsed() < budget => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
            performed => return Ok(performed),
        }
    }
}
