use std::process::ExitCode;

use crate::backend_args::BackendArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    backends: BackendArgs,
    /// Size of the S3 object written and read back.
    #[arg(long, default_value_t = 5 * 1024 * 1024, value_name = "BYTES", value_parser = crate::ranges::count(1 << 30))]
    object_bytes: usize,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (engines, sandbox) = args.backends.start().await?;
    for (engine, took) in &engines.startup {
        println!(
            "{engine:<9} ready in {:>7.1} ms ({})",
            took.as_secs_f64() * 1000.0,
            engines.provisioner(*engine)
        );
    }
    let outcome = cutover_backends::roundtrip::run(&sandbox, args.object_bytes).await;
    let cleanup = sandbox.close().await;
    engines.shutdown().await;
    let report = outcome?;
    println!(
        "postgres  {} rows written and read back (server {})",
        report.postgres_rows, report.postgres_server_version
    );
    println!(
        "dynamodb  {} items put and queried from {} (query RCU reported by engine: {})",
        report.dynamodb_items_queried,
        report.dynamodb_table,
        report
            .dynamodb_query_rcu_reported
            .map_or("none".to_owned(), |rcu| rcu.to_string())
    );
    println!(
        "s3        {} bytes put and read back from {} (sha256 {})",
        report.s3_object_bytes, report.s3_bucket, report.s3_object_sha256
    );
    let cleanup = cleanup?;
    println!(
        "cleaned up: database dropped: {}, tables: {}, buckets: {}",
        cleanup.database_dropped,
        cleanup.tables_deleted.join(", "),
        cleanup.buckets_deleted.join(", ")
    );
    println!("all three backends answered correctly");
    Ok(ExitCode::SUCCESS)
}
