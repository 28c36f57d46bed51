use std::path::PathBuf;
use std::process::ExitCode;

use cutover_core::workload::Scenario;
use cutover_replay::ReplayOptions;
use cutover_replay::run::{Performer, run_scenario};

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

    let options = ReplayOptions {
        seed,
        operations: args.operations,
        reproduce,
        progress: true,
    };
    let performer = performer(
        args.driver.as_deref(),
        args.profile.as_deref(),
        args.driver_timeout,
    );
    let record = args
        .backends
        .within(async |engines, sandbox| {
            Ok(run_scenario(engines, sandbox, &scenario, &options, profile, &performer).await?)
        })
        .await?;

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

/// Who performs the operations: `--driver COMMAND` (told about `--profile`
/// when given), else the built-in path.
pub(crate) fn performer(
    driver: Option<&str>,
    profile_path: Option<&std::path::Path>,
    operation_timeout: std::time::Duration,
) -> Performer {
    match driver {
        None => Performer::BuiltIn,
        Some(command) => Performer::External {
            command: command.to_owned(),
            profile_path: profile_path.map(ToOwned::to_owned),
            operation_timeout,
        },
    }
}

/// `text` as one shell word.
pub(crate) fn shell_quote(text: &str) -> String {
    shlex::try_quote(text)
        .map(|quoted| quoted.into_owned())
        .unwrap_or_else(|_| format!("{text:?}"))
}
