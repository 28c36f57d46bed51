//! A scenario replayed, or a rollback drilled, on engines the caller opened,
//! by whichever performer it names: the one call behind `cutover replay` and
//! `cutover rollback-drill`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cutover_app::{App, Mode};
use cutover_backends::{Engines, Sandbox};
use cutover_core::profile::Profile;
use cutover_core::workload::Scenario;

use crate::driver::{self, Driver};
use crate::faults::{self, FaultRig};
use crate::rollback::{DrillPlan, RollbackReport};
use crate::{ReplayError, ReplayOptions, ReplayRecord, app_mode};

/// Who performs the operations.
#[derive(Debug, Clone)]
pub enum Performer {
    /// cutover's own Rust dual-write path.
    BuiltIn,
    /// The app's own code, behind the driver protocol (docs/driver-protocol.md).
    External {
        /// The command line that starts the driver.
        command: String,
        /// The profile file the driver is told about, when there is one.
        profile_path: Option<PathBuf>,
        /// How long the driver may take over one operation.
        operation_timeout: Duration,
    },
}

/// Replays `scenario` on `sandbox`, writing DynamoDB as `profile` lays it out.
/// A scenario with faults gets them: on the built-in path through an
/// instrumented app and the fault proxy, for a driver through the proxies it
/// reaches every engine by. The record names the engines that served it.
pub async fn run_scenario(
    engines: &Engines,
    sandbox: &Sandbox,
    scenario: &Scenario,
    options: &ReplayOptions,
    profile: Arc<Profile>,
    performer: &Performer,
) -> Result<ReplayRecord, ReplayError> {
    let mut record = match performer.external() {
        None => built_in(engines, sandbox, scenario, options, profile).await?,
        Some(external) => {
            with_external_driver(
                engines,
                sandbox,
                profile,
                app_mode(scenario),
                external,
                async |driver, stores, rig| {
                    crate::replay_through(driver, stores, scenario, options, Some(rig)).await
                },
                |_, _| {},
            )
            .await?
        }
    };
    record.backends = backends_of(engines);
    Ok(record)
}

async fn built_in(
    engines: &Engines,
    sandbox: &Sandbox,
    scenario: &Scenario,
    options: &ReplayOptions,
    profile: Arc<Profile>,
) -> Result<ReplayRecord, ReplayError> {
    let mode = app_mode(scenario);
    let app = App::install_with_profile(sandbox, mode, profile.clone()).await?;
    if scenario.faults.is_empty() {
        return crate::replay(Arc::new(app), scenario, options).await;
    }
    // Faults are injected into the SDK clients of an app over the same
    // stores, and into its PostgreSQL connections by the fault proxy.
    let rig = FaultRig::start(engines, sandbox).await?;
    let app = Arc::new(faults::instrumented_app(sandbox, mode, &rig, profile));
    crate::replay_with_faults(app, scenario, options, &rig).await
}

/// The rollback drill (`crate::rollback::drill`) of `scenario` as `plan`
/// says, by whichever performer it names: the one call behind
/// `cutover rollback-drill`.
pub async fn run_rollback_drill(
    engines: &Engines,
    sandbox: &Sandbox,
    scenario: &Scenario,
    plan: DrillPlan,
    profile: Arc<Profile>,
    performer: &Performer,
) -> Result<RollbackReport, ReplayError> {
    let drill = async |driver: Arc<Driver>, stores: Arc<App>, rig: &FaultRig<'_>| {
        crate::rollback::drill(&driver, &stores, rig, scenario, plan).await
    };
    match performer.external() {
        None => {
            // The harness reads the stores directly; the app reaches
            // DynamoDB and S3 through the rig, which cuts them off.
            let stores =
                Arc::new(App::install_with_profile(sandbox, Mode::Dual, profile.clone()).await?);
            let rig = FaultRig::start(engines, sandbox).await?;
            let app = Arc::new(faults::instrumented_app(sandbox, Mode::Dual, &rig, profile));
            drill(Arc::new(Driver::BuiltIn(app)), stores, &rig).await
        }
        Some(external) => {
            with_external_driver(
                engines,
                sandbox,
                profile,
                Mode::Dual,
                external,
                async |driver, stores, rig| drill(driver, stores, rig).await,
                crate::rollback::recount_after_close,
            )
            .await
        }
    }
}

/// An external performer's settings, borrowed.
struct External<'a> {
    command: &'a str,
    profile_path: Option<&'a Path>,
    operation_timeout: Duration,
}

impl Performer {
    fn external(&self) -> Option<External<'_>> {
        match self {
            Performer::BuiltIn => None,
            Performer::External {
                command,
                profile_path,
                operation_timeout,
            } => Some(External {
                command,
                profile_path: profile_path.as_deref(),
                operation_timeout: *operation_timeout,
            }),
        }
    }
}

/// Starts the driver behind the fault proxies (which carry a scenario's
/// faults and pass everything through otherwise), runs `work` with it, and
/// closes it whatever `work` returned (a problem closing it is a warning);
/// then `after_close` sees the result and the rig, which saw the driver out.
async fn with_external_driver<T>(
    engines: &Engines,
    sandbox: &Sandbox,
    profile: Arc<Profile>,
    mode: Mode,
    external: External<'_>,
    work: impl AsyncFnOnce(Arc<Driver>, Arc<App>, &FaultRig<'_>) -> Result<T, ReplayError>,
    after_close: impl FnOnce(&mut T, &FaultRig<'_>),
) -> Result<T, ReplayError> {
    let rig = FaultRig::start(engines, sandbox).await?;
    let (driver, stores) = driver::start_external(
        sandbox,
        &rig,
        profile,
        external.profile_path,
        mode,
        external.command,
        external.operation_timeout,
    )
    .await?;
    eprintln!("driver: {}", driver.describe());
    let mut outcome = work(driver.clone(), stores, &rig).await;
    if let Some(problem) = driver.close().await {
        eprintln!("warning: {problem}");
    }
    if let Ok(result) = &mut outcome {
        after_close(result, &rig);
    }
    outcome
}

/// Which provisioner and engine served each store.
fn backends_of(engines: &Engines) -> std::collections::BTreeMap<String, String> {
    let described = |provisioner: String, engine: &str| format!("{provisioner} ({engine})");
    [
        ("postgres", engines.postgres().provisioner.to_string()),
        (
            "dynamodb",
            described(
                engines.dynamodb().provisioner.to_string(),
                &engines.dynamodb().engine_name,
            ),
        ),
        (
            "s3",
            described(
                engines.s3().provisioner.to_string(),
                &engines.s3().engine_name,
            ),
        ),
    ]
    .into_iter()
    .map(|(store, engine)| (store.to_owned(), engine))
    .collect()
}
