//! The validator's memory against the table's size: a growing dataset is
//! loaded and, at each size, `cutover parity` runs on it as a child process
//! that reports its own peak RSS (the kernel's `VmHWM`) when it exits. A
//! child, so that neither the engines (Dynoxide and the S3 store run in this
//! process) nor the loader are in the figure; `VmHWM`, not `wait4`'s
//! `ru_maxrss`, which counts this big process's pages the forked copy held
//! before exec. Measurement only; the CLI writes the report.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use cutover_app::{App, AppError};
use serde::Serialize;

use crate::validator::{ENTITIES_PER_USER, load_users, user_entities};

#[derive(Debug, Clone, Serialize)]
pub struct MemoryPoint {
    /// Entities loaded in all three stores.
    pub entities: u64,
    /// Entities the validator says it compared (from its parity.json).
    pub compared_entities: u64,
    pub parity_percent: f64,
    pub passed: bool,
    /// The validator process's peak resident set, in MiB.
    pub peak_rss_mib: f64,
    pub validate_seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemoryBench {
    pub points: Vec<MemoryPoint>,
    /// Whether transcripts were uploaded (and so listed and read by the validator).
    pub objects: bool,
    pub load_seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum MemoryBenchError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error("running the validator at {entities} entities: {source}")]
    Child {
        entities: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("the validator at {entities} entities exited with {status} and wrote no report")]
    NoReport {
        entities: u64,
        status: std::process::ExitStatus,
    },
    #[error("reading the validator's report {path}: {detail}")]
    Report { path: String, detail: String },
}

/// Loads users up to each of `sizes` (entities, ascending) and runs the
/// command `validator(out)` builds — a `cutover parity` on these stores that
/// writes its reports to `out` — at each.
pub async fn measure_memory(
    app: Arc<App>,
    sizes: &[usize],
    objects: bool,
    validator: impl Fn(&Path) -> Command,
) -> Result<MemoryBench, MemoryBenchError> {
    let mut sizes = sizes.to_vec();
    sizes.sort_unstable();
    let mut loaded_users = 0;
    let mut load_seconds = 0.0;
    let mut points = Vec::new();
    for size in sizes {
        let users = size.div_ceil(ENTITIES_PER_USER).max(1);
        let began = Instant::now();
        load_users(&app, (loaded_users..users).map(user_entities), objects).await?;
        load_seconds += began.elapsed().as_secs_f64();
        loaded_users = loaded_users.max(users);
        let entities = u64::try_from(loaded_users * ENTITIES_PER_USER).unwrap_or(u64::MAX);

        let out =
            tempfile::tempdir().map_err(|source| MemoryBenchError::Child { entities, source })?;
        let mut command = validator(out.path());
        let usage = tokio::task::spawn_blocking(move || {
            cutover_backends::process::run_measuring_peak_rss(&mut command)
        })
        .await
        .map_err(|e| AppError::task("the validator's process", e))?
        .map_err(|source| MemoryBenchError::Child { entities, source })?;
        let path = out.path().join("parity.json");
        let text = std::fs::read_to_string(&path).map_err(|_| MemoryBenchError::NoReport {
            entities,
            status: usage.status,
        })?;
        let report: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| MemoryBenchError::Report {
                path: path.display().to_string(),
                detail: e.to_string(),
            })?;
        let field = |name: &str| {
            report.get(name).ok_or_else(|| MemoryBenchError::Report {
                path: path.display().to_string(),
                detail: format!("no field {name:?}"),
            })
        };
        points.push(MemoryPoint {
            entities,
            compared_entities: field("compared_entities")?.as_u64().unwrap_or(0),
            parity_percent: field("parity_percent")?.as_f64().unwrap_or(0.0),
            passed: field("passed")?.as_bool().unwrap_or(false),
            peak_rss_mib: usage.peak_rss_kib as f64 / 1024.0,
            validate_seconds: usage.wall.as_secs_f64(),
        });
    }
    Ok(MemoryBench {
        points,
        objects,
        load_seconds,
    })
}
