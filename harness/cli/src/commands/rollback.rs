//! `cutover rollback-drill`: rehearse the rollback before it is needed.

use std::path::PathBuf;
use std::process::ExitCode;

use cutover_core::workload::Scenario;
use cutover_replay::rollback::DrillPlan;
use cutover_replay::run::run_rollback_drill;

use crate::backend_args::BackendArgs;
use crate::performer_args::PerformerArgs;
use crate::report;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario whose writes the drill runs.
    #[arg(default_value = "scenarios/churn.toml")]
    scenario: PathBuf,
    /// The workload's seed (default: the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// Writes in all (reads before the switch are skipped; after it every
    /// read is made and judged). The scenario may produce fewer.
    #[arg(long, default_value_t = 400, value_parser = crate::ranges::operations())]
    writes: u64,
    /// Switch to postgres-only after this many writes: below the writes the
    /// scenario produces (a switch never reached is refused).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(0..=1_000_000_000))]
    switch_after: u64,
    /// Where to write rollback-drill.json and .md.
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
    let plan = DrillPlan {
        seed,
        writes: args.writes,
        switch_after: args.switch_after,
    };
    // Refused before any engine starts: a switch the workload never reaches.
    plan.writes_to_run(&scenario)?;
    let profile = args.performer.load_profile()?;
    let performer = args.performer.performer();
    let profile_path = args.performer.profile.clone();
    let (drilled, stores) = args
        .backends
        .within(async |engines, sandbox| {
            eprintln!(
                "{} writes of {} (seed {seed}), switching to postgres-only after {}",
                args.writes, scenario.name, args.switch_after
            );
            let drilled =
                run_rollback_drill(engines, sandbox, &scenario, plan, profile, &performer).await?;
            Ok((
                drilled,
                report::sandbox_stores(sandbox, profile_path.as_deref()),
            ))
        })
        .await?;
    let markdown = format!(
        "{}\nReproduce: `cutover rollback-drill {} --seed {seed} --writes {} --switch-after {}{}{}`\n",
        drilled.to_markdown(),
        args.scenario.display(),
        args.writes,
        args.switch_after,
        args.performer.as_flags(),
        args.backends.as_flags()
    );
    let document = serde_json::json!({
        "report": "rollback-drill",
        "generated_at": report::now_rfc3339(),
        "passed": drilled.passed(),
        "postgres_complete": drilled.postgres_complete(),
        "drill": drilled,
    });
    let reports = report::ReportsFor {
        dir: &args.out,
        stores,
        force: true,
    };
    let written = reports.write("rollback-drill", document, &markdown)?;
    println!(
        "rollback drill {}: {} dual writes, the switch, {} writes and {} reads on PostgreSQL alone",
        if drilled.passed() { "PASSED" } else { "FAILED" },
        drilled.writes_dual,
        drilled.writes_postgres_only,
        drilled.reads_after_switch
    );
    for reason in drilled.failures() {
        println!("  - {reason}");
    }
    println!("wrote {}", written.join(" and "));
    Ok(if drilled.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
