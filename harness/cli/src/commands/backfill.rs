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
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Entities per keyset page (and per version check).
    #[arg(long, default_value_t = 100)]
    page_size: usize,
    /// The checkpoint file: an interrupted run resumes from it; a finished one
    /// makes the next run a no-op (remove it to copy again).
    #[arg(long, default_value = "backfill.checkpoint.json")]
    checkpoint: PathBuf,
    /// Where to write backfill.json and backfill.md.
    #[arg(long, default_value = "reports")]
    out: PathBuf,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let app = args
        .stores
        .connect((args.workers as u32 * 2).max(4))
        .await?;
    let options = BackfillOptions {
        workers: args.workers.max(1),
        page_size: args.page_size.max(1),
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
    let written = report::write_pair(
        &args.out,
        "backfill",
        &serde_json::to_value(&result)?,
        &markdown,
    )?;
    println!("{markdown}");
    println!("wrote {}", written.join(" and "));
    Ok(if result.complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
