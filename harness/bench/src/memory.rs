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

use cutover_app::{App, AppError, Mode};
use cutover_backends::Sandbox;
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

/// Installs the dual-write app in `sandbox`, loads users up to each of
/// `sizes` (entities, ascending) and runs the command `validator(app, out)`
/// builds — a `cutover parity` on the app's stores that writes its reports
/// to `out` — at each.
pub async fn measure_memory(
    sandbox: &Sandbox,
    sizes: &[usize],
    objects: bool,
    validator: impl Fn(&App, &Path) -> Command,
) -> Result<MemoryBench, MemoryBenchError> {
    let app = Arc::new(App::install(sandbox, Mode::Dual).await?);
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
        let mut command = validator(&app, out.path());
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

/// The validator's peak RSS should stay under this at every size (issue 15).
pub const TARGET_PEAK_RSS_MIB: f64 = 512.0;

impl MemoryBench {
    pub fn peak_rss_mib(&self) -> f64 {
        self.points
            .iter()
            .map(|p| p.peak_rss_mib)
            .fold(0.0, f64::max)
    }

    /// Every run compared every entity it was given and passed.
    pub fn all_compared(&self) -> bool {
        self.points
            .iter()
            .all(|p| p.passed && p.compared_entities == p.entities)
    }

    pub fn passed(&self) -> bool {
        self.peak_rss_mib() < TARGET_PEAK_RSS_MIB && self.all_compared()
    }

    /// `transcripts`: the validator's `--transcripts` mode; `reproduce`: the command that measures it again.
    pub fn to_markdown(&self, header: &str, transcripts: &str, reproduce: &str) -> String {
        let mut markdown = format!(
            "# Parity validator memory\n\n{header}\n\nEach row: `cutover parity --transcripts {transcripts}` run as a child process on the loaded stores; peak RSS is the child's own `VmHWM` (reported by the kernel, not estimated), so the engines and the loader are not in it (`ru_maxrss` from `wait4` would count the pages of this process the forked child held before exec). Loading took {:.0} s in all (not timed as validation).\n\n| entities | compared | parity | peak RSS (MiB) | validate (s) |\n| ---: | ---: | ---: | ---: | ---: |\n",
            self.load_seconds,
        );
        for point in &self.points {
            markdown.push_str(&format!(
                "| {} | {} | {:.3}% | {:.1} | {:.1} |\n",
                point.entities,
                point.compared_entities,
                point.parity_percent,
                point.peak_rss_mib,
                point.validate_seconds
            ));
        }
        let peak = self.peak_rss_mib();
        markdown.push_str(&format!(
            "\nAim: flat, under {TARGET_PEAK_RSS_MIB:.0} MiB at every size. Highest peak: {peak:.1} MiB — {}.{}\n\nThe validator keeps its key sets (ids seen, object pointers, the listing, PostgreSQL's ids) in sorted runs on disk past a {} MiB buffer each, so what grows with the table is disk, not memory; findings are kept per mismatch (a store with many mismatches holds each one for the report).\n\nReproduce: `{reproduce}` (a release build: `cargo run --release -p cutover -- bench parity-memory ...`).\n",
            if peak < TARGET_PEAK_RSS_MIB { "met" } else { "NOT met" },
            if self.all_compared() { "" } else { " **A run did not compare every entity or did not pass: see the JSON.**" },
            cutover_parity::spill::DEFAULT_BUFFER_BYTES >> 20,
        ));
        markdown
    }
}
