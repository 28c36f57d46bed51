//! `cutover`: proves a database migration safe before the cutover.
//!
//! # Code map
//!
//! - `backend_args`: the `--postgres/--dynamodb/--s3/--config/--run-id/--reopen` flags shared by
//!   commands; `BackendArgs::within(async |engines, sandbox| ...)` starts the engines, opens
//!   the run's sandbox, runs the command's one library call, then closes both whatever it
//!   returned (its error first, then a failed clean-up, which is a warning when the work
//!   failed too); `BackendArgs::with_engines` is the same for a benchmark whose phases open
//!   fresh sandboxes of their own (`bench replay`; it refuses `--run-id`).
//! - `ranges`: the value parsers that range-check every numeric flag at parse time.
//! - `store_args`: the flags that point `parity`, `backfill` and `profile check` at an app's
//!   existing stores, with `--profile FILE`.
//! - `performer_args`: `replay`'s and `rollback-drill`'s `--profile` (the item layout they
//!   write), `--driver` and `--driver-timeout`: the `Performer`, and the flags again for the
//!   command that reproduces a run.
//! - `commands::{replay, parity, backfill, profile, search, media, rollback, up, check, doctor, fetch, bench}`
//!   (`bench` measures only a release build unless `--allow-debug-build` is given); `report`: writes JSON + Markdown pairs (`ReportsFor`: a report of stores records them, `StoresCompared` with the password masked, and does not replace another set of stores' report without `--force`) (`bench_document` gives every benchmark's JSON the same header: name, time, machine, build profile, engines; `publish`: written, printed, and where); `input`: reads input files through `cutover_core::input::decode`, and profiles (`load_profile`).
//!
//! `anyhow` lives only here; the libraries return `thiserror` enums (`BackendError`,
//! `ConfigError`, `NamingError`) whose messages name the file, field, value or remedy.

mod backend_args;
mod commands;
mod input;
mod performer_args;
mod ranges;
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
    /// Benchmarks that write reports to `reports/` (measured on release builds).
    Bench(commands::bench::BenchCommand),
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
    if let Err(error) = cutover_backends::process::record_peak_rss() {
        eprintln!("error: recording the peak RSS: {error}");
    }
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::Parser;

    /// Hostile numbers on the command line are refused at parse time, naming the flag.
    #[test]
    fn numeric_flags_out_of_range_name_the_flag() {
        let db = [
            "--database-url",
            "postgres://x@127.0.0.1/x",
            "--table",
            "t",
            "--bucket",
            "b",
        ];
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (vec!["backfill", "--page-size", "0"], "--page-size"),
            (
                vec!["backfill", "--page-size", "18446744073709551615"],
                "--page-size",
            ),
            (vec!["backfill", "--workers", "0"], "--workers"),
            (vec!["parity", "--segments", "4294967295"], "--segments"),
            (
                vec!["parity", "--max-mismatch-percent", "NaN"],
                "--max-mismatch-percent",
            ),
            (
                vec!["parity", "--max-mismatch-percent", "101"],
                "--max-mismatch-percent",
            ),
            (vec!["parity", "--grace-seconds", "inf"], "--grace-seconds"),
            (vec!["parity", "--stuck-attempts", "0"], "--stuck-attempts"),
            (vec!["profile", "check", "--sample", "0"], "--sample"),
        ];
        for (args, flag) in cases {
            let mut argv = vec!["cutover"];
            argv.extend(&args);
            argv.extend(db);
            let error = Cli::try_parse_from(&argv)
                .err()
                .unwrap_or_else(|| panic!("{args:?} parsed"));
            let message = error.to_string();
            assert!(message.contains(flag), "{args:?}: {message}");
        }
        let plain: Vec<(Vec<&str>, &str)> = vec![
            (
                vec!["replay", "scenarios/smoke.toml", "--operations", "0"],
                "--operations",
            ),
            (vec!["rollback-drill", "--writes", "0"], "--writes"),
            (vec!["bench", "search-cost", "--item-kb", "0"], "--item-kb"),
            (
                vec!["bench", "search-cost", "--match-percent", "101"],
                "--match-percent",
            ),
            (
                vec!["bench", "search-cost", "--max-rcu-per-search=-1"],
                "--max-rcu-per-search",
            ),
            (vec!["bench", "parity", "--entities", "0"], "--entities"),
            (vec!["check", "--object-bytes", "0"], "--object-bytes"),
            (
                vec![
                    "replay",
                    "scenarios/smoke.toml",
                    "--run-id",
                    "x",
                    "--reopen",
                    "--seed=-1",
                ],
                "--seed",
            ),
            (
                vec!["replay", "scenarios/smoke.toml", "--reopen"],
                "--run-id",
            ),
        ];
        for (args, flag) in plain {
            let mut argv = vec!["cutover"];
            argv.extend(&args);
            let error = Cli::try_parse_from(&argv)
                .err()
                .unwrap_or_else(|| panic!("{args:?} parsed"));
            assert!(error.to_string().contains(flag), "{args:?}: {error}");
        }
    }

    /// `--allow-debug-build` belongs to `bench` and may follow its subcommand.
    #[test]
    fn allow_debug_build_goes_before_or_after_the_benchmark() {
        for argv in [
            ["cutover", "bench", "--allow-debug-build", "startup"],
            ["cutover", "bench", "startup", "--allow-debug-build"],
        ] {
            let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
            assert!(
                format!("{cli:?}").contains("allow_debug_build: true"),
                "{cli:?}"
            );
        }
        assert!(
            Cli::try_parse_from(["cutover", "replay", "s.toml", "--allow-debug-build"]).is_err()
        );
    }
}
