use std::path::PathBuf;
use std::process::ExitCode;

use cutover_bench::startup::{self, StartupReport};
use serde_json::json;

use crate::report;

#[derive(Debug, clap::Args)]
pub struct BenchCommand {
    /// Measure a debug build anyway: its figures are not reference figures
    /// (every report names its build).
    #[arg(long, global = true)]
    allow_debug_build: bool,
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Debug, clap::Subcommand)]
pub enum Bench {
    /// Start-up wall time of each provisioner (median of several runs).
    Startup(StartupArgs),
    /// Dual-write throughput against each store doing the same writes alone.
    Replay(ReplayArgs),
    /// Parity validation rate against reading both sides raw and the naive per-item lookup.
    Parity(ParityArgs),
    /// The validator's peak memory (VmHWM of a `cutover parity` process) against entity count.
    ParityMemory(ParityMemoryArgs),
    /// What FilterExpression search costs (items and RCU read vs returned) over campaign sizes.
    SearchCost(SearchCostArgs),
    /// Backfill throughput (entities/s, MiB/s) against each target engine written alone.
    Backfill(BackfillArgs),
}

#[derive(Debug, clap::Args)]
pub struct BackfillArgs {
    /// The workload that fills PostgreSQL alone before the copy (postgres-only).
    #[arg(long, default_value = "scenarios/backfill-source.toml")]
    scenario: PathBuf,
    #[arg(long)]
    seed: Option<u64>,
    /// Run this many operations instead of the scenario's run length.
    #[arg(long, value_parser = crate::ranges::operations())]
    operations: Option<u64>,
    #[arg(long, default_value_t = 4, value_parser = crate::ranges::count(256))]
    workers: usize,
    #[arg(long, default_value_t = 100, value_parser = crate::ranges::count(10_000))]
    page_size: usize,
    /// Where to write backfill-throughput.json and .md.
    #[arg(long, default_value = "reports")]
    out: PathBuf,
    #[command(flatten)]
    backends: crate::backend_args::BackendArgs,
}

#[derive(Debug, clap::Args)]
pub struct SearchCostArgs {
    /// Sessions per campaign to sweep.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 5, 10, 25, 50, 100, 200, 500], value_parser = crate::ranges::count(100_000))]
    sessions: Vec<usize>,
    /// Session item sizes to sweep, in KB (items are capped at 400 KB).
    #[arg(long, value_delimiter = ',', default_values_t = [1u64, 40, 350], value_parser = clap::value_parser!(u64).range(1..=400))]
    item_kb: Vec<u64>,
    /// Shares of sessions that match the query, in percent.
    #[arg(long, value_delimiter = ',', default_values_t = [1u32, 10, 50], value_parser = clap::value_parser!(u32).range(0..=100))]
    match_percent: Vec<u32>,
    /// Searches per point (latency percentiles are over these).
    #[arg(long, default_value_t = 5, value_parser = crate::ranges::count(10_000))]
    repetitions: usize,
    /// A search costing more than this (modeled) is "beyond" the small-campaign assumption.
    #[arg(long, default_value_t = 25.0, value_parser = crate::ranges::positive)]
    max_rcu_per_search: f64,
    /// Optionally, a p99 latency beyond which a campaign size is too big.
    #[arg(long, value_parser = crate::ranges::positive)]
    max_latency_ms_p99: Option<f64>,
    /// Where to write search-cost.json, .md and .svg.
    #[arg(long, default_value = "reports")]
    out: PathBuf,
    /// Measure nothing: render the Markdown and plot again from an earlier search-cost.json.
    #[arg(long, value_name = "JSON")]
    render_only: Option<PathBuf>,
    #[command(flatten)]
    backends: crate::backend_args::BackendArgs,
}

#[derive(Debug, clap::Args)]
pub struct ParityArgs {
    /// About this many entities are loaded (users of 106 entities each).
    #[arg(long, default_value_t = 100_000, value_parser = crate::ranges::count(10_000_000))]
    entities: usize,
    /// Parallel Scan segments for the validator and the raw read.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    segments: u32,
    /// Where to write parity-rate.json and .md.
    #[arg(long, default_value = "reports")]
    out: PathBuf,
    #[command(flatten)]
    backends: crate::backend_args::BackendArgs,
}

