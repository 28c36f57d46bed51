//! `cutover`: proves a database migration safe before the cutover.

mod backend_args;
mod commands;
mod input;
mod report;
mod store_args;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cutover", version, about = "Proves a PostgreSQL <-> DynamoDB migration safe before the cutover", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the backends, print their endpoints and credentials, and keep them until Ctrl-C.
    Up(commands::up::Args),
    /// Start the backends, write and read back on each (SQL; table put/query; a multi-MB object), and stop.
    Check(commands::check::Args),
    /// Replay a scenario's generated workload through the dual-write path, then run its checks.
    Replay(commands::replay::Args),
    /// Rehearse a rollback: dual writes, the switch to postgres-only, more writes; prove PostgreSQL alone complete.
    RollbackDrill(commands::rollback::Args),
    /// Compare an app's PostgreSQL database with its DynamoDB table and S3 bucket, field by field.
    Parity(commands::parity::Args),
    /// Copy what PostgreSQL holds into DynamoDB and S3 (resumable, safe against live dual writes).
    Backfill(commands::backfill::Args),
    /// App profiles: check one against the live stores it describes.
    #[command(subcommand)]
    Profile(commands::profile::Profile),
    /// Ask a corpus of queries of DynamoDB and PostgreSQL search; classify every difference.
    SearchEquivalence(commands::search::Args),
    /// Show what this machine offers each provisioner, and the remedy for anything missing.
    Doctor(commands::doctor::Args),
    /// Download an engine into the cache ahead of first use.
    Fetch(commands::fetch::Args),
    /// Run a migration, resumably, and verify it (items, counts, links, fields, every query pair).
    #[command(subcommand)]
    Migrate(commands::media::Migrate),
    /// The media shelf's data: seeded JSON backups.
    #[command(subcommand)]
    Media(commands::media::Media),
    /// Benchmarks that write reports to `reports/`.
    #[command(subcommand)]
    Bench(commands::bench::Bench),
}

fn main() -> std::process::ExitCode {
    // s3s logs every error answer it serves (a NoSuchKey is a normal answer to
    // cutover), so it is quiet unless CUTOVER_LOG asks for it.
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUTOVER_LOG")
        .unwrap_or_else(|_| "warn,s3s=off".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Up(args) => commands::up::run(args).await,
            Command::Check(args) => commands::check::run(args).await,
            Command::Replay(args) => commands::replay::run(args).await,
            Command::Parity(args) => commands::parity::run(args).await,
            Command::Backfill(args) => commands::backfill::run(args).await,
            Command::Profile(command) => commands::profile::run(command).await,
            Command::RollbackDrill(args) => commands::rollback::run(args).await,
            Command::SearchEquivalence(args) => commands::search::run(args).await,
            Command::Doctor(args) => commands::doctor::run(args),
            Command::Fetch(args) => commands::fetch::run(args).await,
            Command::Bench(bench) => commands::bench::run(bench).await,
            Command::Media(media) => commands::media::run(media),
            Command::Migrate(migrate) => commands::media::run_migrate(migrate).await,
        }
    });
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
