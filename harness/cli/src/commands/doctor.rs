use std::process::ExitCode;

use cutover_backends::doctor::{self, Status};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    let checks = doctor::examine();
    let mut blocking = false;
    for check in &checks {
        let mark = match check.status {
            Status::Ok => "ok  ",
            Status::Missing => "miss",
            Status::Blocking => "FAIL",
            Status::Info => "info",
        };
        blocking |= check.status == Status::Blocking;
        let scope = match (check.engine, check.provisioner) {
            (Some(engine), Some(provisioner)) => format!("{engine}/{provisioner}"),
            (None, Some(provisioner)) => provisioner.to_string(),
            (Some(engine), None) => engine.to_string(),
            (None, None) => String::new(),
        };
        println!("[{mark}] {:<20} {}: {}", scope, check.subject, check.detail);
        if let Some(remedy) = &check.remedy {
            println!("       remedy: {remedy}");
        }
    }
    if blocking {
        println!("\nthe embedded default cannot run here: apply the FAIL remedies above");
        Ok(ExitCode::FAILURE)
    } else {
        println!("\nthe embedded default can run here");
        Ok(ExitCode::SUCCESS)
    }
}
