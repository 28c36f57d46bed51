//! A scenario replayed on engines the caller opened, by whichever performer
//! it names: the one call behind `cutover replay`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cutover_app::App;
use cutover_backends::{Engines, Sandbox};
use cutover_core::profile::Profile;
use cutover_core::workload::Scenario;

use crate::faults::{self, FaultRig};
use crate::{ReplayError, ReplayOptions, ReplayRecord, app_mode, driver};

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
    let mut record = match performer {
        Performer::BuiltIn => built_in(engines, sandbox, scenario, options, profile).await?,
        Performer::External {
            command,
            profile_path,
            operation_timeout,
        } => {
            // The driver reaches every engine through the fault proxies, which
            // carry the scenario's faults (and pass everything through otherwise).
            let rig = FaultRig::start(engines, sandbox).await?;
            let (driver, stores) = driver::start_external(
                sandbox,
                &rig,
                profile,
                profile_path.as_deref(),
                app_mode(scenario),
                command,
                *operation_timeout,
            )
            .await?;
            eprintln!("driver: {}", driver.describe());
            let outcome =
                crate::replay_through(driver.clone(), stores, scenario, options, Some(&rig)).await;
            if let Some(problem) = driver.close().await {
                eprintln!("warning: {problem}");
            }
            outcome?
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
