use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use cutover_app::App;
use cutover_core::workload::Scenario;
use cutover_replay::driver;
use cutover_replay::faults::{self, FaultRig};
use cutover_replay::{ReplayOptions, replay, replay_through, replay_with_faults};

use crate::backend_args::BackendArgs;
use crate::report;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario file, e.g. scenarios/smoke.toml.
    scenario: PathBuf,
    /// Replay with this seed instead of the scenario's own.
    #[arg(long)]
    seed: Option<u64>,
    /// Run this many operations instead of the scenario's run length.
    #[arg(long, value_parser = crate::ranges::operations())]
    operations: Option<u64>,
    /// Where to write the run record.
    #[arg(long, default_value = "reports")]
    out: PathBuf,
    /// Write DynamoDB items as this app profile lays them out (profiles/README.md),
    /// e.g. profiles/electrodb.toml; PostgreSQL stays the reference app's schema.
    #[arg(long, value_name = "FILE")]
    profile: Option<PathBuf>,
    /// Perform the operations with the app's own code: a command that speaks
    /// the driver protocol on stdin/stdout (docs/driver-protocol.md), e.g.
    /// 'node drivers/outbox/main.mjs'. Default: cutover's built-in Rust path.
    #[arg(long, value_name = "COMMAND")]
    driver: Option<String>,
    /// How long the driver may take over one operation before the run stops.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = crate::ranges::duration)]
    driver_timeout: std::time::Duration,
    #[command(flatten)]
    backends: BackendArgs,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let text = crate::input::read_text(&args.scenario, "scenario")?;
    let scenario = Scenario::parse(&text, &args.scenario.display().to_string())?;
    let seed = args.seed.unwrap_or(scenario.seed);
    let mut reproduce = format!("cutover replay {} --seed {seed}", args.scenario.display());
    if let Some(operations) = args.operations {
        reproduce.push_str(&format!(" --operations {operations}"));
    }
    if let Some(profile) = &args.profile {
        reproduce.push_str(&format!(" --profile {}", profile.display()));
    }
    if let Some(driver) = &args.driver {
        reproduce.push_str(&format!(" --driver {}", shell_quote(driver)));
    }
    let profile = crate::input::load_profile(args.profile.as_deref())?;
    eprintln!(
        "scenario {} with seed {seed} (reproduce: {reproduce})",
        scenario.name
    );

    let (engines, sandbox) = args.backends.start().await?;
    let options = ReplayOptions {
        seed,
        operations: args.operations,
        reproduce,
        progress: true,
    };
    let outcome = match &args.driver {
        None => built_in(&engines, &sandbox, &scenario, &options, profile).await,
        Some(command) => {
            external(
                &engines,
                &sandbox,
                &scenario,
                &options,
                profile,
                args.profile.as_deref(),
                command,
                args.driver_timeout,
            )
            .await
        }
    };
    let cleanup = sandbox.close().await;
    let backends = [
        ("postgres", engines.postgres().provisioner.to_string()),
        (
            "dynamodb",
            format!(
                "{} ({})",
                engines.dynamodb().provisioner,
                engines.dynamodb().engine_name
            ),
        ),
        (
            "s3",
            format!(
                "{} ({})",
                engines.s3().provisioner,
                engines.s3().engine_name
            ),
        ),
    ];
    engines.shutdown().await;
    let mut record = outcome?;
    cleanup?;
    record.backends = backends
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();

    let markdown = record.to_markdown();
    // A driver's run is named after it, beside the built-in path's.
    let driver_suffix = match &args.driver {
        Some(_) => {
            let described = record.driver.trim_start_matches("reads: ");
            format!("-{}", described.split(' ').next().unwrap_or("driver"))
        }
        None => String::new(),
    };
    let name = format!("replay-{}-seed{seed}{driver_suffix}", scenario.name);
    let written = report::write_pair(&args.out, &name, &serde_json::to_value(&record)?, &markdown)?;
    println!("{markdown}");
    println!("report: {}", written.join(" and "));
    Ok(if record.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn built_in(
    engines: &cutover_backends::Engines,
    sandbox: &cutover_backends::Sandbox,
    scenario: &Scenario,
    options: &ReplayOptions,
    profile: Arc<cutover_core::profile::Profile>,
) -> anyhow::Result<cutover_replay::ReplayRecord> {
    let mode = cutover_replay::app_mode(scenario);
    let app = App::install_with_profile(sandbox, mode, profile.clone()).await?;
    Ok(if scenario.faults.is_empty() {
        replay(Arc::new(app), scenario, options).await?
    } else {
        // Faults are injected into the SDK clients of an app over the same
        // stores, and into its PostgreSQL connections by the fault proxy.
        let rig = FaultRig::start(engines, sandbox).await?;
        let app = Arc::new(faults::instrumented_app(sandbox, mode, &rig, profile));
        replay_with_faults(app, scenario, options, &rig).await?
    })
}

#[allow(clippy::too_many_arguments)]
async fn external(
    engines: &cutover_backends::Engines,
    sandbox: &cutover_backends::Sandbox,
    scenario: &Scenario,
    options: &ReplayOptions,
    profile: Arc<cutover_core::profile::Profile>,
    profile_path: Option<&std::path::Path>,
    command: &str,
    operation_timeout: std::time::Duration,
) -> anyhow::Result<cutover_replay::ReplayRecord> {
    // The driver reaches every engine through the fault proxies, which carry
    // the scenario's faults (and pass everything through otherwise).
    let rig = FaultRig::start(engines, sandbox).await?;
    let (driver, stores) = driver::start_external(
        sandbox,
        &rig,
        profile,
        profile_path,
        cutover_replay::app_mode(scenario),
        command,
        operation_timeout,
    )
    .await?;
    eprintln!("driver: {}", driver.describe());
    let outcome = replay_through(driver.clone(), stores, scenario, options, Some(&rig)).await;
    if let Some(problem) = driver.close().await {
        eprintln!("warning: {problem}");
    }
    Ok(outcome?)
}

/// `text` as one shell word.
pub(crate) fn shell_quote(text: &str) -> String {
    shlex::try_quote(text)
        .map(|quoted| quoted.into_owned())
        .unwrap_or_else(|_| format!("{text:?}"))
}