#[derive(Debug, clap::Args)]
pub struct ParityMemoryArgs {
    /// Entity counts to measure at (users of 106 entities each; loaded incrementally).
    #[arg(long, value_delimiter = ',', default_values_t = [10_000usize, 100_000, 1_000_000], value_parser = crate::ranges::count(100_000_000))]
    entities: Vec<usize>,
    /// What the validator reads of S3: `skip` uploads no transcripts at all;
    /// `size` (HEAD each, and the listing) and `content` upload one per session.
    #[arg(long, default_value = "skip", value_parser = ["content", "size", "skip"])]
    transcripts: String,
    /// Parallel Scan segments of the validator.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    segments: u32,
    /// Where to write parity-memory.json and .md.
    #[arg(long, default_value = "reports")]
    out: PathBuf,
    #[command(flatten)]
    backends: crate::backend_args::BackendArgs,
}

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The scenario whose writes are measured.
    #[arg(long, default_value = "scenarios/campaign-50.toml")]
    scenario: PathBuf,
    /// Take this many operations of the workload (its reads are dropped).
    #[arg(long, default_value_t = 1500, value_parser = crate::ranges::operations())]
    operations: u64,
    /// Use this seed instead of the scenario's.
    #[arg(long)]
    seed: Option<u64>,
    /// Where to write replay-throughput.json and .md.
    #[arg(long, default_value = "reports")]
    out: PathBuf,
    #[command(flatten)]
    backends: crate::backend_args::BackendArgs,
}

#[derive(Debug, clap::Args)]
pub struct StartupArgs {
    /// Start-stop cycles per provisioner.
    #[arg(long, default_value_t = 5, value_parser = crate::ranges::count(1_000))]
    runs: usize,
    /// Where to write startup.json and startup.md.
    #[arg(long, default_value = "reports")]
    out: PathBuf,
    /// Skip DynamoDB Local (the JVM engine takes seconds per start).
    #[arg(long)]
    skip_local: bool,
}

pub async fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    let measures = !matches!(&command.bench, Bench::SearchCost(args) if args.render_only.is_some());
    if let Some(refusal) = debug_build_refusal(
        cutover_core::build_profile(),
        measures,
        command.allow_debug_build,
    ) {
        anyhow::bail!(refusal);
    }
    match command.bench {
        Bench::Startup(args) => startup(args).await,
        Bench::Replay(args) => replay_throughput(args).await,
        Bench::Parity(args) => parity_rate(args).await,
        Bench::ParityMemory(args) => parity_memory(args).await,
        Bench::SearchCost(args) => search_cost(args).await,
        Bench::Backfill(args) => backfill_throughput(args).await,
    }
}

/// Why a benchmark will not measure this build, if it will not: timings of a
/// debug build are not reference figures, so measuring one takes a flag.
fn debug_build_refusal(build_profile: &str, measures: bool, allowed: bool) -> Option<String> {
    (measures && build_profile != "release" && !allowed).then(|| {
        format!(
            "this is a {build_profile} build of cutover, and benchmark figures come from release builds: \
             run `cargo run --release -p cutover -- bench ...`, or pass --allow-debug-build to measure \
             this build anyway (its reports say which build they measured)"
        )
    })
}

