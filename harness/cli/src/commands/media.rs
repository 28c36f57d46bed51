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
    use cutover_app::dynamo::DynamoStore;
    use cutover_media::migrate::{MigrateOptions, Source};
    anyhow::ensure!(
        args.to == "postgres",
        "--to {}: the target is `postgres` (for Aurora DSQL, pass its URL with --database-url)",
        args.to
    );
    let (engines, sandbox) = args.backends.start().await?;
    let outcome = async {
        let target = match &args.database_url {
            Some(url) => sqlx::postgres::PgPoolOptions::new()
                .max_connections(4)
                .connect(url)
                .await
                .with_context(|| "connecting to --database-url")?,
            None => sandbox.pg.clone(),
        };
        cutover_media::schema::install_target(&target).await?;
        let source = if args.from == "dynamodb" {
            let table = match &args.table {
                Some(table) => table.clone(),
                None => {
                    let table = sandbox.table_name("media");
                    cutover_media::schema::create_source_table(&sandbox.dynamodb, &table).await?;
                    sandbox.claim_table(&table).await?;
                    let seed = args.seed.unwrap_or_else(rand::random);
                    eprintln!(
                        "filling {table} with {} generated items (seed {seed})",
                        args.generate
                    );
                    let items: Vec<_> = generator::generate(seed, args.generate)
                        .iter()
                        .map(cutover_core::media::source::to_source_item)
                        .collect();
                    DynamoStore::new(sandbox.dynamodb.clone(), table.clone())
                        .batch_put(&items)
                        .await?;
                    table
                }
            };
            Source::DynamoDb(DynamoStore::new(sandbox.dynamodb.clone(), table))
        } else {
            Source::Backup(PathBuf::from(&args.from))
        };
        let options = MigrateOptions {
            page_size: args.page_size,
            checkpoint: args.checkpoint.clone(),
            ..MigrateOptions::default()
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
        let done = cutover_media::migrate::migrate(&source, &target, &options, &progress).await?;
        // The source is read once, for the parity check and the query comparison.
        let (items, unreadable) = cutover_media::verify::read_source(&source).await?;
        let report = cutover_media::verify::verify_items(&items, &unreadable, &target).await?;
        // The old app's access patterns against the new SQL, when the old table is here to ask.
        let mut equivalence = Vec::new();
        if let Source::DynamoDb(store) = &source {
            let by_id = items.iter().map(|i| (i.id.clone(), i.clone())).collect();
            for query in cutover_media::queries::queries_for(&items) {
                equivalence.push(
                    cutover_media::queries::check(store, &target, &query, &items, &by_id, 25)
                        .await?,
                );
            }
        }
        anyhow::Ok((done, report, equivalence))
    }
    .await;
    sandbox.close().await?;
    engines.shutdown().await;
    let (done, report, equivalence) = outcome?;

    let mut markdown = format!(
        "{}\nMigration: {} pages, {} rows written, {} unchanged, {} rejected, {} conflict retries.\n",
        report.to_markdown(),
        done.pages,
        done.written,
        done.unchanged,
        done.rejected.len(),
        done.conflict_retries
    );
    let queries_differ = equivalence
        .iter()
        .filter(|q| q.old_equals_new == Some(false) || !q.new_equals_oracle)
        .count();
    if !equivalence.is_empty() {
        markdown.push_str(&format!(
            "\n## Query equivalence (pages of 25)\n\n{} of {} access patterns give the same items in the same order, page by page.\n\n\
             | query | pages | items | old app = new SQL | new SQL = oracle | first difference |\n| --- | ---: | ---: | --- | --- | --- |\n",
            equivalence.len() - queries_differ,
            equivalence.len()
        ));
        for q in &equivalence {
            markdown.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                q.query,
                q.pages,
                q.items,
                q.old_equals_new
                    .map_or("(new query)".to_owned(), |same| same.to_string()),
                q.new_equals_oracle,
                q.first_difference
                    .clone()
                    .unwrap_or_default()
                    .replace('|', "\\|")
            ));
        }
    }
    let document = serde_json::json!({
        "report": "media-parity",
        "generated_at": crate::report::now_rfc3339(),
        "migration": done,
        "parity": report,
        "query_equivalence": equivalence,
    });
    let mut written = crate::report::write_pair(&args.out, "media-parity", &document, &markdown)?;
    let junit = args.out.join("media-parity.junit.xml");
    std::fs::write(&junit, report.to_junit())
        .with_context(|| format!("writing {}", junit.display()))?;
    written.push(junit.display().to_string());
    println!(
        "{}",
        markdown.lines().take(3).collect::<Vec<_>>().join("\n")
    );
    println!("wrote {}", written.join(" and "));
    Ok(if report.passed() && queries_differ == 0 {
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
