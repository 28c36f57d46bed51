//! The flags every command that starts backends shares.

use std::path::PathBuf;

use anyhow::Context;
use cutover_backends::Reopen;
use cutover_backends::{Engines, Plan, Sandbox};
use cutover_core::naming::RunId;
use cutover_core::provision::{Provisioner, SettingsLayer};

#[derive(Debug, Clone, clap::Args)]
pub struct BackendArgs {
    /// PostgreSQL provisioner: auto, embedded, containers or endpoint (env CUTOVER_POSTGRES).
    #[arg(long, value_name = "PROVISIONER", value_parser = parse_provisioner)]
    pub postgres: Option<Provisioner>,
    /// DynamoDB provisioner: auto, embedded (Dynoxide), local (DynamoDB Local), containers or endpoint (env CUTOVER_DYNAMODB).
    #[arg(long, value_name = "PROVISIONER", value_parser = parse_provisioner)]
    pub dynamodb: Option<Provisioner>,
    /// S3 provisioner: auto, embedded (s3s-fs), containers (MinIO) or endpoint (env CUTOVER_S3).
    #[arg(long, value_name = "PROVISIONER", value_parser = parse_provisioner)]
    pub s3: Option<Provisioner>,
    /// Settings file (default: ./cutover.toml when present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Reuse a run id (lowercase letters and digits) instead of a fresh one.
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// With --run-id: use what the id already names (database, tables, buckets)
    /// instead of refusing; those are then kept when the run ends.
    #[arg(long, requires = "run_id")]
    pub reopen: bool,
}

fn parse_provisioner(value: &str) -> Result<Provisioner, String> {
    value.parse()
}

impl BackendArgs {
    /// These flags as given, to print in a command that reproduces a run.
    pub fn as_flags(&self) -> String {
        let mut flags = String::new();
        for (name, value) in [
            ("postgres", self.postgres),
            ("dynamodb", self.dynamodb),
            ("s3", self.s3),
        ] {
            if let Some(provisioner) = value {
                flags.push_str(&format!(" --{name} {provisioner}"));
            }
        }
        if let Some(config) = &self.config {
            flags.push_str(&format!(" --config {}", config.display()));
        }
        flags
    }

    pub fn plan(&self) -> anyhow::Result<Plan> {
        let mut flags = SettingsLayer::default();
        flags.postgres.provisioner = self.postgres;
        flags.dynamodb.provisioner = self.dynamodb;
        flags.s3.provisioner = self.s3;
        let settings = cutover_backends::settings::load(flags, self.config.as_deref())?;
        Ok(Plan::resolve(settings)?)
    }

    pub fn run_id(&self) -> anyhow::Result<RunId> {
        match &self.run_id {
            Some(id) => RunId::parse(id).context("--run-id"),
            None => Ok(cutover_backends::new_run_id()),
        }
    }

    /// Starts the engines the flags plan, saying which (and for what).
    async fn start_engines(&self, purpose: &str) -> anyhow::Result<Engines> {
        let plan = self.plan()?;
        eprintln!(
            "starting postgres ({}), dynamodb ({}), s3 ({}){purpose}",
            plan.postgres, plan.dynamodb, plan.s3
        );
        Ok(Engines::start(&plan).await?)
    }

    /// Starts the engines and opens this run's sandbox on them.
    pub async fn start(&self) -> anyhow::Result<(Engines, Sandbox)> {
        let run_id = self.run_id()?;
        let engines = self.start_engines(&format!(" for run {run_id}")).await?;
        let reopen = if self.reopen { Reopen::Yes } else { Reopen::No };
        match Sandbox::open_with(&engines, run_id, reopen).await {
            Ok(sandbox) => Ok((engines, sandbox)),
            Err(error) => {
                engines.shutdown().await;
                Err(error.into())
            }
        }
    }

    /// Starts the engines, opens the run's sandbox, runs `work` in it, then
    /// removes what the run created and stops the engines, whatever `work`
    /// returned. An error of `work` is the one returned; a failed clean-up is
    /// returned when `work` succeeded and printed as a warning when it did
    /// not, so what was left behind is never silent.
    pub async fn within<T>(
        &self,
        work: impl AsyncFnOnce(&Engines, &Sandbox) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let (engines, sandbox) = self.start().await?;
        let outcome = work(&engines, &sandbox).await;
        let cleanup = sandbox.close().await;
        engines.shutdown().await;
        if let Ok(report) = &cleanup
            && !report.left_to_their_owner.is_empty()
        {
            eprintln!(
                "left in place (named like this run but not claimed by it): {}",
                report.left_to_their_owner.join(", ")
            );
        }
        match (outcome, cleanup) {
            (Ok(value), Ok(_)) => Ok(value),
            (Ok(_), Err(cleanup)) => Err(cleanup.into()),
            (Err(error), Ok(_)) => Err(error),
            (Err(error), Err(cleanup)) => {
                eprintln!("warning: cleaning up after the failed run also failed: {cleanup}");
                Err(error)
            }
        }
    }

    /// Starts the engines, runs `work` on them (it opens fresh sandboxes of
    /// its own, so `--run-id` is refused rather than ignored), then stops
    /// them whatever `work` returned.
    pub async fn with_engines<T>(
        &self,
        work: impl AsyncFnOnce(&Engines) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        if let Some(run_id) = &self.run_id {
            anyhow::bail!(
                "--run-id {run_id}: this command opens a fresh sandbox for each phase it measures, so it takes no run id"
            );
        }
        let engines = self.start_engines("").await?;
        let outcome = work(&engines).await;
        engines.shutdown().await;
        outcome
    }
}
