//! Checks run at the end of a replay.

use std::time::Duration;

use cutover_app::{App, Read};
use cutover_core::keys::Id;
use futures::{StreamExt, TryStreamExt};

use crate::record::CheckResult;

const PARITY_CONCURRENCY: usize = 8;
const MISMATCH_SAMPLES: usize = 10;

/// The relay empties the outbox within `timeout`.
pub async fn relay_drained(
    app: &App,
    timeout: Duration,
) -> Result<CheckResult, cutover_app::AppError> {
    let pending = app.relay().drain(timeout).await?;
    Ok(CheckResult {
        name: "relay-drained".to_owned(),
        passed: pending == 0,
        detail: if pending == 0 {
            "no outbox record pending".to_owned()
        } else {
            format!("{pending} outbox records still pending after {timeout:?}")
        },
    })
}

/// Every access pattern, for every entity PostgreSQL holds, answers the same
/// from DynamoDB and S3. (The parity validator compares items field by field;
/// this compares what the app would read.)
pub async fn read_parity(app: &App) -> Result<CheckResult, cutover_app::AppError> {
    let pool = app.pg.pool();
    let ids = |sql: &'static str| async move {
        let rows: Vec<String> =
            sqlx::query_scalar(sql)
                .fetch_all(pool)
                .await
                .map_err(|source| cutover_app::AppError::Postgres {
                    action: "listing ids for read parity".into(),
                    source,
                })?;
        rows.iter()
            .map(|id| Id::parse(id).map_err(cutover_app::AppError::from))
            .collect::<Result<Vec<_>, _>>()
    };
    let mut reads = Vec::new();
    for user in ids("SELECT id FROM users ORDER BY id").await? {
        reads.push(Read::User(user.clone()));
        reads.push(Read::CampaignsOf(user));
    }
    for campaign in ids("SELECT id FROM campaigns ORDER BY id").await? {
        reads.push(Read::Campaign(campaign.clone()));
        reads.push(Read::SessionsOf(campaign));
    }
    for session in ids("SELECT id FROM sessions ORDER BY id").await? {
        reads.push(Read::Session(session.clone()));
        reads.push(Read::SummariesOf(session.clone()));
        reads.push(Read::Transcript(session));
    }
    let total = reads.len();
    let outcomes: Vec<Option<String>> = futures::stream::iter(reads)
        .map(|read| async move {
            // PostgreSQL's answer as the profile's items hold it (a version
            // from `updated_at` when they keep none).
            let postgres = app
                .profile()
                .answer_as_stored(&app.postgres_reads().read(&read).await?);
            let dynamodb = app.dynamodb_reads().read(&read).await;
            Ok::<_, cutover_app::AppError>(match dynamodb {
                Ok(answer) if answer == postgres => None,
                Ok(answer) => Some(format!(
                    "{read:?}: postgres {postgres:?} vs dynamodb {answer:?}"
                )),
                Err(error) => Some(format!("{read:?}: dynamodb/s3 read failed: {error}")),
            })
        })
        .buffer_unordered(PARITY_CONCURRENCY)
        .try_collect()
        .await?;
    let mismatches: Vec<String> = outcomes.into_iter().flatten().collect();
    let mut detail = format!("{} of {total} reads differ", mismatches.len());
    for sample in mismatches.iter().take(MISMATCH_SAMPLES) {
        let shortened: String = sample.chars().take(400).collect();
        detail.push_str(&format!("; {shortened}"));
    }
    Ok(CheckResult {
        name: "read-parity".to_owned(),
        passed: mismatches.is_empty(),
        detail,
    })
}

/// The parity validator finds no persistent mismatch.
pub async fn parity(app: std::sync::Arc<App>) -> Result<CheckResult, cutover_app::AppError> {
    let options = cutover_parity::ParityOptions {
        max_mismatch_percent: 0.0,
        ..Default::default()
    };
    let report = cutover_parity::validate(app, &options).await?;
    let mut detail = format!(
        "parity {:.3}% over {} entities ({} persistent mismatches, {} in-flight)",
        report.parity_percent,
        report.compared_entities,
        report.mismatched_entities,
        report.in_flight
    );
    for finding in report.findings().take(MISMATCH_SAMPLES) {
        detail.push_str(&format!(
            "; {:?} {} {:?}",
            finding.category, finding.id, finding.field
        ));
    }
    Ok(CheckResult {
        name: "parity".to_owned(),
        passed: report.passed,
        detail,
    })
}

/// PostgreSQL holds exactly what the workload's model says: every write the
/// workload made is there once, and nothing else is.
pub async fn no_lost_writes(
    app: &App,
    model: &cutover_core::model::Model,
) -> Result<CheckResult, cutover_app::AppError> {
    let postgres = cutover_app::model_view::postgres_as_model(&app.pg).await?;
    let differences = model.differences(&postgres);
    let entities =
        model.users.len() + model.campaigns.len() + model.sessions.len() + model.summaries.len();
    Ok(CheckResult {
        name: "no-lost-writes".to_owned(),
        passed: differences.is_empty(),
        detail: if differences.is_empty() {
            format!("PostgreSQL holds the model's {entities} entities exactly")
        } else {
            format!(
                "{} differences from the model: {}",
                differences.len(),
                differences
                    .iter()
                    .take(MISMATCH_SAMPLES)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        },
    })
}

/// Every scheduled fault fired and was carried out.
pub fn faults_happened(faults: &[crate::faults::FaultRecord]) -> CheckResult {
    let missed: Vec<String> = faults
        .iter()
        .filter(|fault| !fault.happened())
        .map(|fault| {
            format!(
                "{} ({}): {}",
                fault.kind,
                fault.asked,
                fault.error.as_deref().unwrap_or(&fault.how)
            )
        })
        .collect();
    CheckResult {
        name: "faults".to_owned(),
        passed: missed.is_empty(),
        detail: if missed.is_empty() {
            format!("all {} scheduled faults happened", faults.len())
        } else {
            format!("did not happen as asked: {}", missed.join("; "))
        },
    }
}
