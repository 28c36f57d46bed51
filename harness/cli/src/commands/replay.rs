use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use cutover_app::App;
use cutover_core::workload::Scenario;
use cutover_replay::faults::{self, FaultRig, Injector};
use cutover_replay::{ReplayOptions, replay, replay_with_faults};

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
    let profile = crate::input::load_profile(args.profile.as_deref())?;
    eprintln!(
        "scenario {} with seed {seed} (reproduce: {reproduce})",
        scenario.name
    );

    let (engines, sandbox) = args.backends.start().await?;
    let mode = cutover_replay::app_mode(&scenario);
    let app = App::install_with_profile(&sandbox, mode, profile.clone()).await?;
    let options = ReplayOptions {
        seed,
        operations: args.operations,
        reproduce,
        progress: true,
    };
    let outcome = if scenario.faults.is_empty() {
        replay(Arc::new(app), &scenario, &options).await
    } else {
        // Faults are injected into the SDK clients of an app over the same stores.
        let injector = Injector::new();
        let app = Arc::new(faults::instrumented_app(&sandbox, mode, &injector, profile));
        let rig = FaultRig {
            engines: &engines,
            injector,
        };
        replay_with_faults(app, &scenario, &options, &rig).await
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
    tokio::task::spawn_blocking(move || drop(engines)).await?;
    let mut record = outcome?;
    cleanup?;
    record.backends = backends
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();

    let markdown = record.to_markdown();
    let name = format!("replay-{}-seed{seed}", scenario.name);
    let written = report::write_pair(&args.out, &name, &serde_json::to_value(&record)?, &markdown)?;
    println!("{markdown}");
    println!("report: {}", written.join(" and "));
    Ok(if record.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
