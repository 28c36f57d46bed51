use std::path::PathBuf;
use std::process::ExitCode;

use cutover_backfill::{BackfillOptions, backfill};

use crate::report;
use crate::store_args::StoreArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    stores: StoreArgs,
    /// Pages copied at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: u16,
    /// Entities per keyset page (and per version check).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=10_000))]
    page_size: u16,
    /// The checkpoint file: an interrupted run resumes from it; a finished one
    /// makes the next run a no-op (remove it to copy again).
    #[arg(long, default_value = "backfill.checkpoint.json")]
    checkpoint: PathBuf,
    /// Where to write backfill.json and backfill.md.
    #[arg(long, default_value = "reports")]
    out: PathBuf,
    /// Replace reports in --out that name other stores (another run's).
    #[arg(long)]
    force: bool,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let reports = report::ReportsFor {
        dir: &args.out,
        stores: args.stores.compared(),
        force: args.force,
    };
    reports.check("backfill")?;
    let app = args
        .stores
        .connect((u32::from(args.workers) * 2).max(4))
        .await?;
    let options = BackfillOptions {
        workers: usize::from(args.workers),
        page_size: usize::from(args.page_size),
        checkpoint: Some(args.checkpoint.clone()),
        progress: true,
        ..BackfillOptions::new(args.stores.describe())
    };
    eprintln!(
        "backfilling {} (checkpoint {})",
        options.source,
        args.checkpoint.display()
    );
    let result = backfill(&app, &options).await?;
    let markdown = result.to_markdown();
    let written = reports.write("backfill", serde_json::to_value(&result)?, &markdown)?;
    println!("{markdown}");
    println!("wrote {}", written.join(" and "));
    Ok(if result.complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
