//! Start-up wall time of each provisioner, measured over several runs.
//! Measurement only: the CLI writes the reports, tests never time anything.

use std::time::{Duration, Instant};

use cutover_core::provision::{Engine, Provisioner};

use cutover_backends::{BackendError, Engines, Plan};

#[derive(Debug, Clone)]
pub struct StartupSample {
    /// What was started, e.g. "all embedded" or "dynamodb local".
    pub subject: String,
    /// Time until every engine in the plan was ready, per run.
    pub ready_ms: Vec<f64>,
    /// Per engine, per run.
    pub per_engine_ms: Vec<(Engine, Vec<f64>)>,
}

impl StartupSample {
    pub fn median_ms(values: &[f64]) -> f64 {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        match sorted.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => sorted[n / 2],
            n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        }
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Starts and stops `plan` `runs` times. Stopping is not timed.
pub async fn measure(
    subject: &str,
    plan: &Plan,
    runs: usize,
) -> Result<StartupSample, BackendError> {
    let mut sample = StartupSample {
        subject: subject.to_owned(),
        ready_ms: Vec::new(),
        per_engine_ms: Engine::ALL.iter().map(|e| (*e, Vec::new())).collect(),
    };
    for _ in 0..runs {
        let began = Instant::now();
        let engines = Engines::start(plan).await?;
        sample.ready_ms.push(millis(began.elapsed()));
        for (engine, took) in &engines.startup {
            if let Some((_, values)) = sample.per_engine_ms.iter_mut().find(|(e, _)| e == engine) {
                values.push(millis(*took));
            }
        }
        engines.shutdown().await;
    }
    Ok(sample)
}

/// The plans the startup benchmark compares: everything embedded, then each
/// other provisioner this machine can run, paired with embedded engines.
pub fn startup_plans(include_local: bool, include_containers: bool) -> Vec<(String, Plan)> {
    let mut plans = vec![(
        "all embedded (postgres initdb + Dynoxide + s3s-fs)".to_owned(),
        Plan::embedded(),
    )];
    if include_local {
        plans.push((
            "dynamodb local (JVM) with embedded postgres and s3".to_owned(),
            Plan::embedded().with(Engine::DynamoDb, Provisioner::Local),
        ));
    }
    if include_containers {
        plans.push((
            "all containers (postgres, DynamoDB Local, MinIO)".to_owned(),
            Plan::embedded()
                .with(Engine::Postgres, Provisioner::Containers)
                .with(Engine::DynamoDb, Provisioner::Containers)
                .with(Engine::S3, Provisioner::Containers),
        ));
    }
    plans
}

/// Embedded PostgreSQL + DynamoDB + S3 ready together within this is the aim.
pub const EMBEDDED_TARGET_MS: f64 = 2000.0;

/// Every subject's samples; the first is the embedded default the aim is about.
#[derive(Debug, Clone)]
pub struct StartupReport {
    pub runs: usize,
    pub samples: Vec<StartupSample>,
    /// `"measured"`, or why containers were not.
    pub containers: String,
}

fn spread(values: &[f64]) -> (f64, f64, f64) {
    (
        StartupSample::median_ms(values),
        values.iter().copied().fold(f64::INFINITY, f64::min),
        values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    )
}

impl StartupReport {
    pub fn embedded_median_ms(&self) -> f64 {
        self.samples
            .first()
            .map_or(f64::NAN, |s| StartupSample::median_ms(&s.ready_ms))
    }

    pub fn met(&self) -> bool {
        self.embedded_median_ms() < EMBEDDED_TARGET_MS
    }

    /// The report's fields, for a JSON document the caller dates and places.
    pub fn to_json(&self) -> serde_json::Value {
        let summary = |values: &[f64]| {
            let (median, min, max) = spread(values);
            serde_json::json!({ "median_ms": median, "min_ms": min, "max_ms": max, "runs_ms": values })
        };
        serde_json::json!({
            "runs": self.runs,
            "target": {
                "subject": self.samples.first().map(|s| s.subject.clone()),
                "ready_ms_max": EMBEDDED_TARGET_MS,
                "median_ms": self.embedded_median_ms(),
                "met": self.met(),
            },
            "containers": self.containers,
            "samples": self.samples.iter().map(|sample| serde_json::json!({
                "subject": sample.subject,
                "ready": summary(&sample.ready_ms),
                "per_engine": sample.per_engine_ms.iter()
                    .map(|(engine, values)| (engine.name().to_owned(), summary(values)))
                    .collect::<serde_json::Map<_, _>>(),
            })).collect::<Vec<_>>(),
        })
    }

    pub fn to_markdown(&self, header: &str) -> String {
        let mut markdown = format!(
            "# Start-up wall time\n\n{header}; {} runs per line, times in ms (median, min-max).\n\n| what | all ready | postgres | dynamodb | s3 |\n| --- | --- | --- | --- | --- |\n",
            self.runs
        );
        let cell = |values: &[f64]| {
            let (median, min, max) = spread(values);
            format!("{median:.0} ({min:.0}-{max:.0})")
        };
        for sample in &self.samples {
            markdown.push_str(&format!(
                "| {} | {} |",
                sample.subject,
                cell(&sample.ready_ms)
            ));
            for (_, values) in &sample.per_engine_ms {
                markdown.push_str(&format!(" {} |", cell(values)));
            }
            markdown.push('\n');
        }
        markdown.push_str(&format!(
            "\nAim: all embedded engines ready in under {EMBEDDED_TARGET_MS:.0} ms. Measured median: {:.0} ms — {}.\n",
            self.embedded_median_ms(),
            if self.met() { "met" } else { "NOT met" }
        ));
        markdown.push_str(&format!(
            "Containers: {}.\n\nThe engines start in parallel, so \"all ready\" is about the slowest one. Reproduce with `cutover bench startup --runs {}`.\n",
            self.containers, self.runs
        ));
        markdown
    }
}
