use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use cutover_parity::{ParityOptions, TranscriptCheck, validate};

use crate::report;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    stores: crate::store_args::StoreArgs,
    /// Pass only when nothing mismatches persistently or the mismatched share is strictly
    /// under this percentage (the plan's "< 1%"); 0 passes only a perfect run (use it in CI).
    #[arg(long, default_value_t = 1.0, value_parser = crate::ranges::percent)]
    max_mismatch_percent: f64,
    /// A pending outbox record older than this is a stuck write (a persistent finding), not one in flight.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(0..=31_536_000))]
    stuck_after_seconds: u64,
    /// ...and so is one that has failed this many times.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(i32).range(1..))]
    stuck_attempts: i32,
    /// Parallel Scan segments.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    segments: u32,
    /// `content` downloads and hashes every transcript; `size` compares sizes only; `skip` reads no S3.
    #[arg(long, default_value = "content", value_parser = ["content", "size", "skip"])]
    transcripts: String,
    /// Seconds to wait before re-checking mismatches (writes in flight settle).
    #[arg(long, default_value_t = 2.0, value_parser = crate::ranges::seconds)]
    grace_seconds: f64,
    /// Re-drive persistent mismatches from PostgreSQL through the app's write path, then re-verify.
    #[arg(long)]
    repair: bool,
    /// With --repair: also delete DynamoDB-only items, malformed items and orphan objects
    /// (by default they are listed, not deleted).
    #[arg(long, requires = "repair")]
    delete_dynamodb_only: bool,
    /// Where to write parity.json, parity.md and parity.junit.xml.
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
    reports.check("parity")?;
    if args.repair {
        reports.check("parity-repair")?;
    }
    let app = Arc::new(args.stores.connect(8).await?);
    let options = ParityOptions {
        segments: args.segments,
        grace: Duration::from_secs_f64(args.grace_seconds),
        transcripts: match args.transcripts.as_str() {
            "size" => TranscriptCheck::SizeOnly,
            "skip" => TranscriptCheck::Skip,
            _ => TranscriptCheck::Content,
        },
        max_mismatch_percent: args.max_mismatch_percent,
        stuck_after: Duration::from_secs(args.stuck_after_seconds),
        stuck_attempts: args.stuck_attempts,
        ..ParityOptions::default()
    };
    let mut report = validate(app.clone(), &options).await?;
    let mut markdown = report.to_markdown();
    if args.repair {
        let repaired =
            cutover_parity::repair(app, &report, &options, args.delete_dynamodb_only).await?;
        let summary = repaired.to_markdown();
        reports.write("parity-repair", serde_json::to_value(&repaired)?, &summary)?;
        markdown = format!("{markdown}\n{summary}");
        report = repaired.after;
    }
    let mut written = reports.write("parity", serde_json::to_value(&report)?, &markdown)?;
    let junit = args.out.join("parity.junit.xml");
    std::fs::write(&junit, report.to_junit())
        .with_context(|| format!("writing {}", junit.display()))?;
    written.push(junit.display().to_string());
    println!("{markdown}");
    println!("{}", reports.stores.line());
    println!("wrote {}", written.join(", "));
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
