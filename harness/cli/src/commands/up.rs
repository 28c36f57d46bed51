use std::process::ExitCode;

use cutover_backends::postgres::redact_password;

use crate::backend_args::BackendArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    backends: BackendArgs,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (engines, sandbox) = args.backends.start().await?;
    // The campaign app's schema, table and bucket, so the stores are ready to use.
    let app = cutover_app::App::install(&sandbox, cutover_app::Mode::Dual).await?;
    let ddb = &sandbox.dynamodb_endpoint;
    let s3 = &sandbox.s3_endpoint;
    println!("run {}", sandbox.run_id);
    println!();
    println!(
        "postgres  ({}, {})",
        engines.postgres().provisioner,
        engines
            .postgres()
            .admin_url
            .split('@')
            .next_back()
            .unwrap_or_default()
    );
    println!(
        "  export DATABASE_URL='{}'",
        redact_password(&sandbox.pg_url)
    );
    println!(
        "dynamodb  ({}, {})",
        engines.dynamodb().provisioner,
        engines.dynamodb().engine_name
    );
    println!(
        "  export AWS_ENDPOINT_URL_DYNAMODB='{}'",
        ddb.url.as_deref().unwrap_or("(AWS)")
    );
    println!(
        "  tables of this run start with '{}'",
        sandbox.run_id.resource_prefix()
    );
    println!(
        "s3        ({}, {})",
        engines.s3().provisioner,
        engines.s3().engine_name
    );
    println!(
        "  export AWS_ENDPOINT_URL_S3='{}'",
        s3.url.as_deref().unwrap_or("(AWS)")
    );
    println!(
        "  buckets of this run start with '{}' (path-style addressing)",
        sandbox.run_id.resource_prefix()
    );
    for (name, endpoint) in [("dynamodb", ddb), ("s3", s3)] {
        if let Some(credentials) = &endpoint.credentials {
            println!(
                "  {name} credentials: AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={} AWS_REGION={}",
                credentials.access_key_id, credentials.secret_access_key, endpoint.region
            );
        }
    }
    println!();
    println!(
        "the campaign app is installed: table {}, bucket {}",
        app.dynamo.table(),
        app.transcripts.bucket()
    );
    println!(
        "  compare them: cutover parity --database-url '{}' --table {} --bucket {} --dynamodb-endpoint {} --s3-endpoint {}",
        redact_password(&sandbox.pg_url),
        app.dynamo.table(),
        app.transcripts.bucket(),
        ddb.url.as_deref().unwrap_or("(AWS)"),
        s3.url.as_deref().unwrap_or("(AWS)")
    );
    println!();
    println!("press Ctrl-C to stop; everything above is removed on exit");
    tokio::signal::ctrl_c().await?;
    eprintln!("stopping: removing run {} ...", sandbox.run_id);
    let report = sandbox.close().await?;
    eprintln!(
        "removed database: {}, tables: {}, buckets: {} ({} objects)",
        report.database_dropped,
        report.tables_deleted.len(),
        report.buckets_deleted.len(),
        report.objects_deleted
    );
    engines.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
