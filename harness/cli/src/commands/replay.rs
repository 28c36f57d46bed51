use std::path::PathBuf;
use std::process::ExitCode;

use cutover_core::workload::Scenario;
use cutover_replay::ReplayOptions;
use cutover_replay::run::run_scenario;

use crate::backend_args::BackendArgs;
use crate::performer_args::PerformerArgs;
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
    #[command(flatten)]
    performer: PerformerArgs,
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
    reproduce.push_str(&args.performer.as_flags());
    reproduce.push_str(&args.backends.as_flags());
    let profile = args.performer.load_profile()?;
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
    let performer = args.performer.performer();
    let profile_path = args.performer.profile.clone();
    let (record, stores) = args
        .backends
        .within(async |engines, sandbox| {
            let record =
                run_scenario(engines, sandbox, &scenario, &options, profile, &performer).await?;
            Ok((
                record,
                report::sandbox_stores(sandbox, profile_path.as_deref()),
            ))
        })
        .await?;

    let markdown = record.to_markdown();
    // A driver's run is named after it, beside the built-in path's.
    let driver_suffix = match &args.performer.driver {
        Some(_) => {
            let described = record.driver.trim_start_matches("reads: ");
            format!("-{}", described.split(' ').next().unwrap_or("driver"))
        }
        None => String::new(),
    };
    let name = format!("replay-{}-seed{seed}{driver_suffix}", scenario.name);
    let reports = report::ReportsFor {
        dir: &args.out,
        stores,
        force: true,
    };
    let written = reports.write(&name, serde_json::to_value(&record)?, &markdown)?;
    println!("{markdown}");
    println!("report: {}", written.join(" and "));
    Ok(if record.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