async fn search_cost(args: SearchCostArgs) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    use cutover_core::search::cost::{SweepReport, Threshold, item_bytes_for_kb};
    let (report, generated_at, reproduce) = match &args.render_only {
        Some(path) => {
            let text = crate::input::read_text(path, "report")?;
            let document: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            let report = serde_json::from_value::<SweepReport>(document["report"].clone())
                .with_context(|| {
                    format!(
                        "{}: field `report` is not a search-cost report",
                        path.display()
                    )
                })?;
            let field = |name: &str| document[name].as_str().unwrap_or("unknown").to_owned();
            (report, field("generated_at"), field("reproduce"))
        }
        None => {
            anyhow::ensure!(
                !args.sessions.is_empty()
                    && !args.item_kb.is_empty()
                    && !args.match_percent.is_empty(),
                "--sessions, --item-kb and --match-percent each need at least one value"
            );
            // The flags' ranges (1-400 KB, 0-100 %) are checked as they are parsed.
            let options = cutover_search::cost::SweepOptions {
                sessions: args.sessions.clone(),
                item_bytes: args
                    .item_kb
                    .iter()
                    .map(|kb| item_bytes_for_kb(*kb))
                    .collect(),
                match_percents: args.match_percent.clone(),
                repetitions: args.repetitions,
                threshold: Threshold {
                    max_rcu_per_search: args.max_rcu_per_search,
                    max_latency_ms_p99: args.max_latency_ms_p99,
                },
            };
            let progress = |message: &str| eprintln!("{message}");
            let swept = args
                .backends
                .within(async |engines, sandbox| {
                    let engine = format!(
                        "{} ({})",
                        engines.dynamodb().engine_name,
                        engines.dynamodb().provisioner
                    );
                    Ok(cutover_search::cost::sweep(sandbox, &engine, &options, &progress).await?)
                })
                .await;
            let reproduce = format!(
                "cutover bench search-cost{}{} --sessions {} --item-kb {} --match-percent {} --repetitions {} --max-rcu-per-search {}{}",
                args.backends.as_flags(),
                if args.out == std::path::Path::new("reports") {
                    String::new()
                } else {
                    format!(" --out {}", args.out.display())
                },
                join(&args.sessions),
                join(&args.item_kb),
                join(&args.match_percent),
                args.repetitions,
                args.max_rcu_per_search,
                args.max_latency_ms_p99
                    .map(|ms| format!(" --max-latency-ms-p99 {ms}"))
                    .unwrap_or_default()
            );
            (swept?, report::now_rfc3339(), reproduce)
        }
    };

    let plot_rate = report.plotted_match_percent();
    let mut markdown = report.to_markdown(&format!("{generated_at} on {}", report::machine_line()));
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let plot_path = args.out.join("search-cost.svg");
    cutover_search::plot::rcu_over_sessions(&report, plot_rate, &plot_path)?;
    markdown.push_str(&format!(
        "\n![RCU per search over campaign size](search-cost.svg)\n\nReproduce: `{reproduce}`\n"
    ));
    let document = report::bench_document(
        "search-cost",
        &generated_at,
        None,
        json!({
            "reproduce": reproduce,
            "prices": cutover_core::prices::ALL,
            "verdict": report.verdict(),
            "report": report,
        }),
    );
    let written = report::write_pair(&args.out, "search-cost", &document, &markdown)?;
    for line in report.verdict() {
        println!("{line}");
    }
    println!("wrote {}, {}", written.join(", "), plot_path.display());
    Ok(ExitCode::SUCCESS)
}

fn join<T: std::fmt::Display>(values: &[T]) -> String {
    values
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

async fn replay_throughput(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let text = crate::input::read_text(&args.scenario, "scenario")?;
    let scenario =
        cutover_core::workload::Scenario::parse(&text, &args.scenario.display().to_string())?;
    let seed = args.seed.unwrap_or(scenario.seed);
    let (bench, engine_names) = args
        .backends
        .with_engines(async |engines| {
            eprintln!(
                "measuring {} operations of {} (seed {seed}): dual path, then each store alone...",
                args.operations, scenario.name
            );
            let bench =
                cutover_bench::throughput::measure(engines, &scenario, seed, args.operations)
                    .await?;
            Ok((bench, report::engines_line(engines)))
        })
        .await?;
    let generated_at = report::now_rfc3339();
    let reproduce = format!(
        "cutover bench replay --scenario {} --operations {} --seed {}",
        args.scenario.display(),
        args.operations,
        bench.seed
    );
    let markdown = bench.to_markdown(
        &report::generated_line(&generated_at, Some(&engine_names)),
        &reproduce,
    );
    let document = report::bench_document(
        "replay-throughput",
        &generated_at,
        Some(&engine_names),
        json!({
            "target_ratio": cutover_bench::throughput::TARGET_RATIO,
            "met": bench.met(),
            "report": bench,
        }),
    );
    report::publish(&args.out, "replay-throughput", &document, &markdown)?;
    Ok(ExitCode::SUCCESS)
}

async fn startup(args: StartupArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.runs > 0, "--runs must be at least 1");
    let docker = cutover_backends::docker::probe();
    if let Err(why) = &docker {
        eprintln!("containers not measured: {why}");
    }
    let mut samples = Vec::new();
    for (subject, plan) in startup::startup_plans(!args.skip_local, docker.is_ok()) {
        eprintln!("measuring {subject} ({} runs)...", args.runs);
        samples.push(startup::measure(&subject, &plan, args.runs).await?);
    }
    let generated_at = report::now_rfc3339();
    let bench = StartupReport {
        runs: args.runs,
        samples,
        containers: match &docker {
            Ok(_) => "measured".to_owned(),
            Err(why) => format!("not measured: {why}"),
        },
    };
    let document = report::bench_document("startup", &generated_at, None, bench.to_json());
    let markdown = bench.to_markdown(&report::generated_line(&generated_at, None));
    report::publish(&args.out, "startup", &document, &markdown)?;
    Ok(ExitCode::SUCCESS)
}

