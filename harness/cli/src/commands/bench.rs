use std::path::PathBuf;
use std::process::ExitCode;

use cutover_backends::bench::{self, StartupSample};
use serde_json::json;

use crate::report;

#[derive(Debug, clap::Subcommand)]
pub enum Bench {
    /// Start-up wall time of each provisioner (median of several runs).
    Startup(StartupArgs),
}

#[derive(Debug, clap::Args)]
pub struct StartupArgs {
    /// Start-stop cycles per provisioner.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Where to write startup.json and startup.md.
    #[arg(long, default_value = "reports")]
    out: PathBuf,
    /// Skip DynamoDB Local (the JVM engine takes seconds per start).
    #[arg(long)]
    skip_local: bool,
}

/// Embedded PostgreSQL + DynamoDB + S3 ready together within this is the aim.
const EMBEDDED_TARGET_MS: f64 = 2000.0;

pub async fn run(bench: Bench) -> anyhow::Result<ExitCode> {
    match bench {
        Bench::Startup(args) => startup(args).await,
    }
}

async fn startup(args: StartupArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.runs > 0, "--runs must be at least 1");
    let docker = cutover_backends::docker::probe();
    if let Err(why) = &docker {
        eprintln!("containers not measured: {why}");
    }
    let mut samples: Vec<StartupSample> = Vec::new();
    for (subject, plan) in bench::startup_plans(!args.skip_local, docker.is_ok()) {
        eprintln!("measuring {subject} ({} runs)...", args.runs);
        samples.push(bench::measure(&subject, &plan, args.runs).await?);
    }

    let summary = |values: &[f64]| {
        json!({
            "median_ms": StartupSample::median_ms(values),
            "min_ms": values.iter().copied().fold(f64::INFINITY, f64::min),
            "max_ms": values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            "runs_ms": values,
        })
    };
    let embedded_median_ms = StartupSample::median_ms(&samples[0].ready_ms);
    let document = json!({
        "benchmark": "startup",
        "generated_at": report::now_rfc3339(),
        "machine": report::machine(),
        "runs": args.runs,
        "target": { "subject": samples[0].subject, "ready_ms_max": EMBEDDED_TARGET_MS, "median_ms": embedded_median_ms, "met": embedded_median_ms < EMBEDDED_TARGET_MS },
        "containers": match &docker { Ok(_) => "measured".to_owned(), Err(why) => format!("not measured: {why}") },
        "samples": samples.iter().map(|sample| json!({
            "subject": sample.subject,
            "ready": summary(&sample.ready_ms),
            "per_engine": sample.per_engine_ms.iter().map(|(engine, values)| (engine.name().to_owned(), summary(values))).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
    });

    let mut markdown = format!(
        "# Start-up wall time\n\nGenerated {} on {}; {} runs per line, times in ms (median, min-max).\n\n| what | all ready | postgres | dynamodb | s3 |\n| --- | --- | --- | --- | --- |\n",
        document["generated_at"].as_str().unwrap_or_default(),
        report::machine_line(),
        args.runs
    );
    let cell = |values: &[f64]| {
        format!(
            "{:.0} ({:.0}-{:.0})",
            StartupSample::median_ms(values),
            values.iter().copied().fold(f64::INFINITY, f64::min),
            values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        )
    };
    for sample in &samples {
        markdown.push_str(&format!(
            "| {} | {} |",
            sample.subject,
            cell(&sample.ready_ms)
        ));
        for (_, values) in &sample.per_engine_ms {
            markdown.push_str(&format!(" {} |", cell(values)));
        }
        markdown.push('\n');
    }
    markdown.push_str(&format!(
        "\nAim: all embedded engines ready in under {EMBEDDED_TARGET_MS:.0} ms. Measured median: {embedded_median_ms:.0} ms — {}.\n",
        if embedded_median_ms < EMBEDDED_TARGET_MS { "met" } else { "NOT met" }
    ));
    markdown.push_str(&format!(
        "Containers: {}.\n\nThe engines start in parallel, so \"all ready\" is about the slowest one. Reproduce with `cutover bench startup --runs {}`.\n",
        document["containers"].as_str().unwrap_or_default(),
        args.runs
    ));
    let written = report::write_pair(&args.out, "startup", &document, &markdown)?;
    println!("{markdown}");
    println!("wrote {}", written.join(" and "));
    Ok(ExitCode::SUCCESS)
}
