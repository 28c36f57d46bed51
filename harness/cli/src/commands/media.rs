//! `cutover media ...`: the media shelf (seed 003), the migration that goes
//! from DynamoDB to PostgreSQL / Aurora DSQL.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use cutover_core::media::{MediaType, backup, generator};

#[derive(Debug, clap::Subcommand)]
pub enum Media {
    /// Write a seeded shelf as a JSON backup: one `<Type>.json` per type, as the app's backup tool does.
    GenerateBackup(GenerateBackupArgs),
}

/// `cutover migrate ...`: one subcommand per system that migrates.
#[derive(Debug, clap::Subcommand)]
pub enum Migrate {
    /// The media shelf, from DynamoDB (or a backup directory) into PostgreSQL / Aurora DSQL; then verified.
    Media(MigrateArgs),
}

pub async fn run_migrate(migrate_command: Migrate) -> anyhow::Result<ExitCode> {
    match migrate_command {
        Migrate::Media(args) => migrate(args).await,
    }
}

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// `dynamodb` (the table named by --table, or a generated one with --generate), or a backup directory.
    #[arg(long)]
    from: String,
    /// The target: `postgres` (Aurora DSQL speaks the same protocol; give its URL with --database-url).
    #[arg(long, default_value = "postgres")]
    to: String,
    /// With `--from dynamodb`: an existing source table (else one is created in this run's sandbox).
    #[arg(long)]
    table: Option<String>,
    /// With `--from dynamodb` and no --table: fill the run's source table with this many generated items.
    #[arg(long, default_value_t = 10_000, value_parser = crate::ranges::count(10_000_000))]
    generate: usize,
    /// The generated shelf's seed (printed when not given).
    #[arg(long)]
    seed: Option<u64>,
    /// An existing target database (else this run's sandbox database).
    #[arg(long, env = "CUTOVER_MEDIA_TARGET_URL")]
    database_url: Option<String>,
    /// Items per page and per transaction.
    #[arg(long, default_value_t = 500, value_parser = crate::ranges::count(10_000))]
    page_size: usize,
    /// Keep progress here; an interrupted run given the same file resumes.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Where to write media-parity.json, .md and .junit.xml.
    #[arg(long, default_value = "reports")]
    out: PathBuf,
    #[command(flatten)]
    backends: crate::backend_args::BackendArgs,
}

#[derive(Debug, clap::Args)]
pub struct GenerateBackupArgs {
    /// About this many items across the five types.
    #[arg(long, default_value_t = 40, value_parser = crate::ranges::count(1_000_000))]
    items: usize,
    /// The shelf's seed (printed when not given).
    #[arg(long)]
    seed: Option<u64>,
    /// The backup directory to write.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(media: Media) -> anyhow::Result<ExitCode> {
    match media {
        Media::GenerateBackup(args) => generate_backup(args),
    }
}

async fn migrate(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    use cutover_media::run::{ShelfRun, ShelfSource};
    anyhow::ensure!(
        args.to == "postgres",
        "--to {}: the target is `postgres` (for Aurora DSQL, pass its URL with --database-url)",
        args.to
    );
    let source = match (args.from.as_str(), &args.table) {
        ("dynamodb", Some(table)) => ShelfSource::Table(table.clone()),
        ("dynamodb", None) => {
            let seed = args.seed.unwrap_or_else(rand::random);
            eprintln!(
                "filling a new source table with {} generated items (seed {seed})",
                args.generate
            );
            ShelfSource::Generated {
                items: args.generate,
                seed,
            }
        }
        (dir, _) => ShelfSource::Backup(PathBuf::from(dir)),
    };
    let run = ShelfRun {
        source,
        target_url: args.database_url.clone(),
        options: cutover_media::migrate::MigrateOptions {
            page_size: args.page_size,
            checkpoint: args.checkpoint.clone(),
            ..Default::default()
        },
    };
    let started = std::time::Instant::now();
    let progress = |c: &cutover_media::migrate::Checkpoint| {
        let done = c.written + c.unchanged;
        eprintln!(
            "page {}: {done} items ({:.0}/s), {} rejected, {} conflict retries",
            c.pages,
            done as f64 / started.elapsed().as_secs_f64().max(1e-3),
            c.rejected.len(),
            c.conflict_retries
        );
    };
    let report = args
        .backends
        .within(async |_, sandbox| {
            Ok(cutover_media::run::migrate_shelf(sandbox, &run, &progress).await?)
        })
        .await?;

    let markdown = report.to_markdown();
    let document = report.to_json(&crate::report::now_rfc3339());
    let mut written = crate::report::write_pair(&args.out, "media-parity", &document, &markdown)?;
    let junit = args.out.join("media-parity.junit.xml");
    std::fs::write(&junit, report.parity.to_junit())
        .with_context(|| format!("writing {}", junit.display()))?;
    written.push(junit.display().to_string());
    println!(
        "{}",
        markdown.lines().take(3).collect::<Vec<_>>().join("\n")
    );
    println!("wrote {}", written.join(" and "));
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn generate_backup(args: GenerateBackupArgs) -> anyhow::Result<ExitCode> {
    let seed = args.seed.unwrap_or_else(rand::random);
    let items = generator::generate(seed, args.items);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    for media_type in MediaType::ALL {
        let of_type: Vec<_> = items
            .iter()
            .filter(|i| i.media_type == media_type)
            .cloned()
            .collect();
        let path = args.out.join(backup::file_name(media_type));
        std::fs::write(&path, backup::to_backup_file(&of_type))
            .with_context(|| format!("writing {}", path.display()))?;
        println!("{}: {} items", path.display(), of_type.len());
    }
    println!("seed {seed} (replay: --seed {seed} --items {})", args.items);
    Ok(ExitCode::SUCCESS)
}