async fn parity_memory(args: ParityMemoryArgs) -> anyhow::Result<ExitCode> {
    let objects = args.transcripts != "skip";
    let (bench, engine_names) = args
        .backends
        .within(async |engines, sandbox| {
            eprintln!(
                "loading up to {} entities ({}), running `cutover parity` as a child at each size...",
                args.entities.iter().max().copied().unwrap_or(0),
                if objects {
                    "with transcripts"
                } else {
                    "no transcripts"
                }
            );
            let validator = validator_command(&args, sandbox)?;
            let bench =
                cutover_bench::memory::measure_memory(sandbox, &args.entities, objects, validator)
                    .await?;
            Ok((bench, report::engines_line(engines)))
        })
        .await?;
    let generated_at = report::now_rfc3339();
    let reproduce = format!(
        "cutover bench parity-memory --entities {} --transcripts {} --segments {}",
        join(&args.entities),
        args.transcripts,
        args.segments
    );
    let markdown = bench.to_markdown(
        &report::generated_line(&generated_at, Some(&engine_names)),
        &args.transcripts,
        &reproduce,
    );
    let document = report::bench_document(
        "parity-memory",
        &generated_at,
        Some(&engine_names),
        json!({
            "transcripts": args.transcripts,
            "target_peak_rss_mib": cutover_bench::memory::TARGET_PEAK_RSS_MIB,
            "report": bench,
        }),
    );
    report::publish(&args.out, "parity-memory", &document, &markdown)?;
    Ok(if bench.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `cutover parity` on the run's stores, as the memory benchmark's child process.
fn validator_command(
    args: &ParityMemoryArgs,
    sandbox: &cutover_backends::Sandbox,
) -> anyhow::Result<impl Fn(&cutover_app::App, &std::path::Path) -> std::process::Command + use<>> {
    let program = std::env::current_exe()?;
    let dynamodb = sandbox.dynamodb_endpoint.clone();
    let s3 = sandbox.s3_endpoint.clone();
    let database_url = sandbox.pg_url.clone();
    let transcripts = args.transcripts.clone();
    let segments = args.segments.to_string();
    Ok(move |app: &cutover_app::App, out: &std::path::Path| {
        let mut command = std::process::Command::new(&program);
        command.arg("parity");
        command.args([
            "--table",
            app.dynamo.table(),
            "--bucket",
            app.transcripts.bucket(),
        ]);
        command.args(["--transcripts", &transcripts, "--segments", &segments]);
        command.args(["--grace-seconds", "0", "--max-mismatch-percent", "0"]);
        command.arg("--out").arg(out);
        command.args(["--region", &s3.region]);
        for (flag, endpoint) in [("--dynamodb-endpoint", &dynamodb), ("--s3-endpoint", &s3)] {
            if let Some(url) = &endpoint.url {
                command.args([flag, url]);
            }
        }
        // The password stays out of the command line (other users can read it).
        command.env("DATABASE_URL", &database_url);
        // The S3 store's key; the local DynamoDB engines accept any.
        if let Some(credentials) = s3.credentials.as_ref().or(dynamodb.credentials.as_ref()) {
            command.env("AWS_ACCESS_KEY_ID", &credentials.access_key_id);
            command.env("AWS_SECRET_ACCESS_KEY", &credentials.secret_access_key);
        }
        command.stdout(std::process::Stdio::null());
        command
    })
}

async fn parity_rate(args: ParityArgs) -> anyhow::Result<ExitCode> {
    let (bench, engine_names) = args
        .backends
        .within(async |engines, sandbox| {
            eprintln!(
                "loading about {} entities, then timing the validator, a raw read and the naive approach...",
                args.entities
            );
            let bench =
                cutover_bench::validator::measure(sandbox, args.entities, args.segments).await?;
            Ok((bench, report::engines_line(engines)))
        })
        .await?;
    let generated_at = report::now_rfc3339();
    let reproduce = format!(
        "cutover bench parity --entities {} --segments {}",
        args.entities, args.segments
    );
    let markdown = bench.to_markdown(
        &report::generated_line(&generated_at, Some(&engine_names)),
        args.segments,
        &reproduce,
    );
    let document = report::bench_document(
        "parity-rate",
        &generated_at,
        Some(&engine_names),
        json!({ "report": bench }),
    );
    report::publish(&args.out, "parity-rate", &document, &markdown)?;
    Ok(ExitCode::SUCCESS)
}

async fn backfill_throughput(args: BackfillArgs) -> anyhow::Result<ExitCode> {
    let text = crate::input::read_text(&args.scenario, "scenario")?;
    let scenario =
        cutover_core::workload::Scenario::parse(&text, &args.scenario.display().to_string())?;
    anyhow::ensure!(
        scenario.mode == cutover_core::workload::DualWriteMode::PostgresOnly,
        "{}: the source workload must use mode = \"postgres-only\" (the database before the migration)",
        args.scenario.display()
    );
    let seed = args.seed.unwrap_or(scenario.seed);
    let mut reproduce = format!(
        "cutover bench backfill --scenario {} --seed {seed} --workers {} --page-size {}",
        args.scenario.display(),
        args.workers,
        args.page_size
    );
    if let Some(operations) = args.operations {
        reproduce.push_str(&format!(" --operations {operations}"));
    }
    let replay_options = cutover_replay::ReplayOptions {
        seed,
        operations: args.operations,
        reproduce: reproduce.clone(),
        progress: true,
    };
    let options = cutover_backfill::BackfillOptions {
        workers: args.workers.max(1),
        page_size: args.page_size.max(1),
        progress: true,
        ..cutover_backfill::BackfillOptions::new("bench")
    };
    let (bench, engine_names) = args
        .backends
        .within(async |engines, sandbox| {
            eprintln!(
                "filling PostgreSQL with the {} workload, backfilling it, checking parity, then writing each engine alone...",
                scenario.name
            );
            let bench =
                cutover_bench::backfill::measure(sandbox, &scenario, &replay_options, &options)
                    .await?;
            Ok((bench, report::engines_line(engines)))
        })
        .await?;
    let generated_at = report::now_rfc3339();
    let header = format!(
        "{}\n\nReproduce: `{reproduce}`",
        report::generated_line(&generated_at, Some(&engine_names))
    );
    let markdown = bench.to_markdown(&header);
    let document = report::bench_document(
        "backfill-throughput",
        &generated_at,
        Some(&engine_names),
        json!({ "report": bench }),
    );
    report::publish(&args.out, "backfill-throughput", &document, &markdown)?;
    Ok(if bench.parity_passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::debug_build_refusal;

    #[test]
    fn only_a_release_build_measures_without_being_told() {
        assert_eq!(debug_build_refusal("release", true, false), None);
        let refusal = debug_build_refusal("debug", true, false).expect("a debug build is refused");
        assert!(
            refusal.contains("--release") && refusal.contains("--allow-debug-build"),
            "{refusal}"
        );
        assert_eq!(debug_build_refusal("debug", true, true), None);
        // Rendering an earlier report measures nothing.
        assert_eq!(debug_build_refusal("debug", false, false), None);
    }
}
