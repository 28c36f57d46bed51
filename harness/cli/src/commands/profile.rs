use std::path::PathBuf;
use std::process::ExitCode;

use cutover_parity::{ProfileCheckOptions, check_profile};

use crate::report;
use crate::store_args::StoreArgs;

#[derive(Debug, clap::Subcommand)]
pub enum Profile {
    /// Lint an app profile against the live stores it describes: missing tables and
    /// columns, column types, rows and items that do not decode (a sample, with keys),
    /// ids that collide under the key casing, the table's keys and indexes, the bucket.
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    stores: StoreArgs,
    /// Rows decoded per entity table, and items decoded from the table.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    sample: u32,
    /// Where to write profile-check.json and profile-check.md.
    #[arg(long, default_value = "reports")]
    out: PathBuf,
    /// Replace reports in --out that name other stores (another run's).
    #[arg(long)]
    force: bool,
}

pub async fn run(command: Profile) -> anyhow::Result<ExitCode> {
    let Profile::Check(args) = command;
    anyhow::ensure!(
        args.stores.profile.is_some(),
        "cutover profile check needs --profile FILE (the profile to check)"
    );
    let reports = report::ReportsFor {
        dir: &args.out,
        stores: args.stores.compared(),
        force: args.force,
    };
    reports.check("profile-check")?;
    let app = args.stores.connect(4).await?;
    let checked = check_profile(
        &app,
        &ProfileCheckOptions {
            sample: args.sample,
        },
    )
    .await?;
    let markdown = checked.to_markdown();
    let written = reports.write("profile-check", serde_json::to_value(&checked)?, &markdown)?;
    println!("{markdown}");
    println!("wrote {}", written.join(" and "));
    Ok(if checked.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
