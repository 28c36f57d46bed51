use std::process::ExitCode;

use cutover_backends::postgres::redact_password;
use cutover_backends::{Engines, Sandbox};
use cutover_core::provision::Provisioner;

use crate::backend_args::BackendArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    backends: BackendArgs,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (engines, sandbox) = args.backends.start().await?;
    let served = serve(&engines, &sandbox).await;
    eprintln!("stopping: removing run {} ...", sandbox.run_id);
    let cleanup = sandbox.close().await;
    engines.shutdown().await;
    served?;
    let report = cleanup?;
    eprintln!(
        "removed database: {}, tables: {}, buckets: {} ({} objects)",
        report.database_dropped,
        report.tables_deleted.len(),
        report.buckets_deleted.len(),
        report.objects_deleted
    );
    Ok(ExitCode::SUCCESS)
}

/// Installs the campaign app, prints how to reach every store, and waits for
/// Ctrl-C; the caller removes the run whatever happened here.
async fn serve(engines: &Engines, sandbox: &Sandbox) -> anyhow::Result<()> {
    // The campaign app's schema, table and bucket, so the stores are ready to use.
    let app = cutover_app::App::install(sandbox, cutover_app::Mode::Dual).await?;
    println!("{}", connection_sheet(engines, sandbox, &app));
    println!("press Ctrl-C to stop; everything above is removed on exit");
    tokio::signal::ctrl_c().await?;
    Ok(())
}

/// The URL to print for the run's database: whole, so it can be pasted, when
/// cutover started the server (the embedded cluster's password is a fresh
/// secret of this run on a loopback port; a test container's is the image's
/// well-known one); masked when the user supplied the server, whose password
/// is theirs and not ours to echo.
fn usable_url(provisioner: Provisioner, url: &str) -> String {
    match provisioner {
        Provisioner::Endpoint => redact_password(url),
        _ => url.to_owned(),
    }
}

/// What `cutover up` prints: every store's engine, endpoint and the names of
/// this run's resources, as shell exports where a client reads them.
fn connection_sheet(engines: &Engines, sandbox: &Sandbox, app: &cutover_app::App) -> String {
    let ddb = &sandbox.dynamodb_endpoint;
    let s3 = &sandbox.s3_endpoint;
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!("run {}", sandbox.run_id));
    line(String::new());
    line(format!(
        "postgres  ({}, {})",
        engines.postgres().provisioner,
        engines
            .postgres()
            .admin_url
            .split('@')
            .next_back()
            .unwrap_or_default()
    ));
    let database_url = usable_url(engines.postgres().provisioner, &sandbox.pg_url);
    line(format!("  export DATABASE_URL='{database_url}'"));
    line(format!(
        "dynamodb  ({}, {})",
        engines.dynamodb().provisioner,
        engines.dynamodb().engine_name
    ));
    line(format!(
        "  export AWS_ENDPOINT_URL_DYNAMODB='{}'",
        ddb.url.as_deref().unwrap_or("(AWS)")
    ));
    line(format!(
        "  tables of this run start with '{}'",
        sandbox.run_id.resource_prefix()
    ));
    line(format!(
        "s3        ({}, {})",
        engines.s3().provisioner,
        engines.s3().engine_name
    ));
    line(format!(
        "  export AWS_ENDPOINT_URL_S3='{}'",
        s3.url.as_deref().unwrap_or("(AWS)")
    ));
    line(format!(
        "  buckets of this run start with '{}' (path-style addressing)",
        sandbox.run_id.resource_prefix()
    ));
    for (name, endpoint) in [("dynamodb", ddb), ("s3", s3)] {
        if let Some(credentials) = &endpoint.credentials {
            line(format!(
                "  {name} credentials: AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={} AWS_REGION={}",
                credentials.access_key_id, credentials.secret_access_key, endpoint.region
            ));
        }
    }
    line(String::new());
    line(format!(
        "the campaign app is installed: table {}, bucket {}",
        app.dynamo.table(),
        app.transcripts.bucket()
    ));
    line(format!(
        "  compare them: cutover parity --database-url '{}' --table {} --bucket {} --dynamodb-endpoint {} --s3-endpoint {}",
        database_url,
        app.dynamo.table(),
        app.transcripts.bucket(),
        ddb.url.as_deref().unwrap_or("(AWS)"),
        s3.url.as_deref().unwrap_or("(AWS)")
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_of_a_server_cutover_started_is_printed_whole() {
        let url = "postgres://postgres:5f1c0e@127.0.0.1:41234/cutover_run_ab12";
        assert_eq!(usable_url(Provisioner::Embedded, url), url);
        assert_eq!(usable_url(Provisioner::Containers, url), url);
        assert_eq!(
            usable_url(Provisioner::Endpoint, url),
            "postgres://postgres:***@127.0.0.1:41234/cutover_run_ab12"
        );
    }
}
