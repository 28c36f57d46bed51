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
