//! `cutover search-equivalence`: does DynamoDB search give what PostgreSQL gave?

use std::path::PathBuf;
use std::process::ExitCode;

use cutover_core::search::corpus::Corpus;
use serde_json::json;

use crate::report;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The hand-written corpus: sessions and queries.
    #[arg(long, default_value = "fixtures/search-corpus.toml")]
    corpus: PathBuf,
    /// Instead of the file, generate a campaign of this many sessions (replay with --seed).
    #[arg(long, value_parser = crate::ranges::count(100_000))]
    generated_sessions: Option<usize>,
    /// Queries asked of a generated campaign.
    #[arg(long, default_value_t = 200, value_parser = crate::ranges::count(100_000))]
    generated_queries: usize,
    /// Seed of the generated campaign (printed when not given).
    #[arg(long)]
    seed: Option<u64>,
    /// Where to write search-equivalence.json and .md.
    #[arg(long, default_value = "reports")]
    out: PathBuf,
    #[command(flatten)]
    backends: crate::backend_args::BackendArgs,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let corpus = match args.generated_sessions {
        Some(sessions) => {
            let seed = args.seed.unwrap_or_else(rand::random);
            eprintln!("generated corpus, seed {seed} (replay: --seed {seed})");
            Corpus::generated(seed, sessions, args.generated_queries)
        }
        None => {
            let text = crate::input::read_text(&args.corpus, "corpus")?;
            Corpus::parse(&text, &args.corpus.display().to_string())?
        }
    };
    let report = args
        .backends
        .within(async |_, sandbox| {
            Ok(cutover_search::equivalence::check_corpus(sandbox, &corpus).await?)
        })
        .await?;

    let generated_at = report::now_rfc3339();
    let markdown = format!(
        "{}\nGenerated {generated_at} on {}.\n",
        report.to_markdown(),
        report::machine_line()
    );
    let defects = report.defects().len();
    let document = json!({
        "report": "search-equivalence",
        "generated_at": generated_at,
        "machine": report::machine(),
        "defects": defects,
        "equivalence": report,
    });
    let written = report::write_pair(&args.out, "search-equivalence", &document, &markdown)?;
    for summary in &report.summaries {
        println!(
            "{}: {} of {} queries exact, {} differences",
            summary.title, summary.queries_exact, summary.queries, summary.differences
        );
    }
    println!("wrote {}", written.join(" and "));
    if defects > 0 {
        eprintln!(
            "{defects} defect(s): substring disagreements or unexplained differences (see the report)"
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
