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

#[derive(Debug, clap::Args)]
pub struct GenerateBackupArgs {
    /// About this many items across the five types.
    #[arg(long, default_value_t = 40)]
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
